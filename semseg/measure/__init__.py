"""The effect of an offer (``semseg measure``): each arm of a split against its control, per
segment, on outcomes over the days after the campaign's start (docs/spec.md, "Measuring the
effect").

With the start S (``--as-of``): the arms and segments are the spec as of S; an outcome with
the window ``last N days`` is read as of S + N days, so it counts the events of (S, S + N].
The per-(segment, arm) COUNT, SUM and SUM of squares are one query per outcome
(``measure_tree``, through ``target_sql``), run in the session (DuckDB here, or the user's
engine); the interval and test are the two-sample t with the arms' pooled variance,
computed here with scipy.

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

import functools
import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta

from sqlglot import exp

from semseg.compile import model_tree, refusals, target_sql
from semseg.compile.dialects import Target, get_target
from semseg.data import Session
from semseg.errors import CompileError, UsageError
from semseg.spec import SpecFile
from semseg.spec.graph import metrics_read, segment_labels
from semseg.spec.model import arm_output
from semseg.spec.time import outcome_days
from semseg.sql import column, ident

ARMS = "semseg_arms"  # the two models' aliases in the measurement query
OUTCOMES = "semseg_outcomes"
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
    days = outcome_days(spec.metrics[outcome].window)
    assert days is not None, "validated"
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


def outcome_names(spec_file: SpecFile, segmentation: str, outcomes: list[str] | None):
    """The split and the outcomes to measure (``outcomes``, else ``split.outcomes``), each a
    metric with a window 'last N days' (or weeks); a usage error otherwise."""
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
        if name not in spec.metrics or outcome_days(spec.metrics[name].window) is None:
            raise UsageError(
                f"{spec_file.path}: outcome '{name}' must be a metric with a window 'last N "
                "days' (or weeks)"
            )
    return split, names


def measure_tree(
    spec_file: SpecFile, segmentation: str, start: date, outcome: str, target: Target
) -> exp.Expression:
    """The measurement as one query for ``target``: the model as of the start (arms and
    segments) joined by key to the outcome's model as of the start plus its span; per
    (segment, arm) and per arm over every segment (segment NULL): COUNT, SUM and SUM of
    squares of the outcome, from which ``measure`` takes means and variances."""
    spec = spec_file.spec
    refused = refusals(spec_file, target)
    if target.name == "tsql":
        refused.append(
            "SQL Server cannot nest the two models' WITH clauses in one query; run measure "
            "on another engine, or export the model's rows"
        )
    if refused:
        raise CompileError("\n".join(refused))
    arms = model_tree(spec_file.with_as_of(start).spec, target, spec_path=spec_file.path)
    kept = metrics_read(spec, [outcome])
    narrowed = spec.model_copy(
        update={
            "metrics": {m: v for m, v in spec.metrics.items() if m in kept},
            "segmentations": {},
            "checks": [],
        }
    )
    end = horizon_end(spec, outcome, start)
    at_end = SpecFile(narrowed, spec_file.path, spec_file.marks).with_as_of(end)
    outcomes = model_tree(at_end.spec, target, spec_path=spec_file.path)
    key = spec.entity.key
    arm = column(arm_output(segmentation), ARMS)
    value = exp.cast(column(outcome, OUTCOMES), exp.DataType.build("double"))
    aggregates = [
        exp.alias_(exp.Count(this=value.copy()), "n"),
        exp.alias_(exp.Sum(this=value.copy()), "total"),
        exp.alias_(exp.Sum(this=exp.Mul(this=value.copy(), expression=value.copy())), "squares"),
    ]

    def grouped(by_segment: bool) -> exp.Select:
        segment = (
            exp.cast(column(segmentation, ARMS), exp.DataType.build("varchar"))
            if by_segment
            else exp.cast(exp.Null(), exp.DataType.build("varchar"))
        )
        query = (
            exp.select(exp.alias_(segment, "segment"), exp.alias_(arm.copy(), "arm"), *aggregates)
            .from_(exp.Subquery(this=arms.copy(), alias=exp.TableAlias(this=ident(ARMS))))
            .join(
                exp.Subquery(this=outcomes.copy(), alias=exp.TableAlias(this=ident(OUTCOMES))),
                on=exp.EQ(this=column(key, OUTCOMES), expression=column(key, ARMS)),
                join_type="left",
            )
            .where(exp.Not(this=exp.Is(this=arm.copy(), expression=exp.Null())))
        )
        by = [column(segmentation, ARMS), arm.copy()] if by_segment else [arm.copy()]
        return query.group_by(*by)

    return exp.union(grouped(True), grouped(False), distinct=False)


def measure_sql(
    spec_file: SpecFile, segmentation: str, start: date, outcome: str, dialect: str
) -> str:
    """``measure_tree`` as the target's SQL text (the one exit, ``target_sql``)."""
    outcome_names(spec_file, segmentation, [outcome])  # a usage error, not an assertion
    target = get_target(dialect)
    return target_sql(measure_tree(spec_file, segmentation, start, outcome, target), target)


def measure(
    session: Session, segmentation: str, start: date, outcomes: list[str] | None = None
) -> list[Effect]:
    """Each arm against the control, per segment and over all, for each outcome: the
    aggregate query runs in the session (here, or on the engine), the statistics here."""
    spec_file = session.spec_file
    spec = spec_file.spec
    split, names = outcome_names(spec_file, segmentation, outcomes)
    effects: list[Effect] = []
    for name in names:
        rows = session.rows(functools.partial(measure_tree, spec_file, segmentation, start, name))
        # the split as a whole is the segment None (a label may be any text, "(all)" too)
        cells: dict[tuple[str | None, str], tuple[int, float | None, float | None]] = {}
        for segment, arm_name, n, total, squares in rows:
            cells[(segment, arm_name)] = _moments(n, total, squares)
        order = _segment_order(spec, segmentation)
        segments: list[str | None] = sorted({s for s, _ in cells if s is not None}, key=order)
        for segment in [*segments, None]:
            control = cells.get((segment, split.control_arm), (0, None, None))
            for arm_name in split.arms:
                if arm_name == split.control_arm:
                    continue
                n_t, mean_t, var_t = cells.get((segment, arm_name), (0, None, None))
                n_c, mean_c, var_c = control
                shown = ALL if segment is None else segment
                effect = Effect(name, shown, arm_name, n_t, mean_t, n_c, mean_c)
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


def _moments(n, total, squares) -> tuple[int, float | None, float | None]:
    """(n, mean, sample variance) from COUNT, SUM and SUM of squares."""
    n = int(n or 0)
    if n == 0:
        return 0, None, None
    mean = float(total) / n
    if n < 2:
        return n, mean, None
    var = (float(squares) - float(total) * float(total) / n) / (n - 1)
    return n, mean, max(var, 0.0)


def _segment_order(spec, segmentation: str):
    labels = segment_labels(spec, segmentation)

    def order(label: str) -> tuple[int, str]:
        return (labels.index(label) if label in labels else len(labels), label)

    return order
