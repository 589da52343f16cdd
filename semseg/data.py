"""The data service: a DuckDB connection in which every table of a spec resolves, and the
model run in it at most once per form. verify, the cluster fit and profile all use it.

User data is never written: folders are read through views, a DuckDB database file is opened
read-only, and everything semseg creates is TEMP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import sqlglot
from sqlglot import exp

from semseg.compile import compile_spec, for_target, model_tree, target_sql
from semseg.compile.dialects import TARGETS, Target
from semseg.compile.plan import event_date
from semseg.compile.portable import key_hash
from semseg.engine import Connection
from semseg.errors import DataError, Issue, UsageError
from semseg.sample import DATASETS, table_paths
from semseg.spec import SpecFile, keyhash
from semseg.spec.model import Spec
from semseg.spec.time import as_of_problem, time_sources, uses_time, zoned_sources
from semseg.spec.validate.snippets import joins_at, snippet_places
from semseg.sql import (
    CANONICAL,
    SnippetProblem,
    column_names,
    ident,
    literal,
    name_sql,
    parse_snippet,
    snippet_sql,
    sql_literal,
    table_sql,
)
from semseg.sql import table as table_node

EXTENSIONS = (".parquet", ".csv", ".csv.gz", ".tsv")
MODEL_TABLE = "semseg_result"  # the model's result (TEMP), as verify's checks read it
METRICS_TABLE = "semseg_metrics"  # the model without cluster segmentations (no fitted model)
CLUSTER_TABLE = "semseg_cluster_labels"  # the metrics and one cluster segmentation


@dataclass(frozen=True)
class DataSource:
    """Where the tables came from, for the report."""

    description: str
    tables: dict[str, str]


def spec_tables(spec_file: SpecFile) -> dict[str, tuple]:
    """Table name → YAML path of the ``table:`` key that names it."""
    out: dict[str, tuple] = {}
    for at, table in spec_file.spec.tables():
        out.setdefault(table, at)
    return out


def _reader(path: Path) -> str:
    """The DuckDB table function reading ``path``; the path is a string literal node."""
    quoted = literal(str(path)).sql(CANONICAL)
    name = path.name.lower()
    if name.endswith(".parquet"):
        return f"read_parquet({quoted})"
    return f"read_csv({quoted}, auto_detect = true, header = true)"


def _open_database(path: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB database file, read-only; one clear error per way it can fail."""
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as err:
        text = str(err)
        if "lock" in text.lower():
            raise DataError(
                f"{path}: the database is locked by another process (a writer has it open); "
                "close it, or copy the file and pass the copy"
            ) from None
        raise DataError(
            f"{path}: not a DuckDB database ({text.splitlines()[0]}) — --data takes a folder "
            "of CSV/Parquet files or a DuckDB database file; for one CSV or Parquet file use "
            "--table NAME=FILE"
        ) from None


def _view(con: duckdb.DuckDBPyConnection, table: str, path: Path, in_memory: bool) -> None:
    try:
        _create_view(con, table, path, in_memory)
    except duckdb.Error as err:
        kind = "Parquet" if path.name.lower().endswith(".parquet") else "CSV"
        raise DataError(
            f"{path}: cannot be read as {kind} for table '{table}': "
            f"{str(err).splitlines()[0]} — check that the file is complete and, for CSV, "
            "UTF-8 text with a header line"
        ) from None


def _create_view(con: duckdb.DuckDBPyConnection, table: str, path: Path, in_memory: bool) -> None:
    """Make ``table`` (as the spec names it, qualified or not) read the file at ``path``.

    On semseg's own in-memory database a qualified name gets its schema (and catalog) there;
    on a user's DuckDB file, opened read-only, only an unqualified TEMP view can be added.
    """
    node = table_node(table)
    if node.db and not in_memory:
        raise DataError(
            f"--table {table}=...: a schema-qualified table cannot be replaced in a DuckDB "
            "database file (opened read-only); pass the file's tables with --data only, or "
            "give every table with --table"
        )
    if node.catalog:
        attached = {
            r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        if node.catalog not in attached:
            con.execute(f"ATTACH ':memory:' AS {name_sql(node.catalog)}")
    if node.db:
        schema = exp.Table(this=node.args["db"], db=node.args.get("catalog"))
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema.sql(CANONICAL)}")
        con.execute(f"CREATE VIEW {node.sql(CANONICAL)} AS SELECT * FROM {_reader(path)}")
    else:
        con.execute(f"CREATE TEMP VIEW {node.sql(CANONICAL)} AS SELECT * FROM {_reader(path)}")


