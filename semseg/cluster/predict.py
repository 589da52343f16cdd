"""Fitting a propensity (``semseg fit``): scikit-learn's LogisticRegression, point in time by
construction.

With the target's window ``last N units`` (the horizon H) and the as-of date A:

- training rows: the features as of A - 2H, the label (target > 0) as of A - H;
- validation rows (a later time split): the features as of A - H, the label as of A.

Each as-of date is the whole model compiled for that date (the point-in-time compile every
spec already has), so no feature can read an event after its cutoff; the rows come from the
session (DuckDB here, or the user's engine, where only the metric rows leave it). A row with
a NULL feature is left out of the fit (the score of such a row is NULL, then ``fill``).
"""

from __future__ import annotations

import importlib.metadata
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from semseg.compile.predict_model import LogisticModel, TreesModel, model_path
from semseg.data import Session
from semseg.errors import DataError, UsageError
from semseg.files import preflight, write_text
from semseg.spec import SpecFile
from semseg.spec.graph import metrics_read, predict_fingerprint, segmentation_dependencies
from semseg.spec.time import Window, back, parse_window
from semseg.sql import SnippetProblem, column_names, name_sql, parse_snippet

FEATURES_TABLE = "semseg_predict_features"
LABELS_TABLE = "semseg_predict_labels"
TRAINING_ROWS = "semseg_predict_training"
VALIDATION_ROWS = "semseg_predict_validation"


def propensities(spec_file: SpecFile) -> list[str]:
    return [n for n, m in spec_file.spec.metrics.items() if m.predict is not None]


def _needed(spec_file: SpecFile, name: str) -> list[str]:
    """The features, the target and every metric they derive from."""
    predict = spec_file.spec.metrics[name].predict
    assert predict is not None
    return metrics_read(spec_file.spec, [*predict.inputs, predict.target])


def _materialise(session: Session, name: str, day: date, table: str) -> None:
    """The spec's model with only the metrics the propensity needs, compiled for ``day`` and
    run in the session (here or on the engine), stored as ``table`` here."""
    spec_file = session.spec_file
    keep = _needed(spec_file, name)
    metrics = {m: spec_file.spec.metrics[m] for m in spec_file.spec.metrics if m in keep}
    spec = spec_file.spec.model_copy(update={"metrics": metrics, "segmentations": {}, "checks": []})
    session.run(SpecFile(spec, spec_file.path, spec_file.marks).with_as_of(day), table)


def _doubles(column):
    """A fetched numeric column as float64, NULL as NaN."""
    import numpy as np

    return np.ma.filled(np.ma.asarray(column).astype(np.float64), np.nan)


def _dataset(session: Session, name: str, features_at: date, label_at: date, rows: str):
    """(X, categories, y, dropped): the numeric features as of one date (NULL as NaN), the
    categorical ones as text (NULL as None), the label (target > 0) as of another date,
    joined by key here in DuckDB, in key order. The rows' keys, in that order, are kept in
    the table ``rows`` (its column ``semseg_row``: 0, 1, ...) for later joins."""
    import numpy as np

    spec = session.spec_file.spec
    predict = spec.metrics[name].predict
    assert predict is not None
    _materialise(session, name, features_at, FEATURES_TABLE)
    _materialise(session, name, label_at, LABELS_TABLE)
    key = name_sql(spec.entity.key)
    features = [name_sql(f) for f in predict.features]
    texts = [name_sql(f) for f in predict.categorical]
    # logistic: a row with a NULL feature is left out; trees keep it (NaN, routed as learnt)
    kept = (
        " AND ".join(f"f.{c} IS NOT NULL" for c in features)
        if predict.model == "logistic"
        else "TRUE"
    )
    con = session.con
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {rows} AS "
        f"SELECT f.{key}, ROW_NUMBER() OVER (ORDER BY f.{key}) - 1 AS semseg_row, "
        + "".join(f"CAST(f.{c} AS DOUBLE) AS x{i}, " for i, c in enumerate(features))
        + "".join(f"CAST(f.{c} AS VARCHAR) AS t{i}, " for i, c in enumerate(texts))
        + f"CAST(l.{name_sql(predict.target)} AS DOUBLE) AS semseg_target "
        f"FROM {FEATURES_TABLE} AS f LEFT JOIN {LABELS_TABLE} AS l ON l.{key} = f.{key} "
        f"WHERE {kept}"
    )
    total = con.execute(f"SELECT COUNT(*) FROM {FEATURES_TABLE}").fetchone()
    names = [f"x{i}" for i in range(len(features))] + [f"t{i}" for i in range(len(texts))]
    columns = con.execute(
        f"SELECT {''.join(n + ', ' for n in names)}semseg_target FROM {rows} ORDER BY semseg_row"
    ).fetchnumpy()
    values = [_doubles(columns[f"x{i}"]) for i in range(len(features))]
    n = len(columns["semseg_target"])
    x = np.column_stack(values) if values else np.empty((n, 0))
    categories = [
        [None if v is None or v is np.ma.masked else str(v) for v in columns[f"t{i}"].tolist()]
        for i in range(len(texts))
    ]
    target = _doubles(columns["semseg_target"])
    y = (np.nan_to_num(target, nan=0.0) > 0).astype(np.int64)  # no label row, NULL, NaN: 0
    dropped = int(total[0]) - n if total else 0
    return x.reshape(n, len(features)), categories, y, dropped


