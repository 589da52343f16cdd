"""Every SQL snippet parses as one scalar expression; aggregates only where they belong."""

from __future__ import annotations

from collections.abc import Iterator

from semseg.errors import Issue
from semseg.loader import Marks, PathKey
from semseg.model import Spec
from semseg.snippets import SnippetProblem, has_aggregate, parse_snippet

# (path, text, needs_aggregate): True = must aggregate, False = must not, None = either.
Place = tuple[PathKey, str, bool | None]


def snippet_places(spec: Spec) -> Iterator[Place]:
    """Every snippet of the spec with its YAML path and aggregate requirement."""
    if spec.population and spec.population.where:
        yield ("population", "where"), spec.population.where, False
    for name, src in spec.sources.items():
        if src.where:
            yield ("sources", name, "where"), src.where, False
    for name, m in spec.metrics.items():
        if m.sql:
            yield ("metrics", name, "sql"), m.sql, True
        if m.expr:
            yield ("metrics", name, "expr"), m.expr, False
        if m.where:
            yield ("metrics", name, "where"), m.where, False
    for name, s in spec.segmentations.items():
        for i, seg in enumerate(s.segments or []):
            if seg.when:
                yield ("segmentations", name, "segments", i, "when"), seg.when, False


def snippet_issue(marks: Marks, path: PathKey, problem: SnippetProblem) -> Issue:
    """Locate a snippet problem in the file: the YAML value's position plus the offset inside."""
    line, col = marks.at(path)
    style = marks.styles.get(tuple(path))
    if style in ("|", ">"):
        line, col = line + problem.line, problem.col
    elif problem.line == 1:
        col += problem.col - 1 + (1 if style in ("'", '"') else 0)
    else:
        line += problem.line - 1
        col = problem.col
    return Issue(
        marks.file, line, col, f"{'.'.join(map(str, path))}: {problem.message}", problem.hint
    )


def snippet_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Parse errors, statements, and aggregates where they do not belong."""
    issues = []
    for path, text, needs_agg in snippet_places(spec):
        tree = parse_snippet(text, spec.dialect)
        if isinstance(tree, SnippetProblem):
            issues.append(snippet_issue(marks, path, tree))
            continue
        agg = has_aggregate(tree)
        if needs_agg is True and not agg:
            issues.append(
                marks.issue(
                    path,
                    f"{'.'.join(map(str, path))} has no aggregate function",
                    "sql: must aggregate the source rows, e.g. SUM(amount); "
                    "for a per-row expression use agg + expr",
                )
            )
        elif needs_agg is False and agg:
            what = {
                "expr": "expr is aggregated by 'agg'",
                "where": "where filters rows",
                "when": "when compares metrics",
            }.get(str(path[-1]), "this expression")
            issues.append(
                marks.issue(
                    path,
                    f"{'.'.join(map(str, path))} contains an aggregate function, but {what}",
                    "remove the aggregate, or use sql: for a raw aggregate",
                )
            )
    return issues
