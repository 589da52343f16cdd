"""Spec → model plan: the CTEs of the model and the canonical tree of every column.

The plan decides *what* is computed where, as sqlglot trees; the Jinja template only lays the
CTEs out, printing each tree as canonical (DuckDB) SQL and each name through ``sql.ident``.
Snippets written in any dialect are parsed in that dialect and meet the transpiler in one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

from sqlglot import exp

from semseg.compile.cluster_model import FittedModel
from semseg.compile.cluster_sql import (
    assignment_join,
    assignment_queries,
    box_label_sql,
    coordinate_sql,
    distance_output_sql,
    fitted_model,
    label_sql,
    name_sql,
    order_sql,
)
from semseg.compile.distinct import DistinctOnly, distinct_only
from semseg.compile.portable import BINARY_COLLATION, exact, key_hash, not_nan, zoned_date
from semseg.compile.predict_model import fitted_propensity, score_tree
from semseg.errors import CompileError
from semseg.spec.graph import (
    DEFAULT_PRECISION,
    derived_dependencies,
    metric_precision,
    segment_labels,
    segmentation_dependencies,
)
from semseg.spec.keyhash import arm_bounds
from semseg.spec.model import (
    EDGE_AGGS,
    TIME_AGGS,
    TOP_AGGS,
    Agg,
    Join,
    Population,
    Segmentation,
    Spec,
    arm_output,
    distance_output,
    name_output,
)
from semseg.spec.names import (
    HELPER_SEPARATOR,
    ModelNames,
    coordinate_column,
    rank_columns,
)
from semseg.spec.params import MARKER
from semseg.spec.time import window_of, zone_of
from semseg.sql import (
    CANONICAL,
    all_of,
    any_of,
    case,
    coalesce,
    column,
    is_null,
    literal,
    not_null,
    number,
    paren,
    snippet_expr,
    sql_literal,
    to_double,
)


@dataclass(frozen=True)
class Column:
    """An output column of a CTE: ``expr AS name`` (just ``name`` when ``expr`` is the column)."""

    name: str
    expr: exp.Expression

    @property
    def plain(self) -> bool:
        """Whether the column is passed through unchanged (no ``AS`` needed)."""
        e = self.expr
        return isinstance(e, exp.Column) and not e.table and e.name == self.name


def passed(name: str) -> Column:
    """A column carried over from the previous CTE."""
    return Column(name, column(name))


@dataclass(frozen=True)
class SourceStep:
    """One aggregate per source: ``SELECT key, aggs FROM table WHERE ... GROUP BY key``."""

    cte: str
    table: str
    key: str
    where: exp.Expression | None  # None: the rows are already filtered (a RowsStep)
    columns: tuple[Column, ...]
    # "distinct": the rows of a source that can change its conditional distinct counts;
    # "edge": a first/last value, over the rows at its metric's earliest/latest time
    role: str = "main"
    alias: str | None = None  # the table's alias (an edge step's columns are qualified)
    join: tuple[str, str, exp.Expression] | None = None  # (cte, alias, ON condition)
    group_by: tuple[exp.Expression, ...] = ()  # grouped by these too, after the key ("inner")
    dated: bool = False  # a history's: per (key, as-of date), the date selected and grouped by


@dataclass(frozen=True)
class RowsStep:
    """The rows of one source that several of its aggregates read: ``SELECT columns FROM
    table WHERE ...``, so that the table is scanned once (engines materialise a CTE read
    twice, or read it as they would the table). A source with joins is always read here:
    ``FROM table AS alias LEFT JOIN dimension AS join ON ...``, each dimension column
    selected as ``<join>__<column>``."""

    cte: str
    table: str
    columns: tuple[Column, ...]
    where: exp.Expression
    alias: str | None = None
    joins: tuple[tuple[str, str, exp.Expression], ...] = ()  # (table, alias, ON condition)
    dated: bool = False  # a history's: each row once per as-of date (CROSS JOIN the dates)
    # a dated one's: JOIN these (bucket, date) pairs ON this condition instead (timeline)
    reach: tuple[str, exp.Expression] | None = None


@dataclass(frozen=True)
class Step:
    """A CTE that selects ``columns`` from ``source`` (window or CASE layer), LEFT JOINed to
    ``joins`` (table, ON condition); or, with ``query``, a CTE whose whole body is that query
    (the cluster assignment's relations)."""

    cte: str
    source: str
    columns: tuple[Column, ...]
    joins: tuple[tuple[exp.Expression, exp.Expression], ...] = ()
    query: exp.Expression | None = None


@dataclass(frozen=True)
class ModelPlan:
    """Everything the template needs, in order."""

    spec_name: str
    key: str
    population: tuple[SourceStep, ...]  # the tables whose keys are united (none: the sources')
    rows: tuple[RowsStep, ...]
    sources: tuple[SourceStep, ...]
    keys_cte: str
    metrics_cte: str
    metric_columns: tuple[Column, ...]
    joins: tuple[SourceStep, ...]
    steps: tuple[Step, ...]
    output: tuple[str, ...]
    key_sources: tuple[SourceStep, ...]  # the sources whose keys make up the rows
    spine: tuple[exp.Expression, ...] = ()  # a history's as-of dates (DATE literals)
    spine_cte: str = ""
    timeline: bool = False  # a history's: the metrics CTE is one of ``steps`` (``timeline``)
    reach: tuple[Step, ...] = ()  # a history's CTEs after the spine, before the rows


# Where the as-of date goes: a column name no spec can use (``__`` is semseg's), replaced by
# the as-of value (a date, CURRENT_DATE, or dbt's var) once the canonical query is parsed.
AS_OF_MARK = "__semseg_as_of"


def as_of() -> exp.Expression:
    return column(AS_OF_MARK)


# A history's as-of date column (``semseg history``): the spine's, carried through every CTE
# of a source with an event time; the as-of mark becomes a reference to it.
AS_OF_COLUMN = "semseg__as_of"


def _dated_as_of(tree: exp.Expression, alias: str) -> exp.Expression:
    """``tree`` with the as-of mark read from ``alias``'s as-of column (in a step that joins
    two relations that both carry it)."""

    def qualify(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.name == AS_OF_MARK and not node.table:
            return column(AS_OF_COLUMN, alias)
        return node

    return tree.transform(qualify)


def event_date(spec: Spec, source: str) -> exp.Expression:
    """The date of an event of ``source`` in its zone: ``ZONED_DATE(column, zone)``, which
    each target writes (``portable``; in UTC on most targets ``CAST(column AS DATE)``)."""
    return zoned_date(column(spec.sources[source].time or ""), zone_of(spec, source))


def _parameter(name: str) -> exp.Expression:
    """Where dbt's ``var(name)`` goes: a marker column that ``semseg.dbt`` replaces."""
    return column(MARKER + name)


def _ago(amount: int, unit: str, parameter: str | None = None) -> exp.Expression:
    """A - amount units (interval arithmetic, written per target by ``portable``); for dbt,
    the amount may be a parameter's marker."""
    if parameter is None and amount == 0:
        return as_of()
    count = _parameter(parameter) if parameter else exp.Literal.string(str(amount))
    interval = exp.Interval(this=count, unit=exp.Var(this=unit))
    return exp.Sub(this=as_of(), expression=interval)


def window_condition(spec: Spec, name: str) -> exp.Expression | None:
    """The metric's window as a condition on the event date (docs/spec.md, Time)."""
    window = window_of(spec, name)
    if window is None:
        return None
    when = event_date(spec, spec.metrics[name].source or "")
    parts: list[exp.Expression] = []
    site = ("metrics", name, "window")
    if window.after is not None:
        after = _ago(window.after, window.unit, spec.parameter_at(*site, "after"))
        parts.append(exp.GT(this=when.copy(), expression=after))
    through = spec.parameter_at(*site, "through")
    if window.through or through:
        parts.append(
            exp.LTE(this=when.copy(), expression=_ago(window.through, window.unit, through))
        )
    return all_of(*parts)


def _time_aggregate(spec: Spec, m, kept: exp.Expression | None) -> exp.Expression:
    """days_since_last/first and active days, weeks (7-day periods back from the as-of date)
    and calendar months, over the events ``kept`` keeps."""
    when = event_date(spec, m.source)

    def only(value: exp.Expression) -> exp.Expression:
        return value if kept is None else case([(kept.copy(), value)])

    if m.agg in (Agg.days_since_last, Agg.days_since_first):
        edge = exp.Max if m.agg is Agg.days_since_last else exp.Min
        return exp.DateDiff(
            this=as_of(), expression=edge(this=only(when)), unit=exp.Var(this="DAY")
        )
    if m.agg is Agg.active_days:
        period: exp.Expression = when
    elif m.agg is Agg.active_weeks:
        days = exp.DateDiff(this=as_of(), expression=when, unit=exp.Var(this="DAY"))
        period = exp.Floor(this=exp.Div(this=to_double(days), expression=number(7)))
    else:
        year, month = exp.Year(this=when.copy()), exp.Month(this=when)
        period = exp.Add(this=exp.Mul(this=year, expression=number(12)), expression=month)
    return exp.Count(this=exp.Distinct(expressions=[only(period)]))


EVENT, EDGE = "semseg__event", "semseg__edge"  # an edge step's aliases (no spec name has __)


def edge_time_column(metric: str) -> str:
    """The helper column holding a first/last metric's earliest/latest event time."""
    return f"{metric}{HELPER_SEPARATOR}at"


def _kept(spec: Spec, name: str) -> exp.Expression | None:
    """The rows a metric reads of its source's: its ``where`` and its window (None: all)."""
    m = spec.metrics[name]
    kept = snippet_expr(m.where, spec.dialect) if m.where else None
    window = window_condition(spec, name)
    if window is not None:
        kept = window if kept is None else all_of(paren(kept), window)
    return kept


def _edge_rows(spec: Spec, name: str) -> exp.Expression:
    """The rows a first/last metric chooses from: kept, with a value."""
    m = spec.metrics[name]
    present = not_null(paren(snippet_expr(m.expr or "", spec.dialect)))
    kept = _kept(spec, name)
    return present if kept is None else all_of(paren(kept), present)


def _edge_time(spec: Spec, name: str) -> exp.Expression:
    """MIN/MAX of the event time over the rows a first/last metric chooses from."""
    m = spec.metrics[name]
    time = column(spec.sources[m.source or ""].time or "")
    edge = exp.Min if m.agg is Agg.first else exp.Max
    return edge(this=case([(_edge_rows(spec, name), time)]))


def _own_columns(tree: exp.Expression, read: Callable[[str], exp.Expression]) -> exp.Expression:
    """A copy of ``tree`` with each unqualified column ``c`` (a source's own; not the as-of or
    parameter marks) written as ``read(c)``."""

    def qualify(node: exp.Expression) -> exp.Expression:
        own = isinstance(node, exp.Column) and not node.table
        if own and not node.name.startswith(HELPER_SEPARATOR):
            return read(node.name)
        return node

    return tree.copy().transform(qualify)


def _qualified(tree: exp.Expression, alias: str) -> exp.Expression:
    """``tree`` with its source columns qualified by ``alias``."""
    return _own_columns(tree, lambda name: column(name, alias))


SOURCE = "semseg__source"  # a joined source's alias in its rows CTE (no spec name has __)


def dimension_column(join: str, name: str) -> str:
    """The column of the rows CTE that holds a joined dimension's column."""
    return f"{join}{HELPER_SEPARATOR}{name}"


def _unjoined(tree: exp.Expression, joins: Mapping[str, Join]) -> exp.Expression:
    """``join.column`` read as the rows CTE's ``join__column`` (unchanged without joins)."""
    if not joins:
        return tree

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.table in joins:
            return column(dimension_column(node.table, node.name))
        return node

    return tree.transform(rename)


def _joined_value(name: str, joins: Mapping[str, Join]) -> exp.Expression:
    """A rows-CTE column as read from ``table AS semseg__source LEFT JOIN ...``: the source's
    own, or a dimension's (its ``missing`` value when the event has no dimension row)."""
    for j, join in joins.items():
        prefix = dimension_column(j, "")
        if name.startswith(prefix):
            own = name[len(prefix) :]
            value: exp.Expression = column(own, j)
            if own in join.missing:
                value = case([(is_null(column(join.key, j)), literal(join.missing[own]))], value)
            return value
    return column(name, SOURCE)


def _joined_rows(
    spec: Spec, source: str, cte: str, names: tuple[str, ...], where: exp.Expression
) -> RowsStep:
    """The rows CTE of a source with joins: every name (``_shared_columns``) and the filter
    read from the source LEFT JOIN its dimensions (an event without a dimension row counts)."""
    src = spec.sources[source]
    joins = tuple(
        (
            join.table,
            j,
            exp.EQ(this=column(join.on or join.key, SOURCE), expression=column(join.key, j)),
        )
        for j, join in src.joins.items()
    )
    columns = tuple(Column(n, _joined_value(n, src.joins)) for n in names)
    kept = _own_columns(where, lambda name: _joined_value(name, src.joins))
    return RowsStep(cte, src.table, columns, kept, alias=SOURCE, joins=joins)


def _edge_step(
    spec: Spec,
    name: str,
    cte: str,
    main: SourceStep,
    table: str,
    where: exp.Expression | None,
    dated: bool = False,
) -> SourceStep:
    """``SELECT key, MIN(expr) FROM table JOIN main ON key and time = the metric's time``:
    the value at the earliest/latest event, the smallest one when several events share it."""
    m = spec.metrics[name]
    src = spec.sources[m.source or ""]
    time, src_key = src.time or "", src.key or spec.entity.key
    on = all_of(  # the main step's key column is named as the entity's
        exp.EQ(this=column(spec.entity.key, EDGE), expression=column(src_key, EVENT)),
        exp.EQ(this=column(edge_time_column(name), EDGE), expression=column(time, EVENT)),
    )
    if dated:  # a history: the main step's row of the same as-of date
        on = all_of(
            on, exp.EQ(this=column(AS_OF_COLUMN, EDGE), expression=column(AS_OF_COLUMN, EVENT))
        )
    joins = spec.sources[m.source or ""].joins
    rows = paren(_unjoined(_edge_rows(spec, name), joins))
    kept = rows if where is None else all_of(paren(where), rows)
    value = _unjoined(snippet_expr(m.expr or "", spec.dialect), joins)
    if m.type == "text":  # ties: the smallest in code-point order on every engine
        value = exp.Collate(this=value, expression=exp.Var(this=BINARY_COLLATION))
    qualified = _qualified(kept, EVENT)
    return SourceStep(
        cte,
        table,
        src_key,
        _dated_as_of(qualified, EVENT) if dated else qualified,
        (Column(name, exp.Min(this=_qualified(value, EVENT))),),
        role="edge",
        alias=EVENT,
        join=(main.cte, EDGE, on),
        dated=dated,
    )


CATEGORY, TOTAL = "semseg__category", "semseg__total"  # a top metric's helper columns
BEST = "semseg__best"


def _totals_query(step: SourceStep) -> str:
    """What a top / top_share totals step computes, as text (its name left out)."""
    return "\n".join(
        [
            step.table,
            step.key,
            step.where.sql(CANONICAL) if step.where is not None else "",
            *(f"{c.name}={c.expr.sql(CANONICAL)}" for c in step.columns),
            *(g.sql(CANONICAL) for g in step.group_by),
        ]
    )


def _top_steps(
    spec: Spec,
    name: str,
    ctes: tuple[str, str, str],
    read: str,
    where: exp.Expression | None,
    key: tuple[str, str],
    dated: bool = False,
) -> list[SourceStep]:
    """A top / top_share metric: the total measure per (key, category) over the rows it keeps
    (``totals``, rounded like a compared metric when the measure is not a row count) with the
    key's largest total beside each (a window in the same step); then per key either the
    smallest category, in code-point order, whose total is the largest (top), or the largest
    total over the sum of them (top_share). ``ctes``: (totals, top_share's step, top's
    step)."""
    m = spec.metrics[name]
    joins = spec.sources[m.source or ""].joins
    src_key, out_key = key
    category = _unjoined(snippet_expr(m.expr or "", spec.dialect), joins)
    kept = _kept(spec, name)
    rows: list[exp.Expression] = [paren(where)] if where is not None else []
    rows += [paren(_unjoined(kept, joins))] if kept is not None else []
    rows.append(not_null(paren(category.copy())))
    measure = _unjoined(snippet_expr(m.measure, spec.dialect), joins) if m.measure else number(1)
    total: exp.Expression = exp.Sum(this=measure)
    if m.measure:  # a float total: equal to the digit is a tie on every engine
        total = _rounded(total, DEFAULT_PRECISION)
    totals_cte, best_cte, cte = ctes
    # The largest total of the key, as a window over the grouped rows: in the same
    # evaluation as each total, so that ``total = best`` compares two columns of one row
    # (issue 21: a join of the totals to their maximum read the totals twice, and an engine
    # that evaluates a CTE per reference can sum a float measure to other last bits).
    by = [column(src_key), *([column(AS_OF_COLUMN)] if dated else [])]
    best = exp.Window(this=exp.Max(this=total.copy()), partition_by=by)
    totals = SourceStep(  # grouped byte for byte: 'Beauty' and 'beauty' are two categories
        totals_cte,
        read,
        src_key,
        all_of(*rows),
        (Column(CATEGORY, exp.Min(this=category)), Column(TOTAL, total), Column(BEST, best)),
        role="inner",
        group_by=(exact(category.copy()),),
        dated=dated,
    )
    if m.agg is Agg.top_share:
        # The share among the categories with a positive total (issue 23, item 10: refunds
        # made 10 of 10 - 8 a share of 5); a key without one gets NULL (a zero denominator).
        positive = case(
            [(exp.GT(this=column(TOTAL), expression=number(0)), column(TOTAL))], number(0)
        )
        share = exp.Div(
            this=to_double(exp.Max(this=column(TOTAL))),
            expression=exp.Nullif(this=exp.Sum(this=positive), expression=number(0)),
        )
        ratio = SourceStep(
            best_cte, totals_cte, out_key, None, (Column(name, share),), role="top", dated=dated
        )
        return [totals, ratio]
    at_best = exp.EQ(this=column(TOTAL), expression=column(BEST))
    smallest = exp.Collate(this=column(CATEGORY), expression=exp.Var(this=BINARY_COLLATION))
    value = SourceStep(
        cte,
        totals_cte,
        out_key,
        None,
        (Column(name, exp.Min(this=case([(at_best, smallest)]))),),
        role="top",
        dated=dated,
    )
    return [totals, value]


def _aggregate(spec: Spec, name: str) -> exp.Expression:
    m = spec.metrics[name]
    if m.kind == "raw":
        return snippet_expr(m.sql or "", spec.dialect)
    assert m.agg is not None
    if m.agg in EDGE_AGGS:
        return _edge_time(spec, name)
    kept = _kept(spec, name)
    if m.agg in TIME_AGGS:
        return _time_aggregate(spec, m, kept)
    value = snippet_expr(m.expr, spec.dialect) if m.expr else number(1)
    if kept is not None:
        value = case([(kept, value)])
    if m.agg is Agg.count:
        return exp.Count(this=value if m.expr or kept is not None else exp.Star())
    if m.agg is Agg.count_distinct:
        return exp.Count(this=exp.Distinct(expressions=[value]))
    if m.agg is Agg.avg:
        return exp.Avg(this=to_double(value))
    if m.agg is Agg.attribute:  # the one row of the key (verify proves there is one)
        return exp.Min(this=value)
    aggregate = {Agg.sum: exp.Sum, Agg.min: exp.Min, Agg.max: exp.Max}[m.agg]
    return cast(exp.Expression, aggregate(this=value))


def _with_fill(value: exp.Expression, fill: object) -> exp.Expression:
    return value if fill is None else coalesce(value, literal(fill))


def _rounded(value: exp.Expression, places: int | None) -> exp.Expression:
    """``value`` rounded half up to ``places`` decimals, the same IEEE operations everywhere:
    CAST(FLOOR(CAST(v AS DOUBLE) * 10^p + 0.5) AS DOUBLE) / 10^p (ROUND itself differs)."""
    if places is None:
        return value
    scale = number(10**places)
    shifted = exp.Mul(this=to_double(value), expression=scale) if places else to_double(value)
    floor = to_double(exp.Floor(this=exp.Add(this=shifted, expression=number("0.5"))))
    return exp.Div(this=floor, expression=scale.copy()) if places else floor


def _missing_nan(value: exp.Expression, places: int | None) -> exp.Expression:
    """A metric that is rounded is never NaN: NaN is missing (NULL, then ``fill``). Engines
    disagree on where NaN falls against a bound (DuckDB, PostgreSQL, Snowflake and Spark sort
    it above every number; ClickHouse, BigQuery and Trino compare it false), and SQLite, MySQL
    and SQL Server have none. ``portable.not_nan`` writes the test for each target."""
    return value if places is None else not_nan(to_double(value))


def _derived_trees(spec: Spec, spec_path: Path | None = None) -> dict[str, exp.Expression]:
    """Derived metrics as trees over base metrics (derived references expanded inline); a
    propensity is its fitted model's score over its features (``predict_model``)."""
    deps = derived_dependencies(spec)
    done: dict[str, exp.Expression] = {}

    def build(name: str) -> exp.Expression:
        if name not in done:
            for dep in deps[name]:
                if dep in deps:
                    build(dep)
            m = spec.metrics[name]
            places = metric_precision(spec, name)
            if m.predict is not None:
                model = fitted_propensity(spec, name, spec_path)
                nan_free = frozenset(
                    f
                    for f in model.features
                    if spec.metrics[f].is_integer or metric_precision(spec, f) is not None
                )
                tree = score_tree(
                    model, lambda f: done[f].copy() if f in done else column(f), nan_free
                )
            else:
                tree = snippet_expr(m.expr or "", spec.dialect, done)
            value = _missing_nan(tree, places)
            done[name] = _rounded(_with_fill(value, m.fill), places)
        return done[name]

    for name in deps:
        build(name)
    return done


def _band_condition(spec: Spec, name: str, index: int) -> exp.Expression:
    by = spec.segmentations[name].by or ""
    seg = (spec.segmentations[name].segments or [])[index]

    def bound(key: str) -> exp.Expression:
        parameter = spec.parameter_at("segmentations", name, "segments", index, key)
        return _parameter(parameter) if parameter else literal(getattr(seg, key))

    parts: list[exp.Expression] = []
    if seg.min is not None:
        parts.append(exp.GTE(this=column(by), expression=bound("min")))
    if seg.max is not None:
        parts.append(exp.LTE(this=column(by), expression=bound("max")))
    if seg.below is not None:
        parts.append(exp.LT(this=column(by), expression=bound("below")))
    return all_of(*parts)


def segment_conditions(spec: Spec, name: str) -> list[tuple[exp.Expression | None, str]]:
    """(condition or None for else, label) per segment of a bands/rules segmentation, in order."""
    s = spec.segmentations[name]
    out: list[tuple[exp.Expression | None, str]] = []
    for i, seg in enumerate(s.segments or []):
        if seg.else_:
            out.append((None, seg.label))
        elif s.kind == "bands":
            out.append((_band_condition(spec, name, i), seg.label))
        else:
            out.append((snippet_expr(seg.when or "", spec.dialect), seg.label))
    return out


def quantile_tier_sql(name: str, s: Segmentation) -> exp.Expression:
    """Tier 1..n from rank and count with integer arithmetic only, NULLs in tier n+1.

    tier = floor((rank - 1) * n / count) + 1, written as comparisons so that no engine's
    division or rounding rules take part; tied values share a rank and therefore a tier.
    """
    n = s.quantiles or 0
    rank, count = rank_columns(name)
    branches: list[tuple[exp.Expression, exp.Expression]] = [
        (is_null(column(s.by or "")), number(n + 1))
    ]
    for k in range(n - 1, 0, -1):
        below = paren(exp.Sub(this=column(rank), expression=number(1)))
        branches.append(
            (
                exp.GTE(
                    this=exp.Mul(this=below, expression=number(n)),
                    expression=exp.Mul(this=number(k), expression=column(count)),
                ),
                number(k + 1),
            )
        )
    return case(branches, number(1))


def _segmentation_columns(
    spec: Spec, name: str, models: dict[str, FittedModel]
) -> tuple[Column, ...]:
    s = spec.segmentations[name]
    order = spec.order_column(name)
    if s.kind == "cluster":
        return _cluster_columns(spec, name, models[name])
    if s.kind == "quantiles":  # the tier (order column) was computed in the tiers step
        labels = segment_labels(spec, name)
        tiers = [(number(i), literal(lbl)) for i, lbl in enumerate(labels, start=1)]
        return (Column(name, case(tiers, operand=column(order))),)
    conds = segment_conditions(spec, name)
    default_label = next((literal(lbl) for c, lbl in conds if c is None), None)
    default_order = next((number(i) for i, (c, _) in enumerate(conds, 1) if c is None), None)
    label = case([(c, literal(lbl)) for c, lbl in conds if c is not None], default_label)
    order_case = case(
        [(c.copy(), number(i)) for i, (c, _) in enumerate(conds, 1) if c is not None],
        default_order,
    )
    return Column(name, label), Column(order, order_case)


def _layers(spec: Spec) -> list[list[str]]:
    deps = segmentation_dependencies(spec)
    depth: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((level(d) for d in deps[name]), default=-1)
        return depth[name]

    layers: list[list[str]] = []
    for name in spec.segmentations:
        d = level(name)
        while len(layers) <= d:
            layers.append([])
    for name in spec.segmentations:
        layers[depth[name]].append(name)
    return layers


def _unconditional(aggregate: exp.Expression) -> exp.Expression:
    """``COUNT(DISTINCT CASE WHEN c THEN x END)`` as ``COUNT(DISTINCT x)``, for rows that all
    meet ``c`` (DuckDB hashes the NULLs of the CASE form too)."""

    def strip(node: exp.Expression) -> exp.Expression:
        if (
            isinstance(node, exp.Case)
            and isinstance(node.parent, exp.Distinct)
            and len(node.args.get("ifs") or []) == 1
        ):
            return node.args["ifs"][0].args["true"].copy()
        return node

    return aggregate.copy().transform(strip)


def _shared_columns(key: str, aggregates: list[exp.Expression]) -> tuple[str, ...] | None:
    """The columns a source's aggregates read (key first), or None when one is qualified
    with its table (it could not be read from a CTE of other columns)."""
    names: dict[str, str] = {key.lower(): key}
    for agg in aggregates:
        for col in agg.find_all(exp.Column):
            if col.table:
                return None
            if not col.name.startswith(HELPER_SEPARATOR):  # the as-of date, dbt's parameters
                names.setdefault(col.name.lower(), col.name)
    return tuple(names.values())


VALUES, PART = "semseg__values", "semseg__part"  # a two-level aggregate's helper columns


def _two_levels(
    columns: tuple[Column, ...],
) -> tuple[exp.Expression, tuple[Column, ...], tuple[Column, ...]] | None:
    """A source's aggregates as two GROUP BYs when they are MIN/MAX of anything and
    ``COUNT(DISTINCT x)`` of one ``x``: per (key, x) the MIN/MAX and a count of x, then per
    key the MIN/MAX of those and the number of non-NULL x. Both levels give the same values
    (MIN and MAX are exact in any grouping; a (key, x) group is one distinct x), and the engine
    hashes the rows once instead of once for the MIN/MAX and once for the distinct pairs:
    0.8x the time on DuckDB with 10M order lines (BENCHMARKS.md, time). None for any other
    aggregate, for several distinct values, or when there is no MIN/MAX to share the hash."""
    value: exp.Expression | None = None
    parts: list[Column] = []
    distinct = 0

    def level(node: exp.Expression) -> exp.Expression:
        nonlocal value, distinct
        if isinstance(node, exp.Min | exp.Max) and not isinstance(node.this, exp.Collate):
            parts.append(Column(f"{PART}{len(parts) + 1}", node.copy()))
            return type(node)(this=column(parts[-1].name))
        if isinstance(node, exp.Count) and isinstance(node.this, exp.Distinct):
            args = node.this.expressions
            if len(args) != 1 or (value is not None and args[0] != value):
                raise _NotTwoLevels
            value, distinct = args[0], distinct + 1
            return exp.Count(this=exp.Nullif(this=column(VALUES), expression=number(0)))
        if isinstance(node, exp.AggFunc):
            raise _NotTwoLevels
        return node

    try:
        outer = tuple(Column(c.name, c.expr.copy().transform(level)) for c in columns)
    except _NotTwoLevels:
        return None
    if value is None or distinct + len(parts) < 2:
        return None
    inner = (*parts, Column(VALUES, exp.Count(this=value.copy())))
    return exact(value.copy()), inner, outer


class _NotTwoLevels(Exception):
    """An aggregate ``_two_levels`` cannot split."""


@dataclass(frozen=True)
class SourcePhase:
    """What the sources phase lays out: the rows CTEs (a table scanned once), the aggregate
    CTEs, and the distinct counts split off their source's main aggregate (metric → (the
    main step, the analysis that split it))."""

    rows: tuple[RowsStep, ...]
    sources: tuple[SourceStep, ...]
    split: dict[str, tuple[SourceStep, DistinctOnly]]


@dataclass
class _Chain:
    """The CTEs after the metrics, each selecting from the one before: ``last`` is the CTE
    the next one reads, ``current`` the columns it carries (the key first)."""

    last: str
    current: list[str]
    steps: list[Step] = field(default_factory=list)

    def carried(self) -> list[Column]:
        return [passed(c) for c in self.current]

    def add(self, step: Step) -> None:
        """Append a CTE whose columns the next one reads (a relation, with ``query``, is not
        read by the next one: add it with ``relation``)."""
        self.steps.append(step)
        self.last = step.cte
        self.current = [c.name for c in step.columns]

    def relation(self, step: Step) -> None:
        self.steps.append(step)


def build_plan(spec: Spec, spec_path: Path | None = None) -> ModelPlan:
    """Lay the spec out as CTEs, one phase after the other: sources → population → metrics →
    derived → tiers → clusters → segments → arms. (A history at many dates is
    ``timeline.history_plan``, which reuses the phases.)"""
    names, key = ModelNames(spec.entity.name), spec.entity.key
    phase = _sources_phase(spec, names)
    population = _population_phase(spec, names)
    key_sources = tuple(s for s in phase.sources if s.role == "main")
    keys_cte = (
        names.population
        if population
        else (key_sources[0].cte if len(key_sources) == 1 else names.keys)
    )
    metric_columns = _metrics_phase(spec, phase, keys_cte)
    joins = tuple(s for s in phase.sources if s.cte != keys_cte and s.role != "inner")
    chain = _Chain(names.metrics, [key, *(c.name for c in metric_columns)])
    _derived_phase(spec, spec_path, names, chain)
    _tiers_phase(spec, names, chain)
    models = _clusters_phase(spec, spec_path, names, chain)
    _segments_phase(spec, names, models, chain)
    _arms_phase(spec, names, chain)
    return ModelPlan(
        spec.name,
        key,
        tuple(population),
        phase.rows,
        phase.sources,
        keys_cte,
        names.metrics,
        metric_columns,
        joins,
        tuple(chain.steps),
        tuple(spec.output_columns()),
        key_sources,
    )


def _sources_phase(spec: Spec, names: ModelNames) -> SourcePhase:
    """Each source's aggregates: its rows CTE when several aggregates (or joins) read it,
    the main aggregate (in two levels where that hashes the rows once), the distinct counts
    split off it, its first/last values and its top categories."""
    sources: list[SourceStep] = []
    rows: list[RowsStep] = []
    split: dict[str, tuple[SourceStep, DistinctOnly]] = {}
    for sname in spec.sources:
        _source_steps(spec, names, sname, sources, rows, split)
    return SourcePhase(tuple(rows), tuple(sources), split)


def _source_steps(
    spec: Spec,
    names: ModelNames,
    sname: str,
    sources: list[SourceStep],
    rows: list[RowsStep],
    split: dict[str, tuple[SourceStep, DistinctOnly]],
    history: bool = False,
    only: frozenset[str] | None = None,
    span: exp.Expression | None = None,
) -> None:
    """``only``: of the source's metrics, these (a history's, ``timeline``); ``span``: a
    history's condition on the dated rows (the dates whose windows can hold the event)."""
    src, key = spec.sources[sname], spec.entity.key
    dated = history and bool(src.time)  # each event once per as-of date on or after it
    mine = [
        m for m, mt in spec.metrics.items() if mt.source == sname and (only is None or m in only)
    ]
    edges = [m for m in mine if spec.metrics[m].agg in EDGE_AGGS]
    tops = [m for m in mine if spec.metrics[m].agg in TOP_AGGS]
    aggs = [
        (edge_time_column(m) if m in edges else m, _unjoined(_aggregate(spec, m), src.joins))
        for m in mine
        if m not in tops
    ]
    src_key = src.key or key
    where = source_filter(spec, sname)
    if span is not None:
        where = all_of(where, paren(span))
    found = {m: d for m, agg in aggs if (d := distinct_only(agg)) is not None}
    if not found or len(found) == len(aggs):  # nothing to split off, or nothing would remain
        found = {}
    read, kept = src.table, cast(exp.Expression | None, where)
    # what the rows CTE must carry: the aggregates' columns (first/last rows are in their
    # edge times), the first/last values, the top categories, measures and rows
    read_by = [agg for _, agg in aggs] + [
        _unjoined(snippet_expr(text, spec.dialect), src.joins)
        for m in [*edges, *tops]
        for text in (spec.metrics[m].expr, spec.metrics[m].measure)
        if text
    ]
    read_by += [_unjoined(k, src.joins) for m in tops if (k := _kept(spec, m)) is not None]
    shared = _shared_columns(src_key, read_by) if found or src.joins or dated else None
    if dated and shared is None:
        raise CompileError(
            f"model '{spec.name}': source '{sname}' qualifies a column with its table, which "
            "a history cannot read from its dated rows; write the column unqualified"
        )
    if shared is not None and src.joins:  # the dimensions joined once, in the rows CTE
        joined = _joined_rows(spec, sname, names.rows(sname), shared, where)
        rows.append(replace(joined, dated=dated))
        read, kept = names.rows(sname), None
    elif shared is not None:  # the split aggregates share one scan of the table
        plain = tuple(passed(c) for c in shared)
        rows.append(RowsStep(names.rows(sname), src.table, plain, where, dated=dated))
        read, kept = names.rows(sname), None
    main_columns = tuple(Column(m, agg) for m, agg in aggs if m not in found)
    levels = _two_levels(main_columns)
    if levels is None:
        main = SourceStep(names.source(sname), read, src_key, kept, main_columns, dated=dated)
    else:  # per (key, value) first, then per key: one hash of the rows, not two
        value, inner, outer = levels
        values = names.values(sname)
        sources.append(
            SourceStep(
                values, read, src_key, kept, inner, role="inner", group_by=(value,), dated=dated
            )
        )
        main = SourceStep(names.source(sname), values, key, None, outer, dated=dated)
    sources.append(main)
    # One aggregate per set of conditions, over only the rows they keep: several distinct
    # counts in one GROUP BY each hash every row the others keep (BENCHMARKS.md, time).
    groups: dict[tuple[str, ...], list[str]] = {}
    for m, d in found.items():
        groups.setdefault(d.conditions, []).append(m)
    for g, (conditions, members) in enumerate(groups.items(), 1):
        conds = [paren(exp.maybe_parse(c, dialect=CANONICAL)) for c in conditions]
        keep = paren(any_of(*conds))
        columns = [Column(m, agg) for m, agg in aggs if m in members]
        if len(conditions) == 1:  # every row kept meets it: CASE WHEN c THEN x END is x
            columns = [Column(c.name, _unconditional(c.expr)) for c in columns]
        sources.append(
            SourceStep(
                names.distinct(sname, g),
                read,
                src_key,
                keep if kept is None else all_of(kept.copy(), keep),
                tuple(columns),
                role="distinct",
                dated=dated,
            )
        )
    split.update({m: (main, d) for m, d in found.items()})
    for i, m in enumerate(edges, 1):
        sources.append(_edge_step(spec, m, names.edge(sname, i), main, read, kept, dated))
    totals_of: dict[str, str] = {}  # a totals CTE's query -> its name
    for i, m in enumerate(tops, 1):
        parts = (names.top(sname, i, "totals"), names.top(sname, i, "best"), names.top(sname, i))
        totals, *rest = _top_steps(spec, m, parts, read, kept, (src_key, key), dated)
        # top and top_share of one category, measure and filter: one set of totals
        first = totals_of.setdefault(_totals_query(totals), totals.cte)
        if first == totals.cte:
            sources.append(totals)
        sources += [replace(s, table=first) if s.table == totals.cte else s for s in rest]


def source_where(spec: Spec, sname: str) -> exp.Expression | None:
    """The source's own ``where`` (parenthesised), if it has one."""
    src = spec.sources[sname]
    if not src.where:
        return None
    return paren(_unjoined(snippet_expr(src.where, spec.dialect), src.joins))


def source_filter(
    spec: Spec, sname: str, upto: exp.Expression | None = None, also: tuple[str, ...] = ()
) -> exp.Expression:
    """The rows of a source that count: with a key, meeting its ``where``, and (point in time)
    no event after the as-of date (``upto``: another date, a history's last). ``also``: other
    sources of the same table, key and time whose rows count too (a history reads them in
    one scan): each row meets some source's ``where``."""
    src = spec.sources[sname]
    where: exp.Expression = not_null(column(src.key or spec.entity.key))
    wheres = [source_where(spec, s) for s in (sname, *also)]
    if all(w is not None for w in wheres):
        kept = [w for w in wheres if w is not None]
        where = all_of(where, kept[0] if len(kept) == 1 else paren(any_of(*kept)))
    if src.time:
        limit = as_of() if upto is None else upto
        where = all_of(where, exp.LTE(this=event_date(spec, sname), expression=limit))
    return where


def _population_phase(spec: Spec, names: ModelNames) -> list[SourceStep]:
    """The population tables whose keys are united (none: the keys are the sources'), each
    up to the as-of date when it has a time."""
    return [
        SourceStep(
            names.population,
            pop.table,
            pop.key or spec.entity.key,
            population_filter(spec, pop),
            (),
        )
        for _, pop in spec.populations
    ]


def population_filter(
    spec: Spec, pop: Population, upto: exp.Expression | None = None
) -> exp.Expression:
    """The rows of a population table that make members: with a key, meeting its ``where``,
    and (point in time) a member from its own date on, NULL at every date (``upto``: another
    date than the as-of date, a history's last)."""
    where: exp.Expression = not_null(column(pop.key or spec.entity.key))
    if pop.where:
        where = all_of(where, paren(snippet_expr(pop.where, spec.dialect)))
    if pop.time:
        limit = as_of() if upto is None else upto
        joined = zoned_date(column(pop.time), "UTC")
        since = any_of(is_null(column(pop.time)), exp.LTE(this=joined, expression=limit))
        where = all_of(where, paren(since))
    return where


def _metrics_phase(spec: Spec, phase: SourcePhase, keys_cte: str) -> tuple[Column, ...]:
    """The base metrics as the metrics CTE reads them from the aggregates: filled, rounded."""
    key = spec.entity.key
    return tuple(
        Column(
            m,
            _rounded(
                _metric_value(
                    list(phase.sources),
                    phase.split,
                    keys_cte,
                    key,
                    m,
                    spec.metrics[m].fill,
                    metric_precision(spec, m),
                ),
                metric_precision(spec, m),
            ),
        )
        for m, metric in spec.metrics.items()
        if metric.kind != "derived"
    )


def _derived_phase(spec: Spec, spec_path: Path | None, names: ModelNames, chain: _Chain) -> None:
    """The derived metrics (and propensity scores), in one CTE over the base metrics."""
    derived = _derived_trees(spec, spec_path)
    if derived:
        cols = chain.carried() + [Column(m, derived[m]) for m in spec.metrics if m in derived]
        chain.add(Step(names.derived_metrics, chain.last, tuple(cols)))


def _tiers_phase(spec: Spec, names: ModelNames, chain: _Chain, history: bool = False) -> None:
    """Quantile tiers: each metric's rank and count of values, then the tier of each row."""
    quantiles = [n for n, s in spec.segmentations.items() if s.kind == "quantiles"]
    if not quantiles:
        return
    cols = chain.carried()
    for name in quantiles:
        s = spec.segmentations[name]
        rank, count = rank_columns(name)
        by = s.by or ""
        nulls_apart = case([(is_null(column(by)), number(1))], number(0))
        ordered = exp.Ordered(this=column(by), desc=s.direction == "desc")
        dates = [column(AS_OF_COLUMN)] if history else []  # a history ranks within each date
        window = exp.Window(
            this=exp.Anonymous(this="RANK"),
            partition_by=[*dates, nulls_apart],
            order=exp.Order(expressions=[ordered]),
        )
        cols.append(Column(rank, window))
        counted = exp.Count(this=column(by))
        cols.append(
            Column(count, exp.Window(this=counted, partition_by=[d.copy() for d in dates] or None))
        )
    ranks = Step(names.ranks, chain.last, tuple(cols))
    chain.relation(ranks)  # the tiers read the ranks, and carry only the columns before them
    cols = chain.carried() + [
        Column(spec.order_column(n), quantile_tier_sql(n, spec.segmentations[n])) for n in quantiles
    ]
    chain.add(Step(names.tiers, ranks.cte, tuple(cols)))


def _clusters_phase(
    spec: Spec, spec_path: Path | None, names: ModelNames, chain: _Chain, history: bool = False
) -> dict[str, FittedModel]:
    """Cluster segmentations: the row's coordinates in each scaled space, then the prototype
    each row is assigned (relations: prototypes, pairs, nearest, assigned) and its cluster.
    A history's row is a (key, date): the one model assigns each as the date's features
    place it. Returns each segmentation's model, read and checked once."""
    clusters = [n for n, s in spec.segmentations.items() if s.kind == "cluster"]
    models = {name: fitted_model(spec, name, spec_path) for name in clusters}
    if not models:
        return models
    key = spec.entity.key
    keys = (key, AS_OF_COLUMN) if history else (key,)
    nearest_rule = {n: m for n, m in models.items() if m.rule == "prototypes"}
    if nearest_rule:  # the boxes rule reads the features themselves
        cols = chain.carried()
        for name, model in nearest_rule.items():
            cols += [
                Column(coordinate_column(name, i), coordinate_sql(model, i))
                for i in range(len(model.dimensions))
            ]
        step = Step(names.cluster_coordinates, chain.last, tuple(cols))
        chain.relation(step)  # read by the labels, which carry the metrics, not coordinates
        coordinates = step.cte
    else:
        coordinates = chain.last
    # each row's prototype: relations joined to the coordinates (cluster_sql)
    cols = [Column(c, column(c, coordinates)) if c in keys else passed(c) for c in chain.current]
    label_joins: list[tuple[exp.Expression, exp.Expression]] = []
    for i, (name, model) in enumerate(models.items(), start=1):
        ctes = (
            names.cluster_prototypes(i),
            names.cluster_pairs(i),
            names.cluster_nearest(i),
            names.cluster_assigned(i),
        )
        cluster = spec.segmentations[name].cluster
        assert cluster is not None
        only = snippet_expr(cluster.where, spec.dialect) if cluster.where else None
        cols += _cluster_label(spec, name, model, ctes, only)
        if model.rule == "boxes" or not model.prototypes:
            continue
        for cte, query in assignment_queries(
            model, name, ctes, coordinates, keys, only, cluster.assigns_noise
        ):
            chain.relation(Step(cte, "", (), query=query))
        label_joins += assignment_join(model, name, ctes, coordinates, keys)
    chain.add(Step(names.cluster_labels, coordinates, tuple(cols), tuple(label_joins)))
    return models


def _segments_phase(
    spec: Spec, names: ModelNames, models: dict[str, FittedModel], chain: _Chain
) -> None:
    """The segment labels and orders, one CTE per layer (a segmentation reads the labels of
    the layers before it)."""
    layers = _layers(spec)
    for i, layer in enumerate(layers, start=1):
        cols = chain.carried()
        for name in layer:
            cols.extend(_segmentation_columns(spec, name, models))
        chain.add(Step(names.segments(i, len(layers)), chain.last, tuple(cols)))


def _arms_phase(
    spec: Spec, names: ModelNames, chain: _Chain, hashed: Mapping[str, str] | None = None
) -> None:
    """After every label (a split of some segments reads its segmentation's label): each
    split's arm. ``hashed``: a split's column that already holds its key's hash (a history
    hashes each key once per timeline point, not once per date)."""
    splits = [n for n, s in spec.segmentations.items() if s.split is not None]
    if splits:
        hashed = hashed or {}
        cols = chain.carried() + [
            Column(arm_output(n), arm_sql(spec, n, hashed.get(n))) for n in splits
        ]
        chain.add(Step(names.arms, chain.last, tuple(cols)))


def split_hash(spec: Spec, name: str) -> exp.Expression:
    """The portable hash of the row's key under the segmentation's split salt."""
    split = spec.segmentations[name].split
    assert split is not None
    return key_hash(split.salt, column(spec.entity.key))


def arm_sql(spec: Spec, name: str, hashed: str | None = None) -> exp.Expression:
    """A row's arm of the segmentation's split: the first arm whose bound (``keyhash.
    arm_bounds``) its portable hash is below; NULL outside the split's segments. The hash is
    a function of the salt and the key only, so nothing else moves a key between arms
    (``hashed``: the column that holds it)."""
    split = spec.segmentations[name].split
    assert split is not None
    h = column(hashed) if hashed else split_hash(spec, name)
    arms = list(split.arms)
    bounds = arm_bounds(list(split.arms.values()))
    whens = [
        (exp.LT(this=h.copy(), expression=number(bound)), literal(arm))
        for arm, bound in zip(arms[:-1], bounds, strict=False)
    ]
    arm = case(whens, literal(arms[-1]))
    if split.segments is None:
        return arm
    inside = exp.In(this=column(name), expressions=[literal(label) for label in split.segments])
    return case([(inside, arm)], exp.Null())


def _cluster_label(
    spec: Spec,
    name: str,
    model: FittedModel,
    ctes: tuple[str, str, str, str],
    where: exp.Expression | None,
) -> list[Column]:
    """Cluster segmentation label: the fitted cluster id (INTEGER), -1 for none; with
    ``assign_noise: nearest`` also the distance to the prototype that gave it."""
    cluster = spec.segmentations[name].cluster
    assert cluster is not None
    if model.rule == "boxes":
        return [Column(name, box_label_sql(model, where))]
    out = [Column(name, label_sql(model, name, ctes))]
    if cluster.assigns_noise:
        out.append(Column(distance_output(name), distance_output_sql(model, name, ctes)))
    return out


def _cluster_columns(spec: Spec, name: str, model: FittedModel) -> tuple[Column, ...]:
    """The order column of a cluster segmentation (id + 1, -1 last), from its label column;
    with ``cluster.names`` the name of each row's cluster."""
    cluster = spec.segmentations[name].cluster
    assert cluster is not None
    top = max((c.id for c in model.clusters), default=-1) + 1
    out = [Column(spec.order_column(name), order_sql(name, top))]
    if cluster.names:
        out.append(Column(name_output(name), name_sql(model, name, cluster)))
    return tuple(out)


def _metric_value(
    sources: list[SourceStep],
    split: dict[str, tuple[SourceStep, DistinctOnly]],
    keys_cte: str,
    key: str,
    metric: str,
    fill: object,
    places: int | None,
) -> exp.Expression:
    """A base metric as read in the metrics CTE, filled (split-off distinct counts joined back);
    NaN is missing when it is rounded to ``places``."""
    value = _missing_nan(column(metric, _owner(sources, metric)), places)
    if metric not in split:
        return _with_fill(value, fill)
    main, analysis = split[metric]
    # source rows, none meeting a condition: the metric over no rows
    value = coalesce(value, exp.maybe_parse(analysis.empty, dialect=CANONICAL))
    if fill is not None and sql_literal(fill) == analysis.empty:
        return value  # no source rows at all is filled with the same value
    if main.cte != keys_cte:  # keys without source rows: NULL, as an aggregate over nothing
        value = case([(is_null(column(key, main.cte)), exp.Null())], value)
    return _with_fill(value, fill)


def _owner(sources: list[SourceStep], metric: str) -> str:
    return next(s.cte for s in sources if any(c.name == metric for c in s.columns))
