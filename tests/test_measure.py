"""``semseg measure`` (issue 25): each arm against its control per segment, on an outcome over
the days after the start. Its numbers are recomputed here from the rows with scipy; with no
effect it flags chance differences at its nominal rate (200 salts on the bundled sample);
an injected uplift is recovered within its interval."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from semseg.data import open_session
from semseg.measure import measure
from semseg.spec import SpecFile, load_spec
from semseg.spec.keyhash import arm_of
from tests.cli_helpers import run, write_spec
from tests.golden_regen import SPECS

pytest.importorskip("scipy")
LIFECYCLE = SPECS / "customer_lifecycle.yml"
START = date(2025, 10, 31)


def _salted(spec_file: SpecFile, salt: str) -> SpecFile:
    spec = spec_file.spec
    seg = spec.segmentations["lifecycle_stage"]
    assert seg.split is not None
    seg = seg.model_copy(update={"split": seg.split.model_copy(update={"salt": salt})})
    spec = spec.model_copy(update={"segmentations": {**spec.segmentations, "lifecycle_stage": seg}})
    return SpecFile(spec, spec_file.path, spec_file.marks)


def test_the_numbers_are_scipys_on_the_rows(tmp_path):
    """The text and JSON report of the example; every number recomputed here from the two
    models' rows (the arms as of the start, sales_30d as of 30 days later) with scipy."""
    from scipy import stats

    done = run("measure", LIFECYCLE, "--as-of", START.isoformat(), "--format", "json")
    assert done.exit_code == 0, done.output
    effects = json.loads(done.stdout)
    from tests.predict_helpers import rows_as_of

    at_start, at_end = rows_as_of(LIFECYCLE, START), rows_as_of(LIFECYCLE, date(2025, 11, 30))
    groups: dict[tuple[str, str], list[float]] = {}
    for key, row in at_start.items():
        if row["lifecycle_stage_arm"] is None:
            continue
        value = float(at_end[key]["sales_30d"])
        for segment in (row["lifecycle_stage"], "(all)"):
            groups.setdefault((segment, row["lifecycle_stage_arm"]), []).append(value)
    assert [(e["segment"], e["arm"]) for e in effects] == [
        ("Lapsing", "win_back"),
        ("Lapsed", "win_back"),
        ("(all)", "win_back"),
    ]
    for e in effects:
        treated, control = groups[(e["segment"], "win_back")], groups[(e["segment"], "holdout")]
        assert (e["customers"], e["control_customers"]) == (len(treated), len(control))
        test = stats.ttest_ind(treated, control, equal_var=True)
        interval = test.confidence_interval(0.95)
        diff = sum(treated) / len(treated) - sum(control) / len(control)
        assert e["difference"] == pytest.approx(diff, rel=1e-9)
        assert e["p_value"] == pytest.approx(test.pvalue, rel=1e-6)
        assert (e["ci_low"], e["ci_high"]) == pytest.approx((interval.low, interval.high), rel=1e-6)
        assert e["incremental"] == pytest.approx(diff * len(treated), rel=1e-9)
    text = run("measure", LIFECYCLE, "--as-of", START.isoformat())
    assert text.exit_code == 0 and "sales_30d | Lapsed | win_back" in text.output, text.output


def test_measure_html_keeps_an_existing_file_without_force(tmp_path):
    """--html writes the page (its drawing is checked in Chromium, test_html_browser.py); a
    different existing file is refused before the run, and replaced with --force."""
    page = tmp_path / "effects.html"
    page.write_text("mine", encoding="utf-8")
    args = ["measure", LIFECYCLE, "--as-of", START.isoformat(), "--html", page]
    refused = run(*args)
    assert refused.exit_code == 1 and "--force" in refused.output, refused.output
    assert page.read_text(encoding="utf-8") == "mine"
    done = run(*args, "--force")
    assert done.exit_code == 0, done.output
    html = page.read_text(encoding="utf-8")
    assert html.count('<tr class="effect">') == 3 and "Lapsing" in html


