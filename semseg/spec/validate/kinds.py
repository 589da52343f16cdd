"""Each metric and segmentation must be one recognisable kind, with the keys that kind needs."""

from __future__ import annotations

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import TIME_AGGS, TOP_AGGS, Agg, Spec
from semseg.spec.validate.clusters import cluster_issues

_QUANTILE_ONLY = ("direction", "labels", "null_label")


def metric_kind_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Metrics: aggregate (source+agg+expr), raw (source+sql) or derived (expr only)."""
    issues = []
    for name, m in spec.metrics.items():
        at = ("metrics", name)
        if m.source is None:
            for key in ("agg", "sql", "where"):
                if getattr(m, key) is not None:
                    issues.append(
                        marks.issue(
                            (*at, key),
                            f"metric '{name}' has '{key}' but no source",
                            "add 'source: <source name>' or remove it",
                        )
                    )
            if m.expr is None and m.predict is None:
                issues.append(
                    marks.issue(
                        at,
                        f"metric '{name}' defines no value",
                        "add source+agg+expr, source+sql, a derived expr, or predict:",
                    )
                )
            elif m.expr is not None and m.predict is not None:
                issues.append(
                    marks.issue(
                        (*at, "expr"),
                        f"metric '{name}' has both 'expr' and 'predict'",
                        "a propensity's value is its model's: remove expr",
                    )
                )
        elif m.predict is not None:
            issues.append(
                marks.issue(
                    (*at, "predict"),
                    f"metric '{name}' has 'predict' and a source",
                    "a propensity is computed from other metrics: remove source (and agg, expr)",
                )
            )
        elif m.sql is not None:
            for key in ("agg", "expr", "where"):
                if getattr(m, key) is not None:
                    issues.append(
                        marks.issue(
                            (*at, key),
                            f"metric '{name}' has both 'sql' and '{key}'",
                            "use either sql: (a complete aggregate) or agg+expr",
                        )
                    )
        elif m.agg is None:
            issues.append(
                marks.issue(
                    at,
                    f"metric '{name}' has a source but no 'agg' or 'sql'",
                    "add agg: count|count_distinct|sum|avg|min|max and expr, or a time aggregation "
                    "(days_since_last, days_since_first, active_days|weeks|months)",
                )
            )
        elif m.expr is None and m.agg is not Agg.count and m.agg not in TIME_AGGS:
            issues.append(
                marks.issue(
                    at,
                    f"metric '{name}' uses agg '{m.agg.value}' without 'expr'",
                    "add 'expr: <column or expression>'"
                    + (" (the category)" if m.agg in TOP_AGGS else ""),
                )
            )
        if m.measure is not None and m.agg not in TOP_AGGS:
            issues.append(
                marks.issue(
                    (*at, "measure"),
                    f"metric '{name}' has 'measure', which only agg top and top_share use",
                    "remove it, or use agg: top / top_share",
                )
            )
        if m.agg is Agg.top and m.type not in (None, "text"):
            issues.append(
                marks.issue(
                    (*at, "type"),
                    f"metric '{name}' is a category (agg top): its type is text",
                    "remove 'type' or write type: text",
                )
            )
    return issues


def segmentation_kind_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Segmentations: bands, rules or quantiles; else segments single and last."""
    issues = []
    for name, s in spec.segmentations.items():
        at = ("segmentations", name)
        if s.cluster is not None:
            issues += cluster_issues(spec, name, marks)
            continue
        if s.quantiles is not None:
            if s.segments is not None:
                issues.append(
                    marks.issue(
                        (*at, "segments"),
                        f"segmentation '{name}' has both quantiles and segments",
                        "keep one: quantile tiers or explicit segments",
                    )
                )
            if s.by is None:
                issues.append(
                    marks.issue(
                        at, f"quantile segmentation '{name}' has no 'by'", "add 'by: <metric>'"
                    )
                )
            if s.direction is None:
                issues.append(
                    marks.issue(
                        (*at, "quantiles"),
                        f"quantile segmentation '{name}' has no 'direction'",
                        "add 'direction: desc' (tier 1 = highest values) or "
                        "'direction: asc' (tier 1 = lowest)",
                    )
                )
            if s.labels is not None and len(s.labels) != s.quantiles:
                issues.append(
                    marks.issue(
                        (*at, "labels"),
                        f"{len(s.labels)} labels for {s.quantiles} quantiles",
                        f"give exactly {s.quantiles} labels, tier 1 first",
                    )
                )
            continue
        for key in _QUANTILE_ONLY:
            if getattr(s, key) is not None:
                issues.append(
                    marks.issue(
                        (*at, key),
                        f"'{key}' applies only to quantile "
                        f"segmentations, and '{name}' has no 'quantiles'",
                        "remove it, or add 'quantiles: N'",
                    )
                )
        if not s.segments:
            issues.append(
                marks.issue(
                    at,
                    f"segmentation '{name}' has no segments",
                    "add 'segments:' (bands or rules) or 'quantiles: N'",
                )
            )
            continue
        issues += _segment_issues(name, s.kind, s.segments, marks)
    return issues


