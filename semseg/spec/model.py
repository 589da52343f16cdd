"""The typed, immutable spec model (what a valid YAML spec *is*).

Structure and types are declared here with pydantic, which also gives us the JSON Schema for
editors (``semseg schema``). Rules that need more than one field at a time (references, band
coverage, SQL snippets) live in ``semseg.spec.validate``.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

IDENTIFIER_PATTERN = r"^[a-z_][a-z0-9_]*$"
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$"

# Lowercase snake_case only: unquoted identifiers fold to upper case on Snowflake and to lower
# case on PostgreSQL, so any other spelling would name different columns on different engines.
Identifier = Annotated[StrictStr, Field(pattern=IDENTIFIER_PATTERN)]
TableName = Annotated[StrictStr, Field(pattern=TABLE_PATTERN)]
Number = StrictInt | StrictFloat
Snippet = Annotated[StrictStr, Field(min_length=1)]


class Agg(StrEnum):
    """Aggregations a metric can apply to its ``expr`` over a source."""

    count = "count"  # type: ignore[assignment]  # shadows str.count, on purpose
    count_distinct = "count_distinct"
    sum = "sum"
    avg = "avg"
    min = "min"
    max = "max"
    # time aggregations over the source's event time (no expr), relative to the as-of date
    days_since_last = "days_since_last"
    days_since_first = "days_since_first"
    active_days = "active_days"
    active_weeks = "active_weeks"
    active_months = "active_months"
    # the value of expr at the earliest / latest event (ties: the smallest value)
    first = "first"
    last = "last"
    # an entity attribute: expr of the one row per key of its source (verify proves the grain)
    attribute = "attribute"
    # the category (expr) with the largest total measure (ties: the smallest category), and
    # that total's share of every category's
    top = "top"
    top_share = "top_share"


EDGE_AGGS = (Agg.first, Agg.last)
TOP_AGGS = (Agg.top, Agg.top_share)
TIME_AGGS = (
    Agg.days_since_last,
    Agg.days_since_first,
    Agg.active_days,
    Agg.active_weeks,
    Agg.active_months,
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Entity(_Model):
    """What one output row stands for, and the column that identifies it."""

    name: Identifier = Field(description="Entity name, e.g. customer; names the CTEs.")
    key: Identifier = Field(description="Key column; one output row per distinct non-NULL key.")
    description: StrictStr | None = None


class Population(_Model):
    """A table listing every entity that must get a row, even with no activity."""

    table: TableName
    key: Identifier | None = Field(
        None, description="Key column in this table (default: entity key)."
    )
    where: Snippet | None = Field(None, description="Boolean SQL filter on the table's rows.")
    time: Identifier | None = Field(
        None,
        description="The date a member joins (DATE, or a TIMESTAMP taken at its UTC date): as "
        "of a date, a member whose time is after it is not yet in the population; NULL is a "
        "member at every date.",
    )
    description: StrictStr | None = None


class Join(_Model):
    """A many-to-one join from a source's rows to a dimension table (one row per ``key``)."""

    table: TableName = Field(description="Dimension table; under --dbt {{ ref('table') }}.")
    key: Identifier = Field(description="The dimension's key column: unique (verify proves it).")
    on: Identifier | None = Field(
        None, description="The source's column that holds the key (default: the same name)."
    )
    missing: dict[Identifier, Number | StrictStr | StrictBool] = Field(
        default_factory=dict,
        description="Value of a dimension column for an event whose dimension row is missing "
        "(the event still counts; without a value here the column is NULL).",
    )
    description: StrictStr | None = None


class Source(_Model):
    """An event table that metrics aggregate per entity key."""

    table: TableName = Field(description="Table name; under --dbt it becomes {{ ref('table') }}.")
    key: Identifier | None = Field(
        None, description="Key column in this table (default: entity key)."
    )
    where: Snippet | None = Field(
        None, description="Boolean SQL filter applied before aggregating."
    )
    time: Identifier | None = Field(
        None,
        description="Event time column (DATE or TIMESTAMP). Once declared, no event after the "
        "as-of date counts in any metric of this source, and metrics may have a window.",
    )
    time_zone: StrictStr | None = Field(
        None,
        description="IANA zone whose dates the events of a UTC TIMESTAMP time column fall on "
        "(default: the spec's time_zone).",
    )
    joins: dict[Identifier, Join] = Field(
        default_factory=dict,
        description="Dimension tables joined many-to-one to each row; a snippet of this source "
        "reads their columns as <join>.<column>.",
    )
    description: StrictStr | None = None


