"""``semseg history`` (issue 26): every key's metrics and labels at many as-of dates, from one
query over a spine of the dates. The history equals the separate ``compile --as-of`` runs row
for row, for every example spec with time, on the bundled sample and on the edge cases, here
and on every engine."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import duckdb
import pytest

from semseg.compile import compile_spec
from semseg.errors import UsageError
from semseg.history import history_sql, spine
from semseg.sample import table_paths
from semseg.spec import find_specs, load_spec
from semseg.spec.time import uses_time
from semseg.sql import date_literal
from tests import edge_data
from tests.engines.compare import assert_same_rows
from tests.golden_regen import SPECS

LIFECYCLE = SPECS / "customer_lifecycle.yml"
SAMPLE_DATES = (date(2024, 11, 30), date(2025, 5, 31), date(2025, 10, 31), date(2025, 11, 30))
# the edge cases' windows end on AS_OF; a day either side moves events in and out of them
EDGE_DATES = (date(2025, 3, 31), date(2025, 6, 29), edge_data.AS_OF, date(2025, 7, 1))


def _timed_specs() -> list:
    """The example specs with event time and no cluster segmentation (none has both; a
    history of clusters is tested below, with a model fitted for it)."""
    out = []
    for path in find_specs(SPECS):
        spec = load_spec(path).spec
        if uses_time(spec) and all(s.kind != "cluster" for s in spec.segmentations.values()):
            out.append(path)
    return out


TIMED = _timed_specs()


def _retail() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, path in table_paths("retail").items():
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def _edge() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    edge_data.load(con)
    return con


def _history_is_the_separate_runs(con, spec_file, dates) -> tuple[list[str], list]:
    """Assert the spec's history at ``dates`` in ``con`` is its separate runs row for row;
    the history's (columns, rows)."""
    cur = con.execute(history_sql(spec_file, dates, "duckdb"))
    cols, rows = [d[0] for d in cur.description], cur.fetchall()
    want_cols, want = _as_separate_runs(con, spec_file, dates)
    assert len(rows) == len(want) > 0
    assert_same_rows(want_cols, want, cols, rows)
    return cols, rows


def _load(engine, con) -> None:
    """Every table of ``con`` loaded into ``engine``."""
    engine.load(con, [r[0] for r in con.execute("SHOW TABLES").fetchall()])


def _engine_gives_duckdbs(engine, con, spec_file, dates) -> None:
    """The history compiled for ``engine`` gives the rows DuckDB's gives over ``con``."""
    want = con.execute(history_sql(spec_file, dates, "duckdb"))
    want_cols, want_rows = [d[0] for d in want.description], want.fetchall()
    cols, rows = engine.query(history_sql(spec_file, dates, engine.name))
    assert_same_rows(want_cols, want_rows, cols, rows)


ENGINES = ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"]


def _as_separate_runs(con, spec_file, dates):
    """(columns, rows) of the spec's model run once per date, the date added after the key."""
    rows, cols = [], None
    for day in dates:
        cur = con.execute(compile_spec(spec_file.with_as_of(day)))
        names = [d[0] for d in cur.description]
        cols = [names[0], "as_of", *names[1:]]
        rows += [(r[0], day, *r[1:]) for r in cur.fetchall()]
    return cols, rows


def test_the_example_specs_with_time_are_all_here():
    assert sorted(p.stem for p in TIMED) == [
        "customer_lifecycle",
        "customer_rfm",
        "offer_categories",
        "offer_propensity",
        "offer_trend",
        "offer_types",
    ]


@pytest.mark.parametrize("path", TIMED, ids=lambda p: p.stem)
@pytest.mark.parametrize("dataset", ["sample", "edge cases"])
def test_the_history_is_the_separate_as_of_runs_row_for_row(path, dataset):
    con = _retail() if dataset == "sample" else _edge()
    dates = SAMPLE_DATES if dataset == "sample" else EDGE_DATES
    _history_is_the_separate_runs(con, load_spec(path), dates)


@pytest.mark.parametrize("path", TIMED, ids=lambda p: p.stem)
def test_a_daily_history_across_the_window_edges_is_the_separate_runs(path):
    """Nine days either side of the edge cases' window end: each date its own bucket, so
    every running aggregate, first count and window moves by one day at a time."""
    dates = spine(date(2025, 6, 26), date(2025, 7, 4), "day")
    _history_is_the_separate_runs(_edge(), load_spec(path), dates)


