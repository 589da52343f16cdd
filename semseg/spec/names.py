"""Every name the model generates, in one place, and the rules that keep user names safe in SQL.

semseg writes names unquoted (quoting would make them case-sensitive on Snowflake and
upper-case elsewhere), so a user name must mean the same column or table on all 12 engines:

- lower-case snake_case (the model's pattern);
- not a reserved word of any target dialect, nor a bare word some engine evaluates as a value
  (``user``, ``current_date`` ...; see ``semseg.spec.reserved``);
- no double underscore in a column name: ``__`` is the namespace of generated helper columns
  (``<segmentation>__rank``, ``<segmentation>__z0`` ...);
- no clash with a CTE name the model generates (``ModelNames``): a source called ``metrics``
  would give two ``customer_metrics`` CTEs, and an unqualified table named like a CTE would be
  read as the CTE.
"""

from __future__ import annotations

from dataclasses import dataclass

from semseg.spec.model import Spec
from semseg.spec.reserved import ENGINES, is_niladic, reserved_in

HELPER_SEPARATOR = "__"  # generated helper columns: <segmentation>__<what>


@dataclass(frozen=True)
class ModelNames:
    """The CTE names of one spec's model, derived from the entity name."""

    entity: str

    def source(self, source: str) -> str:
        """The per-source aggregate."""
        return f"{self.entity}_{source}"

    def distinct(self, source: str, group: int = 1) -> str:
        """The ``group``-th aggregate of a source's split-off conditional distinct counts (one
        per set of conditions; see compile.distinct)."""
        suffix = "" if group == 1 else f"_{group}"
        return f"{self.entity}_{source}_distinct{suffix}"

    def edge(self, source: str, index: int) -> str:
        """The ``index``-th first/last value of a source."""
        return f"{self.entity}_{source}_edge_{index}"

    def rows(self, source: str) -> str:
        """The rows of a source that its split aggregates share (one scan of the table)."""
        return f"{self.entity}_{source}_rows"

    def values(self, source: str) -> str:
        """A source's aggregates per (key, distinct value), before they are per key."""
        return f"{self.entity}_{source}_values"

    def top(self, source: str, index: int, part: str = "") -> str:
        """The ``index``-th top/top_share metric of a source: its category totals
        (``part='totals'``, with the key's largest beside each), a top_share's ratio (``'best'``),
        a top's category (no part)."""
        return f"{self.entity}_{source}_top_{index}" + (f"_{part}" if part else "")

    def buckets(self, source: str) -> str:
        """A history's rows of a source, each with the as-of date it first counts at."""
        return f"{self.entity}_{source}_buckets"

    def parts(self, source: str, index: int = 0) -> str:
        """A history's aggregates of a source per (key, first date), accumulated over the
        dates: its running metrics (``index`` 0), or the ``index``-th distinct count's values
        counted at their first."""
        return f"{self.entity}_{source}_parts" + (f"_{index}" if index else "")

    def firsts(self, source: str, index: int) -> str:
        """A history's ``index``-th distinct count of a source: each value's first date."""
        return f"{self.entity}_{source}_firsts_{index}"

    def reach(self, source: str) -> str:
        """A history's (bucket, date) pairs at which a source's event can be in a window."""
        return f"{self.entity}_{source}_reach"

    def source_ctes(self, source: str, metrics: int) -> list[str]:
        """Every CTE a source with ``metrics`` metrics can give the model."""
        groups = [self.distinct(source, g) for g in range(1, max(metrics, 1) + 1)]
        edges = [self.edge(source, i) for i in range(1, metrics + 1)]
        tops = [
            self.top(source, i, part)
            for i in range(1, metrics + 1)
            for part in ("", "totals", "best")
        ]
        history = [self.buckets(source), self.parts(source), self.reach(source)]
        for i in range(1, metrics + 1):
            history += [self.parts(source, i), self.firsts(source, i)]
        return [
            self.source(source),
            self.rows(source),
            self.values(source),
            *groups,
            *edges,
            *tops,
            *history,
        ]

    @property
    def population(self) -> str:
        return f"{self.entity}_population"

    @property
    def keys(self) -> str:
        return f"{self.entity}_keys"

    @property
    def spine(self) -> str:
        """The as-of dates of a history (``semseg history``), one row each."""
        return f"{self.entity}_as_of_dates"

    @property
    def timeline_points(self) -> str:
        """A history's dates at which a key's values can change."""
        return f"{self.entity}_timeline_points"

    @property
    def timeline(self) -> str:
        """A history's points of each key, with every relation's row at each."""
        return f"{self.entity}_timeline"

    @property
    def timeline_values(self) -> str:
        """A history's values of each key from each of its points until the next."""
        return f"{self.entity}_timeline_values"

    @property
    def metrics(self) -> str:
        return f"{self.entity}_metrics"

    @property
    def derived_metrics(self) -> str:
        return f"{self.entity}_derived_metrics"

    @property
    def ranks(self) -> str:
        return f"{self.entity}_ranks"

    @property
    def tiers(self) -> str:
        return f"{self.entity}_tiers"

    @property
    def cluster_coordinates(self) -> str:
        return f"{self.entity}_cluster_coordinates"

    def cluster_prototypes(self, i: int) -> str:
        """The ``i``-th (1-based) cluster segmentation's prototypes, as a relation."""
        return f"{self.entity}_cluster_prototypes_{i}"

    def cluster_pairs(self, i: int) -> str:
        """Each clusterable row with each prototype, and the squared distance between them."""
        return f"{self.entity}_cluster_pairs_{i}"

    def cluster_nearest(self, i: int) -> str:
        """Per row, the smallest squared distance to a prototype that may take it."""
        return f"{self.entity}_cluster_nearest_{i}"

    def cluster_assigned(self, i: int) -> str:
        """Per row, the first prototype at that distance."""
        return f"{self.entity}_cluster_assigned_{i}"

    @property
    def cluster_labels(self) -> str:
        return f"{self.entity}_cluster_labels"

    @property
    def arms(self) -> str:
        """Each row's arm of every split (after the segments its ``segments`` name)."""
        return f"{self.entity}_arms"

    def segments(self, layer: int, layers: int) -> str:
        """The CASE layer ``layer`` (1-based) of ``layers``."""
        return f"{self.entity}_segments" if layers == 1 else f"{self.entity}_segments_{layer}"

    def fixed(self, spec: Spec) -> dict[str, str]:
        """CTE name -> what it holds, for every CTE that does not belong to a source.

        Every CTE the model can have is listed, used or not by this spec, so that adding a
        segmentation later never turns a valid source or table name into a clash.
        """
        out = {
            self.population: "the population",
            self.keys: "the keys of every source",
            self.spine: "the as-of dates of a history",
            self.timeline_points: "the dates a history's values change at",
            self.timeline: "a history's intervals",
            self.timeline_values: "a history's values per interval",
            self.metrics: "the metrics",
            self.derived_metrics: "the derived metrics",
            self.ranks: "the quantile ranks",
            self.tiers: "the quantile tiers",
            self.cluster_coordinates: "the cluster coordinates",
            self.cluster_labels: "the cluster labels",
            self.arms: "the holdout arms",
        }
        out[self.segments(1, 1)] = "the segments"
        layers = max(len(spec.segmentations), 1)  # at most one layer per segmentation
        for i in range(1, layers + 1):  # at most one cluster segmentation per segmentation
            out[self.cluster_prototypes(i)] = "a cluster segmentation's prototypes"
            out[self.cluster_pairs(i)] = "rows paired with cluster prototypes"
            out[self.cluster_nearest(i)] = "the nearest cluster prototypes"
            out[self.cluster_assigned(i)] = "the assigned cluster prototypes"
        out.update({self.segments(i, layers + 1): "a segment layer" for i in range(1, layers + 1)})
        return out


