"""Parameters: typed values a spec declares once and uses as ``{{ name }}``.

```yaml
parameters:
  recent_days: {type: integer, default: 90, min: 1, max: 3650}
  min_spend: {type: number, default: 500}
  region: {type: text, default: North}
  launch: {type: date, default: 2025-01-01}
```

A placeholder may stand in a SQL snippet (``where``, ``expr``, ``sql``, ``when``), in a
``window`` (``last {{ recent_days }} days``) and as a whole band bound (``min: "{{ min_spend }}"``).
It is replaced (outside string literals, quoted names and comments: ``'{{ x }}'`` is text)
when the spec is loaded, before anything reads it, by the value written as a
SQL literal (``90``, ``500``, ``'North'`` with quotes doubled, ``DATE '2025-01-01'``), by the
number itself in a bound, by the digits in a window. ``--var NAME=VALUE`` sets a value;
placeholders are never rendered by a template engine, so a value cannot become code.

Under ``--dbt`` every placeholder becomes ``{{ var('name', default) }}`` instead (see
``semseg.dbt``): in a snippet it is kept as a marker column, and a window end or a bound keeps
its value (which validation reads) and is recorded as a *site* that the compiler writes as the
marker column.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlglot import exp

from semseg.errors import Issue, UsageError
from semseg.spec.load import Marks, PathKey
from semseg.spec.time import window_parameters
from semseg.sql import CANONICAL, PARAM_MARKER, snippet_value_text

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
TYPES = ("integer", "number", "text", "date")
_INTEGER = re.compile(r"[-+]?[0-9]+")  # fullmatch
MARKER = PARAM_MARKER  # dbt: a placeholder kept as this column name (no spec can use it)


@dataclass(frozen=True)
class Value:
    """A parameter's value, typed."""

    type: str
    value: Any

    def text(self, dialect: str) -> str:
        """The value as text to put into a snippet written in ``dialect``: a literal of that
        dialect (``semseg.sql.snippet_value_text``); a date as the standard ``DATE 'ISO'``,
        which every dialect reads (and whose text no user can choose)."""
        if self.type == "date":
            return f"DATE '{self.value.isoformat()}'"
        return snippet_value_text(self.node(), dialect)

    def node(self) -> exp.Expression:
        """A text or number value as a literal node (text: a string, never code; a number
        as ``repr``)."""
        if self.type == "text":
            return exp.Literal.string(str(self.value))
        text = repr(self.value)
        if text.startswith("-"):
            return exp.Neg(this=exp.Literal.number(text[1:]))
        return exp.Literal.number(text)


def parse_value(kind: str, raw: Any) -> Any:
    """``raw`` (YAML scalar or --var text) as a value of ``kind``; ValueError says why not."""
    text = str(raw).strip()
    if kind == "integer":
        if isinstance(raw, bool) or not isinstance(raw, (int, str)) or not _INTEGER.fullmatch(text):
            raise ValueError(f"'{raw}' is not an integer")
        value: Any = int(text)
    elif kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError(f"'{raw}' is not a number")
        try:
            value = float(text) if isinstance(raw, str) else raw
        except ValueError:
            raise ValueError(f"'{raw}' is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"'{raw}' is not a finite number")
    elif kind == "date":
        try:
            value = raw if isinstance(raw, date) else date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"'{raw}' is not a date (YYYY-MM-DD)") from None
    elif kind == "text":
        if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
            raise ValueError("not text")
        value = str(raw)
    else:
        raise ValueError(f"unknown type '{kind}'")
    return value


