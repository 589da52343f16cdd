"""Render a ``Profile``: a coloured terminal table, or one self-contained offline HTML page."""

from __future__ import annotations

import csv
import io
import json
import sys
from functools import lru_cache
from typing import Any, TextIO

import jinja2

from semseg.files import csv_cell, stable_number
from semseg.profile.index import TEST, Column, Profile

GREEN, RED, BLUE, YELLOW, RESET = "\033[32m", "\033[31m", "\033[34m", "\033[33m", "\033[0m"
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def _printable(text: str) -> str:
    """Data in a terminal table: control characters (escape sequences) shown, not obeyed."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _number(value: float | None) -> str:
    """A mean in its own units, to 3 significant digits (thousands separated)."""
    if value is None:
        return "n/a"
    if value != 0 and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _raw(row: dict[str, Any] | None, key: str = "value") -> str:
    """The segment's own value (or the baseline's) as a marketer reads it."""
    if row is None or row[key] is None:
        return "n/a"
    return _number(row[key]) if row["kind"] == "mean" else f"{row[key]:.0%}"


MARKS = {"ns": "~", "small": "?"}  # not significant, small segment


def _tone(column: Column, row: dict[str, Any] | None) -> int:
    """+1 good, -1 bad, 0 neutral; 2 / -2 above / below where the spec gives no direction.
    A flagged cell is neutral: its difference is not shown to be real."""
    if row is None or row["index_value"] is None or row["flag"] or row["index_value"] == 0:
        return 0
    sign = 1 if row["index_value"] > 0 else -1
    return sign * column.good if column.good else 2 * sign


TERMINAL = {1: GREEN, -1: RED, 2: BLUE, -2: YELLOW}


def render_terminal(p: Profile, stream: TextIO | None = None, color: bool | None = None) -> str:
    """Index table as text: per cell the index, the segment's own mean or share, and ~ (not
    significant) or ? (small); green/red better/worse where the metric says which way is
    good, blue/yellow above/below where it does not (colour only on a TTY)."""
    stream = stream or sys.stdout
    if color is None:
        color = hasattr(stream, "isatty") and stream.isatty()
    if not p.population:  # tables with no rows (issue 23: a TypeError in the widths)
        return f"{p.spec}.{p.segmentation}: no rows to profile (the model has no rows here)\n"
    cols = p.columns()
    heads = ["segment", "size", "share"] + [
        ("*" if c.group == "overlay" else "") + _printable(c.head) for c in cols
    ]
    lines, tones = [], []
    for seg, n in p.segments:
        cells = [
            _printable(p.title(seg)),
            f"{n:,}",
            f"{n / p.population:.1%}" if p.population else "n/a",
        ]
        found = [_safe(p, seg, c) for c in cols]
        cells += [
            "n/a" if r is None else f"{_pct(r['index_value'])} {_raw(r)}{MARKS.get(r['flag'], '')}"
            for r in found
        ]
        lines.append(cells)
        tones.append([0, 0, 0] + [_tone(c, r) for c, r in zip(cols, found, strict=True)])
    widths = [max(len(h), *(len(r[i]) for r in lines)) for i, h in enumerate(heads)]
    out = [
        f"{p.spec}.{p.segmentation}: index vs {p.baseline} and the segment's own mean or share "
        "(* = overlay, ~ = not significant, ? = fewer than 30 values)",
        *([p.as_of] if p.as_of else []),
        "  ".join(
            h.ljust(w) if i == 0 else h.rjust(w)
            for i, (h, w) in enumerate(zip(heads, widths, strict=True))
        ),
    ]
    for row, tone in zip(lines, tones, strict=True):
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            text = cell.ljust(w) if i == 0 else cell.rjust(w)
            if color and tone[i]:
                text = f"{TERMINAL[tone[i]]}{text}{RESET}"
            cells.append(text)
        out.append("  ".join(cells))
    return "\n".join(out) + "\n"


def _safe(p: Profile, seg, column: Column) -> dict[str, Any] | None:
    try:
        return p.row(seg, column.metric, column.category, column.kind)
    except KeyError:
        return None


HTML_TONES = {  # (background, text) per tone
    1: ("#d9f2d9", "#14521b"),
    -1: ("#f9d9d6", "#7a1a12"),
    2: ("#dbe8f6", "#173f6b"),
    -2: ("#fbeccb", "#6b4a0c"),
    0: ("#f4f4f4", "#555555"),
}


def _words(column: Column) -> str:
    return column.metric.replace("_", " ")


def _trait(column: Column, row: dict[str, Any]) -> str:
    """One distinguishing trait of a segment, in words."""
    if column.kind == "mean":
        way = "higher" if row["index_value"] > 0 else "lower"
        text = f"{_words(column)} {_raw(row)} against {_raw(row, 'baseline')} ({way}"
        if column.good:
            text += ", better" if _tone(column, row) == 1 else ", worse"
        return text + ")"
    what = "other values" if column.kind == "other" else column.category
    return f"{_words(column)} {what}: {_raw(row)} of the segment against {_raw(row, 'baseline')}"


TRAITS = 3


def _cards(p: Profile, cols: list[Column]) -> list[dict[str, Any]]:
    """A card per segment: size, share, and the significant traits that most set it apart:
    the largest absolute index among its means, and among its shares the categories it has
    more of (that a segment lacks a city says less than that it lives in one)."""
    cards = []
    for seg, n in p.segments:
        found = []
        for c in cols:
            r = _safe(p, seg, c)
            if c.kind == "missing" or r is None or r["flag"] or r["index_value"] is None:
                continue
            if c.kind != "mean" and r["index_value"] <= 0:
                continue
            found.append((-abs(r["index_value"]), c.head, c, r))
        found.sort(key=lambda t: (t[0], t[1]))
        cards.append(
            {
                "title": p.title(seg),
                "size": n,
                "share": f"{n / p.population:.1%}" if p.population else "n/a",
                "traits": [
                    {"text": _trait(c, r), "tone": HTML_TONES[_tone(c, r)][1]}
                    for _, _, c, r in found[:TRAITS]
                ],
            }
        )
    return cards


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


CHART = 220  # px: the side of the gains and calibration charts


def _propensity_charts(p: Profile) -> dict[str, Any] | None:
    """Gains (share of the positives captured by the top deciles of the score) and
    calibration (each decile's mean score against its rate) of the fit's validation split,
    as SVG points; the diagonal is a random ranking, and a perfect calibration."""
    if not p.propensity:
        return None
    v = p.propensity["validation"]
    deciles = v["calibration"]  # lowest scores first, as np.array_split made them
    n, k = v["rows"], len(deciles)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]  # as array_split made them
    positives = [d["rate"] * size for d, size in zip(deciles, sizes, strict=True)]
    total = sum(positives) or 1.0
    gains, seen, rows = [(0.0, 0.0)], 0.0, 0
    for size, pos in zip(reversed(sizes), reversed(positives), strict=True):
        rows, seen = rows + size, seen + pos
        gains.append((rows / n, seen / total))
    top = max(max(d["mean_score"], d["rate"]) for d in deciles) or 1.0

    def xy(x: float, y: float, scale: float = 1.0) -> str:
        return f"{x / scale * CHART:.1f},{CHART - y / scale * CHART:.1f}"

    return {
        "metric": p.propensity["metric"],
        "size": CHART,
        "auc": v.get("auc"),
        "lift": v.get("top_decile_lift"),
        "capture": v.get("top_decile_capture"),
        "gains": " ".join(xy(x, y) for x, y in gains),
        "calibration": [xy(d["mean_score"], d["rate"], top).split(",") for d in deciles],
        "top": f"{top:.3f}",
        "baselines": [
            f"{name}: AUC {b['auc']:.3f}" for name, b in p.propensity["baselines"].items()
        ],
    }


def render_html(p: Profile) -> str:
    """One offline page (inline CSS and SVG, no script, no external reference): a card per
    segment, the sizes, the heat map (a row per metric or category, a column per segment:
    the index over the segment's own mean or share), the projection of clusters."""
    cols = p.columns()
    heat = []
    for c in cols:
        cells = []
        for seg, _ in p.segments:
            r = _safe(p, seg, c)
            background, ink = HTML_TONES[_tone(c, r)]
            cells.append(
                {
                    "background": background,
                    "ink": ink,
                    "index": "n/a" if r is None else _pct(r["index_value"]),
                    "raw": _raw(r),
                    "mark": "" if r is None else MARKS.get(r["flag"], ""),
                }
            )
        first = next(r for seg, _ in p.segments if (r := _safe(p, seg, c)) is not None)
        heat.append(
            {
                "head": c.head,
                "group": c.group,
                "better": c.better or "",
                "baseline": _raw(first, "baseline"),
                "cells": cells,
            }
        )
    return _page().render(
        title=f"{p.spec}.{p.segmentation} profile",
        baseline=p.baseline,
        as_of=p.as_of,
        population=p.population,
        test=TEST,
        cards=_cards(p, cols),
        sizes=_sizes(p),
        segments=[p.title(seg) for seg, _ in p.segments],
        heat=heat,
        scatter=_scatter(p),
        propensity=_propensity_charts(p),
    )


TABLE_FIELDS = (
    "segment", "name", "segment_order", "size", "metric", "group", "category", "kind",
    "value", "baseline", "index", "z", "flag", "known",
)  # fmt: skip


def _table(p: Profile) -> list[dict[str, Any]]:
    """The index table as records, in the terminal's order: segments in their sort order,
    then columns (inputs, overlays; categories, Other, missing). ``value`` is the segment's
    own mean or share, ``index`` value / baseline - 1, ``flag`` 'small' (fewer than 30
    values), 'ns' (not significant) or ''."""
    groups = {(c.metric, c.category, c.kind): c.group for c in p.columns()}
    out = []
    for r in p.rows:
        out.append(
            {
                "segment": r["segment"],
                "name": p.names.get(r["segment"]),
                "segment_order": r["segment_order"],
                "size": r["size"],
                "metric": r["metric"],
                "group": groups.get((r["metric"], r["category"], r["kind"])),
                "category": r["category"],
                "kind": r["kind"],
                "value": stable_number(r["value"]),
                "baseline": stable_number(r["baseline"]),
                "index": stable_number(r["index_value"]),
                "z": stable_number(r["z"]),
                "flag": r["flag"],
                "known": r["known"],
            }
        )
    return out


def render_json(p: Profile) -> str:
    """The profile as one JSON object: what was profiled, the segments, the index table."""
    payload = {
        "spec": p.spec,
        "segmentation": p.segmentation,
        "baseline": p.baseline,
        "as_of": p.as_of,
        "population": p.population,
        "segments": [
            {"segment": seg, "name": p.names.get(seg), "size": n} for seg, n in p.segments
        ],
        "rows": _table(p),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_csv(p: Profile) -> str:
    """The index table as CSV (one row per segment and column), for spreadsheets."""
    out = io.StringIO()
    writer = csv.DictWriter(out, TABLE_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in _table(p):
        writer.writerow({k: csv_cell(v) for k, v in record.items()})
    return out.getvalue()
