"""Conformance of the portable snippet language: every catalogue entry, on edge inputs, gives
DuckDB's answer on every engine that runs here.

Each entry is compiled the way the compiler compiles a snippet (parsed in DuckDB's dialect,
divisions made floating, semseg's portable rewrites, then generated for the target) into
``SELECT id, <entry> AS v FROM semseg_conformance`` and run on the engine; the rows must equal
DuckDB's. The edge inputs hold NULL, 0, negatives, .5 values, huge values, the empty string,
leap days, month ends and timestamps a minute from midnight.

``docs/conformance.md`` is the table of entries x engines, written by ``render_table`` and
kept current by ``test_conformance_table_is_current``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from semseg.compile import for_target
from semseg.compile.dialects import TARGETS
from semseg.compile.portable import portable
from semseg.spec.portable import CATALOGUE, REFUSED, problems
from semseg.sql import snippet_expr
from tests.engines.compare import assert_same_rows

ROOT = Path(__file__).resolve().parent.parent
TABLE = "semseg_conformance"
ENGINES = ("sqlite", "postgres", "spark", "clickhouse", "mysql")

ROWS = """
(1, 0, 0.0, 1.5, DATE '2024-02-29', TIMESTAMP '2024-02-29 23:59:00', ''),
(2, -7, -2.5, NULL, DATE '2023-01-31', TIMESTAMP '2023-01-31 00:01:00', 'Abc'),
(3, 7, 2.5, -0.5, DATE '2020-12-31', TIMESTAMP '2020-12-31 12:00:00', NULL),
(4, NULL, NULL, 3.0, NULL, NULL, 'x y'),
(5, 2147483647, 1e15, 1e-9, DATE '1999-12-31', TIMESTAMP '2000-01-01 00:00:00', 'zz'),
(6, 3, -0.5, -1e15, DATE '2024-01-31', TIMESTAMP '2024-03-01 00:00:59', 'a'),
(7, -1, 0.125, 2.675, DATE '2023-03-31', TIMESTAMP '2023-03-31 23:59:59', 'ABC'),
(8, 1, 1.0, 1.0, DATE '2024-12-31', TIMESTAMP '2024-12-31 00:00:00', 'Abc '),
(9, 2, 2.0, 2.0, DATE '2024-06-30', TIMESTAMP '2024-06-30 00:00:00', ' ')
"""

# (catalogue node the entry exercises, snippet). Every CATALOGUE entry that a user writes is
# here at least once (test_every_user_entry_is_exercised).
ENTRIES: list[tuple[type[exp.Expression], str]] = [
    (exp.Column, "x"),
    (exp.Literal, "'text'"),
    (exp.Boolean, "x > 0 OR TRUE"),
    (exp.Null, "COALESCE(NULL, i)"),
    (exp.Neg, "-x"),
    (exp.Add, "x + y"),
    (exp.Sub, "i - x"),
    (exp.Mul, "x * y"),
    (exp.Div, "x / NULLIF(y, 0)"),
    (exp.Div, "i / 2"),
    (exp.EQ, "x = y"),
    (exp.EQ, "s = 'Abc'"),
    (exp.EQ, "s = ''"),
    (exp.NEQ, "s <> 'abc'"),
    (exp.In, "s IN ('a', 'ABC', 'x y')"),
    (exp.NEQ, "x <> 2.5"),
    (exp.GT, "x > y"),
    (exp.GTE, "i >= 0"),
    (exp.LT, "i < 3"),
    (exp.LTE, "d <= DATE '2023-01-31'"),
    (exp.Is, "x IS NULL"),
    (exp.Is, "s IS NOT NULL"),
    (exp.Not, "NOT (x > 0)"),
    (exp.And, "x > 0 AND y > 0"),
    (exp.Or, "x > 0 OR y > 0"),
    (exp.In, "i IN (0, 7, -1)"),
    (exp.Between, "x BETWEEN -0.5 AND 2.5"),
    (exp.Case, "CASE WHEN x > 0 THEN 'pos' WHEN x < 0 THEN 'neg' ELSE 'zero' END"),
    (exp.Coalesce, "COALESCE(y, x, 0)"),
    (exp.Nullif, "NULLIF(i, 0)"),
    (exp.Nullif, "NULLIF(s, 'Abc')"),
    (exp.Abs, "ABS(x)"),
    (exp.Floor, "FLOOR(x)"),
    (exp.Floor, "FLOOR(x * 100 + 0.5) / 100"),
    (exp.Ceil, "CEIL(x)"),
    (exp.Ln, "LN(NULLIF(ABS(x), 0))"),
    (exp.Sqrt, "SQRT(ABS(y))"),
    (exp.Greatest, "GREATEST(x, y)"),
    (exp.Greatest, "GREATEST(CAST(i AS DOUBLE), x, y)"),
    (exp.Least, "LEAST(x, y)"),
    (exp.Lower, "LOWER(s)"),
    (exp.Upper, "UPPER(s)"),
    (exp.Length, "LENGTH(s)"),
    (exp.Length, "LENGTH(s) + LENGTH('ab ')"),
    (exp.Cast, "CAST(i AS DOUBLE)"),
    (exp.Cast, "CAST(FLOOR(x) AS BIGINT)"),
    (exp.Cast, "CAST(i AS VARCHAR)"),
    (exp.Cast, "CAST(ts AS DATE)"),
    (exp.Cast, "DATE '2024-03-01'"),
    (exp.DateDiff, "DATE_DIFF('day', d, DATE '2024-03-01')"),
    (exp.DateDiff, "DATE_DIFF('day', ts, TIMESTAMP '2024-03-01 00:00:00')"),
    (exp.Interval, "CAST(d + INTERVAL 1 MONTH AS DATE)"),
    (exp.Interval, "CAST(d - INTERVAL 90 DAY AS DATE)"),
    (exp.Interval, "CAST(d + INTERVAL 1 YEAR AS DATE)"),
    (exp.Interval, "CAST(d - INTERVAL 2 WEEK AS DATE)"),
    (exp.Interval, "CAST(d - INTERVAL 13 MONTH AS DATE)"),
    (exp.Interval, "d >= DATE '2024-03-31' - INTERVAL 1 MONTH"),
]


def _inputs() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE {TABLE} (id INTEGER, i BIGINT, x DOUBLE, y DOUBLE, d DATE, "
        "ts TIMESTAMP, s VARCHAR)"
    )
    con.execute(f"INSERT INTO {TABLE} VALUES {ROWS}")
    return con


def render(snippet: str, dialect: str) -> str:
    """The entry as the compiler would write it for ``dialect``."""
    query = sqlglot.parse_one(f"SELECT id FROM {TABLE}", read="duckdb")
    query = query.select(exp.alias_(snippet_expr(snippet, "duckdb"), "v"))  # type: ignore[attr-defined]
    return for_target(portable(query), TARGETS[dialect]).sql(TARGETS[dialect].sqlglot)


def test_entries_are_portable_snippets():
    for _, snippet in ENTRIES:
        assert problems(snippet_expr(snippet, "duckdb")) == [], snippet


def test_every_user_entry_is_exercised():
    written = {node for node, _ in ENTRIES}
    helpers = {exp.DataType, exp.Var, exp.If, exp.DateAdd, exp.Paren, exp.Tuple, exp.Distinct}
    aggregates = {n for n, e in CATALOGUE.items() if e.kind == "aggregate"}
    assert set(CATALOGUE) - helpers - aggregates <= written


def _compare(engine) -> list[str]:
    src = _inputs()
    engine.load(src, [TABLE])
    failures = []
    for _, snippet in ENTRIES:
        expected = src.execute(render(snippet, "duckdb"))
        exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
        try:
            cols, rows = engine.query(render(snippet, engine.name))
            assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)
        except Exception as err:  # noqa: BLE001 - every entry is reported, not the first
            failures.append(f"{snippet} on {engine.name}: {str(err).splitlines()[0][:300]}")
    return failures


@pytest.mark.engines
@pytest.mark.parametrize("name", ENGINES)
def test_every_entry_gives_duckdbs_answer(name, request):
    engine = request.getfixturevalue(f"{name}_engine")
    assert _compare(engine) == []


def render_table() -> str:
    """docs/conformance.md: the catalogue, what each entry means, and where it is proven."""
    lines = [
        "# The portable snippet language",
        "",
        "Generated from `semseg/spec/portable.py` by `tests/test_conformance.py`",
        "(`python -m tests.test_conformance` rewrites it); do not edit by hand.",
        "",
        "A snippet may use the constructs below and nothing else: `semseg check` refuses any",
        "other, at its line and column, with what differs between engines and the portable way",
        "to write it. Each construct means the same on every target: where an engine's own",
        "function means something else, the compiler writes semseg's meaning for it",
        "(`semseg/compile/portable.py`).",
        "",
        "Proven equal to DuckDB (the engine of `semseg verify`) on edge inputs (NULL, 0,",
        "negatives, .5, 1e15, '', leap days, month ends, a minute from midnight) on: "
        + ", ".join(ENGINES)
        + ". The other targets are checked by golden files.",
        "",
        "| construct | meaning | conformance cases |",
        "|---|---|---|",
    ]
    cases: dict[type[exp.Expression], list[str]] = {}
    for node, snippet in ENTRIES:
        cases.setdefault(node, []).append(f"`{snippet}`")
    for node, entry in CATALOGUE.items():
        shown = "<br>".join(cases.get(node, [])) or (
            "engine matrix (example specs)" if entry.kind == "aggregate" else "(part of another)"
        )
        syntax, meaning = (t.replace("|", "\\|") for t in (entry.syntax, entry.meaning))
        lines.append(f"| `{syntax}` | {meaning} | {shown} |")
    lines += [
        "",
        "## Refused, and how to write it instead",
        "",
        "| construct | why |",
        "|---|---|",
    ]
    for node, why in REFUSED.items():
        lines.append(f"| {node.__name__} | {why} |")
    lines += [
        "",
        "## Time: windows and time aggregations",
        "",
        "A metric's `window` and the time aggregations (`days_since_last`, `days_since_first`,",
        "`active_days`, `active_weeks`, `active_months`) are not snippets: the compiler writes",
        "them from the constructs above (`CAST(... AS DATE)`, interval arithmetic on the as-of",
        "date, `DATE_DIFF('day', ...)`, `FLOOR`) and `YEAR`/`MONTH` (`STRFTIME` on SQLite).",
        "`tests/test_time_engines.py` proves every window form and time aggregation equal to",
        "DuckDB on " + ", ".join(ENGINES) + ", over DATE and TIMESTAMP event columns (a second",
        "after midnight and before it), at as-of dates on a month end (2025-03-31), a leap day",
        "(2024-02-29) and a year start (2025-01-01), with events on every window bound and after",
        "the as-of date; verify proves the same metrics with its own date arithmetic.",
    ]
    return "\n".join(lines) + "\n"


def test_conformance_table_is_current():
    assert (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8") == render_table()


@pytest.mark.engines
def test_mixing_integers_and_floats_fails_loudly_on_clickhouse(clickhouse_engine):
    """ClickHouse has no common type for BIGINT and DOUBLE: with the compiled SQL's settings a
    mix is an error there (it was a Variant that compared by type: GREATEST(0, 1.5) gave 0)."""
    clickhouse_engine.load(_inputs(), [TABLE])
    with pytest.raises(Exception, match="NO_COMMON_TYPE|no supertype"):
        clickhouse_engine.query(render("GREATEST(i, x, y)", "clickhouse"))


UNRUN = tuple(name for name, t in TARGETS.items() if t.engine is None)
RENDERINGS = ROOT / "tests" / "golden" / "conformance.md"


def render_renderings() -> str:
    """Each conformance case as the compiler writes it for the dialects no engine runs here:
    reviewed against the vendors' documented syntax (a golden file, regenerated with
    `python -m tests.test_conformance`, reviewed in diffs)."""
    lines = [
        "# Conformance cases on the dialects that do not run here",
        "",
        "Generated by `python -m tests.test_conformance`; reviewed against each vendor's",
        "documented syntax. Each block: the case, then the SELECT written for each dialect.",
        "",
    ]
    for _, snippet in ENTRIES:
        lines += [f"## `{snippet}`", "", "```sql"]
        lines += [f"-- {name}\n{render(snippet, name)}" for name in UNRUN]
        lines += ["```", ""]
    return "\n".join(lines)


def test_renderings_for_unrun_dialects_are_the_reviewed_ones():
    assert RENDERINGS.read_text(encoding="utf-8") == render_renderings()


if __name__ == "__main__":
    (ROOT / "docs" / "conformance.md").write_text(render_table(), encoding="utf-8")
    RENDERINGS.write_text(render_renderings(), encoding="utf-8")
