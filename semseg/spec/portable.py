"""The portable expression language of snippets: what a spec may write, and what it means.

Every construct a snippet may use is an entry of ``CATALOGUE`` (keyed by the sqlglot node it
parses to), with the meaning semseg guarantees on every target: where an engine's own
function means something else, the compiler writes semseg's meaning for it
(``semseg.compile.portable``), and ``tests/test_conformance.py`` evaluates the entries on edge
inputs on every engine that runs here. Anything else is refused at ``semseg check`` with what
differs between engines and the portable way to write it (``problems``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

from sqlglot import exp

from semseg.sql import CANONICAL


@dataclass(frozen=True)
class Entry:
    """One construct of the language: how it is written and what it means everywhere."""

    syntax: str
    kind: str  # value | operator | condition | function | date | aggregate
    meaning: str


_ARITH = "NULL if either side is NULL"
CATALOGUE: dict[type[exp.Expression], Entry] = {
    exp.Column: Entry("column", "value", "a column of the source (or a metric, in rules)"),
    exp.Literal: Entry(
        "42, 4.2, 'text'",
        "value",
        "numbers exact as written (next to a floating-point value, the nearest double: SQLite, "
        "which reads some decimals one unit in the last place off, gets an exact quotient); "
        "text as written",
    ),
    exp.Boolean: Entry("TRUE, FALSE", "value", "the boolean values"),
    exp.Null: Entry("NULL", "value", "the missing value"),
    exp.Paren: Entry("( x )", "operator", "grouping"),
    exp.Neg: Entry("-x", "operator", _ARITH),
    exp.Add: Entry("x + y", "operator", _ARITH + "; date + INTERVAL n unit: see DATE_ADD"),
    exp.Sub: Entry("x - y", "operator", _ARITH + "; date - INTERVAL n unit: see DATE_ADD"),
    exp.Mul: Entry("x * y", "operator", _ARITH),
    exp.Div: Entry(
        "x / y",
        "operator",
        "always a floating-point division (an integer numerator is cast to DOUBLE); "
        "x / 0 is an error on some engines and NULL on others: write x / NULLIF(y, 0)",
    ),
    exp.EQ: Entry(
        "x = y",
        "condition",
        "NULL if either side is NULL; text compared with a literal exactly, case and "
        "trailing spaces included (MySQL and SQL Server compare under a binary collation, "
        "and SQL Server, Redshift and MySQL with a final '|' on both sides); text is not "
        "ordered (<, > and BETWEEN with text are refused: collations differ)",
    ),
    exp.NEQ: Entry("x <> y", "condition", "NULL if either side is NULL"),
    exp.GT: Entry("x > y", "condition", "NULL if either side is NULL"),
    exp.GTE: Entry("x >= y", "condition", "NULL if either side is NULL"),
    exp.LT: Entry("x < y", "condition", "NULL if either side is NULL"),
    exp.LTE: Entry("x <= y", "condition", "NULL if either side is NULL"),
    exp.Is: Entry("x IS [NOT] NULL", "condition", "TRUE or FALSE, never NULL"),
    exp.Not: Entry("NOT c", "condition", "three-valued: NOT NULL is NULL"),
    exp.And: Entry("c AND d", "condition", "three-valued logic"),
    exp.Or: Entry("c OR d", "condition", "three-valued logic"),
    exp.In: Entry("x IN (a, b, ...)", "condition", "a list of values (no subquery)"),
    exp.Between: Entry("x BETWEEN a AND b", "condition", "a <= x AND x <= b, both ends in"),
    exp.Case: Entry("CASE WHEN c THEN v ... ELSE w END", "function", "first true condition"),
    exp.If: Entry("(a WHEN branch of CASE)", "function", "first true condition"),
    exp.Coalesce: Entry("COALESCE(x, y, ...)", "function", "the first argument that is not NULL"),
    exp.Nullif: Entry("NULLIF(x, y)", "function", "NULL when x = y, else x"),
    exp.Abs: Entry("ABS(x)", "function", "absolute value"),
    exp.Floor: Entry("FLOOR(x)", "function", "largest integer <= x (toward -infinity)"),
    exp.Ceil: Entry("CEIL(x)", "function", "smallest integer >= x (toward +infinity)"),
    exp.Ln: Entry("LN(x)", "function", "natural logarithm; x <= 0 is an error or NULL: guard it"),
    exp.Sqrt: Entry("SQRT(x)", "function", "square root; x < 0 is an error or NULL: guard it"),
    exp.Greatest: Entry(
        "GREATEST(x, y, ...)",
        "function",
        "the largest argument that is not NULL; NULL only when all are NULL (written with "
        "COALESCE for engines whose GREATEST returns NULL when any argument is); arguments "
        "of one type: CAST integers to DOUBLE to mix them with floats (ClickHouse refuses "
        "the mix)",
    ),
    exp.Least: Entry(
        "LEAST(x, y, ...)",
        "function",
        "the smallest argument that is not NULL; NULL only when all are NULL",
    ),
    exp.Lower: Entry("LOWER(s)", "function", "lower case"),
    exp.Upper: Entry("UPPER(s)", "function", "upper case"),
    exp.Length: Entry(
        "LENGTH(s)",
        "function",
        "number of characters, trailing spaces included (SQL Server's "
        "LEN is written LEN(s + 'x') - 1)",
    ),
    exp.Cast: Entry(
        "CAST(x AS type), DATE 'yyyy-mm-dd'",
        "function",
        "to DOUBLE, VARCHAR, DATE or TIMESTAMP; to an integer type only from "
        "FLOOR/CEIL or an integer (engines round or truncate other values differently)",
    ),
    exp.DataType: Entry("(a type in CAST)", "value", "see CAST"),
    exp.DateDiff: Entry(
        "DATE_DIFF('day', start, end)",
        "date",
        "days from the date of start to the date of end (a timestamp counts by its date, so "
        "23:59 to 00:01 the next day is 1)",
    ),
    exp.Interval: Entry(
        "date + INTERVAL n DAY | WEEK | MONTH | YEAR",
        "date",
        "calendar arithmetic; a month from Jan 31 ends on the last day of February",
    ),
    exp.DateAdd: Entry("(date + INTERVAL)", "date", "see INTERVAL"),
    exp.Var: Entry("(a unit: day, week, month, year)", "value", "a date unit"),
    exp.Sum: Entry("SUM(x)", "aggregate", "NULL over no rows or only NULLs"),
    exp.Avg: Entry("AVG(x)", "aggregate", "floating-point mean of the non-NULL values"),
    exp.Min: Entry("MIN(x)", "aggregate", "smallest non-NULL value"),
    exp.Max: Entry("MAX(x)", "aggregate", "largest non-NULL value"),
    exp.Count: Entry("COUNT(*), COUNT(x), COUNT(DISTINCT x)", "aggregate", "0 over no rows"),
    exp.Distinct: Entry("(DISTINCT in COUNT)", "aggregate", "see COUNT"),
    exp.Star: Entry("(* in COUNT(*))", "aggregate", "see COUNT"),
    exp.Tuple: Entry("(the list of IN)", "value", "see IN"),
    # Exact percentiles: refused per target where they are not exact (compile.dialects).
    exp.Median: Entry("MEDIAN(x)", "aggregate", "exact median; refused where only approximate"),
    exp.PercentileCont: Entry("PERCENTILE_CONT(p)", "aggregate", "exact; refused as MEDIAN"),
    exp.PercentileDisc: Entry("PERCENTILE_DISC(p)", "aggregate", "exact; refused as MEDIAN"),
    exp.WithinGroup: Entry("(WITHIN GROUP of PERCENTILE_*)", "aggregate", "see MEDIAN"),
    exp.Order: Entry("(ORDER BY of WITHIN GROUP)", "aggregate", "see MEDIAN"),
    exp.Ordered: Entry("(ORDER BY of WITHIN GROUP)", "aggregate", "see MEDIAN"),
}

INTEGER_TYPES = {
    exp.DataType.Type.TINYINT,
    exp.DataType.Type.SMALLINT,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.UTINYINT,
    exp.DataType.Type.USMALLINT,
    exp.DataType.Type.UINT,
    exp.DataType.Type.UBIGINT,
}
CAST_TYPES = INTEGER_TYPES | {
    exp.DataType.Type.DOUBLE,
    exp.DataType.Type.FLOAT,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.DATE,
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPNTZ,
}
DATE_UNITS = ("DAY", "WEEK", "MONTH", "YEAR")

# Known constructs refused on purpose, with what differs and the portable way to write them.
REFUSED: dict[type[exp.Expression], str] = {
    exp.CurrentDate: "today's date depends on when and in which session time zone the SQL "
    "runs, so no result could be reproduced; write the date as a literal, DATE 'yyyy-mm-dd'",
    exp.CurrentTimestamp: "the current time depends on when and where the SQL runs; write a "
    "literal TIMESTAMP",
    exp.Round: "ROUND rounds halves to even on some engines (PostgreSQL floats, Spark "
    "decimals) and away from zero on others; write FLOOR(x + 0.5) or FLOOR(x * 100 + 0.5) / 100",
    exp.Like: "LIKE ignores case on SQLite, MySQL and SQL Server and not elsewhere; compare "
    "LOWER(x) with =, or ask for a portable pattern function",
    exp.ILike: "ILIKE is not SQL on SQLite, MySQL, SQL Server or BigQuery; compare LOWER(x) with =",
    exp.DPipe: "|| is a logical OR on MySQL and concatenation elsewhere, and NULL handling "
    "differs; build the text upstream",
    exp.Concat: "CONCAT treats NULL as '' on some engines and as NULL on others; build the text "
    "upstream",
    exp.Trim: "TRIM's default characters and syntax differ by engine; clean the text upstream",
    exp.Substring: "SUBSTRING counts from 0 or 1 and treats negative starts differently by "
    "engine; build the text upstream",
    exp.Pow: "POWER/POW returns an integer, a float or a decimal depending on the engine; "
    "write the product (x * x) or use SQRT/LN",
    exp.Exp: "EXP overflows at different sizes by engine; compute it upstream",
    exp.Log: "LOG's base (10, e or the first argument) differs by engine; write LN(x) / LN(10)",
    exp.Mod: "% of negative numbers and of decimals differs by engine; write the integer "
    "arithmetic with FLOOR",
    exp.IntDiv: "integer division rounds toward zero or toward -infinity by engine; write "
    "FLOOR(x / y)",
    exp.TryCast: "TRY_CAST does not exist on several engines; clean the column upstream",
    exp.Anonymous: "an unknown function may not exist, or mean something else, on other engines",
}


def _refusal(node: exp.Expression) -> str | None:
    """Why ``node`` is not portable, or None when it is (its children are checked apart)."""
    kind = type(node)
    if kind in REFUSED:
        return REFUSED[kind]
    if kind not in CATALOGUE:
        return "it is not in semseg's portable catalogue (docs/conformance.md)"
    if isinstance(node, exp.Cast):
        target = node.to.this
        if target not in CAST_TYPES:
            return (
                f"CAST to {node.to.sql(CANONICAL)} is not portable (a DECIMAL's rounding and "
                "scale differ by engine: BigQuery's NUMERIC keeps 9 decimals); cast to DOUBLE, "
                "VARCHAR, DATE, TIMESTAMP or an integer type, and round with `precision:`"
            )
        source = node.this
        integer_source = isinstance(source, (exp.Floor, exp.Ceil)) or (
            isinstance(source, exp.Literal) and not source.is_string and source.is_int
        )
        if target in INTEGER_TYPES and not integer_source:
            return (
                "CAST to an integer rounds (DuckDB, PostgreSQL, Snowflake) or truncates "
                "(SQLite, MySQL, Spark, SQL Server) a fractional value; write "
                "CAST(FLOOR(x) AS ...) or CAST(CEIL(x) AS ...)"
            )
    if isinstance(node, exp.DateDiff):
        unit = node.text("unit").upper()
        if unit != "DAY":
            return (
                f"DATE_DIFF('{unit.lower()}', ...) counts calendar boundaries on some engines "
                "and whole elapsed units on others; only DATE_DIFF('day', start, end) is "
                "portable"
            )
    if isinstance(node, exp.Interval):
        unit = node.text("unit").upper()
        parent = node.parent
        if unit.rstrip("S") not in DATE_UNITS or not isinstance(parent, (exp.Add, exp.Sub)):
            return (
                "an INTERVAL is portable only added to or subtracted from a date: "
                "date + INTERVAL n DAY | WEEK | MONTH | YEAR"
            )
        length = node.this
        if not (isinstance(length, exp.Literal) and length.name.lstrip("-").isdigit()):
            return "the length of an INTERVAL must be a number: INTERVAL 90 DAY"
    if isinstance(node, (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)) and any(
        isinstance(arg, exp.Literal) and arg.is_string
        for arg in (node.this, node.expression, node.args.get("low"), node.args.get("high"))
    ):
        return (
            "ordering text with <, >, BETWEEN follows each database's collation ('a' < 'B' "
            "in some, not in others); compare text with = or IN"
        )
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        return "IN (subquery) is not allowed in snippets"
    return None


def problems(tree: exp.Expression) -> list[tuple[exp.Expression, str]]:
    """Every non-portable construct of a snippet's tree, with the reason (first-seen order)."""
    out: list[tuple[exp.Expression, str]] = []
    for node in cast(Iterator[exp.Expression], tree.walk()):
        if isinstance(node, exp.Identifier):
            continue
        reason = _refusal(node)
        if reason is not None:
            out.append((node, reason))
    return out
