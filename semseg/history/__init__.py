"""Segment membership over time (issue 26): every key's metrics and labels at many as-of
dates from one query over a spine of them (``semseg history``), and who moved between two
dates (``semseg transitions``).

Every spec is point in time, so the segments as they were at a past date are the model as of
that date. The transition matrix is one query for any target: the model as of each date,
stacked (UNION ALL, no FULL JOIN: MySQL and MariaDB have none), then per key whether it was
there at each date and its label, then the count per (label before, label after). A key in
the model at the second date only is *new* (not in the population before); at the first
only, *gone*.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp

from semseg.compile import HISTORY_AS_OF, history_query, model_tree, refusals, target_sql
from semseg.compile.dialects import Target, get_target
from semseg.data import Session
from semseg.errors import CompileError, UsageError
from semseg.spec import SpecFile
from semseg.spec.graph import segment_labels
from semseg.sql import column, ident, number

NEW, GONE = "(new)", "(gone)"
UNLABELLED = "(no label)"  # a key there with a NULL label (a cluster's rows outside `where`)
MODELS = "semseg_models"  # the two dates' models, stacked
KEYS = "semseg_keys"  # per key: there at each date, and its label
SIDE, LABEL = "semseg_side", "semseg_label"


@dataclass(frozen=True)
class Transitions:
    """The count of keys per (segment at the first date, segment at the second); a None
    segment before is a new key, after a gone one."""

    spec: str
    segmentation: str
    start: date
    end: date
    before: tuple[str, ...]  # the segments at the first date, in the segmentation's order
    after: tuple[str, ...]  # ... and at the second
    cells: dict[tuple[str | None, str | None], int]

    def count(self, before: str | None, after: str | None) -> int:
        return self.cells.get((before, after), 0)

    def row_total(self, before: str | None) -> int:
        """Keys in ``before`` at the first date (None: new keys)."""
        return sum(n for (b, _), n in self.cells.items() if b == before)

    def column_total(self, after: str | None) -> int:
        """Keys in ``after`` at the second date (None: gone keys)."""
        return sum(n for (_, a), n in self.cells.items() if a == after)


EVERY = ("day", "week", "month")
MAX_DATES = 500  # SQLite's longest UNION ALL (SQLITE_MAX_COMPOUND_SELECT) holds the spine


def spine(start: date, end: date, every: str) -> tuple[date, ...]:
    """The as-of dates from ``start`` to ``end`` (both included when they fall on the
    rhythm): every day, every 7 days from ``start``, or every month end in between."""
    check_dates(start, end)
    if every not in EVERY:
        raise UsageError(f"--every {every}: use one of {', '.join(EVERY)}")
    dates: list[date] = []
    if every == "month":
        year, month = start.year, start.month
        while True:
            last = date(year, month, calendar.monthrange(year, month)[1])
            if last > end:
                break
            if last >= start:
                dates.append(last)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    else:
        step = timedelta(days=1 if every == "day" else 7)
        day = start
        while day <= end:
            dates.append(day)
            day += step
    if not dates:
        raise UsageError(f"no month ends from {start} to {end}: widen the range")
    if len(dates) > MAX_DATES:
        raise UsageError(
            f"{len(dates)} as-of dates from {start} to {end} every {every}: a history holds "
            f"at most {MAX_DATES} (choose a longer --every, or a shorter range)"
        )
    return tuple(dates)


def history_tree(spec_file: SpecFile, dates: tuple[date, ...], target: Target) -> exp.Expression:
    """The history as one query for ``target``: a row per (key, as-of date) with the spec's
    metrics and labels as they were at that date."""
    refused = refusals(spec_file, target)
    if refused:
        raise CompileError("\n".join(refused))
    return history_query(spec_file.spec, dates, spec_file.path)


def sizes_tree(
    spec_file: SpecFile, dates: tuple[date, ...], segmentation: str, target: Target
) -> exp.Expression:
    """Per (as-of date, segment) of one segmentation, the number of keys: the history
    aggregated where it runs (only these rows come back)."""
    history = exp.Subquery(
        this=history_tree(spec_file, dates, target), alias=exp.TableAlias(this=ident("h"))
    )
    label = exp.cast(column(segmentation), exp.DataType.build("varchar"))
    return (
        exp.select(column(HISTORY_AS_OF), exp.alias_(label, LABEL), exp.Count(this=exp.Star()))
        .from_(history)
        .group_by(column(HISTORY_AS_OF), label.copy())
    )


def history_sql(spec_file: SpecFile, dates: tuple[date, ...], dialect: str) -> str:
    """``history_tree`` as the target's SQL text (the one exit, ``target_sql``)."""
    target = get_target(dialect)
    return target_sql(history_tree(spec_file, dates, target), target)


