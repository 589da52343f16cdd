"""A history's plan (``semseg history``): every key's model at many as-of dates, by timelines.

The cross join of every event with every date on or after it (``plan``'s dated steps) holds
an event about as many times as there are dates, and its joins are per (key, date): 9.4x one
as-of run for 12 month ends over 10M order lines, 2.84x by the timeline (BENCHMARKS.md).
Here a source's metrics take one of three paths, by what their aggregate is (docs/design.md,
"Membership over time"):

* **running** -- SUM, COUNT, MIN and MAX of anything not read at the as-of date (with no
  window): each event counts from the first spine date on or after it (its *bucket*, a CASE
  over the dates), so the rows are aggregated per (key, bucket) (the *parts*), to be
  accumulated over the buckets. A ``COUNT(DISTINCT x)`` counts each x at the first bucket it
  has. What is read at the date (``days_since_last`` is the date minus a running MAX) is
  computed after the expansion. Sources of one table, key and time share the scan and the
  parts, each aggregate over its own source's rows.
* **windowed** -- a source whose other metrics all have a window bounded below: its rows are
  joined by their bucket to only the dates whose windows can hold them (``_reach``), then
  aggregated per (key, date) as in one as-of run.
* **dated** -- anything else (first/last, top, avg, active weeks, raw SQL): ``plan``'s dated
  steps, every event with every date on or after it.

The dates at which any of a key's values can change (its buckets, its dated rows' dates, its
population bucket) are its *timeline*. Each point is joined by equality to the parts and
dated rows at it; one window pass per key accumulates the parts up to each point and finds
the next point; a dated row holds at its own date only. Each point's values are then
expanded to the dates until the next point. The rest of the model (derived metrics, tiers
per date, segments, arms) is ``plan``'s, over the rows per (key, date).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import cast

from sqlglot import exp

from semseg.compile import plan as _plan
from semseg.compile.distinct import DistinctOnly
from semseg.compile.plan import (
    AS_OF_COLUMN,
    AS_OF_MARK,
    Column,
    ModelPlan,
    RowsStep,
    SourceStep,
    Step,
    _aggregate,
    _ago,
    _Chain,
    _joined_rows,
    _joined_value,
    _metric_value,
    _missing_nan,
    _own_columns,
    _rounded,
    _shared_columns,
    _unjoined,
    _with_fill,
    event_date,
    passed,
    window_condition,
)
from semseg.compile.portable import exact, zoned_date
from semseg.errors import CompileError
from semseg.spec.graph import metric_precision
from semseg.spec.model import EDGE_AGGS, TOP_AGGS, Agg, Spec
from semseg.spec.names import HELPER_SEPARATOR, ModelNames
from semseg.spec.time import window_of
from semseg.sql import (
    CANONICAL,
    all_of,
    any_of,
    case,
    coalesce,
    column,
    date_literal,
    is_null,
    not_null,
    number,
    paren,
    table,
)

BUCKET = "semseg__bucket"  # the first spine date on or after an event (or a member's since)
UNTIL = "semseg__until"  # a timeline point's next one (or a day after the last date)
AT = "semseg__at"  # a timeline point
SINCE = "semseg__since"  # a population member's first date
INNER = "semseg__inner"  # a subquery's alias
_DATE = exp.DataType.build("date")

_RUNNING: dict[type, type[exp.Expression]] = {
    exp.Sum: exp.Sum,
    exp.Count: exp.Sum,
    exp.Min: exp.Min,
    exp.Max: exp.Max,
}


def bucket_of(when: exp.Expression, dates: tuple[date, ...]) -> exp.Expression:
    """The first of ``dates`` on or after ``when`` (which is on or before the last), as
    nested CASEs that halve the dates: log2(n) comparisons per row, no join."""
    if len(dates) == 1:
        return date_literal(dates[0])
    mid = (len(dates) - 1) // 2
    return case(
        [
            (
                exp.LTE(this=when.copy(), expression=date_literal(dates[mid])),
                bucket_of(when, dates[: mid + 1]),
            )
        ],
        bucket_of(when, dates[mid + 1 :]),
    )


EARLY, LATE = "semseg__early", "semseg__late"  # the spine, twice


def _date_pairs(spine: str, first: str, also: exp.Expression | None = None) -> exp.Select:
    """The spine's pairs (a date as ``first``, a date on or after it as the as-of column),
    where ``also`` (over ``EARLY`` and ``LATE``) holds too."""
    on: exp.Expression = exp.LTE(
        this=column(AS_OF_COLUMN, EARLY), expression=column(AS_OF_COLUMN, LATE)
    )
    if also is not None:
        on = all_of(on, also)
    return (
        exp.select(
            exp.alias_(column(AS_OF_COLUMN, EARLY), first),
            exp.alias_(column(AS_OF_COLUMN, LATE), AS_OF_COLUMN),
        )
        .from_(exp.alias_(table(spine), EARLY, table=True))
        .join(exp.alias_(table(spine), LATE, table=True), on=on)
    )


def _reads_as_of(tree: exp.Expression | exp.AggFunc) -> bool:
    return any(c.name == AS_OF_MARK and not c.table for c in tree.find_all(exp.Column))


def _path(spec: Spec, name: str, tree: exp.Expression) -> str:
    """ "running", "distinct" (a running COUNT(DISTINCT x)) or "dated" (module docstring)."""
    m = spec.metrics[name]
    if m.kind == "raw" or m.agg in EDGE_AGGS or m.agg in TOP_AGGS or m.agg is Agg.avg:
        return "dated"
    aggs = list(tree.find_all(exp.AggFunc))
    if not aggs or any(_reads_as_of(a) for a in aggs):
        return "dated"
    if len(aggs) == 1 and isinstance(aggs[0], exp.Count) and isinstance(aggs[0].this, exp.Distinct):
        return "distinct" if len(aggs[0].this.expressions) == 1 else "dated"
    if all(type(a) in _RUNNING and not isinstance(a.this, exp.Distinct) for a in aggs):
        nested = any(a.find_ancestor(exp.AggFunc) is not None for a in aggs)
        return "dated" if nested else "running"
    return "dated"


def _over_points(aggregate: exp.Expression, key: str, frame: exp.WindowSpec) -> exp.Expression:
    """``aggregate`` over ``frame`` of the key's timeline points, in date order."""
    ordered = exp.Order(expressions=[exp.Ordered(this=column(AT), nulls_first=True)])
    return exp.Window(this=aggregate, partition_by=[column(key)], order=ordered, spec=frame)


