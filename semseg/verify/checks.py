"""The checks verify runs: each is set-based SQL over the model's result, returning offenders.

Every check is written here, independently of ``plan``/the template, so that a bug in the
compiler cannot hide itself by being repeated in its own proof.
"""

from __future__ import annotations

from semseg.compile.distinct import distinct_only
from semseg.spec import SpecFile
from semseg.spec.graph import segment_labels
from semseg.spec.model import Agg, Spec
from semseg.sql import snippet_sql, sql_literal
from semseg.verify.cluster_checks import cluster_checks
from semseg.verify.proof import RESULT, CheckSQL


def _expected_keys(spec: Spec) -> str:
    """Keys that must each appear once: the population, or every key with source rows."""
    if spec.population is not None:
        key = spec.population.key or spec.entity.key
        where = (
            f" AND ({snippet_sql(spec.population.where, spec.dialect)})"
            if spec.population.where
            else ""
        )
        table = spec.population.table
        return f"SELECT DISTINCT {key} AS k FROM {table} WHERE {key} IS NOT NULL{where}"
    parts = []
    for src in spec.sources.values():
        key = src.key or spec.entity.key
        where = f" AND ({snippet_sql(src.where, spec.dialect)})" if src.where else ""
        parts.append(f"SELECT {key} AS k FROM {src.table} WHERE {key} IS NOT NULL{where}")
    return " UNION ".join(parts)


def grain_check(spec: Spec) -> CheckSQL:
    key = spec.entity.key
    return CheckSQL(
        "grain",
        f"one row per {key} and no NULL {key}",
        f"SELECT CAST({key} AS VARCHAR), 'appears ' || COUNT(*) || ' times' FROM {RESULT} "
        f"GROUP BY {key} HAVING COUNT(*) > 1 "
        f"UNION ALL SELECT NULL, 'NULL key' FROM {RESULT} WHERE {key} IS NULL",
    )


def population_check(spec: Spec) -> CheckSQL:
    key = spec.entity.key
    what = "population member" if spec.population else "key with source rows"
    return CheckSQL(
        "population",
        f"every {what} present, and no other key",
        f"WITH expected AS ({_expected_keys(spec)}), "
        f"got AS (SELECT {key} AS k FROM {RESULT} WHERE {key} IS NOT NULL) "
        f"SELECT CAST(COALESCE(e.k, g.k) AS VARCHAR), CASE WHEN g.k IS NULL THEN "
        f"'missing from the model' ELSE 'not expected (not in the population)' END "
        f"FROM expected e FULL JOIN got g ON e.k = g.k WHERE e.k IS NULL OR g.k IS NULL",
    )


def label_check(spec: Spec, name: str) -> CheckSQL:
    key, order = spec.entity.key, spec.order_column(name)
    pairs = ", ".join(
        f"({sql_literal(lbl)}, {i})" for i, lbl in enumerate(segment_labels(spec, name), 1)
    )
    return CheckSQL(
        f"labels:{name}",
        f"every row has one declared {name} label and its {order}",
        f"SELECT CAST({key} AS VARCHAR), 'label ' || COALESCE('''' || {name} || '''', 'NULL') "
        f"|| ' with order ' || COALESCE(CAST({order} AS VARCHAR), 'NULL') FROM {RESULT} "
        f"WHERE ({name}, {order}) NOT IN (SELECT * FROM (VALUES {pairs}) AS d(l, o)) "
        f"OR {name} IS NULL OR {order} IS NULL",
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
    for seg in s.segments or []:
        if seg.else_:
            out.append((None, seg.label))
        elif seg.when is not None:
            out.append((snippet_sql(seg.when, spec.dialect), seg.label))
        else:
            by = s.by or ""
            bounds = [
                f"{sql_literal(seg.min)} <= {by}" if seg.min is not None else "",
                f"{by} <= {sql_literal(seg.max)}" if seg.max is not None else "",
                f"{by} < {sql_literal(seg.below)}" if seg.below is not None else "",
            ]
            out.append((" AND ".join(b for b in bounds if b), seg.label))
    return out


def rule_check(spec: Spec, name: str) -> CheckSQL:
    """Each row satisfies its own segment's condition and no earlier one (first match wins)."""
    key = spec.entity.key
    conds = _segment_conditions(spec, name)
    right = []
    for i, (cond, label) in enumerate(conds, 1):
        earlier = [f"{_holds(c)} = 0" for c, _ in conds[: i - 1] if c is not None]
        own = [f"{_holds(cond)} = 1"] if cond is not None else []
        right.append(f"({' AND '.join([f'{name} = {sql_literal(label)}', *own, *earlier])})")
    return CheckSQL(
        f"rules:{name}",
        f"each row satisfies its own {name} rule and no earlier one",
        f"SELECT CAST({key} AS VARCHAR) AS offender, 'labelled ' || COALESCE({name}, 'NULL') || "
        f"' but its rule does not hold or an earlier one does' AS problem FROM {RESULT} "
        f"WHERE {name} IS NULL OR NOT ({' OR '.join(right)})",
    )


def tier_check(spec: Spec, name: str) -> CheckSQL:
    """Tiers recomputed from value counts (no RANK): floor(better * n / total) + 1."""
    s = spec.segmentations[name]
    key, order, by, n = spec.entity.key, spec.order_column(name), s.by, s.quantiles or 0
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
        f"'NULL') || ', expected ' || expected AS problem FROM e "
        f"WHERE got IS NULL OR got <> expected",  # expected is never NULL
    )


