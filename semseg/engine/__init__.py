"""The user's own engine, reached by URL: ``semseg verify --engine URL`` runs the model there.

One small interface over every way a warehouse is reached (``Connection``): the dialect whose
SQL it runs, a description with the password hidden, a query's result as an Arrow table, and
a table's columns with the DuckDB types they are read as. SQLAlchemy 2 parses the URL, loads
the warehouse's own DB-API driver (each an optional extra) and reflects column types the same
way on every dialect; queries go to the raw DB-API cursor (no parameter formatting, so a ``%``
in the SQL stays itself), and results are read as Arrow where the driver offers it. Three
engines with no SQLAlchemy dialect here have their own small adapters: DuckDB files, chDB (a
local ClickHouse, ``chdb:///path``) and Spark (``spark://local[2]``, or Spark Connect
``sc://host:15002``). docs/design.md says why SQLAlchemy; docs/engines/ has a page per
warehouse.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from semseg.errors import DataError, UsageError, printable
from semseg.spec import keyhash
from semseg.sql import table as table_node
from semseg.sql import table_sql

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Connection",
    "connect",
    "hide_password",
    "register_sqlite_functions",
]

# URL scheme (before any '+driver') -> semseg dialect; the driver SQLAlchemy loads by default
# where its own default is not the one semseg installs; the extra that installs the driver.
SCHEMES: dict[str, tuple[str, str | None, str]] = {
    "postgresql": ("postgres", "psycopg", "postgres"),
    "postgres": ("postgres", "psycopg", "postgres"),
    "mysql": ("mysql", "pymysql", "mysql"),
    "mariadb": ("mysql", "pymysql", "mysql"),
    "sqlite": ("sqlite", None, "engine"),
    "duckdb": ("duckdb", None, "engine"),
    "chdb": ("clickhouse", None, "clickhouse"),
    "clickhousedb": ("clickhouse", None, "clickhouse"),
    "spark": ("spark", None, "spark"),
    "sc": ("spark", None, "spark"),
    "databricks": ("databricks", None, "databricks"),
    "snowflake": ("snowflake", None, "snowflake"),
    "bigquery": ("bigquery", None, "bigquery"),
    "trino": ("trino", None, "trino"),
    "mssql": ("tsql", "pyodbc", "tsql"),
    "redshift": ("redshift", "redshift_connector", "redshift"),
}
# The Python module each driver needs, to say which extra to install when it is missing.
_MODULES = {
    "psycopg": "psycopg",
    "psycopg2": "psycopg2",
    "pymysql": "pymysql",
    "mysqldb": "MySQLdb",
    "pyodbc": "pyodbc",
    "redshift_connector": "redshift_connector",
}
_DIALECT_MODULES = {
    "snowflake": "snowflake.sqlalchemy",
    "bigquery": "sqlalchemy_bigquery",
    "databricks": "databricks.sqlalchemy",
    "trino": "trino.sqlalchemy",
    "clickhousedb": "clickhouse_connect",
    "redshift": "sqlalchemy_redshift",
}


class Connection(Protocol):
    dialect: str  # the semseg dialect (target) whose SQL the engine runs
    description: str  # the URL with its password hidden

    def arrow(self, sql: str) -> pa.Table:
        """The result of one query, as an Arrow table (column names as the engine gives)."""
        ...

    def columns(self, table: str) -> list[tuple[str, str | None]] | None:
        """(name, DuckDB type or None when unknown) of a table's columns; None: no table."""
        ...

    def close(self) -> None: ...


def _split(url: str) -> tuple[str, str | None]:
    """(scheme, driver) of ``url``; UsageError when it is not a URL semseg knows."""
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9]*)(?:\+([A-Za-z0-9_]+))?://.*", url, re.DOTALL)
    if match is None or match.group(1).lower() not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UsageError(
            f"--engine {hide_password(url)}: not an engine URL semseg knows — it starts with "
            f"one of {known} (docs/engines/ has the form for each warehouse)"
        )
    return match.group(1).lower(), match.group(2)


