"""semseg's meaning of the portable snippet language, written so that every target computes it.

Applied to the parsed canonical tree of the whole model, before any dialect is generated (the
DuckDB text is rewritten too, with the same meaning there). Each rewrite is where sqlglot's
own translation of a construct means something else on some engine:

- ``date ± INTERVAL n unit`` becomes ``DATE_ADD(date, ±n, unit)``: as plain arithmetic it was
  written ``DATE(...) - INTERVAL '90' DAY`` for SQLite and ``... - INTERVAL '90' DAY`` for
  T-SQL, which neither runs.
- ``DATE_DIFF('day', a, b)`` compares the dates of ``a`` and ``b``: DuckDB and PostgreSQL count
  day boundaries, and SQLite's ``JULIANDAY`` difference of two timestamps truncated elapsed days
  (23:59 to 00:01 gave 0, not 1).
- ``GREATEST``/``LEAST`` ignore NULLs (DuckDB, PostgreSQL): each argument is compared as
  ``COALESCE(it, the others...)``, so engines whose GREATEST returns NULL when any argument is
  NULL (BigQuery, MySQL, Spark, ClickHouse) give the same answer.
"""

from __future__ import annotations

from sqlglot import exp

from semseg.sql import coalesce

_DATE = exp.DataType.build("date")


def _interval_add(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, (exp.Add, exp.Sub)):
        return node
    left, right = node.this, node.expression
    if isinstance(right, exp.Interval):
        date, interval, sign = left, right, -1 if isinstance(node, exp.Sub) else 1
    elif isinstance(left, exp.Interval) and isinstance(node, exp.Add):
        date, interval, sign = right, left, 1
    else:
        return node
    amount = int(interval.this.name) * sign
    unit = interval.text("unit").upper().rstrip("S")
    if unit == "WEEK":  # 7 days everywhere; SQLite has no week modifier (it gave NULL)
        amount, unit = amount * 7, "DAY"
    return exp.DateAdd(this=date, expression=exp.Literal.number(amount), unit=exp.Var(this=unit))


def _as_date(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Cast) and node.to.is_type("date"):
        return node
    return exp.Cast(this=node, to=_DATE.copy())


def _day_diff(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.DateDiff) and node.text("unit").upper() == "DAY":
        node.set("this", _as_date(node.this))
        node.set("expression", _as_date(node.expression))
    return node


def _null_ignoring(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, (exp.Greatest, exp.Least)) or node.args.get("_portable"):
        return node
    args = [node.this, *node.expressions]
    if len(args) < 2:
        return node
    terms = [
        coalesce(arg.copy(), *(other.copy() for j, other in enumerate(args) if j != i))
        for i, arg in enumerate(args)
    ]
    out = type(node)(
        this=terms[0], expressions=terms[1:], ignore_nulls=node.args.get("ignore_nulls")
    )
    out.set("_portable", True)
    return out


def portable(tree: exp.Expression) -> exp.Expression:
    """The tree with semseg's meaning of each portable construct written out (in place)."""
    return (
        tree.transform(_interval_add, copy=False)
        .transform(_day_diff, copy=False)
        .transform(_null_ignoring, copy=False)
    )


def _months(node: exp.Expression) -> int | None:
    """The number of months a DATE_ADD moves by, when its unit is MONTH or YEAR."""
    if not isinstance(node, exp.DateAdd):
        return None
    unit = node.text("unit").upper()
    if unit not in ("MONTH", "YEAR"):
        return None
    amount = node.expression  # a literal, or a negated one (Literal.number(-3) is Neg(3))
    sign = -1 if isinstance(amount, exp.Neg) else 1
    return sign * int(amount.name) * (12 if unit == "YEAR" else 1)


def _sqlite_months(node: exp.Expression) -> exp.Expression:
    """SQLite's ``DATE(d, '+1 month')`` rolls Jan 31 over to Mar 3; every other engine ends on
    the last day of the target month. The earlier of the two dates is the clamped one."""
    months = _months(node)
    if months is None:
        return node
    date = node.this

    def sqlite_date(*modifiers: str) -> exp.Expression:
        args = [date.copy(), *(exp.Literal.string(m) for m in modifiers)]
        return exp.Anonymous(this="DATE", expressions=args)

    rolled = sqlite_date(f"{months:+d} months")
    month_end = sqlite_date("start of month", f"{months + 1:+d} months", "-1 day")
    return exp.Anonymous(this="MIN", expressions=[rolled, month_end])


_TEXT_COMPARISONS = (exp.EQ, exp.NEQ, exp.In)


def _binary_text(collation: str):
    """Text compared exactly where the default collation ignores case (MySQL, SQL Server):
    every string literal an equality or IN compares with gets an explicit binary collation,
    which decides the comparison."""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Literal)
            and node.is_string
            and isinstance(node.parent, _TEXT_COMPARISONS)
        ):
            return exp.Collate(this=node.copy(), expression=exp.Var(this=collation))
        return node

    return rewrite


TARGET_REWRITES = {
    "sqlite_months": _sqlite_months,
    "mysql_binary_text": _binary_text("utf8mb4_bin"),
    "tsql_binary_text": _binary_text("Latin1_General_BIN2"),
}


def for_target(tree: exp.Expression, rewrites: tuple[str, ...]) -> exp.Expression:
    """The target's own rewrites (``Target.rewrites``), applied to its copy of the tree."""
    for name in rewrites:
        tree = tree.transform(TARGET_REWRITES[name], copy=False)
    return tree
