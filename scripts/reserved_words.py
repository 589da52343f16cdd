"""Write semseg/spec/reserved.py: per-dialect reserved words and niladic words.

Run from the repository root with the project's virtualenv::

    python -m scripts.reserved_words

Sources, merged per dialect (see ``SOURCES``):

(a) word lists transcribed by hand below from the vendors' documentation, or from what an
    engine reports about itself (PostgreSQL 15 ``pg_get_keywords()``) or does when tried
    (SQLite 3.40, ClickHouse via chdb 4.4), for engines that cannot be asked here at run time;
(b) ``RESERVED_KEYWORDS`` of sqlglot's dialect generators, where sqlglot keeps one that is the
    vendor's reserved list (BigQuery, Trino, MySQL); the other sqlglot sets are only compared
    with the result (differences go to stderr) because they mix in non-reserved words that
    sqlglot quotes for its own reasons;
(c) ``duckdb_keywords()`` of the installed DuckDB (categories ``reserved`` and
    ``type_function``; both are refused as unquoted table, column and CTE names).

dbt-semantic-interfaces (``dbt_semantic_interfaces/validations/reserved_keywords.py``) takes the
opposite approach: a short hand-made tuple of 26 words, the intersection of the Redshift,
PostgreSQL, BigQuery and Snowflake lists, checked against dimension, entity and measure names
and each dot-separated part of a model's relation name. semseg refuses the union instead,
because it emits unquoted identifiers to every engine at once.

The output is deterministic: words are lower-cased, de-duplicated and sorted, and the file is
laid out the way ``ruff format`` (line length 100) would lay it out, so running this twice gives
byte-identical output and ``ruff format --check`` passes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
from sqlglot.dialects.dialect import Dialect

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "semseg" / "spec" / "reserved.py"

ENGINES = (
    "duckdb",
    "snowflake",
    "bigquery",
    "postgres",
    "redshift",
    "databricks",
    "spark",
    "trino",
    "tsql",
    "clickhouse",
    "sqlite",
    "mysql",
)

# --- (a) hand-transcribed lists -----------------------------------------------------------------

# SQL:2016 (ISO/IEC 9075-2:2016, 5.2 <reserved word>), as tabulated in the PostgreSQL manual's
# "SQL Key Words" appendix (SQL:2016 column); END-EXEC is left out (not an identifier).
ANSI = """
abs acos all allocate alter and any are array array_agg array_max_cardinality as asensitive asin
asymmetric at atan atomic authorization avg begin begin_frame begin_partition between bigint
binary blob boolean both by call called cardinality cascaded case cast ceil ceiling char
char_length character character_length check classifier clob close coalesce collate collect
column commit condition connect constraint contains convert copy corr corresponding cos cosh
count covar_pop covar_samp create cross cube cume_dist current current_catalog current_date
current_default_transform_group current_path current_role current_row current_schema current_time
current_timestamp current_transform_group_for_type current_user cursor cycle date day deallocate
dec decfloat decimal declare default define delete dense_rank deref describe deterministic
disconnect distinct double drop dynamic each element else empty end end_frame end_partition
equals escape every except exec execute exists exp external extract false fetch filter
first_value float floor for foreign frame_row free from full function fusion get global grant
group grouping groups having hold hour identity in indicator initial inner inout insensitive
insert int integer intersect intersection interval into is join json_array json_arrayagg
json_exists json_object json_objectagg json_query json_table json_table_primitive json_value lag
language large last_value lateral lead leading left like like_regex listagg ln local localtime
localtimestamp log log10 lower match match_number match_recognize matches max measures member
merge method min minute mod modifies module month multiset national natural nchar nclob new no
none normalize not nth_value ntile null nullif numeric occurrences_regex octet_length of offset
old omit on one only open or order out outer over overlaps overlay parameter partition pattern
per percent percent_rank percentile_cont percentile_disc period portion position position_regex
power precedes precision prepare primary procedure ptf range rank reads real recursive ref
references referencing regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope regr_sxx
regr_sxy regr_syy release result return returns revoke right rollback rollup row row_number rows
running savepoint scope scroll search second seek select sensitive session_user set show similar
sin sinh skip smallint some specific specifictype sql sqlexception sqlstate sqlwarning sqrt start
static stddev_pop stddev_samp submultiset subset substring substring_regex succeeds sum symmetric
system system_time system_user table tablesample tan tanh then time timestamp timezone_hour
timezone_minute to trailing translate translate_regex translation treat trigger trim trim_array
true truncate uescape union unique unknown unnest update upper user using value value_of values
var_pop var_samp varbinary varchar varying versioning when whenever where width_bucket window with
within without year
"""

# Snowflake, "Reserved & limited keywords" (docs.snowflake.com/en/sql-reference/reserved-keywords).
# Left out: the words limited only as identifiers in SHOW ... IN <identifier> (ACCOUNT,
# CONNECTION, DATABASE, GSCLUSTER, ORGANIZATION, SCHEMA, VIEW). Kept: CONSTRAINT (not a column
# name in CREATE TABLE), CASE/CAST/TRUE/FALSE (not column references), CROSS/LEFT/... (not table
# names or aliases in FROM), CURRENT_* and LOCAL* (not column names).
SNOWFLAKE = """
all alter and any as between by case cast check column connect constraint create cross current
current_date current_time current_timestamp current_user delete distinct drop else exists false
following for from full grant group having ilike in increment inner insert intersect into is
issue join lateral left like localtime localtimestamp minus natural not null of on or order
qualify regexp revoke right rlike row rows sample select set some start table tablesample then to
trigger true try_cast union unique update using values when whenever where with
"""

# BigQuery GoogleSQL, "Lexical structure and syntax" > "Reserved keywords"
# (cloud.google.com/bigquery/docs/reference/standard-sql/lexical#reserved_keywords).
# Same words as sqlglot's BigQuery.Generator.RESERVED_KEYWORDS.
BIGQUERY = """
all and any array as asc assert_rows_modified at between by case cast collate contains create
cross cube current default define desc distinct else end enum escape except exclude exists
extract false fetch following for from full group grouping groups hash having if ignore in inner
intersect interval into is join lateral left like limit lookup merge natural new no not null
nulls of on or order outer over partition preceding proto qualify range recursive respect right
rollup rows select set some struct tablesample then to treat true unbounded union unnest using
when where window with within
"""

# PostgreSQL 15.18: SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T'), i.e. the
# "reserved" and "reserved (can be function or type)" columns of the manual's "SQL Key Words"
# appendix (postgresql.org/docs/15/sql-keywords-appendix.html). PostgreSQL 16 adds SYSTEM_USER
# (added here by hand, as it is reserved there).
POSTGRES = """
all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign freeze from full grant group having ilike in
initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
references returning right select session_user similar some symmetric system_user table
tablesample then to trailing true union unique user using variadic verbose when where window with
"""

# Amazon Redshift, "Reserved words" (docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html).
# sqlglot's Redshift set also has TYPE, which the page does not list; it is left out.
REDSHIFT = """
aes128 aes256 all allowoverwrite analyse analyze and any array as asc authorization az64 backup
between binary blanksasnull both bytedict bzip2 case cast check collate column constraint create
credentials cross current_date current_time current_timestamp current_user current_user_id
default deferrable deflate defrag delta delta32k desc disable distinct do else emptyasnull enable
encode encrypt encryption end except explicit false for foreign freeze from full globaldict256
globaldict64k grant group gzip having identity ignore ilike in initially inner intersect interval
into is isnull join leading left like limit localtime localtimestamp lun luns lzo lzop minus
mostly16 mostly32 mostly8 natural new not notnull null nulls off offline offset oid old on only
open or order outer overlaps parallel partition percent permissions pivot placing primary raw
readratio recover references rejectlog resort respect restore right select session_user similar
snapshot some sysdate system table tag tdes text255 text32k then timestamp to top trailing true
truncatecolumns union unique unnest unpivot user using verbose wallet when where with without
"""

# Databricks SQL / Runtime, "Reserved words and schemas"
# (docs.databricks.com/sql/language-manual/sql-ref-reserved-words): the words that must be
# back-ticked as table aliases (MASK is on the newer pages), plus the "special words in
# expressions" NULL, DEFAULT, TRUE, FALSE that shadow a column of that name. Databricks does not
# enforce the ANSI reserved words.
DATABRICKS = """
anti cross default except false full inner intersect join lateral left mask minus natural null
on right semi true union using
"""

# Apache Spark 4: the keywords pyspark 4.3 reports as reserved by sql_keywords() once
# spark.sql.ansi.enforceReservedKeywords=true (a session setting semseg cannot see; the table in
# docs/sql-ref-ansi-compliance.md, "Spark SQL ANSI Mode" column), plus the strict-non-reserved
# words that are never usable as table aliases, even with the setting off: ANTI, CROSS, EXCEPT,
# FULL, INNER, INTERSECT, JOIN, LATERAL, LEFT, MINUS, NATURAL, ON, RIGHT, SEMI, UNION, USING.
# Tried in pyspark 4.3 (SELECT w FROM (SELECT 1 AS w), WITH w AS ..., w as a table alias): TRUE
# also fails, with the setting on or off, and is added.
SPARK = """
all and anti any as authorization both call case cast check collate collation collations column
constraint create cross current_date current_path current_schema current_time current_timestamp
current_user distinct else end escape except execute false fetch filter for foreign from full
grant group having in inner intersect into is join lateral leading left localtime minus natural
not null offset on only or order outer overlaps primary recursive references right select semi
session_user some sql table then time to trailing true union unique unknown user using when where
with within
"""

# Trino, "Keywords and identifiers" > "Reserved keywords" (trino.io/docs/current/language/
# reserved.html). AUTO is on the current page; sqlglot's Trino set is a subset of this list.
TRINO = """
alter and as auto between by case cast constraint create cross cube current_catalog current_date
current_path current_role current_schema current_time current_timestamp current_user deallocate
delete describe distinct drop else end escape except execute exists extract false for from full
group grouping having in inner insert intersect into is join json_array json_exists json_object
json_query json_table json_value left like listagg localtime localtimestamp natural normalize not
null on or order outer prepare recursive right rollup select skip table then trim true uescape
union unnest using values when where with
"""

# SQL Server / T-SQL, "Reserved keywords (Transact-SQL)" (learn.microsoft.com/sql/t-sql/
# language-elements/reserved-keywords-transact-sql), the SQL Server list only (not the ODBC or
# future-keyword lists). The entry "WITHIN GROUP" is a phrase; WITHIN alone is not listed.
TSQL = """
add all alter and any as asc authorization backup begin between break browse bulk by cascade case
check checkpoint close clustered coalesce collate column commit compute constraint contains
containstable continue convert create cross current current_date current_time current_timestamp
current_user cursor database dbcc deallocate declare default delete deny desc disk distinct
distributed double drop dump else end errlvl escape except exec execute exists exit external
fetch file fillfactor for foreign freetext freetexttable from full function goto grant group
having holdlock identity identity_insert identitycol if in index inner insert intersect into is
join key kill left like lineno load merge national nocheck nonclustered not null nullif of off
offsets on open opendatasource openquery openrowset openxml option or order outer over percent
pivot plan precision primary print proc procedure public raiserror read readtext reconfigure
references replication restore restrict return revert revoke right rollback rowcount rowguidcol
rule save schema securityaudit select semantickeyphrasetable semanticsimilaritydetailstable
semanticsimilaritytable session_user set setuser shutdown some statistics system_user table
tablesample textsize then to top tran transaction trigger truncate try_convert tsequal union
unique unpivot update updatetext use user values varying view waitfor when where while with
writetext
"""

# ClickHouse: the manual says keywords are not reserved ("Syntax" > "Keywords"); no list exists.
# These are the words of system.keywords (ClickHouse in chdb 4.4) that failed at least one of
# SELECT w FROM (SELECT 1 AS w), WITH w AS (...) SELECT ... FROM w, SELECT x.w FROM (...) AS x,
# and w as a table alias.
CLICKHOUSE = """
all distinct false not null recursive select top true
"""

# SQLite: of the 147 words on sqlite.org/lang_keywords.html, those that fail (SQLite 3.40.1) as
# an unquoted table name, column name, CTE name, column alias or table alias; SQLite accepts the
# other keywords as identifiers through its fallback rules.
SQLITE = """
add all alter and as autoincrement between case cast check collate commit constraint create
current_date current_time current_timestamp default deferrable delete distinct drop else escape
except exists foreign from group having if in index insert intersect into is isnull join limit
not nothing notnull null on or order primary raise recursive references returning select set
table then to transaction union unique update using values when where
"""

# MySQL: sqlglot's MySQL.Generator.RESERVED_KEYWORDS is the list of (R) words of the MySQL 8.0
# manual, "Keywords and Reserved Words" (dev.mysql.com/doc/refman/8.0/en/keywords.html); these
# are the words MySQL 8.4 LTS adds as reserved.
MYSQL = """
manual parallel qualify tablesample
"""

HAND: dict[str, str] = {
    "ansi": ANSI,
    "snowflake": SNOWFLAKE,
    "bigquery": BIGQUERY,
    "postgres": POSTGRES,
    "redshift": REDSHIFT,
    "databricks": DATABRICKS,
    "spark": SPARK,
    "trino": TRINO,
    "tsql": TSQL,
    "clickhouse": CLICKHOUSE,
    "sqlite": SQLITE,
    "mysql": MYSQL,
}

# sqlglot dialects whose generator RESERVED_KEYWORDS is merged into the result.
SQLGLOT_MERGED = ("bigquery", "trino", "mysql")

SOURCES: dict[str, str] = {
    "ansi": "SQL:2016 reserved words (PostgreSQL manual, SQL Key Words appendix)",
    "duckdb": "duckdb_keywords(), categories reserved and type_function",
    "snowflake": "Snowflake docs, Reserved & limited keywords (SHOW-only limits left out)",
    "bigquery": "BigQuery docs, lexical reserved keywords + sqlglot RESERVED_KEYWORDS",
    "postgres": "PostgreSQL 15 pg_get_keywords() catcode R and T (+ SYSTEM_USER from 16)",
    "redshift": "Redshift docs, Reserved words",
    "databricks": "Databricks docs, Reserved words + special words in expressions",
    "spark": "pyspark 4.3 sql_keywords() reserved (ANSI enforced) + strict-non-reserved",
    "trino": "Trino docs, Reserved keywords + sqlglot RESERVED_KEYWORDS",
    "tsql": "SQL Server docs, Reserved keywords (Transact-SQL)",
    "clickhouse": "no vendor list; keywords that failed as names in ClickHouse (chdb 4.4)",
    "sqlite": "SQLite keyword list, the words that failed as names in SQLite 3.40",
    "mysql": "sqlglot RESERVED_KEYWORDS (MySQL 8.0 (R) words) + MySQL 8.4 additions",
}

# --- niladic words -----------------------------------------------------------------------------

# Bare words that an engine evaluates as a value (a function called without parentheses, a
# literal, or a pseudo/system column) where a column name is expected, so that a column of that
# name, when missing from the scope, silently becomes the session user or today's date. Tried
# (SELECT w FROM a table without such a column) in PostgreSQL 15, DuckDB, SQLite, pyspark and
# ClickHouse (chdb; there, every lower-case zero-argument function in system.functions was
# tried), and with sqlglot.parse_one(f"SELECT {w} FROM t", read=dialect) for the others; the
# rest is from the vendors' docs.
NILADIC: dict[str, str] = {
    "_file": "ClickHouse virtual column (File, URL, S3 engines)",
    "_file_name": "BigQuery pseudo-column of external tables",
    "_part": "ClickHouse virtual column (MergeTree)",
    "_part_index": "ClickHouse virtual column (MergeTree)",
    "_partition_id": "ClickHouse virtual column (MergeTree)",
    "_partitiondate": "BigQuery pseudo-column of ingestion-time partitioned tables",
    "_partitiontime": "BigQuery pseudo-column of ingestion-time partitioned tables",
    "_path": "ClickHouse virtual column (File, URL, S3 engines)",
    "_row_exists": "ClickHouse virtual column (MergeTree lightweight deletes)",
    "_rowid_": "SQLite rowid alias",
    "_shard_num": "ClickHouse virtual column (Distributed)",
    "_table": "ClickHouse virtual column (Merge, Distributed)",
    "_table_suffix": "BigQuery pseudo-column of wildcard tables",
    "cmax": "PostgreSQL system column",
    "cmin": "PostgreSQL system column",
    "ctid": "PostgreSQL system column",
    "current_catalog": "PostgreSQL, DuckDB, Trino",
    "curdate": "ClickHouse (bare zero-argument function names resolve as calls)",
    "current_database": "ClickHouse",
    "current_date": "every target engine (SQL Server: Azure SQL and Fabric only)",
    "current_datetime": "BigQuery",
    "current_path": "Trino",
    "current_role": "PostgreSQL, DuckDB",
    "current_schema": "PostgreSQL, DuckDB, Redshift, Trino",
    "current_time": "PostgreSQL, DuckDB, SQLite, Snowflake, BigQuery, Trino, MySQL, Redshift",
    "current_timestamp": "every target engine",
    "current_user": "PostgreSQL, DuckDB, Redshift, Spark, Trino, T-SQL, MySQL, ClickHouse",
    "current_user_id": "Redshift",
    "false": "boolean literal; wins over a column of that name in SQLite, Spark, ClickHouse",
    "localtime": "PostgreSQL, DuckDB, Snowflake, Trino, MySQL, Redshift, ClickHouse",
    "localtimestamp": "PostgreSQL, DuckDB, Snowflake, Trino, MySQL, Redshift, ClickHouse",
    "now": "ClickHouse",
    "null": "NULL literal; wins over a column of that name in Spark/Databricks, ClickHouse",
    "oid": "SQLite rowid alias; PostgreSQL before 12 (WITH OIDS); Redshift",
    "rowid": "SQLite rowid; DuckDB pseudo-column",
    "rownum": "Oracle pseudo-column (not a semseg target; kept for portability)",
    "session_user": "PostgreSQL, DuckDB, Redshift, Spark, Databricks, T-SQL, ClickHouse",
    "sysdate": "Redshift (Oracle too)",
    "system_user": "T-SQL, PostgreSQL 16+",
    "systimestamp": "Oracle (not a semseg target; kept for portability)",
    "tableoid": "PostgreSQL system column",
    "true": "boolean literal; wins over a column of that name in SQLite, Spark, ClickHouse",
    "today": "ClickHouse",
    "user": "PostgreSQL, DuckDB, Redshift, T-SQL, Spark, Databricks, ClickHouse",
    "utc_date": "MySQL",
    "utc_time": "MySQL",
    "utc_timestamp": "MySQL",
    "xmax": "PostgreSQL system column",
    "xmin": "PostgreSQL system column",
}

# --- collection --------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return {w.lower() for w in text.split()}


def sqlglot_reserved(dialect: str) -> set[str]:
    """sqlglot's generator RESERVED_KEYWORDS for a dialect (some entries hold stray spaces)."""
    generator = Dialect.get_or_raise(dialect).generator_class
    return {w for entry in getattr(generator, "RESERVED_KEYWORDS", ()) for w in _words(entry)}


