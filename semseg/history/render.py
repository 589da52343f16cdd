"""Render a transition matrix: text, JSON, or one offline HTML heat map."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2

from semseg.errors import printable
from semseg.history import GONE, NEW, Transitions


def title(t: Transitions) -> str:
    return f"{t.spec}.{t.segmentation}: from {t.start.isoformat()} to {t.end.isoformat()}"


def _rows(t: Transitions) -> list[str | None]:
    """The first date's segments, then the new keys (None)."""
    return [*t.before, None]


def _columns(t: Transitions) -> list[str | None]:
    """The second date's segments, then the gone keys (None)."""
    return [*t.after, None]


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _retention(t: Transitions, before: str | None) -> float | None:
    """The share of a segment's keys in the same segment at the second date (None for the
    new keys, and for a segment the second date does not have)."""
    if before is None:
        return None
    return _share(t.count(before, before), t.row_total(before))


def records(t: Transitions) -> dict[str, Any]:
    """The matrix as one object: a row per segment at the first date (and "new"), a cell per
    segment at the second (and "gone"), counts, row shares, retention; the totals."""
    return {
        "spec": t.spec,
        "segmentation": t.segmentation,
        "from": t.start.isoformat(),
        "to": t.end.isoformat(),
        "rows": [
            {
                "segment": NEW if before is None else before,
                "new": before is None,
                "keys": t.row_total(before),
                "retention": _retention(t, before),
                "cells": [
                    {
                        "segment": GONE if after is None else after,
                        "gone": after is None,
                        "keys": t.count(before, after),
                        "row_share": _share(t.count(before, after), t.row_total(before)),
                    }
                    for after in _columns(t)
                ],
            }
            for before in _rows(t)
        ],
        "columns": [
            {
                "segment": GONE if after is None else after,
                "gone": after is None,
                "keys": t.column_total(after),
            }
            for after in _columns(t)
        ],
    }


def render_json(t: Transitions) -> str:
    return json.dumps(records(t), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def render_text(t: Transitions) -> str:
    """The matrix: a row per segment at the first date, a column per segment at the second;
    each cell the keys and their share of the row; the row's retention (its diagonal
    share). Labels are user text: control characters are shown, not obeyed."""
    heads = ["from \\ to", *(printable(GONE if a is None else a) for a in _columns(t))]
    heads += ["total", "retention"]
    lines = []
    for before in _rows(t):
        total = t.row_total(before)
        cells = [printable(NEW if before is None else before)]
        for after in _columns(t):
            n = t.count(before, after)
            cells.append(f"{n:,} {_pct(_share(n, total))}".strip() if n else "·")
        cells += [f"{total:,}", _pct(_retention(t, before)) or "-"]
        lines.append(cells)
    totals = ["total", *(f"{t.column_total(a):,}" for a in _columns(t)), "", ""]
    lines.append(totals)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [
        printable(title(t)),
        "rows: the segment at the first date (new: not in the model then); columns: at the "
        "second (gone: not in the model then); each cell the keys and their share of the row",
        line(heads),
        *(line(r) for r in lines),
    ]
    return "\n".join(out) + "\n"


@lru_cache(maxsize=1)
def _page() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("semseg", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # segment labels are user text
        keep_trailing_newline=True,
    )
    return env.get_template("transitions.html.j2")


def render_html(t: Transitions) -> str:
    """One offline page (inline CSS, no script): the matrix as a heat map, each cell shaded
    by its share of the row (the diagonal, the keys that stayed, outlined)."""
    data = records(t)
    for row in data["rows"]:
        for cell in row["cells"]:
            share = cell["row_share"] or 0.0
            cell["background"] = f"rgba(31, 95, 168, {0.08 + 0.82 * share:.3f})"
            cell["ink"] = "#ffffff" if share > 0.45 else "#1a1a1a"
            cell["stayed"] = not row["new"] and cell["segment"] == row["segment"]
            cell["share"] = _pct(cell["row_share"])
        row["retention_text"] = _pct(row["retention"]) or "-"
    return _page().render(title=title(t), data=data, new=NEW, gone=GONE)
