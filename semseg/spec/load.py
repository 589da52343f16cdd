"""YAML → plain Python data plus the file position of every key and value.

PyYAML's composer gives nodes with marks; we build the data ourselves so that we keep a
``Marks`` table from *path* (tuple of keys / list indexes) to ``(line, col)`` (1-based), and so
that duplicate keys, which PyYAML silently overwrites, become errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from semseg.errors import Issue

PathKey = tuple[Any, ...]


@dataclass
class Marks:
    """Positions of values (and of keys, under ``("__key__", *path)``) in one YAML file."""

    file: str
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    styles: dict[PathKey, str | None] = field(default_factory=dict)
    ends: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def at(self, path: PathKey, key: bool = False) -> tuple[int, int]:
        """Best known position for ``path``: the value itself, else its nearest ancestor."""
        path = tuple(path)
        if key and ("__key__", *path) in self.positions:
            return self.positions[("__key__", *path)]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def issue(self, path: PathKey, message: str, hint: str = "", key: bool = False) -> Issue:
        """An ``Issue`` located at ``path``."""
        line, col = self.at(path, key=key)
        return Issue(self.file, line, col, message, hint)


@dataclass
class Loaded:
    """A parsed YAML document with its marks, or the problems that stopped parsing."""

    data: Any
    marks: Marks
    issues: list[Issue]


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(node: yaml.Node, path: PathKey, marks: Marks, issues: list[Issue]) -> Any:
    marks.positions[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)  # type: ignore[arg-type]
            if key in out:
                line, col = _pos(key_node)
                first = marks.positions[("__key__", *path, key)]
                issues.append(
                    Issue(
                        marks.file,
                        line,
                        col,
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                        "remove or rename one of them (the later one is ignored)",
                    )
                )
                continue
            marks.positions[("__key__", *path, key)] = _pos(key_node)
            out[key] = _build(value_node, (*path, key), marks, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), marks, issues) for i, item in enumerate(node.value)]
    marks.styles[path] = getattr(node, "style", None)
    marks.ends[path] = (node.end_mark.line + 1, node.end_mark.column + 1)
    return _LOADER.construct_object(node, deep=True)


_LOADER = yaml.SafeLoader("")


def load_yaml_text(text: str, file: str) -> Loaded:
    """Parse YAML text; syntax errors become issues instead of exceptions."""
    marks = Marks(file)
    issues: list[Issue] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or str(exc)
        return Loaded(
            None,
            marks,
            [
                Issue(
                    file,
                    line,
                    col,
                    f"invalid YAML: {what}",
                    "check indentation, colons and quoting on this line",
                )
            ],
        )
    except yaml.YAMLError as exc:  # pragma: no cover - non-marked errors are rare
        return Loaded(None, marks, [Issue(file, 1, 1, f"invalid YAML: {exc}")])
    if node is None:
        return Loaded(
            None,
            marks,
            [
                Issue(
                    file, 1, 1, "the spec file is empty", "start with 'version: 1' and 'name: ...'"
                )
            ],
        )
    marks.lines = text.splitlines()
    data = _build(node, (), marks, issues)
    return Loaded(data, marks, issues)


def load_yaml(path: Path) -> Loaded:
    """Read and parse a YAML file (see ``load_yaml_text``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return Loaded(
            None,
            Marks(str(path)),
            [Issue(str(path), 1, 1, "the file is not UTF-8 text", "save it as UTF-8")],
        )
    return load_yaml_text(text, str(path))
