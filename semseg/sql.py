"""SQL text from names, values and snippets: the one place where user text becomes SQL.

Every identifier that reaches SQL is an ``exp.Identifier`` built by ``ident``; every value a
literal node built by ``literal``; every snippet a tree parsed once with sqlglot in the dialect
it was written in (``parse_snippet``) and printed as canonical (DuckDB) SQL by ``snippet_sql``.
This module is the lowest layer above ``errors``: it knows sqlglot, not specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

CANONICAL = "duckdb"  # the dialect every generated fragment is written in before transpiling


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


def snippet_value_text(value: exp.Expression, dialect: str) -> str:
    """A parameter's value as text to put into a snippet written in ``dialect``, which is
    then parsed in that dialect: the dialect's own literal syntax (a backslash is escaped
    where the dialect reads backslash escapes: Snowflake, BigQuery, MySQL, Spark), and
    parenthesised when it starts with a sign, so that no neighbouring character can join it
    (``amount-{{ fee }}`` with fee -2 was ``amount--2.0``, a comment). Snippet text in the
    spec's dialect, not SQL for a target (an unknown dialect, which validation reports,
    writes DuckDB's)."""
    try:
        text = value.sql(dialect=dialect)
    except ValueError:  # sqlglot: unknown dialect
        text = value.sql(dialect=CANONICAL)
    return f"({text})" if text.startswith(("-", "+")) else text


# A parameter kept for dbt's var() stands in a snippet as a column of this prefix (no spec
# name can take it: ``__`` is semseg's); it is a value, not a column the snippet reads.
PARAM_MARKER = "__semseg_param__"


def column_names(tree: exp.Expression) -> list[str]:
    """Column names referenced by a snippet, lower-cased unless quoted, in first-seen order
    (parameter markers are values, not columns)."""
    seen: dict[str, None] = {}
    for col in tree.find_all(exp.Column):
        if not col.table and col.name.startswith(PARAM_MARKER):
            continue
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


def ident(name: str) -> exp.Identifier:
    """An identifier node for a validated name (never quoted: names are lower snake_case and
    no SQL reserved word, so they mean the same column on every engine)."""
    return exp.to_identifier(name, quoted=False)


def name_sql(name: str) -> str:
    """A name as canonical SQL text, printed from its identifier node."""
    return ident(name).sql(CANONICAL)


def table(name: str) -> exp.Table:
    """A (possibly schema-qualified) table name as a table node, one identifier per part."""
    parts = [ident(p) for p in name.split(".")]
    return exp.Table(
        this=parts[-1],
        db=parts[-2] if len(parts) > 1 else None,
        catalog=parts[-3] if len(parts) > 2 else None,
    )


def table_sql(name: str) -> str:
    """A table name as canonical SQL text, printed from its table node."""
    return table(name).sql(CANONICAL)


def literal(value: object) -> exp.Expression:
    """A spec value (label, bound, fill) as a literal node: text is always a string literal."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def sql_literal(value: object) -> str:
    """A spec value as canonical SQL text (escaped by sqlglot, never by hand)."""
    return literal(value).sql(CANONICAL)


def column(name: str, table: str | None = None) -> exp.Column:
    """A column reference, optionally qualified by a table or CTE name."""
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def date_literal(day: date) -> exp.Expression:
    """A DATE literal, as every target reads it: ``CAST('YYYY-MM-DD' AS DATE)``."""
    return exp.Cast(this=exp.Literal.string(day.isoformat()), to=exp.DataType.build("date"))


def number(value: int | float | str) -> exp.Expression:
    """A numeric literal (``value`` may be the exact text to print)."""
    return exp.Literal.number(value)


def paren(node: exp.Expression) -> exp.Paren:
    return exp.Paren(this=node)


def all_of(first: exp.Expression, *rest: exp.Expression) -> exp.Expression:
    """``a AND b AND ...`` exactly as given: no parentheses added (callers add what they mean)."""
    out = first
    for node in rest:
        out = exp.And(this=out, expression=node)
    return out


def any_of(first: exp.Expression, *rest: exp.Expression) -> exp.Expression:
    """``a OR b OR ...`` exactly as given: no parentheses added."""
    out = first
    for node in rest:
        out = exp.Or(this=out, expression=node)
    return out


def is_null(node: exp.Expression) -> exp.Is:
    return exp.Is(this=node, expression=exp.Null())


def not_null(node: exp.Expression) -> exp.Not:
    """``node IS NOT NULL`` (sqlglot's form: NOT node IS NULL)."""
    return exp.Not(this=is_null(node))


def case(
    branches: Sequence[tuple[exp.Expression, exp.Expression]],
    default: exp.Expression | None = None,
    operand: exp.Expression | None = None,
) -> exp.Expression:
    """``CASE [operand] WHEN c THEN v ... [ELSE default] END``; with no branch, the default
    itself (``CASE ELSE x END`` is not SQL: a segmentation of one ``else`` segment)."""
    if not branches:
        return default if default is not None else exp.Null()
    return exp.Case(
        this=operand,
        ifs=[exp.If(this=c, true=v) for c, v in branches],
        default=default,
    )


def coalesce(first: exp.Expression, *rest: exp.Expression) -> exp.Coalesce:
    return exp.Coalesce(this=first, expressions=list(rest))


def to_double(node: exp.Expression) -> exp.Cast:
    return exp.cast(node, exp.DataType.build("double"))


def snippet_expr(
    text: str, dialect: str, replace: dict[str, exp.Expression] | None = None
) -> exp.Expression:
    """A validated snippet as a tree: divisions made floating, columns replaced if asked."""
    tree = parse_snippet(text, dialect)
    if isinstance(tree, SnippetProblem):  # validation guarantees this does not happen
        raise ValueError(tree.message)
    tree = cast_divisions(tree)
    if replace:
        tree = tree.transform(
            lambda n: (
                exp.paren(replace[n.name].copy())
                if isinstance(n, exp.Column) and not n.table and n.name in replace
                else n
            )
        )
    return tree


def snippet_sql(text: str, dialect: str, replace: dict[str, exp.Expression] | None = None) -> str:
    """A validated snippet as canonical SQL text (see ``snippet_expr``)."""
    return snippet_expr(text, dialect, replace).sql(dialect=CANONICAL)
