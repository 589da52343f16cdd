"""The effect of an offer (``semseg measure``): each arm of a split against its control, per
segment, on outcomes over the days after the campaign's start (docs/spec.md, "Measuring the
effect").

With the start S (``--as-of``): the arms and segments are the spec as of S; an outcome with
the window ``last N days`` is read as of S + N days, so it counts the events of (S, S + N].
The per-(segment, arm) counts, means and variances are one SQL aggregate in the session
(DuckDB here, over the two models' rows, or a warehouse's), and the interval and test are
the two-sample t with the arms' pooled variance, computed here with scipy.

Why pooled, not Welch: a holdout is randomised, so with no effect both arms draw from one
distribution and the pooled variance is the variance the randomisation itself gives (the
constant-effect model). Welch's uses each arm's own variance, and a small control of mostly
zero 30-day revenue often has none: on the bundled sample's lapsing and lapsed customers
(about 80 and 100 in a 10% holdout) Welch flagged 13% and 17.5% of 200 salts with no effect
at p < 0.05, the pooled test 6.5% and 4.5% (4% for the split as a whole;
tests/test_measure.py). A bootstrap needs the rows, not the aggregate a warehouse or a dbt
analysis returns, and is no better with an all-zero control.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from semseg.data import Session
from semseg.errors import UsageError
from semseg.spec import SpecFile
from semseg.spec.graph import metrics_read, segment_labels
from semseg.spec.model import arm_output
from semseg.spec.time import Window, parse_window
from semseg.sql import name_sql as q

ARMS_TABLE = "semseg_measure_arms"
OUTCOMES_TABLE = "semseg_measure_outcomes"
ALL = "(all)"  # the row of every segment of the split together
LEVEL = 0.95


@dataclass(frozen=True)
class Effect:
    """One arm against the control in one segment, on one outcome."""

    outcome: str
    segment: str
    arm: str
    customers: int
    mean: float | None
    control_customers: int
    control_mean: float | None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    relative_lift: float | None = None
    incremental: float | None = None
    incremental_low: float | None = None
    incremental_high: float | None = None


def horizon_end(spec, outcome: str, start: date) -> date:
    """The date an outcome is read as of: the start plus its window's span."""
    window = parse_window(spec.metrics[outcome].window or "")
    assert isinstance(window, Window) and window.after is not None, "validated"
    days = window.after * (7 if window.unit == "WEEK" else 1)
    return start + timedelta(days=days)


def pooled_t(n_t: int, mean_t: float, var_t: float, n_c: int, mean_c: float, var_c: float):
    """(difference, ci_low, ci_high, p): the two-sample t interval and two-sided test of
    mean_t - mean_c with the arms' pooled variance (Student's, n_t + n_c - 2 degrees of
    freedom); None where the arms have under 3 members together or no variance."""
    from scipy import stats

    diff = mean_t - mean_c
    df = n_t + n_c - 2
    if n_t < 1 or n_c < 1 or df < 1:
        return diff, None, None, None
    pooled = ((n_t - 1) * var_t + (n_c - 1) * var_c) / df
    se = math.sqrt(pooled * (1 / n_t + 1 / n_c))
    if se == 0:
        return diff, diff, diff, None
    half = float(stats.t.ppf(0.5 + LEVEL / 2, df)) * se
    p = float(2 * stats.t.sf(abs(diff) / se, df))
    return diff, diff - half, diff + half, p


def measure(
    session: Session, segmentation: str, start: date, outcomes: list[str] | None = None
) -> list[Effect]:
    spec_file = session.spec_file
    spec = spec_file.spec
    split = spec.segmentations[segmentation].split
    if split is None:
        raise UsageError(f"{spec_file.path}: segmentation '{segmentation}' has no split:")
    names = outcomes or list(split.outcomes)
    if not names:
        raise UsageError(
            f"{spec_file.path}: '{segmentation}' names no outcome: give --outcome METRIC or "
            "split.outcomes"
        )
    for name in names:
        window = parse_window(spec.metrics[name].window or "") if name in spec.metrics else None
        if not (isinstance(window, Window) and window.after is not None and window.through == 0):
            raise UsageError(
                f"{spec_file.path}: outcome '{name}' must be a metric with a window 'last N "
                "days' (or weeks)"
            )
    session.run(spec_file.with_as_of(start), ARMS_TABLE)
    key = q(spec.entity.key)
    con = session.con
    effects: list[Effect] = []
    for name in names:
        end = horizon_end(spec, name, start)
        kept = metrics_read(spec, [name])
        narrowed = spec.model_copy(
            update={
                "metrics": {m: v for m, v in spec.metrics.items() if m in kept},
                "segmentations": {},
                "checks": [],
            }
        )
        session.run(
            SpecFile(narrowed, spec_file.path, spec_file.marks).with_as_of(end), OUTCOMES_TABLE
        )
        value = f"CAST(o.{q(name)} AS DOUBLE)"
        base = (
            f"FROM {ARMS_TABLE} AS a LEFT JOIN {OUTCOMES_TABLE} AS o ON o.{key} = a.{key} "
            f"WHERE a.{q(arm_output(segmentation))} IS NOT NULL"
        )
        select = f"COUNT({value}) AS n, AVG({value}) AS mean, VAR_SAMP({value}) AS var"
        arm = f"a.{q(arm_output(segmentation))}"
        rows = con.execute(
            f"SELECT CAST(a.{q(segmentation)} AS VARCHAR) AS segment, {arm} AS arm, {select} "
            f"{base} GROUP BY 1, 2 "
            f"UNION ALL SELECT NULL, {arm}, {select} {base} GROUP BY 2"
        ).fetchall()
        cells: dict[tuple[str, str], tuple[int, float | None, float | None]] = {}
        for segment, arm_name, n, mean, var in rows:
            cells[(ALL if segment is None else segment, arm_name)] = (int(n), mean, var)
        segments = sorted({s for s, _ in cells if s != ALL}, key=_segment_order(spec, segmentation))
        for segment in [*segments, ALL]:
            control = cells.get((segment, split.control_arm), (0, None, None))
            for arm_name in split.arms:
                if arm_name == split.control_arm:
                    continue
                n_t, mean_t, var_t = cells.get((segment, arm_name), (0, None, None))
                n_c, mean_c, var_c = control
                effect = Effect(name, segment, arm_name, n_t, mean_t, n_c, mean_c)
                if mean_t is not None and mean_c is not None:
                    diff, low, high, p = pooled_t(
                        n_t, mean_t, var_t or 0.0, n_c, mean_c, var_c or 0.0
                    )
                    effect = Effect(
                        **{
                            **asdict(effect),
                            "difference": diff,
                            "ci_low": low,
                            "ci_high": high,
                            "p_value": p,
                            "relative_lift": diff / mean_c if mean_c else None,
                            "incremental": diff * n_t,
                            "incremental_low": None if low is None else low * n_t,
                            "incremental_high": None if high is None else high * n_t,
                        }
                    )
                effects.append(effect)
    return effects


def _segment_order(spec, segmentation: str):
    labels = segment_labels(spec, segmentation)

    def order(label: str) -> tuple[int, str]:
        return (labels.index(label) if label in labels else len(labels), label)

    return order


def as_records(effects: list[Effect]) -> list[dict[str, Any]]:
    return [asdict(e) for e in effects]
