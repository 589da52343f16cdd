"""The assignment rule as plain SQL (the seed's "PREDICT" step, on any engine).

For each cluster j the squared Euclidean distance in the scaled space is written out as
arithmetic, ``((x - mean) / std - c) * ((x - mean) / std - c)`` (no POWER, so it is portable);
one-hot coordinates are ``CASE WHEN city = 'x' THEN w ELSE 0.0 END`` (w = fit.category_weight;
categories outside the vocabulary, and NULL, are all-zero). A row gets the nearest cluster
whose radius contains it (ties → lowest id), and -1 when it is outside every radius, fails
``cluster.where``, or has a NULL numeric feature. Plain Python only: the compiler uses this module.
"""

from __future__ import annotations

from pathlib import Path

from semseg.cluster.model_file import FittedModel, load_model, model_path_for
from semseg.errors import CompileError
from semseg.model import Spec


def _num(value: float) -> str:
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = f"{float(value):.17f}".rstrip("0").rstrip(".") or "0"
    return f"({text})" if text.startswith("-") else text


def distance_column(name: str, j: int) -> str:
    """Helper column holding the squared distance of a row to cluster j."""
    return f"{name}__d{j}"


def coordinate_sql(model: FittedModel, i: int) -> str:
    metric, category = model.dimensions[i]
    if category is None:
        mean, std = model.means[i], model.stds[i]
        return f"(CAST({metric} AS DOUBLE) - {_num(mean)}) / {_num(std)}"
    literal = "'" + category.replace("'", "''") + "'"
    weight = _num(model.fit.get("category_weight", 1.0))
    return f"CASE WHEN {metric} = {literal} THEN {weight} ELSE 0.0 END"


def distance_sql(model: FittedModel, j: int) -> str:
    """Squared distance to cluster j as a sum of products."""
    terms = []
    for i, c in enumerate(model.clusters[j].centre):
        diff = f"({coordinate_sql(model, i)} - {_num(c)})"
        terms.append(f"{diff} * {diff}")
    return " + ".join(terms)


def label_sql(model: FittedModel, name: str, where: str | None) -> str:
    """Cluster id (INTEGER): nearest cluster whose radius holds the row, else -1."""
    k = len(model.clusters)
    d = [distance_column(name, j) for j in range(k)]
    inside = [f"{d[j]} <= {_num(model.clusters[j].radius ** 2)}" for j in range(k)]
    guards = [f"{f} IS NULL" for f in model.features]
    if where:
        guards.append(f"NOT COALESCE(({where}), FALSE)")
    branches = [f"WHEN {' OR '.join(guards)} THEN -1"] if guards else []
    for j in range(k):
        conds = [inside[j]] + [f"(NOT {inside[m]} OR {d[j]} <= {d[m]})" for m in range(j + 1, k)]
        branches.append(f"WHEN {' AND '.join(conds)} THEN {j}")
    return f"CAST(CASE {' '.join(branches)} ELSE -1 END AS INTEGER)"


def order_sql(label: str, k: int) -> str:
    """Sort order from the label expression: cluster j → j + 1, noise (-1) last (k + 1)."""
    return f"({label} + {k + 1}) % {k + 1} + 1"


def fitted_model(spec: Spec, name: str, spec_path: Path | None) -> FittedModel:
    """The fitted model of a cluster segmentation, or ``CompileError`` saying how to make it."""
    cluster = spec.segmentations[name].cluster
    assert cluster is not None
    path = model_path_for(spec, name, spec_path)
    if path is None or not path.is_file():
        where = f" ({path} not found)" if path is not None else ""
        raise CompileError(
            f"segmentation '{name}' is a cluster segmentation without a fitted model{where}: "
            "run `semseg cluster SPEC` first, then compile again"
        )
    model = load_model(path)
    if model.features != list(cluster.features) or list(model.categorical) != list(
        cluster.categorical
    ):
        raise CompileError(
            f"{path}: the fitted model's features differ from segmentation '{name}' in the "
            "spec; run `semseg cluster SPEC` again"
        )
    return model
