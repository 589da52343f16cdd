"""The engine harness (tests/engines): each engine loads the same DuckDB tables and returns the
same rows as DuckDB for a few queries compiled (transpiled by sqlglot) to its dialect."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from semseg.compile import for_target
from semseg.compile.dialects import TARGETS
from tests.engines import Engine, canonical_type, split_statements
from tests.engines.compare import assert_same_rows, normalise

ENGINES = [
    pytest.param("sqlite_engine", id="sqlite"),
    pytest.param("postgres_engine", id="postgres", marks=pytest.mark.engines),
    pytest.param("spark_engine", id="spark", marks=pytest.mark.engines),
    pytest.param("clickhouse_engine", id="clickhouse", marks=pytest.mark.engines),
]

_SETUP = """
CREATE TABLE people (
    id INTEGER NOT NULL, grp VARCHAR, name VARCHAR, big BIGINT, score DOUBLE,
    amount DECIMAL(10, 2), signup DATE, seen_at TIMESTAMP, active BOOLEAN
);
INSERT INTO people VALUES
 (1, 'a', 'Ann', 9007199254740993, 1.5, 12.34, '2024-01-02', '2024-01-02 03:04:05', true),
 (2, 'a', '', -5, 2.25, -7.50, '1999-12-31', '2024-02-29 23:59:59.123456', false),
 (3, 'a', NULL, NULL, 2.25, 0.00, NULL, NULL, true),
 (4, 'b', 'Bo''b', 0, NULL, NULL, '2030-06-15', '1970-01-01 00:00:00', NULL),
 (5, 'b', 'Cy', 42, -0.125, -0.01, '2024-01-02', '2024-01-02 03:04:05.5', true),
 (6, NULL, 'Di', 7, 10.0, 99999999.99, '1900-01-01', '2000-01-01 12:00:00', false),
 (7, '', 'Ed', 7, 3.0, 1.00, '2024-03-01', '2024-03-01 00:00:00.000001', true);
CREATE TABLE orders (
    order_id INTEGER NOT NULL, person_id INTEGER, total DECIMAL(12, 2), placed DATE
);
INSERT INTO orders VALUES
    (10, 1, 100.00, '2024-01-05'),
    (11, 1, -20.50, '2024-01-06'),
    (12, 2, 5.25, NULL),
    (13, 99, 1.00, '2024-02-01');
"""
TABLES = ["people", "orders"]

# Written in DuckDB SQL; each engine gets sqlglot's transpilation to its dialect.
QUERIES = {
    "select_star": "SELECT * FROM people",
    "group_count_distinct_case": """
        SELECT grp,
               COUNT(*) AS n,
               COUNT(DISTINCT CASE WHEN active THEN id END) AS n_active,
               COUNT(DISTINCT CASE WHEN score > 2 THEN big END) AS n_big,
               SUM(amount) AS total,
               MIN(signup) AS first_signup
        FROM people GROUP BY grp
    """,
    "left_join_no_match": """
        SELECT p.id, p.name, o.order_id, o.total, o.placed
        FROM people AS p LEFT JOIN orders AS o ON p.id = o.person_id
    """,
    "empty_aggregates": """
        SELECT SUM(amount) AS s, SUM(id) AS si, AVG(score) AS a, MAX(name) AS m, COUNT(*) AS n
        FROM people WHERE id > 100
    """,
    "window_rank": """
        SELECT id, grp,
               RANK() OVER (PARTITION BY grp ORDER BY score DESC) AS r_desc,
               RANK() OVER (ORDER BY big) AS r_big
        FROM people
    """,
}


@pytest.fixture(scope="module")
def src() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(_SETUP)
    yield con
    con.close()


def _duckdb_result(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    cur = con.execute(sql)
    return [d[0] for d in cur.description], cur.fetchall()


def _compile(sql: str, engine: Engine) -> str:
    """DuckDB SQL for ``engine`` as semseg compiles it: a query gets the target's quirks
    (ClickHouse: the settings the SQL relies on, carried by the query itself)."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    if isinstance(tree, exp.Query):
        tree = for_target(tree, TARGETS[engine.name])
    return tree.sql(engine.name)