def _find_file(folder: Path, table: str) -> Path | None:
    for stem in (table, table.split(".")[-1]):
        for ext in EXTENSIONS:
            candidate = folder / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
    return None


def bundled_dataset_for(tables: list[str]) -> str | None:
    """The bundled sample dataset that has every table, if any."""
    for name in DATASETS:
        if all(t.split(".")[-1] in table_paths(name) for t in tables):
            return name
    return None


def connect(
    spec_file: SpecFile, data: Path | None = None, tables: dict[str, Path] | None = None
) -> tuple[duckdb.DuckDBPyConnection, DataSource]:
    """Open DuckDB with every spec table resolvable; ``DataError`` names the spec line if not."""
    needed = spec_tables(spec_file)
    tables = dict(tables or {})
    marks = spec_file.marks
    if data is not None and not data.exists():
        raise DataError(
            f"{data}: no such file or folder (--data takes a folder of CSV/Parquet "
            "files or a DuckDB database file)"
        )
    unknown = sorted(set(tables) - set(needed))
    if unknown:
        raise UsageError(
            f"--table {unknown[0]}: {spec_file.spec.name} reads no table of that name; "
            f"its tables are: {', '.join(needed)}"
        )
    in_memory = data is None or not data.is_file()
    if data is not None and data.is_file() and data.name.lower().endswith(EXTENSIONS):
        raise UsageError(
            f"--data {data}: a single data file; --data takes a folder of CSV/Parquet files or "
            "a DuckDB database file — pass the file as --table NAME=FILE"
        )
    if not in_memory:
        con = _open_database(Path(str(data)))
        description = f"DuckDB database {data} (read-only)"
    else:
        con = duckdb.connect()
        description = f"folder {data}" if data is not None else ""
    resolved: dict[str, str] = {}
    problems: list[Issue] = []
    if data is None and not tables:
        dataset = bundled_dataset_for(list(needed))
        if dataset is None:
            raise DataError(
                "no bundled sample dataset has all of this spec's tables "
                f"({', '.join(needed)}); pass --data or --table name=path"
            )
        tables = {t: table_paths(dataset)[t.split(".")[-1]] for t in needed}
        description = f"bundled sample dataset '{dataset}'"
    for table, path in sorted(tables.items()):
        if not Path(path).is_file():
            raise DataError(f"--table {table}={path}: no such file")
        _view(con, table, Path(path), in_memory)
        resolved[table] = str(path)
    if data is not None and data.is_dir():
        for table in needed:
            if table in resolved:
                continue
            found = _find_file(data, table)
            if found is not None:
                _view(con, table, found, in_memory)
                resolved[table] = str(found)
    for table, yaml_path in needed.items():
        if table not in resolved and not _exists(con, table):
            where = f"in {data}" if data is not None else "among the --table options"
            problems.append(
                marks.issue(
                    yaml_path,
                    f"table '{table}' not found {where}",
                    f"provide {table}.parquet or {table}.csv, or --table {table}=PATH",
                )
            )
        elif table not in resolved:
            resolved[table] = f"{data}"
    if problems:
        raise DataError("\n".join(i.format() for i in problems))
    _check_columns(con, spec_file, problems)
    if problems:
        raise DataError("\n".join(i.format() for i in sorted(problems)))
    return con, DataSource(description or "tables given with --table", resolved)


def keyed_tables(spec: Spec) -> dict[str, tuple[tuple, str]]:
    """Tables keyed by the entity (populations and sources): table -> (the YAML path of its
    ``table:``, its key column). With ``--sample`` these are read for the sampled keys only;
    dimension tables (joins) whole."""
    out: dict[str, tuple[tuple, str]] = {}
    for at, pop in spec.populations:
        out.setdefault(pop.table, ((*at, "table"), pop.key or spec.entity.key))
    for name, src in spec.sources.items():
        out.setdefault(src.table, (("sources", name, "table"), src.key or spec.entity.key))
    return out


_HASHABLE = (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
    "UINTEGER", "UBIGINT", "VARCHAR",
)  # fmt: skip


