"""Compile targets and their quirks, declared in one table instead of ``if dialect == ...``."""

from __future__ import annotations

from dataclasses import dataclass

from semseg.errors import UsageError


@dataclass(frozen=True)
class Target:
    """A compile target: its sqlglot dialect and what semseg must do differently for it."""

    name: str
    title: str
    sqlglot: str
    # SETTINGS appended to the query (ClickHouse only): LEFT JOIN must yield NULL, not 0/''.
    query_settings: tuple[tuple[str, str], ...] = ()
    # Table materialisation needs an engine clause (ClickHouse) keyed on the entity key.
    table_engine: str | None = None
    # Where compiled SQL is executed in semseg's own tests (None: golden files only).
    engine: str | None = None
    # CTEs (by name suffix) written AS MATERIALIZED. PostgreSQL inlines a CTE used once and
    # substitutes its expressions into every reference: the cluster label refers to each
    # prototype distance dozens of times, and each distance was recomputed every time (the
    # persona model on 8,000 rows took minutes; the engine test caught it).
    materialized_ctes: tuple[str, ...] = ()


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("duckdb", "DuckDB", "duckdb", engine="duckdb"),
        Target("snowflake", "Snowflake", "snowflake"),
        Target("bigquery", "BigQuery", "bigquery"),
        Target(
            "postgres",
            "PostgreSQL",
            "postgres",
            engine="postgres",
            materialized_ctes=("_cluster_distances",),
        ),
        Target("redshift", "Amazon Redshift", "redshift"),
        Target("databricks", "Databricks SQL", "databricks", engine="spark"),
        Target("spark", "Apache Spark SQL", "spark", engine="spark"),
        Target("trino", "Trino / Presto", "trino"),
        Target("tsql", "SQL Server / Azure Synapse (T-SQL)", "tsql"),
        Target(
            "clickhouse",
            "ClickHouse",
            "clickhouse",
            query_settings=(("join_use_nulls", "1"),),
            table_engine="MergeTree",
            engine="clickhouse",
        ),
        Target("sqlite", "SQLite", "sqlite", engine="sqlite"),
        Target("mysql", "MySQL 8", "mysql"),
    )
}


def get_target(name: str) -> Target:
    """The target called ``name`` (case-insensitive); ``UsageError`` lists the valid names."""
    try:
        return TARGETS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown dialect '{name}'; choose one of: {', '.join(TARGETS)}") from None


# Constructs sqlglot would translate into something that is not the same computation on the
# target (or that does not run there); compile refuses them with the reason instead of
# approximating silently. Keyed by sqlglot expression class name.
_NO_EXACT_MEDIAN = {
    "bigquery": "BigQuery has no MEDIAN aggregate and PERCENTILE_CONT is a window function only",
    "tsql": "T-SQL has no MEDIAN and PERCENTILE_CONT is a window function only",
    "trino": "Trino has only approx_percentile, an approximation",
    "clickhouse": "ClickHouse median()/quantile() are approximate (sampled)",
    "sqlite": "SQLite has no percentile aggregate",
    "mysql": "MySQL has no percentile aggregate",
}
UNFAITHFUL: dict[str, dict[str, str]] = {
    "Median": _NO_EXACT_MEDIAN,
    "PercentileCont": _NO_EXACT_MEDIAN,
    "PercentileDisc": _NO_EXACT_MEDIAN,
}


def unfaithful(construct: str, target: str) -> str | None:
    """Why ``construct`` (a sqlglot expression class name) cannot be compiled for ``target``."""
    return UNFAITHFUL.get(construct, {}).get(target)