def duckdb_reserved() -> set[str]:
    """DuckDB's own reserved and type_function keywords."""
    rows = duckdb.sql(
        "SELECT keyword_name FROM duckdb_keywords() "
        "WHERE keyword_category IN ('reserved', 'type_function')"
    ).fetchall()
    return {row[0].lower() for row in rows}


def collect() -> dict[str, frozenset[str]]:
    """The reserved words per dialect, "ansi" first, then ENGINES in order."""
    out: dict[str, frozenset[str]] = {}
    for name in ("ansi", *ENGINES):
        words = _words(HAND.get(name, ""))
        if name == "duckdb":
            words |= duckdb_reserved()
        if name in SQLGLOT_MERGED:
            words |= sqlglot_reserved(name)
        out[name] = frozenset(words)
    return out


def cross_check(reserved: dict[str, frozenset[str]]) -> None:
    """Print to stderr where sqlglot's RESERVED_KEYWORDS disagrees with the result."""
    for name in ENGINES:
        theirs = sqlglot_reserved(name)
        if not theirs:
            continue
        extra, missing = theirs - reserved[name], reserved[name] - theirs
        if extra or missing:
            print(f"{name}: sqlglot only: {sorted(extra)}", file=sys.stderr)
            print(f"{name}: not in sqlglot: {sorted(missing)}", file=sys.stderr)