def test_a_history_reads_each_event_once_unless_a_window_or_first_last_needs_it(tmp_path):
    """The design, as structure (docs/design.md, "Membership over time"): sums, counts,
    minima, maxima and distinct counts read each event once, in its bucket, with the other
    sources of its table, key and time in one scan; a windowed metric's rows meet only the
    dates whose windows can hold them (an equality join on the bucket); only first/last,
    top, avg and the like cross the rows with the dates. customer_rfm has only running
    metrics; customer_lifecycle two sources of int_order_lines and one window (sales_30d)."""
    dates = spine(date(2025, 1, 1), date(2025, 11, 30), "month")
    rfm = history_sql(load_spec(RFM), dates, "duckdb")
    assert "CROSS JOIN" not in rfm and "customer_as_of_dates" in rfm
    assert rfm.count("CASE") >= 4  # the bucket: nested CASEs halving the 11 dates
    lifecycle = history_sql(load_spec(LIFECYCLE), dates, "duckdb")
    ctes = {p.split(" AS (")[0].strip(): p for p in lifecycle.split("), ")}
    assert "CROSS JOIN" not in lifecycle, list(ctes)
    # the buckets of both sources, each order's first date, the window's rows
    assert lifecycle.count("FROM int_order_lines") == 3
    assert "customer_all_lines_parts" not in lifecycle
    dated = [c for c, text in ctes.items() if "JOIN customer_sales_reach" in text]
    assert dated == ["customer_sales_rows"], list(ctes)
    assert "INTERVAL (-30) DAY" in ctes["customer_sales_reach"]  # its 30-day windows
    from tests.cli_helpers import write_spec

    every_path = load_spec(write_spec(tmp_path / "every_path.yml", EVERY_PATH))
    every = history_sql(every_path, dates, "duckdb")
    assert every.count("CROSS JOIN") == 1  # first, avg and active weeks
    assert "customer_recent_reach" in every and "customer_running_parts AS" not in every


def test_a_history_moves_with_the_dates():
    """Not one date repeated: the lifecycle's prospects and its sales differ between dates."""
    con = _retail()
    spec_file = load_spec(SPECS / "customer_lifecycle.yml")
    sizes = con.execute(
        f"SELECT as_of, COUNT(*), SUM(CASE WHEN lifecycle_stage = 'Prospect' THEN 1 ELSE 0 END) "
        f"FROM ({history_sql(spec_file, SAMPLE_DATES, 'duckdb')}) GROUP BY as_of ORDER BY as_of"
    ).fetchall()
    assert [d for d, _, _ in sizes] == list(SAMPLE_DATES)
    assert len({n for _, n, _ in sizes}) == len(SAMPLE_DATES)  # signups join the population
    assert len({p for _, _, p in sizes}) == len(SAMPLE_DATES)


def test_the_spine():
    assert spine(date(2025, 1, 15), date(2025, 4, 30), "month") == (
        date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)
    )  # fmt: skip
    assert spine(date(2024, 2, 1), date(2024, 2, 29), "month") == (date(2024, 2, 29),)
    assert spine(date(2025, 1, 1), date(2025, 1, 15), "week") == (
        date(2025, 1, 1), date(2025, 1, 8), date(2025, 1, 15)
    )  # fmt: skip
    assert len(spine(date(2025, 1, 1), date(2025, 12, 31), "day")) == 365
    with pytest.raises(UsageError, match="at most 500"):
        spine(date(2020, 1, 1), date(2025, 1, 1), "day")
    with pytest.raises(UsageError, match="no month ends"):
        spine(date(2025, 1, 2), date(2025, 1, 30), "month")
    with pytest.raises(UsageError, match="must be before"):
        spine(date(2025, 2, 1), date(2025, 1, 1), "day")


SHOPPERS = """\
version: 1
name: shoppers
entity: {name: customer, key: unified_customer_id}
sources:
  sales: {table: int_order_lines, time: order_date, where: transaction_type = 'Sale'}
metrics:
  sale_lines: {source: sales, agg: count, fill: 0}
  spend: {source: sales, agg: sum, expr: sales_amount, fill: 0}
  recency: {source: sales, agg: days_since_last}
  spend_30d: {source: sales, agg: sum, expr: sales_amount, window: last 30 days, fill: 0}
segmentations:
  shopper:
    cluster:
      where: sale_lines > 1
      features: [sale_lines, spend, recency, spend_30d]
      algorithm: hdbscan
      min_cluster_size: 15
      RULE
"""


