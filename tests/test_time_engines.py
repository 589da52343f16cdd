"""Every window form and time aggregation gives DuckDB's answer on every engine here, over DATE
and TIMESTAMP event columns, at as-of dates on month ends and a leap day (issue 12).

The events sit on the window bounds of each as-of date, a minute either side of midnight,
on the as-of date itself and after it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import duckdb
import pytest

from semseg.compile import compile_spec
from semseg.spec import load_spec
from semseg.verify import verify
from tests.engines.compare import assert_same_rows
from tests.parquet import write_tables

ENGINES = ("sqlite", "postgres", "spark", "clickhouse", "mysql")
AS_OF = (date(2025, 3, 31), date(2024, 2, 29), date(2025, 1, 1))
WINDOWS = {
    "last_1_day": "last 1 day",
    "last_10_days": "last 10 days",
    "last_2_weeks": "last 2 weeks",
    "last_1_month": "last 1 month",
    "months_1_to_3": "1 to 3 months ago",
    "before_2_weeks": "before 2 weeks ago",
    "last_1_year": "last 1 year",
}
TIME_AGGS = ("days_since_last", "days_since_first", "active_days", "active_weeks", "active_months")


def _spec_text(column: str) -> str:
    metrics = "".join(
        f"  {name}:\n    source: events\n    agg: count\n    window: {window}\n    fill: 0\n"
        for name, window in WINDOWS.items()
    )
    metrics += "".join(f"  {agg}:\n    source: events\n    agg: {agg}\n" for agg in TIME_AGGS)
    metrics += (
        "  spend_last_month:\n    source: events\n    agg: sum\n    expr: amount\n"
        "    window: last 1 month\n"
        "  first_amount:\n    source: events\n    agg: first\n    expr: amount\n"
        "  last_channel:\n    source: events\n    agg: last\n    expr: channel\n"
        "    type: text\n"
        "  first_channel_last_month:\n    source: events\n    agg: first\n    expr: channel\n"
        "    type: text\n    window: last 1 month\n"
    )
    return (
        "version: 1\nname: timed\nentity: {name: customer, key: customer_id}\n"
        "population: {table: customers}\n"
        f"sources:\n  events:\n    table: events\n    time: {column}\n"
        f"metrics:\n{metrics}"
    )


def _events() -> list[tuple]:
    """Per as-of date A: events on A, a second after midnight and before it around A, on each
    window's bounds (the day on it and the day after), after A, and ties at one time."""
    rows = []
    offsets = (0, 1, 7, 9, 10, 13, 14, 15, 28, 29, 30, 31, 59, 60, 61, 89, 90, 92, 365, 366)
    for i, a in enumerate(AS_OF):
        customer = f"c{i}"
        for days in offsets:
            day = a - timedelta(days=days)
            midnight = datetime.combine(day, datetime.min.time())
            late = datetime.combine(day, datetime.max.time()).replace(microsecond=0)
            rows.append((customer, day, midnight, 1.0, f"ch{days % 7}"))
            rows.append((f"{customer}_late", day, late, 2.5, f"ch{days % 5}"))
        # ties at the latest and the earliest time: the smallest value wins, 'A' before 'a'
        # and 'b' (code points, whatever the engine's collation), -2.0 before 5.0
        for channel, amount in (("b", 5.0), ("a", -2.0), ("A", 5.0)):
            for days in (0, 366):
                day = a - timedelta(days=days)
                midnight = datetime.combine(day, datetime.min.time())
                rows.append((f"{customer}_tie", day, midnight, amount, channel))
        for days in (1, 40):  # after the as-of date: never counted
            day = a + timedelta(days=days)
            midnight = datetime.combine(day, datetime.min.time())
            rows.append((customer, day, midnight, 100.0, "future"))
        single = datetime.combine(a, datetime.min.time()) - timedelta(days=45, minutes=1)
        rows.append((f"{customer}_single", single.date(), single, 3.0, None))
    return rows


def _data() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE events (customer_id VARCHAR, event_day DATE, event_at TIMESTAMP, "
        "amount DOUBLE, channel VARCHAR)"
    )
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", _events())
    con.execute(
        "CREATE TABLE customers AS SELECT DISTINCT customer_id FROM events "
        "UNION ALL SELECT 'nobody'"
    )
    return con


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timed")
    out = {}
    for column in ("event_day", "event_at"):
        path = folder / f"timed_{column}.yml"
        path.write_text(_spec_text(column), encoding="utf-8")
        out[column] = load_spec(path)
    return out


