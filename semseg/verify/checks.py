"""The checks verify runs: each is set-based SQL over the model's result, returning offenders.

Every check is written here, independently of ``plan``/the template, so that a bug in the
compiler cannot hide itself by being repeated in its own proof.
"""

from __future__ import annotations

from typing import Any

from semseg.compile.distinct import distinct_only
from semseg.data import source_rows
from semseg.spec import SpecFile
from semseg.spec.graph import metric_precision, segment_labels
from semseg.spec.model import EDGE_AGGS, TOP_AGGS, Agg, Spec
from semseg.spec.params import MARKER
from semseg.sql import name_sql as q
from semseg.sql import snippet_sql, sql_literal
from semseg.sql import table_sql as t
from semseg.verify.cluster_checks import cluster_checks
from semseg.verify.proof import RESULT, CheckSQL, same
from semseg.verify.time_checks import (
    population_since,
    time_aggregate,
    up_to_as_of,
    window_filter,
)

# Names verify gives its own CTEs and columns live in the helper namespace (``__``), which no
# spec name can take: a metric called ``k`` or a table called ``expected`` cannot collide.
KEY = "semseg__key"
# Aggregates that are 0, not NULL, over no rows (an entity with source rows but none kept).
COUNTS = (Agg.count, Agg.count_distinct, Agg.active_days, Agg.active_weeks, Agg.active_months)
VALUE = "semseg__value"


def _expected(metric: str) -> str:
    return f"{metric}__expected"


def _counted_rows(spec: Spec, source: str) -> str:
    """``FROM table WHERE ...``: the rows of a source that count (a key, the source's where,
    dated up to the as-of date)."""
    src = spec.sources[source]
    key = q(src.key or spec.entity.key)
    where = f" AND ({snippet_sql(src.where, spec.dialect)})" if src.where else ""
    in_time = up_to_as_of(spec, source)
    where += f" AND {in_time}" if in_time else ""
    return f"FROM {source_rows(spec, source)} WHERE {key} IS NOT NULL{where}"


def _expected_keys(spec: Spec) -> str:
    """Keys that must each appear once: the population (the union of its tables' keys), or
    every key with source rows that count (a key, the source's where, up to the as-of date)."""
    parts = []
    for _, pop in spec.populations:
        key = q(pop.key or spec.entity.key)
        where = f" AND ({snippet_sql(pop.where, spec.dialect)})" if pop.where else ""
        if pop.time:  # a member from its own (UTC) date on; NULL: at every date
            since = population_since(spec, pop.time)
            where += f" AND ({q(pop.time)} IS NULL OR {since})"
        parts.append(f"SELECT {key} AS {KEY} FROM {t(pop.table)} WHERE {key} IS NOT NULL{where}")
    if parts:
        return " UNION ".join(parts)
    for name, src in spec.sources.items():
        parts.append(f"SELECT {q(src.key or spec.entity.key)} AS {KEY} {_counted_rows(spec, name)}")
    return " UNION ".join(parts)


def grain_check(spec: Spec) -> CheckSQL:
    key = q(spec.entity.key)
    return CheckSQL(
        "grain",
        f"one row per {spec.entity.key} and no NULL {spec.entity.key}",
        f"SELECT CAST({key} AS VARCHAR), 'appears ' || COUNT(*) || ' times' FROM {RESULT} "
        f"GROUP BY {key} HAVING COUNT(*) > 1 "
        f"UNION ALL SELECT NULL, 'NULL key' FROM {RESULT} WHERE {key} IS NULL",
    )


def population_check(spec: Spec, rows: str = RESULT) -> CheckSQL:
    """The model's keys (of ``rows``: the result, or with ``verify --sample`` its rows of the
    sampled keys) are the population's (of the tables as read: sampled with them)."""
    key = q(spec.entity.key)
    what = "population member" if spec.population else "key with source rows"
    return CheckSQL(
        "population",
        f"every {what} present, and no other key",
        f"WITH semseg__expected AS ({_expected_keys(spec)}), "
        f"semseg__got AS (SELECT {key} AS {KEY} FROM {rows} WHERE {key} IS NOT NULL) "
        f"SELECT CAST(COALESCE(e.{KEY}, g.{KEY}) AS VARCHAR), CASE WHEN g.{KEY} IS NULL THEN "
        f"'missing from the model' ELSE 'not expected (not in the population)' END "
        f"FROM semseg__expected e FULL JOIN semseg__got g ON e.{KEY} = g.{KEY} "
        f"WHERE e.{KEY} IS NULL OR g.{KEY} IS NULL",
    )


