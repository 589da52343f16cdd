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

from semseg.compile.cluster_model import FittedModel
from semseg.data import Session
from semseg.sql import name_sql as q
from semseg.sql import snippet_sql


@dataclass
class Features:
    """The rows a cluster segmentation is fitted on."""

    keys: Any  # array of every entity passing cluster.where, sorted by key
    numeric: Any  # float array (n, features); NaN for NULL
    categorical: dict[str, list[str | None]]
    complete: Any  # bool array: no NULL numeric feature (rows that can be clustered)
    # uint64: the first 8 bytes of the MD5 of each key's text (the fit's sample order), read
    # with the features; None for a key type whose text DuckDB and Python write differently
    digest: Any = None


def population_query(session: Session, segmentation: str, relation: str, select: str) -> str:
    """``select`` over the cluster population of ``relation`` (its rows passing
    cluster.where), in key order: the rows a fit sees, and the order its arrays are in."""
    spec = session.spec_file.spec
    c = spec.segmentations[segmentation].cluster
    assert c is not None
    where = f" WHERE {snippet_sql(c.where, spec.dialect)}" if c.where else ""
    return f"SELECT {select} FROM {relation} AS m{where} ORDER BY {q(spec.entity.key)}"


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
    cols = [key, *c.features, *c.categorical]
    # md5_number_upper reads the digest's first 8 bytes little-endian: byteswapped below
    digest = f"md5_number_upper(CAST({q(key)} AS VARCHAR)) AS semseg__digest"
    select = ", ".join(
        [q(key), digest]
        + [f"CAST({q(f)} AS DOUBLE) AS {q(f)}" for f in c.features]
        + [f"CAST({q(f)} AS VARCHAR) AS {q(f)}" for f in c.categorical]
    )
    # Column by column as numpy (fetchall made a Python tuple per row: 5.9 GB and 44 s for
    # 10M customers; BENCHMARKS.md, clustering at scale).
    query = population_query(session, segmentation, relation, select)
    found = session.con.execute(query).fetchnumpy()
    columns = list(found.values())
    prefix: Any = np.asarray(columns.pop(1), dtype=np.uint64).byteswap()
    assert len(columns) == len(cols) == 1 + len(c.features) + len(c.categorical)
    n = len(columns[0])
    numeric = np.empty((n, len(c.features)), dtype=float)
    for i, values in enumerate(columns[1 : 1 + len(c.features)]):
        numeric[:, i] = np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)
    cats = {
        name: [None if v is np.ma.masked else v for v in np.ma.asarray(values, dtype=object)]
        for name, values in zip(c.categorical, columns[1 + len(c.features) :], strict=True)
    }
    keys = np.ma.getdata(columns[0])
    if keys.dtype.kind not in "iuO":  # dates, decimals, HUGEINT: the values fetchall gives
        ordered = population_query(session, segmentation, relation, q(key))
        keys = np.array([r[0] for r in session.con.execute(ordered).fetchall()], dtype=object)
        prefix = None  # their text in Python is not DuckDB's CAST
    return Features(keys, numeric, cats, ~np.isnan(numeric).any(axis=1), prefix)


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
    return np.hstack(blocks) if len(blocks) > 1 else blocks[0]  # hstack of one copies it


def model_space(features: Features, model: FittedModel):
    """``features`` in a fitted model's scaled space: its means, stds, vocabulary and category
    weight (the file's ``fit.category_weight``, as the compiled SQL reads it)."""
    weight = float(model.fit.get("category_weight", 1.0))
    return design(features, model.means, model.stds, model.categorical, weight)


def standardise(numeric, scaling: str) -> tuple[list[float], list[float]]:
    """Population mean and std (ddof=0) of complete rows; ``none`` gives 0 and 1."""
    import numpy as np

    if scaling == "none" or len(numeric) == 0:
        return [0.0] * numeric.shape[1], [1.0] * numeric.shape[1]
    means = numeric.mean(axis=0)
    stds = numeric.std(axis=0)
    stds = np.where(stds > 0, stds, 1.0)
    return [float(m) for m in means], [float(s) for s in stds]
