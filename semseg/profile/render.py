"""Render a ``Profile``: a coloured terminal table, or one self-contained offline HTML page."""

from __future__ import annotations

import html
import sys
from typing import TextIO

from semseg.profile.index import Profile

GREEN, RED, RESET = "\033[32m", "\033[31m", "\033[0m"
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _head(metric: str, category: str | None) -> str:
    return metric if category is None else f"{metric}={category}"


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
        cells = [str(seg), f"{n:,}", f"{n / p.population:.1%}" if p.population else "n/a"]
        cells += [_pct(_safe(p, seg, m, c)) for m, c, _ in cols]
        lines.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(heads)]
    out = [
        f"{p.spec}.{p.segmentation}: index vs {p.baseline} (* = overlay)",
        "  ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)),
    ]
    for row in lines:
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            text = cell.rjust(w)
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


def _sizes_svg(p: Profile) -> str:
    width, bar = 420, 18
    top = max((n for _, n in p.segments), default=1) or 1
    rows = []
    for i, (seg, n) in enumerate(p.segments):
        w = int((width - 140) * n / top)
        y = i * (bar + 4)
        rows.append(
            f'<text x="0" y="{y + 13}" font-size="12">{html.escape(str(seg))}</text>'
            f'<rect x="90" y="{y}" width="{w}" height="{bar}" fill="#4c78a8"/>'
            f'<text x="{95 + w}" y="{y + 13}" font-size="12">{n:,}</text>'
        )
    height = len(p.segments) * (bar + 4)
    return f'<svg width="{width}" height="{height}" role="img">{"".join(rows)}</svg>'


def _scatter_svg(p: Profile) -> str:
    proj = p.projection
    if not proj or not proj.get("x"):
        return ""
    size, pad = 420, 10
    xs, ys = proj["x"], proj["y"]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    sx = (size - 2 * pad) / ((x1 - x0) or 1)
    sy = (size - 2 * pad) / ((y1 - y0) or 1)
    dots = []
    for x, y, lab in zip(xs, ys, proj["label"], strict=True):
        colour = "#bbbbbb" if lab < 0 else PALETTE[lab % len(PALETTE)]
        cx, cy = pad + (x - x0) * sx, size - pad - (y - y0) * sy
        dots.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2" fill="{colour}"/>')
    legend = "".join(
        f'<span style="color:{"#999" if s < 0 else PALETTE[s % len(PALETTE)]}">&#9679; '
        f"{html.escape(str(s))}</span> "
        for s, _ in p.segments
        if isinstance(s, int)
    )
    return (
        "<h2>2-D projection (PCA of the scaled features)</h2>"
        f'<svg width="{size}" height="{size}" role="img" style="border:1px solid #ccc">'
        f"{''.join(dots)}</svg><p>{legend}</p>"
    )


def render_html(p: Profile) -> str:
    """One offline page (inline CSS and SVG, no external references)."""
    cols = p.columns()
    head = "".join(f'<th class="{g}">{html.escape(_head(m, c))}</th>' for m, c, g in cols)
    body = []
    for seg, n in p.segments:
        cells = "".join(
            f'<td style="background:{_cell_colour(v)}">{_pct(v)}</td>'
            for v in (_safe(p, seg, m, c) for m, c, _ in cols)
        )
        body.append(f"<tr><th>{html.escape(str(seg))}</th><td>{n:,}</td>{cells}</tr>")
    title = html.escape(f"{p.spec}.{p.segmentation} profile")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 4px 8px; text-align: right; }}
th.overlay {{ font-style: italic; background: #f4f4f4; }}
</style></head><body>
<h1>{title}</h1>
<p>Index = segment mean (or share) / {html.escape(p.baseline)} baseline &minus; 1.
Green: over-index, red: under-index. Italic columns are overlays.
{p.population:,} rows profiled.</p>
<h2>Segment sizes</h2>
{_sizes_svg(p)}
<h2>Index heat map</h2>
<table><tr><th>segment</th><th>size</th>{head}</tr>
{"".join(body)}
</table>
{_scatter_svg(p)}
</body></html>
"""
    return page