class Predict(_Model):
    """A propensity: the probability that ``target`` is positive, predicted from ``features``
    by a model fitted locally (``semseg fit``) and scored in plain SQL."""

    target: Identifier = Field(
        description="The outcome: a metric with a window 'last N days' (or weeks, months), "
        "positive when above 0. The model learns it as of a date from the features as of N "
        "before: the window's span is the horizon."
    )
    features: list[Identifier] = Field(
        min_length=1, description="Numeric metrics the model reads (as of the scoring date)."
    )
    categorical: list[Identifier] = Field(
        default_factory=list,
        description="gradient_boosting: text metrics the trees split by category "
        "(scikit-learn's native categorical splits; at most 255 categories each in the "
        "training rows; NULL and a category the fit never saw go where missing values went).",
    )
    model: Literal["logistic", "gradient_boosting"] = Field(
        "logistic",
        description="logistic: scikit-learn's LogisticRegression on standardised features; "
        "gradient_boosting: its HistGradientBoostingClassifier (missing values routed as it "
        "learnt them).",
    )
    C: Annotated[float, Field(gt=0, strict=False)] = Field(
        1.0, description="logistic: inverse of the L2 regularisation strength (scikit-learn's C)."
    )
    trees: Annotated[StrictInt, Field(ge=1, le=300)] = Field(
        100, description="gradient_boosting: boosting iterations (one tree each)."
    )
    depth: Annotated[StrictInt, Field(ge=1, le=6)] = Field(
        3, description="gradient_boosting: the largest depth of a tree."
    )
    learning_rate: Annotated[float, Field(gt=0, le=1, strict=False)] = Field(
        0.1, description="gradient_boosting: the shrinkage of each tree."
    )
    file: StrictStr | None = Field(
        None, description="Fitted model JSON (default: <spec>.<metric>.model.json)."
    )

    @property
    def inputs(self) -> list[str]:
        """Every metric the model reads, in the model's column order: features, then
        categorical."""
        return [*self.features, *self.categorical]


class Metric(_Model):
    """A per-entity value: an aggregate over a source, a raw aggregate, or derived from metrics."""

    description: StrictStr | None = None
    source: Identifier | None = Field(
        None, description="Source to aggregate (absent: derived metric)."
    )
    agg: Agg | None = Field(None, description="Aggregation applied to expr.")
    expr: Snippet | None = Field(
        None, description="Row expression to aggregate, or (derived) an expression over metrics."
    )
    where: Snippet | None = Field(None, description="Row filter for this metric only.")
    window: StrictStr | None = Field(
        None,
        description="Events counted, relative to the as-of date: 'last 90 days', "
        "'90 to 180 days ago', 'before 12 months ago' or 'all' (units: days, weeks, months, "
        "years). Needs a source with 'time'.",
    )
    sql: Snippet | None = Field(
        None, description="A complete aggregate expression over the source."
    )
    measure: Snippet | None = Field(
        None,
        description="top / top_share: the row expression summed per category (default: the "
        "number of rows).",
    )
    fill: Number | StrictStr | StrictBool | None = Field(
        None,
        description="Value used when the metric is NULL (e.g. population members with no rows).",
    )
    type: Literal["integer", "number", "text"] | None = Field(
        None,
        description="Declare integer-valued metrics so band gaps can be proven, and text "
        "metrics so that profile's SQL describes them by category.",
    )
    better: Literal["higher", "lower"] | None = Field(
        None,
        description="Which way is good for this metric (profile colours: green where a "
        "segment is better than the baseline, red where worse; neutral colours without it).",
    )
    categories: (
        Annotated[list[Annotated[StrictStr, Field(min_length=1)]], Field(min_length=1)] | None
    ) = Field(
        None,
        description="A text metric's categories in their natural order (ordinal bands such as "
        "income): profile shows each of them in this order, and other values as Other.",
    )
    predict: Predict | None = Field(
        None,
        description="A propensity score over other metrics, from a model fitted by semseg "
        "fit (no source, no expr).",
    )
    precision: Annotated[StrictInt, Field(ge=0, le=9)] | None = Field(
        None,
        description="Decimal places the value is rounded to (half up) on every engine before "
        "it is shown, compared or ranked (default 6 for a non-integer metric that a band or "
        "quantile segmentation is by; none otherwise).",
    )

    @property
    def kind(self) -> Literal["aggregate", "raw", "derived"]:
        """aggregate: agg over a source; raw: ``sql`` over a source; derived: over metrics."""
        if self.source is None:
            return "derived"
        return "raw" if self.sql is not None else "aggregate"

    @property
    def is_integer(self) -> bool:
        """Whether every value is an integer (declared, or implied by a counting aggregate)."""
        return self.type == "integer" or self.agg in (Agg.count, Agg.count_distinct, *TIME_AGGS)


