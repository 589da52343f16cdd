"""Time (issue 12): event time, the as-of date, windows and time aggregations.

The expected values on the edge dataset are worked out by hand from tests/edge_data.py (each
customer there says which boundary it sits on), not read from the compiler's output.
"""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb
import pytest
from sqlglot import exp
from typer.testing import CliRunner

import semseg.compile as compile_layer
from semseg.cli import app
from semseg.compile import compile_spec, plan
from semseg.data import resolve_as_of
from semseg.errors import SpecError, UsageError
from semseg.spec import load_spec
from semseg.spec.time import Window, back, parse_window
from semseg.verify import verify
from tests import edge_data
from tests.golden_regen import SPECS

runner = CliRunner()
TREND = SPECS / "offer_trend.yml"


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("last 90 days", Window("DAY", 90, 0)),
        ("Last  1 day", Window("DAY", 1, 0)),
        ("90 to 455 days ago", Window("DAY", 455, 90)),
        ("0 to 3 months ago", Window("MONTH", 3, 0)),
        ("before 12 months ago", Window("MONTH", None, 12)),
        ("last 2 weeks", Window("WEEK", 2, 0)),
        ("last 1 year", Window("YEAR", 1, 0)),
    ],
)
def test_window_forms(text, window):
    assert parse_window(text) == window


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("90 days", "not one of the forms"),
        ("last 0 days", "empty"),
        ("90 to 90 days ago", "empty"),
        ("180 to 90 days ago", "empty"),
        ("last 3 fortnights", "not one of the forms"),
        ("last 1000000 days", "more than"),
        ("last 101 years", "more than 100 years"),
    ],
)
def test_bad_windows_say_why(text, problem):
    found = parse_window(text)
    assert isinstance(found, str) and problem in found


