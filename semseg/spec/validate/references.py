"""Names refer to things that exist, output columns are unique, and nothing depends on itself."""

from __future__ import annotations

import difflib

from sqlglot import exp

from semseg.errors import Issue
from semseg.spec.graph import (
    derived_dependencies,
    find_cycle,
    segment_labels,
    segmentation_columns,
    segmentation_dependencies,
)
from semseg.spec.load import Marks
from semseg.spec.model import NOISE_NAME, Spec
from semseg.sql import SnippetProblem, column_names, parse_snippet


def _suggest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"known: {', '.join(options)}" if options else "define it first"


def reference_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Unknown sources/metrics/labels, clashing output columns, duplicate labels, cycles."""
    issues = []
    metrics = list(spec.metrics)
    seg_cols = segmentation_columns(spec)
    for name, m in spec.metrics.items():
        if m.source is not None and m.source not in spec.sources:
            issues.append(
                marks.issue(
                    ("metrics", name, "source"),
                    f"unknown source '{m.source}'",
                    _suggest(m.source, list(spec.sources)),
                )
            )
        if m.kind == "derived" and m.expr:
            tree = parse_snippet(m.expr, spec.dialect)
            if not isinstance(tree, SnippetProblem):
                # a metric written in another case (DBL for dbl): engines fold unquoted names
                # differently (SQLite read DBL as no column), so the name is written as declared
                for written in tree.find_all(exp.Column):
                    folded = written.name.lower()
                    if (
                        not written.table
                        and written.name != folded
                        and folded in spec.metrics
                        and written.name not in spec.metrics
                    ):
                        issues.append(
                            marks.issue(
                                ("metrics", name, "expr"),
                                f"derived metric '{name}' refers to '{written.name}'; the "
                                f"metric is named '{folded}'",
                                f"did you mean '{folded}'? write it as it is declared",
                            )
                        )
                for col in column_names(tree):
                    if col not in spec.metrics:
                        issues.append(
                            marks.issue(
                                ("metrics", name, "expr"),
                                f"derived metric '{name}' refers to unknown metric '{col}'",
                                _suggest(col, metrics),
                            )
                        )
    cycle = find_cycle(derived_dependencies(spec))
    if cycle:
        issues.append(
            marks.issue(
                ("metrics", cycle[0], "expr"),
                f"derived metrics depend on each other: {' -> '.join(cycle)}",
                "break the cycle: one of them must not use the other",
            )
        )

    # Output columns: key, metrics, label and order column of each segmentation.
    owners: dict[str, tuple] = {spec.entity.key: ("entity", "key")}
    for name in spec.metrics:
        _claim(owners, name, ("metrics", name), issues, marks)
    for name in spec.segmentations:
        for column, path in spec.segmentation_outputs(name):
            _claim(owners, column, path, issues, marks)
        if (c := spec.segmentations[name].cluster) is not None and c.names:
            names_at = ("segmentations", name, "cluster", "names")
            issues += _cluster_name_issues(c.names, names_at, marks)

    for name, s in spec.segmentations.items():
        at = ("segmentations", name)
        if s.by is not None and s.by not in spec.metrics:
            issues.append(
                marks.issue(
                    (*at, "by"),
                    f"segmentation '{name}' is by unknown metric '{s.by}'",
                    _suggest(s.by, metrics),
                )
            )
        labels: dict[str, int] = {}
        for i, seg in enumerate(s.segments or []):
            if seg.label in labels:
                issues.append(
                    marks.issue(
                        (*at, "segments", i, "label"),
                        f"duplicate label '{seg.label}' in '{name}'",
                        "give every segment its own label",
                    )
                )
            labels.setdefault(seg.label, i)
            if seg.when:
                tree = parse_snippet(seg.when, spec.dialect)
                if isinstance(tree, SnippetProblem):
                    continue
                issues += _label_literal_issues(spec, marks, (*at, "segments", i, "when"), tree)
                for col in column_names(tree):
                    if col not in spec.metrics and col not in seg_cols:
                        issues.append(
                            marks.issue(
                                (*at, "segments", i, "when"),
                                f"rule for '{seg.label}' refers to unknown column '{col}'",
                                _suggest(col, metrics + list(seg_cols)),
                            )
                        )
                    elif seg_cols.get(col) == name:
                        issues.append(
                            marks.issue(
                                (*at, "segments", i, "when"),
                                f"rule for '{seg.label}' uses its own "
                                f"segmentation's column '{col}'",
                                "rules may use metrics and other segmentations",
                            )
                        )
        if s.labels and len(set(s.labels)) != len(s.labels):
            issues.append(
                marks.issue(
                    (*at, "labels"),
                    f"duplicate labels in '{name}'",
                    "give every tier its own label",
                )
            )
    cycle = find_cycle(segmentation_dependencies(spec))
    if cycle:
        issues.append(
            marks.issue(
                ("segmentations", cycle[0]),
                f"segmentations depend on each other: {' -> '.join(cycle)}",
                "break the cycle",
            )
        )
    issues += _check_issues(spec, marks)
    return issues


def _claim(owners: dict, column: str, path: tuple, issues: list[Issue], marks: Marks) -> None:
    if column in owners:
        other = ".".join(map(str, owners[column]))
        issues.append(
            marks.issue(
                path,
                f"output column '{column}' is also produced by {other}",
                "rename one of them",
                key=path[-1] != "order_column",
            )
        )
    else:
        owners[column] = path


def _cluster_name_issues(names: dict[int, str], at: tuple, marks: Marks) -> list[Issue]:
    """Cluster ids are -1 or more; each name is one cluster's, and not another's default."""
    issues = []
    seen: dict[str, int] = {}
    for cluster_id, name in names.items():
        if cluster_id < -1:
            issues.append(
                marks.issue(
                    (*at, str(cluster_id)),
                    f"cluster id {cluster_id} does not exist",
                    "cluster ids are -1 (no cluster) or the model's 0, 1, ...",
                    key=True,
                )
            )
        noise_default = cluster_id != -1 and -1 not in names and name == NOISE_NAME
        if name in seen or noise_default:
            issues.append(
                marks.issue(
                    (*at, str(cluster_id)),
                    f"the name '{name}' is given to clusters {seen.get(name, -1)} and {cluster_id}",
                    "give every cluster its own name",
                )
            )
        elif name.startswith("Cluster ") and name != f"Cluster {cluster_id}":
            issues.append(
                marks.issue(
                    (*at, str(cluster_id)),
                    f"'{name}' is the name an unnamed cluster gets",
                    "choose another name, or name every cluster",
                )
            )
        seen.setdefault(name, cluster_id)
    return issues


def _check_issues(spec: Spec, marks: Marks) -> list[Issue]:
    issues = []
    for i, check in enumerate(spec.checks):
        at = ("checks", i)
        if check.segmentation is not None:
            if check.segmentation not in spec.segmentations:
                issues.append(
                    marks.issue(
                        (*at, "segmentation"),
                        f"unknown segmentation '{check.segmentation}'",
                        _suggest(check.segmentation, list(spec.segmentations)),
                    )
                )
                continue
            owners = (
                [check.segmentation]
                if check.segment in segment_labels(spec, check.segmentation)
                else []
            )
        else:
            owners = [n for n in spec.segmentations if check.segment in segment_labels(spec, n)]
        if not owners:
            every = sorted({lbl for n in spec.segmentations for lbl in segment_labels(spec, n)})
            issues.append(
                marks.issue(
                    (*at, "segment"),
                    f"check refers to unknown segment '{check.segment}'",
                    _suggest(check.segment, every),
                )
            )
        elif len(owners) > 1:
            issues.append(
                marks.issue(
                    (*at, "segment"),
                    f"segment '{check.segment}' exists in {', '.join(owners)}",
                    "add 'segmentation: <name>'",
                )
            )
        if check.share_between is not None:
            lo, hi = check.share_between
            if not 0 <= lo <= hi <= 1:
                issues.append(
                    marks.issue(
                        (*at, "share_between"),
                        "share_between must be [low, high] with 0 <= low <= high <= 1",
                        "e.g. share_between: [0.05, 0.4]",
                    )
                )
        if check.share_between is None and check.min_count is None and check.max_count is None:
            issues.append(
                marks.issue(
                    at, "check states no expectation", "add share_between, min_count or max_count"
                )
            )
    return issues


def _label_literal_issues(
    spec: Spec, marks: Marks, path: tuple, tree: exp.Expression
) -> list[Issue]:
    """A rule comparing a segmentation's label column with text it never produces matches
    nobody (`spend_tier = 'Lo'`, `= 'loyal'` for Loyal): say so, with the labels it has."""
    issues = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        columns = [n for n in (node.this, node.args.get("expression")) if isinstance(n, exp.Column)]
        texts = [
            n
            for n in (node.this, node.args.get("expression"), *node.expressions)
            if isinstance(n, exp.Literal) and n.is_string
        ]
        for column in columns:
            name = column.name
            if name not in spec.segmentations or spec.segmentations[name].kind == "cluster":
                continue
            labels = segment_labels(spec, name)
            for text in texts:
                if text.this not in labels:
                    issues.append(
                        marks.issue(
                            path,
                            f"'{text.this}' is not a label of '{name}', so the rule matches nobody",
                            _suggest(text.this, labels),
                        )
                    )
    return issues