def _segment_issues(name: str, kind: str, segments: list, marks: Marks) -> list[Issue]:
    issues = []
    last = len(segments) - 1
    elses = [i for i, seg in enumerate(segments) if seg.else_]
    for i in elses[1:]:
        issues.append(
            marks.issue(
                ("segmentations", name, "segments", i, "else"),
                f"segmentation '{name}' has more than one else segment",
                f"keep one else (first one is '{segments[elses[0]].label}')",
            )
        )
    if elses and elses[0] != last:
        issues.append(
            marks.issue(
                ("segmentations", name, "segments", elses[0]),
                f"else segment '{segments[elses[0]].label}' is not last",
                "move it to the end: segments after it could never match",
            )
        )
    if kind == "rules" and not elses:
        issues.append(
            marks.issue(
                ("segmentations", name, "segments"),
                f"rules segmentation '{name}' has no else segment",
                "add '- {label: ..., else: true}' last so every row gets a label",
            )
        )
    for i, seg in enumerate(segments):
        at = ("segmentations", name, "segments", i)
        bounds = [k for k in ("min", "max", "below") if getattr(seg, k) is not None]
        if seg.else_:
            extra = bounds + (["when"] if seg.when is not None else [])
            if extra:
                issues.append(
                    marks.issue(
                        (*at, extra[0]),
                        f"else segment '{seg.label}' also has '{extra[0]}'",
                        "an else segment takes every remaining row; remove it",
                    )
                )
        elif kind == "rules":
            if bounds:
                issues.append(
                    marks.issue(
                        (*at, bounds[0]),
                        f"segment '{seg.label}' mixes '{bounds[0]}' with rules",
                        "express it in 'when:' or use 'by:' bands throughout",
                    )
                )
            if seg.when is None:
                issues.append(
                    marks.issue(
                        at,
                        f"segment '{seg.label}' has no 'when' condition",
                        "add 'when: <condition>' or 'else: true'",
                    )
                )
        else:
            if not bounds:
                issues.append(
                    marks.issue(
                        at,
                        f"band '{seg.label}' has no bounds",
                        "add min and/or max (inclusive) or below (exclusive)",
                    )
                )
            if seg.max is not None and seg.below is not None:
                issues.append(
                    marks.issue(
                        (*at, "below"),
                        f"band '{seg.label}' has both max and below",
                        "keep one upper bound",
                    )
                )
            hi = seg.max if seg.max is not None else seg.below
            if (
                seg.min is not None
                and hi is not None
                and (hi < seg.min or (seg.below is not None and hi == seg.min))
            ):
                issues.append(
                    marks.issue(
                        (*at, "min"),
                        f"band '{seg.label}' can never match: min {seg.min} is "
                        f"above its upper bound {hi}",
                        "swap or fix the bounds",
                    )
                )
    return issues
