"""HDBSCAN labels that are the same on every machine: scikit-learn's, with one order fixed.

scikit-learn's ``HDBSCAN`` sorts the edges of the minimum spanning tree with
``np.argsort(distance)``, which is not stable: numpy 2 sorts with SIMD kernels (x86-simd-sort)
chosen by the CPU, so edges of *equal* mutual-reachability distance, which are common (a
core distance is shared by every edge it dominates), came out in another order on an
AVX-512 machine than on an AVX2 one. Merging tied edges in another order can move a
cluster's border: the bundled personas fitted 357/344 on one machine and 351/350 on the
other, and verify failed there (issue 21).

This module runs the same steps as ``HDBSCAN(algorithm="kd_tree")`` (core distances from a
KD tree, Prim's minimum spanning tree of the mutual-reachability graph, the single-linkage
tree, excess-of-mass selection) and sorts the edges with a *stable* sort, so ties keep the
order in which Prim's algorithm, a deterministic loop, found them. Every step is then
integer or IEEE-exact arithmetic in scikit-learn's compiled loops and numpy's sort, the same
on every x86-64 machine whatever its BLAS, threads or SIMD. ``tests/test_cluster_hdbscan.py``
shows that on data without ties the labels are scikit-learn's ``HDBSCAN`` labels exactly.

The MST, single-linkage and tree functions are scikit-learn's private Cython modules; their
signatures are the same from scikit-learn 1.5 (the oldest the pyproject allows) to 1.9, and
``require_private_api`` names the installed version if they ever move.
numpy and scikit-learn are imported inside functions only.
"""

from __future__ import annotations

from typing import Any

from semseg.errors import DataError, UsageError

LEAF_SIZE = 40  # scikit-learn's default for HDBSCAN's KD tree


def _private_api() -> tuple[Any, Any, Any]:
    """scikit-learn's MST, single-linkage and labelling functions, or a ``UsageError``."""
    try:
        from sklearn.cluster._hdbscan._linkage import make_single_linkage, mst_from_data_matrix
        from sklearn.cluster._hdbscan._tree import tree_to_labels
    except ImportError as err:  # pragma: no cover - depends on the installed version
        import sklearn

        raise UsageError(
            f"scikit-learn {sklearn.__version__} moved the HDBSCAN internals semseg uses "
            f"({err}); install a version semseg supports: pip install 'scikit-learn>=1.5,<2'"
        ) from None
    return mst_from_data_matrix, make_single_linkage, tree_to_labels


def hdbscan_labels(space: Any, min_cluster_size: int, min_samples: int | None) -> Any:
    """HDBSCAN cluster labels (-1: noise) of the rows of ``space`` (finite; fewer rows than
    ``min_samples`` is a ``DataError``): scikit-learn's ``HDBSCAN(min_cluster_size,
    min_samples)`` with ties between equal edges broken by the order Prim's algorithm found
    them."""
    import numpy as np
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import NearestNeighbors

    mst_from_data_matrix, make_single_linkage, tree_to_labels = _private_api()
    x = np.ascontiguousarray(space, dtype=np.float64)
    k = min_cluster_size if min_samples is None else min_samples
    if k > len(x):
        raise DataError(
            f"HDBSCAN needs at least min_samples = {k} rows to fit and has {len(x):,}: lower "
            "cluster.min_samples (or min_cluster_size), or fit on more data"
        )
    neighbours = NearestNeighbors(n_neighbors=k, algorithm="kd_tree", leaf_size=LEAF_SIZE)
    distances, _ = neighbours.fit(x).kneighbors(x, k, return_distance=True)
    core = np.ascontiguousarray(distances[:, -1])
    mst = mst_from_data_matrix(x, core, DistanceMetric.get_metric("euclidean"), 1.0)
    mst = mst[np.argsort(mst["distance"], kind="stable")]  # the one change: ties keep order
    labels, _ = tree_to_labels(make_single_linkage(mst), min_cluster_size, "eom", False, 0.0, None)
    return np.asarray(labels, dtype=int)