def _running(value: exp.Expression, key: str, combine: type[exp.Expression]) -> exp.Expression:
    """``combine(value)`` over the key's timeline points up to this one."""
    frame = exp.WindowSpec(
        kind="ROWS", start="UNBOUNDED", start_side="PRECEDING", end="CURRENT ROW"
    )
    return _over_points(combine(this=value), key, frame)


def _named(value: exp.Expression, name: str) -> exp.Expression:
    return cast(exp.Expression, exp.alias_(value, name))


def _accumulated(part: Column, key: str) -> exp.Expression:
    """A part's running total, minimum or maximum; a count stays a BIGINT, as COUNT is."""
    value = _running(column(part.name), key, _RUNNING[type(part.expr)])
    return (
        exp.Cast(this=value, to=exp.DataType.build("bigint"))
        if isinstance(part.expr, exp.Count)
        else value
    )


def _distinct_value(tree: exp.Expression) -> exp.Expression:
    distinct = tree.find(exp.Distinct)
    assert distinct is not None
    return distinct.expressions[0]


def _lower_bound(
    spec: Spec, name: str, at: exp.Expression, when: exp.Expression | None = None
) -> exp.Expression | None:
    """The event (``when``: another date) is after the start of the metric's window at the
    date ``at``."""
    window = window_of(spec, name)
    if window is None or window.after is None:
        return None
    parameter = spec.parameter_at("metrics", name, "window", "after")
    start = _ago(window.after, window.unit, parameter).transform(
        lambda n: at.copy() if isinstance(n, exp.Column) and n.name == AS_OF_MARK else n
    )
    if when is None:
        when = event_date(spec, spec.metrics[name].source or "")
    return exp.GT(this=when, expression=start)