@pytest.fixture(scope="module", params=["prototypes", "boxes"])
def shoppers(request, tmp_path_factory):
    """SHOPPERS with each rule, fitted once as of 2025-11-30 on the bundled sample."""
    pytest.importorskip("sklearn")
    from semseg.cluster.fit import fit_spec
    from semseg.data import open_session
    from tests.cli_helpers import write_spec

    folder = tmp_path_factory.mktemp(f"shoppers_{request.param}")
    text = SHOPPERS.replace("RULE", f"rule: {request.param}")
    path = write_spec(folder / "shoppers.yml", text)
    with open_session(load_spec(path), as_of=date(2025, 11, 30)) as session:
        fit_spec(session, force=True)
    return load_spec(path)


def test_a_history_of_clusters_is_the_separate_runs(shoppers):
    """A cluster segmentation over metrics with time, fitted once: its history assigns each
    (key, date) as the date's features place it, which is what each separate run gives with
    the same model (the prototypes' assignment joins by the key and the date; boxes read
    the row). The clusters move between dates."""
    con = _retail()
    cols, rows = _history_is_the_separate_runs(con, shoppers, SAMPLE_DATES)
    at, label = cols.index("as_of"), cols.index("shopper")
    sizes = {d: Counter(r[label] for r in rows if r[at] == d) for d in SAMPLE_DATES}
    assert len({tuple(sorted(c.items())) for c in sizes.values()}) == len(SAMPLE_DATES)
    assert len(sizes[SAMPLE_DATES[-1]]) > 2  # clusters and -1, not one label


def test_a_history_of_clusters_proves_its_dates_and_a_key_only_assignment_fails(
    shoppers, monkeypatch
):
    """history --verify proves the labels at each date as the model's rule gives them from
    that date's features (not the agreement with a refit, which is about the model, fitted
    at one date); the assignment joined by the key only (one date's cluster for every
    date) fails the rule check."""
    from semseg.compile import plan
    from semseg.verify.history import verify_history

    dates = (date(2025, 1, 31), date(2025, 6, 30), date(2025, 11, 30))
    proofs = verify_history(shoppers, dates, progress=lambda _: None)
    assert [d for d, r in proofs if r.passed] == list(dates)
    assert not any(c.name.startswith("agreement") for _, r in proofs for c in r.checks)
    if shoppers.spec.segmentations["shopper"].cluster.rule == "boxes":
        return  # boxes read the row: no join to break
    original = plan._clusters_phase
    monkeypatch.setattr(
        plan,
        "_clusters_phase",
        lambda spec, path, names, chain, history=False: original(spec, path, names, chain),
    )
    broken = verify_history(shoppers, dates, progress=lambda _: None)
    for _, report in broken:
        assert "rule:shopper" in {c.name for c in report.checks if not c.passed}


@pytest.mark.engines
@pytest.mark.parametrize("fixture", ENGINES)
def test_every_engine_gives_duckdbs_history(fixture, request):
    """The history of every example spec with time, compiled for the engine, on the sample
    and on the edge cases: DuckDB's rows (floats to 1e-9: engines add in their own order).
    Spark plans each history query for about 5 s: it runs every spec on the edge cases
    (which hold every construct: windows' edges, ties, joins, the population's time) and
    the lifecycle on the sample; the other engines run both datasets for every spec."""
    engine = request.getfixturevalue(fixture)
    compared = 0
    for con, dates in ((_retail(), SAMPLE_DATES), (_edge(), EDGE_DATES)):
        _load(engine, con)
        sample = dates == SAMPLE_DATES
        for path in TIMED if not (sample and engine.name == "spark") else [LIFECYCLE]:
            _engine_gives_duckdbs(engine, con, load_spec(path), dates)
            compared += 1
    assert compared == (len(TIMED) + 1 if engine.name == "spark" else 2 * len(TIMED))


@pytest.mark.engines
@pytest.mark.parametrize("shoppers", ["prototypes"], indirect=True)
@pytest.mark.parametrize("fixture", ENGINES)
def test_every_engine_gives_duckdbs_history_of_clusters(fixture, request, shoppers):
    """The cluster history compiled for the engine, on the sample: DuckDB's rows. The
    prototypes' nearest per (key, date) is each target's own aggregate; boxes read the row,
    as in one run (tests/test_cluster_boxes.py runs them on every engine)."""
    engine = request.getfixturevalue(fixture)
    con = _retail()
    _load(engine, con)
    _engine_gives_duckdbs(engine, con, shoppers, SAMPLE_DATES)


