"""Compile targets and their quirks, declared in one table instead of ``if dialect == ...``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from semseg.errors import UsageError

NanStyle = Literal["native", "ieee", "none"]
ZoneStyle = Literal[
    "at_time_zone", "convert_timezone", "spark", "bigquery", "trino", "clickhouse", "none"
]


@dataclass(frozen=True)
class Target:
    """A compile target: its sqlglot dialect and what semseg must do differently for it.

    Every difference is a typed field, applied by ``compile.for_target`` in one fixed order
    (``compile.portable.target_rewrites``): nothing is named by a string, and nothing is
    applied to every target behind this table's back."""

    name: str
    title: str
    sqlglot: str
    # Where compiled SQL is executed in semseg's own tests (None: golden files only).
    engine: str | None = None
    # The target's name for ordering text by code point (``x COLLATE semseg_binary`` in the
    # canonical tree); None: its default order is code point already, COLLATE is dropped.
    binary_collation: str | None = None
    # Its default collation ignores case (MySQL, SQL Server): every string literal an
    # equality or IN compares with gets ``binary_collation``, which decides the comparison.
    case_insensitive_text: bool = False
    # Trailing spaces are ignored in comparisons (SQL Server, Redshift, MySQL): '|' is
    # appended to both sides of a text comparison.
    padded_text: bool = False
    # The type a value is cast to where it is grouped or counted distinct byte for byte
    # (MySQL, SQL Server: their default collations merge 'Beauty' and 'beauty'); None: as is.
    exact_cast: str | None = None
    # How it writes NaN: "native" (a float NaN, comparisons as DuckDB's), "ieee" (NaN exists
    # but compares as IEEE: guarded), "none" (no NaN: NULL instead).
    nan: NanStyle = "native"
    # How it takes an event's date in a time zone; "none": it cannot (``no_time_zones``).
    zones: ZoneStyle = "none"
    # Why the target cannot take an event's date in a time zone (None: it can).
    no_time_zones: str | None = None
    # SQLite only: month arithmetic that ends on the month's last day like every other
    # engine's, YEAR()/MONTH() from STRFTIME, VALUES without column names in its alias, and
    # decimal literals it would read one unit in the last place off written exactly.
    sqlite_fixes: bool = False
    # SQL Server only: GREATEST/LEAST before 2022, and LEN counting trailing spaces.
    tsql_fixes: bool = False
    # The target's aggregate for "the prototype n of the pair with the smallest (distance d,
    # n)", in its own dialect (a MIN over a struct, tuple or array, compared field by field):
    # the nearest prototype in one GROUP BY. None: a window MIN over the row's pairs, then
    # the lowest n at it (``portable._nearest``), 4.5x slower in DuckDB where every pair
    # is a candidate (``assign_noise: nearest``). Either decides in one evaluation.
    nearest_of: str | None = None
    # The portable hash (docs/spec.md, "The portable hash") of the text t, in the target's
    # own dialect: the first 4 bytes of MD5 over t's UTF-8 bytes, read big-endian as an
    # integer in [0, 2^32). SQLite has no MD5: semseg registers SEMSEG_MD5_32 on the SQLite
    # connections it opens (``semseg.engine``), and a user's own SQLite must do the same.
    hash32: str = "CAST(('0x' || SUBSTR(MD5(t), 1, 8)) AS BIGINT)"
    # SETTINGS appended to the query (ClickHouse only), so that the SQL computes the standard
    # meaning on any server whatever its configuration (see CLICKHOUSE_SETTINGS).
    query_settings: tuple[tuple[str, int | str], ...] = ()
    # Table materialisation needs an engine clause (ClickHouse) keyed on the entity key.
    table_engine: str | None = None
    # The longest query text the engine parses by default, and what to do about a longer one
    # (compile says so on stderr: each cluster prototype is a row of numbers in the SQL).
    query_limit: tuple[int, str] | None = None


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
    # ClickHouse evaluates a CTE at every reference: the profile's index reads the model once
    # per statistic, and the personas' profile took more than the default 10,000 plan
    # optimisations ("TOO_MANY_QUERY_PLAN_OPTIMIZATIONS"). A limit, not a meaning.
    ("query_plan_max_optimizations_to_apply", 100000),
)