def attribute_sources(spec: Spec) -> list[str]:
    """Sources that entity attributes are read from: one row per key is a claim to prove."""
    return sorted({m.source for m in spec.metrics.values() if m.agg is Agg.attribute and m.source})


def _one_row_per_key(name: str, why: str, key: str, table: str, rows: str) -> CheckSQL:
    """Each key of ``rows`` (``FROM ... WHERE key IS NOT NULL ...``) at most once; a
    duplicated key is an offender, with its number of rows in ``table``."""
    return CheckSQL(
        name,
        f"one row per {key} in {table} ({why})",
        f"SELECT CAST({q(key)} AS VARCHAR), COUNT(*) || ' rows in {table}' "
        f"{rows} GROUP BY {q(key)} HAVING COUNT(*) > 1",
    )


def attribute_grain_check(spec: Spec, source: str) -> CheckSQL:
    """At most one row per key in a source of entity attributes (after its ``where``)."""
    src = spec.sources[source]
    why = "its attributes are values, not aggregates"
    key = src.key or spec.entity.key
    return _one_row_per_key(f"grain:{source}", why, key, src.table, _counted_rows(spec, source))


def key_checks(spec: Spec) -> list[tuple[str, CheckSQL]]:
    """Keys the model relies on being unique, as (a file-name stem for dbt, check): each source
    of entity attributes (one row per entity key, after its ``where``) and each joined
    dimension (one row per its key: a duplicate would count an event twice)."""
    out = [
        (f"{s}__one_row_per_key", attribute_grain_check(spec, s)) for s in attribute_sources(spec)
    ]
    for sname, src in spec.sources.items():
        for j, join in src.joins.items():
            why = f"join '{j}' of source '{sname}' is many-to-one"
            rows = f"FROM {t(join.table)} WHERE {q(join.key)} IS NOT NULL"
            check = _one_row_per_key(f"unique:{sname}.{j}", why, join.key, join.table, rows)
            out.append((f"{sname}__{j}__unique_key", check))
    return out


def label_check(spec: Spec, name: str) -> CheckSQL:
    key, label, order = q(spec.entity.key), q(name), q(spec.order_column(name))
    pairs = ", ".join(
        f"({sql_literal(lbl)}, {i})" for i, lbl in enumerate(segment_labels(spec, name), 1)
    )
    return CheckSQL(
        f"labels:{name}",
        f"every row has one declared {name} label and its {spec.order_column(name)}",
        f"SELECT CAST({key} AS VARCHAR), 'label ' || COALESCE('''' || {label} || '''', 'NULL') "
        f"|| ' with order ' || COALESCE(CAST({order} AS VARCHAR), 'NULL') FROM {RESULT} "
        f"WHERE ({label}, {order}) NOT IN (SELECT * FROM (VALUES {pairs}) AS d(l, o)) "
        f"OR {label} IS NULL OR {order} IS NULL",
    )


def _holds(cond: str) -> str:
    """1 when ``cond`` is TRUE, else 0 (FALSE or NULL): an integer, so the proofs also run on
    engines without boolean values (SQL Server) when dbt ships them as tests."""
    return f"CASE WHEN ({cond}) THEN 1 ELSE 0 END"


def _segment_conditions(spec: Spec, name: str) -> list[tuple[str | None, str]]:
    """(condition, label) per segment as verify reads the spec (None: the else segment).

    Written here, not taken from the compiler: a wrong bound in the compiler must not be
    repeated in its proof. A band holds ``min <= by``, ``by <= max`` and ``by < below``.
    """
    s = spec.segmentations[name]
    out: list[tuple[str | None, str]] = []
    for i, seg in enumerate(s.segments or []):
        if seg.else_:
            out.append((None, seg.label))
        elif seg.when is not None:
            out.append((snippet_sql(seg.when, spec.dialect), seg.label))
        else:
            by = q(s.by or "")

            def bound(key: str, i: int = i, seg: Any = seg) -> str:  # dbt: a marker
                parameter = spec.parameter_at("segmentations", name, "segments", i, key)
                return q(MARKER + parameter) if parameter else sql_literal(getattr(seg, key))

            bounds = [
                f"{bound('min')} <= {by}" if seg.min is not None else "",
                f"{by} <= {bound('max')}" if seg.max is not None else "",
                f"{by} < {bound('below')}" if seg.below is not None else "",
            ]
            out.append((" AND ".join(b for b in bounds if b), seg.label))
    return out


