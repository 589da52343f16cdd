"""Turn pydantic's structural errors into located, actionable spec issues."""

from __future__ import annotations

import difflib
import re
import sys
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import Spec


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the mapping at ``loc`` (walking field annotations)."""
    current: Any = Spec
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip Optional/Annotated wrappers down to the interesting type."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            containers = [a for a in args if typing.get_origin(a) in (dict, list)]
            if models:
                tp = models[0]
            elif containers:
                tp = containers[0]
            else:
                return tp
        else:
            return tp


def _allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _describe(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "the spec"


def _branches() -> set[str]:
    """Union branch tags pydantic puts in a location: 'Population', 'list[Population]'."""
    models = {
        name
        for name, value in vars(sys.modules[Spec.__module__]).items()
        if isinstance(value, type) and issubclass(value, BaseModel)
    }
    return models | {f"list[{m}]" for m in models}


_BRANCHES = _branches()


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic adds pseudo-steps for unions and dict keys (e.g. 'int', '[key]'); drop them.
    out = []
    for i, part in enumerate(loc):
        # a union branch tag, not a mapping key that happens to be spelled like a model
        branch = part in _BRANCHES and loc[i + 1 : i + 2] != ("[key]",)
        if part == "[key]" or branch:
            continue
        if isinstance(part, str) and (
            part.startswith(("constrained-", "function-"))
            or part
            in {
                "int",
                "float",
                "str",
                "bool",
                "list[...]",
                "dict[...]",
            }
        ):
            continue
        out.append(part)
    return tuple(out)


_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_attributes_type": "a mapping",
    "model_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


def structural_issues(exc: ValidationError, marks: Marks) -> list[Issue]:
    """One issue per pydantic error, located at the YAML key or value it is about."""
    issues: dict[tuple[Any, ...], Issue] = {}
    union_types: dict[tuple[Any, ...], list[str]] = {}
    for err in exc.errors():
        if err["type"] in _TYPE_WORDS:
            union_types.setdefault(_clean_loc(tuple(err["loc"])), []).append(err["type"])
    errors = exc.errors()
    deeper = {
        _clean_loc(tuple(e["loc"]))[:n]
        for e in errors
        for n in range(len(_clean_loc(tuple(e["loc"]))))
    }
    for err in errors:
        raw_loc = tuple(err["loc"])
        loc = _clean_loc(raw_loc)
        kind = err["type"]
        if kind in _TYPE_WORDS and loc in deeper and any(p in _BRANCHES for p in raw_loc):
            continue  # the other branch of the union has the right shape: its errors say more
        value = err.get("input")
        if kind == "extra_forbidden":
            parent, key = loc[:-1], loc[-1]
            model = _model_at(parent)
            allowed = _allowed_keys(model) if model else []
            # A key the typo starts with ('expresion' -> 'expr') beats a merely similar one
            # ('precision'); then difflib's closest.
            prefixed = [k for k in allowed if len(k) >= 3 and str(key).startswith(k)]
            close = prefixed[-1:] or difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(allowed)}"
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):  # issue 23, item 33
                hint = (
                    f"'{key}' looks like the tail of an expression: in an unquoted {{...}} "
                    'mapping a comma ends the value, so quote it (expr: "a / NULLIF(b, 0)")'
                )
            where = _describe(parent)
            issue = marks.issue(loc, f"unknown key '{key}' in {where}", hint, key=True)
        elif kind == "missing" and isinstance(loc[-1], int):
            issue = marks.issue(
                loc[:-1],
                f"{_describe(loc[:-1])} needs more items (item {loc[-1] + 1} is missing)",
                "e.g. share_between: [0.05, 0.4]",
            )
        elif kind == "missing":
            parent, key = loc[:-1], loc[-1]
            issue = marks.issue(
                parent, f"missing required key '{key}' in {_describe(parent)}", f"add '{key}: ...'"
            )
        elif kind == "string_pattern_mismatch":
            is_key = "[key]" in raw_loc
            what = (
                "name"
                if is_key or loc[-1] in ("name", "key", "by", "source", "order_column")
                else "value"
            )
            pattern = str(err.get("ctx", {}).get("pattern", ""))
            if "\\." in pattern:
                hint = "use a table name such as orders, schema.orders or db.schema.orders"
            else:
                hint = "use lowercase letters, digits and underscores, starting with a letter"
            issue = marks.issue(
                loc, f"'{value}' is not a valid {what} for {_describe(loc)}", hint, key=is_key
            )
        elif kind == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            issue = marks.issue(
                loc, f"{_describe(loc)} must be {expected}, got {value!r}", f"use {expected}"
            )
        elif kind == "enum":
            expected = err.get("ctx", {}).get("expected", "")
            issue = marks.issue(
                loc, f"{_describe(loc)}: {value!r} is not allowed", f"use one of {expected}"
            )
        elif kind in _TYPE_WORDS:
            wanted = _TYPE_WORDS[kind]
            alternatives = union_types.get(loc, [])
            if len(alternatives) > 1:  # a union: name every accepted type, not the first
                words = list(dict.fromkeys(_TYPE_WORDS[k] for k in alternatives))
                wanted = ", ".join(words[:-1]) + " or " + words[-1]
            got = type(value).__name__ if value is not None else "nothing"
            got = {
                "str": "text",
                "dict": "a mapping",
                "list": "a list",
                "int": "an integer",
                "float": "a number",
                "bool": "true/false",
            }.get(got, got)
            hint = (
                "quote it"
                if kind == "string_type" and not isinstance(value, (dict, list))
                else (f"write {wanted} here")
            )
            issue = marks.issue(loc, f"{_describe(loc)} must be {wanted}, got {got}", hint)
        elif kind == "too_short":
            issue = marks.issue(
                loc, f"{_describe(loc)} must not be empty", "add at least one entry"
            )
        else:
            issue = marks.issue(loc, f"{_describe(loc)}: {err['msg']}", "")
        # A union reports one error per alternative; keep the first per location.
        issues.setdefault(loc, issue)
    return list(issues.values())
