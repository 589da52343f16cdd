"""Numbers and values the rest of semseg can trust: finite, of the metric's kind, consistent."""

from __future__ import annotations

import math

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import Agg, Spec


def _finite_issues(spec: Spec, marks: Marks) -> list[Issue]:
    found: list[tuple[tuple, object]] = []
    for name, m in spec.metrics.items():
        found.append((("metrics", name, "fill"), m.fill))
    for name, s in spec.segmentations.items():
        for i, seg in enumerate(s.segments or []):
            for key in ("min", "max", "below"):
                found.append((("segmentations", name, "segments", i, key), getattr(seg, key)))
    for i, check in enumerate(spec.checks):
        for j, bound in enumerate(check.share_between or ()):
            found.append((("checks", i, "share_between", j), bound))
    return [
        marks.issue(path, f"{value} is not a finite number", "write a number such as 0 or 1.5")
        for path, value in found
        if isinstance(value, float) and not math.isfinite(value)
    ]


def value_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Non-finite numbers, fills of the wrong kind, contradictory checks, clashing labels."""
    issues = _finite_issues(spec, marks)
    for name, m in spec.metrics.items():
        at = ("metrics", name, "fill")
        numeric = m.agg in (Agg.count, Agg.count_distinct, Agg.sum, Agg.avg)
        if m.fill is None:
            continue
        if isinstance(m.fill, bool) and (numeric or m.is_integer):
            issues.append(
                marks.issue(at, f"fill {m.fill} for the number '{name}'", "fill with a number")
            )
        elif isinstance(m.fill, str) and numeric:
            issues.append(
                marks.issue(at, f"fill '{m.fill}' is text for the number '{name}'", "use a number")
            )
        elif m.is_integer and isinstance(m.fill, float) and not m.fill.is_integer():
            issues.append(
                marks.issue(
                    at,
                    f"fill {m.fill} is not an integer, and '{name}' is",
                    "fill with an integer such as 0",
                )
            )
    for i, check in enumerate(spec.checks):
        if (
            check.min_count is not None
            and check.max_count is not None
            and check.min_count > check.max_count
        ):
            issues.append(
                marks.issue(
                    ("checks", i, "min_count"),
                    f"min_count {check.min_count} is above max_count {check.max_count}",
                    "no segment size can pass: swap or fix them",
                )
            )
    for name, s in spec.segmentations.items():
        if s.quantiles is None:
            continue
        tiers = list(s.labels) if s.labels else [str(t) for t in range(1, s.quantiles + 1)]
        null_label = s.null_label or "Unranked"
        if null_label in tiers:
            issues.append(
                marks.issue(
                    ("segmentations", name, "null_label" if s.null_label else "labels"),
                    f"the label for NULL values, '{null_label}', is also a tier label",
                    "give NULL values a label of their own",
                )
            )
    return issues
