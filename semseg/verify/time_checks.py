"""verify's own reading of time (docs/spec.md, "Time"), independent of the compiler's.

The compiler writes windows as interval arithmetic on the as-of date, evaluated by the engine.
Here the bounds are computed in Python from the concrete as-of date (calendar arithmetic of
our own, month ends clamped) and written as DATE literals; the time aggregations use DuckDB's
date subtraction and ``strftime`` instead of DATE_DIFF and EXTRACT. The point-in-time check
runs the model again over sources with events added after the as-of date and requires the
same result.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import sqlglot
from sqlglot import exp

from semseg.spec.model import TIME_AGGS, Agg, Spec
from semseg.spec.time import back, time_sources, window_of, zone_of
from semseg.sql import CANONICAL, sql_literal
from semseg.sql import name_sql as q
from semseg.sql import table_sql as t
from semseg.verify.proof import RESULT, same
from semseg.verify.report import CheckResult

FUTURE_DAYS = (1, 400)  # events copied to the day after the as-of date and a year later
EXAMPLES = 5


def _as_of(spec: Spec) -> date:
    assert isinstance(spec.as_of, date), "verify resolves the as-of date before checking"
    return spec.as_of


def _date(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def event_date(spec: Spec, source: str) -> str:
    """The event's date as verify reads it: in a zone other than UTC, the column's text read
    as a UTC instant ('+00') and moved to the zone (the compiler uses AT TIME ZONE instead)."""
    time = q(spec.sources[source].time or "")
    zone = zone_of(spec, source)
    if zone == "UTC":
        return f"CAST({time} AS DATE)"
    instant = f"CAST(CAST({time} AS VARCHAR) || '+00' AS TIMESTAMPTZ)"
    return f"CAST(timezone({sql_literal(zone)}, {instant}) AS DATE)"


def up_to_as_of(spec: Spec, source: str) -> str | None:
    """The source's point-in-time filter (None: it has no event time)."""
    if not spec.sources[source].time:
        return None
    return f"{event_date(spec, source)} <= {_date(_as_of(spec))}"


def population_since(spec: Spec, time: str) -> str:
    """A population member's own date (of a TIMESTAMP, the UTC date) is up to the as-of date."""
    return f"CAST({q(time)} AS DATE) <= {_date(_as_of(spec))}"


def window_filter(spec: Spec, metric: str) -> str | None:
    """The metric's window as DATE literals computed here (None: no window)."""
    window = window_of(spec, metric)
    if window is None:
        return None
    when = event_date(spec, spec.metrics[metric].source or "")
    a = _as_of(spec)
    parts = []
    if window.after is not None:
        parts.append(f"{when} > {_date(back(a, window.after, window.unit))}")
    if window.through:
        parts.append(f"{when} <= {_date(back(a, window.through, window.unit))}")
    return " AND ".join(parts)


def time_aggregate(spec: Spec, metric: str) -> str | None:
    """The time aggregation as DuckDB computes it here (None: not a time aggregation)."""
    m = spec.metrics[metric]
    if m.source is None or m.agg not in TIME_AGGS:
        return None
    when, a = event_date(spec, m.source), _date(_as_of(spec))
    return {
        Agg.days_since_last: f"({a} - MAX({when}))",
        Agg.days_since_first: f"({a} - MIN({when}))",
        Agg.active_days: f"COUNT(DISTINCT {when})",
        Agg.active_weeks: f"COUNT(DISTINCT ({a} - {when}) // 7)",
        Agg.active_months: f"COUNT(DISTINCT strftime({when}, '%Y-%m'))",
    }.get(m.agg)  # type: ignore[arg-type]


def _future_view(con, spec: Spec, table: str, sources: list[str], name: str) -> None:
    """A TEMP view: the table's rows, plus copies of them dated after the as-of date in the
    time column of every source that reads it."""
    types = dict((r[0].lower(), r[1]) for r in con.execute(f"DESCRIBE {t(table)}").fetchall())
    # In a zone west of UTC, midnight UTC of the next day is still the as-of date there: a day
    # later, every zone is past it.
    later = 0 if all(zone_of(spec, s) == "UTC" for s in sources) else 1
    times = list(dict.fromkeys((spec.sources[s].time or "").lower() for s in sources))
    copies = []
    for d in FUTURE_DAYS:
        day = _date(_as_of(spec) + timedelta(days=d + later))
        moved = ", ".join(f"CAST({day} AS {types[c]}) AS {q(c)}" for c in times)
        copies.append(f"SELECT * REPLACE ({moved}) FROM {t(table)}")
    union = " UNION ALL ".join([f"SELECT * FROM {t(table)}", *copies])
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {union}")


def point_in_time_check(
    con: duckdb.DuckDBPyConnection,
    spec: Spec,
    model_sql: str,
    numeric: dict[str, bool],
    against: str = RESULT,
) -> CheckResult | None:
    """The model over its sources plus events dated after the as-of date equals the model.

    The tables of sources with an event time are replaced, in the model's own (DuckDB) SQL,
    by views that add a copy of every row dated the day after the as-of date and one a year
    later; every output column must be the same for every key, as in ``against`` (the
    model's result; with ``verify --sample``, the same SQL's result over the sampled rows,
    whose tiers are the sample's).
    """
    timed = time_sources(spec)
    if not timed:
        return None
    readers: dict[str, list[str]] = {}
    for source in timed:
        readers.setdefault(spec.sources[source].table, []).append(source)
    shadow: dict[str, str] = {}
    for i, (table, sources) in enumerate(readers.items()):
        shadow[table] = f"semseg__future_{i}"
        _future_view(con, spec, table, sources, shadow[table])
    tree = sqlglot.parse_one(model_sql, read="duckdb")
    for node in list(tree.find_all(exp.Table)):
        name = ".".join(p.name for p in node.parts)
        if name in shadow:
            replaced = exp.to_table(shadow[name])
            if node.alias:
                replaced.set("alias", node.args["alias"])
            node.replace(replaced)
    con.execute(f"CREATE OR REPLACE TEMP TABLE semseg__future AS {tree.sql(CANONICAL)}")
    key = q(spec.entity.key)
    columns = [c for c in spec.output_columns() if c != spec.entity.key]
    differs = " OR ".join(
        f"NOT {same(f'r.{q(c)}', f'f.{q(c)}', numeric.get(c, False))}" for c in columns
    )
    found = con.execute(
        f"SELECT CAST(COALESCE(r.{key}, f.{key}) AS VARCHAR) FROM {against} r "
        f"FULL JOIN semseg__future f ON r.{key} IS NOT DISTINCT FROM f.{key} "
        f"WHERE r.{key} IS DISTINCT FROM f.{key} OR {differs or 'FALSE'} ORDER BY 1"
    ).fetchall()
    return CheckResult(
        "time:point_in_time",
        "events dated after the as-of date (a copy of every row of "
        f"{', '.join(sorted(shadow))} on the next day and a year later) change no row of the "
        "model",
        not found,
        len(found),
        tuple(f"{r[0]}: changed by events after the as-of date" for r in found[:EXAMPLES]),
    )