def _declared(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = data.get("parameters")
    if not isinstance(params, dict):
        return {}
    return {str(k): v for k, v in params.items() if isinstance(v, dict)}


def values(
    data: dict[str, Any], marks: Marks, overrides: dict[str, str]
) -> tuple[dict[str, Value], list[Issue]]:
    """Each declared parameter's value (its default, or ``--var``), and what is wrong."""
    issues: list[Issue] = []
    out: dict[str, Value] = {}
    declared = _declared(data)  # --var names no spec declares are the caller's to refuse
    for name, decl in declared.items():
        at: PathKey = ("parameters", name)
        kind = decl.get("type")
        if kind not in TYPES:
            continue  # the structure check says what is wrong with it
        given = name in overrides
        if not given and "default" not in decl:
            continue  # reported where it is used
        raw = overrides[name] if given else decl["default"]
        try:
            value = parse_value(kind, raw)
        except (ValueError, TypeError) as err:
            if given:
                raise UsageError(
                    f"--var {name}={raw}: {err} (parameter '{name}' is {kind})"
                ) from None
            issues.append(marks.issue((*at, "default"), f"default of '{name}': {err}"))
            continue
        bounds = [(k, decl.get(k)) for k in ("min", "max") if decl.get(k) is not None]
        for key, bound in bounds:
            try:
                limit = parse_value(kind, bound)
            except (ValueError, TypeError) as err:
                issues.append(marks.issue((*at, key), f"{key} of '{name}': {err}"))
                continue
            if (value < limit) if key == "min" else (value > limit):
                what = f"'{name}' = {value} is {'below' if key == 'min' else 'above'} {limit}"
                if given:
                    raise UsageError(f"--var {name}={raw}: {what} ({key} of the parameter)")
                issues.append(marks.issue((*at, "default"), what, f"change it or the {key}"))
        out[name] = Value(kind, value)
        decl["default"] = value  # the spec carries the value in effect (dbt's var default)
    return out, issues


# Where placeholders may stand: (path pattern, kind); '*' is any key or index.
_SNIPPETS = (
    ("population", "where"),
    ("sources", "*", "where"),
    ("metrics", "*", "expr"),
    ("metrics", "*", "sql"),
    ("metrics", "*", "where"),
    ("metrics", "*", "measure"),
    ("segmentations", "*", "segments", "*", "when"),
    ("segmentations", "*", "cluster", "where"),
)
_WINDOWS = (("metrics", "*", "window"),)
_BOUNDS = tuple(("segmentations", "*", "segments", "*", b) for b in ("min", "max", "below"))


ANY_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")  # anything in double braces


def _outside_quotes(text: str, replace: Any, pattern: re.Pattern[str] = PLACEHOLDER) -> str:
    """``text`` with ``replace`` applied to each placeholder outside SQL string literals,
    quoted identifiers and comments ('{{ x }}' in quotes is text, and stays text)."""
    out: list[str] = []
    plain_start, i, n = 0, 0, len(text)

    def flush(end: int) -> None:
        out.append(pattern.sub(replace, text[plain_start:end]))

    while i < n:
        ch = text[i]
        closing = {"'": "'", '"': '"', "`": "`"}.get(ch)
        if closing or text.startswith(("--", "/*"), i):
            flush(i)
            if closing:
                j = i + 1
                while j < n:
                    if text[j] == closing:
                        if text[j + 1 : j + 2] == closing:  # doubled: an escaped quote
                            j += 2
                            continue
                        break
                    j += 1
                end = min(j + 1, n)
            elif text.startswith("--", i):
                end = text.find("\n", i)
                end = n if end < 0 else end
            else:
                end = text.find("*/", i + 2)
                end = n if end < 0 else end + 2
            out.append(text[i:end])
            plain_start = i = end
            continue
        i += 1
    flush(n)
    return "".join(out)


def _places(data: Any, pattern: tuple, path: PathKey = ()) -> list[PathKey]:
    if not pattern:
        return [path]
    head, rest = pattern[0], pattern[1:]
    if isinstance(data, dict):
        keys = list(data) if head == "*" else [head] if head in data else []
        return [p for k in keys for p in _places(data[k], rest, (*path, k))]
    if isinstance(data, list) and head == "*":
        return [p for i, v in enumerate(data) for p in _places(v, rest, (*path, i))]
    return []


def _with_placeholders(data: Any, patterns: tuple[tuple, ...]) -> list[tuple[PathKey, str]]:
    """(path, text) of every string at ``patterns`` that holds a placeholder."""
    out = []
    for pattern in patterns:
        for path in _places(data, pattern):
            text = _get(data, path)
            if isinstance(text, str) and ANY_PLACEHOLDER.search(text):
                out.append((path, text))
    return out


def _get(data: Any, path: PathKey) -> Any:
    for key in path:
        data = data[key]
    return data


def _set(data: Any, path: PathKey, value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def substitute(
    data: Any, marks: Marks, overrides: dict[str, str] | None = None, markers: bool = False
) -> tuple[Any, list[Issue], dict[PathKey, str]]:
    """The spec data with every placeholder replaced (in place), what is wrong, and (with
    ``markers``) the parameter of each window end and bound that holds one.

    ``markers``: snippet placeholders become the column ``__semseg_param__<name>`` (for dbt's
    ``var()``), not the value; a window end is recorded at ``(*path, "after" | "through")``, a
    bound at its path.
    """
    sites: dict[PathKey, str] = {}
    if not isinstance(data, dict):
        return data, [], sites
    found, issues = values(data, marks, dict(overrides or {}))
    declared = _declared(data)
    given = data.get("dialect")
    dialect = given if isinstance(given, str) else CANONICAL

    def value_of(name: str, path: PathKey) -> Value | None:
        if name in found:
            return found[name]
        if name not in declared:
            issues.append(
                marks.issue(
                    path,
                    f"'{{{{ {name} }}}}' is not a declared parameter",
                    f"declare it under 'parameters:' ({', '.join(declared) or 'none yet'})",
                )
            )
        elif "default" not in declared[name]:
            issues.append(
                marks.issue(
                    path,
                    f"parameter '{name}' has no default and no --var",
                    f"pass --var {name}=VALUE or give it a default",
                )
            )
        return None

    for path, text in _with_placeholders(data, _SNIPPETS):

        def shape(m: re.Match[str], path: PathKey = path) -> str:
            """A placeholder must be a bare name, and a value of its own (issue 23)."""
            if not PLACEHOLDER.fullmatch(m[0]):
                issues.append(
                    marks.issue(
                        path,
                        f"'{m[0]}' is not a placeholder: a placeholder is a bare parameter "
                        "name (no expressions, filters, calls or literals as in dbt's Jinja)",
                        "write {{ name }} with a parameter declared under 'parameters:'",
                    )
                )
                return m[0]
            before = m.string[m.start() - 1 : m.start()]
            after = m.string[m.end() : m.end() + 1]
            glued = next((c for c in (before, after) if c and (c.isalnum() or c in "_.$")), None)
            if glued is not None:
                issues.append(
                    marks.issue(
                        path,
                        f"'{m[0]}' is glued to '{glued}': a placeholder is a value of its own, "
                        "not part of a number or a name",
                        "put a space or an operator between them",
                    )
                )
            return m[0]

        _outside_quotes(text, shape, ANY_PLACEHOLDER)
        for quoted in ANY_PLACEHOLDER.finditer(text):  # {{ 'x' }}: quotes hide it from shape
            if quoted[1].strip()[:1] in ("'", '"'):
                shape(quoted)

        def snippet(m: re.Match[str], path: PathKey = path) -> str:
            v = value_of(m[1], path)
            if v is None:
                return "NULL"
            return f"{MARKER}{m[1]}" if markers else v.text(dialect)

        _set(data, path, _outside_quotes(text, snippet))
    for path, text in _with_placeholders(data, _WINDOWS):
        if markers:
            sites.update({(*path, end): p for end, p in window_parameters(text).items()})

        def window(m: re.Match[str], path: PathKey = path) -> str:
            v = value_of(m[1], path)
            if v is not None and v.type != "integer":
                issues.append(
                    marks.issue(
                        path,
                        f"'{m[1]}' is {v.type}; a window counts whole units: use an integer "
                        "parameter",
                    )
                )
                return "0"
            return str(v.value) if v is not None else "0"

        _set(data, path, PLACEHOLDER.sub(window, text))
    for pattern in _BOUNDS:
        for path in _places(data, pattern):
            text = _get(data, path)
            if isinstance(text, str) and (m := PLACEHOLDER.fullmatch(text.strip())):
                v = value_of(m[1], path)
                if v is not None and v.type not in ("integer", "number"):
                    issues.append(marks.issue(path, f"'{m[1]}' is {v.type}; a bound is a number"))
                    v = None
                elif v is not None and markers:
                    sites[path] = m[1]
                _set(data, path, v.value if v is not None else 0)
    return data, issues, sites
