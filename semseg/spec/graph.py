"""What depends on what in a spec: derived metrics, segmentations, labels, output columns.

Pure functions of the typed spec, shared by validation, the compiler, verify and profile (each
asks the same question of the spec; none of them is a proof of another).
"""

from __future__ import annotations

import hashlib
import json

from semseg.spec.model import Spec
from semseg.sql import SnippetProblem, column_names, parse_snippet

DISPLAY_ONLY = {"description", "better", "categories"}  # how profile shows a metric, not its value


def segmentation_columns(spec: Spec) -> dict[str, str]:
    """Output column name → segmentation that produces it (``Spec.segmentation_outputs``)."""
    return {
        column: name for name in spec.segmentations for column, _ in spec.segmentation_outputs(name)
    }


def derived_dependencies(spec: Spec) -> dict[str, list[str]]:
    """Derived metric → the metrics its expression mentions (unknown names dropped)."""
    deps = {}
    for name, m in spec.metrics.items():
        if m.predict is not None:  # a propensity reads its features
            deps[name] = [f for f in m.predict.inputs if f in spec.metrics]
        elif m.kind == "derived" and m.expr:
            tree = parse_snippet(m.expr, spec.dialect)
            cols = [] if isinstance(tree, SnippetProblem) else column_names(tree)
            deps[name] = [c for c in cols if c in spec.metrics]
    return deps


def segmentation_dependencies(spec: Spec) -> dict[str, list[str]]:
    """Segmentation → other segmentations whose columns its rules use."""
    seg_cols = segmentation_columns(spec)
    deps: dict[str, list[str]] = {}
    for name, s in spec.segmentations.items():
        found: dict[str, None] = {}
        for seg in s.segments or []:
            tree = parse_snippet(seg.when, spec.dialect) if seg.when else None
            if tree is not None and not isinstance(tree, SnippetProblem):
                for c in column_names(tree):
                    if c in seg_cols and c not in spec.metrics and seg_cols[c] != name:
                        found.setdefault(seg_cols[c], None)
        deps[name] = list(found)
    return deps


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as a list of names (first repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def segment_labels(spec: Spec, name: str) -> list[str]:
    """Every label a segmentation can produce, in sort order."""
    s = spec.segmentations[name]
    if s.quantiles is not None:
        tiers = list(s.labels) if s.labels else [str(i) for i in range(1, s.quantiles + 1)]
        return [*tiers, s.null_label or "Unranked"]
    return [seg.label for seg in s.segments or []]


DEFAULT_PRECISION = 6  # decimal places of a non-integer metric that bands or tiers compare


def metric_precision(spec: Spec, name: str) -> int | None:
    """Decimal places ``name`` is rounded to (half up) everywhere, or None when it is not.

    Declared with ``precision:``; otherwise ``DEFAULT_PRECISION`` for a metric that is not
    known to be integer and that a bands or quantiles segmentation is by: the last digits of a
    float sum depend on the order of addition, which differs between engines and runs, so
    equal amounts must be made equal before they are ranked or compared with a bound.
    """
    metric = spec.metrics[name]
    if metric.precision is not None:
        return metric.precision
    if metric.is_integer:
        return None
    compared = any(
        s.by == name and s.kind in ("bands", "quantiles") for s in spec.segmentations.values()
    )
    return DEFAULT_PRECISION if compared else None


def cluster_fingerprint(spec: Spec, name: str) -> str:
    """A digest of everything a cluster segmentation's fit depends on in the spec.

    The definitions of its features and categorical metrics (and of the metrics they are
    derived from), their sources (table, key, filter, joins), the entity key, the snippet dialect
    and the segmentation's settings (where, algorithm, sizes, scaling, sample). A model whose
    fingerprint differs was fitted for other values, even when every name is the same.
    Keys left out (None) are not part of it, so a new optional key does not change it.
    """
    cluster = spec.segmentations[name].cluster
    assert cluster is not None
    # assign_noise and rule change the rule and names the labels, not the fit (left out, as
    # before they existed; compile checks the model's rule: ``cluster_sql.fitted_model``)
    fit_only = {"model", "overlays", "assign_noise", "names", "rule"}
    settings = cluster.model_dump(mode="json", exclude=fit_only)
    return _fingerprint(spec, [*cluster.features, *cluster.categorical], settings)


def predict_fingerprint(spec: Spec, name: str) -> str:
    """``cluster_fingerprint`` for a propensity: its features, its target and their
    definitions, and its settings (not where its model file lives)."""
    predict = spec.metrics[name].predict
    assert predict is not None
    own = {"logistic": {"C"}, "gradient_boosting": {"trees", "depth", "learning_rate"}}
    kept = {"target", "features", "model", *own[predict.model]}  # not the other model's
    if predict.categorical:  # (absent when empty: the fingerprints of earlier models hold)
        kept.add("categorical")
    settings = predict.model_dump(mode="json", include=kept)
    return _fingerprint(spec, [*predict.inputs, predict.target], settings)


def metrics_read(spec: Spec, metrics: list[str]) -> list[str]:
    """``metrics`` and every metric they derive from (a propensity from its features), in
    the order first met; names that are not metrics are left out."""
    deps = derived_dependencies(spec)
    wanted: list[str] = []
    todo = list(metrics)
    while todo:
        metric = todo.pop(0)
        if metric in spec.metrics and metric not in wanted:
            wanted.append(metric)
            todo += deps.get(metric, [])
    return wanted


def _fingerprint(spec: Spec, metrics: list[str], settings: dict) -> str:
    """The digest of ``metrics`` (and what they derive from), their sources and ``settings``."""
    wanted = metrics_read(spec, metrics)
    sources = sorted({m.source for n in wanted if (m := spec.metrics[n]).source})
    content = {
        "entity_key": spec.entity.key,
        "dialect": spec.dialect,
        "metrics": {
            n: spec.metrics[n].model_dump(mode="json", exclude=DISPLAY_ONLY, exclude_none=True)
            for n in sorted(wanted)
        },
        "sources": {  # (a source without joins as before joins existed)
            s: spec.sources[s].model_dump(
                mode="json",
                exclude={"description"} | (set() if spec.sources[s].joins else {"joins"}),
                exclude_none=True,
            )
            for s in sources
        },
        "settings": settings,
    }
    if spec.time_zone != "UTC":  # the dates of every source's events (UTC: as before)
        content["time_zone"] = spec.time_zone
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
