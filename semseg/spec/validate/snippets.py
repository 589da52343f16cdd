"""Every SQL snippet parses as one scalar expression; aggregates only where they belong."""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp

from semseg.errors import Issue
from semseg.spec.load import Marks, PathKey
from semseg.spec.model import Spec
from semseg.spec.portable import problems as portable_problems
from semseg.sql import CANONICAL, PARAM_MARKER, SnippetProblem, has_aggregate, parse_snippet

# (path, text, needs_aggregate): True = must aggregate, False = must not, None = either.
Place = tuple[PathKey, str, bool | None]


def snippet_places(spec: Spec) -> Iterator[Place]:
    """Every snippet of the spec with its YAML path and aggregate requirement."""
    for at, pop in spec.populations:
        if pop.where:
            yield (*at, "where"), pop.where, False
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
        if m.measure:
            yield ("metrics", name, "measure"), m.measure, False
    for name, s in spec.segmentations.items():
        for i, seg in enumerate(s.segments or []):
            if seg.when:
                yield ("segmentations", name, "segments", i, "when"), seg.when, False


def _segments(marks: Marks, path: PathKey) -> list[tuple[int, int, str]] | None:
    """(line, col, text) of each source line of a multi-line plain or block scalar, in order.

    YAML joins these pieces with one character each ('\n' in '|' blocks, ' ' when folding),
    which is what lets a position inside the parsed text be traced back to the file.
    """
    style = marks.styles.get(tuple(path))
    if path not in marks.positions or path not in marks.ends or not marks.lines:
        return None
    (line, col), (end_line, end_col) = marks.positions[path], marks.ends[path]
    last = end_line if end_col > 1 else end_line - 1
    if style in ("|", ">"):
        body = [(n, marks.lines[n - 1]) for n in range(line + 1, last + 1)]
        filled = [t for _, t in body if t.strip()]
        indent = len(filled[0]) - len(filled[0].lstrip(" ")) if filled else 0
        return [(n, indent + 1, t[indent:]) for n, t in body]
    if style is None:
        first = (line, col, marks.lines[line - 1][col - 1 :].rstrip())
        rest = []
        for n in range(line + 1, last + 1):
            text = marks.lines[n - 1]
            stripped = text.lstrip(" ")
            rest.append((n, len(text) - len(stripped) + 1, stripped.rstrip()))
        return [first, *rest]
    return None


_ESCAPE_WIDTH = {"x": 4, "u": 6, "U": 10}  # \xHH, \uHHHH, \UHHHHHHHH; other escapes are 2


def _quoted_width(raw: str, chars: int, style: str) -> int:
    """Source columns taken by the opening quote and the first ``chars`` parsed characters.

    In a single-quoted scalar ``''`` is one quote; in a double-quoted one an escape such as
    ``\\"`` or ``\\n`` is one character: the file is wider than the text where they occur.
    """
    i = 1  # the opening quote
    for _ in range(chars):
        if i >= len(raw):
            break
        if style == "'" and raw.startswith("''", i):
            i += 2
        elif style == '"' and raw[i] == "\\":
            i += _ESCAPE_WIDTH.get(raw[i + 1 : i + 2], 2)
        else:
            i += 1
    return i


def snippet_issue(marks: Marks, path: PathKey, problem: SnippetProblem) -> Issue:
    """Locate a snippet problem in the file: the YAML value's position plus the offset inside."""
    line, col = marks.at(path)
    style = marks.styles.get(tuple(path))
    segments = _segments(marks, path)
    if segments and (len(segments) > 1 or style in ("|", ">")):
        # Offset of the problem in the parsed text, then walk the source lines to find it.
        parsed = (
            "\n".join(s for _, _, s in segments)
            if style == "|"
            else " ".join(s for _, _, s in segments)
        )
        rows = parsed.split("\n")
        offset = sum(len(r) + 1 for r in rows[: problem.line - 1]) + problem.col - 1
        for seg_line, seg_col, text in segments:
            if offset <= len(text):
                line, col = seg_line, seg_col + max(offset, 0)
                break
            offset -= len(text) + 1
    elif problem.line == 1 and style in ("'", '"') and marks.lines:
        col += _quoted_width(marks.lines[line - 1][col - 1 :], problem.col - 1, style)
    elif problem.line == 1:
        col += problem.col - 1
    else:
        line += problem.line - 1
        col = problem.col
    return Issue(
        marks.file,
        line,
        col,
        f"{'.'.join(map(str, path))}: {problem.message}",
        problem.hint,
    )


