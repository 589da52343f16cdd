"""Issue 10's examples: each is refused with a clear error, or compiles to SQL that means the
same on every target (the engines that run here prove it in tests/test_conformance.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.errors import CompileError, SpecError
from semseg.spec import load_spec

runner = CliRunner()

SPEC = """\
version: 1
name: portable
entity: {{name: customer, key: unified_customer_id}}
sources:
  lines:
    table: int_order_lines
    where: {where}
metrics:
  value:
    source: lines
    sql: {sql}
segmentations:
  band:
    by: value
    segments:
      - {{label: High, min: 100}}
      - {{label: Low, else: true}}
"""


def _spec(tmp_path: Path, where: str = "1 = 1", sql: str = "SUM(sales_amount)") -> Path:
    path = tmp_path / "portable.yml"
    path.write_text(SPEC.format(where=where, sql=sql), encoding="utf-8")
    return path


def _issues(path: Path) -> list[str]:
    with pytest.raises(SpecError) as err:
        load_spec(path)
    return [i.format() for i in err.value.issues]


@pytest.mark.parametrize(
    "sql, col, what",
    [
        ("SUM(CAST(sales_amount AS INTEGER))", 19, "CAST to an integer rounds"),
        ("SUM(ROUND(sales_amount, 0))", 14, "ROUND rounds halves to even"),
        ("COUNT(DISTINCT my_udf(sales_amount))", 25, "unknown function"),
        ("SUM(POW(sales_amount, 2))", 14, "POWER/POW returns"),
        ("MAX(DATE_DIFF('month', order_date, DATE '2025-12-01'))", 14, "calendar boundaries"),
    ],
)
def test_constructs_that_differ_between_engines_are_refused_where_written(tmp_path, sql, col, what):
    issues = _issues(_spec(tmp_path, sql=sql))
    assert len(issues) == 1, issues
    assert issues[0].startswith(f"{tmp_path / 'portable.yml'}:11:{col}: error: ")
    assert what in issues[0]
    assert "is not portable" in issues[0] and " — " in issues[0]


def test_an_unknown_function_and_current_date_in_a_where_are_refused(tmp_path):
    issues = _issues(_spec(tmp_path, where="order_date >= CURRENT_DATE"))
    assert any(":7:" in i and "today's date" in i for i in issues), issues
    issues = _issues(_spec(tmp_path, where="my_udf(order_date) = 1"))
    assert any(":7:12:" in i and "unknown function" in i for i in issues), issues


def test_interval_arithmetic_compiles_to_each_targets_date_functions(tmp_path):
    spec = load_spec(_spec(tmp_path, where="order_date >= DATE '2025-12-01' - INTERVAL 90 DAY"))
    tsql = compile_spec(spec, "tsql")
    assert "DATEADD(DAY, -90, CAST('2025-12-01' AS DATE))" in tsql and "INTERVAL" not in tsql
    sqlite = compile_spec(spec, "sqlite")
    assert "DATE(DATE('2025-12-01'), '-90 DAY')" in sqlite and "INTERVAL" not in sqlite
    assert "DATE_ADD(CAST('2025-12-01' AS DATE), INTERVAL -90 DAY)" in compile_spec(spec, "mysql")


def test_day_differences_compare_dates_on_every_target(tmp_path):
    spec = load_spec(
        _spec(tmp_path, sql="MAX(DATE_DIFF('day', order_date, TIMESTAMP '2025-12-01 00:00:00'))")
    )
    sqlite = compile_spec(spec, "sqlite")
    assert "JULIANDAY(DATE(order_date))" in sqlite  # the dates, not the elapsed time


def test_greatest_ignores_nulls_where_the_engine_would_not(tmp_path):
    spec = load_spec(_spec(tmp_path, sql="SUM(GREATEST(sales_amount, discount_amount))"))
    for dialect in ("bigquery", "mysql", "spark", "clickhouse"):
        sql = compile_spec(spec, dialect)
        assert "COALESCE(sales_amount, discount_amount)" in sql, dialect


def test_dbt_output_keeps_the_refusals(tmp_path):
    spec = _spec(tmp_path, sql="MEDIAN(sales_amount)")
    result = runner.invoke(
        app, ["compile", str(spec), "--dbt", str(tmp_path / "dbt"), "-d", "clickhouse"]
    )
    assert result.exit_code == 1 and "approximate" in result.output, result.output
    assert not (tmp_path / "dbt").exists()
    with pytest.raises(CompileError):
        compile_spec(load_spec(spec), "clickhouse")


def test_dbt_tier_messages_cast_the_expected_tier_to_text(tmp_path):
    rfm = Path(__file__).resolve().parent.parent / "segment_specs" / "customer_rfm.yml"
    result = runner.invoke(app, ["compile", str(rfm), "--dbt", str(tmp_path), "-d", "tsql"])
    assert result.exit_code == 0, result.output
    test = (tmp_path / "tests" / "customer_rfm__recency_tier.sql").read_text(encoding="utf-8")
    assert "CAST(expected AS VARCHAR" in test and "+ expected" not in test


RANKED = """\
version: 1
name: ranked
entity: {name: customer, key: customer_id}
sources:
  sales: {table: sales}