@pytest.mark.parametrize("column", ["event_day", "event_at"])
@pytest.mark.parametrize("as_of", AS_OF)
def test_verify_proves_every_window_and_time_aggregation(specs, tmp_path, column, as_of):
    con = _data()
    write_tables(con, tmp_path, ["events", "customers"])
    report = verify(specs[column], data=tmp_path, dialects=["duckdb"], as_of=as_of)
    assert report.passed, report.to_text()


def test_the_windows_hold_the_days_docs_spec_says(specs):
    """Hand-counted from the offsets in _events, A = 2025-03-31: last 1 month is after
    2025-02-28 (offsets 0..30: 0, 1, 7, 9, 10, 13, 14, 15, 28, 29, 30), last 10 days offsets
    0..9, last 2 weeks 0..13, 1 to 3 months ago after 2024-12-31 up to 2025-02-28 (31..89:
    31, 59, 60, 61, 89), before 2 weeks ago offsets >= 14."""
    con = _data()
    spec_file = specs["event_day"].with_as_of(date(2025, 3, 31))
    row = con.execute(
        f"SELECT * FROM ({compile_spec(spec_file, 'duckdb')}) WHERE customer_id = 'c0'"
    ).fetchone()
    cols = [d[0] for d in con.description]
    got = dict(zip(cols, row, strict=True))
    assert got["last_1_day"] == 1
    assert got["last_10_days"] == 4  # 0, 1, 7, 9
    assert got["last_2_weeks"] == 6  # 0, 1, 7, 9, 10, 13
    assert got["last_1_month"] == 11
    assert got["months_1_to_3"] == 5
    assert got["before_2_weeks"] == 14  # 20 offsets - 6 in the last 2 weeks
    assert got["last_1_year"] == 18  # A - 1 year = 2024-03-31 is offset 365: 365, 366 out
    assert got["days_since_last"] == 0 and got["days_since_first"] == 366
    assert got["active_days"] == 20
    assert got["active_weeks"] == 8  # floor(offset / 7): 0, 1, 2, 4, 8, 12, 13, 52
    assert got["active_months"] == 5  # 2025-03, 2025-02, 2025-01, 2024-12, 2024-03
    assert got["spend_last_month"] == 11.0


@pytest.mark.engines
@pytest.mark.parametrize("name", ENGINES)
def test_time_gives_duckdbs_answer_on_every_engine(specs, name, request):
    engine = request.getfixturevalue(f"{name}_engine")
    src = _data()
    engine.load(src, ["events", "customers"])
    failures = []
    for column, spec_file in specs.items():
        for as_of in AS_OF:
            pinned = spec_file.with_as_of(as_of)
            expected = src.execute(compile_spec(pinned, "duckdb"))
            exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
            try:
                cols, rows = engine.query(compile_spec(pinned, name))
                assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-9)
            except Exception as err:  # noqa: BLE001 - every case is reported
                failures.append(f"{column} as of {as_of}: {str(err).splitlines()[0][:300]}")
    assert failures == []


def test_first_and_last_take_the_smallest_value_on_ties(specs):
    """Hand-worked from _events, A = 2025-03-31: c0_tie has three events at A and three at
    A - 366 days, ('b', 5.0), ('a', -2.0), ('A', 5.0) each time."""
    con = _data()
    sql = compile_spec(specs["event_at"].with_as_of(date(2025, 3, 31)), "duckdb")
    cur = con.execute(f"SELECT * FROM ({sql}) WHERE customer_id LIKE 'c0%'")
    cols = [d[0] for d in cur.description]
    got = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert got["c0_tie"]["last_channel"] == "A"  # 'A' < 'a' < 'b' in code points
    assert got["c0_tie"]["first_amount"] == -2.0
    assert got["c0_tie"]["first_channel_last_month"] == "A"
    assert got["c0"]["first_amount"] == 1.0 and got["c0"]["last_channel"] == "ch0"
    assert got["c0_single"]["last_channel"] is None  # no event with a channel
