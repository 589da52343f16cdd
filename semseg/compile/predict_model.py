"""A propensity's fitted model file, and its score as plain SQL.

The model (``semseg fit``, scikit-learn's LogisticRegression on standardised features) is a
small JSON document next to the spec, ``<spec stem>.<metric>.model.json`` (or
``predict.file``). Its floats are written in full (``repr``: 17 significant digits), so the
SQL computes with the very numbers scikit-learn computed with.

For gradient-boosted trees (``TreesModel``) z is the baseline plus each tree's leaf, and the
score ``1 / (1 + exp(-z))``, z written once.

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
from semseg.compile.portable import not_nan
from semseg.errors import CompileError
from semseg.spec.graph import predict_fingerprint
from semseg.spec.model import Spec
from semseg.sql import case, literal, number, paren, to_double

FORMAT = 1
EXP_SAFE = 700.0  # |z| below which EXP(z) and EXP(-z) are finite doubles on every engine


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


@dataclass(frozen=True)
class TreesModel:
    """A gradient-boosted model: ``baseline`` plus one leaf value of each tree, then the
    logistic. A node is ``{"leaf": value}`` or ``{"feature": i, "threshold": t, "missing_left":
    bool, "left": node, "right": node}`` (indices into the tree's list; node 0 is the root):
    a row goes left when its feature is at most the threshold, and a missing one (NULL, NaN)
    where the fit sent missing values."""

    spec: str
    metric: str
    features: list[str]
    baseline: float
    trees: list[list[dict[str, Any]]]
    fingerprint: str
    fit: dict[str, Any] = field(default_factory=dict)
    # A categorical feature's categories in the training rows (code-point order). Its
    # splits are {"feature": i, "categories_left": [...], "missing_left", "left", "right"}:
    # a listed category goes left, another known one right, and NULL or a category not
    # listed here where missing values go (scikit-learn's rule for an unknown category).
    categories: dict[str, list[str]] = field(default_factory=dict)
    model: str = "gradient_boosting"
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> TreesModel:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"model format {data.get('format')!r}, this semseg reads {FORMAT}")
        n = len(data.get("features") or [])
        if not _finite(data.get("baseline")):
            raise ValueError("'baseline' must be a finite number")
        trees = data.get("trees")
        if not isinstance(trees, list) or not trees:
            raise ValueError("'trees' must be a list of trees")
        features = data.get("features") or []
        categories = data.get("categories", {})
        if not (
            isinstance(categories, dict)
            and all(
                name in features
                and isinstance(values, list)
                and all(isinstance(v, str) for v in values)
                and len(set(values)) == len(values)
                for name, values in categories.items()
            )
        ):
            raise ValueError("'categories' maps features to lists of distinct texts")
        for tree in trees:
            for node in tree if isinstance(tree, list) else [None]:
                if not isinstance(node, dict):
                    raise ValueError("a tree is a list of nodes")
                if "leaf" in node:
                    if not _finite(node["leaf"]):
                        raise ValueError("a leaf's value must be a finite number")
                    continue
                if not (
                    isinstance(node.get("feature"), int)
                    and 0 <= node["feature"] < n
                    and _split_ok(node, categories.get(features[node["feature"]]))
                    and isinstance(node.get("missing_left"), bool)
                    and all(
                        isinstance(node.get(k), int) and 0 < node[k] < len(tree)
                        for k in ("left", "right")
                    )
                ):
                    raise ValueError(
                        "a split names a feature, a threshold (or the categories going left, "
                        "for a categorical feature) and two children"
                    )
        known = {f.name for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


def _split_ok(node: dict[str, Any], vocabulary: list[str] | None) -> bool:
    """A numeric split has a finite threshold; a categorical one lists known categories."""
    if vocabulary is None:
        return _finite(node.get("threshold")) and "categories_left" not in node
    left = node.get("categories_left")
    return (
        "threshold" not in node
        and isinstance(left, list)
        and all(isinstance(c, str) and c in vocabulary for c in left)
    )


PropensityModel = LogisticModel | TreesModel


def read_model(text: str) -> PropensityModel:
    """A model file of either kind."""
    kind = json.loads(text).get("model")
    if kind == "gradient_boosting":
        return TreesModel.from_json(text)
    return LogisticModel.from_json(text)


def fitted_propensity(spec: Spec, name: str, spec_path: Path | None) -> PropensityModel:
    """The fitted model of a propensity metric, or ``CompileError`` saying how to make it."""
    path = model_path(spec, name, spec_path)
    if path is None or not path.is_file():
        where = f" ({path} not found)" if path is not None else ""
        raise CompileError(
            f"metric '{name}' is a propensity without a fitted model{where}: run "
            "`semseg fit SPEC` first, then compile again"
        )
    try:
        model = read_model(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as err:
        raise CompileError(
            f"{path}: cannot read the fitted model ({err}); run `semseg fit SPEC --force` to "
            "fit it again"
        ) from None
    predict = spec.metrics[name].predict
    assert predict is not None
    if (
        model.model != predict.model
        or model.features != predict.inputs
        or model.fingerprint != predict_fingerprint(spec, name)
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


def score_tree(
    model: PropensityModel,
    feature: Callable[[str], exp.Expression],
    nan_free: frozenset[str] = frozenset(),
) -> exp.Expression:
    """The score as SQL (module docstring); ``feature(name)`` is a feature's value;
    ``nan_free`` names features that cannot be NaN (integers, rounded metrics), which trees
    then read without the NaN test (most of a node's text)."""
    if isinstance(model, TreesModel):
        # z once (the trees are most of the SQL): 1 / (1 + EXP(-z)), scipy's expit, which
        # cannot overflow while |z| stays below EXP_SAFE; a model whose leaves could sum
        # beyond it is refused rather than written
        reach = abs(model.baseline) + sum(
            max(abs(n["leaf"]) for n in tree if "leaf" in n) for tree in model.trees
        )
        if reach >= EXP_SAFE:
            raise CompileError(
                f"metric '{model.metric}': its trees' leaves can sum to {reach:.0f}, beyond "
                f"{EXP_SAFE:.0f}, where EXP overflows on some engines (PostgreSQL raises); fit "
                "fewer or shallower trees, or a lower learning_rate"
            )
        one = number(1)
        return exp.Div(
            this=one,
            expression=paren(
                exp.Add(
                    this=one.copy(),
                    expression=exp.Exp(
                        this=exp.Neg(this=paren(_boosted(model, feature, nan_free)))
                    ),
                )
            ),
        )
    z: exp.Expression = _double(model.intercept)
    for name, mean, scale, coef in zip(
        model.features, model.means, model.scales, model.coefficients, strict=True
    ):
        scaled = exp.Div(
            this=paren(exp.Sub(this=to_double(feature(name)), expression=_double(mean))),
            expression=_double(scale),
        )
        z = exp.Add(this=z, expression=exp.Mul(this=_double(coef), expression=paren(scaled)))
    return _logistic(z)


def _boosted(
    model: TreesModel, feature: Callable[[str], exp.Expression], nan_free: frozenset[str]
) -> exp.Expression:
    """baseline + each tree's leaf value, added in tree order (scikit-learn's order). A
    feature is read as a DOUBLE with NaN as NULL (``not_nan``): missing either way, routed
    where the fit sent missing values."""
    values = [
        feature(f)
        if f in model.categories
        else to_double(feature(f))
        if f in nan_free
        else not_nan(to_double(feature(f)))
        for f in model.features
    ]

    def node(tree: list[dict[str, Any]], i: int) -> exp.Expression:
        at = tree[i]
        if "leaf" in at:
            return _double(at["leaf"])
        x = values[at["feature"]]
        if "categories_left" in at:
            return _category_split(at, model.categories[model.features[at["feature"]]], x, tree)
        goes_left: exp.Expression = exp.LTE(this=x.copy(), expression=_double(at["threshold"]))
        if at["missing_left"]:  # else a missing x compares NULL, so it goes right
            goes_left = exp.Or(
                this=exp.Is(this=x.copy(), expression=exp.Null()), expression=goes_left
            )
        return case([(goes_left, node(tree, at["left"]))], node(tree, at["right"]))

    def _category_split(
        at: dict[str, Any], vocabulary: list[str], x: exp.Expression, tree: list[dict[str, Any]]
    ) -> exp.Expression:
        """A category listed goes left, another known one right, NULL and an unknown one
        where missing values go: the side missing values do not take is the IN test, so NULL
        (IN gives NULL) and every unlisted text fall to the ELSE."""
        left = set(at["categories_left"])
        if at["missing_left"]:
            tested, inside, outside = [c for c in vocabulary if c not in left], "right", "left"
        else:
            tested, inside, outside = [c for c in vocabulary if c in left], "left", "right"
        if not tested:
            return node(tree, at[outside])
        member = exp.In(this=x.copy(), expressions=[literal(c) for c in tested])
        return case([(member, node(tree, at[inside]))], node(tree, at[outside]))

    total: exp.Expression = _double(model.baseline)
    for tree in model.trees:
        total = exp.Add(this=total, expression=node(tree, 0))
    return total


def _logistic(z: exp.Expression) -> exp.Expression:
    """1 / (1 + EXP(-z)), written without an EXP of a large number."""
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
