"""Shared by the propensity tests: the example fitted here with no segmentation by its score
(``unbanded``: logistic; ``boosted``: 50 trees of depth 3; the fixtures are in conftest.py),
the sample as DuckDB views, and scikit-learn's own numbers for a model file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.sample import table_paths
from semseg.spec import load_spec
from tests.golden_regen import SPECS

runner = CliRunner()
EXAMPLE = SPECS / "offer_propensity.yml"
FEATURES = [
    "offer_orders_180d",
    "orders_180d",
    "orders_all",
    "days_since_last_order",
    "offer_share",
]


def sample_views() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for name, path in table_paths("retail").items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def sample_in_sqlite(path: Path) -> Path:
    """The retail sample's tables in a new SQLite file (for ``--engine sqlite:///path``)."""
    from tests.engines.sqlite import SqliteEngine

    engine = SqliteEngine(str(path))
    try:
        engine.load(sample_views(), list(table_paths("retail")))
    finally:
        engine.close()
    return path


def model_file(spec: Path) -> dict:
    return json.loads((spec.parent / f"{spec.stem}.offer_propensity.model.json").read_text())


def sklearn_proba(model: dict, x: np.ndarray) -> np.ndarray:
    """scikit-learn's predict_proba of the model in the file."""
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression()
    estimator.classes_ = np.array([0, 1])
    estimator.coef_ = np.array([model["coefficients"]])
    estimator.intercept_ = np.array([model["intercept"]])
    estimator.n_features_in_ = len(model["features"])
    scaled = (x - np.array(model["means"])) / np.array(model["scales"])
    return estimator.predict_proba(scaled)[:, 1]


def rows_as_of(spec: Path, day: date) -> dict:
    """key -> {column: value} of the spec compiled for ``day`` and run on the sample."""
    cur = sample_views().execute(compile_spec(load_spec(spec).with_as_of(day), "duckdb"))
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def training_rows(spec: Path) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of the fit, built here: the features as of 2025-10-01 (NULL as NaN) and the
    outcome as of 2025-10-31, each from the spec compiled for that date, in key order."""
    feats, labels = rows_as_of(spec, date(2025, 10, 1)), rows_as_of(spec, date(2025, 10, 31))
    keys = sorted(feats)
    x = np.array(
        [[np.nan if feats[k][f] is None else float(feats[k][f]) for f in FEATURES] for k in keys]
    )
    y = np.array([1 if labels.get(k, {}).get("redemptions_30d", 0) > 0 else 0 for k in keys])
    return x, y


def refit_boosted(spec: Path):
    """The same HistGradientBoostingClassifier on the rows this test builds itself
    (``training_rows``), and the model file it must equal."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = training_rows(spec)
    clf = HistGradientBoostingClassifier(
        max_iter=50, max_depth=3, learning_rate=0.1, early_stopping=False, random_state=0
    ).fit(x, y)
    return clf, json.loads((spec.parent / f"{spec.stem}.offer_propensity.model.json").read_text())


def edge_rows(model: dict) -> np.ndarray:
    """For every split: its threshold, one ulp below and above, and the row with that feature
    missing (the other features at their thresholds' median)."""
    thresholds: dict[int, list[float]] = {}
    for tree in model["trees"]:
        for node in tree:
            if "leaf" not in node:
                thresholds.setdefault(node["feature"], []).append(node["threshold"])
    base = [float(np.median(thresholds.get(i, [0.0]))) for i in range(len(FEATURES))]
    rows = []
    for i, values in thresholds.items():
        for t in sorted(set(values)):
            for v in (t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)):
                row = list(base)
                row[i] = v
                rows.append(row)
        row = list(base)
        row[i] = np.nan
        rows.append(row)
    return np.array(rows)


def tree_sql(model: dict, dialect: str) -> str:
    """The model file's score (semseg's SQL) of each row of ``edge_rows``: (i, p)."""
    from sqlglot import exp

    from semseg.compile import target_sql
    from semseg.compile.dialects import TARGETS
    from semseg.compile.predict_model import read_model, score_tree

    tree = score_tree(read_model(json.dumps(model)), lambda f: exp.column(f))
    query = exp.select(exp.column("i"), exp.alias_(tree, "p")).from_("edge_rows")
    return target_sql(query, TARGETS[dialect], pretty=False)


def edge_table(rows: np.ndarray, nan: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB table ``edge_rows`` (i, features...); NaN kept, or written as NULL."""
    con = duckdb.connect()
    cols = ", ".join(f"{f} DOUBLE" for f in FEATURES)
    con.execute(f"CREATE TABLE edge_rows (i INTEGER, {cols})")
    for i, row in enumerate(rows):
        values = [None if (np.isnan(v) and not nan) else float(v) for v in row]
        con.execute(
            f"INSERT INTO edge_rows VALUES (?, {', '.join('?' for _ in FEATURES)})", [i, *values]
        )
    return con


def fit_unbanded(tmp_path: Path) -> Path:
    """The example without segmentations by the score (so it is not rounded), fitted here."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text[: text.index("segmentations:")] + (
        "segmentations:\n  buyers:\n    by: orders_all\n    segments:\n"
        "      - {label: Buyer, min: 1}\n      - {label: Never, else: true}\n"
    )
    spec = tmp_path / "unbanded.yml"
    spec.write_text(text, encoding="utf-8")
    done = runner.invoke(app, ["fit", str(spec), "--format", "json"])
    assert done.exit_code == 0, done.output
    return spec


def fit_boosted(tmp_path: Path) -> Path:
    """The example as 50 trees of depth 3, without segmentations by the score, fitted here."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text[: text.index("segmentations:")] + (
        "segmentations:\n  buyers:\n    by: orders_all\n    segments:\n"
        "      - {label: Buyer, min: 1}\n      - {label: Never, else: true}\n"
    )
    text = text.replace(
        "      target: redemptions_30d\n",
        "      target: redemptions_30d\n      model: gradient_boosting\n      trees: 50\n",
    )
    spec = tmp_path / "boosted.yml"
    spec.write_text(text, encoding="utf-8")
    done = runner.invoke(app, ["fit", str(spec), "--format", "json"])
    assert done.exit_code == 0, done.output
    return spec