def rank_columns(segmentation: str) -> tuple[str, str]:
    """Helper columns holding a quantile segmentation's rank and non-NULL count."""
    return f"{segmentation}__rank", f"{segmentation}__n"


def coordinate_column(segmentation: str, i: int) -> str:
    """Helper column holding coordinate i of a row in a cluster segmentation's scaled space."""
    return f"{segmentation}__z{i}"


def prototype_columns(segmentation: str, dimensions: int) -> tuple[str, str, str, list[str]]:
    """Helper columns of a cluster segmentation's prototypes relation: the prototype's
    number, its cluster id, its radius squared, and its centre's coordinates."""
    return (
        f"{segmentation}__prototype",
        f"{segmentation}__cluster",
        f"{segmentation}__radius2",
        [f"{segmentation}__c{i}" for i in range(dimensions)],
    )


def distance_column(segmentation: str) -> str:
    """Helper column holding the squared distance of a row to a prototype."""
    return f"{segmentation}__distance"


def nearest_column(segmentation: str) -> str:
    """Helper column holding the squared distance to the nearest prototype that may take the
    row (its radius holds it, or any with ``assign_noise: nearest``)."""
    return f"{segmentation}__nearest"


def unsafe_name(name: str) -> tuple[str, str] | None:
    """Why ``name`` cannot be a SQL name in a spec, and how to fix it; None when it can."""
    word = name.lower()
    dialects = [d for d in reserved_in(word) if d in ENGINES]  # not ANSI-only words
    if dialects:
        more = f" and {len(dialects) - 4} more" if len(dialects) > 4 else ""
        shown = ", ".join(dialects[:4]) + more
        return (
            f"'{name}' is a reserved word in SQL ({shown})",
            f"rename it, e.g. '{word}_value' or 'n_{word}': semseg writes names unquoted, so "
            "they must mean the same thing in every dialect",
        )
    if is_niladic(word):
        return (
            f"'{name}' is a built-in value in SQL (some engines read the bare word as "
            "a function call, not a column)",
            f"rename it, e.g. '{word}_value': a column named so would be replaced by the "
            "engine's own value",
        )
    return None
