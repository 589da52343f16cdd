"""The boxes rule: an HDBSCAN fit distilled into a decision tree over the features' own values.

HDBSCAN labels rows by density, and its noise lies between and around clusters in shapes no
few prototypes with radii draw: on three Gaussian blobs of 10,000 rows the prototype rule
agreed with the fit on 93.5%, on a fragmented fit of 58 clusters on 90.7% (docs/design.md).
A decision tree trained on the fit's own labels (noise, -1, included) can be grown until it
agrees with them on nearly every fitted row, and a tree is plain comparisons: exact on every
engine, with nothing computed but the features themselves.

- **Growth.** scikit-learn's ``DecisionTreeClassifier`` grown best-first
  (``max_leaf_nodes``, ``random_state`` 0), the smallest number of leaves whose labels agree
  with the fit on ``TARGET`` of the fitted rows (a bisection: agreement never falls as a
  best-first tree grows), at most ``MAX_LEAVES``.
- **float64, not float32.** scikit-learn compares float32 copies of the features with its
  thresholds; the rule compares the doubles. So the tree only proposes the splits: each is
  replayed on the fitted rows' doubles (the rows it sent left are exactly those up to the
  largest of them, since rounding to float32 keeps order), and its threshold becomes the
  shortest decimal ``t`` with ``left max < t < right min``: a number such as ``12.5`` that
  sends every fitted row where the tree sent it, and reads the same on every engine.
- **Leaves.** A leaf takes the most common fitted label of its rows (ties: the smaller), and
  each leaf of a cluster is a box (``cluster_model.Box``). Noise leaves are not written:
  outside every box is -1.
- **Boxes hug their rows.** A box is bounded on every numeric feature by its own fitted rows'
  [min, max] (widened by ``SLACK``, so that last bits an engine sums differently stay inside),
  within its path's bounds. A leaf's path reaches far beyond its rows (to infinity at the
  edge of the tree), and a region with no fitted row is noise for HDBSCAN: a refit's new
  cluster there must not be called an old one (``cluster.lineage``). Every fitted row stays
  in its box, so the agreement is the tree's. And NaN and infinities are in no box on every
  engine (NaN compares greater than every number on PostgreSQL and DuckDB, false on the
  others: ``NaN <= upper`` is false either way).

numpy and scikit-learn are imported inside functions only.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal
from typing import Any

from semseg.compile.cluster_model import DIGITS, Box, FittedModel

TARGET = 0.995  # agreement with the fit on the fitted rows that stops the growth
MAX_LEAVES = 2048
FIRST_LEAVES = 8
TREE_SEED = 0
SLACK = 1e-9  # relative: far above the last bits engines differ in, far below the data's


def separator(left: float, right: float) -> float:
    """The shortest decimal ``t`` with ``left < t < right`` (``left < right``): the midpoint
    written with as few significant digits as keep it strictly between them, so that a
    value computed one ulp off on another engine still falls on its side."""
    mid = left / 2 + right / 2
    for digits in range(1, 18):
        t = float(f"{mid:.{digits}g}")
        if left < t < right:
            return t
    return left  # adjacent doubles: only ``left`` itself separates them


def outward(value: float, down: bool) -> float:
    """``value`` to ``DIGITS`` significant digits, rounded away from the inside of a range
    (down for a minimum, up for a maximum), so the stored range holds every fitted row."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    rounding = ROUND_FLOOR if down else ROUND_CEILING
    return float(Context(prec=DIGITS, rounding=rounding).plus(Decimal(value)))


def tree_matrix(numeric, categorical: dict[str, list[str | None]], vocab: dict[str, list[str]]):
    """The numeric features as they are, then a 0/1 column per category of the vocabulary."""
    import numpy as np

    from semseg.cluster.features import one_hot

    blocks = [numeric] + [one_hot(categorical[m], vocab[m]) for m in vocab]
    return np.hstack(blocks) if len(blocks) > 1 else np.asarray(numeric)


def _grow(x, labels, leaves: int) -> list[tuple[int, dict[int, tuple[float, float]], Any]]:
    """The leaves of a tree of at most ``leaves`` leaves as (label, {column: (above, upto)},
    rows), its splits replayed on the doubles of ``x``."""
    import numpy as np
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(max_leaf_nodes=leaves, random_state=TREE_SEED)
    t = tree.fit(x, labels).tree_
    x32 = x.astype(np.float32)
    out = []
    stack: list[tuple[int, Any, dict[int, tuple[float, float]]]] = [(0, np.arange(len(x)), {})]
    while stack:
        node, rows, bounds = stack.pop()
        if t.children_left[node] == -1:
            values, counts = np.unique(labels[rows], return_counts=True)
            out.append((int(values[counts.argmax()]), bounds, rows))  # first max: smaller
            continue
        f = int(t.feature[node])
        left = x32[rows, f] <= t.threshold[node]
        cut = separator(float(x[rows[left], f].max()), float(x[rows[~left], f].min()))
        left = x[rows, f] <= cut  # the same rows (float32 rounding keeps the order)
        above, upto = bounds.get(f, (-math.inf, math.inf))
        stack.append((int(t.children_right[node]), rows[~left], {**bounds, f: (cut, upto)}))
        stack.append((int(t.children_left[node]), rows[left], {**bounds, f: (above, cut)}))
    return out  # depth first, left before right


