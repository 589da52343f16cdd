"""Time: windows parse, and windows and time aggregations read a source with an event time."""

from __future__ import annotations

import zoneinfo
from datetime import date
from functools import lru_cache

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import EDGE_AGGS, TIME_AGGS, Spec
from semseg.spec.time import FORMS, as_of_problem, parse_window


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    """The IANA zone names (the tz database's list, not every file beside it: ``posixrules``
    and ``right/UTC`` load in Python but DuckDB and the warehouses do not know them)."""
    return frozenset(zoneinfo.available_timezones()) - {"localtime", "Factory"}


def _zone_problem(zone: str) -> str | None:
    if zone == "UTC" or zone in _zones():
        return None
    return f"'{zone}' is not an IANA time zone name that every engine knows"


def time_issues(spec: Spec, marks: Marks) -> list[Issue]:
    issues = []
    hint = "write an IANA name such as UTC, Europe/Paris or America/New_York"
    problem = _zone_problem(spec.time_zone)
    if problem:
        issues.append(marks.issue(("time_zone",), problem, hint))
    if isinstance(spec.as_of, date) and (problem := as_of_problem(spec.as_of)):
        issues.append(marks.issue(("as_of",), problem, "write a date in that range"))
    for name, src in spec.sources.items():
        if src.time_zone is None:
            continue
        if src.time is None:
            issues.append(
                marks.issue(
                    ("sources", name, "time_zone"),
                    f"source '{name}' has a time_zone but no event time",
                    "add 'time: <timestamp column>' or remove time_zone",
                )
            )
        elif problem := _zone_problem(src.time_zone):
            issues.append(marks.issue(("sources", name, "time_zone"), problem, hint))
    for at, pop in spec.populations:
        if pop.time is not None and not any(src.time for src in spec.sources.values()):
            issues.append(
                marks.issue(
                    (*at, "time"),
                    "the population has a time but no source has an event time, so the model "
                    "has no as-of date to compare it with",
                    "give a source its event time (time:), or remove the population's time",
                )
            )
    for name, m in spec.metrics.items():
        at = ("metrics", name)
        timed = m.source is not None and m.source in spec.sources
        source_time = timed and spec.sources[m.source or ""].time is not None
        if m.window is not None:
            window = parse_window(m.window)
            if isinstance(window, str):
                issues.append(marks.issue((*at, "window"), window, f"write one of {FORMS}"))
            elif m.source is None or m.sql is not None:
                issues.append(
                    marks.issue(
                        (*at, "window"),
                        f"metric '{name}' has a window but is not an aggregate over a source",
                        "give windows to the aggregate metrics it is made from",
                    )
                )
            elif timed and not source_time:
                issues.append(
                    marks.issue(
                        (*at, "window"),
                        f"metric '{name}' has a window but source '{m.source}' has no event time",
                        f"add 'time: <date or timestamp column>' to source '{m.source}'",
                    )
                )
        if m.agg in EDGE_AGGS and timed and not source_time:
            issues.append(
                marks.issue(
                    (*at, "agg"),
                    f"metric '{name}' uses '{m.agg.value}' but source '{m.source}' has no "
                    "event time to order by",
                    f"add 'time: <date or timestamp column>' to source '{m.source}'",
                )
            )
        if m.agg in TIME_AGGS:
            if m.expr is not None:
                issues.append(
                    marks.issue(
                        (*at, "expr"),
                        f"'{m.agg.value}' counts the source's event time; it takes no expr",
                        "remove 'expr' (use 'where' to choose the events)",
                    )
                )
            if timed and not source_time:
                issues.append(
                    marks.issue(
                        (*at, "agg"),
                        f"metric '{name}' uses '{m.agg.value}' but source '{m.source}' has no "
                        "event time",
                        f"add 'time: <date or timestamp column>' to source '{m.source}'",
                    )
                )
    return issues
