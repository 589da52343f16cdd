"""Validation: raw YAML data → typed ``Spec``, or every problem found, each with file:line:col."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlglot
from pydantic import ValidationError

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import Spec
from semseg.spec.validate.bands import band_issues
from semseg.spec.validate.kinds import metric_kind_issues, segmentation_kind_issues
from semseg.spec.validate.names import name_issues
from semseg.spec.validate.predict import predict_issues
from semseg.spec.validate.references import reference_issues
from semseg.spec.validate.snippets import snippet_issues
from semseg.spec.validate.splits import split_issues
from semseg.spec.validate.structure import structural_issues
from semseg.spec.validate.time import time_issues
from semseg.spec.validate.values import value_issues

SEMANTIC_RULES = (
    metric_kind_issues,
    segmentation_kind_issues,
    snippet_issues,
    reference_issues,
    band_issues,
    name_issues,
    time_issues,
    predict_issues,
    split_issues,
)


def _cluster_name_key_issues(data: dict[str, Any], marks: Marks) -> list[Issue]:
    """Two keys of one ``cluster.names`` that are the same cluster id (``1`` and ``01``, ``2``
    and ``2.0``): read as ids, the later would silently replace the earlier (issue 23)."""
    issues = []
    segmentations = data.get("segmentations")
    for name, seg in segmentations.items() if isinstance(segmentations, dict) else ():
        cluster = seg.get("cluster") if isinstance(seg, dict) else None
        names = cluster.get("names") if isinstance(cluster, dict) else None
        seen: dict[int, Any] = {}
        for key in names if isinstance(names, dict) else ():
            try:
                number = float(str(key).strip())
            except ValueError:
                continue  # not an id at all: the structural check says so
            if not number.is_integer():
                continue
            cluster_id = int(number)
            if cluster_id in seen:
                issues.append(
                    marks.issue(
                        ("segmentations", name, "cluster", "names", key),
                        f"cluster.names has '{seen[cluster_id]}' and '{key}', both cluster "
                        f"{cluster_id}: the later would silently replace the earlier",
                        f"keep one name for cluster {cluster_id}, written {cluster_id}",
                        key=True,
                    )
                )
            else:
                seen[cluster_id] = key
    return issues


def _dialect_issues(data: dict[str, Any], marks: Marks) -> list[Issue]:
    dialect = data.get("dialect", "duckdb")
    if not isinstance(dialect, str):
        return []
    try:
        sqlglot.Dialect.get_or_raise(dialect)
    except ValueError:
        return [
            marks.issue(
                ("dialect",),
                f"unknown SQL dialect '{dialect}'",
                "use a sqlglot dialect name such as duckdb, snowflake or bigquery",
            )
        ]
    return []


def validate(data: Any, marks: Marks) -> tuple[Spec | None, list[Issue]]:
    """Build the typed spec; on failure return every issue (structural first, then semantic)."""
    if not isinstance(data, dict):
        return None, [
            marks.issue(
                (), "the spec must be a YAML mapping", "start with 'version: 1' and 'name: ...'"
            )
        ]
    issues = _dialect_issues(data, marks) + _cluster_name_key_issues(data, marks)
    if isinstance(data.get("as_of"), datetime):  # issue 23: two errors quoting datetime(...)
        day = data["as_of"].date().isoformat()
        issues.append(
            marks.issue(
                ("as_of",),
                f"as_of is a date, and '{data['as_of']}' has a time of day",
                f"write the date alone: as_of: {day}",
            )
        )
        data = {**data, "as_of": data["as_of"].date()}  # said once, not again by pydantic
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        issues += structural_issues(exc, marks)
        return None, issues + _semantic_issues_without_broken_entries(data, exc, marks)
    if issues:
        return None, issues
    issues = value_issues(spec, marks)
    if issues:  # a NaN bound or a bad fill would mislead every rule below
        return None, issues
    for rule in SEMANTIC_RULES:
        issues += rule(spec, marks)
    return (None if issues else spec), issues


_SECTIONS = ("sources", "metrics", "segmentations", "checks")


def _owned_names(data: dict[str, Any], broken: dict[str, set[Any]]) -> set[str]:
    """Names a left-out entry would have defined: its own, its columns and its labels."""
    owned = {str(n) for names in broken.values() for n in names if isinstance(n, str)}
    # A badly spelled name ('Total Sales') is usually referred to by its intended spelling.
    owned |= {re.sub(r"\W+", "_", n.strip().lower()) for n in owned}
    segmentations = data.get("segmentations")
    for name in broken.get("segmentations", set()):
        raw = segmentations.get(name) if isinstance(segmentations, dict) else None
        owned.add(f"{name}_order")
        if isinstance(raw, dict):
            if isinstance(raw.get("order_column"), str):
                owned.add(raw["order_column"])
            for seg in raw.get("segments") or []:
                if isinstance(seg, dict) and isinstance(seg.get("label"), str):
                    owned.add(seg["label"])
            owned.update(
                str(lbl) for lbl in raw.get("labels") or [] if isinstance(raw.get("labels"), list)
            )
    return owned


def _semantic_issues_without_broken_entries(
    data: dict[str, Any], exc: ValidationError, marks: Marks
) -> list[Issue]:
    """Semantic issues of the entries that are structurally fine, so all problems show at once.

    Entries (a metric, a source, a segmentation, a check) with structural errors are left
    out; issues that only name a left-out entry are dropped, since they follow from it.
    """
    broken: dict[str, set[Any]] = {}
    for err in exc.errors():
        loc = err["loc"]
        if len(loc) < 2 or loc[0] not in _SECTIONS:
            return []  # the spec's frame itself is broken: nothing sound to check further
        broken.setdefault(str(loc[0]), set()).add(loc[1])
    pruned = dict(data)
    for section, names in broken.items():
        value = data.get(section)
        if isinstance(value, dict):
            pruned[section] = {k: v for k, v in value.items() if k not in names}
        elif isinstance(value, list):
            pruned[section] = [v for i, v in enumerate(value) if i not in names]
    try:
        spec = Spec.model_validate(pruned)
    except ValidationError:
        return []
    if value_issues(spec, marks):
        return []  # reported once the structure is fixed; the rules below would trip on them
    dropped = {f"'{name}'" for name in _owned_names(data, broken)}
    found = []
    for rule in SEMANTIC_RULES:
        found += [
            i
            for i in rule(spec, marks)
            if not any(d in i.message for d in dropped)
            # labels of a left-out segmentation are unknown, so checks on labels can't be judged
            and not ("segmentations" in broken and i.message.startswith("check refers to"))
        ]
    return found
