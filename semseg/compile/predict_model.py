"""A propensity's fitted model file, and its score as plain SQL.

The model (``semseg fit``, scikit-learn's LogisticRegression on standardised features) is a
small JSON document next to the spec, ``<spec stem>.<metric>.model.json`` (or
``predict.file``). Its floats are written in full (``repr``: 17 significant digits), so the
SQL computes with the very numbers scikit-learn computed with.

The score, in the order both the SQL and verify's own evaluation
(``verify.predict_checks.score``, which shares no code with ``score_tree``) follow::

    z = intercept + c1 * ((x1 - mean1) / scale1) + c2 * ((x2 - mean2) / scale2) + ...
    p = 1 / (1 + exp(-z))      when z >= 0
    p = exp(z) / (1 + exp(z))  when z < 0   (no EXP of a large number: no overflow)

A feature that is NULL makes the score NULL (then the metric's ``fill``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from semseg.compile.cluster_model import default_model_path
from semseg.errors import CompileError
from semseg.spec.graph import predict_fingerprint
from semseg.spec.model import Spec
from semseg.sql import case, number, paren, to_double

FORMAT = 1


@dataclass(frozen=True)
class LogisticModel:
    """Everything the score's SQL needs, plus how the fit was made (``fit``)."""

    spec: str
    metric: str
    features: list[str]
    means: list[float]
    scales: list[float]
    coefficients: list[float]
    intercept: float
    fingerprint: str
    fit: dict[str, Any] = field(default_factory=dict)
    model: str = "logistic"
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LogisticModel:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("model") != "logistic":
            raise ValueError("not a propensity model file (no model: logistic)")
        if data.get("format") != FORMAT:
            raise ValueError(f"model format {data.get('format')!r}, this semseg reads {FORMAT}")
        n = len(data.get("features") or [])
        for key in ("means", "scales", "coefficients"):
            values = data.get(key)
            if not (
                isinstance(values, list) and len(values) == n and all(_finite(v) for v in values)
            ):
                raise ValueError(f"'{key}' must be {n} finite numbers, one per feature")
        if not all(v > 0 for v in data["scales"]):
            raise ValueError("every scale must be above 0")
        if not _finite(data.get("intercept")):
            raise ValueError("'intercept' must be a finite number")
        known = {f.name for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def model_path(spec: Spec, name: str, spec_path: Path | None) -> Path | None:
    predict = spec.metrics[name].predict
    assert predict is not None
    if spec_path is None:
        return Path(predict.file) if predict.file and Path(predict.file).is_absolute() else None
    return default_model_path(spec_path, name, predict.file)


def fitted_propensity(spec: Spec, name: str, spec_path: Path | None) -> LogisticModel:
    """The fitted model of a propensity metric, or ``CompileError`` saying how to make it."""
    path = model_path(spec, name, spec_path)
    if path is None or not path.is_file():
        where = f" ({path} not found)" if path is not None else ""
        raise CompileError(
            f"metric '{name}' is a propensity without a fitted model{where}: run "
            "`semseg fit SPEC` first, then compile again"
        )
    try:
        model = LogisticModel.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as err:
        raise CompileError(
            f"{path}: cannot read the fitted model ({err}); run `semseg fit SPEC --force` to "
            "fit it again"
        ) from None
    predict = spec.metrics[name].predict
    assert predict is not None
    if model.features != list(predict.features) or model.fingerprint != predict_fingerprint(
        spec, name
    ):
        raise CompileError(
            f"{path}: the spec changed since this model was fitted (a feature or the target, "
            f"their definitions, or the settings of '{name}'), so its coefficients would read "
            "other numbers; run `semseg fit SPEC --force` to fit it again"
        )
    return model


def _double(value: float) -> exp.Expression:
    """A float as the engine reads it back exactly: its shortest text, cast to DOUBLE (a
    decimal literal is NUMERIC/DECIMAL on some engines, converted with rounding)."""
    return to_double(exp.Literal.string(repr(float(value))))


def score_tree(model: LogisticModel, feature: Callable[[str], exp.Expression]) -> exp.Expression:
    """The score as SQL (module docstring); ``feature(name)`` is a feature's value."""
    z: exp.Expression = _double(model.intercept)
    for name, mean, scale, coef in zip(
        model.features, model.means, model.scales, model.coefficients, strict=True
    ):
        scaled = exp.Div(
            this=paren(exp.Sub(this=to_double(feature(name)), expression=_double(mean))),
            expression=_double(scale),
        )
        z = exp.Add(this=z, expression=exp.Mul(this=_double(coef), expression=paren(scaled)))
    z = paren(z)
    one = number(1)
    high = exp.Div(
        this=one,
        expression=paren(exp.Add(this=one.copy(), expression=exp.Exp(this=exp.Neg(this=z.copy())))),
    )
    low = exp.Div(
        this=exp.Exp(this=z.copy()),
        expression=paren(exp.Add(this=one.copy(), expression=exp.Exp(this=z.copy()))),
    )
    at_or_above = exp.GTE(this=z.copy(), expression=number(0))
    return case([(at_or_above, high)], low)