def test_no_effect_is_flagged_at_its_nominal_rate_over_200_salts():
    """The bundled sample had no campaign: over 200 salts (200 random splits of the lapsing
    and lapsed customers) the split as a whole is flagged at p < 0.05 in at most 5% of them,
    and each segment within the binomial noise of 5% over 200 (at most 8%)."""
    spec_file = load_spec(LIFECYCLE)
    flagged: dict[str, int] = {}
    salts = 200
    for i in range(salts):
        with open_session(_salted(spec_file, f"seed{i}"), None, {}, START) as session:
            for e in measure(session, "lifecycle_stage", START):
                if e.p_value is not None and e.p_value < 0.05:
                    flagged[e.segment] = flagged.get(e.segment, 0) + 1
    rates = {k: flagged.get(k, 0) / salts for k in ("Lapsing", "Lapsed", "(all)")}
    print(f"\nshare of 200 salts flagged at p < 0.05 with no effect: {rates}")
    assert rates["(all)"] <= 0.05
    assert max(rates.values()) <= 0.08


SYNTHETIC = """\
version: 1
name: uplift
entity: {name: customer, key: id}
population: {table: people}
sources:
  sales: {table: sales, time: day}
metrics:
  spend_30d: {source: sales, agg: sum, expr: amount, window: last 30 days, fill: 0}
  spend_all: {source: sales, agg: sum, expr: amount, fill: 0}
segmentations:
  buyers:
    by: spend_all
    segments:
      - {label: Buyer, min: 0.01}
      - {label: Never, else: true}
    split:
      arms: {holdout: 0.2, offer: 0.8}
      salt: SALT
      outcomes: [spend_30d]
"""


def _synthetic(tmp_path: Path, salt: str, uplift: float) -> Path:
    """4,000 customers; before the start, half bought; after it, each buys with 30%
    probability a lognormal amount, and each customer of the offer arm spends ``uplift``
    more (one extra sale): the true effect is exactly ``uplift`` per customer."""
    import numpy as np

    rng = np.random.default_rng(7)
    n = 4_000
    rows = []
    for i in range(n):
        if rng.random() < 0.5:
            rows.append((i, "2025-09-15", round(float(rng.lognormal(4, 1)), 2)))
        if rng.random() < 0.3:
            rows.append((i, "2025-11-10", round(float(rng.lognormal(4, 1)), 2)))
        if uplift and arm_of(salt, i, ["holdout", "offer"], [0.2, 0.8]) == "offer":
            rows.append((i, "2025-11-20", uplift))
    data = tmp_path / f"{salt}.duckdb"
    con = duckdb.connect(str(data))
    con.execute(f"CREATE TABLE people AS SELECT range AS id FROM range({n})")
    con.execute("CREATE TABLE sales (id BIGINT, day DATE, amount DOUBLE)")
    con.executemany("INSERT INTO sales VALUES (?, ?, ?)", rows)
    con.close()
    return data


def test_an_injected_uplift_is_recovered_within_its_interval(tmp_path):
    spec = write_spec(tmp_path / "uplift.yml", SYNTHETIC.replace("SALT", "spring"))
    data = _synthetic(tmp_path, "spring", 25.0)
    done = run("measure", spec, "--as-of", START.isoformat(), "--data", data, "--format", "json")
    assert done.exit_code == 0, done.output
    every = {e["segment"]: e for e in json.loads(done.stdout)}["(all)"]
    print(
        f"\ninjected +25.00: measured {every['difference']:+.2f} "
        f"[{every['ci_low']:+.2f}, {every['ci_high']:+.2f}], p {every['p_value']:.2g}"
    )
    assert every["ci_low"] <= 25.0 <= every["ci_high"]
    assert every["p_value"] < 0.01  # and it is told apart from no effect
    none = _synthetic(tmp_path, "spring-none", 0.0)
    done = run("measure", spec, "--as-of", START.isoformat(), "--data", none, "--format", "json")
    every = {e["segment"]: e for e in json.loads(done.stdout)}["(all)"]
    assert every["ci_low"] <= 0.0 <= every["ci_high"], every