@pytest.mark.engines
@pytest.mark.parametrize("fixture", ENGINES)
def test_every_engine_gives_duckdbs_history_of_every_path(fixture, request, tmp_path):
    """EVERY_PATH's three sources of one table share a scan (each aggregate and each "has
    rows by then" flag masked to its own source's rows, a window joined to its reach), on
    the edge cases: DuckDB's rows on every engine."""
    from tests.cli_helpers import write_spec

    engine = request.getfixturevalue(fixture)
    spec_file = load_spec(write_spec(tmp_path / "every_path.yml", EVERY_PATH))
    con = _edge()
    _load(engine, con)
    _engine_gives_duckdbs(engine, con, spec_file, EDGE_DATES)


# ------------------------------------------------------------------ the command and its proof

RFM = SPECS / "customer_rfm.yml"


def test_history_text_csv_and_sql():
    """Text: each segmentation's sizes per date, the separate runs' sizes; csv: every row."""
    from tests.cli_helpers import run

    args = ["history", LIFECYCLE, "--from", "2025-09-01", "--to", "2025-11-30"]
    text = run(*args)
    assert text.exit_code == 0, text.output
    spec_file = load_spec(LIFECYCLE)
    con = _retail()
    for day in (date(2025, 9, 30), date(2025, 10, 31), date(2025, 11, 30)):
        sizes = con.execute(
            f"SELECT lifecycle_stage, COUNT(*) FROM ({compile_spec(spec_file.with_as_of(day))}) "
            "GROUP BY 1"
        ).fetchall()
        line = next(x for x in text.output.splitlines() if x.strip().startswith(day.isoformat()))
        wanted = dict(sizes)
        got = line.split()[1:6]  # Prospect New Active Lapsing Lapsed, in the spec's order
        stages = ["Prospect", "New", "Active", "Lapsing", "Lapsed"]
        assert [int(n.replace(",", "")) for n in got] == [wanted.get(s, 0) for s in stages]
    table = run(*args, "--format", "csv")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].startswith("unified_customer_id,as_of,order_count,")
    _, want = _as_separate_runs(con, spec_file, (date(2025, 9, 30), date(2025, 10, 31),
                                                 date(2025, 11, 30)))  # fmt: skip
    assert len(lines) - 1 == len(want)
    sql = run(*args, "--sql", "snowflake")
    assert sql.exit_code == 0 and "customer_as_of_dates" in sql.stdout


def test_history_verify_proves_three_dates():
    from tests.cli_helpers import run

    done = run("history", RFM, "--from", "2025-01-01", "--to", "2025-11-30", "--verify")
    assert done.exit_code == 0, done.output
    assert [x.split()[:2] for x in done.output.splitlines() if x.startswith(("PASS", "FAIL"))] == [
        ["PASS", "2025-01-31:"], ["PASS", "2025-06-30:"], ["PASS", "2025-11-30:"]
    ]  # fmt: skip


def test_a_history_that_ranks_across_dates_fails_its_proof(monkeypatch):
    """A compiler mutation: the quantile tiers ranked over every date together, not within
    each; the history's rows at a date then fail verify's tier and rule checks."""
    from semseg.compile import plan
    from tests.cli_helpers import run

    original = plan._tiers_phase
    monkeypatch.setattr(
        plan, "_tiers_phase", lambda spec, names, chain, history=False: original(spec, names, chain)
    )
    done = run("history", RFM, "--from", "2025-01-01", "--to", "2025-11-30", "--verify")
    assert done.exit_code == 1, done.output
    assert "FAIL  2025-01-31" in done.output


def test_a_history_read_as_of_its_last_date_fails_its_proof(monkeypatch):
    """A compiler mutation: every event and every member counts from the first date (each
    one's bucket is the first date, not the first on or after its own time), so the rows at
    the first date are those of the last; the proof of the first date fails."""
    from semseg.compile import timeline
    from semseg.verify import verify

    spec_file = load_spec(LIFECYCLE)
    query = history_sql(spec_file, SAMPLE_DATES, "duckdb")
    good = f"SELECT * EXCLUDE (as_of) FROM ({query}) WHERE as_of = DATE '2024-11-30'"
    assert verify(spec_file, dialects=["duckdb"], model_sql=good, as_of=date(2024, 11, 30)).passed
    monkeypatch.setattr(timeline, "bucket_of", lambda when, dates: date_literal(dates[0]))
    broken = history_sql(spec_file, SAMPLE_DATES, "duckdb")
    assert broken != query
    rows = f"SELECT * EXCLUDE (as_of) FROM ({broken}) WHERE as_of = DATE '2024-11-30'"
    report = verify(spec_file, dialects=["duckdb"], model_sql=rows, as_of=date(2024, 11, 30))
    failed = {c.name for c in report.checks if not c.passed}
    assert "population" in failed and "metrics:sales" in failed, failed


