"""A propensity proven outside SQL: verify reads the fitted model file itself and evaluates
the score of every row in Python, from the row's features as the model returned them, and
requires the model's value (docs/spec.md, "Propensity"). Nothing here is the compiler's: the
file is read with ``json``, the score computed with ``math``."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from semseg.compile.cluster_model import default_model_path
from semseg.errors import printable
from semseg.spec import SpecFile
from semseg.spec.graph import metric_precision
from semseg.spec.model import Spec
from semseg.sql import name_sql as q
from semseg.verify.proof import RESULT, CheckSQL
from semseg.verify.report import CheckResult

RELATIVE = 1e-12  # engines' EXP and float arithmetic may differ in the last bits


def score(model: dict[str, Any], values: Sequence[Any]) -> float | None:
    """The score of one row from the model file's numbers, in the documented order."""
    if model["model"] == "gradient_boosting":
        return 1.0 / (1.0 + math.exp(-_boosted(model, values)))
    if any(v is None for v in values):
        return None
    z = float(model["intercept"])
    for v, mean, scale, coef in zip(
        values, model["means"], model["scales"], model["coefficients"], strict=True
    ):
        z = z + coef * ((float(v) - mean) / scale)  # type: ignore[arg-type]
    return _logistic(z)


def _boosted(model: dict[str, Any], values: Sequence[Any]) -> float:
    """The baseline plus each tree's leaf for the row: a missing value (None, NaN) goes where
    the node's missing_left says, any other left when at most the threshold. A categorical
    feature's text goes left when the split lists it, right when the model's categories
    have it, else (None, or a text the fit never saw) where missing values go."""
    raw = float(model["baseline"])
    known = {
        model["features"].index(name): set(values_)
        for name, values_ in model.get("categories", {}).items()
    }
    for tree in model["trees"]:
        node = tree[0]
        while "leaf" not in node:
            i = node["feature"]
            x = values[i]
            if i in known:
                text = None if x is None else str(x)
                if text is not None and text in node["categories_left"]:
                    left = True
                elif text is not None and text in known[i]:
                    left = False
                else:
                    left = node["missing_left"]
            elif x is None or math.isnan(float(x)):
                left = node["missing_left"]
            else:
                left = float(x) <= node["threshold"]
            node = tree[node["left"] if left else node["right"]]
        raw = raw + node["leaf"]
    return raw


def _logistic(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    return math.exp(z) / (1.0 + math.exp(z))


def _agrees(got: float | None, want: float | None, places: int | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if places is not None:  # the model rounds it half up to ``places``
        return abs(got - want) <= 0.5 * 10.0**-places + 1e-12
    return abs(got - want) <= RELATIVE * max(abs(want), 1e-300)


def predict_checks(con, spec_file: SpecFile, examples: int = 5) -> list[CheckResult]:
    """One check per propensity metric: every row's value is the model file's score."""
    spec = spec_file.spec
    out = []
    for name, metric in spec.metrics.items():
        predict = metric.predict
        if predict is None:
            continue
        path = default_model_path(spec_file.path, name, predict.file)
        try:
            model = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # e.g. verify --sql of a spec never fitted
            out.append(
                CheckResult(
                    f"predict:{name}",
                    f"{name} is the score of its model file {path}",
                    False,
                    1,
                    (f"{path}: cannot be read ({printable(str(err))}): run `semseg fit SPEC`",),
                )
            )
            continue
        key = spec.entity.key
        columns = ", ".join(q(c) for c in [key, name, *predict.inputs])
        rows = con.execute(f"SELECT {columns} FROM {RESULT} ORDER BY 1").fetchall()
        places = metric_precision(spec, name)
        offenders = []
        for row in rows:
            want = score(model, row[2:])
            if want is None and metric.fill is not None:
                want = float(metric.fill)
            got = None if row[1] is None else float(row[1])
            if not _agrees(got, want, places):
                offenders.append(
                    f"{row[0]}: {name}: model {got!r}, the model file's score {want!r}"
                )
        bound = f"to {RELATIVE:g} relative" if places is None else f"to its {places} decimals"
        out.append(
            CheckResult(
                f"predict:{name}",
                f"every row's {name} is the score of {path.name} computed outside SQL from the "
                f"row's features, {bound} ({len(rows):,} rows)",
                not offenders,
                len(offenders),
                tuple(offenders[:examples]),
            )
        )
    return out


def range_check(spec: Spec, name: str) -> CheckSQL:
    """A propensity is a probability: every non-NULL value in [0, 1] (the dbt model's
    singular test; verify's ``predict:`` check proves the value itself)."""
    column, key = q(name), q(spec.entity.key)
    return CheckSQL(
        f"range:{name}",
        f"{name} is a probability, from 0 to 1",
        f"SELECT CAST({key} AS VARCHAR), '{name} ' || CAST({column} AS VARCHAR) FROM {RESULT} "
        f"WHERE {column} < 0 OR {column} > 1",
    )
