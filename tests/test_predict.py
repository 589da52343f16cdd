"""Propensities (issue 24, first step): a logistic model fitted point in time by ``semseg fit``,
scored in plain SQL, equal to scikit-learn's ``predict_proba`` to 1e-12 on every engine here,
and proven by verify outside SQL."""

from __future__ import annotations

import json
import shutil
from datetime import date

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.errors import CompileError, SpecError
from semseg.sample import table_paths
from semseg.spec import load_spec
from semseg.spec.time import back
from tests.engines.compare import assert_same_rows
from tests.golden_regen import SPECS
from tests.predict_helpers import (
    EXAMPLE,
    FEATURES,
    edge_rows,
    edge_table,
    model_file,
    refit_boosted,
    sample_in_sqlite,
    sample_views,
    sklearn_proba,
    training_rows,
    tree_sql,
)

pytest.importorskip("sklearn")
runner = CliRunner()


def _assert_sklearns(cols: list[str], rows: list[tuple], model: dict) -> None:
    index = {c.lower(): i for i, c in enumerate(cols)}
    x = np.array([[float(r[index[f]]) for f in FEATURES] for r in rows])
    got = np.array([float(r[index["offer_propensity"]]) for r in rows])
    want = sklearn_proba(model, x)
    relative = np.abs(got - want) / np.abs(want)
    assert relative.max() <= 1e-12, (relative.max(), int(relative.argmax()))


def test_the_fit_is_sklearns_on_the_point_in_time_rows(unbanded):
    """The coefficients are a plain scikit-learn fit of the rows this test builds itself: the
    features as of A - 60 days and the outcome as of A - 30 days, each from the spec compiled
    for that date (so no feature reads an event after its cutoff)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    model = model_file(unbanded)
    a = date(2025, 11, 30)
    assert model["fit"]["cutoffs"] == {
        "train_features": "2025-10-01",
        "train_label": "2025-10-31",
        "valid_features": "2025-10-31",
        "valid_label": "2025-11-30",
    }
    assert back(a, 60, "DAY") == date(2025, 10, 1) and back(date(2025, 3, 31), 1, "MONTH") == date(
        2025, 2, 28
    )
    x, y = training_rows(unbanded)
    assert not np.isnan(x).any()  # every feature has a fill: no row is left out
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), y)
    assert model["fit"]["rows"] == len(y) and model["fit"]["positives"] == int(y.sum())
    np.testing.assert_allclose(model["means"], scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(model["scales"], scaler.scale_, rtol=1e-12)
    np.testing.assert_allclose(model["coefficients"], ref.coef_[0], rtol=1e-6)
    assert model["fit"]["validation"]["auc"] > 0.6  # the history predicts the next month


def test_duckdb_gives_sklearns_predict_proba(unbanded):
    cur = sample_views().execute(compile_spec(load_spec(unbanded).with_as_of(None), "duckdb"))
    cols = [d[0] for d in cur.description]
    _assert_sklearns(cols, cur.fetchall(), model_file(unbanded))


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_engines_give_sklearns_predict_proba(unbanded, fixture, request):
    """On every engine here, every row's score is predict_proba's to 1e-12 (relative), and
    the rows are DuckDB's."""
    engine = request.getfixturevalue(fixture)
    engine.load(sample_views(), list(table_paths("retail")))
    spec_file = load_spec(unbanded).with_as_of(None)
    cols, rows = engine.query(compile_spec(spec_file, engine.name))
    _assert_sklearns(cols, rows, model_file(unbanded))
    cur = sample_views().execute(compile_spec(spec_file, "duckdb"))
    local = [d[0] for d in cur.description]
    assert_same_rows(local, cur.fetchall(), cols, rows, rel_tol=1e-12, abs_tol=1e-15)