def rule_check(spec: Spec, name: str) -> CheckSQL:
    """Each row satisfies its own segment's condition and no earlier one (first match wins)."""
    key, column = q(spec.entity.key), q(name)
    conds = _segment_conditions(spec, name)
    right = []
    for i, (cond, label) in enumerate(conds, 1):
        earlier = [f"{_holds(c)} = 0" for c, _ in conds[: i - 1] if c is not None]
        own = [f"{_holds(cond)} = 1"] if cond is not None else []
        right.append(f"({' AND '.join([f'{column} = {sql_literal(label)}', *own, *earlier])})")
    return CheckSQL(
        f"rules:{name}",
        f"each row satisfies its own {name} rule and no earlier one",
        f"SELECT CAST({key} AS VARCHAR) AS offender, 'labelled ' || COALESCE({column}, 'NULL') "
        f"|| ' but its rule does not hold or an earlier one does' AS problem FROM {RESULT} "
        f"WHERE {column} IS NULL OR NOT ({' OR '.join(right)})",
    )


def tier_check(spec: Spec, name: str) -> CheckSQL:
    """Tiers recomputed from value counts (no RANK): floor(better * n / total) + 1."""
    s = spec.segmentations[name]
    key, order, by, n = (
        q(spec.entity.key),
        q(spec.order_column(name)),
        q(s.by or ""),
        s.quantiles or 0,
    )
    direction = "DESC" if s.direction == "desc" else "ASC"
    return CheckSQL(
        f"tiers:{name}",
        f"{name} tiers equal floor(better_rows * {n} / rows) + 1, ties together",
        f"WITH v AS (SELECT {by} AS x, COUNT(*) AS c FROM {RESULT} WHERE {by} IS NOT NULL "
        f"GROUP BY {by}), b AS (SELECT x, SUM(c) OVER (ORDER BY x {direction} ROWS BETWEEN "
        f"UNBOUNDED PRECEDING AND CURRENT ROW) - c AS better, SUM(c) OVER () AS total FROM v), "
        f"e AS (SELECT r.{key} AS k, r.{order} AS got, CASE WHEN r.{by} IS NULL THEN {n + 1} "
        f"ELSE CAST((b.better * {n}) // b.total + 1 AS BIGINT) END AS expected FROM {RESULT} r "
        f"LEFT JOIN b ON r.{by} = b.x) "
        f"SELECT CAST(k AS VARCHAR) AS offender, 'tier ' || COALESCE(CAST(got AS VARCHAR), "
        f"'NULL') || ', expected ' || CAST(expected AS VARCHAR) AS problem FROM e "
        f"WHERE got IS NULL OR got <> expected",  # expected is never NULL
    )


def _mismatches(key: str, metric: str, expected: str, what: str, rows: str, numeric: bool) -> str:
    """Offenders ``(key, 'metric: model X, <what> Y')`` of ``rows`` where the two differ.

    ``key`` and ``expected`` are SQL; ``metric`` is the metric's name.
    """
    column = q(metric)
    return (
        f"SELECT CAST({key} AS VARCHAR), {sql_literal(f'{metric}: model ')} || "
        f"COALESCE(CAST({column} AS VARCHAR), 'NULL') || {sql_literal(f', {what} ')} || "
        f"COALESCE(CAST({expected} AS VARCHAR), 'NULL') FROM {rows} "
        f"WHERE NOT {same(column, expected, numeric)}"
    )


def _tolerant(spec: Spec, metric: str, numeric: dict[str, bool]) -> bool:
    """Compare within 1e-9 (floats), or exactly: a rounded metric must be equal to the digit."""
    return numeric.get(metric, True) and metric_precision(spec, metric) is None


def _independent_aggregate(spec: Spec, name: str) -> str:
    """The metric's aggregate over rows already filtered by its ``where`` (no CASE inside)."""
    m = spec.metrics[name]
    if m.kind == "raw":
        return snippet_sql(m.sql or "", spec.dialect)
    timed = time_aggregate(spec, name)
    if timed is not None:
        return timed
    if m.agg is Agg.attribute:  # one row per key (its own check): any of them is the value
        return f"ANY_VALUE({snippet_sql(m.expr or '', spec.dialect)})"
    value = snippet_sql(m.expr, spec.dialect) if m.expr else "*"
    if m.agg is Agg.count_distinct:
        return f"COUNT(DISTINCT {value})"
    if m.agg is Agg.avg:
        return f"AVG(CAST({value} AS DOUBLE))"
    assert m.agg is not None
    if m.agg is Agg.sum and metric_precision(spec, name) is not None:
        # Another summation (Kahan-Babuska, not the engine's order): the rounded value must
        # not depend on the order in which the amounts were added.
        return f"FSUM({value})"
    return f"{m.agg.value.upper()}({value})"


