"""The fitted model file: a small, readable JSON document (sorted keys, stable floats).

Plain Python only (no numpy): the compiler reads it to write the assignment SQL.

Where the model of a spec lives: ``cluster.model`` if set (relative to the spec's folder), else
``<spec stem>.<segmentation>.model.json`` next to the spec; the compiler passes the spec's
path down (``compile_tree(..., spec_path=)``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semseg.spec.model import Spec

FORMAT = 2  # 2: clusters are drawn by prototypes (format 1 had one centre and radius each)
DIGITS = 10  # significant digits kept for every float in the file (and so in the SQL)

CATEGORY_WEIGHT = 0.7071067812  # one-hot value: two categories are 1 unit apart


def stable_float(value: float) -> float:
    """``value`` rounded to ``DIGITS`` significant digits (same text on every run)."""
    return float(f"{float(value):.{DIGITS}g}")


@dataclass(frozen=True)
class ClusterCentre:
    """One cluster: its id, size in the fitted sample and mean (scaled space)."""

    id: int
    size: int
    centre: list[float]


@dataclass(frozen=True)
class Prototype:
    """A point standing for part of a cluster, and the radius around it that belongs to it.

    The assignment rule: a row takes the cluster of the nearest prototype whose radius holds
    it, -1 when none does.
    """

    cluster: int
    centre: list[float]
    radius: float


@dataclass(frozen=True)
class FittedModel:
    """Everything the assignment SQL needs, plus how the fit was made."""

    spec: str
    segmentation: str
    features: list[str]
    means: list[float]
    stds: list[float]
    categorical: dict[str, list[str]]
    clusters: list[ClusterCentre]
    prototypes: list[Prototype]
    fit: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT

    @property
    def dimensions(self) -> list[tuple[str, str | None]]:
        """(metric, category or None) for each coordinate of the scaled space, in order."""
        dims: list[tuple[str, str | None]] = [(f, None) for f in self.features]
        for metric, vocab in self.categorical.items():
            dims += [(metric, c) for c in vocab]
        return dims

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> FittedModel:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(
                f"model file format {data.get('format')}, this semseg reads format {FORMAT}"
            )
        data["clusters"] = [ClusterCentre(**c) for c in data["clusters"]]
        data["prototypes"] = [Prototype(**p) for p in data["prototypes"]]
        return cls(**data)


def default_model_path(spec_path: Path, segmentation: str, model: str | None = None) -> Path:
    """``cluster.model`` relative to the spec's folder, else ``<stem>.<seg>.model.json``."""
    if model:
        p = Path(model)
        return p if p.is_absolute() else spec_path.parent / p
    return spec_path.parent / f"{spec_path.stem}.{segmentation}.model.json"


def model_path_for(spec: Spec, segmentation: str, spec_path: Path | None) -> Path | None:
    """Where the fitted model of ``segmentation`` is expected (None: unknown spec file)."""
    cluster = spec.segmentations[segmentation].cluster
    assert cluster is not None
    if spec_path is None:
        if cluster.model and Path(cluster.model).is_absolute():
            return Path(cluster.model)
        return None
    return default_model_path(spec_path, segmentation, cluster.model)


def load_model(path: str | Path) -> FittedModel:
    return FittedModel.from_json(Path(path).read_text(encoding="utf-8"))