def test_verify_proves_it_and_fails_a_nudged_coefficient(unbanded, tmp_path):
    """verify recomputes the score from the model file outside SQL; a model whose intercept is
    off by one part in a billion fails it, naming rows."""
    done = runner.invoke(app, ["verify", str(unbanded), "-d", "duckdb", "--format", "json"])
    report = json.loads(done.stdout)
    assert done.exit_code == 0, report
    assert "predict:offer_propensity" in {c["name"] for c in report["checks"]}
    sql = compile_spec(load_spec(unbanded).with_as_of(None), "duckdb")
    intercept = repr(model_file(unbanded)["intercept"])
    assert sql.count(f"'{intercept}'") == 4  # the condition and the three EXP arguments
    nudged = tmp_path / "nudged.sql"
    nudged.write_text(
        sql.replace(f"'{intercept}'", f"'{float(intercept) * (1 + 1e-9)!r}'"), encoding="utf-8"
    )
    done = runner.invoke(
        app, ["verify", str(unbanded), "--sql", str(nudged), "-d", "duckdb", "--format", "json"]
    )
    failed = {c["name"]: c for c in json.loads(done.stdout)["checks"] if not c["passed"]}
    assert done.exit_code == 1 and set(failed) == {"predict:offer_propensity"}, failed
    assert failed["predict:offer_propensity"]["failures"] > 3000


def test_the_example_verifies_with_its_committed_model():
    done = runner.invoke(app, ["verify", str(EXAMPLE), "-d", "duckdb", "--format", "json"])
    report = json.loads(done.stdout)
    assert done.exit_code == 0 and report["passed"], report


def test_compile_needs_a_model_that_fits_the_spec(tmp_path):
    spec = tmp_path / "offer_propensity.yml"
    shutil.copy(EXAMPLE, spec)
    with pytest.raises(CompileError, match="propensity without a fitted model.*semseg fit"):
        compile_spec(load_spec(spec))
    shutil.copy(SPECS / "offer_propensity.offer_propensity.model.json", tmp_path)
    assert compile_spec(load_spec(spec))
    spec.write_text(
        spec.read_text(encoding="utf-8").replace(
            "window: last 180 days", "window: last 181 days", 1
        ),
        encoding="utf-8",
    )
    with pytest.raises(CompileError, match="spec changed since this model was fitted"):
        compile_spec(load_spec(spec))


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("target: redemptions_30d", "target: nope", "target 'nope' is not a metric"),
        ("target: redemptions_30d", "target: orders_all", "needs a window 'last N days'"),
        ("features: [offer_orders_180d,", "features: [nope,", "feature 'nope' is not a metric"),
        ("features: [offer_orders_180d,", "features: [redemptions_30d,", "its own target"),
        ("    predict:\n", "    source: sales\n    predict:\n", "has 'predict' and a source"),
    ],
)  # fmt: skip
def test_a_propensity_that_cannot_be_fitted_is_refused_at_its_line(tmp_path, old, new, said):
    spec = tmp_path / "p.yml"
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    spec.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(SpecError, match=said):
        load_spec(spec)


def test_fit_refuses_what_it_cannot_do(tmp_path):
    done = runner.invoke(app, ["fit", str(SPECS / "offer_seeker.yml")])
    assert done.exit_code == 2 and "no metric has predict:" in done.output
    done = runner.invoke(app, ["fit", str(EXAMPLE), "--metric", "nope"])
    assert done.exit_code == 2 and "no propensity metric 'nope'" in done.output


def test_fit_from_an_engine_is_the_local_fit(unbanded, tmp_path):
    """``semseg fit --engine``: the metric queries run on SQLite and only metric rows come
    back; the model is the local one (same rows, same fit)."""
    path = sample_in_sqlite(tmp_path / "shop.db")
    there = tmp_path / "there.json"
    done = runner.invoke(
        app, ["fit", str(unbanded), "--engine", f"sqlite:///{path}", "--model", str(there)]
    )
    assert done.exit_code == 0, done.output
    got, want = json.loads(there.read_text()), model_file(unbanded)
    assert got["fit"]["rows"] == want["fit"]["rows"] and got["fingerprint"] == want["fingerprint"]
    for key in ("means", "scales", "coefficients"):
        np.testing.assert_allclose(got[key], want[key], rtol=1e-9)


# --- gradient-boosted trees ------------------------------------------------------------------