def _spec(tmp_path, metric: str, source_time: str = "\n    time: order_date") -> str:
    path = tmp_path / "timed.yml"
    path.write_text(
        "version: 1\nname: timed\nentity: {name: customer, key: unified_customer_id}\n"
        f"sources:\n  sales:\n    table: int_order_lines{source_time}\n"
        f"metrics:\n{metric}",
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize(
    ("metric", "source_time", "where", "message"),
    [
        (
            "  m:\n    source: sales\n    agg: count\n    window: last ninety days\n",
            "\n    time: order_date",
            "12:13",
            "not one of the forms",
        ),
        (
            "  m:\n    source: sales\n    agg: count\n    window: last 90 days\n",
            "",
            "11:13",
            "source 'sales' has no event time",
        ),
        (
            "  m:\n    source: sales\n    agg: days_since_last\n",
            "",
            "10:10",
            "has no event time",
        ),
        (
            "  m:\n    source: sales\n    agg: active_days\n    expr: order_date\n",
            "\n    time: order_date",
            "12:11",
            "takes no expr",
        ),
        (
            "  n:\n    source: sales\n    agg: count\n"
            "  m:\n    expr: n * 2\n    window: last 9 days\n",
            "\n    time: order_date",
            "14:13",
            "not an aggregate over a source",
        ),
    ],
)
def test_time_mistakes_are_located(tmp_path, metric, source_time, where, message):
    with pytest.raises(SpecError) as err:
        load_spec(_spec(tmp_path, metric, source_time))
    assert f"timed.yml:{where}: error: " in str(err.value) and message in str(err.value)


def test_back_clamps_month_ends_and_counts_weeks_and_years():
    assert back(date(2025, 3, 31), 1, "MONTH") == date(2025, 2, 28)
    assert back(date(2024, 3, 31), 1, "MONTH") == date(2024, 2, 29)
    assert back(date(2024, 2, 29), 1, "YEAR") == date(2023, 2, 28)
    assert back(date(2025, 1, 15), 2, "MONTH") == date(2024, 11, 15)
    assert back(date(2025, 6, 30), 2, "WEEK") == date(2025, 6, 16)
    assert back(date(2025, 6, 30), 455, "DAY") == date(2024, 4, 1)


@pytest.fixture
def edge(tmp_path):
    con = duckdb.connect(str(tmp_path / "edge.duckdb"))
    edge_data.load(con)
    con.close()
    return tmp_path / "edge.duckdb"


def _result(spec_file, data, as_of=None) -> dict[str, tuple]:
    con = duckdb.connect(str(data), read_only=True)
    try:
        spec_file = spec_file.with_as_of(as_of) if as_of else spec_file
        sql = compile_spec(spec_file, "duckdb")
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def test_offer_trend_on_the_edge_cases(edge):
    got = _result(load_spec(TREND), edge, edge_data.AS_OF)
    label = {k: v["offer_trend"] for k, v in got.items()}
    assert label["C10"] == "Steady Offer Seeker"  # on the as-of date, and exactly 90 days back
    assert (got["C10"]["recent_offer_orders"], got["C10"]["earlier_offer_orders"]) == (1, 1)
    assert label["C11"] == "New Offer Seeker"  # 89 days back is recent
    assert label["C12"] == "Non-Offer User"  # exactly 455 days back is outside
    assert label["C13"] == "Lapsed Offer Seeker"  # 454 days back is inside
    assert label["C14"] == "Non-Offer User"  # only orders after the as-of date
    assert got["C14"]["days_since_last_order"] is None and got["C14"]["active_months"] == 0
    assert got["C10"]["days_since_last_order"] == 0
    assert got["C13"]["days_since_last_order"] == 454
    assert got["C13"]["active_months"] == 2  # February (the 29th) and April 2024
    assert got["C1"]["days_since_last_order"] == (edge_data.AS_OF - date(2025, 6, 1)).days


def test_verify_proves_offer_trend_on_edge_cases_and_sample(edge):
    report = verify(load_spec(TREND), data=edge, dialects=["duckdb"], as_of=edge_data.AS_OF)
    assert report.passed, report.to_text()
    assert report.as_of == "as of 2025-06-30 (given with --as-of)"
    names = {c.name for c in report.checks}
    assert "time:point_in_time" in names and "metrics:sales" in names
    sample = verify(load_spec(TREND), dialects=["duckdb"])
    assert sample.passed and sample.as_of.startswith("as of 2025-11-30 (the latest event date")


@pytest.mark.parametrize("as_of", [date(2025, 3, 31), date(2024, 2, 29), date(2025, 5, 31)])
def test_verify_proves_windows_at_month_ends(tmp_path, as_of):
    """Month windows from the 31st and a leap day: verify's calendar against the engine's."""
    text = TREND.read_text(encoding="utf-8").replace("window: last 90 days", "window: last 1 month")
    text = text.replace("window: 90 to 455 days ago", "window: 1 to 13 months ago")
    path = tmp_path / "offer_trend.yml"
    path.write_text(text, encoding="utf-8")
    report = verify(load_spec(path), dialects=["duckdb"], as_of=as_of)
    assert report.passed, report.to_text()


def _failed(spec_file, **kwargs) -> set[str]:
    report = verify(spec_file, dialects=["duckdb"], progress=lambda _m: None, **kwargs)
    return {c.name.split(":")[0] for c in report.checks if not c.passed}


def test_a_window_bound_off_by_one_day_fails_verify(monkeypatch):
    original = plan.window_condition

    def inclusive(spec, name):  # `> A - 90` written as `>= A - 90`: one day too many
        tree = original(spec, name)
        if tree is None:
            return None
        return tree.transform(
            lambda n: exp.GTE(this=n.this, expression=n.expression) if isinstance(n, exp.GT) else n
        )

    monkeypatch.setattr(plan, "window_condition", inclusive)
    assert "metrics" in _failed(load_spec(TREND))


def test_a_model_that_counts_future_events_fails_verify(monkeypatch):
    original = plan.build_plan

    def no_point_in_time(spec, spec_path=None):  # the source filter `date <= as-of` dropped
        built = original(spec, spec_path)

        def drop(step):
            if step.where is None:
                return step
            kept = step.where.transform(
                lambda n: exp.true() if isinstance(n, exp.LTE) and n.find(exp.Column) else n
            )
            return dataclasses.replace(step, where=kept)

        return dataclasses.replace(
            built,
            rows=tuple(drop(r) for r in built.rows),
            sources=tuple(drop(s) for s in built.sources),
        )

    monkeypatch.setattr(plan, "build_plan", no_point_in_time)
    monkeypatch.setattr(compile_layer, "build_plan", no_point_in_time)
    failed = _failed(load_spec(TREND).with_as_of(date(2025, 6, 30)))
    assert {"time", "metrics"} <= failed


def test_compile_needs_an_as_of_it_can_write(tmp_path):
    default = runner.invoke(app, ["compile", str(TREND), "-d", "tsql"])
    assert default.exit_code == 0 and "CAST(GETDATE() AS DATE)" in default.stdout
    assert "note: offer_trend: compiled as of the engine's current date" in default.stderr
    fixed = runner.invoke(app, ["compile", str(TREND), "--as-of", "2025-06-30"])
    assert fixed.exit_code == 0 and "CAST('2025-06-30' AS DATE)" in fixed.stdout
    assert "CURRENT_DATE" not in fixed.stdout
    latest = runner.invoke(app, ["compile", str(TREND), "--as-of", "latest"])
    assert latest.exit_code == 2 and "latest event date in the data" in latest.output
    bad = runner.invoke(app, ["compile", str(TREND), "--as-of", "2025-02-30"])
    assert bad.exit_code == 2 and "is not YYYY-MM-DD" in bad.output
    assert "Traceback" not in bad.output + latest.output


def test_dbt_sets_the_as_of_date_with_a_var(tmp_path):
    result = runner.invoke(
        app, ["compile", str(TREND), "--dbt", str(tmp_path), "--as-of", "2025-06-30"]
    )
    assert result.exit_code == 0, result.output
    model = (tmp_path / "models" / "offer_trend.sql").read_text(encoding="utf-8")
    assert 'CAST(\'{{ var("as_of", "2025-06-30") }}\' AS DATE)' in model
    assert "2025-06-30'" not in model.replace('"2025-06-30") }}\'', "")


def test_resolve_as_of_explains_its_choice():
    spec_file = load_spec(TREND)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE int_order_lines (unified_customer_id VARCHAR, order_date DATE, "
        "transaction_type VARCHAR)"
    )
    con.execute(
        "INSERT INTO int_order_lines VALUES ('a', DATE '2024-01-02', 'Sale'), "
        "('b', DATE '2024-03-04', 'Refund'), (NULL, DATE '2024-02-01', 'Sale')"
    )
    resolved, note = resolve_as_of(spec_file, con)
    # the source's where keeps Sales with a customer: the latest such event is 2024-01-02
    assert resolved.spec.as_of == date(2024, 1, 2) and "latest event date" in note
    resolved, note = resolve_as_of(spec_file, con, date(2023, 5, 6))
    assert resolved.spec.as_of == date(2023, 5, 6) and "--as-of" in note
    resolved, note = resolve_as_of(spec_file, con, "today")
    assert isinstance(resolved.spec.as_of, date) and "(today, UTC)" in note
    con.execute("DELETE FROM int_order_lines")
    with pytest.raises(Exception, match="no dated events"):
        resolve_as_of(spec_file, con)


def test_a_spec_without_time_ignores_the_as_of_date():
    offer = load_spec(SPECS / "offer_seeker.yml")
    assert compile_spec(offer.with_as_of(date(2020, 1, 1))) == compile_spec(offer)
    with pytest.raises(UsageError):
        compile_spec(load_spec(TREND).with_as_of("latest"))


def test_back_stops_at_the_first_date_there_is():
    assert back(date(50, 1, 1), 100, "YEAR") == date.min
    assert back(date(1, 1, 10), 30, "DAY") == date.min


def test_profile_says_which_as_of_date_it_used():
    result = runner.invoke(app, ["profile", str(TREND), "--as-of", "2025-06-30"])
    assert result.exit_code == 0, result.output
    assert "as of 2025-06-30 (given with --as-of)" in result.stdout.splitlines()[1]


def test_a_first_last_tie_broken_the_other_way_fails_verify(tmp_path, monkeypatch):
    """Order lines of one order share a date: the last amount is the smallest of them."""
    path = tmp_path / "edges.yml"
    path.write_text(
        "version: 1\nname: edges\nentity: {name: customer, key: unified_customer_id}\n"
        "sources:\n  sales: {table: int_order_lines, time: order_date}\n"
        "metrics:\n  last_amount: {source: sales, agg: last, expr: sales_amount}\n",
        encoding="utf-8",
    )
    spec_file = load_spec(path)
    assert _failed(spec_file) == set()
    original = plan._edge_step

    def largest(*args, **kwargs):
        step = original(*args, **kwargs)
        swapped = tuple(plan.Column(c.name, exp.Max(this=c.expr.this)) for c in step.columns)
        return dataclasses.replace(step, columns=swapped)

    monkeypatch.setattr(plan, "_edge_step", largest)
    assert "metrics" in _failed(spec_file)


def test_two_sources_of_one_table_with_their_own_time_columns(tmp_path):
    """The point-in-time check moves every time column of a table it copies (it moved only
    the first source's, so the other source counted the copies and the check failed)."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE parcels AS SELECT * FROM (VALUES ('a', DATE '2025-01-01', "
        "DATE '2025-01-03'), ('a', DATE '2025-01-05', NULL), ('b', DATE '2024-12-30', "
        "DATE '2025-01-02')) t(customer_id, ordered_at, shipped_at)"
    )
    con.execute(f"COPY parcels TO '{data / 'parcels.parquet'}' (FORMAT parquet)")
    path = tmp_path / "parcels.yml"
    path.write_text(
        "version: 1\nname: parcels\nentity: {name: customer, key: customer_id}\n"
        "sources:\n  ordered: {table: parcels, time: ordered_at}\n"
        "  shipped: {table: parcels, time: shipped_at}\n"
        "metrics:\n  n_ordered: {source: ordered, agg: count}\n"
        "  n_shipped: {source: shipped, agg: count}\n",
        encoding="utf-8",
    )
    report = verify(load_spec(path), data=data, dialects=["duckdb"], as_of=date(2025, 1, 4))
    assert report.passed, report.to_text()


def test_first_last_of_a_source_keyed_by_its_own_column(tmp_path):
    """A first/last metric of a source whose key column is not named like the entity's: its
    step joins the source's key to the main step's entity key (it joined the source's key name
    on both sides, and the model did not run). Expected values worked out by hand."""
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE visits AS SELECT * FROM (VALUES ('a', DATE '2025-01-01', 'web'), "
        "('a', DATE '2025-01-03', 'app'), ('a', DATE '2025-01-03', 'shop'), "
        "('b', DATE '2024-12-30', 'shop'), ('b', DATE '2025-01-09', 'web')) "
        "t(visitor_id, visited_on, channel)"
    )
    con.execute(f"COPY visits TO '{data / 'visits.parquet'}' (FORMAT parquet)")
    path = tmp_path / "visits.yml"
    path.write_text(
        "version: 1\nname: visits\nentity: {name: customer, key: customer_id}\n"
        "sources:\n  visits: {table: visits, key: visitor_id, time: visited_on}\n"
        "metrics:\n  first_channel: {source: visits, agg: first, expr: channel}\n"
        "  last_channel: {source: visits, agg: last, expr: channel}\n"
        "  visit_days: {source: visits, agg: active_days}\n",
        encoding="utf-8",
    )
    spec_file = load_spec(path).with_as_of(date(2025, 1, 4))
    rows = con.execute(compile_spec(spec_file, "duckdb"))
    assert sorted(rows.fetchall()) == [("a", "web", "app", 2), ("b", "shop", "shop", 1)]
    report = verify(spec_file, data=data, dialects=["duckdb"])
    assert report.passed, report.to_text()


def test_an_as_of_date_beyond_what_semseg_computes_with_is_refused(tmp_path):
    """Issue 23, item 18: ``verify --as-of 9999-12-31`` overflowed Python's date in the
    point-in-time check (a traceback)."""
    from typer.testing import CliRunner

    from semseg.cli import app
    from tests.golden_regen import SPECS

    spec = str(SPECS / "offer_trend.yml")
    result = CliRunner().invoke(app, ["verify", spec, "--as-of", "9999-12-31"])
    assert result.exit_code == 2, result.output
    assert "outside 1000-01-01 to 9000-12-31" in result.output
    text = (SPECS / "offer_trend.yml").read_text(encoding="utf-8")
    path = tmp_path / "late.yml"
    path.write_text(text.replace("name: offer_trend\n", "name: offer_trend\nas_of: 9999-12-31\n"))
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1 and ":6:8: error: the as-of date 9999-12-31" in result.output


@pytest.mark.parametrize(
    ("column", "said"),
    [
        ("1735689600 + i * 86400", "is BIGINT in table 'events': it needs DATE or TIMESTAMP"),
        (
            "TIMESTAMPTZ '2025-01-01 23:30:00+00' + i * INTERVAL 1 HOUR",
            "is a TIMESTAMP WITH TIME ZONE in table 'events', whose date depends on the session",
        ),
    ],
)
def test_an_event_time_column_must_be_a_date_or_a_utc_timestamp(tmp_path, column, said):
    """Issue 23, items 22 and 8: an epoch integer gave DuckDB's Conversion Error with no
    line; a TIMESTAMP WITH TIME ZONE was dated in the machine's zone (TZ=Asia/Tokyo moved
    events across a day) and verify passed."""
    import duckdb
    from typer.testing import CliRunner

    from semseg.cli import app
    from tests.parquet import write_tables

    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE events AS SELECT i % 7 AS customer_id, {column} AS event_at "
        "FROM range(30) t(i)"
    )
    (tmp_path / "data").mkdir()
    data = write_tables(con, tmp_path / "data", ["events"])
    spec = tmp_path / "spec.yml"
    spec.write_text(
        "version: 1\nname: timed\nentity: {name: customer, key: customer_id}\n"
        "sources:\n  events: {table: events, time: event_at}\n"
        "metrics:\n  recent: {source: events, agg: count, window: last 7 days, fill: 0}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["verify", str(spec), "--data", str(data), "--as-of", "2025-01-20"]
    )
    assert result.exit_code == 1, result.output
    assert ":5:33: error:" in result.output and said in result.output
