"""Categorical splits in a propensity's trees (issue 24): ``predict.categorical`` lists text
metrics that scikit-learn's HistGradientBoostingClassifier splits by category.

The reference is scikit-learn itself, fitted here on rows this test builds and encodes with
its own code (a category's code is its position among the training rows' categories in
code-point order; NULL and a category the fit never saw are NaN, missing). Every category,
NULL, an unknown text, and the near misses an engine's collation could merge ('ONLINE',
'online ', ' online', '') take scikit-learn's leaf on DuckDB and every engine here.
"""

from __future__ import annotations

import itertools
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pytest

from semseg.compile import compile_spec, target_sql
from semseg.compile.dialects import TARGETS
from semseg.compile.predict_model import read_model, score_tree
from semseg.spec import load_spec
from tests.cli_helpers import run
from tests.predict_helpers import EXAMPLE, FEATURES, rows_as_of

pytest.importorskip("sklearn")
CATEGORICAL = ["channel", "city"]
INPUTS = [*FEATURES, *CATEGORICAL]
METRICS = """\
  channel: {source: customers, agg: attribute, expr: customer_channel}
  city: {source: customers, agg: attribute, expr: city}
  online_orders_30d:
    description: Online orders in the last 30 days (the outcome)
    source: sales
    agg: count_distinct
    expr: unified_order_id
    where: channel = 'online'
    window: last 30 days
    fill: 0
"""


def _spec_text(categorical: str = "[channel, city]", model: str = "gradient_boosting") -> str:
    """The example predicting an online order in the next 30 days from its features and the
    customer's signup channel and city, with no segmentation by the score."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text[: text.index("segmentations:")] + (
        "segmentations:\n  buyers:\n    by: orders_all\n    segments:\n"
        "      - {label: Buyer, min: 1}\n      - {label: Never, else: true}\n"
    )
    text = text.replace(
        "  redemptions:\n", "  customers:\n    table: int_customers\n  redemptions:\n", 1
    )
    text = text.replace("metrics:\n", "metrics:\n" + METRICS, 1)
    return text.replace(
        "      target: redemptions_30d\n",
        f"      target: online_orders_30d\n      model: {model}\n      trees: 50\n"
        f"      categorical: {categorical}\n",
    )


@pytest.fixture
def categorical(tmp_path) -> Path:
    spec = tmp_path / "channels.yml"
    spec.write_text(_spec_text(), encoding="utf-8")
    done = run("fit", spec, "--format", "json")
    assert done.exit_code == 0, done.output
    return spec


def _model(spec: Path) -> dict:
    return json.loads((spec.parent / f"{spec.stem}.offer_propensity.model.json").read_text())


def _encode(rows: list[list], vocabularies: dict[str, list[str]]) -> np.ndarray:
    """The test's own encoding: numbers as doubles (NULL: NaN), a category as its position in
    the vocabulary (NULL or unknown: NaN)."""
    out = []
    for row in rows:
        coded = []
        for name, value in zip(INPUTS, row, strict=True):
            if name in vocabularies:
                known = vocabularies[name]
                coded.append(float(known.index(value)) if value in known else np.nan)
            else:
                coded.append(np.nan if value is None else float(value))
        out.append(coded)
    return np.array(out)


def _sklearn(spec: Path):
    """(classifier, vocabularies): scikit-learn fitted here on the training rows (features
    as of 2025-10-01, outcome as of 2025-10-31), categories found here."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    feats = rows_as_of(spec, date(2025, 10, 1))
    labels = rows_as_of(spec, date(2025, 10, 31))
    keys = sorted(feats)
    vocabularies = {
        c: sorted({feats[k][c] for k in keys if feats[k][c] is not None}) for c in CATEGORICAL
    }
    x = _encode([[feats[k][f] for f in INPUTS] for k in keys], vocabularies)
    y = np.array([1 if labels.get(k, {}).get("online_orders_30d", 0) > 0 else 0 for k in keys])
    clf = HistGradientBoostingClassifier(
        max_iter=50,
        max_depth=3,
        learning_rate=0.1,
        early_stopping=False,
        random_state=0,
        categorical_features=[f in CATEGORICAL for f in INPUTS],
    ).fit(x, y)
    return clf, vocabularies


def _edge_rows(model: dict, vocabularies: dict[str, list[str]]) -> list[list]:
    """Every pair of (channel, city) values: each category, NULL, an unknown text and the
    near misses of the first category; the numbers at their thresholds' medians."""
    thresholds: dict[int, list[float]] = {}
    for tree in model["trees"]:
        for node in tree:
            if "threshold" in node:
                thresholds.setdefault(node["feature"], []).append(node["threshold"])
    base = [float(np.median(thresholds.get(i, [0.0]))) for i in range(len(FEATURES))]

    def values(known: list[str]) -> list:
        first = known[0]
        return [*known, None, "Mars", first.upper(), first.lower(), f"{first} ", f" {first}", ""]

    pairs = itertools.product(*(values(vocabularies[c]) for c in CATEGORICAL))
    return [[*base, *pair] for pair in pairs]