def connect_engine(
    spec_file: SpecFile, engine: Connection, sample: float | None = None, rows: bool = True
) -> tuple[duckdb.DuckDBPyConnection, DataSource]:
    """DuckDB holding a copy of every spec table read from ``engine`` (through Arrow), each
    column cast to the DuckDB type of its declared type on the engine (SQLite hands dates
    over as text): the data the proofs recompute from, the same rows the engine's model
    reads. ``sample``: the tables keyed by the entity are read for the keys the portable hash
    puts in a sample of that fraction (``keyhash``), computed on the engine. ``rows=False``:
    the tables' columns only (no row leaves the engine: the model runs there, ``Session``).
    ``DataError`` names the spec line of a table the engine does not have."""
    needed = spec_tables(spec_file)
    keyed = keyed_tables(spec_file.spec) if sample is not None else {}
    con = duckdb.connect()
    problems: list[Issue] = []
    resolved: dict[str, str] = {}
    for table, yaml_path in needed.items():
        columns = engine.columns(table)
        if columns is None:
            problems.append(
                spec_file.marks.issue(
                    yaml_path,
                    f"table '{table}' not found on {engine.description}",
                    "check the name (and schema) as the engine spells it, and that the "
                    "URL's user may read it",
                )
            )
            continue
        key = keyed[table][1] if table in keyed else None
        kind = dict((n.lower(), k) for n, k in columns).get(key.lower()) if key else None
        if key is not None and kind is not None and not kind.upper().startswith(_HASHABLE):
            problems.append(
                spec_file.marks.issue(
                    keyed[table][0],
                    f"--sample picks keys by their hash, and key column '{key}' of table "
                    f"'{table}' is {kind}: an integer or text key has one text on every "
                    "engine, other types do not",
                    "cast the key to an integer or text upstream, or verify without --sample",
                )
            )
            continue
        try:
            _pull(con, engine, table, columns, key, sample, rows)
        except duckdb.Error as err:
            con.close()
            raise DataError(
                f"table '{table}' from {engine.description} could not be read into DuckDB: "
                f"{str(err).splitlines()[0]}"
            ) from None
        resolved[table] = engine.description
    if problems:
        con.close()
        raise DataError("\n".join(i.format() for i in problems))
    _check_columns(con, spec_file, problems)
    if problems:
        con.close()
        raise DataError("\n".join(i.format() for i in sorted(problems)))
    return con, DataSource(f"engine {engine.description}", resolved)


def sampled(key: exp.Expression, fraction: float) -> exp.Expression:
    """``key`` is in the sample of ``fraction`` (the portable hash, ``keyhash``)."""
    below = exp.Literal.number(keyhash.threshold(fraction))
    return exp.LT(this=key_hash(keyhash.SAMPLE_SALT, key), expression=below)


def _pull(
    con: duckdb.DuckDBPyConnection,
    engine: Connection,
    table: str,
    columns: list[tuple[str, str | None]],
    key: str | None = None,
    sample: float | None = None,
    rows: bool = True,
) -> None:
    """Copy ``table`` from the engine into DuckDB under the same (qualified) name (only the
    rows of sampled keys, with ``key`` and ``sample``; none, without ``rows``)."""
    node = table_node(table)
    query = exp.select(*(exp.column(ident(name)) for name, _ in columns)).from_(node.copy())
    if not rows:
        query = query.where(exp.EQ(this=exp.Literal.number(1), expression=exp.Literal.number(0)))
    elif key is not None and sample is not None:
        query = query.where(sampled(exp.column(ident(key)), sample))
    from_engine = engine.arrow(target_sql(query, TARGETS[engine.dialect], pretty=False))
    if node.db:
        schema = exp.Table(this=node.args["db"], db=node.args.get("catalog"))
        if node.catalog:
            con.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {name_sql(node.catalog)}")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema.sql(CANONICAL)}")
    con.register("semseg__pulled", from_engine)
    try:
        casts = ", ".join(
            f"CAST({name_sql(got)} AS {kind}) AS {name_sql(name)}"
            if kind
            else f"{name_sql(got)} AS {name_sql(name)}"
            for (name, kind), got in zip(columns, from_engine.column_names, strict=True)
        )
        con.execute(f"CREATE TABLE {node.sql(CANONICAL)} AS SELECT {casts} FROM semseg__pulled")
    finally:
        con.unregister("semseg__pulled")


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        con.execute(f"SELECT * FROM {table_sql(table)} LIMIT 0")
        return True
    except duckdb.Error:
        return False


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    cur = con.execute(f"SELECT * FROM {table_sql(table)} LIMIT 0")
    return {d[0].lower() for d in cur.description}