def check_dates(start: date, end: date) -> None:
    if not start < end:
        raise UsageError(f"--from {start} must be before --to {end}")


def transitions_tree(
    spec_file: SpecFile, segmentation: str, start: date, end: date, target: Target
) -> exp.Expression:
    """The matrix as one query for ``target``: per (there before, label before, there after,
    label after) the number of keys. Labels are compared as text (a cluster's id too)."""
    refused = refusals(spec_file, target)
    if target.name == "tsql":
        refused.append(
            "SQL Server cannot nest the two models' WITH clauses in one query; run "
            "transitions on another engine, or export the model's rows"
        )
    if refused:
        raise CompileError("\n".join(refused))
    key = spec_file.spec.entity.key
    text = exp.DataType.build("varchar")

    def side(when: date, n: int) -> exp.Select:
        spec = spec_file.with_as_of(when).spec
        # each date's model has CTE names of its own (the entity's name + _at_n): Spark's
        # generator moves nested WITH clauses to the top, where the same names would clash
        entity = spec.entity.model_copy(update={"name": f"{spec.entity.name}_at_{n}"})
        spec = spec.model_copy(update={"entity": entity})
        model = model_tree(spec, target, spec_path=spec_file.path)
        alias = f"semseg_at_{n}"
        return exp.select(
            exp.alias_(column(key, alias), key),
            exp.alias_(exp.cast(column(segmentation, alias), text), LABEL),
            exp.alias_(number(n), SIDE),
        ).from_(exp.Subquery(this=model, alias=exp.TableAlias(this=ident(alias))))

    stacked = exp.union(side(start, 1), side(end, 2), distinct=False)

    def on(n: int, value: exp.Expression, otherwise: exp.Expression | None) -> exp.Expression:
        when = exp.If(this=exp.EQ(this=column(SIDE), expression=number(n)), true=value)
        return exp.Max(this=exp.Case(ifs=[when], default=otherwise))

    per_key = (
        exp.select(
            exp.alias_(on(1, number(1), number(0)), "was_there"),
            exp.alias_(on(1, column(LABEL), None), "segment_before"),
            exp.alias_(on(2, number(1), number(0)), "is_there"),
            exp.alias_(on(2, column(LABEL), None), "segment_after"),
        )
        .from_(exp.Subquery(this=stacked, alias=exp.TableAlias(this=ident(MODELS))))
        .group_by(column(key))
    )
    groups = [column(c) for c in ("was_there", "segment_before", "is_there", "segment_after")]
    return (
        exp.select(*groups, exp.alias_(exp.Count(this=exp.Star()), "keys"))
        .from_(exp.Subquery(this=per_key, alias=exp.TableAlias(this=ident(KEYS))))
        .group_by(*[g.copy() for g in groups])
    )


def transitions_sql(
    spec_file: SpecFile, segmentation: str, start: date, end: date, dialect: str
) -> str:
    """``transitions_tree`` as the target's SQL text (the one exit, ``target_sql``)."""
    check_dates(start, end)
    target = get_target(dialect)
    return target_sql(transitions_tree(spec_file, segmentation, start, end, target), target)


def transitions(session: Session, segmentation: str, start: date, end: date) -> Transitions:
    """The matrix, its query run in the session (here, or on the engine)."""
    check_dates(start, end)
    spec_file = session.spec_file
    rows = session.rows(
        lambda target: transitions_tree(spec_file, segmentation, start, end, target)
    )
    cells: dict[tuple[str | None, str | None], int] = {}
    for was, before, there, after, keys in rows:
        cell = (
            (UNLABELLED if before is None else before) if was else None,
            (UNLABELLED if after is None else after) if there else None,
        )
        cells[cell] = cells.get(cell, 0) + int(keys)
    order = label_order(spec_file, segmentation)
    return Transitions(
        spec_file.spec.name,
        segmentation,
        start,
        end,
        tuple(sorted({b for b, _ in cells if b is not None}, key=order)),
        tuple(sorted({a for _, a in cells if a is not None}, key=order)),
        cells,
    )


def label_order(spec_file: SpecFile, segmentation: str):
    """The segmentation's own order; labels it does not list (a cluster's ids) after, as
    numbers where they are numbers."""
    spec = spec_file.spec
    clusters = spec.segmentations[segmentation].kind == "cluster"
    labels = [] if clusters else segment_labels(spec, segmentation)

    def order(label: str) -> tuple[int, float, str]:
        if label in labels:
            return (0, labels.index(label), "")
        try:
            return (1, float(label), label)
        except ValueError:
            return (2, 0.0, label)

    return order
