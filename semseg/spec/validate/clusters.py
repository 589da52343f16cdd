"""Cluster segmentations: their metrics exist, nothing of the other kinds, k for kmeans."""

from __future__ import annotations

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import Spec
from semseg.spec.validate.snippets import portable_issues
from semseg.sql import SnippetProblem, column_names, parse_snippet

_NOT_WITH_CLUSTER = ("by", "segments", "quantiles", "direction", "labels", "null_label")


def cluster_issues(spec: Spec, name: str, marks: Marks) -> list[Issue]:
    """Cluster: features/categorical/overlays are metrics, nothing of the other kinds, k."""
    s = spec.segmentations[name]
    c = s.cluster
    assert c is not None
    at = ("segmentations", name)
    issues = []
    for key in _NOT_WITH_CLUSTER:
        if getattr(s, key) is not None:
            issues.append(
                marks.issue(
                    (*at, key),
                    f"cluster segmentation '{name}' also has '{key}'",
                    "remove it: the fitted clusters are the segments",
                )
            )
    seen: dict[str, str] = {}
    for role in ("features", "categorical", "overlays"):
        for i, metric in enumerate(getattr(c, role)):
            path = (*at, "cluster", role, i)
            if metric not in spec.metrics:
                issues.append(
                    marks.issue(
                        path,
                        f"cluster {role} '{metric}' is not a metric",
                        f"known metrics: {', '.join(spec.metrics)}",
                    )
                )
            elif metric in seen:
                issues.append(
                    marks.issue(
                        path,
                        f"metric '{metric}' is listed in both {seen[metric]} and {role}",
                        "list each metric once",
                    )
                )
            seen.setdefault(metric, role)
    if c.algorithm == "kmeans" and c.k is None:
        issues.append(
            marks.issue(
                (*at, "cluster", "algorithm"),
                f"kmeans segmentation '{name}' has no 'k'",
                "add 'k: <number of clusters>'",
            )
        )
    if c.algorithm == "hdbscan" and c.k is not None:
        issues.append(
            marks.issue(
                (*at, "cluster", "k"),
                "'k' applies only to algorithm: kmeans",
                "remove it (HDBSCAN finds the number of clusters) or use kmeans",
            )
        )
    if c.rule == "boxes" and (c.algorithm == "kmeans" or c.assigns_noise):
        issues.append(
            marks.issue(
                (*at, "cluster", "rule"),
                "rule: boxes applies only to HDBSCAN without assign_noise (a row outside "
                "every box is noise, and a KMeans cluster is exactly the cell of its centre)",
                "remove 'rule' (the default then fits) or use rule: prototypes",
            )
        )
    if c.where:
        tree = parse_snippet(c.where, spec.dialect)
        if isinstance(tree, SnippetProblem):
            issues.append(
                marks.issue((*at, "cluster", "where"), f"cluster.where: {tree.message}", tree.hint)
            )
        else:
            issues += portable_issues(marks, (*at, "cluster", "where"), tree)
            for col in column_names(tree):
                if col not in spec.metrics:
                    issues.append(
                        marks.issue(
                            (*at, "cluster", "where"),
                            f"cluster.where refers to '{col}', which is not a metric",
                            f"known metrics: {', '.join(spec.metrics)}",
                        )
                    )
    return issues