def _own_filter(spec: Spec, metric: str) -> str | None:
    """The rows only this metric reads: its ``where`` and its window (None: all the source's)."""
    m = spec.metrics[metric]
    parts = [f"({snippet_sql(m.where, spec.dialect)})"] if m.where else []
    window = window_filter(spec, metric) if m.source else None
    if window:
        parts.append(f"({window})")
    return " AND ".join(parts) or None


def _round_half_up(value: str, places: int | None) -> str:
    """The spec's rounding of a metric (docs/spec.md: half up to ``places`` decimals)."""
    if places is None:
        return value
    return f"(FLOOR(CAST({value} AS DOUBLE) * {10**places} + 0.5) / {10**places})"


def _nan_missing(value: str, places: int | None) -> str:
    """A rounded metric is never NaN (docs/spec.md): NaN is missing, before ``fill``."""
    if places is None:
        return value
    return f"(CASE WHEN isnan(CAST({value} AS DOUBLE)) THEN NULL ELSE {value} END)"


def metric_checks(spec: Spec, numeric: dict[str, bool], rows: str = RESULT) -> list[CheckSQL]:
    """Metrics recomputed straight from each source, a shape of their own.

    The compiler aggregates with CASE inside the aggregate (and splits conditional distinct
    counts off); here every metric with a ``where`` is aggregated on its own over exactly the
    rows its ``where`` keeps, the others together, and all are joined once to the result
    (``rows``: with ``verify --sample``, its rows of the sampled keys, whose source rows are
    the ones read). Derived metrics are checked on every row of the result.
    """
    key = q(spec.entity.key)
    checks = []
    for sname, src in spec.sources.items():
        names = [m for m, metric in spec.metrics.items() if metric.source == sname]
        if not names:
            continue
        src_key = q(src.key or spec.entity.key)
        base = _counted_rows(spec, sname)
        own = {m: f for m in names if (f := _own_filter(spec, m)) is not None}
        # Raw metrics made only of conditional distinct counts are aggregated on their own,
        # over the rows their conditions keep (all rows would hash every NULL too).
        narrowed = {
            m: d
            for m in names
            if spec.metrics[m].kind == "raw"
            and (d := distinct_only(_independent_aggregate(spec, m))) is not None
        }
        edges = [m for m in names if spec.metrics[m].agg in EDGE_AGGS]
        tops = [m for m in names if spec.metrics[m].agg in TOP_AGGS]
        together = [
            m for m in names if m not in own and m not in narrowed and m not in edges + tops
        ]
        ctes = [
            f"semseg__all AS (SELECT {src_key} AS {KEY}"
            + "".join(f", {_independent_aggregate(spec, m)} AS {q(m)}" for m in together)
            + f" {base} GROUP BY {src_key})"
        ]
        joins = [f"LEFT JOIN semseg__all a ON a.{KEY} = r.{key}"]
        expected_of: dict[str, str] = {}
        for i, m in enumerate(names):
            metric = spec.metrics[m]
            only = f"semseg__only_{i}"
            if m in tops:  # totals per category, ranked by ROW_NUMBER; the share by a window
                category = f"({snippet_sql(metric.expr or '', spec.dialect)})"
                measure = (
                    f"round(FSUM({snippet_sql(metric.measure, spec.dialect)}), 6)"
                    if metric.measure
                    else "COUNT(*)"
                )
                filters = f" AND {own[m]}" if m in own else ""
                pick = (  # the first total over the positive ones, NULL unless positive
                    f"CASE WHEN {VALUE}_total > 0 THEN {VALUE}_total / SUM(GREATEST("
                    f"{VALUE}_total, 0)) OVER (PARTITION BY {KEY}) END"
                    if metric.agg is Agg.top_share
                    else VALUE
                )
                ctes.append(
                    f"{only} AS (SELECT {KEY}, {VALUE} FROM (SELECT {KEY}, {pick} AS {VALUE}, "
                    f"ROW_NUMBER() OVER (PARTITION BY {KEY} ORDER BY {VALUE}_total DESC, "
                    f"{VALUE} ASC) AS semseg__n FROM (SELECT {src_key} AS {KEY}, {category} AS "
                    f"{VALUE}, {measure} AS {VALUE}_total {base}{filters} AND {category} IS NOT "
                    f"NULL GROUP BY {src_key}, {category})) WHERE semseg__n = 1)"
                )
                joins.append(f"LEFT JOIN {only} ON {only}.{KEY} = r.{key}")
                value = f"{only}.{VALUE}"
            elif m in edges:  # the row of the earliest/latest event, by ROW_NUMBER
                value_sql = f"({snippet_sql(metric.expr or '', spec.dialect)})"
                time = q(src.time or "")
                order = "ASC" if metric.agg is Agg.first else "DESC"
                filters = f" AND {own[m]}" if m in own else ""
                ctes.append(
                    f"{only} AS (SELECT {KEY}, {VALUE} FROM (SELECT {src_key} AS {KEY}, "
                    f"{value_sql} AS {VALUE}, ROW_NUMBER() OVER (PARTITION BY {src_key} "
                    f"ORDER BY {time} {order}, {value_sql} ASC) AS semseg__n {base}{filters} "
                    f"AND {value_sql} IS NOT NULL) WHERE semseg__n = 1)"
                )
                joins.append(f"LEFT JOIN {only} ON {only}.{KEY} = r.{key}")
                value = f"{only}.{VALUE}"
            elif m in own:
                ctes.append(
                    f"{only} AS (SELECT {src_key} AS {KEY}, {_independent_aggregate(spec, m)} "
                    f"AS {VALUE} {base} AND {own[m]} GROUP BY {src_key})"
                )
                joins.append(f"LEFT JOIN {only} ON {only}.{KEY} = r.{key}")
                counts = metric.agg in COUNTS
                # Source rows but none kept by the where: a count is 0, other aggregates NULL.
                kept = f"COALESCE({only}.{VALUE}, 0)" if counts else f"{only}.{VALUE}"
                value = f"CASE WHEN a.{KEY} IS NULL THEN NULL ELSE {kept} END"
            elif m in narrowed:
                keep = " OR ".join(f"({c})" for c in narrowed[m].conditions)
                ctes.append(
                    f"{only} AS (SELECT {src_key} AS {KEY}, {_independent_aggregate(spec, m)} "
                    f"AS {VALUE} {base} AND ({keep}) GROUP BY {src_key})"
                )
                joins.append(f"LEFT JOIN {only} ON {only}.{KEY} = r.{key}")
                empty = narrowed[m].empty
                value = (
                    f"CASE WHEN a.{KEY} IS NULL THEN NULL "
                    f"ELSE COALESCE({only}.{VALUE}, {empty}) END"
                )
            else:
                value = f"a.{q(m)}"
            places = metric_precision(spec, m)
            value = _nan_missing(value, places)
            filled = (
                value if metric.fill is None else f"COALESCE({value}, {sql_literal(metric.fill)})"
            )
            expected_of[m] = _round_half_up(filled, places)
        columns = "".join(
            f", r.{q(m)} AS {q(m)}, {expected_of[m]} AS {_expected(m)}" for m in names
        )
        ctes.append(
            f"semseg__joined AS MATERIALIZED (SELECT r.{key} AS {KEY}{columns} FROM {rows} r "
            + " ".join(joins)
            + ")"
        )
        diffs = [
            _mismatches(
                KEY, m, _expected(m), "source", "semseg__joined", _tolerant(spec, m, numeric)
            )
            for m in names
        ]
        checks.append(
            CheckSQL(
                f"metrics:{sname}",
                f"{', '.join(names)} recomputed from {src.table} directly",
                "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(diffs),
            )
        )
    derived = [  # a propensity is proven by verify.predict_checks, outside SQL
        m for m, metric in spec.metrics.items() if metric.kind == "derived" and not metric.predict
    ]
    if derived:
        diffs = []
        for m in derived:
            metric = spec.metrics[m]
            places = metric_precision(spec, m)
            expr = _nan_missing(snippet_sql(metric.expr or "", spec.dialect), places)
            expected = _round_half_up(
                expr if metric.fill is None else f"COALESCE({expr}, {sql_literal(metric.fill)})",
                places,
            )
            diffs.append(
                _mismatches(key, m, expected, "expected", RESULT, _tolerant(spec, m, numeric))
            )
        checks.append(
            CheckSQL(
                "metrics:derived",
                f"{', '.join(derived)} equal their expressions",
                " UNION ALL ".join(diffs),
            )
        )
    return checks


def segmentation_checks(spec_file: SpecFile) -> list[CheckSQL]:
    """Labels/order consistency plus rule or tier proofs, per segmentation.

    Cluster segmentations get ``cluster_checks.cluster_checks`` (cluster ids and order,
    ``cluster.where``) instead; their agreement with a local refit is checked in ``verify``.
    """
    spec = spec_file.spec
    out = []
    for name, s in spec.segmentations.items():
        if s.kind == "cluster":
            out += cluster_checks(spec_file, name)
            continue
        out.append(label_check(spec, name))
        out.append(tier_check(spec, name) if s.kind == "quantiles" else rule_check(spec, name))
    return out
