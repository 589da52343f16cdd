"""semseg beside posit-dev/orbital on the same models (issue 24): each SQL's numbers against
scikit-learn's ``predict_proba`` on every row of the sample.

orbital (scikit-learn -> ONNX -> ibis -> SQL) runs in a process of its own
(``tests/orbital_export.py``: importing it replaces sqlglot's ClickHouse dialect with ibis's).
Its SQL and semseg's both run here in DuckDB over the same feature rows. The test asserts
semseg's side (exact to 1e-12, the same leaf on every row) and records orbital's: its largest
deviation, or its refusal, printed with ``-s``; the figures are in docs/design.md.
Skipped when orbital is not installed (``pip install -e '.[compare]'``; ``make test`` has it).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from semseg.compile import compile_spec
from semseg.spec import load_spec
from tests.predict_helpers import (
    FEATURES,
    edge_rows,
    edge_table,
    model_file,
    refit_boosted,
    sample_views,
    sklearn_proba,
    training_rows,
    tree_sql,
)

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("orbital") is None,
    reason="orbital is not installed: pip install -e '.[compare]'",
)
ROOT = Path(__file__).resolve().parent.parent


def _orbital(request: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.orbital_export"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _semseg_rows(spec: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features, semseg's score) of every customer, from the spec's SQL run in DuckDB."""
    cur = sample_views().execute(compile_spec(load_spec(spec), "duckdb"))
    cols = [d[0].lower() for d in cur.description]
    rows = cur.fetchall()
    index = {c: i for i, c in enumerate(cols)}
    x = np.array(
        [[np.nan if r[index[f]] is None else float(r[index[f]]) for f in FEATURES] for r in rows]
    )
    return x, np.array([float(r[index["offer_propensity"]]) for r in rows])


def _orbital_proba(sql: str, x: np.ndarray) -> np.ndarray:
    """orbital's ``output_probability.1`` of each row of ``x``, in ``x``'s order (its query is
    a projection of ``semseg_rows``, which keeps the table's order in one thread)."""
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute("SET preserve_insertion_order = true")
    columns = ", ".join(f"CAST(? AS DOUBLE[]) AS c{i}" for i in range(len(FEATURES)))
    con.execute(
        "CREATE TABLE semseg_rows AS SELECT "
        + ", ".join(f"UNNEST(c{i}) AS {f}" for i, f in enumerate(FEATURES))
        + f" FROM (SELECT {columns})",
        [[None if np.isnan(v) else float(v) for v in x[:, i]] for i in range(len(FEATURES))],
    )
    cur = con.execute(sql)
    at = [d[0] for d in cur.description].index("output_probability.1")
    return np.array([float(r[at]) for r in cur.fetchall()])


def test_logistic_semseg_is_exact_where_orbital_is_not(unbanded):
    model = model_file(unbanded)
    x, ours = _semseg_rows(unbanded)
    want = sklearn_proba(model, x)
    semseg_dev = float(np.max(np.abs(ours - want) / want))
    answer = _orbital(
        {"kind": "logistic", **{k: model[k] for k in ("features", "means", "scales")}}
        | {"coefficients": model["coefficients"], "intercept": model["intercept"]}
    )
    assert "sql" in answer, answer  # orbital converts a logistic regression
    theirs = _orbital_proba(answer["sql"], x)
    orbital_dev = float(np.max(np.abs(theirs - want) / want))
    off = int(np.sum(np.abs(theirs - want) / want > 1e-12))
    print(
        f"\nlogistic, {len(x):,} rows: largest relative deviation from predict_proba: "
        f"semseg {semseg_dev:.2e}, orbital {orbital_dev:.2e} ({off:,} rows beyond 1e-12)"
    )
    assert semseg_dev <= 1e-12
    # orbital's rows are the same rows (a misaligned row would be off by far more)
    assert orbital_dev < 1e-3


def test_trees_semseg_routes_every_row_as_sklearn_where_orbital_does_not(boosted):
    """The sample's rows, and every split's threshold with one ulp either side and NaN (the
    edge rows of test_predict): semseg's leaf is scikit-learn's on every one of them; a row
    whose orbital probability is 1e-5 (relative) or more away took another leaf (its float32
    leaf values alone stay near 1e-7)."""
    clf, model = refit_boosted(boosted)
    x, ours = _semseg_rows(boosted)
    edges = edge_rows(model)
    found = dict(edge_table(edges, nan=True).execute(tree_sql(model, "duckdb")).fetchall())
    ours_edges = np.array([found[i] for i in range(len(edges))])
    train_x, train_y = training_rows(boosted)
    answer = _orbital(
        {
            "kind": "trees",
            "features": FEATURES,
            "x": [[None if np.isnan(v) else float(v) for v in row] for row in train_x],
            "y": [int(v) for v in train_y],
            "trees": model["fit"]["trees"],
            "depth": model["fit"]["depth"],
            "learning_rate": model["fit"]["learning_rate"],
        }
    )
    print()
    for name, rows, semseg in (("sample", x, ours), ("edge", edges, ours_edges)):
        want = clf.predict_proba(rows)[:, 1]
        semseg_dev = np.abs(semseg - want) / want
        assert semseg_dev.max() <= 1e-12, name  # the same leaf on every row
        if "refused" in answer:
            continue
        orbital_dev = np.abs(_orbital_proba(answer["sql"], rows) - want) / want
        print(
            f"trees, {len(rows):,} {name} rows: largest relative deviation from predict_proba: "
            f"semseg {semseg_dev.max():.2e}, orbital {orbital_dev.max():.2e}; "
            f"another leaf: semseg 0, orbital {int(np.sum(orbital_dev >= 1e-5))}"
        )
    if "refused" in answer:
        print(f"orbital refuses the HistGradientBoostingClassifier: {answer['refused']}")
