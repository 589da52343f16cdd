"""A model fitted on one machine is the model every machine fits (issue 21, part 3).

On an AVX-512 machine the bundled personas fitted clusters of 351/350 where the committed
model, fitted on an AVX2 machine, had 357/344, and verify failed there: scikit-learn's HDBSCAN
sorts the spanning tree's edges with numpy's unstable, CPU-dispatched ``argsort``, and equal
edges are common. ``semseg.cluster.hdbscan`` sorts them stably. These tests refit the
committed model in other processes, each differing from this one the way machines differ
(numpy's SIMD paths, OpenBLAS's kernel, thread counts), and require the committed file byte
for byte. ``make test-oldest`` runs this file again with the oldest numpy and scikit-learn
the pyproject allows (``.ci/run`` does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.golden_regen import SPECS

pytest.importorskip("sklearn")

MODEL = SPECS / "olist_personas.persona.model.json"
CLI = "from semseg.cli import main; main()"


def _simd_beyond_baseline() -> str:
    """numpy's dispatched CPU features this machine has: disabling them all makes numpy take
    its baseline kernels (the sort among them), as on an older CPU."""
    try:
        from numpy._core import _multiarray_umath as m
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as m  # type: ignore[no-redef]
    found = [f for f in m.__cpu_dispatch__ if m.__cpu_features__.get(f)]
    return ",".join(found)


ENVIRONMENTS = {
    "as-is": {},
    "numpy-baseline-simd": {"NPY_DISABLE_CPU_FEATURES": _simd_beyond_baseline()},
    "openblas-prescott": {"OPENBLAS_CORETYPE": "Prescott"},
    "openblas-haswell": {"OPENBLAS_CORETYPE": "Haswell"},
    "one-thread": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
    "three-threads": {"OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"},
}


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_the_committed_model_refits_byte_for_byte(name, tmp_path):
    env = {**os.environ, **ENVIRONMENTS[name]}
    if name == "numpy-baseline-simd" and not env["NPY_DISABLE_CPU_FEATURES"]:
        pytest.skip("numpy dispatches no SIMD kernel beyond its baseline on this CPU")
    spec = tmp_path / "olist_personas.yml"
    shutil.copy(SPECS / "olist_personas.yml", spec)
    out = tmp_path / "refit.json"
    run = subprocess.run(
        [sys.executable, "-c", CLI, "cluster", str(spec), "--model", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr + run.stdout
    assert out.read_bytes() == MODEL.read_bytes(), (
        f"{name}: the fit differs from the committed model ({ENVIRONMENTS[name]})"
    )


def _blobs(seed: int, n: int = 200):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [4.0, 0.5, -1.0], [-3.0, 5.0, 2.0]])
    parts = [c + rng.normal(scale=0.7 + 0.2 * i, size=(n, 3)) for i, c in enumerate(centres)]
    return np.vstack([*parts, rng.uniform(-8, 8, size=(n // 4, 3))])


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("min_cluster_size", "min_samples"), [(15, None), (30, 5), (8, 12)])
def test_hdbscan_labels_are_scikit_learns_where_no_edges_tie(seed, min_cluster_size, min_samples):
    """On continuous random data no two spanning-tree edges are equal, so the stable sort
    changes nothing: the labels are scikit-learn's ``HDBSCAN`` labels exactly."""
    import numpy as np

    from semseg.cluster.hdbscan import hdbscan_labels

    x = _blobs(seed)
    ours = hdbscan_labels(x, min_cluster_size, min_samples)
    theirs = _sklearn(x, min_cluster_size, min_samples)
    assert len(set(ours.tolist()) - {-1}) >= 2  # a real clustering, not all noise
    np.testing.assert_array_equal(ours, theirs)


def test_tied_edges_keep_prims_order_whatever_the_sort_kernel(monkeypatch):
    """Points on an integer lattice: many spanning-tree edges are equal. A sort that puts
    equal keys last-first stands in for another CPU's sort kernel: it moves hundreds of
    scikit-learn's ``HDBSCAN`` labels (so the data does depend on tie order), and none of
    ``hdbscan_labels``."""
    import numpy as np

    import semseg.cluster.hdbscan as h

    rng = np.random.default_rng(0)
    x = np.vstack(
        [rng.integers(0, 4, (150, 3)), rng.integers(3, 8, (150, 3)), rng.integers(0, 8, (60, 3))]
    ).astype(float)
    ours, theirs = h.hdbscan_labels(x, 15, 5), _sklearn(x, 15, 5)
    real_argsort = np.argsort

    def reversed_ties(a, axis=-1, kind=None, order=None, **kw):
        if kind == "stable":
            return real_argsort(a, axis=axis, kind=kind, order=order, **kw)
        keys = np.asarray(a)
        return np.lexsort((-np.arange(len(keys)), keys))  # equal keys: last first

    monkeypatch.setattr(np, "argsort", reversed_ties)
    assert (_sklearn(x, 15, 5) != theirs).sum() > 100
    np.testing.assert_array_equal(h.hdbscan_labels(x, 15, 5), ours)


def _sklearn(x, min_cluster_size, min_samples):
    import warnings

    from sklearn.cluster import HDBSCAN

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the default of `copy` (1.9)
        return HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit_predict(x)


def test_fewer_rows_than_min_samples_is_a_data_error_not_a_traceback():
    import numpy as np

    from semseg.cluster.hdbscan import hdbscan_labels
    from semseg.errors import DataError

    with pytest.raises(DataError, match="at least min_samples = 10 rows to fit and has 5"):
        hdbscan_labels(np.zeros((5, 2)), 4, 10)
