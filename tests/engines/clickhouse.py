"""ClickHouse engine: embedded ``chdb`` (no server process).

Start-up (``ClickHouseEngine()``, well under a second):

* A ``chdb.session.Session`` is opened. chdb runs ONE embedded server per process, bound to
  the path of the first connection: a session on a temp-dir path would make every other chdb
  use in the same process (``chdb.query(...)``, other sessions) fail with "EmbeddedServer
  already initialized with path ...". So by default the session is in-memory (``:memory:``,
  the path ``chdb.query`` uses too) and isolation comes from a private database
  ``semseg_<pid>_<random>`` that is made current with ``USE`` and dropped by ``close()``.
  Pass ``path=...`` to use an on-disk session instead (then nothing else in the process may
  use chdb with another path).
* The session settings in :data:`SETTINGS` are applied with ``SET`` (they are per session;
  other chdb connections in the process are not affected).

Tables are created with ``ENGINE = Memory``, ``Nullable(T)`` for nullable columns, and filled
with ``INSERT ... SELECT ... FROM file('<tmp>.parquet', Parquet)`` from a Parquet file written
by DuckDB (typed, no text escaping). Types: VARCHAR -> String, integers -> Int16/Int32/Int64,
FLOAT -> Float32, DOUBLE -> Float64, DECIMAL(p,s) -> Decimal(p,s),
DATE -> Date32 (1900..2299, Date only covers 1970..2149), TIMESTAMP -> DateTime64(6) (UTC),
BOOLEAN -> Bool.

Results are fetched as Arrow (``'ArrowTable'`` output format), never parsed from text;
``DateTime64`` values come back as naive datetimes (UTC wall clock), like DuckDB TIMESTAMP.

Known differences that no setting removes (compiled SQL must handle them, sqlglot mostly does):
``1/0`` is ``inf`` and ``0/0`` is ``nan`` (DuckDB: the same), ``/`` on integers is float
division (like DuckDB, unlike PostgreSQL/SQLite), ``intDiv`` truncates toward zero,
string comparison is byte-wise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from typing import TYPE_CHECKING, Any

from . import Column, EngineUnavailable, describe_table, quote_ident, split_statements

if TYPE_CHECKING:
    import duckdb

# Session settings of the test engine.
SETTINGS: dict[str, str] = {
    # None of the settings the compiled SQL relies on is set here: the SQL carries them itself
    # (semseg.compile.dialects.CLICKHOUSE_SETTINGS), as it must on a real server. These only
    # shape how the tests load and read tables.
    # Columns in CREATE TABLE are nullable unless NOT NULL, as in SQL (default: not nullable).
    "data_type_default_nullable": "1",
    # CREATE TABLE x AS SELECT ... without ENGINE (what sqlglot emits) gets a Memory table
    # (default MergeTree: needs ORDER BY/primary key decisions, slower for tiny tables).
    "default_table_engine": "'Memory'",
    # Deterministic DateTime handling regardless of the machine's time zone.
    "session_timezone": "'UTC'",
    # Arrow output: String columns as Arrow strings (not binary). Default already, kept explicit.
    "output_format_arrow_string_as_string": "1",
}

_TYPES = {
    "VARCHAR": "String",
    "SMALLINT": "Int16",
    "INTEGER": "Int32",
    "BIGINT": "Int64",
    "FLOAT": "Float32",
    "DOUBLE": "Float64",
    "DATE": "Date32",
    "TIMESTAMP": "DateTime64(6)",
    "BOOLEAN": "Bool",
}


def _ch_type(col: Column) -> str:
    if col.type == "DECIMAL":
        return f"Decimal({col.precision}, {col.scale})"
    return _TYPES[col.type]


def _sql_string(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class ClickHouseEngine:
    name = "clickhouse"

    def __init__(self, path: str | None = None) -> None:
        try:
            import chdb.session
        except ImportError as exc:
            raise EngineUnavailable(
                f"ClickHouse: chdb not importable ({exc}); pip install -e '.[engines]'"
            ) from None
        try:
            import pyarrow  # noqa: F401  (ArrowTable output needs it)
        except ImportError as exc:
            raise EngineUnavailable(f"ClickHouse: pyarrow not importable ({exc})") from None
        self._closed = False
        self.tmp = tempfile.mkdtemp(prefix="semseg-chdb-")
        self.database = f"semseg_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        try:
            self.session = chdb.session.Session(path)
        except Exception as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise EngineUnavailable(f"ClickHouse: chdb session failed to open: {exc}") from exc
        try:
            for key, value in SETTINGS.items():
                self.session.query(f"SET {key} = {value}")
            self.session.query(f"CREATE DATABASE {quote_ident(self.database)} ENGINE = Atomic")
            self.session.query(f"USE {quote_ident(self.database)}")
        except BaseException:
            self.close()
            raise

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        for table in tables:
            cols = describe_table(src, table)
            qt = quote_ident(table)
            # Cast DECIMAL columns explicitly: DuckDB writes HUGEINT/UBIGINT (canonical
            # DECIMAL(38,0)) to Parquet as DOUBLE otherwise.
            select = ", ".join(
                f"CAST({quote_ident(c.name)} AS DECIMAL({c.precision},{c.scale})) "
                f"AS {quote_ident(c.name)}"
                if c.type == "DECIMAL"
                else quote_ident(c.name)
                for c in cols
            )
            pq = os.path.join(self.tmp, f"{uuid.uuid4().hex}.parquet")
            duck_path = "'" + pq.replace("'", "''") + "'"
            src.execute(f"COPY (SELECT {select} FROM {qt}) TO {duck_path} (FORMAT parquet)")
            try:
                col_defs = ", ".join(
                    f"{quote_ident(c.name)} "
                    + (f"Nullable({_ch_type(c)})" if c.nullable else f"{_ch_type(c)} NOT NULL")
                    for c in cols
                )
                casts = ", ".join(
                    f"CAST({quote_ident(c.name)} AS "
                    + (f"Nullable({_ch_type(c)}))" if c.nullable else f"{_ch_type(c)})")
                    for c in cols
                )
                self.session.query(f"DROP TABLE IF EXISTS {qt} SYNC")
                self.session.query(f"CREATE TABLE {qt} ({col_defs}) ENGINE = Memory")
                self.session.query(
                    f"INSERT INTO {qt} SELECT {casts} FROM file({_sql_string(pq)}, Parquet)"
                )
            finally:
                with contextlib.suppress(OSError):
                    os.remove(pq)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        import pyarrow as pa

        table = self.session.query(sql, "ArrowTable")
        cols = list(table.column_names)
        data = []
        for i in range(len(cols)):
            col = table.column(i)
            if pa.types.is_timestamp(col.type) and col.type.tz is not None:
                # DateTime64 arrives tagged with the session zone (UTC); Arrow stores UTC
                # instants, so dropping the zone yields the naive UTC wall clock.
                col = col.cast(pa.timestamp(col.type.unit))
            data.append(col.to_pylist())
        return cols, list(zip(*data, strict=True))

    def execute(self, sql: str) -> None:
        for stmt in split_statements(sql, "clickhouse"):
            self.session.query(stmt)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        session = getattr(self, "session", None)
        if session is not None:
            with contextlib.suppress(Exception):
                session.query(f"DROP DATABASE IF EXISTS {quote_ident(self.database)} SYNC")
            with contextlib.suppress(Exception):
                session.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
