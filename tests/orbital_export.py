"""posit-dev/orbital's SQL for a model, in a process of its own (``tests/test_orbital.py``).

Importing orbital imports ibis, whose SQL dialects replace sqlglot's own in the registry
(``Dialect.get_or_raise("clickhouse")`` is ibis's after it): semseg's compiler must never
share a process with it. ``python -m tests.orbital_export`` reads one JSON request on stdin
and prints one JSON answer: ``{"sql": ...}`` (orbital's DuckDB query over the table
``semseg_rows``, with one DOUBLE column per feature: it passes no other column through, so
the caller reads its rows in the table's order, a projection keeps it) or ``{"refused": "<why>"}``.

Requests: ``{"kind": "logistic", "features", "means", "scales", "coefficients",
"intercept"}`` (the model file's numbers, set on a StandardScaler + LogisticRegression
pipeline), or ``{"kind": "trees", "features", "x", "y", "trees", "depth",
"learning_rate"}`` (the HistGradientBoostingClassifier semseg fits, fitted again on the same
rows with the same settings).
"""

from __future__ import annotations

import json
import sys

import numpy as np


def _pipeline(request: dict):
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    features = request["features"]
    if request["kind"] == "logistic":
        frame = pd.DataFrame(np.zeros((2, len(features))), columns=features)
        scaler = StandardScaler().fit(frame)  # then its numbers replaced by the model's
        scaler.mean_ = np.array(request["means"])
        scaler.scale_ = np.array(request["scales"])
        scaler.var_ = scaler.scale_**2
        logistic = LogisticRegression().fit(np.zeros((2, len(features))), [0, 1])
        logistic.coef_ = np.array([request["coefficients"]])
        logistic.intercept_ = np.array([request["intercept"]])
        logistic.feature_names_in_ = np.array(features, dtype=object)
        pipe = Pipeline([("scale", scaler), ("model", logistic)])
        return pipe, frame
    frame = pd.DataFrame(np.array(request["x"], dtype=np.float64), columns=features)
    boosted = HistGradientBoostingClassifier(
        max_iter=request["trees"],
        max_depth=request["depth"],
        learning_rate=request["learning_rate"],
        early_stopping=False,
        random_state=0,
    )
    return Pipeline([("model", boosted)]).fit(frame, np.array(request["y"])), frame


def main() -> int:
    import orbital

    request = json.loads(sys.stdin.read())
    pipe, frame = _pipeline(request)
    try:
        parsed = orbital.parse_pipeline(pipe, features=orbital.types.guess_datatypes(frame))
        sql = orbital.export_sql("semseg_rows", parsed, dialect="duckdb")
    except Exception as err:  # noqa: BLE001 - what orbital says is the answer
        print(json.dumps({"refused": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}))
        return 0
    print(json.dumps({"sql": sql}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