class Segment(_Model):
    """One labelled segment of a bands or rules segmentation."""

    label: Annotated[StrictStr, Field(min_length=1)]
    min: Number | None = Field(None, description="Inclusive lower bound (bands).")
    max: Number | None = Field(None, description="Inclusive upper bound (bands).")
    below: Number | None = Field(None, description="Exclusive upper bound (bands).")
    when: Snippet | None = Field(None, description="Boolean SQL over metrics (rules).")
    else_: StrictBool = Field(False, alias="else", description="Catch-all segment; must be last.")
    description: StrictStr | None = None
    use_case: StrictStr | None = None


class Cluster(_Model):
    """A clustering segmentation: fitted locally (``semseg cluster``), assigned in SQL."""

    features: list[Identifier] = Field(min_length=1, description="Numeric metrics to cluster on.")
    categorical: list[Identifier] = Field(
        default_factory=list, description="Text metrics, one-hot encoded over top categories."
    )
    where: Snippet | None = Field(None, description="Which entities are clustered (over metrics).")
    algorithm: Literal["hdbscan", "kmeans"] = "hdbscan"
    min_cluster_size: Annotated[StrictInt, Field(ge=2)] = 50
    min_samples: Annotated[StrictInt, Field(ge=1)] | None = None
    k: Annotated[StrictInt, Field(ge=2)] | None = Field(None, description="kmeans: clusters.")
    top_categories: Annotated[StrictInt, Field(ge=1)] = 10
    scaling: Literal["standard", "none"] = "standard"
    sample_size: Annotated[StrictInt, Field(ge=100)] = 20000
    model: StrictStr | None = Field(
        None, description="Fitted model JSON (default: <spec>.<segmentation>.model.json)."
    )
    overlays: list[Identifier] = Field(
        default_factory=list, description="Metrics profiled but not clustered on."
    )
    assign_noise: Literal["nearest"] | None = Field(
        None,
        description="nearest: every entity that passes where and has every feature gets the "
        "cluster of its nearest prototype, whatever the radii (no noise, as SQL-inf's PREDICT), "
        "and <segmentation>_distance holds its distance to that prototype (scaled space).",
    )

    rule: Literal["boxes", "prototypes"] | None = Field(
        None,
        description="How the SQL assigns a row: prototypes (the nearest prototype whose radius "
        "holds the row) or boxes (a decision tree distilled from the fit's labels, noise "
        "included; HDBSCAN without assign_noise only). Default: prototypes when they "
        "reproduce the fit on 99% of its rows, else boxes.",
    )
    names: dict[Annotated[int, Field(strict=False)], Annotated[StrictStr, Field(min_length=1)]] = (
        Field(
            default_factory=dict,
            description="A name per cluster id of the fitted model (-1: the entities in no "
            "cluster), written to <segmentation>_name. Unnamed clusters are 'Cluster <id>', -1 "
            "'Unassigned'. A refit keeps the ids of clusters that persist.",
        )
    )

    @property
    def assigns_noise(self) -> bool:
        """Whether every clusterable entity gets a cluster (``assign_noise: nearest``)."""
        return self.assign_noise == "nearest"

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules a fit may write: ``rule``; else for HDBSCAN without assign_noise either
        (the fit takes prototypes when they reproduce it, ``cluster.fit.PROTOTYPES_ENOUGH``);
        else prototypes."""
        if self.rule is not None:
            return (self.rule,)
        if self.algorithm == "hdbscan" and not self.assigns_noise:
            return ("prototypes", "boxes")
        return ("prototypes",)

    def name_of(self, cluster_id: int) -> str:
        """The name of a cluster id: declared, else ``Cluster <id>`` (-1: ``Unassigned``)."""
        if cluster_id in self.names:
            return self.names[cluster_id]
        return NOISE_NAME if cluster_id == -1 else f"Cluster {cluster_id}"


NOISE_NAME = "Unassigned"  # the name of cluster -1 unless cluster.names gives one


def distance_output(segmentation: str) -> str:
    """The output column of a cluster segmentation with ``assign_noise: nearest``: the
    distance of the row to the prototype that gave it its cluster."""
    return f"{segmentation}_distance"


def name_output(segmentation: str) -> str:
    """The output column of a cluster segmentation with ``names``: each row's cluster name."""
    return f"{segmentation}_name"


