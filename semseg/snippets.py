"""SQL snippets from specs: parsed once with sqlglot, in the dialect they were written in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError


@dataclass(frozen=True)
class SnippetProblem:
    """Why a snippet is not acceptable; ``line``/``col`` are 1-based within the snippet."""

    message: str
    hint: str
    line: int = 1
    col: int = 1


_STATEMENTS = (
    exp.Query,
    exp.Create,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Drop,
    exp.Command,
    exp.Alter,
    exp.Merge,
    exp.Use,
    exp.Set,
    exp.Transaction,
)


@lru_cache(maxsize=4096)
def _parse(text: str, dialect: str) -> exp.Expression | SnippetProblem:
    try:
        trees = sqlglot.parse(text, read=dialect)
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        desc = str(first.get("description") or err).splitlines()[0]
        return SnippetProblem(
            f"cannot parse SQL: {desc}",
            "fix the SQL expression",
            int(first.get("line") or 1),
            int(first.get("col") or 1),
        )
    except TokenError as err:
        return SnippetProblem(f"cannot parse SQL: {err}", "check quotes and brackets")
    trees = [t for t in trees if t is not None]
    if len(trees) != 1:
        return SnippetProblem(
            "expected one SQL expression, found "
            + ("nothing" if not trees else f"{len(trees)} statements"),
            "write a single expression without ';'",
        )
    tree = cast(exp.Expression, trees[0])
    if isinstance(tree, _STATEMENTS) or tree.find(*_STATEMENTS) is not None:
        return SnippetProblem(
            f"expected a scalar expression, found a {tree.key.upper()} statement or subquery",
            "write an expression such as amount * 2 or status = 'Sale'; queries, subqueries and "
            "DDL are not allowed in snippets",
        )
    if isinstance(tree, (exp.Alias, exp.Star)) or tree.find(exp.Star) is not None:
        return SnippetProblem(
            "expected a scalar expression without alias or '*'",
            "remove the alias / '*' (the spec key names the column)",
        )
    if tree.find(exp.Window) is not None:
        return SnippetProblem(
            "window functions are not allowed in snippets",
            "use a quantiles segmentation for ranks and tiers",
        )
    return tree


def parse_snippet(text: str, dialect: str) -> exp.Expression | SnippetProblem:
    """Parse a snippet; a fresh copy of the tree, or the problem that makes it unusable."""
    result = _parse(text, dialect)
    return result if isinstance(result, SnippetProblem) else result.copy()


def column_names(tree: exp.Expression) -> list[str]:
    """Column names referenced by a snippet, lower-cased unless quoted, in first-seen order."""
    seen: dict[str, None] = {}
    for col in tree.find_all(exp.Column):
        ident = col.this
        name = ident.name if getattr(ident, "quoted", False) else ident.name.lower()
        seen.setdefault(name, None)
    return list(seen)


def has_aggregate(tree: exp.Expression) -> bool:
    """True when the snippet contains an aggregate function call."""
    return tree.find(exp.AggFunc) is not None


def cast_divisions(tree: exp.Expression) -> exp.Expression:
    """Make every ``/`` a floating-point division on every engine.

    ``/`` truncates integers on PostgreSQL, Redshift, T-SQL and SQLite but not on DuckDB, so we
    cast the numerator to DOUBLE instead of leaving the meaning to the engine.
    """

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Div) and not (
            isinstance(node.this, exp.Cast) and node.this.to.is_type(*exp.DataType.REAL_TYPES)
        ):
            node.set("this", exp.cast(node.this, exp.DataType.build("double")))
        return node

    return tree.transform(fix)