MYSQL_BINARY = "utf8mb4_bin"
TSQL_BINARY = "Latin1_General_BIN2"

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "duckdb",
            "DuckDB",
            "duckdb",
            engine="duckdb",
            zones="at_time_zone",
            nearest_of="MIN({'d': d, 'n': n}).n",
        ),
        Target(
            "snowflake",
            "Snowflake",
            "snowflake",
            zones="convert_timezone",
            hash32="TO_NUMBER(SUBSTR(MD5(t), 1, 8), 'XXXXXXXX')",
        ),
        Target(
            "bigquery",
            "BigQuery",
            "bigquery",
            nan="ieee",
            zones="bigquery",
            hash32="CAST(CONCAT('0x', SUBSTR(TO_HEX(MD5(t)), 1, 8)) AS INT64)",
            query_limit=(
                1_048_576,
                "BigQuery refuses query text over 1 MB; fewer clusters, prototypes, features or "
                "trees make it shorter",
            ),
        ),
        Target(
            "postgres",
            "PostgreSQL",
            "postgres",
            engine="postgres",
            binary_collation="C",
            zones="at_time_zone",
            nearest_of="CAST((MIN(ARRAY[d, CAST(n AS DOUBLE PRECISION)]))[2] AS INT)",
            hash32="CAST(CAST('x' || SUBSTR(MD5(t), 1, 8) AS BIT(32)) AS BIGINT)",
        ),
        Target(
            "redshift",
            "Amazon Redshift",
            "redshift",
            padded_text=True,
            zones="convert_timezone",
            hash32="STRTOL(SUBSTRING(MD5(t), 1, 8), 16)",
        ),
        Target(
            "databricks",
            "Databricks SQL",
            "databricks",
            engine="spark",
            zones="spark",
            nearest_of="MIN(STRUCT(d AS d, n AS n)).n",
            hash32="CAST(CONV(SUBSTR(MD5(t), 1, 8), 16, 10) AS BIGINT)",
        ),
        Target(
            "spark",
            "Apache Spark SQL",
            "spark",
            engine="spark",
            zones="spark",
            nearest_of="MIN(STRUCT(d AS d, n AS n)).n",
            hash32="CAST(CONV(SUBSTR(MD5(t), 1, 8), 16, 10) AS BIGINT)",
        ),
        Target(
            "trino",
            "Trino / Presto",
            "trino",
            nan="ieee",
            zones="trino",
            hash32="FROM_BIG_ENDIAN_64(CONCAT(X'00000000', SUBSTR(MD5(TO_UTF8(t)), 1, 4)))",
        ),
        Target(
            "tsql",
            "SQL Server / Azure Synapse (T-SQL)",
            "tsql",
            binary_collation=TSQL_BINARY,
            case_insensitive_text=True,
            padded_text=True,
            exact_cast="VARBINARY(MAX)",
            nan="none",
            tsql_fixes=True,
            hash32="CAST(CAST(HASHBYTES('MD5', CAST(t AS VARCHAR(8000)) COLLATE "
            "Latin1_General_100_BIN2_UTF8) AS BINARY(4)) AS BIGINT)",
            no_time_zones="SQL Server's AT TIME ZONE takes Windows zone names, not IANA ones",
        ),
        Target(
            "clickhouse",
            "ClickHouse",
            "clickhouse",
            engine="clickhouse",
            nan="ieee",
            zones="clickhouse",
            nearest_of="tupleElement(min(tuple(d, n)), 2)",
            hash32="toInt64(reinterpretAsUInt32(reverse(substring(MD5(t), 1, 4))))",
            query_settings=CLICKHOUSE_SETTINGS,
            table_engine="MergeTree",
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
            nan="none",
            sqlite_fixes=True,
            no_time_zones="SQLite has no time zone data",
            hash32="SEMSEG_MD5_32(t)",
        ),
        Target(
            "mysql",
            "MySQL 8",
            "mysql",
            engine="mysql",
            binary_collation=MYSQL_BINARY,
            case_insensitive_text=True,
            padded_text=True,
            exact_cast="BINARY",
            nan="none",
            hash32="CAST(CONV(SUBSTR(MD5(t), 1, 8), 16, 10) AS UNSIGNED)",
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