class Split(_Model):
    """A holdout split: each entity's arm is a function of the salt and its key only (the
    portable hash), the same on every engine and in Python, in <segmentation>_arm."""

    arms: dict[Annotated[StrictStr, Field(min_length=1)], Annotated[Number, Field(gt=0, le=1)]] = (
        Field(
            description="Arm name -> its share of the entities (the shares add up to 1), in "
            "order: an entity's hash picks the arm whose cumulative share first exceeds it.",
        )
    )
    salt: Annotated[StrictStr, Field(min_length=1)] = Field(
        description="Names the split (a campaign): another salt gives an independent split; "
        "only the salt moves a key between arms."
    )
    segments: list[Annotated[StrictStr, Field(min_length=1)]] | None = Field(
        None,
        description="Only the entities of these segments get an arm (the others NULL); "
        "default: every entity.",
    )
    control: StrictStr | None = Field(
        None, description="The arm the others are measured against (default: the first)."
    )
    outcomes: list[Identifier] = Field(
        default_factory=list,
        description="Metrics `semseg measure` compares between arms: each with a window "
        "'last N days' (or weeks), read as of the campaign's start plus N.",
    )

    @property
    def control_arm(self) -> str:
        return self.control if self.control is not None else next(iter(self.arms))


def arm_output(segmentation: str) -> str:
    """The output column of a segmentation with ``split``: each row's arm (or NULL)."""
    return f"{segmentation}_arm"


class Segmentation(_Model):
    """A label column plus its sort-order column."""

    description: StrictStr | None = None
    by: Identifier | None = Field(None, description="Metric the bands or quantiles are taken over.")
    order_column: Identifier | None = Field(None, description="Default: <segmentation>_order.")
    segments: list[Segment] | None = Field(None, description="Bands or rules; first match wins.")
    quantiles: Annotated[StrictInt, Field(ge=2, le=100)] | None = Field(
        None, description="Number of quantile tiers over `by`."
    )
    direction: Literal["asc", "desc"] | None = Field(
        None, description="Quantiles: desc puts the highest values in tier 1, asc the lowest."
    )
    labels: list[Annotated[StrictStr, Field(min_length=1)]] | None = Field(
        None, description="Quantiles: one label per tier, tier 1 first (default: the tier number)."
    )
    cluster: Cluster | None = Field(None, description="Clustering segmentation settings.")
    null_label: StrictStr | None = Field(
        None,
        description="Quantiles: label of the extra last tier for NULL values (default Unranked).",
    )
    split: Split | None = Field(
        None, description="A holdout split of its entities into arms (<segmentation>_arm)."
    )

    @property
    def kind(self) -> Literal["quantiles", "rules", "bands", "cluster"]:
        """quantiles: tiers over ``by``; rules: ``when`` conditions; bands: ranges of ``by``."""
        if self.cluster is not None:
            return "cluster"
        if self.quantiles is not None:
            return "quantiles"
        if any(s.when is not None for s in self.segments or []) or self.by is None:
            return "rules"
        return "bands"


class Check(_Model):
    """An expectation verify enforces on the segment distribution."""

    segment: StrictStr = Field(description="Segment label.")
    segmentation: Identifier | None = Field(
        None, description="Needed only when several segmentations share the label."
    )
    share_between: tuple[Number, Number] | None = None
    min_count: Annotated[StrictInt, Field(ge=0)] | None = None
    max_count: Annotated[StrictInt, Field(ge=0)] | None = None


class Parameter(_Model):
    """A typed value used as ``{{ name }}`` in snippets, windows and band bounds."""

    type: Literal["integer", "number", "text", "date"]
    default: Number | StrictStr | date | None = Field(
        None, description="Value unless --var NAME=VALUE sets another (none: --var required)."
    )
    min: Number | date | None = Field(None, description="Smallest value allowed.")
    max: Number | date | None = Field(None, description="Largest value allowed.")
    description: StrictStr | None = None


