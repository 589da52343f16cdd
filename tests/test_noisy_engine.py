"""The compiled SQL gives DuckDB's answer on an engine that evaluates every CTE reference on
its own with float sums that differ in the last bit each time (issue 21; the engine is
``tests/engines/noisy.py``). Every example spec on every dataset of the engine matrix runs
through it, as do the fuzzer's generated specs (``tests/test_fuzz.py``); the cluster
assignment SQL of before issue 21, which joined a nearest distance from one evaluation to the
pairs of another, must fail it.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from benchmarks.assign import join_back_queries
from semseg.compile import compile_spec
from semseg.compile import plan as plan_module
from semseg.spec import load_spec
from tests.cli_helpers import fitted_personas
from tests.engines.noisy import NoisyDuckDBEngine
from tests.test_engine_matrix import CASES, run_matrix


def test_the_noisy_engine_behaves_like_clickhouse():
    """The issue's measurement on ClickHouse (1,874 of 2,469 keys differ between two
    references of one CTE), reproduced: DuckDB says 0, the noisy engine about half."""
    src = duckdb.connect()
    src.execute(
        "CREATE TABLE lines AS SELECT i % 2469 AS k, hash(i) % 100000 / 1000.0 AS amount "
        "FROM range(1500000) t(i)"
    )
    sql = (
        "WITH a AS (SELECT k, SUM(amount) AS v FROM lines GROUP BY k) "
        "SELECT COUNT(*), COUNT(*) FILTER (WHERE a1.v <> a2.v) FROM a AS a1 JOIN a AS a2 USING (k)"
    )
    assert src.execute(sql).fetchall() == [(2469, 0)]
    engine = NoisyDuckDBEngine()
    engine.load(src, ["lines"])
    (total, differ) = engine.query(sql)[1][0]
    assert total == 2469 and 900 < differ < 1600
    exact = "WITH a AS (SELECT k, SUM(CAST(amount AS DECIMAL(18,3))) AS v FROM lines GROUP BY k) "
    assert engine.query(exact + sql[sql.index("SELECT COUNT") :])[1] == [(2469, 0)]


@pytest.mark.parametrize("as_double", [False, True], ids=["as-is", "decimal-as-double"])
def test_every_example_spec_gives_duckdbs_rows_on_the_noisy_engine(as_double):
    """The engine matrix's specs and datasets; also with every DECIMAL column as DOUBLE, so
    that every sum of an amount is a float sum that the engine perturbs."""
    engine = NoisyDuckDBEngine()
    try:
        assert run_matrix(engine, ("duckdb",), as_double) == CASES
        assert engine.perturbed >= (20 if as_double else 6)  # float aggregates perturbed
    finally:
        engine.close()


def _labels(engine_or_con, sql):
    if isinstance(engine_or_con, NoisyDuckDBEngine):
        cols, rows = engine_or_con.query(sql)
    else:
        cur = engine_or_con.execute(sql)
        cols, rows = [d[0] for d in cur.description], cur.fetchall()
    k, p = cols.index("customer_id"), cols.index("persona")
    return {r[k]: r[p] for r in rows}


def _personas(tmp_path, nearest: bool):
    """The personas spec with the prototypes rule (``assign_noise: nearest`` if asked, else
    ``rule: prototypes``), fitted here, and its data in DuckDB and on the noisy engine."""
    from semseg.sample import table_paths

    setting = "assign_noise: nearest" if nearest else "rule: prototypes"
    spec = fitted_personas(tmp_path, setting)
    assert json.loads((tmp_path / "olist_personas.persona.model.json").read_text())["prototypes"]
    src = duckdb.connect()
    for name, path in table_paths("marketplace").items():
        src.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    engine = NoisyDuckDBEngine()
    engine.load(src, [r[0] for r in src.execute("SHOW TABLES").fetchall()])
    return load_spec(spec), src, engine


@pytest.mark.parametrize("nearest", [False, True], ids=["radius", "assign_noise-nearest"])
def test_the_join_back_assignment_fails_on_the_noisy_engine_and_todays_passes(
    tmp_path, monkeypatch, nearest
):
    spec_file, src, engine = _personas(tmp_path, nearest)
    sql = compile_spec(spec_file, "duckdb")
    expected = _labels(src, sql)
    assert _labels(engine, sql) == expected
    monkeypatch.setattr(plan_module, "assignment_queries", join_back_queries)
    old = compile_spec(spec_file, "duckdb")
    assert old != sql
    assert _labels(src, old) == expected  # DuckDB materialises the CTE: it cannot tell
    noisy = _labels(engine, old)
    wrong = [k for k in expected if noisy[k] != expected[k]]
    assert len(wrong) > 0.2 * sum(1 for v in expected.values() if v != -1), len(wrong)


@pytest.mark.parametrize("nearest", [False, True], ids=["radius", "assign_noise-nearest"])
def test_the_window_form_of_the_nearest_prototype_passes_the_noisy_engine(
    tmp_path, monkeypatch, nearest
):
    """Targets without an aggregate over a struct, tuple or array (``Target.nearest_of``:
    SQLite, MySQL, SQL Server, Snowflake, BigQuery, Redshift, Trino) find the nearest
    prototype by a window over the row's pairs: also one evaluation. DuckDB written that way
    gives the labels of its own form on the noisy engine."""
    from dataclasses import replace

    from semseg.compile.dialects import TARGETS

    spec_file, src, engine = _personas(tmp_path, nearest)
    expected = _labels(src, compile_spec(spec_file, "duckdb"))
    monkeypatch.setitem(TARGETS, "duckdb", replace(TARGETS["duckdb"], nearest_of=None))
    window = compile_spec(spec_file, "duckdb")
    assert "OVER (PARTITION BY" in window and "{'d'" not in window
    assert _labels(engine, window) == expected
