"""Index tables as SQL (any dialect) and as data (computed in DuckDB).

For segment s and a numeric metric x: ``index = mean_s(x) / baseline(x) - 1``; for a categorical
metric and one of its top categories v: ``index = share_s(v) / baseline_share(v) - 1``.
``baseline="population"``: the mean/share over every profiled row; ``baseline="segment_mean"``:
the unweighted mean of the segment means/shares (as the seed's own analysis scripts do; for
cluster segmentations the noise segment -1 is left out of that mean). Rows profiled: the whole
model, or for a cluster segmentation the rows passing ``cluster.where``. Categorical metrics
(text) are profiled over their declared ``categories`` (in that order) or their
``TOP_CATEGORIES`` most frequent values (ties by value), the rest as Other. Means and shares
are over the known values; the share of rows without a value is a column of its own
(``missing``). Each cell is tested against its baseline (``significance``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import sqlglot
from sqlglot import exp

from semseg.cluster.features import model_space, pull
from semseg.compile import canonical_query, compile_spec, target_sql
from semseg.compile.cluster_sql import fitted_model
from semseg.compile.dialects import get_target
from semseg.compile.predict_model import fitted_propensity
from semseg.data import Session, open_session
from semseg.engine import Connection
from semseg.errors import CompileError, UsageError
from semseg.spec import SpecFile
from semseg.spec.model import Agg, Metric
from semseg.sql import (
    CANONICAL,
    SnippetProblem,
    column_names,
    parse_snippet,
    snippet_sql,
    sql_literal,
)
from semseg.sql import name_sql as q

BASELINES = ("population", "segment_mean")
# The index query's own columns, in the helper namespace no spec name can take.
SEG, SEG_ORDER = "semseg__segment", "semseg__segment_order"
SEGS = f"{SEG}, {SEG_ORDER}"
TOP_CATEGORIES = 10


def _inputs(spec_file: SpecFile, segmentation: str) -> tuple[list[str], list[str]]:
    """(numeric-or-unknown inputs, categorical inputs) a segmentation is defined by."""
    spec = spec_file.spec
    s = spec.segmentations[segmentation]
    if s.cluster is not None:
        return list(s.cluster.features), list(s.cluster.categorical)
    if s.by is not None:
        return [s.by], []
    found: dict[str, None] = {}
    for seg in s.segments or []:
        tree = parse_snippet(seg.when, spec.dialect) if seg.when else None
        if tree is not None and not isinstance(tree, SnippetProblem):
            for c in column_names(tree):
                if c in spec.metrics:
                    found.setdefault(c, None)
    text = [m for m in found if _declared_kind(spec.metrics[m]) == "text"]  # e.g. a top
    return [m for m in found if m not in text], text


@dataclass(frozen=True)
class Plan:
    segmentation: str
    numeric: list[str]
    categorical: list[str]
    inputs: list[str]
    overlays: list[str]
    where: str | None
    noise: bool


def _plan(
    spec_file: SpecFile,
    segmentation: str,
    overlays: tuple[str, ...] | list[str],
    categorical_overlays: set[str] | None = None,
) -> Plan:
    spec = spec_file.spec
    if segmentation not in spec.segmentations:
        raise UsageError(
            f"{spec_file.path}: no segmentation '{segmentation}'; choose one of: "
            f"{', '.join(spec.segmentations)}"
        )
    s = spec.segmentations[segmentation]
    numeric, categorical = _inputs(spec_file, segmentation)
    extra = list(s.cluster.overlays) if s.cluster is not None else []
    for o in overlays:
        if o not in spec.metrics:
            raise UsageError(
                f"--overlay {o}: not a metric of {spec.name}; metrics are: "
                f"{', '.join(spec.metrics)}"
            )
        if o not in extra:
            extra.append(o)
    extra = [o for o in extra if o not in numeric and o not in categorical]
    cats = categorical_overlays or set()
    where = None
    if s.cluster is not None and s.cluster.where:
        where = snippet_sql(s.cluster.where, spec.dialect)
    return Plan(
        segmentation,
        numeric + [o for o in extra if o not in cats],
        categorical + [o for o in extra if o in cats],
        numeric + categorical,
        extra,
        where,
        s.cluster is not None,
    )


OTHER_ORDER, MISSING_ORDER = 1_000_000, 1_000_001  # after every category, in this order


def _categories(spec_file: SpecFile, metric: str, cte: str) -> str:
    """``cte``: the categories a text metric is shown by, with their display order: the ones
    the spec declares (ordinal order), else the ``TOP_CATEGORIES`` most frequent known values."""
    declared = spec_file.spec.metrics[metric].categories
    if declared:
        rows = " UNION ALL ".join(
            f"SELECT {sql_literal(c)} AS category, {i} AS category_order"
            for i, c in enumerate(declared, 1)
        )
        return f"{cte} AS ({rows})"
    text = f"CAST({q(metric)} AS VARCHAR)"
    return (
        f"{cte} AS (SELECT category, r AS category_order FROM (SELECT {text} AS category, "
        f"ROW_NUMBER() OVER (ORDER BY COUNT(*) DESC, {text}) AS r "
        f"FROM semseg__scoped WHERE {q(metric)} IS NOT NULL GROUP BY {text}) AS ranked "
        f"WHERE r <= {TOP_CATEGORIES})"
    )


def _canonical_sql(spec_file: SpecFile, plan: Plan, baseline: str, table: str) -> str:
    """The index query over the model (canonical): ``table`` holds the model's result (the
    session's table, or ``profile_sql``'s stand-in for the model's tree).

    One row per (segment, metric, category, kind). kind ``mean``: the mean of a numeric
    metric over its known values; ``share``: a category's share of the known values of a text
    metric; ``other``: the share of known values outside the categories shown; ``missing``:
    the share of rows where the metric is NULL. ``known`` is the number of values a mean or
    share is over, ``square`` the mean of the squared values (for the standard error);
    ``baseline`` the same statistic over every profiled row (or the mean of the segments')."""
    if baseline not in BASELINES:
        raise UsageError(f"unknown baseline '{baseline}'; use one of: {', '.join(BASELINES)}")
    spec = spec_file.spec
    model = f"SELECT * FROM {table}"
    seg, order = q(plan.segmentation), q(spec.order_column(plan.segmentation))
    cols = ", ".join(q(c) for c in dict.fromkeys([*plan.numeric, *plan.categorical]))
    where = f" WHERE {plan.where}" if plan.where else ""
    ctes = [
        f"semseg__model AS ({model})",
        f"semseg__scoped AS (SELECT {seg} AS {SEG}, {order} AS {SEG_ORDER}, {cols} "
        f"FROM semseg__model{where})",
        f"semseg__sizes AS (SELECT {SEGS}, COUNT(*) AS n FROM semseg__scoped GROUP BY {SEGS})",
    ]
    seg_parts, pop_parts = [], []

    def part(
        metric: str, category: str, kind: str, place: str, stats: str, rest: str, by: str = ""
    ) -> None:
        """One statistic per segment (``seg_parts``) and over every row (``pop_parts``);
        ``by``: more GROUP BY columns (a category's)."""
        head = f"{sql_literal(metric)} AS metric, {category} AS category, '{kind}' AS kind, "
        head += f"{place} AS category_order, {stats} {rest}"
        seg_parts.append(
            f"SELECT s.{SEG}, s.{SEG_ORDER}, {head} GROUP BY s.{SEG}, s.{SEG_ORDER}"
            + (f", {by}" if by else "")
        )
        pop_parts.append(f"SELECT {head}" + (f" GROUP BY {by}" if by else ""))

    no_category = "CAST(NULL AS VARCHAR)"
    # shares as doubles: 1.0 is a DECIMAL, whose AVG MySQL and Spark keep at a few places
    for m in plan.numeric:
        x = f"CAST(s.{q(m)} AS DOUBLE)"
        stats = f"AVG({x}) AS value, COUNT({x}) AS known, AVG({x} * {x}) AS square"
        part(m, no_category, "mean", "0", stats, "FROM semseg__scoped AS s")
    for i, m in enumerate(plan.categorical):
        top = f"semseg__top_{i}"
        ctes.append(_categories(spec_file, m, top))
        text = f"CAST(s.{q(m)} AS VARCHAR)"
        hit = f"AVG(CASE WHEN {text} = t.category THEN {ONE} ELSE {ZERO} END) AS value"
        part(
            m, "t.category", "share", "t.category_order",
            f"{hit}, COUNT(*) AS known, CAST(NULL AS DOUBLE) AS square",
            f"FROM semseg__scoped AS s CROSS JOIN {top} AS t WHERE s.{q(m)} IS NOT NULL",
            "t.category, t.category_order",
        )  # fmt: skip
        outside = f"AVG(CASE WHEN o.category IS NULL THEN {ONE} ELSE {ZERO} END) AS value"
        part(
            m, no_category, "other", str(OTHER_ORDER),
            f"{outside}, COUNT(*) AS known, CAST(NULL AS DOUBLE) AS square",
            f"FROM semseg__scoped AS s LEFT JOIN {top} AS o ON {text} = o.category "
            f"WHERE s.{q(m)} IS NOT NULL",
        )  # fmt: skip
    for m in dict.fromkeys([*plan.numeric, *plan.categorical]):
        unknown = f"AVG(CASE WHEN s.{q(m)} IS NULL THEN {ONE} ELSE {ZERO} END) AS value"
        part(
            m, no_category, "missing", str(MISSING_ORDER),
            f"{unknown}, COUNT(*) AS known, CAST(NULL AS DOUBLE) AS square",
            "FROM semseg__scoped AS s",
        )  # fmt: skip
    if not seg_parts:
        raise CompileError(f"segmentation '{plan.segmentation}' has nothing to profile")
    ctes.append(f"semseg__stats AS ({' UNION ALL '.join(seg_parts)})")
    if baseline == "population":
        ctes.append(f"semseg__base AS ({' UNION ALL '.join(pop_parts)})")
    else:
        skip = f" WHERE {SEG} <> -1" if plan.noise else ""
        ctes.append(
            "semseg__base AS (SELECT metric, category, kind, AVG(value) AS value "
            f"FROM semseg__stats{skip} GROUP BY metric, category, kind)"
        )
    # Other and missing only where there is something outside the categories / a NULL.
    return (
        f"WITH {', '.join(ctes)} "
        f"SELECT st.{SEG} AS segment, st.{SEG_ORDER} AS segment_order, z.n AS size, "
        "st.metric AS metric, st.category AS category, st.kind AS kind, "
        "st.category_order AS category_order, st.value AS value, st.known AS known, "
        "st.square AS square, "
        "b.value AS baseline, st.value / NULLIF(b.value, 0) - 1 AS index_value "
        "FROM semseg__stats AS st "
        f"JOIN semseg__sizes AS z ON z.{SEG} = st.{SEG} AND z.{SEG_ORDER} = st.{SEG_ORDER} "
        "JOIN semseg__base AS b ON b.metric = st.metric AND b.kind = st.kind "
        "AND COALESCE(b.category, '') = COALESCE(st.category, '') "
        "WHERE st.kind IN ('mean', 'share') OR b.value > 0 "
        "ORDER BY segment_order, segment, st.metric, st.category_order, st.category"
    )


def _declared_kind(metric: Metric) -> str | None:
    """'text' or 'number' when the spec says (or the aggregate implies) it, else None."""
    if metric.type == "text" or metric.agg is Agg.top:
        return "text"
    if metric.agg is Agg.top_share:
        return "number"
    if metric.type in ("integer", "number") or metric.agg in (
        Agg.count,
        Agg.count_distinct,
        Agg.sum,
        Agg.avg,
    ):
        return "number"
    text = metric.sql or (metric.expr if metric.kind == "derived" else None)
    tree = parse_snippet(text, "duckdb") if text else None
    arithmetic = (exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Neg, exp.Abs, exp.Ln, exp.Sqrt)
    if isinstance(tree, exp.Paren):
        tree = tree.this
    if isinstance(tree, (*arithmetic, exp.Count, exp.Sum, exp.Avg)):
        return "number"  # an arithmetic result, or a counting or summing raw aggregate
    return None


ONE, ZERO = "CAST(1 AS DOUBLE)", "CAST(0 AS DOUBLE)"
MODEL_TREE = "semseg__model_tree"  # profile_sql's stand-in for the model, replaced by its tree


def profile_sql(
    spec_file: SpecFile,
    segmentation: str,
    dialect: str = "duckdb",
    overlays: tuple[str, ...] | list[str] = (),
    baseline: str = "population",
    categorical: set[str] | None = None,
) -> str:
    """The index table as SQL for ``dialect``: one row per (segment, metric, category).

    Columns: segment, segment_order, size, metric, category (NULL for numeric metrics),
    value (segment mean or share), baseline, index_value (value / baseline - 1).
    ``categorical``: overlay metrics to profile by category share (cluster inputs listed in
    ``cluster.categorical`` always are).
    """
    target = get_target(dialect)
    if categorical is None:  # without data, the spec says which overlays are text
        categorical = set()
        first = _plan(spec_file, segmentation, overlays)
        for name in first.overlays:
            kind = _declared_kind(spec_file.spec.metrics[name])
            if kind is None:
                raise UsageError(
                    f"--overlay {name}: its type is not known without data (profile --sql runs "
                    f"nothing); declare `type: number` or `type: text` on metric '{name}'"
                )
            if kind == "text":
                categorical.add(name)
    plan = _plan(spec_file, segmentation, overlays, categorical)
    # The model and the index over it as one canonical tree, written for the target by the
    # one exit (issue 21: the profile carried the model as DuckDB text, re-parsed, and
    # skipped the target's rewrites and settings, so a LEFT JOIN miss was 0 on ClickHouse).
    # The model's CTEs go first in the one WITH (SQL Server takes no WITH inside a CTE).
    index = cast(
        exp.Select,
        sqlglot.parse_one(_canonical_sql(spec_file, plan, baseline, MODEL_TREE), read=CANONICAL),
    )
    model = cast(exp.Select, canonical_query(spec_file.spec, spec_file.path))
    own = model.args.get("with_")
    model.set("with_", None)  # a fresh tree of our own: its body is the semseg__model CTE
    outer = index.args["with_"]
    for cte in outer.expressions:
        if cte.alias == "semseg__model":
            cte.set("this", model)
    outer.set("expressions", [*(own.expressions if own else []), *outer.expressions])
    return target_sql(index, target) + "\n"


SMALL = 30  # values below which a mean or share is flagged as from a small segment
Z_CRITICAL = 1.959963984540054  # two-sided 5%
TEST = (
    "z-test of each segment's mean or share against the baseline, two-sided at 5% (normal "
    "approximation; standard error of a mean from the segment's own variance, of a share "
    f"from the baseline share; not corrected for the number of cells); fewer than {SMALL} "
    "values: small"
)


def significance(row: dict[str, Any]) -> tuple[float | None, str]:
    """(z, flag) of an index row: flag ``small`` under ``SMALL`` values, ``ns`` when the
    difference from the baseline is not significant (``TEST``), else ''."""
    n, value, base = row["known"] or 0, row["value"], row["baseline"]
    if value is None or base is None or n == 0:
        return None, "small"
    if row["kind"] == "mean":
        square = row["square"] if row["square"] is not None else value * value
        variance = max(square - value * value, 0.0) * n / (n - 1) if n > 1 else 0.0
        se = math.sqrt(variance / n)
    else:
        se = math.sqrt(max(base * (1 - base), 0.0) / n)
    diff = value - base
    z = (math.copysign(math.inf, diff) if diff else 0.0) if se == 0 else diff / se
    if n < SMALL:
        return z, "small"
    return z, "" if abs(z) >= Z_CRITICAL else "ns"


@dataclass(frozen=True)
class Column:
    """A column of the profile: a metric's mean, one category's share, Other or missing."""

    metric: str
    category: str | None
    kind: str  # mean | share | other | missing
    group: str  # input | overlay
    better: str | None  # higher | lower | None (the spec's metric.better)

    @property
    def head(self) -> str:
        if self.kind == "share":
            return f"{self.metric}={self.category}"
        return self.metric + {"other": "=Other", "missing": " missing"}.get(self.kind, "")

    @property
    def good(self) -> int:
        """+1 when a higher value is better, -1 when lower is, 0 when the spec does not say
        (a share or Other is 'more of this metric', the missing share is neither)."""
        if self.kind == "missing" or self.better is None:
            return 0
        return 1 if self.better == "higher" else -1


@dataclass
class Profile:
    """Index table as data, plus what the renderers need."""

    spec: str
    segmentation: str
    baseline: str
    inputs: list[str]
    overlays: list[str]
    segments: list[tuple[Any, int]]  # (label, size) in sort order
    rows: list[dict[str, Any]]
    population: int
    projection: dict[str, Any] = field(default_factory=dict)
    as_of: str = ""  # where the as-of date came from ('' without event time)
    names: dict[Any, str] = field(default_factory=dict)  # cluster id -> cluster.names' name
    better: dict[str, str] = field(default_factory=dict)  # metric -> higher | lower
    # the propensity the segmentation is by: its metric and the fit's validation (gains and
    # calibration on the later time split, from its model file); {} for any other
    propensity: dict[str, Any] = field(default_factory=dict)

    def title(self, segment: Any) -> str:
        """A segment as shown: its label, and a named cluster's name after its id."""
        name = self.names.get(segment)
        return f"{segment} {name}" if name else str(segment)

    def row(
        self, segment: Any, metric: str, category: str | None = None, kind: str | None = None
    ) -> dict[str, Any]:
        """The index row of a cell; ``kind`` defaults to mean (no category) or share."""
        kind = kind or ("mean" if category is None else "share")
        for r in self.rows:
            if (r["segment"], r["metric"], r["category"], r["kind"]) == (
                segment,
                metric,
                category,
                kind,
            ):
                return r
        raise KeyError((segment, metric, category, kind))

    def index(
        self, segment: Any, metric: str, category: str | None = None, kind: str | None = None
    ) -> float | None:
        return self.row(segment, metric, category, kind)["index_value"]

    def columns(self) -> list[Column]:
        """The profile's columns in display order: inputs then overlays, each metric's
        categories in their order, then Other, then missing."""
        seen: dict[tuple[str, str | None, str], str] = {}
        for group, names in (("input", self.inputs), ("overlay", self.overlays)):
            for m in names:
                for r in sorted(
                    (r for r in self.rows if r["metric"] == m),
                    key=lambda r: (r["category_order"], r["category"] or ""),
                ):
                    seen.setdefault((m, r["category"], r["kind"]), group)
        return [Column(m, c, k, g, self.better.get(m)) for (m, c, k), g in seen.items()]


_COUNTS = ("segment_order", "size", "known", "category_order")


def _index_row(row: dict[str, Any]) -> dict[str, Any]:
    """An index row as an engine hands it over, in the types DuckDB's has: names in lower
    case (Snowflake's are upper), counts as int, numbers as float (MySQL's AVG is a
    DECIMAL)."""
    out = {}
    for name, value in row.items():
        name = name.lower()
        if isinstance(value, Decimal):
            value = int(value) if name in _COUNTS else float(value)
        out[name] = value
    return out


def _text_metrics(session: Session, metrics: list[str], model_sql: str | None = None) -> set[str]:
    """The metrics whose model column is text (from ``model_sql``'s columns, or the session
    model's)."""
    relation = f"({model_sql})" if model_sql is not None else session.model()
    cur = session.con.execute(f"SELECT * FROM {relation} LIMIT 0")
    types = {d[0]: str(d[1]).upper() for d in cur.description}
    return {m for m in metrics if types.get(m, "") in ("VARCHAR", "STRING")}


def profile(
    spec_file: SpecFile,
    segmentation: str,
    data: Path | None = None,
    tables: dict[str, Path] | None = None,
    overlays: tuple[str, ...] | list[str] = (),
    baseline: str = "population",
    projection: bool = False,
    as_of: date | str | None = None,
    engine: Connection | None = None,
    sample: float | None = None,
) -> Profile:
    """Compute the index table in DuckDB; ``projection`` adds a 2-D PCA of clustered rows.
    ``engine``: the profile's SQL (the model and the index over it, ``profile_sql``) runs
    there and only the index rows come back; with ``sample``, the model runs there and its
    rows of the sampled keys come back, and the index is computed here from them. No event
    leaves the engine."""
    session = open_session(spec_file, data, tables, as_of, engine, sample, rows=engine is None)
    spec_file = session.spec_file  # its as-of date resolved for this data
    try:
        first = _plan(spec_file, segmentation, overlays)
        if engine is not None and sample is None:
            # the overlays' types from the DuckDB model's DESCRIBE over the (empty) tables
            cats = _text_metrics(session, first.overlays, compile_spec(spec_file, "duckdb"))
            sql = profile_sql(spec_file, segmentation, engine.dialect, overlays, baseline, cats)
            rows = [_index_row(r) for r in engine.arrow(sql).to_pylist()]
            plan = _plan(spec_file, segmentation, overlays, cats)
        else:
            cats = _text_metrics(session, first.overlays)
            plan = _plan(spec_file, segmentation, overlays, cats)
            cur = session.con.execute(_canonical_sql(spec_file, plan, baseline, session.model()))
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        for r in rows:
            r["z"], r["flag"] = significance(r)
        sizes = {}
        for r in rows:
            sizes[(r["segment_order"], r["segment"])] = r["size"]
        segments = [(seg, n) for (_, seg), n in sorted(sizes.items(), key=lambda kv: kv[0])]
        result = Profile(
            spec_file.spec.name,
            segmentation,
            baseline,
            plan.inputs,
            plan.overlays,
            segments,
            rows,
            sum(n for _, n in segments),
            as_of=session.as_of_note,
            better={m: b for m, x in spec_file.spec.metrics.items() if (b := x.better)},
        )
        result.propensity = _propensity(spec_file, segmentation)
        cluster = spec_file.spec.segmentations[segmentation].cluster
        if cluster is not None and cluster.names:
            result.names = {seg: cluster.name_of(seg) for seg, _ in segments}
        if projection and cluster is not None:
            result.projection = _projection(session, segmentation)
        return result
    finally:
        session.close()


def _propensity(spec_file: SpecFile, segmentation: str) -> dict[str, Any]:
    """The validation of the propensity a bands or quantile segmentation is by (its model
    file's), for the page's gains and calibration charts."""
    by = spec_file.spec.segmentations[segmentation].by
    metric = spec_file.spec.metrics.get(by) if by else None
    if metric is None or metric.predict is None or by is None:
        return {}
    model = fitted_propensity(spec_file.spec, by, spec_file.path)
    validation = model.fit.get("validation") or {}
    if not validation.get("calibration"):
        return {}
    return {"metric": by, "validation": validation, "baselines": model.fit.get("baselines", {})}


def _projection(session: Session, segmentation: str) -> dict[str, Any]:
    """PCA (numpy SVD) of the clustered rows in the fitted model's scaled space."""
    import numpy as np

    spec_file = session.spec_file
    model = fitted_model(spec_file.spec, segmentation, spec_file.path)
    table = session.model()
    feats = pull(session, segmentation, table)
    space = model_space(feats, model)
    key = spec_file.spec.entity.key
    query = f"SELECT {q(key)}, {q(segmentation)} FROM {table}"
    found = dict(session.con.execute(query).fetchall())
    keep = np.flatnonzero(feats.complete)
    x = space[keep] - space[keep].mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    xy = x @ vt[:2].T
    return {
        "x": [float(v) for v in xy[:, 0]],
        "y": [float(v) for v in xy[:, 1]] if xy.shape[1] > 1 else [0.0] * len(keep),
        "label": [int(found[feats.keys[i]]) for i in keep],
    }
