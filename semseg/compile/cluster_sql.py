"""The assignment rule as plain SQL (the seed's "PREDICT" step, on any engine).

The coordinates of the scaled space are computed once per row: ``(x - mean) / std`` for
numerics, ``CASE WHEN city = 'x' THEN w ELSE 0.0 END`` for one-hot categories (w =
fit.category_weight; categories outside the vocabulary, and NULL, are all-zero). For each
prototype p the squared Euclidean distance is written out as ``(z - c) * (z - c) + ...`` (no
POWER, so it is portable). A row gets the cluster of the nearest prototype whose radius
contains it (ties → the lowest prototype, and prototypes are ordered by cluster id), and -1
when it is outside every radius, fails ``cluster.where``, or has a NULL numeric feature. The
text is linear in the number of prototypes: their distances, the nearest of them, one
comparison each.
Plain Python only: the compiler uses this module.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from semseg.compile.cluster_model import FittedModel, load_model, model_path_for
from semseg.compile.portable import nearest
from semseg.errors import CompileError
from semseg.spec.graph import cluster_fingerprint
from semseg.spec.model import Cluster, Spec
from semseg.spec.names import coordinate_column, distance_column, nearest_column
from semseg.sql import (
    all_of,
    any_of,
    case,
    column,
    is_null,
    literal,
    not_null,
    number,
    paren,
    to_double,
)


def _num(value: float) -> exp.Expression:
    """The float as a plain decimal literal: the shortest text that reads back as the same
    double (``repr``), without an exponent, since not every dialect reads ``1e-20``."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return paren(number(text)) if text.startswith("-") else number(text)


def coordinate_sql(model: FittedModel, i: int) -> exp.Expression:
    metric, category = model.dimensions[i]
    if category is None:
        mean, std = model.means[i], model.stds[i]
        centred = paren(exp.Sub(this=to_double(column(metric)), expression=_num(mean)))
        return exp.Div(this=centred, expression=_num(std))
    weight = _num(model.fit.get("category_weight", 1.0))
    hit = exp.EQ(this=column(metric), expression=literal(category))
    return case([(hit, weight)], number("0.0"))


def distance_sql(model: FittedModel, name: str, p: int) -> exp.Expression:
    """Squared distance to prototype p as a sum of products of the coordinate columns."""
    total: exp.Expression | None = None
    for i, c in enumerate(model.prototypes[p].centre):
        z = column(coordinate_column(name, i))
        # z - 0, z - (-c) and z + c are the same IEEE operations: write the shortest. The
        # second factor is written -c + z: IEEE addition commutes, so it is the same number,
        # and no factor repeats the other (DuckDB's common-subexpression pass took 40 s to
        # plan 300 prototypes x 20 features of (z - c) * (z - c); 1 s this way).
        if c == 0:
            term: exp.Expression = exp.Mul(this=z, expression=z.copy())
        else:
            diff = (
                exp.Add(this=z, expression=_num(-c))
                if c < 0
                else exp.Sub(this=z, expression=_num(c))
            )
            swapped = exp.Add(this=_num(-c), expression=z.copy())
            term = exp.Mul(this=paren(diff), expression=paren(swapped))
        total = term if total is None else exp.Add(this=total, expression=term)
    assert total is not None  # a model has at least one dimension
    return total


def _incomplete(model: FittedModel) -> exp.Expression:
    """A NULL numeric feature: such a row gets -1 (the spec requires >= 1 feature)."""
    return any_of(*(is_null(column(f)) for f in model.features))


def _outside(model: FittedModel) -> exp.Expression:
    """A squared distance larger than every prototype's radius squared: 'no radius holds it'."""
    return _num(2 * max((p.radius**2 for p in model.prototypes), default=0.0) + 1)


def _inside(model: FittedModel, name: str, p: int) -> exp.Expression:
    radius = _num(model.prototypes[p].radius ** 2)
    return exp.LTE(this=column(distance_column(name, p)), expression=radius)


