"""Fit a cluster segmentation locally and write its model file; measure SQL agreement.

HDBSCAN or KMeans (scikit-learn; KMeans with a fixed ``random_state`` and ``n_init``).
Cluster ids are renumbered 0..k-1 by size, largest first (ties by centre coordinates), -1 is
noise, as SQL-inf's CLUSTER. Above ``sample_size`` rows the fit runs on a deterministic sample
(the rows whose MD5 of the key sorts first) and everyone else is labelled with the assignment
rule. Each HDBSCAN cluster, which need not be round, is drawn by ``PROTOTYPES`` points (k-means
within the cluster; a KMeans cluster by its centre). Radius: for each prototype a quantile of
the distances of the members nearest to it; the quantiles are chosen among ``RADIUS_QUANTILES``
to maximise agreement between the assignment rule and the fitted labels on the fitted rows
(ties → the larger quantile), and stored in the model. When those prototypes agree with an
HDBSCAN fit on less than ``PROTOTYPES_ENOUGH`` of its rows (or ``cluster.rule: boxes``), the
model holds the boxes of a decision tree distilled from the fit instead (``cluster.boxes``).
numpy / scikit-learn are imported inside functions only.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from semseg.cluster.boxes import (
    TARGET,
    box_labels,
    box_rule,
    boxes_of,
    distil,
    tree_matrix,
)
from semseg.cluster.features import (
    Features,
    design,
    model_space,
    population_query,
    pull,
    standardise,
    vocabulary,
)
from semseg.cluster.hdbscan import hdbscan_labels
from semseg.cluster.lineage import Lineage, comparable, fresh, match
from semseg.compile.cluster_model import (
    CATEGORY_WEIGHT,
    ClusterCentre,
    FittedModel,
    Prototype,
    default_model_path,
    load_model,
    stable_float,
)
from semseg.data import Session
from semseg.errors import DataError, UsageError, printable
from semseg.files import preflight, write_text
from semseg.spec import SpecFile
from semseg.spec.graph import cluster_fingerprint
from semseg.spec.time import uses_time
from semseg.sql import name_sql
from semseg.version import __version__

AGREEMENT_MIN = 0.95  # share of rows where the SQL must agree with the fit (cluster, verify)
RADIUS_QUANTILES = tuple(q / 100 for q in range(50, 101, 2)) + (1.0,)
PROTOTYPES = 3  # per HDBSCAN cluster (KMeans clusters are Voronoi cells: their centre suffices)
# The default rule of an HDBSCAN fit: prototypes when they agree with it on this share of the
# fitted rows (fewer numbers, and rounder regions that label unseen rows more like a refit
# does: ARI 0.986 against 0.969 for boxes, tests/test_cluster_scale.py), else boxes
PROTOTYPES_ENOUGH = 0.99
LLOYD_ROUNDS = 20
RADIUS_FLOOR = 1e-6  # scaled units: a prototype on identical rows still holds them
ASSIGN_CHUNK = 100_000  # rows assigned at a time when labelling everyone locally
KMEANS_SEED = 0
KMEANS_N_INIT = 10


@dataclass
class LocalFit:
    """A fitted model plus the local labels of every row of the cluster population."""

    model: FittedModel
    features: Features
    labels: Any  # int array aligned with features.keys (-1: noise, incomplete row)
    space: Any  # the scaled design matrix (NaN rows for incomplete rows)
    seconds: float
    lineage: Lineage  # the model's ids against the previous model's (fit order without one)


def _cluster_names(spec_file: SpecFile) -> list[str]:
    return [n for n, s in spec_file.spec.segmentations.items() if s.kind == "cluster"]


def cluster_segmentations(spec_file: SpecFile) -> list[str]:
    """Every cluster segmentation of the spec; ``UsageError`` when there is none."""
    names = _cluster_names(spec_file)
    if not names:
        raise UsageError(f"{spec_file.path}: the spec has no cluster segmentation")
    return names


def cluster_segmentation(spec_file: SpecFile, segmentation: str | None) -> str:
    """The cluster segmentation to fit: the one named, else the first; ``UsageError`` if none."""
    if segmentation is None:
        return cluster_segmentations(spec_file)[0]
    names = _cluster_names(spec_file)
    if segmentation not in names:
        raise UsageError(
            f"{spec_file.path}: '{segmentation}' is not a cluster segmentation "
            f"(cluster segmentations: {', '.join(names) or 'none'})"
        )
    return segmentation


def _sample(keys, size: int, prefix=None):
    """The indices of the ``size`` keys whose MD5 (hex of ``str(key)``) sorts first, ties in
    index order, in index order. ``prefix``: the first 8 bytes of each digest as uint64,
    computed by DuckDB (``pull``); only keys tied on it at the cut are hashed here. Without
    it every key is hashed in Python (16 s for 10M keys; the same sample either way)."""
    import numpy as np

    if len(keys) <= size:
        return np.arange(len(keys))

    def full(i: int) -> str:
        return hashlib.md5(str(keys[i]).encode("utf-8")).hexdigest()

    if prefix is None:
        digest = [full(i) for i in range(len(keys))]
        # The ``size`` smallest digests (= a full sort's first ``size``; ties keep index order).
        return np.array(sorted(heapq.nsmallest(size, range(len(keys)), key=digest.__getitem__)))
    cut = np.partition(prefix, size - 1)[size - 1]
    inside = np.flatnonzero(prefix < cut)
    tied = np.flatnonzero(prefix == cut)  # ordered by the whole digest, then by index
    tied = np.array(sorted(tied.tolist(), key=lambda i: (full(i), i)), dtype=int)
    return np.sort(np.concatenate([inside, tied[: size - len(inside)]]))


def require_cluster_extra() -> None:
    """numpy and scikit-learn come with the `cluster` extra: name them if absent."""
    import importlib.util

    missing = [m for m in ("numpy", "sklearn") if not importlib.util.find_spec(m)]
    if missing:
        raise UsageError(
            f"clustering needs {', '.join(missing)}, which a plain install leaves out: "
            "pip install 'semseg[cluster]'"
        )


def _raw_labels(space, c) -> Any:
    """Cluster labels of the scaled rows (-1: noise) by scikit-learn: KMeans (fixed seed and
    n_init) or HDBSCAN. HDBSCAN was fast_hdbscan's until issue 14: its numba functions took
    78 s to compile on a fresh install's first fit; scikit-learn's has no JIT and is
    single-threaded, and fits the personas in 0.2 s (ARI 0.987 with fast_hdbscan's labels,
    the same 9 clusters; docs/design.md). Its tie order depended on the CPU's SIMD until
    issue 21: ``cluster.hdbscan`` runs its steps with a stable sort."""
    import numpy as np

    if c.algorithm == "kmeans":
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=c.k, random_state=KMEANS_SEED, n_init=KMEANS_N_INIT)
        return np.asarray(km.fit_predict(space))
    return hdbscan_labels(space, c.min_cluster_size, c.min_samples)


def _renumber(space, raw):
    """Ids by size (largest first), ties by centre coordinates; -1 stays noise."""
    import numpy as np

    found = []
    for lab in sorted(set(raw.tolist()) - {-1}):
        members = space[raw == lab]
        found.append((-len(members), tuple(members.mean(axis=0).round(12)), lab))
    mapping = {lab: new for new, (_, _, lab) in enumerate(sorted(found))}
    return np.array([mapping.get(int(x), -1) for x in raw])


def squared_distances(space, centres):
    """Squared Euclidean distance of every row to every centre, shape (rows, centres).

    The same IEEE operations in the same order as the assignment SQL (0 + t0 + t1 + ..., with
    t = diff * diff), so a row on a radius gets the same label from both. One centre at a time:
    memory is rows x centres, not rows x centres x features (840 MB for 1M rows, 21
    prototypes and 5 features).
    """
    import numpy as np

    centres = np.asarray(centres, dtype=float).reshape(-1, space.shape[1])
    out = np.zeros((len(space), len(centres)))
    for j, centre in enumerate(centres):
        for i, c in enumerate(centre):  # left to right, as the SQL adds its terms
            diff = space[:, i] - c
            out[:, j] += diff * diff
    return out


def assign(space, centres, radii, d=None):
    """The assignment rule (as the SQL): nearest centre whose radius holds the row, else -1.

    Returns the index of the centre (a prototype; ``owners`` maps it to its cluster). ``d``
    may pass precomputed ``squared_distances(space, centres)``.
    """
    import numpy as np

    out = np.full(len(space), -1)
    if len(centres) == 0:
        return out
    if d is None and len(space) > ASSIGN_CHUNK:  # bounded memory for millions of rows
        for start in range(0, len(space), ASSIGN_CHUNK):
            part = space[start : start + ASSIGN_CHUNK]
            out[start : start + ASSIGN_CHUNK] = assign(part, centres, radii)
        return out
    if d is None:
        d = squared_distances(space, centres)
    inside = d <= np.asarray(radii)[None, :] ** 2
    masked = np.where(inside, d, np.inf)
    best = masked.argmin(axis=1)  # first minimum → lowest index on ties
    ok = np.isfinite(masked.min(axis=1))
    out[ok] = best[ok]
    out[~np.isfinite(space).all(axis=1)] = -1
    return out


def owners(assigned, cluster_of):
    """Prototype indices (-1: none) → cluster ids (-1: noise)."""
    import numpy as np

    table = np.append(np.asarray(cluster_of, dtype=int), -1)  # index -1 → -1
    return table[assigned]


def _prototypes(points, m: int):
    """``m`` points standing for one cluster: k-means from a farthest-point start.

    Numpy only, no random start and no BLAS sums, so the result is the same on every machine.
    The first start is the member nearest the mean; each next one the member farthest from
    those chosen; then ``LLOYD_ROUNDS`` rounds of Lloyd's algorithm.
    """
    import numpy as np

    m = min(m, len(points))
    chosen = [int(squared_distances(points, [points.mean(axis=0)])[:, 0].argmin())]
    nearest = squared_distances(points, [points[chosen[0]]])[:, 0]
    while len(chosen) < m:
        chosen.append(int(nearest.argmax()))
        nearest = np.minimum(nearest, squared_distances(points, [points[chosen[-1]]])[:, 0])
    protos = points[chosen].copy()
    for _ in range(LLOYD_ROUNDS):
        near = squared_distances(points, protos).argmin(axis=1)
        moved = np.array(
            [points[near == j].mean(axis=0) if (near == j).any() else protos[j] for j in range(m)]
        )
        if np.array_equal(moved, protos):
            break
        protos = moved
    return protos


def stored_radius(distance: float) -> float:
    """The radius written to the model for a member ``distance`` from its prototype.

    Never below it: ``stable_float`` rounds to nearest, so the value is raised by a relative
    1e-9 first (far more than the rounding), and floored at ``RADIUS_FLOOR``.
    """
    return stable_float(max(float(distance) * (1 + 1e-9), RADIUS_FLOOR))


def _choose_radii(space, fitted, centres, cluster_of, dists) -> tuple[list[float], float]:
    """Per-prototype radius quantile maximising rule/fit agreement (coordinate search, 2 passes).

    Starts from the same quantile for all prototypes (the best of ``RADIUS_QUANTILES``), then
    improves one prototype at a time; ties keep the larger quantile. Deterministic. A trial
    radius of prototype j can only change the rows within the larger of its old and new radius,
    so only those rows are assigned again.
    """
    import numpy as np

    k = len(centres)
    if k == 0:
        return [], float((fitted == -1).mean()) if len(fitted) else 1.0
    d = squared_distances(space, centres)  # once, not per trial
    quantile: dict[tuple[int, float], float] = {}

    def radius(j: int, q: float) -> float:  # the value the model will store
        if (j, q) not in quantile:
            quantile[(j, q)] = stored_radius(np.quantile(dists[j], q))
        return quantile[(j, q)]

    def right(rows, radii: list[float]) -> tuple[Any, int]:
        """Assignment of ``rows`` (index array or slice) and how many agree with the fit."""
        found = assign(space[rows], centres, radii, d[rows])
        return found, int((owners(found, cluster_of) == fitted[rows]).sum())

    best_q, best = 1.0, -1
    for q in RADIUS_QUANTILES:
        _, count = right(slice(None), [radius(j, q) for j in range(k)])
        if count >= best:
            best_q, best = q, count
    qs = [best_q] * k
    radii = [radius(j, best_q) for j in range(k)]
    current, best = right(slice(None), radii)
    for _ in range(2):
        for j in range(k):
            for q in RADIUS_QUANTILES:
                if q == qs[j]:
                    continue
                trial = radii[:j] + [radius(j, q)] + radii[j + 1 :]
                rows = np.flatnonzero(d[:, j] <= max(trial[j], radii[j]) ** 2)
                found, count = right(rows, trial)
                before = int((owners(current[rows], cluster_of) == fitted[rows]).sum())
                if count > before or (count == before and q > qs[j]):
                    qs[j], radii, best = q, trial, best + count - before
                    current[rows] = found
    return qs, best / len(space)


def _prototype_rule(fit_space, fitted, k: int, per_cluster: int) -> dict[str, Any]:
    """The prototypes rule of a fit: ``per_cluster`` prototypes per cluster with the radii
    that agree best with the fitted labels (``_choose_radii``)."""
    import numpy as np

    protos, cluster_of = [], []
    for j in range(k):
        for proto in _prototypes(fit_space[fitted == j], per_cluster):
            protos.append([stable_float(x) for x in proto])
            cluster_of.append(j)
    # Each prototype's members: the cluster's rows nearest to it among the cluster's
    # prototypes (the first on ties). One left without members (a duplicate) is dropped.
    d_fit = squared_distances(fit_space, protos) if protos else np.zeros((len(fit_space), 0))
    dists = []
    for p, j in enumerate(cluster_of):
        own = [q for q, o in enumerate(cluster_of) if o == j]
        near = np.asarray(own)[d_fit[:, own].argmin(axis=1)]  # p is one of ``own``
        dists.append(np.sqrt(d_fit[(fitted == j) & (near == p), p]))
    kept = [p for p in range(len(protos)) if len(dists[p])]
    protos = [protos[p] for p in kept]
    cluster_of = [cluster_of[p] for p in kept]
    dists = [dists[p] for p in kept]
    quantiles, agreement = _choose_radii(fit_space, fitted, protos, cluster_of, dists)
    radii = [stored_radius(np.quantile(d, q)) for d, q in zip(dists, quantiles, strict=True)]
    return {
        "centres": protos,
        "cluster_of": cluster_of,
        "radii": radii,
        "agreement": agreement,
        "stored": {
            "prototypes_per_cluster": per_cluster,
            "radius": "per-prototype quantile of its members' distances to it",
            "radius_quantiles": quantiles,
        },
    }


def _box_rule(
    feats: Features, sample, fitted, features: list[str], vocab: dict[str, list[str]]
) -> dict[str, Any]:
    """The boxes rule of an HDBSCAN fit: the fitted rows' labels distilled into a decision
    tree over the features' own values (``cluster.boxes``), and each feature's range."""
    numeric = feats.numeric[sample]
    categorical = {m: [feats.categorical[m][i] for i in sample] for m in vocab}
    x = tree_matrix(numeric, categorical, vocab)
    leaves, agreement = distil(x, fitted)
    k = int(fitted.max()) + 1 if len(fitted) else 0
    return {
        "boxes": boxes_of(leaves, x, features, vocab, list(range(k))),  # ids: fit order
        "agreement": agreement,
        "stored": {
            "tree": "DecisionTreeClassifier on the fitted labels, thresholds as decimals",
            "tree_leaves": len(leaves),
            "tree_target": TARGET,
        },
    }


def relabel(labels, ids: list[int]):
    """Fit-order labels (0..k-1, -1) as the ids ``ids[j]`` (-1 stays); a label beyond
    ``ids`` becomes ``-2 - j``, an id no model has."""
    import numpy as np

    labels = np.asarray(labels, dtype=int)
    beyond = [-2 - j for j in range(len(ids), labels.max(initial=-1) + 1)]  # ids no model has
    return owners(labels, [*ids, *beyond])


def model_labels(model: FittedModel, features: Features, anywhere: bool = False) -> Any:
    """A fitted model's rule on ``features``: the cluster of the nearest prototype whose
    radius holds the row (any prototype with ``anywhere``, ``assign_noise: nearest``), -1 for
    none and for a missing feature; the rule the compiled SQL writes."""
    if model.rule == "boxes":
        return box_labels(model, features.numeric, features.categorical)
    radii = [math.inf if anywhere else p.radius for p in model.prototypes]
    centres = [p.centre for p in model.prototypes]
    space = model_space(features, model)
    return owners(assign(space, centres, radii), [p.cluster for p in model.prototypes])


def _previous_labels(previous: FittedModel, feats: Features, rows) -> Any:
    """The previous model's rule (its radii kept) on ``rows`` of the new features: its ids.
    Only those rows are put in the old space (all of them took 700 MB more at 10M rows)."""
    part = Features(
        feats.keys[rows],
        feats.numeric[rows],
        {m: [values[i] for i in rows] for m, values in feats.categorical.items()},
        feats.complete[rows],
    )
    return model_labels(previous, part)


def fit_local(
    session: Session,
    segmentation: str | None = None,
    progress: Callable[[str], None] | None = None,
    previous: FittedModel | None = None,
) -> LocalFit:
    """Pull features from ``session``, fit, renumber, choose radii; nothing is written.

    With the ``previous`` model of the segmentation, the clusters take its ids where they
    persist (``cluster.lineage``); else ids are the fit order (0 = largest)."""
    require_cluster_extra()
    import numpy as np

    show = progress or (lambda _m: None)
    spec_file = session.spec_file
    name = cluster_segmentation(spec_file, segmentation)
    c = spec_file.spec.segmentations[name].cluster
    assert c is not None
    t0 = time.perf_counter()
    show("computing features in DuckDB…")
    feats = pull(session, name)
    complete = np.flatnonzero(feats.complete)
    if len(complete) < max(c.min_cluster_size, 2):
        raise DataError(
            f"{spec_file.path}: only {len(complete)} rows pass cluster.where with every "
            f"feature present; too few to fit '{name}'"
        )
    every = len(complete) == len(feats.keys)  # then no copy of the rows (400 MB at 10M x 5)
    means, stds = standardise(feats.numeric if every else feats.numeric[complete], c.scaling)
    means = [stable_float(m) for m in means]
    stds = [stable_float(s) for s in stds]
    vocab = {m: vocabulary(feats.categorical[m], c.top_categories) for m in c.categorical}
    space = design(feats, means, stds, vocab, CATEGORY_WEIGHT)
    prefix = None if feats.digest is None else feats.digest[complete]
    sample = complete[_sample(feats.keys[complete], c.sample_size, prefix)]
    show(f"fitting {c.algorithm} on {len(sample):,} rows…")
    fitted = _renumber(space[sample], _raw_labels(space[sample], c))
    k = int(fitted.max()) + 1 if len(fitted) else 0
    fit_space = space[sample]
    centres = [fit_space[fitted == j].mean(axis=0) for j in range(k)]
    labels = np.full(len(feats.keys), -1)
    per_cluster = 1 if c.algorithm == "kmeans" else PROTOTYPES
    rule: dict[str, Any] = {}
    if "prototypes" in c.rules:
        rule = _prototype_rule(fit_space, fitted, k, per_cluster)
    if "boxes" in c.rules and rule.get("agreement", 0.0) < PROTOTYPES_ENOUGH:
        tried = rule.get("agreement")
        rule = _box_rule(feats, sample, fitted, list(c.features), vocab)
        if tried is not None:  # why not prototypes
            rule["stored"]["prototypes_agreement_on_fit"] = stable_float(tried)

        def label(rows):
            cats = {m: [feats.categorical[m][i] for i in rows] for m in vocab}
            return box_rule(rule["boxes"], list(c.features), feats.numeric[rows], cats)

    else:
        # assign_noise: nearest (SQL-inf's PREDICT): the rule ignores the radii, and the fit's
        # own noise takes the rule's cluster; the fit's clusters stay as fitted.
        radii = [math.inf] * len(rule["radii"]) if c.assigns_noise else rule["radii"]

        def label(rows):
            return owners(assign(space[rows], rule["centres"], radii), rule["cluster_of"])

    for start in range(0, len(complete), ASSIGN_CHUNK):  # no copy of every complete row
        rows = complete[start : start + ASSIGN_CHUNK]
        labels[rows] = label(rows)
    noise = c.assigns_noise  # the rule's cluster for the fit's noise (prototypes only)
    labels[sample] = np.where(fitted == -1, labels[sample], fitted) if noise else fitted
    lineage = fresh(k)
    if previous is not None:
        lineage.note = comparable(previous, list(c.features), list(c.categorical))
        if not lineage.note:
            lineage = match(fitted, _previous_labels(previous, feats, sample), k, previous)
    ids = lineage.ids
    labels = relabel(labels, ids)
    seconds = time.perf_counter() - t0
    params: dict[str, Any] = {"min_cluster_size": c.min_cluster_size, "min_samples": c.min_samples}
    if c.algorithm == "kmeans":
        params = {"k": c.k, "random_state": KMEANS_SEED, "n_init": KMEANS_N_INIT}
    model = FittedModel(
        spec=spec_file.spec.name,
        segmentation=name,
        features=list(c.features),
        means=means,
        stds=stds,
        categorical=vocab,
        clusters=[  # in fit order (largest first), whatever their ids
            ClusterCentre(ids[j], int((fitted == j).sum()), [stable_float(x) for x in centres[j]])
            for j in range(k)
        ],
        prototypes=[
            Prototype(ids[j], rule["centres"][p], rule["radii"][p])
            for p, j in enumerate(rule.get("cluster_of", []))
        ],
        fingerprint=cluster_fingerprint(spec_file.spec, name),
        rule="boxes" if "boxes" in rule else "prototypes",
        boxes=[replace(b, cluster=ids[b.cluster]) for b in rule.get("boxes", [])],
        fit={
            "algorithm": c.algorithm,
            "params": params,
            "scaling": c.scaling,
            "top_categories": c.top_categories,
            "category_weight": CATEGORY_WEIGHT,
            "where": c.where,
            "n_rows": len(feats.keys),
            "data_digest": data_digest(feats),
            **({"as_of": str(spec_file.spec.as_of)} if uses_time(spec_file.spec) else {}),
            "n_complete": int(len(complete)),
            "n_sampled": int(len(sample)),
            "sample": "all" if len(sample) == len(complete) else "md5(key) first",
            "noise_share": stable_float((fitted == -1).mean()),
            **rule["stored"],
            "rule_agreement_on_fit": stable_float(rule["agreement"]),
            "semseg_version": __version__,
            **lineage.stored(),
        },
    )
    return LocalFit(model, feats, labels, space, seconds, lineage)


KEY_CHUNK = 100_000


def _keys_text(keys) -> Iterator[str]:
    """``repr([str(k) for k in keys])``, the digest's text of the keys, in pieces of
    ``KEY_CHUNK`` keys (the whole text and its 10M strings peaked at 1.1 GB); integer keys
    are written by numpy. Joined, the pieces are exactly that text."""
    import numpy as np

    keys = np.asarray(keys)
    if not len(keys):
        yield "[]"
        return
    number = keys.dtype.kind in "iu"
    yield "['" if number else "["
    for start in range(0, len(keys), KEY_CHUNK):
        part = keys[start : start + KEY_CHUNK]
        if start:
            yield "', '" if number else ", "
        if number:
            yield "', '".join(part.astype(str).tolist())
        else:
            yield ", ".join(repr(str(k)) for k in part)
    yield "']" if number else "]"


def data_digest(feats: Features) -> str:
    """A digest of the rows a fit saw: every key passing cluster.where with its features and
    categories, in key order. Two fits with the same spec fingerprint and digest saw the same
    data; a model applied to other data is legitimate (that is what the SQL is for), but
    verify's refit then answers for this data, not the fit's."""
    import numpy as np

    h = hashlib.sha256()
    for piece in _keys_text(feats.keys):
        h.update(piece.encode("utf-8"))
    h.update(np.ascontiguousarray(feats.numeric, dtype="<f8").data)  # no copy
    for metric in sorted(feats.categorical):
        h.update(repr((metric, feats.categorical[metric])).encode("utf-8"))
    return h.hexdigest()[:16]


def fit_spec(
    session: Session,
    segmentation: str | None = None,
    out: Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    renumber: bool = False,
) -> tuple[Path, bool, dict[str, Any]]:
    """Fit, write the model JSON (default next to the spec), measure SQL agreement.

    A model already at the path is the previous one: clusters that persist keep its ids
    (``cluster.lineage``) unless ``renumber``, and the summary's ``changes`` say what
    appeared, vanished, merged or split.

    The model is written under the overwrite policy of ``semseg.files``: an identical file is
    left as it is, a different one needs ``force``. Returns ``(model_path, changed, summary)``;
    summary: segmentation, clusters, sizes, noise_share, rows, sampled, seconds, radius,
    agreement (share of rows where the compiled assignment SQL, run in DuckDB, equals the local
    labels; None when ``out`` is not where compile looks).
    """
    spec_file = session.spec_file
    name = cluster_segmentation(spec_file, segmentation)
    c = spec_file.spec.segmentations[name].cluster
    assert c is not None
    default = default_model_path(spec_file.path, name, c.model)
    path = out or default
    preflight(path, force=True)  # a folder or an outside link in the way: say so before fitting
    previous, unread = (None, "") if renumber else _previous_model(path, name)
    fitted = fit_local(session, name, progress, previous)
    model = fitted.model
    # Names of ids this fit does not have would stop compile: say so before anything is
    # written, with what the refit found (issue 23: the old model was replaced first).
    retired = sorted(set(c.names) - {-1} - {cluster.id for cluster in model.clusters})
    if retired:
        report = fitted.lineage.lines(c.names) if previous is not None else []
        raise DataError(
            "\n".join(
                [
                    f"{path}: not written: cluster.names names cluster "
                    f"{', '.join(map(str, retired))} of '{name}', which this fit does not have "
                    f"(its clusters: {', '.join(str(k.id) for k in model.clusters) or 'none'})",
                    *(f"refit: {line}" for line in report),
                    "remove or move those names in the spec, then fit again",
                ]
            )
        )
    changed = write_text(path, model.to_json(), force, owner=str(spec_file.path))
    share = None
    if Path(path).resolve() == default.resolve():
        if progress:
            progress("checking the assignment SQL against the local labels…")
        share = _sql_agreement(session, name, fitted)
    summary = {
        "segmentation": model.segmentation,
        "clusters": len(model.clusters),
        "sizes": {c.id: c.size for c in model.clusters},
        "noise_share": model.fit["noise_share"],
        "rows": model.fit["n_rows"],
        "sampled": model.fit["n_sampled"],
        "rule": model.rule,
        "rule_parts": len(model.boxes if model.rule == "boxes" else model.prototypes),
        "seconds": round(fitted.seconds, 3),
        "agreement": share,
        "changes": fitted.lineage.lines(c.names)
        if previous is not None
        else [unread] * bool(unread),
    }
    return Path(path), changed, summary


def _previous_model(path: Path, segmentation: str) -> tuple[FittedModel | None, str]:
    """The model a refit replaces, when there is a readable one of this segmentation, and
    else why a file there gives no lineage ('' when there is no file)."""
    if not Path(path).is_file():
        return None, ""
    try:
        model = load_model(path)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as err:
        why = f"it cannot be read ({printable(str(err))})"
        # write_text refuses to replace it without --force anyway
    else:
        if model.segmentation == segmentation:
            return model, ""
        why = f"it is the model of segmentation '{printable(model.segmentation)}'"
    return None, (
        f"no lineage: the model file {path} was not this segmentation's previous model ({why}),"
        " so cluster ids start again from 0 by size: check the names in cluster.names"
    )


def _sql_agreement(session: Session, segmentation: str, fitted: LocalFit) -> float:
    """``label_agreement`` of the compiled SQL's labels, compared as arrays: the SQL's rows
    passing cluster.where, in key order, are the fit's rows (``pull`` reads them the same
    way); a dict of every key was 1 GB and 10 s for 10M customers. Falls back to the dict
    when the keys do not line up (a key type numpy holds otherwise)."""
    import numpy as np

    key = session.spec_file.spec.entity.key
    table = session.cluster_labels(segmentation)
    select = f"{name_sql(key)} AS k, {name_sql(segmentation)} AS l"
    query = population_query(session, segmentation, table, select)
    found = session.con.execute(query).fetchnumpy()
    keys, labels = np.ma.getdata(found["k"]), np.ma.filled(found["l"], -2)
    ours = fitted.features.keys
    if len(keys) == len(ours) and keys.dtype == ours.dtype and bool((keys == ours).all()):
        return float((labels == fitted.labels).mean()) if len(keys) else 1.0
    return label_agreement(fitted, sql_labels(session, segmentation))


def sql_labels(session: Session, segmentation: str) -> dict[Any, int]:
    """Key → cluster id from the compiled assignment SQL (its model file as it is now)."""
    table = session.cluster_labels(segmentation)
    key = session.spec_file.spec.entity.key
    query = f"SELECT {name_sql(key)}, {name_sql(segmentation)} FROM {table}"
    rows = session.con.execute(query).fetchall()
    return {k: int(v) for k, v in rows}


def mismatches(fitted: LocalFit, found: dict[Any, Any]) -> list[tuple[Any, Any, int]]:
    """(key, label in ``found``, local label) for each cluster-population row that differs."""
    out = []
    for k, lab in zip(fitted.features.keys, fitted.labels, strict=True):
        if found.get(k) != int(lab):
            out.append((k, found.get(k), int(lab)))
    return out


def label_agreement(fitted: LocalFit, found: dict[Any, Any]) -> float:
    """Share of the cluster population whose label in ``found`` (key → id) is the local one."""
    n = len(fitted.features.keys)
    return (n - len(mismatches(fitted, found))) / n if n else 1.0


def agreement(session: Session, segmentation: str | None = None) -> float:
    """Share of the cluster population whose SQL label equals the local fitted label.

    Refits locally (deterministic) and runs the compiled assignment SQL, which uses the model
    file next to the spec, in DuckDB.
    """
    fitted = fit_local(session, segmentation)
    return label_agreement(fitted, sql_labels(session, fitted.model.segmentation))
