"""Normalise engine results and compare them order-insensitively.

``normalise(rows)`` turns engine-native values into plain, comparable Python values:

* ``Decimal`` -> ``float``; numpy floating -> ``float``; NaN stays NaN (and equals NaN here)
* numpy / other ``Integral`` -> ``int``; ``bool`` (and ``numpy.bool_``) stays ``bool``
* ``date`` -> ``'YYYY-MM-DD'``; ``datetime`` -> ``'YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]'``
  (ISO 8601 with a space separator, the form SQL engines print and SQLite stores);
  ``time`` -> ISO string
* lists / tuples / arrays -> tuples (recursively), ``bytes``/``memoryview`` -> ``bytes``
* rows are sorted by all columns, ``None`` first.

``assert_same_rows`` compares column names case-insensitively and the normalised rows as a
multiset, floats (and int-vs-float) within ``rel_tol``/``abs_tol``; ``True == 1`` (SQLite has no
boolean type). On mismatch it raises ``AssertionError`` listing the first differing rows.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

__all__ = ["assert_same_rows", "normalise", "normalise_value"]

_MAX_SHOWN = 5


def normalise_value(v: Any) -> Any:
    """Normalise one value (see module docstring)."""
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, _dt.datetime):  # before date: datetime is a date subclass
        return v.isoformat(sep=" ")
    if isinstance(v, (_dt.date, _dt.time)):
        return v.isoformat()
    if isinstance(v, float):
        return v
    type_name = type(v).__name__
    if type_name in ("bool_", "bool") and hasattr(v, "item"):  # numpy.bool_
        return bool(v.item())
    if isinstance(v, numbers.Integral):  # int subclasses, numpy integers
        return int(v)
    if isinstance(v, numbers.Real):  # numpy floating, fractions
        return float(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if hasattr(v, "tolist") and not isinstance(v, (dict, str)):  # numpy arrays / scalars
        return normalise_value(v.tolist())
    if isinstance(v, (list, tuple)):
        return tuple(normalise_value(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), normalise_value(x)) for k, x in v.items()))
    return v


def _sort_key_value(v: Any) -> tuple[Any, ...]:
    # None first, then NaN, then numbers (rounded so values within tolerance sort alike),
    # then strings, then anything else by repr. Keeps mixed-type columns sortable.
    if v is None:
        return (0, 0, 0)
    if isinstance(v, (bool, int, float)):
        f = float(v)
        if math.isnan(f):
            return (1, 0, 0)
        if math.isinf(f):
            return (2, 0, f)
        return (2, 0, float(f"{f:.9g}"))
    if isinstance(v, str):
        return (3, 0, v)
    if isinstance(v, tuple):
        return (4, 0, tuple(_sort_key_value(x) for x in v))
    return (5, 0, repr(v))


def _row_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_sort_key_value(v) for v in row)


def normalise(rows: Iterable[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Normalise every value and sort the rows by all columns (None first)."""
    out = [tuple(normalise_value(v) for v in row) for row in rows]
    out.sort(key=_row_key)
    return out


def _values_equal(a: Any, b: Any, rel_tol: float, abs_tol: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    num = (int, float)  # bool is an int: True == 1 for SQLite
    if isinstance(a, num) and isinstance(b, num):
        if isinstance(a, float) or isinstance(b, float):
            fa, fb = float(a), float(b)
            if math.isnan(fa) or math.isnan(fb):
                return math.isnan(fa) and math.isnan(fb)
            return math.isclose(fa, fb, rel_tol=rel_tol, abs_tol=abs_tol)
        return a == b
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(
            _values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True)
        )
    return type(a) is type(b) and a == b


def _rows_equal(a: tuple[Any, ...], b: tuple[Any, ...], rel_tol: float, abs_tol: float) -> bool:
    return len(a) == len(b) and all(
        _values_equal(x, y, rel_tol, abs_tol) for x, y in zip(a, b, strict=True)
    )


def assert_same_rows(
    expected_cols: Sequence[str],
    expected_rows: Iterable[Sequence[Any]],
    cols: Sequence[str],
    rows: Iterable[Sequence[Any]],
    rel_tol: float = 1e-9,
    abs_tol: float = 1e-9,
) -> None:
    """Assert two results are equal ignoring row order and column-name case."""
    exp_names = [c.lower() for c in expected_cols]
    got_names = [c.lower() for c in cols]
    if exp_names != got_names:
        raise AssertionError(
            f"column names differ:\n  expected {list(expected_cols)}\n  got      {list(cols)}"
        )

    exp = normalise(expected_rows)
    got = normalise(rows)

    if len(exp) == len(got):
        diffs = [
            (i, e, g)
            for i, (e, g) in enumerate(zip(exp, got, strict=True))
            if not _rows_equal(e, g, rel_tol, abs_tol)
        ]
        if not diffs:
            return
        lines = [f"{len(diffs)} of {len(exp)} rows differ (after normalising and sorting):"]
        for i, e, g in diffs[:_MAX_SHOWN]:
            lines.append(f"  row {i}:\n    expected {e!r}\n    got      {g!r}")
        if len(diffs) > _MAX_SHOWN:
            lines.append(f"  ... and {len(diffs) - _MAX_SHOWN} more")
        raise AssertionError("\n".join(lines))

    # Different row counts: show rows found on one side only (tolerant matching).
    unmatched_got = list(got)
    missing = []
    for e in exp:
        for j, g in enumerate(unmatched_got):
            if _rows_equal(e, g, rel_tol, abs_tol):
                del unmatched_got[j]
                break
        else:
            missing.append(e)
    lines = [f"row counts differ: expected {len(exp)}, got {len(got)}"]
    if missing:
        lines.append(f"  expected but missing ({len(missing)}):")
        lines += [f"    {r!r}" for r in missing[:_MAX_SHOWN]]
    if unmatched_got:
        lines.append(f"  unexpected ({len(unmatched_got)}):")
        lines += [f"    {r!r}" for r in unmatched_got[:_MAX_SHOWN]]
    raise AssertionError("\n".join(lines))