def _proof_failures(spec_file, query: str, as_of: date) -> set[str]:
    """The checks of verify (which shares no code with the history) that the history's rows
    at ``as_of`` fail, on the bundled sample."""
    from semseg.verify import verify

    rows = f"SELECT * EXCLUDE (as_of) FROM ({query}) WHERE as_of = DATE '{as_of}'"
    report = verify(spec_file, dialects=["duckdb"], model_sql=rows, as_of=as_of)
    return {c.name for c in report.checks if not c.passed}


def test_one_scan_of_two_sources_without_their_own_rows_fails_its_proof(monkeypatch):
    """A compiler mutation: customer_lifecycle's sales and all lines share one scan, and each
    running aggregate reads every row instead of its own source's (the refunds count as
    sales for days_since_last_order): verify's metric check fails."""
    from semseg.compile import timeline

    spec_file = load_spec(LIFECYCLE)
    assert (
        _proof_failures(spec_file, history_sql(spec_file, SAMPLE_DATES, "duckdb"), SAMPLE_DATES[-1])
        == set()
    )
    monkeypatch.setattr(timeline, "_masked", lambda aggregate, where: aggregate)
    broken = history_sql(spec_file, SAMPLE_DATES, "duckdb")
    assert "metrics:sales" in _proof_failures(spec_file, broken, SAMPLE_DATES[-1])


def test_a_window_that_reaches_only_its_own_bucket_fails_its_proof(monkeypatch):
    """A compiler mutation: the windowed rows meet only the date of their own bucket, not
    the later dates whose windows still hold them (at 2025-11-10, the sales of Oct 12-31,
    whose bucket is 2025-10-31, are out of sales_30d): verify's metric check fails."""
    from sqlglot import exp

    from semseg.compile import timeline

    spec_file = load_spec(LIFECYCLE)
    dates = (date(2025, 10, 31), date(2025, 11, 10), date(2025, 11, 30))
    assert _proof_failures(spec_file, history_sql(spec_file, dates, "duckdb"), dates[1]) == set()
    original = timeline._lower_bound

    def own_bucket_only(spec, name, at, when=None):
        return original(spec, name, at) if when is None else exp.GTE(this=when, expression=at)

    monkeypatch.setattr(timeline, "_lower_bound", own_bucket_only)
    broken = history_sql(spec_file, dates, "duckdb")
    assert "metrics:sales" in _proof_failures(spec_file, broken, dates[1])


def test_history_refuses_what_it_cannot_build():
    from tests.cli_helpers import run

    cases = [
        (["history", SPECS / "offer_seeker.yml", "--from", "2025-01-01", "--to", "2025-06-30"],
         2, "no source has an event time"),
        (["history", LIFECYCLE, "--from", "2025-01-01", "--to", "2025-06-30", "--every", "year"],
         2, "use one of day, week, month"),
        (["history", LIFECYCLE, "--from", "2025-01-01", "--to", "2025-06-30", "--verify",
          "--engine", "sqlite://"], 2, "leave out --engine"),
    ]  # fmt: skip
    for args, code, message in cases:
        done = run(*args)
        assert done.exit_code == code and message in done.output, done.output
        assert "Traceback" not in done.output


MIXED = """\
version: 1
name: mixed
entity: {name: customer, key: customer_id}
sources:
  orders: {table: orders, time: ordered_on}
  crm: {table: crm}
metrics:
  orders_90d: {source: orders, agg: count, window: last 90 days, fill: 0}
  tier: {source: crm, agg: attribute, expr: tier, type: text}
segmentations:
  kind:
    segments:
      - {label: "=HYPERLINK(\\"http://x\\")", when: orders_90d >= 2}
      - {label: Gold, when: tier = 'gold'}
      - {label: Other, else: true}
"""