@pytest.fixture(scope="module")
def _loaded() -> set[str]:
    return set()


@pytest.fixture(params=ENGINES)
def engine(
    request: pytest.FixtureRequest, src: duckdb.DuckDBPyConnection, _loaded: set[str]
) -> Engine:
    eng = request.getfixturevalue(request.param)
    if eng.name not in _loaded:  # load once per engine for this module
        eng.load(src, TABLES)
        _loaded.add(eng.name)
    return eng


@pytest.mark.parametrize("query", list(QUERIES), ids=list(QUERIES))
def test_engine_matches_duckdb(engine: Engine, src: duckdb.DuckDBPyConnection, query: str) -> None:
    sql = QUERIES[query]
    exp_cols, exp_rows = _duckdb_result(src, sql)
    cols, rows = engine.query(_compile(sql, engine))
    assert_same_rows(exp_cols, exp_rows, cols, rows)


def test_left_join_gives_null_not_default(engine: Engine) -> None:
    cols, rows = engine.query(
        _compile(
            "SELECT p.id, o.total, o.order_id FROM people p "
            "LEFT JOIN orders o ON p.id = o.person_id WHERE p.id = 4",
            engine,
        )
    )
    assert normalise(rows) == [(4, None, None)]


def test_loaded_values_round_trip(engine: Engine) -> None:
    cols, rows = engine.query(
        _compile("SELECT name, amount, signup, active FROM people WHERE id IN (2, 3)", engine)
    )
    assert [c.lower() for c in cols] == ["name", "amount", "signup", "active"]
    got = normalise(rows)
    assert got[0][0] is None and got[1][0] == ""  # NULL and '' stay distinct
    assert got[1][1] == pytest.approx(-7.5)
    assert got[1][2] == "1999-12-31"


def test_execute_ctas_and_view(engine: Engine, src: duckdb.DuckDBPyConnection) -> None:
    ddl = """
        DROP VIEW IF EXISTS harness_v;
        DROP TABLE IF EXISTS harness_ctas;
        CREATE TABLE harness_ctas AS SELECT id, grp, amount FROM people WHERE amount IS NOT NULL;
        CREATE VIEW harness_v AS SELECT grp, SUM(amount) AS s FROM harness_ctas GROUP BY grp;
    """
    for stmt in split_statements(ddl, "duckdb"):
        src.execute(stmt)
        engine.execute(_compile(stmt, engine))
    sql = "SELECT * FROM harness_v"
    exp_cols, exp_rows = _duckdb_result(src, sql)
    cols, rows = engine.query(_compile(sql, engine))
    assert_same_rows(exp_cols, exp_rows, cols, rows)


@pytest.mark.engines
def test_clickhouse_settings_give_standard_sql(clickhouse_engine: Engine, src) -> None:
    """The settings compiled ClickHouse SQL carries give standard SQL on a server whose
    session sets none of them (the test engine sets none)."""
    from tests.engines.clickhouse import SETTINGS

    assert not set(SETTINGS) & {k for k, _ in TARGETS["clickhouse"].query_settings}
    clickhouse_engine.load(src, TABLES)

    def q(sql: str) -> list[tuple]:
        tree = for_target(sqlglot.parse_one(sql, read="clickhouse"), TARGETS["clickhouse"])
        return clickhouse_engine.query(tree.sql("clickhouse"))[1]

    # a UNION (the keys of several sources) is written UNION DISTINCT by sqlglot
    assert "UNION DISTINCT" in _compile("SELECT 1 AS x UNION SELECT 1 AS x", clickhouse_engine)
    # prefer_column_name_to_alias: WHERE sees the column, not the aggregate alias
    assert q("SELECT sum(id) AS id FROM people WHERE id > 5") == [(13,)]
    # cast_keep_nullable: CAST of a NULL to a non-Nullable type stays NULL
    assert q("SELECT CAST(big AS Int32) AS c FROM people WHERE id = 3") == [(None,)]
    # aggregate_functions_null_for_empty: SUM over no rows is NULL
    assert q("SELECT sum(1) AS s FROM people WHERE id > 100") == [(None,)]
    # NULL comparisons are unknown, not true
    assert q("SELECT count(*) AS n FROM people WHERE big = NULL OR NOT (big <> NULL)") == [(0,)]
    # without the settings, the same SQL is not standard here: proof that they are needed
    raw = clickhouse_engine.query("SELECT sum(1) AS s FROM people WHERE id > 100")[1]
    assert raw == [(0,)]