MAX_CATEGORIES = 255  # HistGradientBoostingClassifier's max_bins: codes 0 .. 254


def _vocabularies(spec_file: SpecFile, name: str, categories: list[list]) -> list[list[str]]:
    """Each categorical feature's categories in the training rows, in code-point order (its
    codes for scikit-learn are their positions); more than 255 is refused."""
    predict = spec_file.spec.metrics[name].predict
    assert predict is not None
    out = []
    for metric, values in zip(predict.categorical, categories, strict=True):
        seen = sorted({v for v in values if v is not None})
        if len(seen) > MAX_CATEGORIES:
            raise DataError(
                f"{spec_file.path}: '{name}': categorical '{metric}' has {len(seen):,} "
                f"categories in the training rows, above the {MAX_CATEGORIES} "
                "HistGradientBoostingClassifier splits by; group them (a `top` metric, or a CASE "
                "in a derived metric) or list a number under features"
            )
        out.append(seen)
    return out


def _design(x, categories: list[list], vocabularies: list[list[str]]):
    """The model's columns: the numeric features, then each categorical one as its code (the
    category's position in the vocabulary; NULL and an unseen category NaN: missing)."""
    import numpy as np

    codes = []
    for values, vocabulary in zip(categories, vocabularies, strict=True):
        at = {c: float(i) for i, c in enumerate(vocabulary)}
        codes.append(np.array([at.get(v, np.nan) if v is not None else np.nan for v in values]))
    return np.column_stack([x, *codes]) if codes else x