metrics:
  spend: {source: sales, agg: sum, expr: amount}
segmentations:
  spend_tier: {by: spend, quantiles: 5, direction: desc}
"""


@pytest.fixture
def ranked(tmp_path):
    """A spec ranking float sums, and its data: 0.3 as one amount, and as 0.1 + 0.2
    (= 0.30000000000000004 in floating point, in either order)."""
    import duckdb

    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE sales AS SELECT * FROM (VALUES (1, 100.0), (2, 0.3), (3, 0.1), "
        "(3, 0.2), (4, 10.0), (5, 5.0)) AS t(customer_id, amount)"
    )
    con.execute(  # floats, as amounts usually are (DuckDB reads 0.1 as an exact DECIMAL)
        "CREATE OR REPLACE TABLE sales AS SELECT customer_id, CAST(amount AS DOUBLE) AS amount "
        "FROM sales"
    )
    con.execute(f"COPY sales TO '{data / 'sales.parquet'}' (FORMAT parquet)")
    spec_path = tmp_path / "ranked.yml"
    spec_path.write_text(RANKED, encoding="utf-8")
    return load_spec(spec_path), data, con


def test_equal_amounts_tie_whatever_the_order_of_addition(ranked):
    """Equal to the cent, so they share a rank and a tier (they did not: the float sum put the
    second one a tier lower)."""
    from semseg.verify import verify

    spec, data, con = ranked
    sql = compile_spec(spec, "duckdb")
    rows = dict(con.execute(f"SELECT customer_id, spend_tier_order FROM ({sql})").fetchall())
    assert rows[2] == rows[3] == 4
    report = verify(spec, data, dialects=["duckdb"], progress=lambda _m: None)
    assert report.passed, [c for c in report.checks if not c.passed]


def test_a_compiler_that_does_not_round_fails_verify(ranked, monkeypatch):
    """verify recomputes the sums another way (FSUM) and compares the rounded values exactly,
    so unrounded sums, whose last digits depend on the order of addition, are caught."""
    from semseg.compile import plan
    from semseg.verify import verify

    spec, data, _ = ranked
    monkeypatch.setattr(plan, "_rounded", lambda value, places: value)
    report = verify(spec, data, dialects=["duckdb"], progress=lambda _m: None)
    failed = {c.name for c in report.checks if not c.passed}
    assert "metrics:sales" in failed and "tiers:spend_tier" not in failed


def test_sqlite_reads_every_decimal_literal_as_the_nearest_double():
    """SQLite's own reading of ``2.266513`` is one unit in the last place off (3.40, Python
    3.11's); the SQLite target writes such literals as exact quotients, so 20,000 random
    decimals, tiny and huge, all read back as Python's (correctly rounded) double."""
    import random
    import sqlite3

    from sqlglot import exp

    from semseg.compile.portable import _sqlite_exact_numbers

    con = sqlite3.connect(":memory:")
    rng = random.Random(2)
    texts = ["2.266513", "-77.169041", "0.1", "4.5", "5e-324", "1.7976931348623157e308"]
    texts += [repr(rng.uniform(-1e3, 1e3) * 10 ** rng.randint(-30, 30)) for _ in range(20_000)]
    wrong = []
    for text in texts:
        literal = exp.Literal(this=text.lstrip("-"), is_string=False)
        node = _sqlite_exact_numbers(literal)
        node = exp.Neg(this=node) if text.startswith("-") else node
        if con.execute(f"SELECT {node.sql('sqlite')}").fetchone()[0] != float(text):
            wrong.append(text)
    assert wrong == []
    kept = _sqlite_exact_numbers(exp.Literal.number("4.5"))
    assert kept.sql("sqlite") == "4.5"  # exactly a double: as written
    assert _sqlite_exact_numbers(exp.Literal.number("1e400")).sql("sqlite") == "1e400"