def _edge_table(rows: list[list]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    columns = ", ".join(f"{f} VARCHAR" if f in CATEGORICAL else f"{f} DOUBLE" for f in INPUTS)
    con.execute(f"CREATE TABLE edge_rows (i INTEGER, {columns})")
    marks = ", ".join("?" for _ in INPUTS)
    for i, row in enumerate(rows):
        con.execute(f"INSERT INTO edge_rows VALUES (?, {marks})", [i, *row])
    return con


def _edge_sql(model: dict, dialect: str) -> str:
    from sqlglot import exp

    tree = score_tree(read_model(json.dumps(model)), lambda f: exp.column(f))
    query = exp.select(exp.column("i"), exp.alias_(tree, "p")).from_("edge_rows")
    return target_sql(query, TARGETS[dialect], pretty=False)


def test_the_trees_split_by_category_as_sklearn_fitted_here(categorical):
    """The model file is scikit-learn's fit with native categorical splits: its categories
    are the training rows', it has categorical splits, and every row of the sample scores as
    the classifier fitted here (to 1e-12)."""
    clf, vocabularies = _sklearn(categorical)
    model = _model(categorical)
    assert model["features"] == INPUTS
    assert model["categories"] == vocabularies
    assert vocabularies["channel"] == ["omni", "online", "store"]
    split = [n for t in model["trees"] for n in t if "categories_left" in n]
    assert {INPUTS[n["feature"]] for n in split} == {"channel", "city"}, len(split)
    rows = rows_as_of(categorical, date(2025, 11, 30))
    keys = sorted(rows)
    want = clf.predict_proba(_encode([[rows[k][f] for f in INPUTS] for k in keys], vocabularies))
    got = np.array([rows[k]["offer_propensity"] for k in keys])
    assert (np.abs(got - want[:, 1]) / want[:, 1]).max() <= 1e-12


def test_duckdb_routes_every_category_null_and_near_miss_as_sklearn(categorical):
    clf, vocabularies = _sklearn(categorical)
    model = _model(categorical)
    edges = _edge_rows(model, vocabularies)
    found = dict(_edge_table(edges).execute(_edge_sql(model, "duckdb")).fetchall())
    got = np.array([found[i] for i in range(len(edges))])
    want = clf.predict_proba(_encode(edges, vocabularies))[:, 1]
    assert (np.abs(got - want) / want).max() <= 1e-12, len(edges)
    # the rows can fail: one category moved to the other side of a split moves rows
    split = next(n for t in model["trees"] for n in t if "categories_left" in n)
    known = model["categories"][INPUTS[split["feature"]]]
    split["categories_left"] = [c for c in known if c not in split["categories_left"]]
    found = dict(_edge_table(edges).execute(_edge_sql(model, "duckdb")).fetchall())
    moved = np.array([found[i] for i in range(len(edges))])
    assert (np.abs(moved - want) / want).max() > 1e-12


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_engines_route_every_category_null_and_near_miss_as_sklearn(categorical, fixture, request):
    """MariaDB's default collation ignores case and trailing spaces: 'ONLINE' and 'online '
    must still be unknown categories there (the compiler's binary comparison of text)."""
    engine = request.getfixturevalue(fixture)
    clf, vocabularies = _sklearn(categorical)
    model = _model(categorical)
    edges = _edge_rows(model, vocabularies)
    engine.load(_edge_table(edges), ["edge_rows"])
    _, rows = engine.query(_edge_sql(model, engine.name))
    found = {int(i): float(p) for i, p in rows}
    got = np.array([found[i] for i in range(len(edges))])
    want = clf.predict_proba(_encode(edges, vocabularies))[:, 1]
    assert (np.abs(got - want) / want).max() <= 1e-12


def test_verify_proves_the_categories_and_fails_a_moved_one(categorical, tmp_path):
    """verify routes each row's text through the model file's splits in Python; SQL whose
    model had one category on the other side of a split fails it."""
    done = run("verify", categorical, "-d", "duckdb", "--format", "json")
    assert done.exit_code == 0, done.output
    mutated = tmp_path / "mutated"
    mutated.mkdir()
    shutil.copy(categorical, mutated / categorical.name)
    model = _model(categorical)
    for tree in model["trees"]:
        split = next((n for n in tree if "categories_left" in n), None)
        if split is not None and INPUTS[split["feature"]] == "channel":
            known = model["categories"]["channel"]
            split["categories_left"] = [c for c in known if c not in split["categories_left"]]
            break
    (mutated / f"{categorical.stem}.offer_propensity.model.json").write_text(json.dumps(model))
    sql = tmp_path / "moved.sql"
    sql.write_text(compile_spec(load_spec(mutated / categorical.name), "duckdb"))
    done = run("verify", categorical, "--sql", sql, "--format", "json")
    assert done.exit_code == 1, done.output
    failed = {c["name"] for c in json.loads(done.stdout)["checks"] if not c["passed"]}
    assert "predict:offer_propensity" in failed, failed


@pytest.mark.parametrize(
    ("categorical", "model", "said"),
    [
        ("[channel]", "logistic", "a logistic model reads numbers, not categories"),
        ("[orders_all]", "gradient_boosting", "categorical 'orders_all' is not a text metric"),
        ("[channel, channel]", "gradient_boosting", "lists a feature twice"),
        ("[nope]", "gradient_boosting", "categorical 'nope' is not a metric"),
        ("[online_orders_30d]", "gradient_boosting", "reads its own target as a feature"),
    ],
)
def test_categorical_mistakes_are_refused_at_their_line(tmp_path, categorical, model, said):
    spec = tmp_path / "bad.yml"
    spec.write_text(_spec_text(categorical, model), encoding="utf-8")
    done = run("check", spec)
    assert done.exit_code != 0 and said in done.output, done.output
    line = next(
        n for n, text in enumerate(spec.read_text().splitlines(), 1) if "categorical:" in text
    )
    assert f"bad.yml:{line}" in done.output, done.output


def test_a_text_feature_of_trees_points_to_categorical(tmp_path):
    spec = tmp_path / "bad.yml"
    text = _spec_text("[city]").replace("features: [offer_orders_180d,", "features: [channel,")
    spec.write_text(text, encoding="utf-8")
    done = run("check", spec)
    assert done.exit_code != 0 and "list it under categorical" in done.output, done.output
