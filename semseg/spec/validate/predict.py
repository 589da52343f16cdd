"""A propensity (``predict:``): its target is an outcome over a span of time, its features are
numeric metrics known at the scoring date (for trees, its categorical ones text metrics), and
nothing else reads the model's own inputs in a way the model cannot see."""

from __future__ import annotations

from semseg.errors import Issue
from semseg.spec.load import Marks
from semseg.spec.model import TOP_AGGS, Agg, Metric, Spec
from semseg.spec.time import Window, parse_window

TEXT_AGGS = (Agg.top, Agg.first, Agg.last, Agg.attribute)
_ROLE = {"features": "feature", "categorical": "categorical"}


def _text(metric: Metric) -> bool:
    """Declared text, or of an aggregate that gives text unless declared a number."""
    if metric.type == "text":
        return True
    return (
        metric.type != "number"
        and metric.agg in (*TEXT_AGGS, *TOP_AGGS)
        and (metric.agg is not Agg.top_share)
    )


def predict_issues(spec: Spec, marks: Marks) -> list[Issue]:
    issues = []
    for name, m in spec.metrics.items():
        p = m.predict
        if p is None:
            continue
        at = ("metrics", name, "predict")
        target = spec.metrics.get(p.target)
        if target is None:
            issues.append(
                marks.issue(
                    (*at, "target"),
                    f"propensity '{name}': target '{p.target}' is not a metric",
                    f"metrics are: {', '.join(n for n in spec.metrics if n != name)}",
                )
            )
        else:
            window = parse_window(target.window) if target.window else None
            if not (
                isinstance(window, Window) and window.after is not None and window.through == 0
            ):
                issues.append(
                    marks.issue(
                        (*at, "target"),
                        f"propensity '{name}': target '{p.target}' needs a window 'last N "
                        "days' (or weeks, months): its span is the horizon the model predicts "
                        "over",
                        f"give metric '{p.target}' e.g. window: last 30 days",
                    )
                )
            if target.predict is not None:
                issues.append(
                    marks.issue(
                        (*at, "target"),
                        f"propensity '{name}': target '{p.target}' is a propensity itself",
                        "predict an outcome measured from events",
                    )
                )
        roles = [("features", f) for f in p.features] + [("categorical", f) for f in p.categorical]
        index = {"features": 0, "categorical": 0}
        for role, feature in roles:
            where = (*at, role, index[role])
            index[role] += 1
            metric = spec.metrics.get(feature)
            if metric is None:
                issues.append(
                    marks.issue(
                        where,
                        f"propensity '{name}': {_ROLE[role]} '{feature}' is not a metric",
                        f"metrics are: {', '.join(n for n in spec.metrics if n != name)}",
                    )
                )
            elif feature in (name, p.target):
                what = "itself" if feature == name else "its own target"
                issues.append(
                    marks.issue(
                        where,
                        f"propensity '{name}' reads {what} as a feature",
                        f"remove it from {role}",
                    )
                )
            elif metric.predict is not None:
                issues.append(
                    marks.issue(
                        where,
                        f"propensity '{name}': {_ROLE[role]} '{feature}' is a propensity",
                        "use the metrics that one reads instead",
                    )
                )
            elif role == "features" and _text(metric):
                issues.append(
                    marks.issue(
                        where,
                        f"propensity '{name}': feature '{feature}' is not numeric",
                        "a logistic model reads numbers: use a numeric metric"
                        if p.model == "logistic"
                        else "list it under categorical (the trees split it by category)",
                    )
                )
            elif role == "categorical" and not _text(metric):
                issues.append(
                    marks.issue(
                        where,
                        f"propensity '{name}': categorical '{feature}' is not a text metric",
                        "list a number under features, or declare the metric type: text",
                    )
                )
        if p.categorical and p.model == "logistic":
            issues.append(
                marks.issue(
                    (*at, "categorical"),
                    f"propensity '{name}': a logistic model reads numbers, not categories",
                    "set model: gradient_boosting (its trees split by category), or remove "
                    "categorical",
                )
            )
        inputs = p.inputs
        if len(set(inputs)) != len(inputs):
            issues.append(
                marks.issue(
                    (*at, "categorical" if len(set(p.features)) == len(p.features) else "features"),
                    f"propensity '{name}' lists a feature twice",
                    "list each metric once, under features or under categorical",
                )
            )
    return issues
