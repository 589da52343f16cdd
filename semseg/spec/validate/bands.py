"""Bands on one metric neither overlap nor leave gaps (a proof by interval arithmetic)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import Segment, Spec

INF = math.inf


@dataclass(frozen=True)
class Interval:
    """A band's values: ``lo``/``hi`` with inclusiveness; integer bands are normalised to closed."""

    lo: float
    lo_incl: bool
    hi: float
    hi_incl: bool

    def contains_something(self, integer: bool) -> bool:
        if integer:
            return self.lo <= self.hi
        return self.lo < self.hi or (self.lo == self.hi and self.lo_incl and self.hi_incl)

    def text(self) -> str:
        left = "[" if self.lo_incl else "("
        right = "]" if self.hi_incl else ")"
        return f"{left}{_num(self.lo)}, {_num(self.hi)}{right}"


def _num(x: float) -> str:
    if x in (INF, -INF):
        return "∞" if x > 0 else "-∞"
    return str(int(x)) if float(x).is_integer() else str(x)


def band_interval(seg: Segment, integer: bool) -> Interval:
    """The set of values a band matches (integers normalised to a closed interval)."""
    lo = -INF if seg.min is None else float(seg.min)
    if seg.max is not None:
        hi, hi_incl = float(seg.max), True
    elif seg.below is not None:
        hi, hi_incl = float(seg.below), False
    else:
        hi, hi_incl = INF, False
    if integer:
        lo = math.ceil(lo) if lo != -INF else lo
        if hi != INF:
            hi = math.floor(hi) if hi_incl else math.ceil(hi) - 1
            hi_incl = True
        return Interval(lo, lo != -INF, hi, hi_incl)
    return Interval(lo, lo != -INF, hi, hi_incl)


def _intersection(a: Interval, b: Interval, integer: bool) -> Interval | None:
    lo, lo_incl = max((a.lo, not a.lo_incl), (b.lo, not b.lo_incl))
    hi, hi_incl = min((a.hi, a.hi_incl), (b.hi, b.hi_incl))
    inter = Interval(lo, not lo_incl, hi, hi_incl)
    return inter if inter.contains_something(integer) else None


def _gap_after(a: Interval, b: Interval, integer: bool) -> Interval | None:
    """Values strictly between ``a`` (ending lower) and ``b`` (starting higher), if any."""
    if integer:
        if b.lo - a.hi > 1:
            return Interval(a.hi + 1, True, b.lo - 1, True)
        return None
    gap = Interval(a.hi, not a.hi_incl, b.lo, not b.lo_incl)
    return gap if gap.contains_something(False) else None


def band_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Overlaps, interior gaps, and uncovered ends or NULLs when there is no else segment."""
    issues = []
    for name, s in spec.segmentations.items():
        if s.kind != "bands" or not s.segments or s.by not in spec.metrics:
            continue
        metric = spec.metrics[s.by]
        integer = metric.is_integer
        bands = [
            (i, seg, band_interval(seg, integer))
            for i, seg in enumerate(s.segments)
            if not seg.else_ and any(v is not None for v in (seg.min, seg.max, seg.below))
        ]
        has_else = any(seg.else_ for seg in s.segments)
        at = ("segmentations", name, "segments")
        for j, (i, seg, iv) in enumerate(bands):
            for _, earlier, eiv in bands[:j]:
                inter = _intersection(iv, eiv, integer)
                if inter is None:
                    continue
                if inter == iv:
                    msg = (
                        f"band '{seg.label}' {iv.text()} can never match: '{earlier.label}' "
                        f"{eiv.text()} comes first and covers it"
                    )
                else:
                    msg = (
                        f"band '{seg.label}' {iv.text()} overlaps '{earlier.label}' "
                        f"{eiv.text()} on {inter.text()}"
                    )
                issues.append(
                    marks.issue(
                        (*at, i),
                        msg,
                        "first match wins; make the ranges "
                        "disjoint (use 'below:' for an exclusive upper bound)",
                    )
                )
        ordered = sorted(bands, key=lambda b: (b[2].lo, not b[2].lo_incl))
        # Walk bands by lower bound, keeping the band that reaches highest so far: a value is
        # only uncovered if it lies beyond everything seen, not merely beyond the neighbour.
        cover = ordered[0] if ordered else None
        for k, b_seg, b in ordered[1:]:
            assert cover is not None
            _, a_seg, a = cover
            if a.hi == INF:
                break
            if (b.hi, b.hi_incl) > (a.hi, a.hi_incl):
                cover = (k, b_seg, b)
            gap = _gap_after(a, b, integer)
            if gap is not None and (b.lo > a.hi or (b.lo == a.hi and not (a.hi_incl or b.lo_incl))):
                issues.append(
                    marks.issue(
                        (*at, k),
                        f"values {gap.text()} of '{s.by}' fall between "
                        f"bands '{a_seg.label}' and '{b_seg.label}'",
                        "extend one band to close the gap",
                    )
                )
        if has_else or not ordered:
            continue
        floor = (
            0.0 if metric.agg is not None and metric.is_integer and metric.type is None else -INF
        )
        low = ordered[0][2]
        if low.lo > floor or (low.lo == floor and floor != -INF and not low.lo_incl):
            issues.append(
                marks.issue(
                    at,
                    f"values of '{s.by}' below {_num(low.lo)} match no band in '{name}'",
                    "add an else segment or lower the first band",
                )
            )
        high = max(iv.hi for _, _, iv in ordered)
        if high != INF:
            issues.append(
                marks.issue(
                    at,
                    f"values of '{s.by}' above {_num(high)} match no band in '{name}'",
                    "add an else segment or open the top band (omit max)",
                )
            )
        nullable = metric.fill is None and (
            len(spec.sources) > 1
            or spec.population is not None
            or metric.kind != "aggregate"
            or not metric.is_integer
        )
        if nullable:
            issues.append(
                marks.issue(
                    at,
                    f"rows whose '{s.by}' is NULL match no band in '{name}'",
                    f"add 'fill: 0' to metric '{s.by}' or an else segment",
                )
            )
    return issues
