"""Feature pull: the spec's metrics computed in DuckDB, filtered by ``cluster.where``, as numpy.

Numeric features are standardised with the population mean and the *population* standard
deviation (ddof=0; a constant feature gets std 1). Categorical features are one-hot encoded over
their ``top_categories`` most frequent values (ties by value); every other value, and NULL,
encodes as all zeros; a one-hot coordinate is 1/sqrt(2) so that two different categories
are one unit apart, like one standard deviation of a numeric feature. numpy is imported
inside functions only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semseg.data import Session
from semseg.sql import name_sql as q
from semseg.sql import snippet_sql


@dataclass
class Features:
    """The rows a cluster segmentation is fitted on."""

    keys: list[Any]  # every entity passing cluster.where, sorted by key
    numeric: Any  # float array (n, features); NaN for NULL
    categorical: dict[str, list[str | None]]
    complete: Any  # bool array: no NULL numeric feature (rows that can be clustered)


def pull(session: Session, segmentation: str, relation: str | None = None) -> Features:
    """The cluster population's features, read from the model's result in ``session``.

    ``relation``: the table holding the model (default: the model without cluster
    segmentations, which needs no fitted model).
    """
    import numpy as np

    spec = session.spec_file.spec
    relation = relation or session.model(clusters=False)
    c = spec.segmentations[segmentation].cluster
    assert c is not None
    key = spec.entity.key
    where = f"WHERE {snippet_sql(c.where, spec.dialect)}" if c.where else ""
    cols = [key, *c.features, *c.categorical]
    select = ", ".join(
        [q(key)]
        + [f"CAST({q(f)} AS DOUBLE) AS {q(f)}" for f in c.features]
        + [f"CAST({q(f)} AS VARCHAR) AS {q(f)}" for f in c.categorical]
    )
    rows = session.con.execute(
        f"SELECT {select} FROM {relation} AS m {where} ORDER BY {q(key)}"
    ).fetchall()
    nf = len(c.features)
    numeric = np.array(
        [[np.nan if v is None else float(v) for v in r[1 : 1 + nf]] for r in rows], dtype=float
    ).reshape(len(rows), nf)
    cats = {name: [r[1 + nf + i] for r in rows] for i, name in enumerate(c.categorical)}
    assert len(cols) == 1 + nf + len(c.categorical)
    return Features([r[0] for r in rows], numeric, cats, ~np.isnan(numeric).any(axis=1))


def vocabulary(values: list[str | None], top: int) -> list[str]:
    """The ``top`` most frequent non-NULL values, most frequent first (ties by value)."""
    counts: dict[str, int] = {}
    for v in values:
        if v is not None:
            counts[v] = counts.get(v, 0) + 1
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]


def scale(numeric, means, stds):
    import numpy as np

    return (numeric - np.asarray(means)) / np.asarray(stds)


def one_hot(values: list[str | None], vocab: list[str]):
    import numpy as np

    index = {v: i for i, v in enumerate(vocab)}
    out = np.zeros((len(values), len(vocab)))
    for r, v in enumerate(values):
        if v in index:
            out[r, index[v]] = 1.0
    return out


def design(features: Features, means, stds, vocab: dict[str, list[str]], weight: float = 1.0):
    """The scaled space: standardised numeric features then one-hot blocks (NaN kept).

    One-hot coordinates are ``weight`` (not 1) so that two categories can be put at the
    distance of one standard deviation of a numeric feature (weight = 1/sqrt(2)).
    """
    import numpy as np

    blocks = [scale(features.numeric, means, stds)]
    blocks += [one_hot(features.categorical[m], vocab[m]) * weight for m in vocab]
    return np.hstack(blocks)


def standardise(numeric, scaling: str) -> tuple[list[float], list[float]]:
    """Population mean and std (ddof=0) of complete rows; ``none`` gives 0 and 1."""
    import numpy as np

    if scaling == "none" or len(numeric) == 0:
        return [0.0] * numeric.shape[1], [1.0] * numeric.shape[1]
    means = numeric.mean(axis=0)
    stds = numeric.std(axis=0)
    stds = np.where(stds > 0, stds, 1.0)
    return [float(m) for m in means], [float(s) for s in stds]