def _until(key: str, end: exp.Expression) -> exp.Expression:
    """The key's next point after this row's (``end`` after its last): the next row's, as
    a point is unique per key (a one-row frame: 0.93x the time of the frame to the end on
    DuckDB; LEAD is not written alike everywhere, and ClickHouse's reads its frame)."""
    frame = exp.WindowSpec(
        kind="ROWS",
        start=number(1),
        start_side="FOLLOWING",
        end=number(1),
        end_side="FOLLOWING",
    )
    return coalesce(_over_points(exp.Min(this=column(AT)), key, frame), end.copy())


@dataclass(frozen=True)
class _Parts:
    """Aggregates per (key, bucket) that accumulate over the buckets: each of ``columns`` by
    its aggregate (``_RUNNING``); ``seen``: (its column, the values CTE's name) for each
    source whose metrics must know that the key has rows by then (its latest bucket)."""

    cte: str
    columns: tuple[Column, ...]
    seen: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Source:
    """A timed source's metrics by path (``_path``), and its seen column's name."""

    name: str
    running: tuple[str, ...]
    distinct: tuple[str, ...]
    dated: frozenset[str]
    seen: str


def _masked(aggregate: exp.Expression, where: exp.Expression | None) -> exp.Expression:
    """``aggregate`` (SUM, COUNT, MIN or MAX of one argument) over only the rows ``where``
    keeps, when it reads rows of several sources."""
    if where is None:
        return aggregate
    out = aggregate.copy()
    kept = number(1) if isinstance(out.this, exp.Star) else out.this
    out.set("this", case([(where.copy(), kept)]))
    return out


def _counts_zero(fill: object) -> bool:
    return type(fill) in (int, float) and fill == 0