def _same(a: str, b: str, numeric: bool) -> str:
    if not numeric:
        return f"({a} IS NOT DISTINCT FROM {b})"
    return (
        f"(({a} IS NULL AND {b} IS NULL) OR ABS(CAST({a} AS DOUBLE) - CAST({b} AS DOUBLE)) "
        f"<= 1e-9 * GREATEST(1, ABS(CAST({b} AS DOUBLE))))"
    )


def _mismatches(key: str, metric: str, expected: str, what: str, rows: str, numeric: bool) -> str:
    """Offenders ``(key, 'metric: model X, <what> Y')`` of ``rows`` where the two differ."""
    return (
        f"SELECT CAST({key} AS VARCHAR), '{metric}: model ' || "
        f"COALESCE(CAST({metric} AS VARCHAR), 'NULL') || ', {what} ' || "
        f"COALESCE(CAST({expected} AS VARCHAR), 'NULL') FROM {rows} "
        f"WHERE NOT {_same(metric, expected, numeric)}"
    )


def _independent_aggregate(spec: Spec, name: str) -> str:
    """The metric's aggregate over rows already filtered by its ``where`` (no CASE inside)."""
    m = spec.metrics[name]
    if m.kind == "raw":
        return snippet_sql(m.sql or "", spec.dialect)
    value = snippet_sql(m.expr, spec.dialect) if m.expr else "*"
    if m.agg is Agg.count_distinct:
        return f"COUNT(DISTINCT {value})"
    if m.agg is Agg.avg:
        return f"AVG(CAST({value} AS DOUBLE))"
    assert m.agg is not None
    return f"{m.agg.value.upper()}({value})"


def metric_checks(spec: Spec, numeric: dict[str, bool]) -> list[CheckSQL]:
    """Metrics recomputed straight from each source, a shape of their own.

    The compiler aggregates with CASE inside the aggregate (and splits conditional distinct
    counts off); here every metric with a ``where`` is aggregated on its own over exactly the
    rows its ``where`` keeps, the others together, and all are joined once to the result.
    """
    key = spec.entity.key
    checks = []
    for sname, src in spec.sources.items():
        names = [m for m, metric in spec.metrics.items() if metric.source == sname]
        if not names:
            continue
        src_key = src.key or key
        base = f"FROM {src.table} WHERE {src_key} IS NOT NULL"
        if src.where:
            base += f" AND ({snippet_sql(src.where, spec.dialect)})"
        # Raw metrics made only of conditional distinct counts are aggregated on their own,
        # over the rows their conditions keep (all rows would hash every NULL too).
        narrowed = {
            m: d
            for m in names
            if spec.metrics[m].kind == "raw"
            and (d := distinct_only(_independent_aggregate(spec, m))) is not None
        }
        together = [m for m in names if not spec.metrics[m].where and m not in narrowed]
        ctes = [
            f"a AS (SELECT {src_key} AS k"
            + "".join(f", {_independent_aggregate(spec, m)} AS {m}" for m in together)
            + f" {base} GROUP BY {src_key})"
        ]
        joins = [f"LEFT JOIN a ON a.k = r.{key}"]
        expected_of: dict[str, str] = {}
        for i, m in enumerate(names):
            metric = spec.metrics[m]
            if metric.where:
                where = snippet_sql(metric.where, spec.dialect)
                ctes.append(
                    f"f{i} AS (SELECT {src_key} AS k, {_independent_aggregate(spec, m)} "
                    f"AS v {base} AND ({where}) GROUP BY {src_key})"
                )
                joins.append(f"LEFT JOIN f{i} ON f{i}.k = r.{key}")
                counts = metric.agg in (Agg.count, Agg.count_distinct)
                # Source rows but none kept by the where: a count is 0, other aggregates NULL.
                kept = f"COALESCE(f{i}.v, 0)" if counts else f"f{i}.v"
                value = f"CASE WHEN a.k IS NULL THEN NULL ELSE {kept} END"
            elif m in narrowed:
                keep = " OR ".join(f"({c})" for c in narrowed[m].conditions)
                ctes.append(
                    f"f{i} AS (SELECT {src_key} AS k, {_independent_aggregate(spec, m)} "
                    f"AS v {base} AND ({keep}) GROUP BY {src_key})"
                )
                joins.append(f"LEFT JOIN f{i} ON f{i}.k = r.{key}")
                empty = narrowed[m].empty
                value = f"CASE WHEN a.k IS NULL THEN NULL ELSE COALESCE(f{i}.v, {empty}) END"
            else:
                value = f"a.{m}"
            expected_of[m] = (
                value if metric.fill is None else (f"COALESCE({value}, {sql_literal(metric.fill)})")
            )
        columns = "".join(f", r.{m} AS {m}, {expected_of[m]} AS e_{m}" for m in names)
        ctes.append(
            f"j AS MATERIALIZED (SELECT r.{key} AS k{columns} FROM {RESULT} r "
            + " ".join(joins).replace("{key}", key)
            + ")"
        )
        diffs = [_mismatches("k", m, f"e_{m}", "source", "j", numeric.get(m, True)) for m in names]
        checks.append(
            CheckSQL(
                f"metrics:{sname}",
                f"{', '.join(names)} recomputed from {src.table} directly",
                "WITH " + ", ".join(ctes) + " " + " UNION ALL ".join(diffs),
            )
        )
    derived = [m for m, metric in spec.metrics.items() if metric.kind == "derived"]
    if derived:
        diffs = []
        for m in derived:
            metric = spec.metrics[m]
            expr = snippet_sql(metric.expr or "", spec.dialect)
            expected = (
                expr if metric.fill is None else f"COALESCE({expr}, {sql_literal(metric.fill)})"
            )
            diffs.append(_mismatches(key, m, expected, "expected", RESULT, numeric.get(m, True)))
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