def _password(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        return unquote(parts.password) if parts.password else None
    except ValueError:
        return None


# A query parameter whose name says it holds a secret (password=, sslpassword=, token=,
# access_token=, client_secret=, private_key_passphrase= ...).
_SECRET_PARAM = r"(?i)([?&][^=&#]*(?:pass|pwd|token|secret|credential|key)[^=&#]*=)([^&#]*)"


def hide_password(url: str) -> str:
    """``url`` as it may be shown: its password, and the value of every query parameter
    named like a secret, as ***, and no character a terminal would obey (``printable``)."""
    text = re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", url)
    return printable(re.sub(_SECRET_PARAM, r"\1***", text))


def scrub(text: str, url: str) -> str:
    """A driver's message with the URL's secrets removed (a driver may echo its DSN)."""
    secrets = [_password(url)] + [m[1] for m in re.findall(_SECRET_PARAM, url)]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(unquote(secret), "***")
    return text


def _fail(url: str, doing: str, err: BaseException) -> DataError:
    text = str(err).strip()
    first = printable(scrub(text.splitlines()[0] if text else type(err).__name__, url))
    return DataError(f"--engine {hide_password(url)}: {doing} failed: {first}")


def _need(module: str, extra: str, url: str) -> None:
    if importlib.util.find_spec(module.split(".")[0]) is None:
        raise UsageError(
            f"--engine {hide_password(url)}: the driver '{module}' is not installed — "
            f"pip install 'semseg[{extra}]'"
        )


def connect(url: str) -> Connection:
    """Open the engine ``url`` names; UsageError for an unknown URL or a missing driver,
    DataError (password hidden) when the engine refuses."""
    scheme, driver = _split(url)
    dialect, default_driver, extra = SCHEMES[scheme]
    _need("pyarrow", "engine", url)
    if scheme == "duckdb":
        return _DuckDB(url, dialect)
    if scheme == "chdb":
        _need("chdb", extra, url)
        return _Chdb(url, dialect)
    if scheme in ("spark", "sc"):
        _need("pyspark", extra, url)
        return _Spark(url, dialect)
    _need("sqlalchemy", "engine", url)
    driver = driver or default_driver
    if driver is not None:
        _need(_MODULES.get(driver.lower(), driver), extra, url)
    elif scheme in _DIALECT_MODULES:
        _need(_DIALECT_MODULES[scheme], extra, url)
    return _SqlAlchemy(url, dialect, driver, scheme)


# --- DuckDB types of reflected columns ---------------------------------------------------


def _sqlalchemy_type(kind: Any) -> str | None:
    """The DuckDB type a column of SQLAlchemy type ``kind`` is read as (None: as it comes)."""
    from sqlalchemy import types as t

    if isinstance(kind, t.Boolean):
        return "BOOLEAN"
    if isinstance(kind, t.Integer):
        return "BIGINT"
    if isinstance(kind, t.Float):
        return "DOUBLE"
    if isinstance(kind, t.Numeric):
        if kind.precision is not None and kind.precision <= 38:
            return f"DECIMAL({kind.precision}, {kind.scale or 0})"
        return "DOUBLE"
    if isinstance(kind, t.DateTime):
        return "TIMESTAMPTZ" if getattr(kind, "timezone", False) else "TIMESTAMP"
    if isinstance(kind, t.Date):
        return "DATE"
    if isinstance(kind, t.String):
        return "VARCHAR"
    return None


_CLICKHOUSE_TYPES = [
    (r"U?Int(8|16|32|64)", "BIGINT"),
    (r"(U?Int(128|256))", "HUGEINT"),
    (r"Float(32|64)", "DOUBLE"),
    (r"Decimal\((\d+), *(\d+)\)", "DECIMAL({0}, {1})"),
    (r"Decimal(32|64|128)\((\d+)\)", None),
    (r"Date(32)?", "DATE"),
    (r"DateTime(64)?(\(.*\))?", "TIMESTAMP"),
    (r"(Fixed)?String.*|LowCardinality\(String\)|UUID|Enum.*", "VARCHAR"),
    (r"Bool", "BOOLEAN"),
]


def _clickhouse_type(kind: str) -> str | None:
    kind = re.sub(r"^(Nullable|LowCardinality)\((.*)\)$", r"\2", kind.strip())
    kind = re.sub(r"^Nullable\((.*)\)$", r"\1", kind)
    for pattern, duck in _CLICKHOUSE_TYPES:
        match = re.fullmatch(pattern, kind)
        if match:
            return duck.format(*match.groups()) if duck else None
    return None


# --- Arrow from DB-API rows ------------------------------------------------------------------


def _rows_to_arrow(cursor: Any) -> pa.Table:
    """A DB-API cursor's result as Arrow: the driver's own Arrow fetch where it has one
    (Snowflake ``fetch_arrow_all``, Databricks ``fetchall_arrow``), else its rows, each
    column's type inferred by pyarrow from the Python values (Decimal, date, datetime ...)."""
    import pyarrow as pa

    names = [d[0] for d in cursor.description or []]
    for native in ("fetch_arrow_all", "fetchall_arrow"):
        fetch = getattr(cursor, native, None)
        if callable(fetch):
            table = fetch()
            if table is not None:
                return table
    rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for values in columns:
        try:
            arrays.append(pa.array(list(values), from_pandas=False))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed values: read as text
            arrays.append(pa.array([None if v is None else str(v) for v in values]))
    return pa.Table.from_arrays(arrays, names=_unique(names))


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _table_parts(table: str) -> tuple[str | None, str]:
    node = table_node(table)
    return (node.db or None), node.name


def register_sqlite_functions(connection: Any) -> None:
    """SQLite has no MD5: the portable hash's ``SEMSEG_MD5_32`` (``Target.hash32``) on a
    sqlite3 connection, the same function as Python's ``keyhash.md5_32``."""

    def md5_32(text: object) -> int | None:
        return None if text is None else keyhash.md5_32(str(text))

    connection.create_function("SEMSEG_MD5_32", 1, md5_32, deterministic=True)


# --- the adapters --------------------------------------------------------------------------


@dataclass
class _SqlAlchemy:
    url: str
    dialect: str
    driver: str | None
    scheme: str

    def __post_init__(self) -> None:
        import sqlalchemy

        self.description = hide_password(self.url)
        text = self.url
        if self.driver and "+" not in text.split("://", 1)[0]:
            text = text.replace("://", f"+{self.driver}://", 1)
        if self.scheme == "mariadb" and self.driver == "pymysql":
            text = "mysql" + text[len("mariadb") :]
        try:
            self.engine = sqlalchemy.create_engine(text, poolclass=sqlalchemy.pool.NullPool)
            self.raw = self.engine.raw_connection()
        except Exception as err:  # noqa: BLE001 (a driver's own errors: any class)
            raise _fail(self.url, "connecting", err) from None
        if self.dialect == "sqlite":
            register_sqlite_functions(self.raw.driver_connection)

    def arrow(self, sql: str) -> pa.Table:
        cursor = self.raw.cursor()
        try:
            cursor.execute(sql)
            return _rows_to_arrow(cursor)
        except Exception as err:  # noqa: BLE001
            with contextlib.suppress(Exception):
                self.raw.rollback()
            raise _fail(self.url, "the query", err) from None
        finally:
            with contextlib.suppress(Exception):
                cursor.close()

    def columns(self, table: str) -> list[tuple[str, str | None]] | None:
        import sqlalchemy

        schema, name = _table_parts(table)
        try:
            found = sqlalchemy.inspect(self.engine).get_columns(name, schema=schema)
        except sqlalchemy.exc.NoSuchTableError:
            return None
        except Exception as err:  # noqa: BLE001
            raise _fail(self.url, f"reading the columns of {table}", err) from None
        if not found:  # some dialects answer a missing table with no columns
            return None
        return [(c["name"], _sqlalchemy_type(c["type"])) for c in found]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.raw.close()
        with contextlib.suppress(Exception):
            self.engine.dispose()


@dataclass
class _DuckDB:
    url: str
    dialect: str

    def __post_init__(self) -> None:
        import duckdb

        self.description = hide_password(self.url)
        path = self.url.split("://", 1)[1] or ":memory:"
        try:
            self.con = duckdb.connect(path, read_only=path != ":memory:")
        except duckdb.Error as err:
            raise _fail(self.url, "connecting", err) from None

    def arrow(self, sql: str) -> pa.Table:
        import duckdb

        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise _fail(self.url, "the query", err) from None

    def columns(self, table: str) -> list[tuple[str, str | None]] | None:
        import duckdb

        try:
            found = self.con.execute(f"DESCRIBE {table_sql(table)}").fetchall()
        except duckdb.Error:
            return None
        return [(r[0], str(r[1])) for r in found]

    def close(self) -> None:
        self.con.close()


@dataclass
class _Chdb:
    url: str
    dialect: str

    def __post_init__(self) -> None:
        import chdb

        self.description = hide_password(self.url)
        path = self.url.split("://", 1)[1]
        try:
            self.con = chdb.connect(path or ":memory:")
            # text as text (not bytes), and the settings semseg's ClickHouse SQL is written for
            self.con.query("SET output_format_arrow_string_as_string = 1")
        except Exception as err:  # noqa: BLE001
            raise _fail(self.url, "connecting", err) from None

    def arrow(self, sql: str) -> pa.Table:
        try:
            return self.con.query(sql, "ArrowTable")
        except Exception as err:  # noqa: BLE001
            raise _fail(self.url, "the query", err) from None

    def columns(self, table: str) -> list[tuple[str, str | None]] | None:
        try:
            found = self.con.query(f"DESCRIBE TABLE {table_sql(table)}", "ArrowTable")
        except Exception:  # noqa: BLE001
            return None
        names, kinds = found.column("name").to_pylist(), found.column("type").to_pylist()
        return [(n, _clickhouse_type(k)) for n, k in zip(names, kinds, strict=True)]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.con.close()


@dataclass
class _Spark:
    url: str
    dialect: str

    def __post_init__(self) -> None:
        from pyspark.sql import SparkSession

        self.description = hide_password(self.url)
        scheme, rest = self.url.split("://", 1)
        try:
            if scheme.lower() == "sc":  # Spark Connect: a remote session
                self.spark = SparkSession.builder.remote(self.url).getOrCreate()
            else:  # the in-process session (its tables are this process's)
                master = rest or "local[2]"
                active = SparkSession.getActiveSession()
                self.spark = active or SparkSession.builder.master(master).getOrCreate()
        except Exception as err:  # noqa: BLE001
            raise _fail(self.url, "connecting", err) from None

    def arrow(self, sql: str) -> pa.Table:
        try:
            return self.spark.sql(sql).toArrow()
        except Exception as err:  # noqa: BLE001
            raise _fail(self.url, "the query", err) from None

    def columns(self, table: str) -> list[tuple[str, str | None]] | None:
        try:
            schema = self.spark.table(table).schema
        except Exception:  # noqa: BLE001
            return None
        return [(f.name, None) for f in schema.fields]  # Arrow output carries the types

    def close(self) -> None:
        """The session is the process's (or the remote's): left running for its owner."""