# --- rendering ---------------------------------------------------------------------------------

HEADER = '''"""Words semseg refuses as names: per-dialect reserved words, and niladic words.

GENERATED by ``python -m scripts.reserved_words``; edit the word lists in that script, not here.

semseg emits identifiers unquoted: quoting would make names case-sensitive on Snowflake (and
upper-case folding there would no longer find them). So a name that is reserved in any target
engine (the union of ``RESERVED`` over ``ENGINES``) is refused in specs: entity name and key,
source names and keys, each dot-separated part of a table name, metric and segmentation names,
order columns and the population key. ``RESERVED["ansi"]`` (SQL:2016) is kept for reference and
is not part of that union.

``NILADIC`` lists bare words that some engine evaluates as a value where a column is expected
(``CURRENT_DATE``, ``USER``, PostgreSQL system columns, SQLite's ``rowid``, BigQuery
pseudo-columns, ...): a column with such a name would silently be replaced by, e.g., the session
user or today's date, so those are refused too.

Sources, per dialect:

{sources}

dbt-semantic-interfaces refuses only a 26-word intersection of the Redshift, PostgreSQL,
BigQuery and Snowflake lists (``validations/reserved_keywords.py``); semseg refuses the union.
Words are lower case and sorted, one frozenset literal per dialect.
"""

from __future__ import annotations

'''


