"""Render a measurement (``semseg measure``): text, JSON, or one offline HTML page with each
effect drawn as its 95% interval around the difference, against the line of no effect."""

from __future__ import annotations

import json
from dataclasses import asdict
from functools import lru_cache
from typing import Any

import jinja2

from semseg.errors import printable
from semseg.files import stable_number
from semseg.measure import LEVEL, Effect

METHOD = (
    "two-sample t with the arms' pooled variance (Student's), two-sided; the incremental "
    "total is the difference times the arm's customers"
)


def title(spec: str, segmentation: str, start: str) -> str:
    return f"{spec}: {segmentation}'s split, from {start}"


def render_text(effects: list[Effect], heading: str) -> str:
    """A line per outcome, segment and arm (labels are user text: control characters are
    shown, not obeyed)."""
    out = [printable(heading)]
    for e in effects:
        where = f"{printable(e.outcome)} | {printable(e.segment)} | {printable(e.arm)}"
        if e.difference is None:
            out.append(
                f"  {where}: {e.customers:,} customers, {e.control_customers:,} in the control: "
                "no difference to measure"
            )
            continue
        interval = f"[{_number(e.ci_low, True)}, {_number(e.ci_high, True)}]"
        lift = f"{e.relative_lift:+.1%}" if e.relative_lift is not None else "n/a"
        p = f"{e.p_value:.3g}" if e.p_value is not None else "n/a"
        out.append(
            f"  {where} ({e.customers:,}) against the control ({e.control_customers:,}): "
            f"mean {_number(e.mean)} vs {_number(e.control_mean)}, difference "
            f"{_number(e.difference, True)} {interval} ({LEVEL:.0%}), p {p}, lift {lift}, "
            f"incremental {_number(e.incremental, True)}"
        )
    return "\n".join(out) + "\n"


def records(effects: list[Effect]) -> list[dict[str, Any]]:
    """The effects as records whose floats are the same on every run and engine (12
    significant digits; an engine's float sums differ in the last bits)."""
    return [{k: stable_number(v) for k, v in asdict(e).items()} for e in effects]


def render_json(effects: list[Effect]) -> str:
    return json.dumps(records(effects), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


PLOT = 300  # px: the width of an effect's drawing
PAD = 12  # px: either side, so a dot at the end of the scale is whole


def _scale(effects: list[Effect]):
    """One scale per outcome: from the lowest interval end (or 0) to the highest (or 0), so
    the line of no effect is always drawn, and every row of the outcome compares."""
    ends = [0.0]
    for e in effects:
        ends += [v for v in (e.ci_low, e.ci_high, e.difference) if v is not None]
    low, high = min(ends), max(ends)
    span = (high - low) or 1.0

    def x(value: float) -> float:
        return round(PAD + (value - low) / span * (PLOT - 2 * PAD), 1)

    return x, low, high


def _tone(e: Effect) -> str:
    """Blue where the interval is above 0, red where below, grey where it holds 0."""
    if e.ci_low is None or e.ci_high is None:
        return "#888888"
    if e.ci_low > 0:
        return "#1f5fa8"
    if e.ci_high < 0:
        return "#b8322a"
    return "#888888"


def _number(value: float | None, sign: bool = False) -> str:
    """4 significant digits, or whole units from 1,000 up (never an exponent)."""
    if value is None:
        return "n/a"
    spec = ",.0f" if abs(value) >= 1000 else ",.4g"
    return format(value, ("+" if sign else "") + spec)


def _outcomes(effects: list[Effect]) -> list[dict[str, Any]]:
    by_outcome: dict[str, list[Effect]] = {}
    for e in effects:
        by_outcome.setdefault(e.outcome, []).append(e)
    out = []
    for outcome, rows in by_outcome.items():
        x, low, high = _scale(rows)
        out.append(
            {
                "name": outcome,
                "zero": x(0.0),
                "ticks": [
                    {"x": x(v), "text": _number(v, sign=v != 0)} for v in sorted({low, 0.0, high})
                ],
                "rows": [
                    {
                        "segment": e.segment,
                        "arm": e.arm,
                        "customers": f"{e.customers:,} / {e.control_customers:,}",
                        "means": f"{_number(e.mean)} / {_number(e.control_mean)}",
                        "difference": _number(e.difference, sign=True),
                        "interval": (
                            f"[{_number(e.ci_low, True)}, {_number(e.ci_high, True)}]"
                            if e.ci_low is not None
                            else ""
                        ),
                        "p": "n/a" if e.p_value is None else f"{e.p_value:.3g}",
                        "lift": "n/a" if e.relative_lift is None else f"{e.relative_lift:+.1%}",
                        "incremental": _number(e.incremental, sign=True),
                        "incremental_interval": (
                            f"[{_number(e.incremental_low, True)}, "
                            f"{_number(e.incremental_high, True)}]"
                            if e.incremental_low is not None
                            else ""
                        ),
                        "dot": None if e.difference is None else x(e.difference),
                        "low": None if e.ci_low is None else x(e.ci_low),
                        "high": None if e.ci_high is None else x(e.ci_high),
                        "tone": _tone(e),
                    }
                    for e in rows
                ],
            }
        )
    return out


@lru_cache(maxsize=1)
def _page() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("semseg", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # segment labels, arm and metric names are user text
        keep_trailing_newline=True,
    )
    return env.get_template("measure.html.j2")


def render_html(effects: list[Effect], heading: str) -> str:
    """One offline page (inline CSS and SVG, no script, no external reference): per outcome a
    table with a row per segment and arm, its numbers, and its effect drawn as the interval
    (a line) around the difference (a dot) on one scale with the line of no effect."""
    return _page().render(
        title=heading,
        level=f"{LEVEL:.0%}",
        method=METHOD,
        plot=PLOT,
        outcomes=_outcomes(effects),
    )
