"""Time zones (issue 12): a UTC TIMESTAMP's event date is taken in the declared zone, written as
an explicit conversion, so that no engine's session time zone moves an event across a day.

The expected dates are worked out by hand (America/New_York is UTC-5 in January).
"""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.errors import SpecError
from semseg.spec import load_spec
from semseg.verify import verify
from tests.engines.compare import assert_same_rows

runner = CliRunner()
AS_OF = date(2025, 1, 1)
SPEC = """\
version: 1
name: zoned
time_zone: America/New_York
entity: {name: customer, key: customer_id}
sources:
  events: {table: events, time: at_time}
metrics:
  days: {source: events, agg: active_days}
  today_events: {source: events, agg: count, window: last 1 day, fill: 0}
  since_last: {source: events, agg: days_since_last}
segmentations:
  recent:
    segments:
      - {label: Today, when: today_events > 0}
      - {label: Before, else: true}
"""
EVENTS = [
    # a: 22:00 and 07:00 on Dec 31 in New York -> one day, not on the as-of date.
    ("a", datetime(2025, 1, 1, 3, 0)),
    ("a", datetime(2024, 12, 31, 12, 0)),
    # b: 00:30 on Jan 1 in New York -> on the as-of date.
    ("b", datetime(2025, 1, 1, 5, 30)),
    # c: 23:59:59 on Jan 1 in New York (Jan 2 in UTC) counts; 00:00 on Jan 2 there does not.
    ("c", datetime(2025, 1, 2, 4, 59, 59)),
    ("c", datetime(2025, 1, 2, 5, 0)),
]


def _source() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE events (customer_id VARCHAR, at_time TIMESTAMP)")
    con.executemany("INSERT INTO events VALUES (?, ?)", EVENTS)
    return con


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "zoned.yml"
    path.write_text(SPEC, encoding="utf-8")
    return load_spec(path).with_as_of(AS_OF)


def _rows(con, sql: str) -> dict[str, tuple]:
    return {r[0]: r[1:] for r in con.execute(sql).fetchall()}


def test_dates_are_taken_in_the_zone(spec_file):
    got = _rows(_source(), compile_spec(spec_file, "duckdb"))
    # (days, today_events, since_last, recent, recent_order)
    assert got["a"] == (1, 0, 1, "Before", 2)
    assert got["b"] == (1, 1, 0, "Today", 1)
    assert got["c"] == (1, 1, 0, "Today", 1)


def test_in_utc_the_same_events_fall_on_other_days(tmp_path):
    path = tmp_path / "utc.yml"
    path.write_text(SPEC.replace("time_zone: America/New_York\n", ""), encoding="utf-8")
    got = _rows(_source(), compile_spec(load_spec(path).with_as_of(AS_OF), "duckdb"))
    assert got["a"] == (2, 1, 0, "Today", 1)  # Jan 1 03:00 and Dec 31 in UTC
    assert "c" not in got  # both after the as-of date in UTC