def _column_type(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    rows = con.execute(f"DESCRIBE SELECT {name_sql(column)} FROM {table_sql(table)}").fetchall()
    return str(rows[0][1]).upper() if rows else "unknown"


_NUMBERS = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "VARINT", "BIGNUM",
}  # fmt: skip


def type_family(kind: str) -> str:
    """What a DuckDB column type compares as: 'number', 'text', 'date' (DATE and the
    TIMESTAMPs), 'boolean', or the type itself. Values of two families never meet in a join
    the way a user means: '03' = 3 and '1.0' = 1 are casts, not keys."""
    kind = kind.upper()
    if kind in _NUMBERS or kind.startswith("DECIMAL"):
        return "number"
    if kind.startswith(("VARCHAR", "CHAR", "BPCHAR", "TEXT", "STRING")):
        return "text"
    if kind == "DATE" or kind.startswith("TIMESTAMP"):
        return "date"
    return "boolean" if kind == "BOOLEAN" else kind


def _value_family(value: object) -> str:
    """The family of a spec value (a join's ``missing`` value)."""
    if isinstance(value, bool):
        return "boolean"
    return "number" if isinstance(value, int | float) else "text"


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """A header-only CSV reads every column as VARCHAR: its types say nothing."""
    return con.execute(f"SELECT 1 FROM {table_sql(table)} LIMIT 1").fetchone() is not None


def _check_types(
    con: duckdb.DuckDBPyConnection,
    spec_file: SpecFile,
    problems: list[Issue],
    columns_of: Callable[[str], set[str]],
) -> None:
    """Columns compared with each other, or filled with a spec value, are of one family
    (issue 23, items 9, 25, 26): every table's entity key, each join's two keys, and a
    join's ``missing`` values and the dimension columns they fill."""
    spec = spec_file.spec
    typed: dict[str, bool] = {}

    def family(table: str, column: str) -> str | None:
        """The column's family, None when it cannot say (no column, or no rows)."""
        if table not in typed:
            typed[table] = _has_rows(con, table)
        if not typed[table] or column.lower() not in columns_of(table):
            return None
        return type_family(_column_type(con, table, column))

    keys = [(at, pop.table, pop.key or spec.entity.key) for at, pop in spec.populations]
    keys += [
        (("sources", n), src.table, src.key or spec.entity.key) for n, src in spec.sources.items()
    ]
    first: tuple[str, str, str] | None = None
    for at, table, key in keys:
        kind = family(table, key)
        if kind is None:
            continue
        if first is None:
            first = (kind, table, key)
        elif kind != first[0]:
            problems.append(
                spec_file.marks.issue(
                    (*at, "table"),
                    f"key column '{key}' of table '{table}' is {kind}, and '{first[2]}' of "
                    f"table '{first[1]}' is {first[0]}: one customer would be two keys "
                    "(3 and '03'), or two customers one",
                    f"give every table's {spec.entity.name} key one type (cast it upstream, "
                    "or read the table through a view that does)",
                )
            )
    for name, src in spec.sources.items():
        for j, join in src.joins.items():
            at = ("sources", name, "joins", j)
            on = join.on or join.key
            theirs, ours = family(join.table, join.key), family(src.table, on)
            if theirs and ours and theirs != ours:
                problems.append(
                    spec_file.marks.issue(
                        (*at, "on") if join.on else (*at, "key"),
                        f"join '{j}': '{on}' of table '{src.table}' is {ours}, and "
                        f"'{join.key}' of table '{join.table}' is {theirs}: the engine would "
                        "cast one to the other ('01' and '1.0' both match 1)",
                        "give both keys one type upstream (or through a view)",
                    )
                )
            for col, value in join.missing.items():
                kind = family(join.table, col)
                if (
                    kind
                    and kind != _value_family(value)
                    and not (kind == "date" and isinstance(value, str))
                ):
                    problems.append(
                        spec_file.marks.issue(
                            (*at, "missing", col),
                            f"join '{j}': the missing value {value!r} for '{col}' is "
                            f"{_value_family(value)}, and the column is {kind} in table "
                            f"'{join.table}'",
                            f"write a {kind} value"
                            + (f" (quote it: {col}: '{value}')" if kind == "text" else ""),
                        )
                    )


