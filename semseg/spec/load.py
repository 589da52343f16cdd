"""YAML → plain Python data plus the file position of every key and value.

PyYAML's composer gives nodes with marks; we build the data ourselves so that we keep a
``Marks`` table from *path* (tuple of keys / list indexes) to ``(line, col)`` (1-based), and so
that duplicate keys, which PyYAML silently overwrites, become errors.
"""

from __future__ import annotations

import re
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


MAX_BYTES = 1_000_000  # a spec is a page of YAML, not a data file
MAX_DEPTH = 40  # a spec nests about 6 deep
MAX_NODES = 100_000  # with aliases expanded: stops an alias bomb long before memory does
_EXPONENT = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+")  # fullmatch
_SAFE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:merge",
    "tag:yaml.org,2002:timestamp",  # a plain 2025-12-01; validation says where it is wrong
}


class _Stop(Exception):
    """The document cannot be read further (the issue says why)."""

    def __init__(self, issue: Issue) -> None:
        self.issue = issue


@dataclass
class _Builder:
    """Builds plain data from composed YAML nodes, with its marks and within limits."""

    marks: Marks
    issues: list[Issue]
    nodes: int = 0
    stack: list[yaml.Node] = field(default_factory=list)

    def stop(self, node: yaml.Node, message: str, hint: str) -> _Stop:
        line, col = _pos(node)
        return _Stop(Issue(self.marks.file, line, col, message, hint))

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.stop(
                node,
                f"the spec expands to more than {MAX_NODES:,} values (aliases repeat content)",
                "write the content out once; a spec needs few, if any, aliases",
            )
        if len(self.stack) >= MAX_DEPTH:
            raise self.stop(node, f"the spec nests deeper than {MAX_DEPTH} levels", "flatten it")
        if any(node is seen for seen in self.stack):
            raise self.stop(node, "an alias refers to a node that contains it", "remove the loop")
        if node.tag not in _SAFE_TAGS:
            raise self.stop(
                node,
                f"unsupported YAML tag '{node.tag}'",
                "remove the tag: a spec holds plain text, numbers, booleans, lists and mappings",
            )
        self.stack.append(node)
        try:
            return self._value(node, path)
        finally:
            self.stack.pop()

    def _value(self, node: yaml.Node, path: PathKey) -> Any:
        self.marks.positions[path] = _pos(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        self.marks.styles[path] = getattr(node, "style", None)
        self.marks.ends[path] = (node.end_mark.line + 1, node.end_mark.column + 1)
        try:
            value = _LOADER.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.stop(node, f"invalid YAML value: {exc}", "quote it") from None
        except (ValueError, OverflowError) as exc:  # a date YAML reads and Python refuses
            raise self.stop(
                node,
                f"'{node.value}' is not a date ({exc})",
                "write a real date as YYYY-MM-DD, e.g. 2025-02-28",
            ) from None
        if isinstance(value, str) and "\x00" in value:
            line, col = _pos(node)
            self.issues.append(
                Issue(
                    self.marks.file,
                    line,
                    col,
                    "the text has a NUL character (\\0), which PostgreSQL and SQLite cannot "
                    "hold in a string",
                    "remove it",
                )
            )
        plain = getattr(node, "style", None) is None
        if isinstance(value, str) and plain and _EXPONENT.fullmatch(value):
            return float(value)  # 1e6: a number in YAML 1.2 and to every reader, text to YAML 1.1
        return value

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.stop(source, "'<<' merges mappings only", "merge a mapping")
                    for k, v in self.build(source, path).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.stop(
                    key_node, "a key must be text, not a list or a mapping", "write a plain key"
                )
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)  # type: ignore[arg-type]
            if key in out:
                line, col = _pos(key_node)
                first = self.marks.positions[("__key__", *path, key)]
                self.issues.append(
                    Issue(
                        self.marks.file,
                        line,
                        col,
                        f"duplicate key '{key}' (first defined on line {first[0]})",
                        "remove or rename one of them (the later one is ignored)",
                    )
                )
                continue
            self.marks.positions[("__key__", *path, key)] = _pos(key_node)
            out[key] = self.build(value_node, (*path, key))
        for k, v in merged.items():  # the mapping's own keys win over merged ones
            out.setdefault(k, v)
        return out


_LOADER = yaml.SafeLoader("")


def load_yaml_text(text: str, file: str) -> Loaded:
    """Parse YAML text; syntax errors become issues instead of exceptions."""
    marks = Marks(file)
    issues: list[Issue] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        return Loaded(
            None, marks, [Issue(file, 1, 1, "the YAML nests too deep to read", "flatten it")]
        )
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
    try:
        data = _Builder(marks, issues).build(node, ())
    except _Stop as stop:
        return Loaded(None, marks, [*issues, stop.issue])
    return Loaded(data, marks, issues)


def load_yaml(path: Path) -> Loaded:
    """Read and parse a YAML file (see ``load_yaml_text``)."""

    def refuse(message: str, hint: str) -> Loaded:
        return Loaded(None, Marks(str(path)), [Issue(str(path), 1, 1, message, hint)])

    try:
        if path.stat().st_size > MAX_BYTES:
            return refuse(
                f"the file is larger than {MAX_BYTES:,} bytes; a spec is a page of YAML",
                "check that this is the spec file",
            )
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return refuse("the file is not UTF-8 text", "save it as UTF-8")
    except OSError as err:
        return refuse(f"cannot read the file: {err.strerror or err}", "check the path")
    return load_yaml_text(text, str(path))
