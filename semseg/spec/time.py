"""Time in a spec: which sources have an event time, the as-of date, and metric windows.

The meaning (docs/spec.md, "Time"): an event's date is the date of its time column. With the
as-of date A, a source with ``time`` counts only events dated on or before A. A window keeps
the events dated in a half-open range of days before A:

- ``last N units``: after A - N units, up to A (``last 1 day`` is A itself);
- ``N to M units ago``: after A - M units, up to A - N units (``0 to M`` is ``last M``);
- ``before N units ago``: up to A - N units (the history that ``last N units`` leaves out);
- ``all``: every event up to A (the default).

Units are days, weeks (7 days), months and years (12 months); a month back from the 31st is
the last day of the shorter month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from semseg.spec.model import Spec

UNITS = {"day": "DAY", "week": "WEEK", "month": "MONTH", "year": "YEAR"}
_UNIT = r"(?P<unit>days?|weeks?|months?|years?)"
# A count: digits, or (in the text as written, before parameters are substituted) ``{{ name }}``.
_N = r"\d+|\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}"
_LAST = re.compile(rf"last\s+(?P<n>{_N})\s+{_UNIT}", re.IGNORECASE)
_RANGE = re.compile(rf"(?P<near>{_N})\s+to\s+(?P<far>{_N})\s+{_UNIT}\s+ago", re.IGNORECASE)
_BEFORE = re.compile(rf"before\s+(?P<n>{_N})\s+{_UNIT}\s+ago", re.IGNORECASE)
# A century back at most: far beyond any history, and every engine's dates stay in range.
MAX_AMOUNT = {"DAY": 36_600, "WEEK": 5_220, "MONTH": 1_200, "YEAR": 100}
FORMS = "'last 90 days', '90 to 180 days ago', 'before 12 months ago' or 'all'"


@dataclass(frozen=True)
class Window:
    """Events dated after A - ``after`` units (None: no lower bound) and on or before
    A - ``through`` units (0: the as-of date itself)."""

    unit: str  # DAY, WEEK, MONTH or YEAR
    after: int | None
    through: int

    @property
    def is_all(self) -> bool:
        return self.after is None and self.through == 0


ALL = Window("DAY", None, 0)


def _match(text: str) -> tuple[re.Pattern[str] | None, re.Match[str] | None]:
    spoken = " ".join(text.split())
    for pattern in (_LAST, _RANGE, _BEFORE):
        found = pattern.fullmatch(spoken)
        if found:
            return pattern, found
    return None, None


def window_parameters(text: str) -> dict[str, str]:
    """The parameters standing for a window's ends in ``text`` as written
    (``last {{ days }} days`` -> ``{"after": "days"}``): the ends dbt's ``var()`` sets."""
    pattern, found = _match(text)
    if found is None:
        return {}
    if pattern is _LAST:
        roles = {"n": "after"}
    elif pattern is _RANGE:
        roles = {"far": "after", "near": "through"}
    else:
        roles = {"n": "through"}
    out = {}
    for group, role in roles.items():
        if found[group].startswith("{{"):
            out[role] = found[group].strip("{} ")
    return out


def parse_window(text: str) -> Window | str:
    """The window ``text`` stands for, or what is wrong with it."""
    if " ".join(text.lower().split()) == "all":
        return ALL
    pattern, found = _match(text)
    if found is None or not all(v.isdigit() for v in found.groups()[:-1] if v):
        return f"window '{text}' is not one of the forms {FORMS}"
    unit = UNITS[found["unit"].lower().rstrip("s")]
    parts = found.groupdict()
    if pattern is _LAST:
        after, through = int(parts["n"]), 0
    elif pattern is _RANGE:
        after, through = int(parts["far"]), int(parts["near"])
    else:
        after, through = None, int(parts["n"])
    if any(v > MAX_AMOUNT[unit] for v in (after or 0, through)):
        return f"window '{text}' reaches more than {MAX_AMOUNT[unit]:,} {unit.lower()}s back"
    if pattern is _LAST and after == 0:
        return f"window '{text}' is empty; 'last 1 day' is the as-of date alone"
    if after is not None and after <= through:
        return f"window '{text}' is empty: the far end must be further back than the near end"
    return Window(unit, after, through)


def outcome_days(text: str | None) -> int | None:
    """The days an outcome window ``last N days`` (or weeks) spans, read as of a campaign's
    start plus that span (``semseg measure``); None for any other window, or none."""
    window = parse_window(text) if text else None
    if not (
        isinstance(window, Window)
        and window.after is not None
        and window.through == 0
        and window.unit in ("DAY", "WEEK")
    ):
        return None
    return window.after * (7 if window.unit == "WEEK" else 1)


def time_sources(spec: Spec) -> dict[str, str]:
    """Source name → its event time column, for the sources that declare one."""
    return {name: src.time for name, src in spec.sources.items() if src.time}


def zone_of(spec: Spec, source: str) -> str:
    """The zone whose dates the source's events fall on (UTC: the column's own date)."""
    return spec.sources[source].time_zone or spec.time_zone


def zoned_sources(spec: Spec) -> dict[str, str]:
    """Source name -> its zone, for sources with an event time in a zone other than UTC."""
    return {s: z for s in time_sources(spec) if (z := zone_of(spec, s)) != "UTC"}


def uses_time(spec: Spec) -> bool:
    """Whether the model depends on the as-of date (a population's time needs a source's:
    validation refuses it alone)."""
    return bool(time_sources(spec))


def window_of(spec: Spec, metric: str) -> Window | None:
    """The metric's window when it has one that narrows it (``all`` is no window)."""
    text = spec.metrics[metric].window
    if text is None:
        return None
    window = parse_window(text)
    assert isinstance(window, Window), "validated"
    return None if window.is_all else window


# An as-of date semseg computes with: its windows, and the events verify dates after it, stay
# dates (9999-12-31 overflowed Python's date in verify's point-in-time check).
AS_OF_RANGE = (date(1000, 1, 1), date(9000, 12, 31))


def as_of_problem(day: date) -> str | None:
    """Why ``day`` cannot be an as-of date (None: it can)."""
    first, last = AS_OF_RANGE
    if first <= day <= last:
        return None
    return f"the as-of date {day.isoformat()} is outside {first.isoformat()} to {last.isoformat()}"


def as_of_value(text: str) -> date | str:
    """``--as-of`` as given on the command line: a date, 'today' or 'latest' (else ValueError)."""
    if text in ("today", "latest"):
        return text
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of '{text}' is not YYYY-MM-DD, today or latest") from None
    if problem := as_of_problem(day):
        raise ValueError(f"--as-of {text}: {problem}")
    return day


def back(day: date, amount: int, unit: str) -> date:
    """``day`` moved back ``amount`` units, as windows count: a month back from the 31st ends
    on the month's last day (docs/spec.md). Before year 1 it is the first date there is. In
    Python: verify's own window bounds and the propensity fit's cutoffs (the compiler dates
    in SQL)."""
    if unit in ("DAY", "WEEK"):
        days = amount * (7 if unit == "WEEK" else 1)
        return day - timedelta(days=days) if days < (day - date.min).days else date.min
    months = amount * (12 if unit == "YEAR" else 1)
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    if year < 1:
        return date.min
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