def _time_of(spec: Spec, owner: tuple) -> str | None:
    """The time column of a source or a population (``owner``: its YAML path), if any."""
    if owner[0] == "sources":
        return spec.sources[owner[1]].time
    if owner[0] == "population":
        return dict(spec.populations)[owner].time
    return None


def _check_columns(
    con: duckdb.DuckDBPyConnection, spec_file: SpecFile, problems: list[Issue]
) -> None:
    """Every column a snippet uses exists in the table that snippet reads."""
    spec = spec_file.spec
    table_of: dict[tuple, tuple[str, str]] = {}
    for at, pop in spec.populations:
        table_of[at] = (pop.table, pop.key or spec.entity.key)
    for name, src in spec.sources.items():
        table_of[("sources", name)] = (src.table, src.key or spec.entity.key)
    for name, m in spec.metrics.items():
        if m.source:
            table_of[("metrics", name)] = table_of[("sources", m.source)]
    cache: dict[str, set[str]] = {}

    def columns_of(table: str) -> set[str]:  # one look per table, however many read it
        if table not in cache:
            cache[table] = _columns(con, table)
        return cache[table]

    def check(path: tuple, what: str, name: str, table: str) -> None:
        """``name`` (lower-cased unless quoted) must be a column of ``table``; ``what`` says
        which, in the message."""
        if name not in columns_of(table):
            problems.append(
                spec_file.marks.issue(
                    path,
                    f"{what} not found in table '{table}'",
                    f"columns are: {', '.join(sorted(columns_of(table)))}",
                )
            )

    for owner, (table, key) in table_of.items():
        if owner[0] != "metrics":
            check((*owner, "table"), f"key column '{key}'", key.lower(), table)
        time = _time_of(spec, owner)
        label = "event time column" if owner[0] == "sources" else "time column"
        if time:
            check((*owner, "time"), f"{label} '{time}'", time.lower(), table)
        kind = _column_type(con, table, time) if time and time.lower() in columns_of(table) else ""
        if kind and not (kind == "DATE" or kind.startswith("TIMESTAMP")):
            problems.append(  # issue 23, item 22: an epoch integer gave a Conversion Error
                spec_file.marks.issue(
                    (*owner, "time"),
                    f"{label} '{time}' is {kind} in table '{table}': it needs DATE or TIMESTAMP",
                    "convert it upstream (an epoch in seconds: to_timestamp(column)), or read "
                    "the table through a view that does",
                )
            )
        elif kind == "TIMESTAMP WITH TIME ZONE" and (
            owner[0] != "sources" or owner[1] not in zoned_sources(spec)
        ):
            problems.append(  # item 8: dated in the machine's zone, different on each machine
                spec_file.marks.issue(
                    (*owner, "time"),
                    f"'{time}' is a TIMESTAMP WITH TIME ZONE in table '{table}', whose date "
                    "depends on the session's time zone, so on the machine that runs it",
                    "cast it to a TIMESTAMP of UTC times upstream (and set time_zone: to date "
                    "events in a zone other than UTC)",
                )
            )
        elif (
            kind
            and owner[0] == "sources"
            and owner[1] in zoned_sources(spec)
            and kind != "TIMESTAMP"
        ):
            problems.append(
                spec_file.marks.issue(
                    (*owner, "time"),
                    f"'{time}' is {kind} in table '{table}', and a time zone applies to a "
                    "TIMESTAMP of UTC times only",
                    "remove the time_zone for a DATE column; convert a TIMESTAMP WITH TIME "
                    "ZONE to a UTC TIMESTAMP upstream",
                )
            )
    for name, src in spec.sources.items():  # each join's columns on both sides
        for j, join in src.joins.items():
            at = ("sources", name, "joins", j)
            on, where = join.on or join.key, (*at, "on") if join.on else (*at, "key")
            check((*at, "key"), f"join '{j}': column '{join.key}'", join.key.lower(), join.table)
            check(where, f"join '{j}': column '{on}'", on.lower(), src.table)
            for col in join.missing:  # item 19: a misspelt column was ignored
                check(
                    (*at, "missing", col), f"join '{j}': missing: '{col}'", col.lower(), join.table
                )
    for path, text, _ in snippet_places(spec):
        owner = tuple(path[:-1]) if path[0] == "population" else tuple(path[:2])
        if owner not in table_of:
            continue  # derived metrics and rules use metric names, checked at load time
        own_table, _ = table_of[owner]
        tree = parse_snippet(text, spec.dialect)
        if isinstance(tree, SnippetProblem):
            continue
        joins = joins_at(spec, path)
        for node in tree.find_all(exp.Column):
            col = column_names(node)[0]
            if node.table in joins:
                check(path, f"column '{node.table}.{col}'", col, joins[node.table].table)
            else:
                check(path, f"column '{col}'", col, own_table)
    _check_types(con, spec_file, problems, columns_of)


