"""``semseg transitions`` (issue 26): the matrix of segments at one date against another. Its
cells are recounted here from the two dates' models (each run on its own and joined in
Python); row sums are the first date's segment sizes and column sums the second's, exactly,
on 100,000 synthetic customers; every engine gives DuckDB's matrix."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest

from semseg.compile import compile_spec
from semseg.data import open_session
from semseg.history import GONE, NEW, transitions, transitions_sql
from semseg.spec import load_spec
from tests.cli_helpers import run, write_spec
from tests.golden_regen import SPECS

LIFECYCLE = SPECS / "customer_lifecycle.yml"
FIRST, SECOND = date(2025, 5, 31), date(2025, 11, 30)

SYNTHETIC = """\
version: 1
name: activity
entity: {name: customer, key: customer_id}
sources:
  orders: {table: orders, time: ordered_on}
metrics:
  orders_90d: {source: orders, agg: count, window: last 90 days}
  spend: {source: orders, agg: sum, expr: amount, fill: 0}
segmentations:
  activity:
    segments:
      - {label: Frequent, when: orders_90d >= 3}
      - {label: Active, when: orders_90d >= 1}
      - {label: Big dormant, when: spend >= 500}
      - {label: Dormant, else: true}
"""


def _synthetic(folder: Path, customers: int = 100_000) -> Path:
    """Orders of ``customers`` customers over 2024-2025, each customer from a first day on
    (so some are new between the two dates), a few orders each, seeded."""
    data = folder / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute("SELECT setseed(0.26)")
    con.execute(
        f"""CREATE TABLE orders AS
        WITH c AS (SELECT i AS customer_id, DATE '2024-01-01' + CAST(floor(random() * 700)
                          AS INTEGER) AS first_day, 1 + CAST(floor(random() * 8) AS INTEGER) AS n
                   FROM range({customers}) t(i))
        SELECT customer_id, first_day + CAST(floor(random() * 300) AS INTEGER) AS ordered_on,
               round(random() * 200, 2) AS amount
        FROM c, range(8) r(j) WHERE j < n"""
    )
    con.execute(f"COPY orders TO '{(data / 'orders.parquet').as_posix()}' (FORMAT parquet)")
    con.close()
    return data


def _labels(spec_file, data: Path, when: date) -> dict:
    """key -> label, the spec's own model as of ``when`` run on its own."""
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW orders AS FROM read_parquet('{(data / 'orders.parquet').as_posix()}')"
    )
    sql = compile_spec(spec_file.with_as_of(when))
    rows = con.execute(f"SELECT customer_id, activity FROM ({sql})").fetchall()
    con.close()
    return dict(rows)


def test_row_and_column_sums_are_the_two_dates_segment_sizes_on_100k_customers(tmp_path):
    spec = write_spec(tmp_path / "activity.yml", SYNTHETIC)
    data = _synthetic(tmp_path)
    spec_file = load_spec(spec)
    with open_session(spec_file, data=data) as session:
        matrix = transitions(session, "activity", date(2025, 3, 31), date(2025, 9, 30))
    before = _labels(spec_file, data, date(2025, 3, 31))
    after = _labels(spec_file, data, date(2025, 9, 30))
    assert len(after) > len(before) > 50_000
    for label, size in Counter(before.values()).items():
        assert matrix.row_total(label) == size, label
    for label, size in Counter(after.values()).items():
        assert matrix.column_total(label) == size, label
    # every cell, recounted by joining the two models' rows by key here
    cells = Counter((before.get(k), after.get(k)) for k in before.keys() | after.keys())
    assert matrix.cells == dict(cells)
    assert matrix.row_total(None) == len(after.keys() - before.keys()) > 0  # new customers
    assert matrix.column_total(None) == 0  # no event is ever taken back: nobody is gone
    assert matrix.before == ("Frequent", "Active", "Big dormant", "Dormant")


