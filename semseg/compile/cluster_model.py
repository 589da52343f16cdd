"""The fitted model file: a small, readable JSON document (sorted keys, stable floats).

Plain Python only (no numpy): the compiler reads it to write the assignment SQL.

Where the model of a spec lives: ``cluster.model`` if set (relative to the spec's folder), else
``<spec stem>.<segmentation>.model.json`` next to the spec; the compiler passes the spec's
path down (``compile_tree(..., spec_path=)``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from semseg.spec.model import Spec

FORMAT = 4  # 4: the boxes rule (``rule``, ``boxes``); 3: a fingerprint of the
# definitions the fit used; 2: prototypes per cluster (files of formats 1 to 3 are read and
# migrated: ``_migrate``)
RULES = ("prototypes", "boxes")
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
class Box:
    """A region of the features' own values (not scaled) that belongs to a cluster: a leaf of
    the decision tree the fit's labels were distilled into (``cluster.boxes``).

    A row is in the box when every bound holds: ``above[f] < value <= upto[f]`` for every
    numeric feature (so NULL, NaN and infinities are in no box), the category of
    ``equal[m]``, and none of the categories of ``unequal[m]`` (NULL and categories outside
    the vocabulary are none of them). Boxes of one model do not overlap.
    """

    cluster: int
    above: dict[str, float]
    upto: dict[str, float]
    equal: dict[str, str]
    unequal: dict[str, list[str]]


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
    fingerprint: str = ""  # spec.graph.cluster_fingerprint of the spec the model was fitted for
    format: int = FORMAT
    # "prototypes": nearest prototype whose radius holds the row; "boxes": the box holding it
    rule: str = "prototypes"
    boxes: list[Box] = field(default_factory=list)

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
        """Read a model file; ``ValueError`` says what is wrong with a damaged or edited one."""
        data = json.loads(text)
        _expect(isinstance(data, dict), "the file is not a JSON object")
        data = _migrate(data)
        known = set(cls.__dataclass_fields__)
        _expect(set(data) <= known, f"unknown keys {sorted(set(data) - known)}")
        missing = {"spec", "segmentation", "features", "means", "stds", "categorical"} - set(data)
        _expect(not missing, f"missing keys {sorted(missing)}")
        features = data["features"]
        _expect(_strings(features), "features must be a list of metric names")
        for key in ("means", "stds"):
            _expect(
                _numbers(data[key]) and len(data[key]) == len(features),
                f"{key} must be {len(features)} finite numbers, one per feature",
            )
        _expect(all(v > 0 for v in data["stds"]), "stds must be positive")
        vocab = data["categorical"]
        _expect(
            isinstance(vocab, dict) and all(_strings(v) for v in vocab.values()),
            "categorical must map each metric to a list of categories",
        )
        dims = len(features) + sum(len(v) for v in vocab.values())
        clusters = [ClusterCentre(**_fields(c, ClusterCentre)) for c in data.get("clusters", [])]
        for c in clusters:
            _expect(
                type(c.id) is int and type(c.size) is int and _numbers(c.centre, dims),
                f"cluster {c.id}: an integer id and size and {dims} finite coordinates",
            )
        ids = {c.id for c in clusters}
        prototypes = [Prototype(**_fields(p, Prototype)) for p in data.get("prototypes", [])]
        for p in prototypes:
            _expect(p.cluster in ids, f"a prototype of cluster {p.cluster}, which is not listed")
            _expect(_numbers(p.centre, dims), f"a prototype centre must be {dims} finite numbers")
            _expect(_numbers([p.radius]) and p.radius >= 0, "a radius must be a finite number >= 0")
        data["clusters"], data["prototypes"] = clusters, prototypes
        rule = data.setdefault("rule", "prototypes")
        _expect(rule in RULES, f"rule must be one of {', '.join(RULES)}")
        data["boxes"] = [_box(b, features, vocab, ids) for b in data.get("boxes", [])]
        if rule == "boxes":
            _expect(not prototypes, "a model of rule boxes has no prototypes")
        else:
            _expect(not data["boxes"], "only a model of rule boxes has boxes")
        return cls(**data)


def _box(item: Any, features: list[str], vocab: dict[str, list[str]], ids: set[int]) -> Box:
    """One box of a model file, checked: its cluster is listed, its bounds name the model's
    features (finite numbers) and its categories the model's vocabulary."""
    box = Box(**_fields(item, Box))
    _expect(box.cluster in ids, f"a box of cluster {box.cluster}, which is not listed")
    for bounds in (box.above, box.upto):
        _expect(
            isinstance(bounds, dict)
            and sorted(bounds) == sorted(features)
            and _numbers(list(bounds.values())),
            "a box's above and upto must map every numeric feature to a finite number",
        )
    _expect(
        isinstance(box.equal, dict)
        and all(m in vocab and c in vocab[m] for m, c in box.equal.items())
        and isinstance(box.unequal, dict)
        and all(
            m in vocab and _strings(cs) and set(cs) <= set(vocab[m])
            for m, cs in box.unequal.items()
        ),
        "a box's equal and unequal must name categories of the model's vocabulary",
    )
    return box


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """A model of an earlier format in today's layout, its ``format`` kept (issue 21: refusing
    it threw away its cluster ids and names, which a refit keeps only from a model it reads).

    - 1 → 2: each cluster had one centre and radius; it becomes the cluster's one prototype
      (the rule "nearest centre whose radius holds the row" is the prototype rule).
    - 2 → 3: no ``fingerprint`` was recorded; it stays empty, and compile asks for a refit
      (which keeps the ids) since what the model was fitted for cannot be checked.
    - 3 → 4: every model had the prototypes rule (no ``rule``, ``boxes``).
    """
    found = data.get("format")
    if found not in (1, 2, 3, FORMAT):
        raise ValueError(f"model file format {found}, this semseg reads formats 1 to {FORMAT}")
    if found != FORMAT:
        _expect(not {"rule", "boxes"} & set(data), f"format {found} has no rule or boxes")
    if found == 1:
        clusters = data.get("clusters")
        if not isinstance(clusters, list) or not all(isinstance(c, dict) for c in clusters):
            raise ValueError("clusters must be a list of objects")
        data = dict(data)
        data["prototypes"] = [
            {"cluster": c.get("id"), "centre": c.get("centre"), "radius": c.get("radius")}
            for c in clusters
        ]
        data["clusters"] = [{k: v for k, v in c.items() if k != "radius"} for c in clusters]
    return data


def _expect(ok: bool, problem: str) -> None:
    if not ok:
        raise ValueError(problem)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _numbers(value: Any, length: int | None = None) -> bool:
    """A list of finite numbers (not booleans), of ``length`` if given."""
    return (
        isinstance(value, list)
        and (length is None or len(value) == length)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            for v in value
        )
    )


def _fields(item: Any, kind: type) -> dict[str, Any]:
    fields = set(kind.__dataclass_fields__)  # type: ignore[attr-defined]
    _expect(
        isinstance(item, dict) and set(item) == fields,
        f"each {kind.__name__.lower()} needs exactly {sorted(fields)}",
    )
    return dict(item)


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