def test_the_trees_are_sklearns_and_duckdb_scores_every_edge_as_sklearn(boosted):
    """The model file holds the refit's trees; every row of the sample, and every feature at a
    threshold, one ulp either side, NULL and NaN, scores as predict_proba (to 1e-12)."""
    clf, model = refit_boosted(boosted)
    assert len(model["trees"]) == 50
    assert model["baseline"] == float(clf._baseline_prediction.ravel()[0])
    cur = sample_views().execute(compile_spec(load_spec(boosted).with_as_of(None), "duckdb"))
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    index = {c: i for i, c in enumerate(cols)}
    x = np.array(
        [[np.nan if r[index[f]] is None else float(r[index[f]]) for f in FEATURES] for r in rows]
    )
    got = np.array([float(r[index["offer_propensity"]]) for r in rows])
    want = clf.predict_proba(x)[:, 1]
    assert (np.abs(got - want) / want).max() <= 1e-12
    edges = edge_rows(model)
    table = edge_table(edges, nan=True)
    found = dict(table.execute(tree_sql(model, "duckdb")).fetchall())
    got = np.array([found[i] for i in range(len(edges))])
    want = clf.predict_proba(edges)[:, 1]
    assert (np.abs(got - want) / want).max() <= 1e-12, len(edges)
    # the edge rows can fail: the root's threshold one ulp lower sends the rows at it right
    root = model["trees"][0][0]
    root["threshold"] = float(np.nextafter(root["threshold"], -np.inf))
    found = dict(table.execute(tree_sql(model, "duckdb")).fetchall())
    got = np.array([found[i] for i in range(len(edges))])
    assert (np.abs(got - want) / want).max() > 1e-12


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_engines_route_every_edge_as_sklearn(boosted, fixture, request):
    """On every engine here: each feature at a split's threshold, one ulp either side and
    NULL takes scikit-learn's leaf, and the score is predict_proba's (to 1e-12)."""
    engine = request.getfixturevalue(fixture)
    clf, model = refit_boosted(boosted)
    edges = edge_rows(model)
    engine.load(edge_table(edges, nan=False), ["edge_rows"])
    _, rows = engine.query(tree_sql(model, engine.name))
    found = {int(i): float(p) for i, p in rows}
    got = np.array([found[i] for i in range(len(edges))])
    want = clf.predict_proba(edges)[:, 1]  # NaN in edges: missing, as NULL is on the engine
    assert (np.abs(got - want) / want).max() <= 1e-12


def test_verify_proves_the_trees_and_fails_a_swapped_leaf(boosted, tmp_path):
    """verify evaluates every row's trees from the model file; the model with two leaves of
    the first tree exchanged fails it. (A threshold moved by one ulp changes only rows exactly
    at it, which data rarely has: the edge rows above pin every threshold instead.)"""
    done = runner.invoke(app, ["verify", str(boosted), "-d", "duckdb", "--format", "json"])
    assert done.exit_code == 0, done.output
    model_file = boosted.parent / f"{boosted.stem}.offer_propensity.model.json"
    model = json.loads(model_file.read_text())
    sql = compile_spec(load_spec(boosted).with_as_of(None), "duckdb")
    # a leaf swapped: the first tree's two first leaves exchanged
    leaves = [i for i, n in enumerate(model["trees"][0]) if "leaf" in n]
    a, b = (repr(model["trees"][0][i]["leaf"]) for i in leaves[:2])
    assert a != b and sql.count(f"'{a}'") == 1 and sql.count(f"'{b}'") == 1  # z written once
    swapped = tmp_path / "swapped.sql"
    swapped.write_text(
        sql.replace(f"'{a}'", "'SWAP'").replace(f"'{b}'", f"'{a}'").replace("'SWAP'", f"'{b}'"),
        encoding="utf-8",
    )
    done = runner.invoke(
        app, ["verify", str(boosted), "--sql", str(swapped), "-d", "duckdb", "--format", "json"]
    )
    failed = {c["name"] for c in json.loads(done.stdout)["checks"] if not c["passed"]}
    assert done.exit_code == 1 and failed == {"predict:offer_propensity"}