def nearest_sql(model: FittedModel, name: str, anywhere: bool = False) -> exp.Expression:
    """The squared distance to the nearest prototype whose radius holds the row, or
    ``_outside`` when none does: the smallest of ``CASE WHEN d_p <= r_p² THEN d_p ELSE
    outside END`` (``portable.nearest``, text linear in the number of prototypes).
    ``anywhere`` (``assign_noise: nearest``): the nearest prototype, whatever the radii (a
    NULL distance, from a NULL feature, counts as outside: the label is -1 there anyway)."""
    held = [
        case(
            [
                (
                    not_null(column(distance_column(name, p)))
                    if anywhere
                    else _inside(model, name, p),
                    column(distance_column(name, p)),
                )
            ],
            _outside(model),
        )
        for p in range(len(model.prototypes))
    ]
    return nearest(held) if held else _outside(model)


def distance_output_sql(
    model: FittedModel, name: str, where: exp.Expression | None
) -> exp.Expression:
    """``assign_noise: nearest``: the Euclidean distance (scaled space) to the prototype that
    gave the row its cluster; NULL where the label is -1 (a NULL feature, ``where`` not
    TRUE)."""
    value: exp.Expression = exp.Sqrt(this=column(nearest_column(name)))
    value = case([(where, value)]) if where is not None else value
    return case([(_incomplete(model), exp.Null())], value)


def label_sql(
    model: FittedModel, name: str, where: exp.Expression | None, anywhere: bool = False
) -> exp.Expression:
    """Cluster id (INTEGER): the cluster of the nearest prototype whose radius holds the row.

    -1 when no radius holds it. The nearest distance (``nearest_sql``) is one of the
    prototypes' own values, so the first prototype that holds the row at exactly that
    distance is the nearest, the lowest one on a tie: one comparison per prototype, where the
    pairwise form grew with the square of their number (63 KB for 9 clusters).
    """
    nearest_d = column(nearest_column(name))
    minus_one = exp.Neg(this=number(1))
    at_nearest = [
        exp.EQ(this=column(distance_column(name, p)), expression=nearest_d.copy())
        for p in range(len(model.prototypes))
    ]
    branches: list[tuple[exp.Expression, exp.Expression]] = [
        (at if anywhere else all_of(_inside(model, name, p), at), number(proto.cluster))
        for p, (at, proto) in enumerate(zip(at_nearest, model.prototypes, strict=True))
    ]
    found = case(branches, minus_one.copy()) if branches else minus_one.copy()
    # A NULL feature or a ``where`` that is not TRUE gives -1. ``where`` is only ever a WHEN
    # condition (never COALESCE'd as a value), which T-SQL, without booleans, requires.
    label = case([(where, found)], minus_one.copy()) if where is not None else found
    return exp.cast(
        case([(_incomplete(model), minus_one.copy())], label), exp.DataType.build("int")
    )


def order_sql(label: str, k: int) -> exp.Expression:
    """Sort order from the label column: cluster j → j + 1, noise (-1) last (k + 1); ``k`` is
    one more than the largest id (ids need not be 0..k-1 once a refit has retired some)."""
    shifted = paren(exp.Add(this=column(label), expression=number(k + 1)))
    return exp.Add(this=exp.Mod(this=shifted, expression=number(k + 1)), expression=number(1))


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
    except (ValueError, TypeError, KeyError, AttributeError) as err:
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
    if model.fingerprint != cluster_fingerprint(spec, name):
        raise CompileError(
            f"{path}: the spec changed since this model was fitted (a feature's definition, "
            f"its source or filter, or the settings of '{name}'), so the model would assign "
            "rows it was not fitted for; run `semseg cluster SPEC --force` to fit it again"
        )
    ids = sorted(c.id for c in model.clusters)
    unknown = sorted(set(cluster.names) - {-1, *ids})
    if unknown:
        listed = ", ".join(map(str, ids)) or "none"
        raise CompileError(
            f"segmentation '{name}': cluster.names names cluster "
            f"{', '.join(map(str, unknown))}, which the fitted model {path} does not have "
            f"(its clusters: {listed}); a refit retires the ids of clusters that vanish or "
            "merge: remove or move those names"
        )
    return model


def name_sql(model: FittedModel, label: str, cluster: Cluster) -> exp.Expression:
    """The cluster name of the label column: ``cluster.names``, else the default name."""
    branches = [
        (exp.EQ(this=column(label), expression=number(c.id)), literal(cluster.name_of(c.id)))
        for c in sorted(model.clusters, key=lambda c: c.id)
    ]
    return case(branches, literal(cluster.name_of(-1)))