class Spec(_Model):
    """One segment model: one row per entity key, its metrics and its segmentations."""

    version: Literal[1]
    name: Identifier
    description: StrictStr | None = None
    dialect: StrictStr = Field("duckdb", description="Dialect the SQL snippets are written in.")
    as_of: date | Literal["today", "latest"] | None = Field(
        None,
        description="The as-of date of sources with 'time': a date, 'today' (the engine's current "
        "date) or 'latest' (the latest event date in the data; verify, cluster and profile only). "
        "--as-of overrides it.",
    )
    time_zone: StrictStr = Field(
        "UTC",
        description="IANA zone whose dates events fall on: a TIMESTAMP time column holds UTC "
        "times, and its event date is the date in this zone.",
    )
    parameters: dict[Identifier, Parameter] = Field(
        default_factory=dict,
        description="Typed values used as {{ name }} in snippets, windows and band bounds.",
    )
    entity: Entity
    population: Population | Annotated[list[Population], Field(min_length=1)] | None = Field(
        None,
        description="Every entity that must get a row: one table, or a list of tables whose "
        "keys are united (each with its own key and filter). Absent: the keys of the sources.",
    )
    sources: dict[Identifier, Source] = Field(min_length=1)
    metrics: dict[Identifier, Metric] = Field(min_length=1)
    segmentations: dict[Identifier, Segmentation] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    # dbt: the parameter standing at a window end or a band bound (``semseg.spec.params``);
    # empty unless the spec was loaded for dbt output.
    _parameter_sites: dict[tuple, str] = PrivateAttr(default_factory=dict)

    def parameter_at(self, *path: str | int) -> str | None:
        """The parameter written at ``path`` (a window end or a bound) when it is kept for
        dbt's ``var()``, else None: the value in the spec is the one to write."""
        return self._parameter_sites.get(path)

    def parameter_sites(self) -> dict[tuple, str]:
        """Every (path, parameter) kept for dbt's ``var()`` at a window end or a bound."""
        return dict(self._parameter_sites)

    def with_parameter_sites(self, sites: dict[tuple, str]) -> Spec:
        out = self.model_copy()
        out._parameter_sites = dict(sites)
        return out

    def tables(self) -> list[tuple[tuple, str]]:
        """(YAML path of its ``table:`` key, table) of every table the model reads, in order:
        population tables, sources, their joined dimensions."""
        out = [((*at, "table"), pop.table) for at, pop in self.populations]
        for name, src in self.sources.items():
            out.append((("sources", name, "table"), src.table))
            out += [(("sources", name, "joins", j, "table"), d.table) for j, d in src.joins.items()]
        return out

    @property
    def populations(self) -> list[tuple[tuple, Population]]:
        """(YAML path, table) of each population table: one, several, or none."""
        if self.population is None:
            return []
        if isinstance(self.population, Population):
            return [(("population",), self.population)]
        return [(("population", i), p) for i, p in enumerate(self.population)]

    def order_column(self, segmentation: str) -> str:
        """Name of a segmentation's sort-order column."""
        return self.segmentations[segmentation].order_column or f"{segmentation}_order"

    def output_columns(self) -> list[str]:
        """The model's columns, in order: key, metrics, each segmentation's columns, then the
        arms of the splits."""
        out = [self.entity.key, *self.metrics]
        arms = [arm_output(n) for n, s in self.segmentations.items() if s.split is not None]
        for name in self.segmentations:
            out += [c for c, _ in self.segmentation_outputs(name) if c not in arms]
        return out + arms  # (after every label: a split of some segments reads its label)

    def segmentation_outputs(self, name: str) -> list[tuple[str, tuple]]:
        """A segmentation's output columns, each with the spec path that makes it: its label,
        its order, a cluster's distance and name columns, a split's arm."""
        at = ("segmentations", name)
        s = self.segmentations[name]
        order = (self.order_column(name), (*at, "order_column"))
        out: list[tuple[str, tuple]] = [(name, at), order]
        if (c := s.cluster) is not None and c.assigns_noise:
            out.append((distance_output(name), (*at, "cluster", "assign_noise")))
        if c is not None and c.names:
            out.append((name_output(name), (*at, "cluster", "names")))
        if s.split is not None:
            out.append((arm_output(name), (*at, "split")))
        return out
