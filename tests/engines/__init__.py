"""Test-support harness: run already-compiled SQL on real engines over the same input tables.

Every engine module exposes one class with the same small interface::

    engine.name               # sqlglot dialect: 'sqlite', 'postgres', 'spark', 'clickhouse'
    engine.load(src, tables)  # copy tables from a DuckDB connection (replaces same names)
    engine.query(sql)         # -> (column names, list of row tuples)
    engine.execute(sql)       # DDL / no result, e.g. CREATE TABLE x AS ...; ';'-scripts ok
    engine.close()

Results are engine-native Python values; compare them with :mod:`tests.engines.compare`
(``normalise`` / ``assert_same_rows``).

Constructors raise :class:`EngineUnavailable` when the engine cannot be used on this machine
(missing Python package, missing binary, failed start); the pytest fixtures in
``tests/conftest.py`` turn that into a skip, or a failure under ``SEMSEG_REQUIRE_ENGINES``.

Input tables: column names are kept exactly (identifiers are quoted when the tables are
created), NULLs are kept, '' stays ''. The DuckDB column types understood are listed in
:func:`canonical_type`; anything else raises ``NotImplementedError`` naming the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "Column",
    "Engine",
    "EngineUnavailable",
    "canonical_type",
    "describe_table",
    "fetch_rows",
    "quote_ident",
    "split_statements",
]


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (package, binary or service missing); message says why."""


class Engine(Protocol):
    name: str

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None: ...

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]: ...

    def execute(self, sql: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Column:
    """One input column. ``type`` is canonical (see :func:`canonical_type`)."""

    name: str
    type: str
    nullable: bool = True
    precision: int | None = None
    scale: int | None = None


# DuckDB type name -> canonical type. Narrower/unsigned integers widen to a signed type that
# holds every value; 128-bit / unsigned 64-bit integers become DECIMAL(38, 0) (values must
# fit in 38 digits: Spark's limit; ClickHouse's Int128 does not survive Arrow output).
_SIMPLE_TYPES = {
    "VARCHAR": "VARCHAR",
    "TEXT": "VARCHAR",
    "STRING": "VARCHAR",
    "CHAR": "VARCHAR",
    "BPCHAR": "VARCHAR",
    "TINYINT": "SMALLINT",
    "UTINYINT": "SMALLINT",
    "SMALLINT": "SMALLINT",
    "USMALLINT": "INTEGER",
    "INTEGER": "INTEGER",
    "UINTEGER": "BIGINT",
    "BIGINT": "BIGINT",
    "FLOAT": "FLOAT",
    "REAL": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "TIMESTAMP_S": "TIMESTAMP",
    "TIMESTAMP_MS": "TIMESTAMP",
    "TIMESTAMP_US": "TIMESTAMP",
    "TIMESTAMP_NS": "TIMESTAMP",
    "DATETIME": "TIMESTAMP",
    "BOOLEAN": "BOOLEAN",
    "BOOL": "BOOLEAN",
}

_DECIMAL_RE = re.compile(r"^(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def canonical_type(duckdb_type: str) -> tuple[str, int | None, int | None]:
    """Map a DuckDB type string to ``(canonical, precision, scale)``.

    Canonical types: VARCHAR, SMALLINT, INTEGER, BIGINT, FLOAT, DOUBLE, DECIMAL (with
    precision/scale; also HUGEINT/UBIGINT as DECIMAL(38,0)), DATE, TIMESTAMP (without time
    zone), BOOLEAN.
    Raises NotImplementedError for anything else (TIMESTAMPTZ, TIME, LIST, STRUCT, ...).
    """
    t = duckdb_type.strip().upper()
    if t in ("HUGEINT", "UBIGINT", "INT128"):
        return "DECIMAL", 38, 0
    m = _DECIMAL_RE.match(t)
    if m:
        return "DECIMAL", int(m.group(1)), int(m.group(2))
    if t in ("DECIMAL", "NUMERIC"):
        return "DECIMAL", 18, 3  # DuckDB's default
    base = re.sub(r"\s*\(.*\)$", "", t)  # VARCHAR(10) -> VARCHAR
    if base in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[base], None, None
    raise NotImplementedError(f"DuckDB type {duckdb_type!r} is not supported by the engine harness")


def quote_ident(name: str, quote: str = '"') -> str:
    """Quote an identifier, doubling embedded quote characters."""
    return quote + name.replace(quote, quote * 2) + quote


def describe_table(src: duckdb.DuckDBPyConnection, table: str) -> list[Column]:
    """Columns of ``table`` in ``src`` (name, canonical type, nullability)."""
    cols = []
    for row in src.execute(f"DESCRIBE {quote_ident(table)}").fetchall():
        name, dtype, null = row[0], row[1], row[2]
        try:
            ctype, precision, scale = canonical_type(dtype)
        except NotImplementedError as exc:
            raise NotImplementedError(f"{table}.{name}: {exc}") from None
        cols.append(Column(name, ctype, str(null).upper() != "NO", precision, scale))
    return cols


def fetch_rows(src: duckdb.DuckDBPyConnection, table: str) -> list[tuple[Any, ...]]:
    """All rows of ``table`` as Python values (Decimal, date, datetime, bool, int, float, str)."""
    return [tuple(r) for r in src.execute(f"SELECT * FROM {quote_ident(table)}").fetchall()]


def split_statements(sql: str, dialect: str) -> list[str]:
    """Split a script on ';' outside string literals and comments (sqlglot tokenizer)."""
    from sqlglot import Dialect
    from sqlglot.tokens import TokenType

    parts, start, has_tokens = [], 0, False
    for tok in Dialect.get_or_raise(dialect).tokenize(sql):
        if tok.token_type == TokenType.SEMICOLON:
            if has_tokens:
                parts.append(sql[start : tok.start].strip())
            start, has_tokens = tok.end + 1, False
        else:
            has_tokens = True
    if has_tokens:
        parts.append(sql[start:].strip())
    return parts