@dataclass
class Session:
    """The spec's tables in one DuckDB connection, and the model's result as TEMP tables.

    ``model()`` runs the compiled model once and returns the table holding its result; every
    later caller (checks, the cluster agreement, profile's index, text and projection queries)
    reads that table instead of running the model again.
    """

    spec_file: SpecFile
    con: duckdb.DuckDBPyConnection
    source: DataSource
    made: dict[str, str] = field(default_factory=dict)
    as_of_note: str = ""  # where the as-of date came from ('' without event time)
    engine: Connection | None = None  # the model runs there (``--engine``), else here
    sample: float | None = None  # with engine: only the model's rows of the sampled keys

    def model(self, clusters: bool = True) -> str:
        """The table holding the model (``clusters=False``: without cluster segmentations)."""
        table = MODEL_TABLE if clusters else METRICS_TABLE
        if table not in self.made:
            segmentations = self.spec_file.spec.segmentations
            kept = {n: s for n, s in segmentations.items() if clusters or s.kind != "cluster"}
            self.run(self._with(kept), table)
        return table

    def cluster_labels(self, segmentation: str) -> str:
        """The table holding the metrics and one cluster segmentation, from its model file as
        it is now (run again on every call: ``semseg cluster`` has just written that file, and
        the spec's other cluster segmentations may not have a model yet)."""
        kept = {segmentation: self.spec_file.spec.segmentations[segmentation]}
        return self.run(self._with(kept), CLUSTER_TABLE)

    def rows(self, build: Callable[[Target], exp.Expression]) -> list[tuple[Any, ...]]:
        """The rows of a query over the spec's tables, built for where it runs (DuckDB here,
        or the engine's dialect) and leaving through ``target_sql``: measure's aggregates,
        the transition matrix. Only the query's rows come back from an engine."""
        if self.engine is None:
            target = TARGETS["duckdb"]
            return self.con.execute(target_sql(build(target), target)).fetchall()
        target = TARGETS[self.engine.dialect]
        table = self.engine.arrow(target_sql(build(target), target))
        return [tuple(r.values()) for r in table.to_pylist()]

    def run(self, spec_file: SpecFile, table: str) -> str:
        """Run the model of ``spec_file`` here (DuckDB), or on the engine: compiled for its
        dialect, only the rows of the sampled keys leaving it with ``sample`` (the filter is
        the engine's own SQL, ``sampled``), read in the types the DuckDB model has."""
        local = compile_spec(spec_file, "duckdb")
        if self.engine is None:
            return self.load(local, table)
        tree = model_tree(spec_file.spec, TARGETS[self.engine.dialect], spec_path=spec_file.path)
        if self.sample is not None:
            key = exp.column(ident(spec_file.spec.entity.key), table="semseg__model")
            tree = (
                exp.select("*")
                .from_(exp.Subquery(this=tree, alias=exp.TableAlias(this=ident("semseg__model"))))
                .where(sampled(key, self.sample))
            )
        sql = target_sql(tree, TARGETS[self.engine.dialect])
        return self.load_result(self.engine.arrow(sql), local, table)

    def _with(self, segmentations: dict[str, Any]) -> SpecFile:
        """The spec with only these segmentations (its metrics need none of them)."""
        spec = self.spec_file.spec.model_copy(update={"segmentations": segmentations})
        return SpecFile(spec, self.spec_file.path, self.spec_file.marks)

    def load(self, sql: str, table: str = MODEL_TABLE, hand_written: bool = False) -> str:
        """Store the result of one DuckDB query (the model) as TEMP table ``table``.

        ``hand_written``: the query is user text (``verify --sql``): it must be one SELECT,
        never a statement that writes, attaches or copies.
        """
        if hand_written:
            _one_query(sql, self.spec_file)
        try:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}")
        except duckdb.Error as err:
            raise DataError(
                f"{self.spec_file.path}: the model query failed in DuckDB: "
                f"{str(err).splitlines()[0]}{self._empty_csv_hint()}"
            ) from None
        self.made[table] = sql
        return table

    def load_result(self, result: Any, local_sql: str | None, table: str = MODEL_TABLE) -> str:
        """Store a model's result computed elsewhere (an engine's, as Arrow) as TEMP table
        ``table``, each column cast to the type the same model has in DuckDB (``local_sql``,
        the model compiled for DuckDB: its DESCRIBE, not its run). An engine hands values
        over in its own types (SQLite a date as text, MySQL a sum as DECIMAL(65)); the proofs
        compare values, so they read one type. A value that does not cast is an error."""
        wanted: dict[str, tuple[str, str]] = {}  # lower-case name -> (name, type) in DuckDB
        if local_sql is not None:
            described = self.con.execute(f"DESCRIBE {local_sql}").fetchall()
            wanted = {str(r[0]).lower(): (str(r[0]), str(r[1])) for r in described}
        self.con.register("semseg__engine_result", result)
        try:
            columns = ", ".join(
                f"CAST({name_sql(name)} AS {wanted[name.lower()][1]}) AS "
                f"{name_sql(wanted[name.lower()][0])}"
                if name.lower() in wanted
                else name_sql(name)
                for name in result.column_names
            )
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {columns} "
                "FROM semseg__engine_result"
            )
        except duckdb.Error as err:
            raise DataError(
                f"{self.spec_file.path}: the engine's result does not read as the model's "
                f"types: {str(err).splitlines()[0]}"
            ) from None
        finally:
            self.con.unregister("semseg__engine_result")
        self.made[table] = local_sql or ""
        return table

    def _empty_csv_hint(self) -> str:
        """Why a query over CSV input may fail: a header-only CSV has no types to detect."""
        empty = []
        for name, path in self.source.tables.items():
            if not path.lower().endswith((".csv", ".csv.gz", ".tsv")):
                continue
            try:
                rows = self.con.execute(f"SELECT COUNT(*) FROM {table_sql(name)}").fetchone()
            except duckdb.Error:
                continue
            if rows is not None and rows[0] == 0:
                empty.append(f"{name} ({path})")
        if not empty:
            return ""
        return (
            f" — {', '.join(empty)} has a header and no rows, so DuckDB reads every column "
            "as text; give it data rows, or pass it as Parquet with its types"
        )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