def test_measure_refuses_what_it_cannot_measure(tmp_path):
    done = run("measure", SPECS / "offer_seeker.yml", "--as-of", "2025-10-31")
    assert done.exit_code != 0 and "no segmentation has a split" in done.output, done.output
    for extra in ([], ["--sql", "postgres"]):
        done = run("measure", LIFECYCLE, "--as-of", "2025-10-31", "--outcome", "net_sales", *extra)
        assert done.exit_code == 2 and "window 'last N days'" in done.output, done.output
        assert "Traceback" not in done.output


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_the_measurement_query_gives_duckdbs_aggregates_on_every_engine(fixture, request):
    """`measure --sql DIALECT` on each engine here, over the bundled sample: the same counts,
    and the sums and sums of squares to 1e-9 (engines add floats in their own order)."""
    from semseg.measure import measure_sql
    from semseg.sample import table_paths

    engine = request.getfixturevalue(fixture)
    src = duckdb.connect()
    for name, path in table_paths("retail").items():
        src.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
    engine.load(src, ["int_customers", "int_order_lines"])
    spec_file = load_spec(LIFECYCLE)

    def keyed(rows) -> dict:
        return {(r[0], r[1]): (int(r[2]), float(r[3]), float(r[4])) for r in rows}

    want = keyed(
        src.execute(
            measure_sql(spec_file, "lifecycle_stage", START, "sales_30d", "duckdb")
        ).fetchall()
    )
    _, rows = engine.query(
        measure_sql(spec_file, "lifecycle_stage", START, "sales_30d", engine.name)
    )
    got = keyed(rows)
    assert set(got) == set(want) and len(want) == 6  # 2 segments x 2 arms, 2 arms overall
    for cell, (n, total, squares) in want.items():
        assert got[cell][0] == n, cell
        assert got[cell][1:] == pytest.approx((total, squares), rel=1e-9), cell


def test_sql_server_is_refused_with_the_reason():
    done = run("measure", LIFECYCLE, "--as-of", "2025-10-31", "--sql", "tsql")
    assert done.exit_code != 0 and "cannot nest the two models' WITH" in done.output, done.output


def test_measure_on_an_engine_is_the_local_measure(tmp_path):
    """``semseg measure --engine``: the measurement query runs on SQLite (only its six
    aggregate rows come back) and gives the local report."""
    from tests.predict_helpers import sample_in_sqlite

    path = sample_in_sqlite(tmp_path / "shop.db")
    args = ["measure", LIFECYCLE, "--as-of", START.isoformat(), "--format", "json"]
    there = run(*args, "--engine", f"sqlite:///{path}")
    assert there.exit_code == 0, there.output
    here = run(*args)
    for got, want in zip(json.loads(there.stdout), json.loads(here.stdout), strict=True):
        assert got.keys() == want.keys()
        for k, v in want.items():
            assert got[k] == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v), k


def test_offer_types_measures_each_preferred_type_on_two_outcomes():
    """offer_types.yml's effectiveness example: per preferred offer type and for the split as
    a whole, on sales and on redemptions; the customers in each arm are the spec's rows."""
    spec = SPECS / "offer_types.yml"
    done = run("measure", spec, "--as-of", START.isoformat(), "--format", "json")
    assert done.exit_code == 0, done.output
    effects = json.loads(done.stdout)
    types = ["Percentage off", "Fixed amount off", "Free shipping", "(all)"]
    assert [(e["outcome"], e["segment"]) for e in effects] == [
        (o, t) for o in ("sales_30d", "redemptions_30d") for t in types
    ]
    from tests.predict_helpers import rows_as_of

    counts: dict[tuple[str, str], int] = {}
    for row in rows_as_of(spec, START).values():
        if row["preferred_offer_arm"] is not None:
            for segment in (row["preferred_offer"], "(all)"):
                key = (segment, row["preferred_offer_arm"])
                counts[key] = counts.get(key, 0) + 1
    for e in effects:
        assert (e["customers"], e["control_customers"]) == (
            counts[(e["segment"], "offer")],
            counts[(e["segment"], "holdout")],
        )
        assert e["ci_low"] <= e["difference"] <= e["ci_high"]