class _History:
    """The plan of one history, built source by source (``history_plan``)."""

    def __init__(self, spec: Spec, dates: tuple[date, ...]) -> None:
        self.spec, self.dates = spec, dates
        self.names, self.key = ModelNames(spec.entity.name), spec.entity.key
        self.end = date_literal(dates[-1] + timedelta(days=1))  # after every date
        self.rows: list[RowsStep] = []
        self.sources: list[SourceStep] = []
        self.reach: list[Step] = []  # each windowed source's (bucket, date) pairs
        self.steps: list[Step] = []
        self.parts: list[_Parts] = []
        self.points: list[exp.Select] = []  # the timeline's points, a SELECT each
        self.metrics: dict[str, exp.Expression] = {}  # metric -> its value per (key, date)
        self.point_steps: list[SourceStep] = []  # dated and static steps, metric owners
        self.split: dict[str, tuple[SourceStep, DistinctOnly]] = {}
        self.guards: dict[str, tuple[str, str, exp.Expression]] = {}  # (seen, step, empty)
        self.dated_ctes: set[str] = set()  # steps per (key, date): their row's date only
        # each split's hash of the key, once per point rather than once per date (MD5 of
        # every row of 12 dates was a fifth of the time)
        self.hashed = {
            n: f"{n}{HELPER_SEPARATOR}hash"
            for n, s in spec.segmentations.items()
            if s.split is not None
        }

    # ------------------------------------------------------------------ sources

    def all_sources(self) -> None:
        """Every source in the spec's order. Timed sources without joins that read one table
        by the same key and time share one scan and one aggregate per (key, bucket), each
        running metric over its own source's rows (customer_lifecycle's sales and all lines:
        0.9x the time)."""
        spec = self.spec
        groups: dict[tuple[str, ...], list[str]] = {}
        for sname, src in spec.sources.items():
            if src.time:
                same = (src.table, src.key or self.key, event_date(spec, sname).sql(CANONICAL))
                groups.setdefault(same if not src.joins else (sname,), []).append(sname)
        done: set[str] = set()
        for sname, src in spec.sources.items():
            if not src.time:  # the same at every date: plan's steps, joined by key
                before = len(self.sources)
                _plan._source_steps(spec, self.names, sname, self.sources, self.rows, self.split)
                self._point_steps(self.sources[before:], "static")
            elif sname not in done:
                group = next(g for g in groups.values() if sname in g)
                done.update(group)
                self._timed(group)

    def _timed(self, group: list[str]) -> None:
        """Timed sources of one table, key and time: their running and distinct metrics in
        one aggregate per (key, bucket), then each one's dated metrics."""
        spec = self.spec
        members: list[_Source] = []
        trees: dict[str, exp.Expression] = {}
        for sname in group:
            mine = [m for m, mt in spec.metrics.items() if mt.source == sname]
            joins = spec.sources[sname].joins
            own = {
                m: _unjoined(_aggregate(spec, m), joins)
                for m in mine
                if spec.metrics[m].agg not in TOP_AGGS
            }
            trees.update(own)
            paths = {m: _path(spec, m, own[m]) if m in own else "dated" for m in mine}
            members.append(
                _Source(
                    sname,
                    tuple(m for m in mine if paths[m] == "running"),
                    tuple(m for m in mine if paths[m] == "distinct"),
                    frozenset(m for m in mine if paths[m] == "dated"),
                    f"{self.names.parts(sname)}{HELPER_SEPARATOR}seen",
                )
            )
        self._running(members, trees)
        for member in members:
            if member.dated:
                self._dated(member.name, member.dated, member.seen)

    def _running(self, members: list[_Source], trees: dict[str, exp.Expression]) -> None:
        """The bucketed rows of timed sources of one table, key and time, their running
        aggregates and their running distinct counts, each over its own source's rows."""
        spec, names, key = self.spec, self.names, self.key
        lead = members[0].name
        src = spec.sources[lead]
        src_key = src.key or key
        when = event_date(spec, lead)
        others = tuple(m.name for m in members[1:])
        upto = date_literal(self.dates[-1])
        where = _plan.source_filter(spec, lead, upto, others)
        masks = {m.name: _plan.source_where(spec, m.name) if others else None for m in members}
        helpers: list[Column] = []  # the running metrics' aggregates, per (key, bucket)
        outer: dict[str, exp.Expression] = {}
        for member in members:
            mask = masks[member.name]
            for m in member.running:
                own: list[Column] = []

                def part(
                    node: exp.Expression, own: list[Column] = own, m: str = m, mask=mask
                ) -> exp.Expression:
                    if type(node) in _RUNNING:
                        name = f"{m}{HELPER_SEPARATOR}p{len(own) + 1}"
                        own.append(Column(name, _masked(node, mask)))
                        return column(own[-1].name)
                    return node

                outer[m] = trees[m].copy().transform(part)
                helpers += own
        values = {m: _distinct_value(trees[m]) for s in members for m in s.distinct}
        read_by = [h.expr for h in helpers] + [column(src.time or "")]
        if src.joins:  # the distinct counts' values too, read as joined (below)
            read_by += list(values.values())
        read_by += [w for w in masks.values() if w is not None]
        shared = _shared_columns(src_key, read_by)
        if shared is None:
            raise CompileError(
                f"model '{spec.name}': source '{lead}' qualifies a column with its table, "
                "which a history cannot read from its rows; write the column unqualified"
            )
        bucket = bucket_of(when, self.dates)
        cte = names.buckets(lead)
        if src.joins:
            rows = _joined_rows(spec, lead, cte, shared, where)
            joined = _own_columns(bucket, lambda n: _joined_value(n, src.joins))
            self.rows.append(replace(rows, columns=(*rows.columns, Column(BUCKET, joined))))
        else:
            plain = tuple(passed(c) for c in shared)
            self.rows.append(RowsStep(cte, src.table, (*plain, Column(BUCKET, bucket)), where))
        by_bucket = (column(BUCKET),)
        first = Column(BUCKET, exp.Min(this=column(BUCKET)))
        parts = names.parts(lead)
        reads = self._seen_read(members)
        seen: list[tuple[str, str]] = []  # (the parts' column, the values CTE's name)
        flags: list[Column] = []  # a source's latest bucket among several sources' rows
        for member in members:
            if member.name not in reads:
                continue
            mask = masks[member.name]
            if mask is None:
                seen.append((BUCKET, member.seen))
            else:
                flags.append(Column(member.seen, _masked(first.expr, mask)))
                seen.append((member.seen, member.seen))
        self.sources.append(
            SourceStep(
                parts,
                cte,
                src_key,
                None,
                (first, *flags, *helpers),
                role="inner",
                group_by=by_bucket,
            )
        )
        self.parts.append(_Parts(parts, tuple(helpers), tuple(seen)))
        for m in outer:
            self.metrics[m] = outer[m]
        for member in members:
            mask = masks[member.name]
            for i, m in enumerate(member.distinct, 1):  # each value counted at its first bucket
                firsts, counted = names.firsts(member.name, i), names.parts(member.name, i)
                value = values[m]
                kept = not_null(paren(value.copy()))
                if src.joins:  # from the joined rows, which carry each row's bucket
                    read, where, firsts_of = cte, kept, first
                    if mask is not None:
                        where = all_of(mask.copy(), kept)
                else:  # each value's first date from the table, bucketed after (MIN commutes
                    # with the bucket, which never decreases): the rows CTE is read once, and
                    # DuckDB materialises a CTE read twice (0.97x the time)
                    read = src.table
                    where = all_of(_plan.source_filter(spec, member.name, upto), kept)
                    firsts_of = Column(BUCKET, bucket_of(exp.Min(this=when.copy()), self.dates))
                self.sources.append(
                    SourceStep(
                        firsts,
                        read,
                        src_key,
                        where,
                        (firsts_of,),
                        role="inner",
                        group_by=(exact(value.copy()),),
                    )
                )
                count = Column(m, exp.Count(this=exp.Star()))
                self.sources.append(
                    SourceStep(
                        counted, firsts, key, None, (first, count), role="inner", group_by=by_bucket
                    )
                )
                self.parts.append(_Parts(counted, (count,)))  # its buckets are the parts'
                # a key with rows by then but no value counted has a count of 0
                counted_value = coalesce(column(m), number(0))
                if _counts_zero(spec.metrics[m].fill):  # no rows by then: filled with 0 too
                    self.metrics[m] = counted_value
                else:
                    self.metrics[m] = case(
                        [(is_null(column(member.seen)), exp.Null())], counted_value
                    )
        self.points.append(
            exp.select(column(key), exp.alias_(column(BUCKET), AT)).from_(table(parts))
        )

    def _seen_read(self, members: list[_Source]) -> set[str]:
        """The sources whose metrics must know that a key has rows by a date: a distinct
        count not filled with 0 (NULL without rows, 0 with rows but no value), a windowed
        COUNT (0 with rows but none in the window, as one run's aggregate over no rows)."""
        out = set()
        for member in members:
            if any(not _counts_zero(self.spec.metrics[m].fill) for m in member.distinct):
                out.add(member.name)
            if self._bounded(member.dated) and self._empties(member.name, member.dated):
                out.add(member.name)
        return out

    def _bounded(self, metrics: frozenset[str]) -> bool:
        wins = [window_of(self.spec, m) for m in sorted(metrics)]
        return bool(wins) and all(w is not None and w.after is not None for w in wins)

    def _empties(self, sname: str, metrics: frozenset[str]) -> dict[str, exp.Expression]:
        """Each of ``metrics``' aggregate over no rows, where that is not NULL."""
        joins = self.spec.sources[sname].joins
        out = {}
        for m in sorted(metrics):
            empty = _empty(_unjoined(_aggregate(self.spec, m), joins))
            if not isinstance(empty, exp.Null):
                out[m] = empty
        return out

    def _dated(self, sname: str, metrics: frozenset[str], seen: str) -> None:
        """The metrics that no running aggregate gives: plan's dated steps. When every one of
        them has a window bounded below, each event meets only the dates whose windows can
        hold it: an equality join on its bucket to the (bucket, date) pairs of those
        windows (``_reach``), not a cross join with the dates."""
        spec, when = self.spec, event_date(self.spec, sname)
        span = None
        bounded = self._bounded(metrics)
        if bounded:  # each metric still keeps its own window's rows
            conditions = [window_condition(spec, m) for m in sorted(metrics)]
            unique = {c.sql(CANONICAL): c for c in conditions if c is not None}
            # and first, on the event alone (fewer rows reach the join): inside some window
            # of the first date or later
            first = date_literal(self.dates[0])
            lower = {
                c.sql(CANONICAL): c
                for m in sorted(metrics)
                if (c := _lower_bound(spec, m, first, when)) is not None
            }
            span = all_of(
                paren(any_of(*(paren(c) for c in lower.values()))),
                paren(any_of(*(paren(c) for c in unique.values()))),
            )
        before, rows_before = len(self.sources), len(self.rows)
        _plan._source_steps(
            spec, self.names, sname, self.sources, self.rows, self.split, True, metrics, span
        )
        if bounded:
            reach = self._reach(sname, metrics)
            joins = spec.sources[sname].joins
            bucket = bucket_of(when, self.dates)
            if joins:  # read from the source's alias, as its rows' filter is
                bucket = _own_columns(bucket, lambda n: _joined_value(n, joins))
            on = exp.EQ(this=bucket, expression=column(BUCKET, reach))
            self.rows[rows_before:] = [
                replace(r, reach=(reach, on)) if r.dated else r for r in self.rows[rows_before:]
            ]
        main = self._point_steps(self.sources[before:], "dated")
        if bounded and main is not None:  # rows by then, none in a window: the empty aggregate
            for m, empty in self._empties(sname, metrics).items():
                self.guards[m] = (seen, main, empty)

    def _reach(self, sname: str, metrics: frozenset[str]) -> str:
        """The CTE of the (bucket, date) pairs at which an event of that bucket can be in
        some metric's window: the bucket on or before the date, and after the start of a
        window at the date (an event is on or before its bucket)."""
        spec, day, bucket = self.spec, column(AS_OF_COLUMN, LATE), column(AS_OF_COLUMN, EARLY)
        starts = {
            c.sql(CANONICAL): c
            for m in sorted(metrics)
            if (c := _lower_bound(spec, m, day, bucket)) is not None
        }
        query = _date_pairs(
            self.names.spine, BUCKET, paren(any_of(*(paren(c) for c in starts.values())))
        )
        cte = self.names.reach(sname)
        self.reach.append(Step(cte, "", (), query=query))
        return cte

    def _point_steps(self, steps: list[SourceStep], kind: str) -> str | None:
        """Record the metric owners among ``steps`` (dated or static relations); the main
        one gives the timeline its points. Returns the main step's CTE."""
        key, main = self.key, None
        for s in steps:
            if s.role == "inner":
                continue
            self.point_steps.append(s)
            if s.role == "main":
                main = s.cte
        if main is None:
            return None
        if kind == "dated":  # its values hold at that date only (``_unqualified``)
            self.dated_ctes.update(s.cte for s in steps if s.role != "inner")
            self.points.append(
                exp.select(
                    exp.alias_(column(key, main), key), exp.alias_(column(AS_OF_COLUMN, main), AT)
                ).from_(table(main))
            )
        else:
            self.points.append(
                exp.select(column(key), exp.alias_(date_literal(self.dates[0]), AT)).from_(
                    table(main)
                )
            )
        return main

    # ------------------------------------------------------------------ population

    def population(self) -> None:
        """Each population table's members from the first date on or after their own time
        (NULL: every date): a point of the timeline that the key's first kept one is."""
        first = date_literal(self.dates[0])
        for _, pop in self.spec.populations:
            pop_key = pop.key or self.key
            where = _plan.population_filter(self.spec, pop, date_literal(self.dates[-1]))
            since: exp.Expression = first
            if pop.time:
                joined = zoned_date(column(pop.time), "UTC")
                since = case([(is_null(column(pop.time)), first)], bucket_of(joined, self.dates))
            self.points.append(
                exp.select(
                    exp.alias_(column(pop_key), self.key),
                    exp.alias_(since.copy(), AT),
                    exp.alias_(since, SINCE),
                )
                .from_(table(pop.table))
                .where(where)
            )

    # ------------------------------------------------------------------ the timeline

    def timeline(self, members: bool) -> None:
        """The points (one UNION ALL); each key's points with every relation's row there
        (equality joins on the key and the date); then, in one window pass per key, each
        part accumulated up to the point, and the point's next one (its interval's end)."""
        names, key = self.names, self.key
        none = exp.alias_(exp.Cast(this=exp.Null(), to=_DATE.copy()), SINCE)
        branches = self.points
        if members:  # a population's points say since when; the others do not
            branches = [p if len(p.expressions) == 3 else p.select(none.copy()) for p in branches]
        union: exp.Expression = branches[0]
        for b in branches[1:]:
            union = exp.union(union, b, distinct=False)
        self.steps.append(Step(names.timeline_points, "", (), query=union))
        since = [exp.alias_(exp.Min(this=column(SINCE)), SINCE)] if members else []
        grouped = (
            exp.select(column(key), column(AT), *since)
            .from_(table(names.timeline_points))
            .group_by(column(key), column(AT))
            .subquery(INNER)
        )
        own = [column(c, INNER) for c in (key, AT, *([SINCE] if members else []))]
        select = exp.select(*(_named(c, c.name) for c in own)).from_(grouped)
        for p in self.parts:
            on = all_of(
                exp.EQ(this=column(key, p.cte), expression=column(key, INNER)),
                exp.EQ(this=column(BUCKET, p.cte), expression=column(AT, INNER)),
            )
            select = select.join(table(p.cte), on=on, join_type="left")
            select = select.select(*(_named(column(c, p.cte), n) for c, n in p.seen))
            select = select.select(*(_named(column(c.name, p.cte), c.name) for c in p.columns))
        for s in self.point_steps:
            on = exp.EQ(this=column(key, s.cte), expression=column(key, INNER))
            if s.dated:
                on = all_of(
                    on, exp.EQ(this=column(AS_OF_COLUMN, s.cte), expression=column(AT, INNER))
                )
            select = select.join(table(s.cte), on=on, join_type="left")
            select = select.select(*(_named(column(c, s.cte), n) for c, n in self._read(s)))
        self.steps.append(Step(names.timeline, "", (), query=select))
        cols = [column(key), column(AT), _named(_until(key, self.end), UNTIL)]
        if members:  # a member from its first point on
            cols.append(_named(_running(column(SINCE), key, exp.Min), SINCE))
        for p in self.parts:
            cols += [_named(_running(column(n), key, exp.Max), n) for _, n in p.seen]
            cols += [_named(_accumulated(c, key), c.name) for c in p.columns]
        cols += [column(n) for s in self.point_steps for _, n in self._read(s)]
        cols += [_named(_plan.split_hash(self.spec, n), h) for n, h in self.hashed.items()]
        query = exp.select(*cols).from_(table(names.timeline))
        self.steps.append(Step(names.timeline_values, "", (), query=query))

    def _read(self, step: SourceStep) -> list[tuple[str, str]]:
        """The columns of a dated or static step that the metrics read: (column, its name in
        the values CTE); the key as '<cte>__seen'."""
        out = [(self.key, f"{step.cte}{HELPER_SEPARATOR}seen")] if step.role == "main" else []
        out += [(c.name, c.name) for c in step.columns if c.name in self.spec.metrics]
        if step.dated:
            out.append((AS_OF_COLUMN, f"{step.cte}{HELPER_SEPARATOR}at"))
        return out

    # ------------------------------------------------------------------ the metrics

    def metric_columns(self) -> list[Column]:
        """Each base metric per (key, date): filled and rounded as ``plan._metrics_phase``
        does, the as-of mark read as the date."""
        spec, out = self.spec, []
        steps = self.point_steps
        for m, metric in spec.metrics.items():
            if metric.kind == "derived":
                continue
            places = metric_precision(spec, m)
            if m in self.metrics:
                value = _missing_nan(self.metrics[m], places)
            else:
                value = _metric_value(steps, self.split, "", self.key, m, None, places)
                value = value.transform(self._unqualified)
                if m in self.guards:
                    seen, step, empty = self.guards[m]
                    own = self._unqualified(column(self.key, step))
                    gone = all_of(not_null(column(seen)), is_null(own))
                    value = case([(gone, _missing_nan(empty, places))], value)
            out.append(Column(m, _rounded(_with_fill(value, metric.fill), places)))
        return out

    def _unqualified(self, node: exp.Expression) -> exp.Expression:
        """A step's column as the values CTE names it (the key: '<cte>__seen'). A dated
        step's row holds at its own date only: at the later dates of its interval the column
        reads NULL, as when the step has no row (the timeline has no point for the date
        after it, which was 0.85x the time)."""
        if not (isinstance(node, exp.Column) and node.table):
            return node
        step = node.table
        value = column(f"{step}{HELPER_SEPARATOR}seen" if node.name == self.key else node.name)
        if step not in self.dated_ctes:
            return value
        here = exp.EQ(this=column(f"{step}{HELPER_SEPARATOR}at"), expression=_plan.as_of())
        return case([(here, value)])