FOUND = "semseg__found"  # a dimension row's marker in ``source_rows``


def source_rows(spec: Spec, source: str) -> str:
    """A source's table as DuckDB reads it here (verify, the as-of date): the table itself, or,
    with joins, every column of the table plus one STRUCT column per join, named like the
    join, so that a snippet's ``product.department`` is DuckDB's field access on it. An event
    without a dimension row keeps its row; the struct then holds the join's ``missing`` values.
    Written apart from the compiler, which selects each dimension column under its own name."""
    src = spec.sources[source]
    if not src.joins:
        return table_sql(src.table)
    own = "semseg__event"
    columns, joins = [f"{own}.*"], []
    for j, join in src.joins.items():
        alias = name_sql(j)
        found = f"(SELECT *, TRUE AS {FOUND} FROM {table_sql(join.table)})"
        joins.append(
            f" LEFT JOIN {found} AS {alias} ON {own}.{name_sql(join.on or join.key)} = "
            f"{alias}.{name_sql(join.key)}"
        )
        if join.missing:
            filled = ", ".join(
                f"{name_sql(c)} := {sql_literal(v)}" for c, v in join.missing.items()
            )
            columns.append(
                f"CASE WHEN {alias}.{FOUND} THEN {alias} ELSE struct_update({alias}, {filled}) "
                f"END AS {alias}"
            )
        else:
            columns.append(f"{alias} AS {alias}")
    return (
        f"(SELECT {', '.join(columns)} FROM {table_sql(src.table)} AS {own}{''.join(joins)}) "
        f"AS {name_sql(source)}"
    )


def latest_event_date(con: duckdb.DuckDBPyConnection, spec_file: SpecFile) -> date | None:
    """The latest event date of every source with an event time (of the rows that count:
    a key, and its ``where``)."""
    spec = spec_file.spec
    parts = []
    duckdb_target = TARGETS["duckdb"]
    for name in time_sources(spec):
        src = spec.sources[name]
        where = f" WHERE {name_sql(src.key or spec.entity.key)} IS NOT NULL"
        where += f" AND ({snippet_sql(src.where, spec.dialect)})" if src.where else ""
        day = for_target(event_date(spec, name), duckdb_target).sql(CANONICAL)
        parts.append(f"SELECT MAX({day}) AS d FROM {source_rows(spec, name)}{where}")
    try:
        row = con.execute(f"SELECT MAX(d) FROM ({' UNION ALL '.join(parts)})").fetchone()
    except duckdb.Error as err:
        raise DataError(
            f"{spec_file.path}: cannot read the event dates: {str(err).splitlines()[0]} — "
            "'time:' must name a DATE or TIMESTAMP column"
        ) from None
    return row[0] if row else None