def _validation(y, p) -> dict[str, Any]:
    """AUC, the top decile's lift and capture, and calibration by decile of ``p``."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    n = len(y)
    out: dict[str, Any] = {"rows": int(n), "positives": int(y.sum())}
    if n == 0 or y.min() == y.max():
        out["auc"] = None
        return out
    out["auc"] = round(float(roc_auc_score(y, p)), 6)
    order = np.argsort(-p, kind="stable")
    top = order[: max(1, n // 10)]
    rate = float(y.mean())
    out["top_decile_lift"] = round(float(y[top].mean()) / rate, 6)
    out["top_decile_capture"] = round(float(y[top].sum()) / float(y.sum()), 6)
    deciles = np.array_split(order[::-1], 10)
    out["calibration"] = [
        {"mean_score": round(float(p[d].mean()), 6), "rate": round(float(y[d].mean()), 6)}
        for d in deciles
        if len(d)
    ]
    return out


BASELINES_TABLE = "semseg_predict_baselines"


def _reading_a_propensity(spec) -> set[str]:
    """The propensities and every metric that reads one, at any depth."""
    propensities = [n for n, m in spec.metrics.items() if m.predict is not None]
    return {n for n in spec.metrics if set(metrics_read(spec, [n])) & set(propensities)}


def _baseline_segmentations(spec) -> list[str]:
    """The segmentations a user already has that read no propensity: their order (1 first)
    is the ranking the model is compared with."""
    touched = _reading_a_propensity(spec)
    needs = segmentation_dependencies(spec)
    out = []
    for name, seg in spec.segmentations.items():
        if seg.kind == "cluster" or needs.get(name):
            continue
        used = {seg.by} if seg.by else set()
        for part in seg.segments or []:
            tree = parse_snippet(part.when, spec.dialect) if part.when else None
            if tree is not None and not isinstance(tree, SnippetProblem):
                used |= set(column_names(tree))
        if not used & touched:
            out.append(name)
    return out


def _baselines(session: Session, day: date, rows: str, y) -> dict[str, Any]:
    """Each baseline segmentation's ranking of the validation rows (the table ``rows``; its
    order as of the features' date, 1 first; no order last): AUC, and the first segment's
    share and lift."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    spec_file = session.spec_file
    names = _baseline_segmentations(spec_file.spec)
    if not names or len(y) == 0 or y.min() == y.max():
        return {}
    touched = _reading_a_propensity(spec_file.spec)
    metrics = {n: m for n, m in spec_file.spec.metrics.items() if n not in touched}
    kept = {n: spec_file.spec.segmentations[n] for n in names}
    spec = spec_file.spec.model_copy(
        update={"metrics": metrics, "segmentations": kept, "checks": []}
    )
    session.run(SpecFile(spec, spec_file.path, spec_file.marks).with_as_of(day), BASELINES_TABLE)
    key = name_sql(spec.entity.key)
    orders = [name_sql(spec.order_column(n)) for n in names]
    columns = session.con.execute(
        "SELECT "
        + ", ".join(f"CAST(b.{c} AS DOUBLE) AS o{i}" for i, c in enumerate(orders))
        + f" FROM {rows} AS r LEFT JOIN {BASELINES_TABLE} AS b ON b.{key} = r.{key} "
        "ORDER BY r.semseg_row"
    ).fetchnumpy()
    out = {}
    rate = float(y.mean())
    for i, name in enumerate(names):
        order = _doubles(columns[f"o{i}"])
        order[np.isnan(order)] = np.inf  # no order (or no row): last
        score = -np.where(np.isinf(order), np.nanmax(order[~np.isinf(order)], initial=0) + 1, order)
        first = order == np.min(order)
        out[name] = {
            "auc": round(float(roc_auc_score(y, score)), 6),
            "first_segment_share": round(float(first.mean()), 6),
            "first_segment_lift": round(float(y[first].mean()) / rate, 6),
        }
    return out