def _position(node: exp.Expression) -> tuple[int, int]:
    """1-based (line, col) of a node inside its snippet, from the first token that has one."""
    for part in node.walk():
        meta = part.meta
        if "line" in meta and "col" in meta:
            width = int(meta.get("end", 0)) - int(meta.get("start", 0))
            return int(meta["line"]), max(int(meta["col"]) - width, 1)
    return 1, 1


def portable_issues(marks: Marks, path: PathKey, tree: exp.Expression) -> list[Issue]:
    """Constructs of a snippet outside the portable catalogue, each where it is written."""
    issues = []
    for node, reason in portable_problems(tree):
        what, _, how = reason.rpartition("; ")
        if not what:
            what, how = how, "see the portable catalogue in docs/conformance.md"
        text = node.sql(CANONICAL)
        text = text if len(text) <= 60 else text[:57] + "..."
        line, col = _position(node)
        problem = SnippetProblem(f"'{text}' is not portable: {what}", how, line, col)
        issues.append(snippet_issue(marks, path, problem))
    return issues


def joins_at(spec: Spec, path: PathKey) -> dict:
    """The joins whose columns a snippet at ``path`` may read: those of its source (a source's
    ``where``, a metric over the source); none elsewhere."""
    if path[0] == "sources":
        return dict(spec.sources[str(path[1])].joins)
    if path[0] == "metrics":
        source = spec.metrics[str(path[1])].source
        return dict(spec.sources[source].joins) if source in spec.sources else {}
    return {}


def _qualified_issues(
    marks: Marks, path: PathKey, tree: exp.Expression, joins: dict
) -> list[Issue]:
    """A column written with a table or alias other than a join of the snippet's source: a
    snippet reads the one table it belongs to (a source's and its joins', the population's) or
    the metrics, and the compiler's CTEs would not resolve it."""
    issues = []
    for col in tree.find_all(exp.Column):
        clash = next((j for j in joins if col.name.lower().startswith(f"{j}__")), None)
        if not col.table and clash is not None:  # issue 23, item 11
            line, col_no = _position(col)
            problem = SnippetProblem(
                f"'{col.name}' is named like the column the join '{clash}' brings "
                f"('{clash}.{col.name[len(clash) + 2 :]}' is read as {col.name}), so the two "
                "cannot be told apart",
                f"rename the join (e.g. '{clash}_dim'), or read the column through a view "
                "under another name",
                line,
                col_no,
            )
            issues.append(snippet_issue(marks, path, problem))
            continue
        if not col.table or (col.table in joins and not col.args.get("db")):
            continue
        line, col_no = _position(col)
        if joins:
            what = f"names no join of its source (joins: {', '.join(joins)})"
            how = f"write '{col.name}' for the source's own column, or <join>.{col.name}"
        else:
            what = (
                "names a table; a snippet reads the columns of its own table (or, in rules "
                "and derived metrics, the metrics)"
            )
            how = f"write '{col.name}', or declare a join on the source to read another table"
        problem = SnippetProblem(f"'{col.sql(CANONICAL)}' {what}", how, line, col_no)
        issues.append(snippet_issue(marks, path, problem))
    return issues


def _bare_column_issues(marks: Marks, path: PathKey, tree: exp.Expression) -> list[Issue]:
    """A column of a raw aggregate (``sql:``) outside every aggregate function: one value per
    key is undefined (``SUM(quantity) + quantity``; DuckDB's Binder Error came only at
    verify, with no line). Issue 23, item 16."""
    out = []
    for col in tree.find_all(exp.Column):
        if col.name.startswith(PARAM_MARKER):
            continue
        parent = col.parent
        while parent is not None and not isinstance(parent, exp.AggFunc):
            parent = parent.parent
        if parent is None:
            out.append(
                marks.issue(
                    path,
                    f"{col.sql(CANONICAL)} is outside an aggregate in a raw aggregate (sql:), "
                    "so it has no single value per key",
                    f"put it inside one, e.g. SUM({col.sql(CANONICAL)}) or MAX(...)",
                )
            )
            break
    return out


def snippet_issues(spec: Spec, marks: Marks) -> list[Issue]:
    """Parse errors, statements, non-portable constructs, aggregates where they do not belong."""
    issues = []
    for path, text, needs_agg in snippet_places(spec):
        tree = parse_snippet(text, spec.dialect)
        if isinstance(tree, SnippetProblem):
            issues.append(snippet_issue(marks, path, tree))
            continue
        issues += portable_issues(marks, path, tree)
        issues += _qualified_issues(marks, path, tree, joins_at(spec, path))
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
        elif needs_agg is True:
            issues += _bare_column_issues(marks, path, tree)
        if needs_agg is False and agg:
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
