"""NaN in the data: a compared metric is NULL there, on every engine (issue 11).

Engines disagree on where NaN falls against a bound: DuckDB, PostgreSQL and Spark sort it above
every number (a NaN spend landed in the top band), ClickHouse compares it false with anything
(it fell through to the else). docs/spec.md: a rounded metric (declared ``precision``, or a
number that bands or quantiles are by) is never NaN; it is NULL and gets the null label.
"""

from __future__ import annotations

import duckdb
import pytest

from semseg.compile import compile_spec, plan
from semseg.spec import load_spec
from semseg.verify import verify
from tests.engines.compare import assert_same_rows

SPEC = """\
version: 1
name: nan_bands
entity: {name: customer, key: customer_id}
sources:
  orders: {table: orders}
metrics:
  spend: {source: orders, agg: sum, expr: amount}
  basket: {source: orders, agg: avg, expr: amount}
segmentations:
  spend_band:
    by: spend
    segments:
      - {label: Low, below: 100}
      - {label: High, min: 100}
      - {label: Unknown, else: true}
  basket_tier:
    by: basket
    quantiles: 2
    direction: desc
"""

# c3 has a NaN amount (so its sum and average are NaN); c4 has only NaN.
ROWS = [
    ("c1", 20.0),
    ("c1", 30.0),
    ("c2", 150.0),
    ("c3", 500.0),
    ("c3", float("nan")),
    ("c4", float("nan")),
    ("c5", 99.5),
]
EXPECTED_BAND = {"c1": "Low", "c2": "High", "c3": "Unknown", "c4": "Unknown", "c5": "Low"}


def _data(folder) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE orders (customer_id VARCHAR, amount DOUBLE)")
    con.executemany("INSERT INTO orders VALUES (?, ?)", ROWS)
    con.execute(f"COPY orders TO '{folder / 'orders.parquet'}' (FORMAT parquet)")
    return con


@pytest.fixture
def case(tmp_path):
    spec_path = tmp_path / "nan_bands.yml"
    spec_path.write_text(SPEC, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    return load_spec(spec_path), data, _data(data)


def _labels(con, sql: str) -> dict[str, tuple]:
    rows = con.execute(f"SELECT customer_id, spend_band, basket_tier FROM ({sql}) t").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_a_nan_metric_gets_the_null_label_not_the_top_band(case):
    spec_file, _, con = case
    labels = _labels(con, compile_spec(spec_file, "duckdb"))
    assert {k: v[0] for k, v in labels.items()} == EXPECTED_BAND
    assert labels["c3"][1] == labels["c4"][1] == "Unranked"  # the null label of quantiles


def test_verify_passes_on_nan_data(case):
    spec_file, data, _ = case
    report = verify(spec_file, data=data, dialects=["duckdb"], progress=lambda _m: None)
    assert [c.name for c in report.checks if not c.passed] == []


def test_a_compiler_that_keeps_nan_fails_verify(case, monkeypatch):
    monkeypatch.setattr(plan, "not_nan", lambda value: value)
    spec_file, data, _ = case
    report = verify(spec_file, data=data, dialects=["duckdb"], progress=lambda _m: None)
    failed = {c.name.split(":")[0] for c in report.checks if not c.passed}
    assert "metrics" in failed


@pytest.mark.parametrize("dialect", ["tsql", "sqlite", "mysql"])
def test_targets_without_nan_get_no_nan_cast(case, dialect):
    """CAST('NaN' AS DOUBLE) is 0 on MySQL and SQLite (NULLIF would make 0 NULL) and an error
    on SQL Server; none of them stores NaN, so the value is left as it is."""
    sql = compile_spec(case[0], dialect)
    assert "NaN" not in sql and "nan" not in sql.lower().replace("nan_bands", "")


@pytest.mark.engines
@pytest.mark.parametrize("name", ["postgres", "spark", "clickhouse"])
def test_nan_labels_are_duckdbs_on_engines_with_nan(case, name, request):
    spec_file, _, con = case
    engine = request.getfixturevalue(f"{name}_engine")
    engine.load(con, ["orders"])
    dialect = {"postgres": "postgres", "spark": "spark", "clickhouse": "clickhouse"}[name]
    expected = con.execute(compile_spec(spec_file, "duckdb"))
    cols, rows = engine.query(compile_spec(spec_file, dialect))
    exp_rows = expected.fetchall()
    assert_same_rows([d[0] for d in expected.description], exp_rows, cols, rows, rel_tol=1e-12)
    assert {r[0]: r[3] for r in rows} == EXPECTED_BAND