EVERY_PATH = """\
version: 1
name: every_path
entity: {name: customer, key: unified_customer_id}
sources:
  recent: {table: int_order_lines, time: order_date, where: transaction_type = 'Sale'}
  edges: {table: int_order_lines, time: order_date}
  running: {table: int_order_lines, time: order_date}
metrics:
  orders_14d: {source: recent, agg: count_distinct, expr: unified_order_id, window: last 14 days}
  lines_14d: {source: recent, agg: count, window: last 14 days, fill: 0}
  spend_14d: {source: recent, agg: sum, expr: sales_amount, window: last 14 days}
  biggest_14d: {source: recent, agg: max, expr: sales_amount, window: last 14 days}
  first_amount: {source: edges, agg: first, expr: sales_amount}
  average_line: {source: edges, agg: avg, expr: sales_amount}
  active_weeks: {source: edges, agg: active_weeks}
  refunds: {source: running, agg: count, where: transaction_type = 'Refund'}
  codes: {source: running, agg: count_distinct, expr: online_offer_no_, where: has_discount = 1}
  months: {source: running, agg: active_months}
  net: {source: running, agg: sum, expr: sales_amount, fill: 0}
segmentations:
  recency:
    segments:
      - {label: Recent, when: orders_14d >= 1}
      - {label: Known, when: lines_14d = 0 AND first_amount IS NOT NULL}
      - {label: Other, else: true}
"""


def test_every_path_of_a_history_is_the_separate_runs_every_third_day(tmp_path):
    """A spec with a source of windowed metrics only (range-joined: a key with rows but none
    in the window gets COUNT 0, not NULL), one of first/avg/active weeks (the dated cross
    join) and one of running counts, distinct counts, active months and sums, on the edge
    cases every third day from April to July: the separate runs, row for row."""
    from tests.cli_helpers import write_spec

    spec_file = load_spec(write_spec(tmp_path / "every_path.yml", EVERY_PATH))
    con = _edge()
    dates = tuple(date(2025, 4, 1) + timedelta(days=3 * i) for i in range(34))
    cols, rows = _history_is_the_separate_runs(con, spec_file, dates)
    zero = [r for r in rows if r[cols.index("lines_14d")] == 0 and r[cols.index("net")] != 0]
    assert zero  # keys with rows by then and none in the window: the guard's case happened


def test_a_source_without_time_is_the_same_at_every_date(tmp_path):
    """Keys of a source without time are in the model at every date (its rows do not cross
    the spine); with a timed source beside it, the history is still the separate runs. The
    csv keeps a label that starts a formula as data (a leading apostrophe)."""
    from tests.cli_helpers import run, write_spec
    from tests.parquet import write_tables

    con = duckdb.connect()
    con.execute(
        "CREATE TABLE orders AS SELECT * FROM (VALUES ('a', DATE '2025-01-10'), "
        "('a', DATE '2025-02-10'), ('b', DATE '2025-03-05'), ('c', DATE '2025-06-01')) "
        "t(customer_id, ordered_on)"
    )
    con.execute(
        "CREATE TABLE crm AS SELECT * FROM (VALUES ('a', 'gold'), ('d', 'gold'), "
        "('e', 'silver')) t(customer_id, tier)"
    )
    write_tables(con, tmp_path, ["orders", "crm"])
    spec = write_spec(tmp_path / "mixed.yml", MIXED)
    spec_file = load_spec(spec)
    dates = (date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31))
    cols, rows = _history_is_the_separate_runs(con, spec_file, dates)
    assert {(r[0], r[1]) for r in rows if r[0] in ("d", "e")} == {
        (k, d) for k in ("d", "e") for d in dates
    }  # no event at all, at every date
    table = run("history", spec, "--from", "2025-01-31", "--to", "2025-03-31", "--data",
                tmp_path, "--format", "csv")  # fmt: skip
    assert table.exit_code == 0, table.output
    assert "'=HYPERLINK" in table.stdout and ",=HYPERLINK" not in table.stdout


def test_the_history_compiles_for_all_12_dialects_and_reparses():
    """The five targets with no engine here (Snowflake, BigQuery, Redshift, Trino, SQL Server)
    get a history text that their own sqlglot dialect reads back, for every example spec
    with time; the other seven run it above."""
    import sqlglot

    from semseg.compile.dialects import TARGETS

    assert len(TARGETS) == 12
    for path in TIMED:
        spec_file = load_spec(path)
        for name, target in TARGETS.items():
            sql = history_sql(spec_file, SAMPLE_DATES, name)
            assert "as_of_dates" in sql, (path.stem, name)
            parsed = sqlglot.parse(sql, read=target.sqlglot)
            assert len([p for p in parsed if p is not None]) == 1, (path.stem, name)