def test_text_and_json_of_the_lifecycle_example():
    args = ["transitions", LIFECYCLE, "--from", FIRST.isoformat(), "--to", SECOND.isoformat()]
    done = run(*args, "--format", "json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    rows = {r["segment"]: r for r in payload["rows"]}
    assert list(rows) == ["Prospect", "New", "Active", "Lapsing", "Lapsed", NEW]
    assert [c["segment"] for c in payload["columns"]][-1] == GONE
    for row in payload["rows"]:
        assert sum(c["keys"] for c in row["cells"]) == row["keys"]
        if row["keys"]:
            assert sum(c["row_share"] for c in row["cells"]) == pytest.approx(1.0)
        stayed = (
            next(c for c in row["cells"] if c["segment"] == row["segment"])
            if not row["new"]
            else None
        )
        if stayed and row["keys"]:
            assert row["retention"] == pytest.approx(stayed["keys"] / row["keys"])
    spec_file = load_spec(LIFECYCLE)
    before = Counter(_model_labels(spec_file, FIRST).values())
    assert {s: r["keys"] for s, r in rows.items() if s != NEW} == {
        s: before.get(s, 0) for s in rows if s != NEW
    }
    text = run(*args)
    assert text.exit_code == 0 and "retention" in text.output, text.output
    assert "Lapsing" in text.output and "(gone)" in text.output


def _model_labels(spec_file, when: date) -> dict:
    with open_session(spec_file.with_as_of(when)) as session:
        return dict(
            session.con.execute(
                f"SELECT unified_customer_id, lifecycle_stage FROM {session.model()}"
            ).fetchall()
        )


def test_transitions_refuses_what_it_cannot_compare(tmp_path):
    no_time = run("transitions", SPECS / "offer_seeker.yml", "--from", "2025-01-01", "--to",
                  "2025-06-30")  # fmt: skip
    assert no_time.exit_code == 2 and "no source has an event time" in no_time.output
    backwards = run("transitions", LIFECYCLE, "--from", "2025-06-30", "--to", "2025-01-01")
    assert backwards.exit_code == 2 and "must be before" in backwards.output
    tsql = run("transitions", LIFECYCLE, "--from", "2025-01-01", "--to", "2025-06-30",
               "--sql", "tsql")  # fmt: skip
    assert tsql.exit_code != 0 and "cannot nest" in tsql.output
    unknown = run("transitions", LIFECYCLE, "--from", "2025-01-01", "--to", "2025-06-30",
                  "--segmentation", "nope")  # fmt: skip
    assert unknown.exit_code == 2 and "choose one of: lifecycle_stage, value_band" in unknown.output
    for done in (no_time, backwards, tsql, unknown):
        assert "Traceback" not in done.output


def test_the_html_page_is_kept_without_force(tmp_path):
    page = tmp_path / "moves.html"
    page.write_text("mine", encoding="utf-8")
    args = ["transitions", LIFECYCLE, "--from", FIRST.isoformat(), "--to", SECOND.isoformat(),
            "--html", page]  # fmt: skip
    refused = run(*args)
    assert refused.exit_code == 1 and page.read_text(encoding="utf-8") == "mine"
    done = run(*args, "--force")
    assert done.exit_code == 0, done.output
    assert page.read_text(encoding="utf-8").count('<tr class="transition">') == 6


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_the_matrix_query_gives_duckdbs_matrix_on_every_engine(fixture, request):
    from semseg.sample import table_paths

    engine = request.getfixturevalue(fixture)
    src = duckdb.connect()
    for name, path in table_paths("retail").items():
        src.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    engine.load(src, ["int_customers", "int_order_lines"])
    spec_file = load_spec(LIFECYCLE)

    def keyed(rows) -> dict:
        return {(int(r[0]), r[1], int(r[2]), r[3]): int(r[4]) for r in rows}

    want = keyed(
        src.execute(
            transitions_sql(spec_file, "lifecycle_stage", FIRST, SECOND, "duckdb")
        ).fetchall()
    )
    _, rows = engine.query(
        transitions_sql(spec_file, "lifecycle_stage", FIRST, SECOND, engine.name)
    )
    assert keyed(rows) == want and sum(want.values()) == 4000


def test_transitions_on_an_engine_is_the_local_matrix(tmp_path):
    from tests.predict_helpers import sample_in_sqlite

    path = sample_in_sqlite(tmp_path / "shop.db")
    args = ["transitions", LIFECYCLE, "--from", FIRST.isoformat(), "--to", SECOND.isoformat(),
            "--format", "json"]  # fmt: skip
    there = run(*args, "--engine", f"sqlite:///{path}")
    assert there.exit_code == 0, there.output
    assert json.loads(there.stdout) == json.loads(run(*args).stdout)
