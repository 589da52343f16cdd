"""Stable cluster ids across refits: match a new fit to the model it replaces.

A fit numbers its clusters 0..k-1 by size. When a model file is already there, the new
clusters are matched to the old ones by their members: the previous model's assignment rule
labels the rows the new fit saw, and the overlap of the two labellings decides.

- A new cluster **keeps** an old id when each is the other's largest overlap (ties: the smaller
  id), whatever the sizes. Its name in the spec (``cluster.names``) keeps meaning it.
- A new cluster that is not matched takes a fresh id, ``next_id`` onwards, so an id (and a name)
  never comes back for another group of customers (the model file keeps ``next_id`` when
  an id was retired). It **split** from an old cluster when at
  least half of its members were there, else it **appeared**.
- An old cluster that is not matched **merged** into a new one when at least half of its members
  went there, else it **vanished**.

Only rows outside noise on both sides count. The model's cluster list stays in fit order (size),
so a refit on the same data finds the same clusters in the same places; ``verify`` matches its
refit to the model's ids with ``match`` too (by members, not by that order).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from semseg.compile.cluster_model import FittedModel
from semseg.errors import printable

MAJORITY = 0.5  # share of a cluster's members that makes a split or a merge


@dataclass
class Lineage:
    """How the new fit's clusters (0..k-1, fit order) relate to the previous model's ids."""

    ids: list[int]  # new fit index -> stable id
    next_id: int
    kept: list[tuple[int, int]] = field(default_factory=list)  # (id, shared members)
    appeared: list[int] = field(default_factory=list)
    split: list[tuple[int, int]] = field(default_factory=list)  # (new id, old id)
    vanished: list[int] = field(default_factory=list)
    merged: list[tuple[int, int]] = field(default_factory=list)  # (old id, new id)
    note: str = ""  # why nothing was matched

    def stored(self) -> dict[str, int]:
        """What the model file keeps: the next fresh id, when it is not max(ids) + 1 (an id
        was retired). What changed is reported, not stored: a refit that changes nothing
        writes the same file."""
        if self.next_id > max(self.ids, default=-1) + 1:
            return {"next_id": self.next_id}
        return {}

    def lines(self, names: dict[int, str] | None = None) -> list[str]:
        """The report ``semseg cluster`` prints: the ids kept, then one change per line."""

        def said(i: int) -> str:  # a name is user text: no terminal control sequence
            name = (names or {}).get(i)
            return f"{i} ({printable(name)})" if name else str(i)

        if self.note:
            return [self.note]
        kept = ", ".join(said(i) for i, _ in sorted(self.kept)) or "none"
        out = [f"ids kept from the previous model: {kept}"]
        out += [f"appeared: cluster {i}" for i in self.appeared]
        out += [f"split: cluster {i} from cluster {said(old)}" for i, old in self.split]
        out += [f"vanished: cluster {said(i)}" for i in self.vanished]
        out += [f"merged: cluster {said(old)} into cluster {said(i)}" for old, i in self.merged]
        retired = [i for i in self.vanished + [old for old, _ in self.merged] if i in (names or {})]
        if retired:
            out.append(
                "cluster.names names retired ids "
                + ", ".join(map(str, sorted(retired)))
                + ": remove or move those names before compiling"
            )
        return out


def fresh(k: int) -> Lineage:
    """No previous model: ids are the fit order."""
    return Lineage(ids=list(range(k)), next_id=k)


def next_fresh_id(model: FittedModel) -> int:
    """The first id the model never used (kept in the file across refits)."""
    stored = model.fit.get("next_id")
    used = max((c.id for c in model.clusters), default=-1) + 1
    return max(stored, used) if isinstance(stored, int) else used


def comparable(previous: FittedModel, features: list[str], categorical: list[str]) -> str:
    """Why the previous model cannot label the new rows ('' when it can)."""
    if previous.features != features or list(previous.categorical) != categorical:
        return (
            "the previous model has other features; cluster ids start again from 0 "
            "(check the names in cluster.names)"
        )
    return ""


def match(new: Any, old: Any, k: int, previous: FittedModel) -> Lineage:
    """Match the new fit's labels (0..k-1, -1) to the previous model's on the same rows."""
    pairs = Counter(
        (int(j), int(i)) for j, i in zip(new.tolist(), old.tolist(), strict=True) if j >= 0 <= i
    )
    new_size = Counter(int(j) for j in new.tolist() if j >= 0)
    old_size = Counter(int(i) for i in old.tolist() if i >= 0)
    old_ids = sorted(c.id for c in previous.clusters)

    def best(candidates, overlap) -> int | None:
        found = [(-overlap(c), c) for c in candidates if overlap(c) > 0]
        return min(found)[1] if found else None

    best_old = {j: best(old_ids, lambda i, j=j: pairs[(j, i)]) for j in range(k)}
    best_new = {i: best(range(k), lambda j, i=i: pairs[(j, i)]) for i in old_ids}
    ids: list[int | None] = [None] * k
    lineage = Lineage(ids=[], next_id=next_fresh_id(previous))
    for j in range(k):
        i = best_old[j]
        if i is not None and best_new[i] == j:
            ids[j] = i
            lineage.kept.append((i, pairs[(j, i)]))
    for j in range(k):  # fresh ids in fit order (largest first)
        if ids[j] is None:
            ids[j] = lineage.next_id
            lineage.next_id += 1
            i = best_old[j]
            if i is not None and pairs[(j, i)] >= MAJORITY * new_size[j]:
                lineage.split.append((lineage.next_id - 1, i))
            else:
                lineage.appeared.append(lineage.next_id - 1)
    lineage.ids = [i for i in ids if i is not None]
    kept = {i for i, _ in lineage.kept}
    for i in old_ids:
        if i in kept:
            continue
        to = best_new[i]
        if to is not None and pairs[(to, i)] >= MAJORITY * old_size[i]:
            lineage.merged.append((i, lineage.ids[to]))
        else:
            lineage.vanished.append(i)
    return lineage
