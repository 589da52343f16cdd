"""What a check is: a query over the model's result whose rows are the offenders."""

from __future__ import annotations

from dataclasses import dataclass

from semseg.data import MODEL_TABLE

RESULT = MODEL_TABLE


@dataclass(frozen=True)
class CheckSQL:
    """A check: a query whose rows are offenders as (key, detail); no rows means it passes."""

    name: str
    description: str
    sql: str
