"""The assignment rule as plain SQL (the seed's "PREDICT" step, on any engine).

The coordinates of the scaled space are computed once per row: ``(x - mean) / std`` for
numerics, ``CASE WHEN city = 'x' THEN w ELSE 0.0 END`` for one-hot categories (w =
fit.category_weight; categories outside the vocabulary, and NULL, are all-zero). The
prototypes are a relation (``VALUES``: number, cluster, radius squared, centre), joined to
every row that has all its numeric features and passes ``cluster.where``; the squared
Euclidean distance of each pair is ``(z - c) * (z - c) + ...`` (no POWER, so it is portable).
A row gets the cluster of the nearest prototype whose radius holds it (any prototype with
``assign_noise: nearest``), the lowest-numbered one on a tie (prototypes are numbered in the
model's order), and -1 when no prototype takes it; the nearest distance and the prototype at
it are decided in one evaluation of the row (a window, not a join back on equal distances).
The text is linear in the prototypes (one row of numbers each) and in the features (one
distance expression), and the query has no expression per prototype for an engine to analyse.
Plain Python only: the compiler uses this module.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlglot import exp

from semseg.compile.cluster_model import Box, FittedModel, load_model, model_path_for
from semseg.compile.portable import nearest
from semseg.errors import CompileError
from semseg.spec.graph import cluster_fingerprint
from semseg.spec.model import Cluster, Spec
from semseg.spec.names import (
    HELPER_SEPARATOR,
    coordinate_column,
    distance_column,
    nearest_column,
    prototype_columns,
)
from semseg.sql import (
    all_of,
    any_of,
    case,
    coalesce,
    column,
    ident,
    is_null,
    literal,
    not_null,
    number,
    paren,
    table,
    to_double,
)


def _num(value: float) -> exp.Expression:
    """The float as a plain decimal literal: the shortest text that reads back as the same
    double (``repr``), without an exponent, since not every dialect reads ``1e-20``."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return paren(number(text)) if text.startswith("-") else number(text)


def _double(value: float) -> exp.Expression:
    """The float as an approximate-number literal (``-8.658993277e-1``, ``2.5e0``): the SQL
    standard's literal of a double, read as DOUBLE by every target (Float64, FLOAT, REAL...;
    PostgreSQL reads it as an exact numeric and converts it to the same double), so that no
    engine types a column of them as a DECIMAL (DuckDB unifies plain decimal literals into
    one). ``repr``: the shortest text that reads back as the same double."""
    text = repr(float(value))
    text = text if "e" in text else f"{text}e0"
    if text.startswith("-"):  # (Literal.number would re-read the text as a float)
        return exp.Neg(this=exp.Literal(this=text[1:], is_string=False))
    return exp.Literal(this=text, is_string=False)


def coordinate_sql(model: FittedModel, i: int) -> exp.Expression:
    metric, category = model.dimensions[i]
    if category is None:
        mean, std = model.means[i], model.stds[i]
        centred = paren(exp.Sub(this=to_double(column(metric)), expression=_num(mean)))
        return exp.Div(this=centred, expression=_num(std))
    weight = _num(model.fit.get("category_weight", 1.0))
    hit = exp.EQ(this=column(metric), expression=literal(category))
    return case([(hit, weight)], number("0.0"))


def prototypes_query(model: FittedModel, name: str) -> exp.Select:
    """The prototypes as a relation: one row each, numbered in the model's order, with its
    cluster id, its radius squared and its centre, each number written as ``_double``."""
    number_col, cluster_col, radius_col, centre_cols = prototype_columns(
        name, len(model.dimensions)
    )
    rows = [
        exp.Tuple(
            expressions=[
                number(p),
                number(proto.cluster),
                _double(proto.radius**2),
                *(_double(c) for c in proto.centre),
            ]
        )
        for p, proto in enumerate(model.prototypes)
    ]
    names = [number_col, cluster_col, radius_col, *centre_cols]
    values = exp.Values(
        expressions=rows,
        alias=exp.TableAlias(
            this=ident(f"{name}{HELPER_SEPARATOR}p"), columns=[ident(n) for n in names]
        ),
    )
    return exp.select(*(column(n) for n in names)).from_(values)