def test_three_hundred_trees_of_depth_three_fit_bigquerys_limit(tmp_path):
    """The issue's size target: 300 trees of depth 3 compile to under 1 MB for BigQuery."""
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "      target: redemptions_30d\n",
        "      target: redemptions_30d\n      model: gradient_boosting\n      trees: 300\n",
    )
    spec = tmp_path / "big.yml"
    spec.write_text(text, encoding="utf-8")
    assert runner.invoke(app, ["fit", str(spec)]).exit_code == 0
    model = json.loads((tmp_path / "big.offer_propensity.model.json").read_text())
    assert len(model["trees"]) == 300
    sql = compile_spec(load_spec(spec), "bigquery")
    assert len(sql.encode("utf-8")) < 1_048_576, len(sql)


def test_fit_compares_the_model_with_the_segmentation_the_user_has(tmp_path):
    """The validation report ranks the same rows by each segmentation that reads no
    propensity (offer_user: its order, 1 first); recomputed here from two compiles."""
    from sklearn.metrics import roc_auc_score

    spec = tmp_path / "offer_propensity.yml"
    shutil.copy(EXAMPLE, spec)
    done = runner.invoke(app, ["fit", str(spec), "--format", "json"])
    assert done.exit_code == 0, done.output
    baselines = json.loads(done.stdout)["baselines"]
    assert set(baselines) == {"offer_user"}  # the deciles and responders read the score
    con = sample_views()
    spec_file = load_spec(spec)
    without = spec_file.spec.model_copy(
        update={
            "metrics": {n: m for n, m in spec_file.spec.metrics.items() if n != "offer_propensity"},
            "segmentations": {"offer_user": spec_file.spec.segmentations["offer_user"]},
        }
    )
    from semseg.spec import SpecFile

    def at(day: str) -> dict:
        sf = SpecFile(without, spec, spec_file.marks).with_as_of(date.fromisoformat(day))
        cur = con.execute(compile_spec(sf, "duckdb"))
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}

    feats, labels = at("2025-10-31"), at("2025-11-30")
    keys = sorted(feats)
    y = [1 if labels.get(k, {}).get("redemptions_30d", 0) > 0 else 0 for k in keys]
    order = [feats[k]["offer_user_order"] for k in keys]
    assert baselines["offer_user"]["auc"] == round(roc_auc_score(y, [-o for o in order]), 6)


def test_verify_of_a_hand_written_model_without_a_model_file_says_to_fit(tmp_path):
    """verify --sql proves a model the compiler did not write; without the propensity's model
    file the predict check fails with the fix, not a traceback."""
    spec = tmp_path / "offer_propensity.yml"
    shutil.copy(EXAMPLE, spec)
    shutil.copy(SPECS / "offer_propensity.offer_propensity.model.json", tmp_path)
    sql = tmp_path / "model.sql"
    sql.write_text(compile_spec(load_spec(spec)), encoding="utf-8")
    (tmp_path / "offer_propensity.offer_propensity.model.json").unlink()
    done = runner.invoke(app, ["verify", str(spec), "--sql", str(sql), "-d", "duckdb"])
    assert done.exit_code == 1 and "Traceback" not in done.output, done.output
    assert "FAIL  predict:offer_propensity" in done.output and "semseg fit SPEC" in done.output


def test_the_outcome_window_on_the_edge_cases_by_hand():
    """offer_propensity's redemptions_30d as of tests/edge_data.AS_OF (2025-06-30), from
    REDEMPTIONS: the day before the window and the day after AS_OF do not count, both ends do,
    two on one day are two; a NULL key and a key outside the population give no row."""
    from tests import edge_data

    con = duckdb.connect()
    edge_data.load(con)
    spec_file = load_spec(EXAMPLE).with_as_of(edge_data.AS_OF)
    cur = con.execute(compile_spec(spec_file, "duckdb"))
    cols = [d[0] for d in cur.description]
    got = {r[0]: r[cols.index("redemptions_30d")] for r in cur.fetchall()}
    assert {k: v for k, v in got.items() if v} == {"C1": 1, "C2": 2}
    assert "C99" not in got and set(got) == {c for c, _ in edge_data.CUSTOMERS if c}
