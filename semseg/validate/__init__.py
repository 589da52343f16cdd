"""Validation: raw YAML data → typed ``Spec``, or every problem found, each with file:line:col."""

from __future__ import annotations

from typing import Any

import sqlglot
from pydantic import ValidationError

from semseg.errors import Issue
from semseg.loader import Marks
from semseg.model import Spec
from semseg.validate.bands import band_issues
from semseg.validate.kinds import metric_kind_issues, segmentation_kind_issues
from semseg.validate.references import reference_issues
from semseg.validate.snippet_rules import snippet_issues
from semseg.validate.structure import structural_issues

SEMANTIC_RULES = (
    metric_kind_issues,
    segmentation_kind_issues,
    snippet_issues,
    reference_issues,
    band_issues,
)


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
    issues = _dialect_issues(data, marks)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        return None, issues + structural_issues(exc, marks)
    if issues:
        return None, issues
    for rule in SEMANTIC_RULES:
        issues += rule(spec, marks)
    return (None if issues else spec), issues