def distance_sql(model: FittedModel, name: str) -> exp.Expression:
    """Squared distance of a row to a prototype of the relation: ``(z - c) * (z - c) + ...``
    over the coordinates in order (no POWER, so that every engine computes it the same way)."""
    _, _, _, centre_cols = prototype_columns(name, len(model.dimensions))
    total: exp.Expression | None = None
    for i, c in enumerate(centre_cols):
        z = column(coordinate_column(name, i))
        diff = paren(exp.Sub(this=z, expression=column(c)))
        term = exp.Mul(this=diff, expression=diff.copy())
        total = term if total is None else exp.Add(this=total, expression=term)
    assert total is not None  # a model has at least one dimension
    return total


def pairs_query(
    model: FittedModel,
    name: str,
    ctes: tuple[str, str, str, str],
    coordinates: str,
    keys: tuple[str, ...],
    where: exp.Expression | None,
) -> exp.Subquery:
    """Every row that has all its numeric features and passes ``where``, paired with every
    prototype: key, prototype number, radius squared and squared distance (a subquery named
    ``ctes[1]``)."""
    protos, pairs = ctes[0], ctes[1]
    number_col, _, radius_col, _ = prototype_columns(name, len(model.dimensions))
    eligible: list[exp.Expression] = [not_null(column(f)) for f in model.features]
    if where is not None:
        eligible.append(paren(where))
    every = (
        exp.select(
            *(column(k, coordinates) for k in keys),
            column(number_col),
            column(radius_col),
            exp.alias_(distance_sql(model, name), distance_column(name)),
        )
        .from_(table(coordinates))
        .join(table(protos), join_type="cross")
        .where(all_of(*eligible))
    )
    return exp.Subquery(this=every, alias=exp.TableAlias(this=ident(pairs)))


def assignment_queries(
    model: FittedModel,
    name: str,
    ctes: tuple[str, str, str, str],
    coordinates: str,
    keys: tuple[str, ...],
    where: exp.Expression | None,
    anywhere: bool = False,
) -> list[tuple[str, exp.Select]]:
    """The CTEs that give each row its prototype: (name, query) for the prototypes and the
    assigned names of ``ctes`` = (prototypes, pairs, nearest, assigned); pairs names the
    subquery the assignment reads.

    Every row that has all its numeric features and passes ``where`` is paired with every
    prototype (a cross join: the text grows with the prototypes' numbers, not with an
    expression per prototype); the pairs whose radius holds the row (every pair with
    ``anywhere``) may take it. The row's nearest distance is the smallest of those, and its
    prototype the lowest-numbered one at exactly that distance (the tie rule of
    ``cluster.fit.assign``): ``nearest(number, distance)`` in one GROUP BY, which each
    target writes as its own aggregate (``Target.nearest_of``: a MIN over a struct, tuple or
    array) or as a window MIN over the row's pairs and the lowest prototype at it.

    **One evaluation decides** (issue 21): the pairs are read once. Until then the nearest
    distance was a GROUP BY joined back to a second reading of the pairs on ``distance =
    nearest``, which ClickHouse, BigQuery, Trino and Spark evaluate apart with float sums that
    differ in the last bits: on ClickHouse 26-31% of the rows matched no pair and became -1.
    """
    protos, _, _, assigned = ctes
    number_col, _, radius_col, _ = prototype_columns(name, len(model.dimensions))
    distance, nearest_col = distance_column(name), nearest_column(name)
    source = pairs_query(model, name, ctes, coordinates, keys, where)
    assigned_query = (
        exp.select(
            *(column(k) for k in keys),
            exp.alias_(nearest(column(number_col), column(distance)), number_col),
            exp.alias_(exp.Min(this=column(distance)), nearest_col),
        )
        .from_(source)
        .group_by(*(column(k) for k in keys))
    )
    if not anywhere:  # only the pairs whose radius holds the row
        assigned_query = assigned_query.where(
            exp.LTE(this=column(distance), expression=column(radius_col))
        )
    return [(protos, prototypes_query(model, name)), (assigned, assigned_query)]


