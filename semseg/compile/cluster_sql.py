"""The assignment rule as plain SQL (the seed's "PREDICT" step, on any engine).

The coordinates of the scaled space are computed once per row: ``(x - mean) / std`` for
numerics, ``CASE WHEN city = 'x' THEN w ELSE 0.0 END`` for one-hot categories (w =
fit.category_weight; categories outside the vocabulary, and NULL, are all-zero). For each
prototype p the squared Euclidean distance is written out as ``(z - c) * (z - c) + ...`` (no
POWER, so it is portable). A row gets the cluster of the nearest prototype whose radius
contains it (ties → the lowest prototype, and prototypes are ordered by cluster id), and -1
when it is outside every radius, fails ``cluster.where``, or has a NULL numeric feature.
Plain Python only: the compiler uses this module.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from semseg.compile.cluster_model import FittedModel, load_model, model_path_for
from semseg.errors import CompileError
from semseg.spec.model import Spec
from semseg.spec.names import coordinate_column, distance_column


def _num(value: float) -> str:
    """The float as a plain decimal literal: the shortest text that reads back as the same
    double (``repr``), without an exponent, since not every dialect reads ``1e-20``."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return f"({text})" if text.startswith("-") else text


def coordinate_sql(model: FittedModel, i: int) -> str:
    metric, category = model.dimensions[i]
    if category is None:
        mean, std = model.means[i], model.stds[i]
        return f"(CAST({metric} AS DOUBLE) - {_num(mean)}) / {_num(std)}"
    literal = "'" + category.replace("'", "''") + "'"
    weight = _num(model.fit.get("category_weight", 1.0))
    return f"CASE WHEN {metric} = {literal} THEN {weight} ELSE 0.0 END"


def distance_sql(model: FittedModel, name: str, p: int) -> str:
    """Squared distance to prototype p as a sum of products of the coordinate columns."""
    terms = []
    for i, c in enumerate(model.prototypes[p].centre):
        z = coordinate_column(name, i)
        # z - 0, z - (-c) and z + c are the same IEEE operations: write the shortest.
        diff = z if c == 0 else f"({z} + {_num(-c)})" if c < 0 else f"({z} - {_num(c)})"
        terms.append(f"{diff} * {diff}")
    return " + ".join(terms)


def label_sql(model: FittedModel, name: str, where: str | None) -> str:
    """Cluster id (INTEGER): the cluster of the nearest prototype whose radius holds the row.

    -1 when no radius holds it. The first WHEN that holds wins, so prototype p needs only to be
    compared with the later ones.
    """
    protos = model.prototypes
    d = [distance_column(name, p) for p in range(len(protos))]
    inside = [f"{d[p]} <= {_num(proto.radius**2)}" for p, proto in enumerate(protos)]
    branches = []
    for p, proto in enumerate(protos):
        conds = [inside[p]] + [
            f"(NOT {inside[q]} OR {d[p]} <= {d[q]})"
            for q in range(p + 1, len(protos))
            if protos[q].cluster != proto.cluster  # a nearer one of the same cluster: same id
        ]
        branches.append(f"WHEN {' AND '.join(conds)} THEN {proto.cluster}")
    nearest = f"CASE {' '.join(branches)} ELSE -1 END" if branches else "-1"
    # A NULL feature or a ``where`` that is not TRUE gives -1. ``where`` is only ever a WHEN
    # condition (never COALESCE'd as a value), which T-SQL, without booleans, requires.
    guard = " OR ".join(f"{f} IS NULL" for f in model.features)  # the spec requires >= 1
    label = f"CASE WHEN {where} THEN {nearest} ELSE -1 END" if where else nearest
    return f"CAST(CASE WHEN {guard} THEN -1 ELSE {label} END AS INTEGER)"


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
    try:
        model = load_model(path)
    except (ValueError, TypeError, KeyError) as err:
        raise CompileError(
            f"{path}: cannot read the fitted model ({err}); run `semseg cluster SPEC --force` "
            "to fit it again"
        ) from None
    if model.features != list(cluster.features) or list(model.categorical) != list(
        cluster.categorical
    ):
        raise CompileError(
            f"{path}: the fitted model's features differ from segmentation '{name}' in the "
            "spec; run `semseg cluster SPEC` again"
        )
    return model