def _empty(tree: exp.Expression) -> exp.Expression:
    """An aggregate over no rows: each COUNT 0, any other aggregate NULL."""

    def empty(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Count):
            return number(0)
        if isinstance(node, exp.AggFunc):
            return exp.Null()
        return node

    return tree.copy().transform(empty)


def history_plan(spec: Spec, spec_path: Path | None, dates: tuple[date, ...]) -> ModelPlan:
    """The plan of a history at ``dates`` (ascending): sources by path, the timeline, the
    metrics per (key, date), then ``plan``'s derived, tiers (per date), segments and arms."""
    names, key = ModelNames(spec.entity.name), spec.entity.key
    h = _History(spec, dates)
    h.all_sources()
    members = bool(spec.populations)
    h.population()
    h.timeline(members)
    metric_columns = h.metric_columns()
    spine, values = names.spine, names.timeline_values
    # each interval held by the dates from its start until its end: an equality join to the
    # pairs (date, a date on or after it), 0.9x the time of a range join on DuckDB
    pairs = _date_pairs(spine, AT).subquery(INNER)
    metrics = (
        exp.select(
            exp.alias_(column(key, values), key),
            exp.alias_(column(AS_OF_COLUMN, INNER), AS_OF_COLUMN),
            *(exp.alias_(c.expr, c.name) for c in metric_columns),
            *(column(name) for name in h.hashed.values()),
        )
        .from_(table(values))
        .join(pairs, on=exp.EQ(this=column(AT, values), expression=column(AT, INNER)))
        .where(
            all_of(
                exp.LT(this=column(AS_OF_COLUMN, INNER), expression=column(UNTIL, values)),
                *([not_null(column(SINCE, values))] if members else []),
            )
        )
    )
    h.steps.append(Step(names.metrics, "", (), query=metrics))
    chain = _Chain(
        names.metrics, [key, AS_OF_COLUMN, *(c.name for c in metric_columns), *h.hashed.values()]
    )
    _plan._derived_phase(spec, spec_path, names, chain)
    _plan._tiers_phase(spec, names, chain, True)
    models = _plan._clusters_phase(spec, spec_path, names, chain, True)
    _plan._segments_phase(spec, names, models, chain)
    _plan._arms_phase(spec, names, chain, h.hashed)
    return ModelPlan(
        spec.name,
        key,
        (),
        tuple(h.rows),
        tuple(h.sources),
        names.timeline,
        names.metrics,
        (),
        (),
        (*h.steps, *chain.steps),
        tuple([key, AS_OF_COLUMN, *spec.output_columns()[1:]]),
        (),
        tuple(date_literal(d) for d in dates),
        spine,
        timeline=True,
        reach=tuple(h.reach),
    )