def resolve_as_of(
    spec_file: SpecFile,
    con: duckdb.DuckDBPyConnection,
    as_of: date | str | None = None,
    rows: str = "the data",
) -> tuple[SpecFile, str]:
    """The spec with a concrete as-of date for this data, and a sentence saying where it came
    from ('' when the model has no event time). ``as_of``: --as-of, over the spec's. ``rows``
    names the rows the latest date is of, in that sentence."""
    spec_file = spec_file.with_as_of(as_of)
    spec = spec_file.spec
    if not uses_time(spec):
        return spec_file, ""
    if isinstance(spec.as_of, date):
        how = "given with --as-of" if as_of is not None else "the spec's as_of"
        return spec_file, f"as of {spec.as_of.isoformat()} ({how})"
    if spec.as_of == "today":
        today = datetime.now(ZoneInfo(spec.time_zone)).date()
        return spec_file.with_as_of(today), f"as of {today.isoformat()} (today, {spec.time_zone})"
    latest = latest_event_date(con, spec_file)
    if latest is None:
        raise DataError(
            f"{spec_file.path}: the sources with an event time have no dated events, so there "
            "is no latest event date; pass --as-of YYYY-MM-DD"
        )
    if problem := as_of_problem(latest):
        raise DataError(
            f"{spec_file.path}: the latest event date in the data is {latest.isoformat()}, and "
            f"{problem}; pass --as-of YYYY-MM-DD (or filter the bad dates with the source's "
            "where)"
        )
    return (
        spec_file.with_as_of(latest),
        f"as of {latest.isoformat()} (the latest event date in {rows}; --as-of sets another)",
    )


def open_session(
    spec_file: SpecFile,
    data: Path | None = None,
    tables: dict[str, Path] | None = None,
    as_of: date | str | None = None,
    engine: Connection | None = None,
    sample: float | None = None,
    rows: bool = True,
) -> Session:
    """Connect (see ``connect``, or ``connect_engine`` for a copy of an engine's tables) and
    return the session that runs the model in it, with the spec's as-of date resolved for
    this data (``resolve_as_of``)."""
    if engine is not None and (data is not None or tables):
        raise UsageError("--engine reads the tables from the engine: leave out --data and --table")
    if sample is not None and engine is None:
        raise UsageError("--sample picks keys on an engine: give --engine URL too")
    if not rows and uses_time(spec_file.spec):
        wanted = spec_file.with_as_of(as_of).spec.as_of
        if not (isinstance(wanted, date) or wanted == "today"):
            raise UsageError(
                f"{spec_file.path}: with --engine the events stay on the engine, so the latest "
                "event date is not known here: pass --as-of YYYY-MM-DD (or set as_of: in the "
                "spec)"
            )
    if engine is not None:
        con, source = connect_engine(spec_file, engine, sample, rows)
    else:
        con, source = connect(spec_file, data, tables)
    try:
        which = "the sampled rows" if sample is not None else "the data"
        resolved, note = resolve_as_of(spec_file, con, as_of, which)
    except BaseException:
        con.close()
        raise
    return Session(resolved, con, source, as_of_note=note, engine=engine, sample=sample)


def _one_query(sql: str, spec_file: SpecFile) -> None:
    """Refuse anything but a single query (a hand-written model is user text, not a script)."""
    try:
        trees = [t for t in sqlglot.parse(sql, read="duckdb") if t is not None]
    except sqlglot.errors.SqlglotError as err:
        raise DataError(
            f"the --sql model does not parse as DuckDB SQL: {str(err).splitlines()[0]}"
        ) from None
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        what = f"{len(trees)} statements" if len(trees) != 1 else f"a {trees[0].key.upper()}"
        raise DataError(
            f"the --sql model must be one SELECT query, found {what} — remove everything "
            f"but the query that returns the columns of {spec_file.spec.name}"
        )
