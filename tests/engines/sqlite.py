"""SQLite engine: stdlib ``sqlite3``, in-memory database.

Type mapping (SQLite has type affinities, not types):

* VARCHAR -> TEXT; integers -> INTEGER; FLOAT/DOUBLE -> REAL
* DECIMAL(p,s) -> declared ``DECIMAL(p,s)`` (NUMERIC affinity); values are bound as float,
  so they come back as REAL (or INTEGER when integral): compare with a tolerance.
* DATE -> TEXT 'YYYY-MM-DD'; TIMESTAMP -> TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]' (the format of
  SQLite's date functions and of ``compare.normalise``)
* BOOLEAN -> INTEGER 0/1 (``compare`` treats True == 1)

Integers beyond 64 bits (from HUGEINT/UBIGINT) are stored as REAL.
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import Column, describe_table, fetch_rows, quote_ident

if TYPE_CHECKING:
    import duckdb

_TYPES = {
    "VARCHAR": "TEXT",
    "SMALLINT": "INTEGER",
    "INTEGER": "INTEGER",
    "BIGINT": "INTEGER",
    "FLOAT": "REAL",
    "DOUBLE": "REAL",
    # NUMERIC affinity; ISO date/time text is not a number literal, so it stays TEXT.
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "BOOLEAN": "BOOLEAN",
}


def _sql_type(col: Column) -> str:
    if col.type == "DECIMAL":
        return f"DECIMAL({col.precision},{col.scale})"
    return _TYPES[col.type]


def _to_sqlite(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and not -(2**63) <= v < 2**63:
        return float(v)
    return v


class SqliteEngine:
    name = "sqlite"

    def __init__(self, path: str = ":memory:") -> None:
        # isolation_level=None: autocommit, so DDL takes effect immediately. ``path``: a
        # database file, for a test that reaches it again by URL (``verify --engine``).
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # the portable hash's SEMSEG_MD5_32, as docs/spec.md asks of a user's own SQLite
        from semseg.engine import register_sqlite_functions

        register_sqlite_functions(self.conn)

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        for table in tables:
            cols = describe_table(src, table)
            qt = quote_ident(table)
            self.conn.execute(f"DROP TABLE IF EXISTS {qt}")
            col_defs = ", ".join(
                f"{quote_ident(c.name)} {_sql_type(c)}{'' if c.nullable else ' NOT NULL'}"
                for c in cols
            )
            self.conn.execute(f"CREATE TABLE {qt} ({col_defs})")
            rows = [tuple(_to_sqlite(v) for v in r) for r in fetch_rows(src, table)]
            if rows:  # one transaction: autocommit would sync a file database per row
                marks = ", ".join("?" for _ in cols)
                self.conn.execute("BEGIN")
                self.conn.executemany(f"INSERT INTO {qt} VALUES ({marks})", rows)
                self.conn.execute("COMMIT")

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cur = self.conn.execute(sql)
        try:
            cols = [d[0] for d in cur.description or ()]
            return cols, [tuple(r) for r in cur.fetchall()]
        finally:
            cur.close()

    def execute(self, sql: str) -> None:
        # executescript accepts one or several ';'-separated statements.
        self.conn.executescript(sql)

    def close(self) -> None:
        self.conn.close()
