"""A faster shape for distinct counts with conditions: aggregate only the rows that can count.

``COUNT(DISTINCT CASE WHEN c THEN x END)`` makes every engine hash (key, value) over *all*
source rows, NULLs included, once per distinct aggregate. When a metric is built only of such
terms, the rows where no condition holds cannot change it, so the plan computes these metrics
in a second aggregate over ``WHERE c1 OR c2 ...`` and joins it back; a key whose rows all fail
the conditions gets the metric's value over no rows (every COUNT is 0). Measured on DuckDB with
10M order lines (BENCHMARKS.md): about 0.6x the time of the single-aggregate shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlglot import exp
from sqlglot.optimizer.simplify import simplify

from semseg.sql import CANONICAL


@dataclass(frozen=True)
class DistinctOnly:
    """A metric made only of conditional distinct counts: its conditions and empty value."""

    conditions: tuple[str, ...]
    empty: str


def _conditional_distinct(node: exp.Expression) -> exp.Expression | None:
    """The condition of ``COUNT(DISTINCT CASE WHEN c THEN x [ELSE NULL] END)``, else None."""
    if not isinstance(node, exp.Count) or not isinstance(node.this, exp.Distinct):
        return None
    inner = node.this.expressions
    if len(inner) != 1 or not isinstance(inner[0], exp.Case) or inner[0].this is not None:
        return None
    case = inner[0]
    default = case.args.get("default")
    if len(case.args.get("ifs") or []) != 1 or not (
        default is None or isinstance(default, exp.Null)
    ):
        return None
    return case.args["ifs"][0].this


def distinct_only(aggregate: str | exp.Expression) -> DistinctOnly | None:
    """Analyse a metric's aggregate (canonical SQL or tree); None when the shape does not apply."""
    tree: exp.Expression = exp.maybe_parse(aggregate, dialect=CANONICAL)
    conditions = []
    for agg in tree.find_all(exp.AggFunc):
        cond = _conditional_distinct(cast(exp.Expression, agg))
        if cond is None:
            return None
        conditions.append(cond.sql(CANONICAL))
    if not conditions:
        return None
    for col in tree.find_all(exp.Column):
        if col.find_ancestor(exp.AggFunc) is None:
            return None  # a column outside every aggregate: not a function of the counts
    empty = simplify(
        tree.copy().transform(lambda n: exp.Literal.number(0) if isinstance(n, exp.Count) else n)
    )
    return DistinctOnly(tuple(dict.fromkeys(conditions)), empty.sql(CANONICAL))