def test_verify_proves_the_zone_with_its_own_conversion(spec_file, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _source().execute(f"COPY events TO '{data / 'events.parquet'}' (FORMAT parquet)")
    report = verify(spec_file, data=data, progress=lambda _m: None)
    assert report.passed, report.to_text()
    dialects = {c.name: c for c in report.checks}["dialects"].description
    assert "tsql, sqlite, mysql: refused by compile" in dialects
    latest = verify(load_spec(spec_file.path), data=data, progress=lambda _m: None)
    assert latest.as_of.startswith("as of 2025-01-02 (the latest event date")  # in New York


@pytest.mark.parametrize("dialect", ["tsql", "sqlite", "mysql"])
def test_targets_without_zones_refuse_at_the_zone_line(spec_file, dialect):
    result = runner.invoke(
        app, ["compile", str(spec_file.path), "-d", dialect, "--as-of", "2025-01-01"]
    )
    assert result.exit_code == 1 and "zoned.yml:3:12: error: " in result.output
    assert "America/New_York" in result.output and "Traceback" not in result.output


def test_a_zone_is_an_iana_name(tmp_path):
    path = tmp_path / "zoned.yml"
    path.write_text(SPEC.replace("America/New_York", "Mars/Olympus"), encoding="utf-8")
    with pytest.raises(SpecError, match=r"zoned.yml:3:12: error: 'Mars/Olympus' is not an IANA"):
        load_spec(path)


def test_a_zone_on_a_date_column_is_refused_on_the_data(spec_file, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    con = _source()
    con.execute(
        "CREATE TABLE dated AS SELECT customer_id, CAST(at_time AS DATE) AS at_time FROM events"
    )
    con.execute(f"COPY dated TO '{data / 'events.parquet'}' (FORMAT parquet)")
    result = runner.invoke(app, ["verify", str(spec_file.path), "--data", str(data)])
    assert result.exit_code == 1 and "'at_time' is DATE" in result.output


@pytest.mark.engines
@pytest.mark.parametrize(
    ("name", "session_zone"),
    [
        ("postgres", "SET TIME ZONE 'Asia/Tokyo'"),
        ("spark", "SET TIME ZONE 'Asia/Tokyo'"),
        ("clickhouse", "SET session_timezone = 'Asia/Tokyo'"),
    ],
)
def test_engines_give_duckdbs_dates_whatever_their_session_zone(
    spec_file, name, session_zone, request
):
    engine = request.getfixturevalue(f"{name}_engine")
    src = _source()
    engine.load(src, ["events"])
    expected = src.execute(compile_spec(spec_file, "duckdb"))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    engine.execute(session_zone)
    try:
        cols, rows = engine.query(compile_spec(spec_file, name))
    finally:
        engine.execute(session_zone.replace("Asia/Tokyo", "UTC"))
    assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)


@pytest.mark.engines
@pytest.mark.parametrize("zone", ["America/New_York", "UTC"])
def test_spark_takes_the_same_dates_from_a_timestamp_with_local_time_zone(
    tmp_path, zone, spark_engine
):
    """Spark's TIMESTAMP (LTZ, its default type) holds an instant, and CAST(ts AS DATE) takes
    the session zone's date: the compiled SQL reads an LTZ column through epoch seconds, so
    a New York session gives DuckDB's dates, in UTC and in a declared zone."""
    path = tmp_path / "zoned.yml"
    path.write_text(SPEC.replace("America/New_York", zone), encoding="utf-8")
    spec_file = load_spec(path).with_as_of(AS_OF)
    src = _source()
    expected = src.execute(compile_spec(spec_file, "duckdb"))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    src.execute("ALTER TABLE events RENAME TO events_ntz")
    spark_engine.load(src, ["events_ntz"])
    spark_engine.execute("SET TIME ZONE 'UTC'")  # the NTZ wall-clock time read as a UTC instant
    spark_engine.execute(
        "CREATE OR REPLACE TEMPORARY VIEW events AS "
        "SELECT customer_id, CAST(at_time AS TIMESTAMP_LTZ) AS at_time FROM events_ntz"
    )
    assert spark_engine.query("SELECT typeof(at_time) FROM events LIMIT 1")[1] == [("timestamp",)]
    spark_engine.execute("SET TIME ZONE 'America/New_York'")
    try:
        for dialect in ("spark", "databricks"):
            cols, rows = spark_engine.query(compile_spec(spec_file, dialect))
            assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)
    finally:
        spark_engine.execute("SET TIME ZONE 'UTC'")


@pytest.mark.parametrize("zone", ["posixrules", "right/UTC", "posix/Europe/Paris", "localtime"])
def test_a_zone_file_that_is_not_an_iana_name_is_refused_at_check(tmp_path, zone):
    """Issue 23, item 21: ``posixrules`` and ``right/UTC`` load in Python's zoneinfo, so they
    passed check, and verify failed with DuckDB's "Unknown TimeZone"."""
    path = tmp_path / "zoned.yml"
    path.write_text(
        f"version: 1\nname: zoned\ntime_zone: {zone}\n"
        "entity: {name: customer, key: unified_customer_id}\n"
        "sources:\n  sales: {table: int_order_lines, time: order_date}\n"
        "metrics:\n  n: {source: sales, agg: count, window: last 30 days}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=rf"'{zone}' is not an IANA time zone name that every"):
        load_spec(path)
