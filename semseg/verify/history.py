"""The proof of a history (``semseg history --verify``): on a sample of its dates, the
history's rows at that date are proven as the model they claim to be, by every check of
``semseg verify`` (population, metrics recomputed from the tables, rules, labels, time),
none of which shares code with the compiler's spine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from semseg.compile import HISTORY_AS_OF, history_query, target_sql
from semseg.compile.dialects import TARGETS
from semseg.spec import SpecFile
from semseg.sql import name_sql
from semseg.verify import verify
from semseg.verify.report import VerifyReport


def proof_dates(dates: tuple[date, ...]) -> list[date]:
    """The dates proven: the first, the middle and the last (each once)."""
    picked = [dates[0], dates[len(dates) // 2], dates[-1]]
    return sorted(set(picked))


def verify_history(
    spec_file: SpecFile,
    dates: tuple[date, ...],
    data: Path | None = None,
    tables: dict[str, Path] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[tuple[date, VerifyReport]]:
    """For each proof date, ``verify`` of the history's rows at that date (its ``as_of``
    column left out) as a hand-written model of the spec as of that date. A cluster
    segmentation's labels are proven as its model's rule gives them from that date's
    features; not its agreement with a refit at that date, which measures whether the model
    (fitted at one date) still describes another date's data, not whether the history is
    right (``semseg verify --as-of DATE`` answers it)."""
    duckdb = TARGETS["duckdb"]
    query = target_sql(history_query(spec_file.spec, dates, spec_file.path), duckdb)
    as_of = name_sql(HISTORY_AS_OF)
    out = []
    for day in proof_dates(dates):
        rows = (
            f"SELECT * EXCLUDE ({as_of}) FROM ({query}) AS semseg_history "
            f"WHERE {as_of} = DATE '{day.isoformat()}'"
        )
        report = verify(
            spec_file,
            data,
            tables,
            dialects=["duckdb"],
            progress=progress,
            model_sql=rows,
            as_of=day,
            refit=False,
        )
        out.append((day, report))
    return out