def _set_lines(words: frozenset[str], indent: str) -> list[str]:
    body = [f'{indent}    "{w}",' for w in sorted(words)]
    return [f"{indent}{{", *body, f"{indent}}}"]


def render(reserved: dict[str, frozenset[str]]) -> str:
    """The text of semseg/spec/reserved.py."""
    sources = "\n".join(f"- {name}: {SOURCES[name]}." for name in reserved)
    lines = [HEADER.format(sources=sources).rstrip("\n"), ""]
    lines.append("ENGINES: tuple[str, ...] = (")
    lines += [f'    "{name}",' for name in ENGINES]
    lines += [")", "", "RESERVED: dict[str, frozenset[str]] = {"]
    for name, words in reserved.items():
        lines.append(f"    # {SOURCES[name]}")
        lines.append(f'    "{name}": frozenset(')
        lines += _set_lines(words, " " * 8)
        lines.append("    ),")
    lines += ["}", "", "NILADIC: frozenset[str] = frozenset(", "    {"]
    for word in sorted(NILADIC):
        entry = f'        "{word}",  # {NILADIC[word]}'
        assert len(entry) <= 100, entry
        lines.append(entry)
    lines += ["    }", ")", ""]
    lines += [
        "",
        "def reserved_in(word: str) -> list[str]:",
        '    """Sorted dialect names (with "ansi") where word, in any case, is reserved."""',
        "    w = word.lower()",
        "    return sorted(name for name, words in RESERVED.items() if w in words)",
        "",
        "",
        "def is_niladic(word: str) -> bool:",
        '    """Whether some engine reads the bare word (any case) as a value, not a column."""',
        "    return word.lower() in NILADIC",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    reserved = collect()
    cross_check(reserved)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(reserved))
    sizes = ", ".join(f"{name} {len(words)}" for name, words in reserved.items())
    print(f"wrote {TARGET.relative_to(ROOT)}: {sizes}; niladic {len(NILADIC)}")


if __name__ == "__main__":
    main()
