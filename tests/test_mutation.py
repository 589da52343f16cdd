"""Mutation testing of verify: mutants of the compiled model must fail verify.

Each mutant changes one node of the compiled DuckDB model of an example spec the way a
compiler bug would: a comparison operator, a join type, an aggregate, a fill value, a filter
conjunct, or the order of two labels. A mutant whose rows on the bundled sample are the same
as the model's is equivalent (nothing to catch) and is not counted; every other mutant, proven
as a hand-written model (``verify --sql``), must fail a check. The mutation score (killed /
non-equivalent) is printed and must be 100%.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import duckdb
import pytest
from sqlglot import exp

from semseg.compile import canonical_query, for_target
from semseg.compile.dialects import TARGETS
from semseg.sample import table_paths
from semseg.spec import load_spec
from semseg.verify import verify
from tests.golden_regen import SPECS

Mutation = Callable[[exp.Expression], exp.Expression | None]

_SWAP = {exp.GTE: exp.GT, exp.GT: exp.GTE, exp.LTE: exp.LT, exp.LT: exp.LTE, exp.EQ: exp.NEQ}


def _comparison(node: exp.Expression) -> exp.Expression | None:
    if node.find_ancestor(exp.Join) is not None:
        return None  # a join key compared with <> is a cross join (join types mutate apart)
    other = _SWAP.get(type(node))
    return other(this=node.this, expression=node.expression) if other else None


def _join(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.Join) and node.side == "LEFT":
        out = node.copy()
        out.set("side", None)
        out.set("kind", "INNER")
        return out
    return None


def _aggregate(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.Sum):
        return exp.Max(this=node.this)
    if isinstance(node, exp.Min):
        return exp.Max(this=node.this)
    if isinstance(node, exp.Max):
        return exp.Min(this=node.this)
    if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
        return exp.Count(this=node.this.expressions[0])
    return None


def _fill(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.Coalesce) and node.expressions:
        last = node.expressions[-1]
        if isinstance(last, exp.Literal) and not last.is_string:
            out = node.copy()
            out.expressions[-1].replace(exp.Literal.number(int(float(last.name)) + 1))
            return out
    return None


def _filter(node: exp.Expression) -> exp.Expression | None:
    if isinstance(node, exp.And) and node.find_ancestor(exp.Where) is not None:
        return node.this  # the right conjunct dropped
    return None


def _label_order(node: exp.Expression) -> exp.Expression | None:
    ifs = node.args.get("ifs") if isinstance(node, exp.Case) else None
    if ifs and len(ifs) >= 2 and all(i.args["true"].is_string for i in ifs[:2]):
        out = node.copy()
        first, second = out.args["ifs"][0], out.args["ifs"][1]
        a, b = first.args["true"].copy(), second.args["true"].copy()
        first.set("true", b)
        second.set("true", a)
        return out
    return None


MUTATIONS: dict[str, Mutation] = {
    "comparison": _comparison,
    "join type": _join,
    "aggregate": _aggregate,
    "fill": _fill,
    "filter": _filter,
    "label order": _label_order,
}
PER_KIND = 6  # mutants per kind and spec: enough to cover each kind, bounded in time


def _mutants(tree: exp.Expression) -> Iterator[tuple[str, str]]:
    """(kind, mutant DuckDB SQL) for the first PER_KIND places each mutation applies to."""
    nodes = list(tree.walk())
    for kind, mutate in MUTATIONS.items():
        made = 0
        for i, node in enumerate(nodes):
            if made >= PER_KIND or mutate(node) is None:
                continue
            copy = tree.copy()
            target = list(copy.walk())[i]
            target.replace(mutate(target))
            made += 1
            yield kind, copy.sql("duckdb")


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple] | None:
    try:
        return sorted(con.execute(sql).fetchall(), key=repr)
    except duckdb.Error:
        return None  # a mutant that does not run is caught by any engine


@pytest.mark.parametrize(
    "spec, kinds",
    [
        ("offer_seeker", set(MUTATIONS)),
        ("customer_rfm", {"comparison", "aggregate", "filter", "label order"}),  # no fill/join
        ("customer_lifecycle", set(MUTATIONS)),
    ],
)
def test_every_mutant_that_changes_results_fails_verify(spec, kinds, capsys):
    spec_file = load_spec(SPECS / f"{spec}.yml")
    tree = for_target(canonical_query(spec_file.spec, spec_file.path), TARGETS["duckdb"])
    con = duckdb.connect()
    for name, path in table_paths("retail").items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    original = _rows(con, tree.sql("duckdb"))
    counted: dict[str, list[int]] = {}
    survivors = []
    for kind, sql in _mutants(tree):
        rows = _rows(con, sql)
        if rows == original or rows is None:
            continue  # equivalent on the sample, or does not run
        report = verify(spec_file, dialects=["duckdb"], model_sql=sql, progress=lambda _m: None)
        counts = counted.setdefault(kind, [0, 0])
        counts[1] += 1
        if report.passed:
            survivors.append(f"{kind}: {sql[:200]}")
        else:
            counts[0] += 1
    killed = sum(k for k, _ in counted.values())
    total = sum(n for _, n in counted.values())
    score = ", ".join(f"{kind} {k}/{n}" for kind, (k, n) in counted.items())
    with capsys.disabled():
        print(f"\n[{spec}] mutation score {killed}/{total} ({score})")
    assert total >= 10 and set(counted) == kinds, score
    assert survivors == [], f"{spec}: {killed}/{total} killed; survivors: {survivors}"
