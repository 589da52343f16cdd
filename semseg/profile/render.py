"""Render a ``Profile``: a coloured terminal table, or one self-contained offline HTML page."""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any, TextIO

import jinja2

from semseg.profile.index import Profile

GREEN, RED, RESET = "\033[32m", "\033[31m", "\033[0m"
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _printable(text: str) -> str:
    """Data in a terminal table: control characters (escape sequences) shown, not obeyed."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def _head(metric: str, category: str | None) -> str:
    return metric if category is None else f"{metric}={_printable(category)}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def render_terminal(p: Profile, stream: TextIO | None = None, color: bool | None = None) -> str:
    """Index table as text; over-index green, under-index red (colour only on a TTY)."""
    stream = stream or sys.stdout
    if color is None:
        color = hasattr(stream, "isatty") and stream.isatty()
    cols = p.columns()
    heads = ["segment", "size", "share"] + [
        ("*" if g == "overlay" else "") + _head(m, c) for m, c, g in cols
    ]
    lines = []
    for seg, n in p.segments:
        cells = [
            _printable(p.title(seg)),
            f"{n:,}",
            f"{n / p.population:.1%}" if p.population else "n/a",
        ]
        cells += [_pct(_safe(p, seg, m, c)) for m, c, _ in cols]
        lines.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(heads)]
    out = [
        f"{p.spec}.{p.segmentation}: index vs {p.baseline} (* = overlay)",
        *([p.as_of] if p.as_of else []),
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(heads, widths, strict=True))
        ),
    ]
    for row in lines:
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            text = cell.ljust(w) if i == 0 else cell.rjust(w)
            if color and i >= 3 and cell not in ("n/a",):
                text = f"{GREEN if cell.startswith('+') else RED}{text}{RESET}"
            cells.append(text)
        out.append("  ".join(cells))
    return "\n".join(out) + "\n"


def _safe(p: Profile, seg, metric: str, category: str | None) -> float | None:
    try:
        return p.index(seg, metric, category)
    except KeyError:
        return None


def _cell_colour(value: float | None) -> str:
    if value is None:
        return "#eeeeee"
    strength = min(abs(value), 1.0)
    light = int(255 - 150 * strength)
    return f"rgb({light},255,{light})" if value >= 0 else f"rgb(255,{light},{light})"


def _sizes(p: Profile) -> dict[str, Any]:
    width, bar = 420, 18
    top = max((n for _, n in p.segments), default=1) or 1
    bars = [
        {
            "label": p.title(seg),
            "count": n,
            "y": i * (bar + 4),
            "width": int((width - 220) * n / top),
        }
        for i, (seg, n) in enumerate(p.segments)
    ]
    return {"width": width, "bar": bar, "height": len(p.segments) * (bar + 4), "bars": bars}


def _scatter(p: Profile) -> dict[str, Any] | None:
    proj = p.projection
    if not proj or not proj.get("x"):
        return None
    size, pad = 420, 10
    xs, ys = proj["x"], proj["y"]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (size - 2 * pad) / ((x1 - x0) or 1)
    sy = (size - 2 * pad) / ((y1 - y0) or 1)
    dots = [
        {
            "x": f"{pad + (x - x0) * sx:.1f}",
            "y": f"{size - pad - (y - y0) * sy:.1f}",
            "colour": "#bbbbbb" if lab < 0 else PALETTE[lab % len(PALETTE)],
        }
        for x, y, lab in zip(xs, ys, proj["label"], strict=True)
    ]
    legend = [
        {"label": p.title(s), "colour": "#999" if s < 0 else PALETTE[s % len(PALETTE)]}
        for s, _ in p.segments
        if isinstance(s, int)
    ]
    return {"size": size, "dots": dots, "legend": legend}


@lru_cache(maxsize=1)
def _page() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("semseg", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # labels, metric names and categories are user text
        keep_trailing_newline=True,
    )
    return env.get_template("profile.html.j2")


def render_html(p: Profile) -> str:
    """One offline page (inline CSS and SVG, no script, no external reference)."""
    cols = p.columns()
    rows = [
        {
            "label": p.title(seg),
            "size": n,
            "cells": [
                {"colour": _cell_colour(v), "text": _pct(v)}
                for v in (_safe(p, seg, m, c) for m, c, _ in cols)
            ],
        }
        for seg, n in p.segments
    ]
    return _page().render(
        title=f"{p.spec}.{p.segmentation} profile",
        baseline=p.baseline,
        as_of=p.as_of,
        population=p.population,
        sizes=_sizes(p),
        heads=[{"group": g, "text": _head(m, c)} for m, c, g in cols],
        rows=rows,
        scatter=_scatter(p),
    )