def assignment_join(
    model: FittedModel,
    name: str,
    ctes: tuple[str, str, str, str],
    coordinates: str,
    keys: tuple[str, ...],
) -> list[tuple[exp.Table, exp.Expression]]:
    """(table, ON condition) of the LEFT JOINs that bring a row its prototype and cluster;
    a row is its ``keys`` (a history's: the key and the as-of date)."""
    protos, _, _, assigned = ctes
    number_col = prototype_columns(name, len(model.dimensions))[0]
    return [
        (
            table(assigned),
            all_of(
                *(exp.EQ(this=column(k, assigned), expression=column(k, coordinates)) for k in keys)
            ),
        ),
        (
            table(protos),
            exp.EQ(this=column(number_col, protos), expression=column(number_col, assigned)),
        ),
    ]


def _box_sql(box: Box) -> exp.Expression:
    """A row is in ``box``: each bound a comparison of the feature's double with a double
    literal; a category by equality, the categories it is not as ``IS NULL OR NOT IN``."""
    conds: list[exp.Expression] = []
    for f, low in box.above.items():
        conds.append(exp.GT(this=to_double(column(f)), expression=_double(low)))
    for f, high in box.upto.items():
        conds.append(exp.LTE(this=to_double(column(f)), expression=_double(high)))
    for m, c in box.equal.items():
        conds.append(exp.EQ(this=column(m), expression=literal(c)))
    for m, cs in box.unequal.items():
        outside = exp.Not(this=exp.In(this=column(m), expressions=[literal(c) for c in cs]))
        conds.append(paren(any_of(is_null(column(m)), outside)))
    return all_of(*conds) if conds else exp.true()


def box_label_sql(model: FittedModel, where: exp.Expression | None) -> exp.Expression:
    """The boxes rule (``cluster.boxes``) as one CASE: the cluster of the box holding the
    row, -1 for none and where ``where`` does not hold. Every box bounds every numeric
    feature, so NULL, NaN and infinities are in none. One WHEN per box and at most two
    levels of CASE whatever the tree's depth (SQL Server allows ten): the text grows with
    the boxes."""
    minus_one = exp.Neg(this=number(1))
    found: exp.Expression = minus_one
    if model.boxes:
        found = case([(_box_sql(b), number(b.cluster)) for b in model.boxes], minus_one.copy())
        if where is not None:
            found = case([(paren(where), found)], minus_one)
    return exp.cast(found, exp.DataType.build("int"))


def label_sql(model: FittedModel, name: str, ctes: tuple[str, str, str, str]) -> exp.Expression:
    """Cluster id (INTEGER) from the joined prototype: -1 for a row no prototype took (a NULL
    feature, ``where`` not TRUE, outside every radius) and for every row of a model with no
    clusters."""
    minus_one = exp.Neg(this=number(1))
    if not model.prototypes:
        return exp.cast(minus_one, exp.DataType.build("int"))
    cluster_col = prototype_columns(name, len(model.dimensions))[1]
    found = coalesce(column(cluster_col, ctes[0]), minus_one)
    return exp.cast(found, exp.DataType.build("int"))


def distance_output_sql(
    model: FittedModel, name: str, ctes: tuple[str, str, str, str]
) -> exp.Expression:
    """``assign_noise: nearest``: the Euclidean distance (scaled space) to the prototype that
    gave the row its cluster; NULL where the label is -1."""
    if not model.prototypes:
        return exp.cast(exp.Null(), exp.DataType.build("double"))
    return exp.Sqrt(this=column(nearest_column(name), ctes[3]))


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
    if not model.fingerprint:
        raise CompileError(
            f"{path}: fitted by an earlier semseg (model format {model.format}), which did not "
            "record what the model was fitted for, so compile cannot check it still fits the "
            "spec; run `semseg cluster SPEC --force` to fit it again (clusters that persist "
            "keep their ids and names)"
        )
    if model.rule not in cluster.rules:
        raise CompileError(
            f"{path}: the model assigns rows by {model.rule}, and segmentation '{name}' asks "
            f"for {' or '.join(cluster.rules)} (cluster.rule, algorithm or assign_noise "
            "changed); run `semseg cluster SPEC --force` to fit it again (clusters that persist "
            "keep their ids)"
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