def _exported(boosted, vocabularies: dict[int, list[str]]) -> tuple[float, list[list[dict]]]:
    """(baseline, trees) of a fitted HistGradientBoostingClassifier, as the model file holds
    them: each node's threshold and leaf value as scikit-learn compares and adds them; a
    categorical split (``vocabularies``: column -> categories, code = position) as the
    categories it sends left."""
    import numpy as np

    baseline = float(boosted._baseline_prediction.ravel()[0])
    # With categorical features scikit-learn (1.4+) puts an OrdinalEncoder of them first and
    # the numbers after (``_preprocessor``): its trees' feature indices are in that order.
    # Every code 0..k-1 is in the training rows, so the encoder's codes are the model's own.
    order = list(range(boosted.n_features_in_))
    if boosted._preprocessor is not None:
        order = []
        for kind, step, columns in boosted._preprocessor.transformers_:
            if kind == "remainder":
                continue
            order += [int(i) for i in np.flatnonzero(columns)]
            if kind == "encoder":
                for i, seen in zip(np.flatnonzero(columns), step.categories_, strict=True):
                    assert list(seen) == list(range(len(vocabularies[int(i)]))), "all codes"
    out = []
    for (predictor,) in boosted._predictors:
        tree: list[dict[str, Any]] = []
        for node in predictor.nodes:
            if node["is_leaf"]:
                tree.append({"leaf": float(node["value"])})
                continue
            split: dict[str, Any] = {"feature": order[int(node["feature_idx"])]}
            if node["is_categorical"]:
                bits = predictor.raw_left_cat_bitsets[node["bitset_idx"]]
                vocabulary = vocabularies[split["feature"]]
                split["categories_left"] = [
                    c for i, c in enumerate(vocabulary) if (int(bits[i // 32]) >> (i % 32)) & 1
                ]
            else:
                split["threshold"] = float(node["num_threshold"])
            split.update(
                missing_left=bool(node["missing_go_to_left"]),
                left=int(node["left"]),
                right=int(node["right"]),
            )
            tree.append(split)
        out.append(tree)
    return baseline, out


def fit_propensity(
    session: Session,
    name: str,
    out: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, bool, dict[str, Any]]:
    """Fit ``name``, write its model file (overwrite policy of ``semseg.files``), and return
    (path, changed, summary)."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    spec_file = session.spec_file
    spec = spec_file.spec
    predict = spec.metrics[name].predict
    assert predict is not None
    path = out or model_path(spec, name, spec_file.path)
    assert path is not None
    preflight(path, force=True)
    if not isinstance(spec.as_of, date):
        raise UsageError(f"{spec_file.path}: fitting '{name}' needs an as-of date (--as-of)")
    window = parse_window(spec.metrics[predict.target].window or "")
    assert isinstance(window, Window) and window.after is not None, "validated"
    horizon = (window.after, window.unit)
    a = spec.as_of
    cut = {
        "train_features": back(a, 2 * horizon[0], horizon[1]),
        "train_label": back(a, horizon[0], horizon[1]),
        "valid_features": back(a, horizon[0], horizon[1]),
        "valid_label": a,
    }
    if progress:
        progress(f"training rows: features as of {cut['train_features']}…")
    x, texts, y, dropped = _dataset(
        session, name, cut["train_features"], cut["train_label"], TRAINING_ROWS
    )
    vocabularies = _vocabularies(spec_file, name, texts)
    x = _design(x, texts, vocabularies)
    if len(y) == 0 or y.min() == y.max():
        raise DataError(
            f"{spec_file.path}: '{name}' cannot be fitted: the {len(y):,} training rows "
            f"(features as of {cut['train_features']}, '{predict.target}' as of "
            f"{cut['train_label']}) are all of one outcome; pick another --as-of or target"
        )
    fit: dict[str, Any] = {
        "cutoffs": {k: v.isoformat() for k, v in cut.items()},
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "dropped_null_features": int(dropped),
        "versions": {lib: importlib.metadata.version(lib) for lib in ("scikit-learn", "numpy")},
    }
    model: LogisticModel | TreesModel
    if predict.model == "gradient_boosting":
        n = len(predict.features)
        categorical = {"categorical_features": [i >= n for i in range(x.shape[1])]}
        boosted = HistGradientBoostingClassifier(
            max_iter=predict.trees,
            max_depth=predict.depth,
            learning_rate=predict.learning_rate,
            early_stopping=False,
            random_state=0,
            **(categorical if predict.categorical else {}),
        ).fit(x, y)
        baseline, nodes = _exported(boosted, dict(enumerate(vocabularies, start=n)))
        fit.update(trees=predict.trees, depth=predict.depth, learning_rate=predict.learning_rate)

        def proba(rows):
            return boosted.predict_proba(rows)

        model = TreesModel(
            spec=spec.name,
            metric=name,
            features=predict.inputs,
            categories=dict(zip(predict.categorical, vocabularies, strict=True)),
            baseline=baseline,
            trees=nodes,
            fingerprint=predict_fingerprint(spec, name),
            fit=fit,
        )
    else:
        means = x.mean(axis=0)
        scales = x.std(axis=0)
        scales[scales == 0] = 1.0  # a constant feature: scikit-learn's StandardScaler does so
        fitted = LogisticRegression(C=predict.C, max_iter=1000).fit((x - means) / scales, y)
        fit["C"] = predict.C

        def proba(rows):
            return fitted.predict_proba((rows - means) / scales)

        model = LogisticModel(
            spec=spec.name,
            metric=name,
            features=list(predict.features),
            means=[float(v) for v in means],
            scales=[float(v) for v in scales],
            coefficients=[float(c) for c in fitted.coef_[0]],
            intercept=float(fitted.intercept_[0]),
            fingerprint=predict_fingerprint(spec, name),
            fit=fit,
        )
    if progress:
        progress(f"validation rows: features as of {cut['valid_features']}…")
    xv, texts_v, yv, _ = _dataset(
        session, name, cut["valid_features"], cut["valid_label"], VALIDATION_ROWS
    )
    xv = _design(xv, texts_v, vocabularies)
    fit["validation"] = _validation(yv, proba(xv)[:, 1] if len(yv) else np.array([]))
    fit["baselines"] = _baselines(session, cut["valid_features"], VALIDATION_ROWS, yv)
    changed = write_text(Path(path), model.to_json(), force, owner=str(spec_file.path))
    summary = {
        "metric": name,
        "rows": int(len(y)),
        "positives": int(y.sum()),
        "cutoffs": model.fit["cutoffs"],
        "validation": model.fit["validation"],
        "baselines": model.fit["baselines"],
        "seconds": round(time.perf_counter() - started, 3),
    }
    return Path(path), changed, summary