def _agreement(leaves, labels) -> int:
    return sum(int((labels[rows] == label).sum()) for label, _, rows in leaves)


def distil(x, labels) -> tuple[list[tuple[int, dict[int, tuple[float, float]], Any]], float]:
    """The leaves of the smallest tree agreeing with ``labels`` on ``TARGET`` of the rows (at
    most ``MAX_LEAVES`` leaves), and its agreement."""
    n = len(labels)
    if n == 0 or len(set(labels.tolist())) == 1:  # one label: one leaf, no split
        return ([(int(labels[0]), {}, None)] if n else []), 1.0
    low, high = 1, FIRST_LEAVES
    found = _grow(x, labels, high)
    while _agreement(found, labels) < TARGET * n and high < MAX_LEAVES:
        low, high = high, min(2 * high, MAX_LEAVES)
        found = _grow(x, labels, high)
    goal = min(TARGET * n, _agreement(found, labels))
    while high - low > 1:  # the smallest size still reaching what ``high`` reaches
        mid = (low + high) // 2
        trial = _grow(x, labels, mid)
        if _agreement(trial, labels) >= goal:
            high, found = mid, trial
        else:
            low = mid
    return found, _agreement(found, labels) / n


def boxes_of(
    leaves, x, features: list[str], vocab: dict[str, list[str]], ids: list[int]
) -> list[Box]:
    """The cluster leaves as boxes (cluster ids ``ids[label]``; noise leaves left out), each
    numeric feature bounded by the leaf's rows of ``x`` (``tree_matrix``) within its path."""
    columns: list[tuple[str, str | None]] = [(f, None) for f in features]
    columns += [(m, c) for m in vocab for c in vocab[m]]
    slack = [_slack(x[:, i]) for i in range(len(features))]
    out = []
    for label, bounds, rows in leaves:
        if label == -1:
            continue
        above: dict[str, float] = {}
        upto: dict[str, float] = {}
        equal: dict[str, str] = {}
        unequal: dict[str, list[str]] = {}
        for col, (metric, category) in enumerate(columns):
            low, high = bounds.get(col, (-math.inf, math.inf))
            if category is None:
                values = x[:, col] if rows is None else x[rows, col]
                least, most = float(values.min()), float(values.max())
                above[metric] = low if low > -math.inf else outward(least - slack[col], True)
                upto[metric] = high if high < math.inf else outward(most + slack[col], False)
            elif col not in bounds:
                continue
            elif low > -math.inf:  # the 0/1 column above its cut: the category
                equal[metric] = category
            else:
                unequal.setdefault(metric, []).append(category)
        for metric in equal:
            unequal.pop(metric, None)  # implied by the category it is
        out.append(Box(ids[label], above, upto, equal, unequal))
    return out


def _slack(values) -> float:
    """``SLACK`` of a feature's largest magnitude (at least 1)."""
    least, most = float(values.min()), float(values.max())
    return SLACK * max(abs(least), abs(most), most - least, 1.0)


def box_labels(model: FittedModel, numeric, categorical: dict[str, list[str | None]]):
    """The boxes rule of ``model`` on rows (``box_rule``)."""
    return box_rule(model.boxes, model.features, numeric, categorical)


def box_rule(
    boxes: list[Box], features: list[str], numeric, categorical: dict[str, list[str | None]]
):
    """The boxes rule on rows: the cluster of the first box holding the row, -1 for none and
    for NaN or a missing feature (as the compiled SQL)."""
    import numpy as np

    out = np.full(len(numeric), -1)
    column = {f: numeric[:, i] for i, f in enumerate(features)}
    cats = {m: np.asarray(v, dtype=object) for m, v in categorical.items()}
    with np.errstate(invalid="ignore"):
        for box in boxes:
            hit = out == -1
            for f, low in box.above.items():
                hit &= column[f] > low
            for f, high in box.upto.items():
                hit &= column[f] <= high
            for m, c in box.equal.items():
                hit &= cats[m] == c
            for m, cs in box.unequal.items():
                hit &= ~np.isin(cats[m], cs)
            out[hit] = box.cluster
    return out
