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
    # SETTINGS appended to the query (ClickHouse only), so that the SQL computes the standard
    # meaning on any server whatever its configuration (see CLICKHOUSE_SETTINGS).
    query_settings: tuple[tuple[str, int | str], ...] = ()
    # Table materialisation needs an engine clause (ClickHouse) keyed on the entity key.
    table_engine: str | None = None
    # Where compiled SQL is executed in semseg's own tests (None: golden files only).
    engine: str | None = None
    # Rewrites of compile.portable.TARGET_REWRITES this target needs to compute the portable
    # meaning (SQLite: month arithmetic that ends on the month's last day; MySQL and SQL
    # Server: text compared exactly, not by their case-insensitive default collations; SQL
    # Server, Redshift and MySQL: trailing spaces count; SQL Server: GREATEST before 2022,
    # LEN counting trailing spaces; SQLite: VALUES without column names in its alias, and
    # decimal literals it would read one unit in the last place off).
    rewrites: tuple[str, ...] = ()
    # The longest query text the engine parses by default, and what to do about a longer one
    # (compile says so on stderr: each cluster prototype is a row of numbers in the SQL).
    query_limit: tuple[int, str] | None = None
    # Why the target cannot take an event's date in a time zone (None: it can, with the
    # zoned_* rewrite in ``rewrites``).
    no_time_zones: str | None = None


# What the compiled SQL relies on in ClickHouse, set on the query itself instead of trusting
# the server's profile (the engine tests set none of these at session level):
CLICKHOUSE_SETTINGS: tuple[tuple[str, int | str], ...] = (
    # A LEFT JOIN miss is NULL (default: the type's default, 0/'', which `fill` would not see).
    ("join_use_nulls", 1),
    # SUM/MIN/MAX/AVG over no rows, or only NULLs, is NULL as in SQL (default: 0 / nan).
    ("aggregate_functions_null_for_empty", 1),
    # In WHERE and GROUP BY a source column wins over a same-named SELECT alias, as in SQL
    # (default: the alias, so a metric named like a column it filters on would be wrong).
    ("prefer_column_name_to_alias", 1),
    # Mixing integers and floats in COALESCE/GREATEST is an error, as it is elsewhere in
    # ClickHouse (default here: a Variant value that compares by type, giving wrong maxima).
    ("use_variant_as_common_type", 0),
    # CAST of a NULL keeps it NULL (default: an error "Cannot convert NULL value").
    ("cast_keep_nullable", 1),
    # Server defaults the SQL relies on, pinned so that a server profile cannot change them:
    # COUNT(DISTINCT) is exact, and NULL IN (...) is NULL.
    ("count_distinct_implementation", "uniqExact"),
    ("transform_null_in", 0),
)

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("duckdb", "DuckDB", "duckdb", engine="duckdb", rewrites=("zoned_at_time_zone",)),
        Target("snowflake", "Snowflake", "snowflake", rewrites=("zoned_convert_timezone",)),
        Target(
            "bigquery",
            "BigQuery",
            "bigquery",
            rewrites=("ieee_nan", "zoned_bigquery"),
            query_limit=(
                1_048_576,
                "BigQuery refuses query text over 1 MB; fewer clusters, prototypes or features "
                "make it shorter",
            ),
        ),
        Target(
            "postgres",
            "PostgreSQL",
            "postgres",
            engine="postgres",
            rewrites=("zoned_at_time_zone", "binary_postgres"),
        ),
        Target(
            "redshift",
            "Amazon Redshift",
            "redshift",
            rewrites=("padded_text", "zoned_convert_timezone"),
        ),
        Target(
            "databricks",
            "Databricks SQL",
            "databricks",
            engine="spark",
            rewrites=("zoned_spark",),
        ),
        Target(
            "spark",
            "Apache Spark SQL",
            "spark",
            engine="spark",
            rewrites=("zoned_spark",),
        ),
        Target("trino", "Trino / Presto", "trino", rewrites=("ieee_nan", "zoned_trino")),
        Target(
            "tsql",
            "SQL Server / Azure Synapse (T-SQL)",
            "tsql",
            rewrites=(
                "padded_text",
                "tsql_binary_text",
                "tsql_greatest",
                "tsql_length",
                "no_nan",
                "binary_tsql",
                "exact_tsql",
            ),
            no_time_zones="SQL Server's AT TIME ZONE takes Windows zone names, not IANA ones",
        ),
        Target(
            "clickhouse",
            "ClickHouse",
            "clickhouse",
            query_settings=CLICKHOUSE_SETTINGS,
            rewrites=("ieee_nan", "zoned_clickhouse"),
            table_engine="MergeTree",
            engine="clickhouse",
            query_limit=(
                262_144,
                "ClickHouse parses at most max_query_size bytes (262,144 by default) and "
                "max_ast_elements nodes (50,000); raise both in the user's profile or session "
                "(SET max_query_size = ..., max_ast_elements = ...) before running it",
            ),
        ),
        Target(
            "sqlite",
            "SQLite",
            "sqlite",
            engine="sqlite",
            rewrites=(
                "sqlite_months",
                "sqlite_calendar",
                "no_nan",
                "sqlite_values",
                "sqlite_exact_numbers",
            ),
            no_time_zones="SQLite has no time zone data",
        ),
        Target(
            "mysql",
            "MySQL 8",
            "mysql",
            engine="mysql",
            rewrites=("padded_text", "mysql_binary_text", "no_nan", "binary_mysql", "exact_mysql"),
            no_time_zones="MySQL's CONVERT_TZ needs the server's time zone tables loaded (it "
            "gives NULL without them)",
        ),
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