# --- fixtures' skip/fail rule ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("", "skip"),
        ("spark", "skip"),
        ("postgres,spark", "fail"),
        ("all", "fail"),
        (" ALL ", "fail"),
        ("PostgreSQL", "fail"),
    ],
)
def test_engine_unavailable_skips_unless_required(monkeypatch, value, outcome) -> None:
    from tests.conftest import engine_unavailable

    monkeypatch.setenv("SEMSEG_REQUIRE_ENGINES", value)
    expected = pytest.fail.Exception if outcome == "fail" else pytest.skip.Exception
    with pytest.raises(expected, match="PostgreSQL: initdb not on PATH"):
        engine_unavailable("postgres", "PostgreSQL: initdb not on PATH")


# --- compare.py ------------------------------------------------------------------------------


def test_normalise_values_and_order() -> None:
    rows = [
        (Decimal("1.50"), dt.date(2024, 1, 2), True),
        (None, dt.datetime(2024, 1, 2, 3, 4, 5, 6), False),
        (2, None, None),
    ]
    assert normalise(rows) == [
        (None, "2024-01-02 03:04:05.000006", False),
        (1.5, "2024-01-02", True),
        (2, None, None),
    ]
    np = pytest.importorskip("numpy")
    assert normalise([(np.int64(3), np.float32(0.5), np.bool_(True))]) == [(3, 0.5, True)]
    assert type(normalise([(np.int64(3),)])[0][0]) is int


def test_assert_same_rows_passes_within_tolerance_and_ignores_order_and_case() -> None:
    assert_same_rows(
        ["ID", "X"],
        [(1, Decimal("0.1")), (2, None), (3, float("nan"))],
        ["id", "x"],
        [(3, float("nan")), (2, None), (1, 0.1 + 1e-12)],
    )
    assert_same_rows(["b"], [(True,), (False,)], ["B"], [(0,), (1,)])  # SQLite booleans


@pytest.mark.parametrize(
    ("exp_cols", "exp_rows", "cols", "rows", "message"),
    [
        (["a"], [(1.0,)], ["a"], [(1.001,)], "1 of 1 rows differ"),
        (["a"], [(None,)], ["a"], [("",)], "rows differ"),
        (["a"], [("2024-01-02",)], ["a"], [(dt.date(2024, 1, 3),)], "rows differ"),
        (["a"], [(1,), (2,)], ["a"], [(1,)], "row counts differ"),
        (["a"], [(1,)], ["b"], [(1,)], "column names differ"),
        (["a", "b"], [(1, 2)], ["a"], [(1,)], "column names differ"),
    ],
)
def test_assert_same_rows_detects_differences(exp_cols, exp_rows, cols, rows, message) -> None:
    with pytest.raises(AssertionError, match=message):
        assert_same_rows(exp_cols, exp_rows, cols, rows)


def test_assert_same_rows_lists_first_differing_rows() -> None:
    exp = [(i, float(i)) for i in range(20)]
    got = [(i, float(i) + (0.5 if i % 2 else 0.0)) for i in range(20)]
    with pytest.raises(AssertionError) as info:
        assert_same_rows(["k", "v"], exp, ["k", "v"], got)
    text = str(info.value)
    assert "10 of 20 rows differ" in text
    assert "expected (1, 1.0)" in text and "got      (1, 1.5)" in text
    assert "... and 5 more" in text


def test_canonical_types() -> None:
    assert canonical_type("DECIMAL(10,2)") == ("DECIMAL", 10, 2)
    assert canonical_type("VARCHAR") == ("VARCHAR", None, None)
    assert canonical_type("BIGINT") == ("BIGINT", None, None)
    with pytest.raises(NotImplementedError):
        canonical_type("TIMESTAMP WITH TIME ZONE")
    assert math.isnan(normalise([(float("nan"),)])[0][0])
