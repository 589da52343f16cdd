"""A holdout split (``split:`` on a segmentation): shares that add up to 1, a control that is
one of its arms, and segments that the segmentation can produce."""

from __future__ import annotations

import math

from semseg.errors import Issue
from semseg.spec.graph import segment_labels
from semseg.spec.load import Marks
from semseg.spec.model import Spec
from semseg.spec.time import outcome_days

SHARE_SLACK = 1e-9  # shares written with a few decimals add up to 1 within this


def split_issues(spec: Spec, marks: Marks) -> list[Issue]:
    issues = []
    for name, s in spec.segmentations.items():
        split = s.split
        if split is None:
            continue
        at = ("segmentations", name, "split")
        total = math.fsum(split.arms.values())
        if len(split.arms) < 2:
            issues.append(
                marks.issue(
                    (*at, "arms"),
                    f"split of '{name}' has {len(split.arms)} arm: a split needs at least 2",
                    "e.g. arms: {holdout: 0.1, offer: 0.9}",
                )
            )
        elif abs(total - 1) > SHARE_SLACK:
            shares = " + ".join(repr(v) for v in split.arms.values())
            issues.append(
                marks.issue(
                    (*at, "arms"),
                    f"split of '{name}': the arms' shares add up to {total!r} ({shares}), not 1",
                    "give shares that add up to 1, e.g. {holdout: 0.1, offer: 0.9}",
                )
            )
        if split.control is not None and split.control not in split.arms:
            issues.append(
                marks.issue(
                    (*at, "control"),
                    f"split of '{name}': control '{split.control}' is not one of its arms",
                    f"arms are: {', '.join(split.arms)}",
                )
            )
        for i, outcome in enumerate(split.outcomes):
            metric = spec.metrics.get(outcome)
            if metric is None:
                issues.append(
                    marks.issue(
                        (*at, "outcomes", i),
                        f"split of '{name}': outcome '{outcome}' is not a metric",
                        f"metrics are: {', '.join(spec.metrics)}",
                    )
                )
            elif outcome_days(metric.window) is None:
                issues.append(
                    marks.issue(
                        (*at, "outcomes", i),
                        f"split of '{name}': outcome '{outcome}' needs a window 'last N days' "
                        "(or weeks): measure reads it as of the start plus N",
                        f"give metric '{outcome}' e.g. window: last 30 days",
                    )
                )
        if split.segments is not None:
            if s.kind == "cluster":
                issues.append(
                    marks.issue(
                        (*at, "segments"),
                        f"split of '{name}': a cluster segmentation's segments are cluster "
                        "ids that a refit renumbers",
                        "split every entity (remove segments), or split a rules segmentation",
                    )
                )
                continue
            labels = segment_labels(spec, name)
            for i, label in enumerate(split.segments):
                if label not in labels:
                    issues.append(
                        marks.issue(
                            (*at, "segments", i),
                            f"split of '{name}': '{label}' is not one of its segments",
                            f"segments are: {', '.join(labels)}",
                        )
                    )
            if len(set(split.segments)) != len(split.segments):
                issues.append(
                    marks.issue(
                        (*at, "segments"),
                        f"split of '{name}' lists a segment twice",
                        "list each segment once",
                    )
                )
    return issues
