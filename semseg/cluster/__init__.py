"""Clustering segmentations: features → local fit → small JSON model → assignment SQL.

Importing this package (or ``semseg.cli``) never imports numpy, fast_hdbscan or scikit-learn:
the numeric modules (``features``, ``fit``) import them inside functions, and the parts the
compiler needs (``model_file``, ``assign``) are plain Python.
"""

from __future__ import annotations

__all__ = ["fit_spec", "agreement", "default_model_path", "load_model"]


def __getattr__(name: str):  # lazy, so that `import semseg.cluster` stays light
    if name in ("fit_spec", "agreement"):
        from semseg.cluster import fit

        return getattr(fit, name)
    if name in ("default_model_path", "load_model"):
        from semseg.cluster import model_file

        return getattr(model_file, name)
    raise AttributeError(name)
