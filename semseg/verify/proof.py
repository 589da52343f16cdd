"""What a check is: a query over the model's result whose rows are the offenders."""

from __future__ import annotations

from dataclasses import dataclass

from semseg.data import MODEL_TABLE

RESULT = MODEL_TABLE


def same(a: str, b: str, numeric: bool) -> str:
    """SQL: ``a`` and ``b`` are the same value (NULLs equal; numbers within 1e-9 relative)."""
    if not numeric:
        return f"({a} IS NOT DISTINCT FROM {b})"
    return (
        f"(({a} IS NULL AND {b} IS NULL) OR ABS(CAST({a} AS DOUBLE) - CAST({b} AS DOUBLE)) "
        f"<= 1e-9 * GREATEST(1, ABS(CAST({b} AS DOUBLE))))"
    )


@dataclass(frozen=True)
class CheckSQL:
    """A check: a query whose rows are offenders as (key, detail); no rows means it passes."""

    name: str
    description: str
    sql: str
