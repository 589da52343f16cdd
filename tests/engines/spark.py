"""Spark engine: pyspark in local mode (``local[2]``), one SparkSession per test session.

Start-up (``SparkEngine()``: ~4-5 s of JVM/SparkContext start, then ~3-5 s of JIT/codegen
warm-up spread over the first few queries; later small queries take 0.1-0.3 s):

* ``JAVA_HOME`` is used if it points at a JDK with ``bin/java``; otherwise it is derived from
  ``readlink -f $(which java)`` (``.../bin/java`` -> ``...``). No java -> EngineUnavailable.
* ``PYSPARK_PYTHON``/``PYSPARK_DRIVER_PYTHON`` default to this interpreter.
* Config: ``local[2]``; ``spark.sql.shuffle.partitions=2`` and ``spark.default.parallelism=2``
  (the defaults of 200 partitions make small queries slow); UI, console progress bar and event
  log off; driver bound to 127.0.0.1; in-memory catalog (no Hive, no Derby files);
  warehouse and ``spark.local.dir`` in a temp dir removed by ``close()``; log4j root level
  ERROR via a generated log4j2 properties file. Two lines still reach stderr at start-up
  (the JVM's "Using incubator modules" and pyspark's "Setting default log level"); pytest's
  fd-level capture hides them unless a test fails or ``-s`` is given.
* JVM options ``-XX:+UseSerialGC -XX:TieredStopAtLevel=1`` (about 1 s faster start and
  warm-up for tiny data); override with ``$SEMSEG_SPARK_JAVA_OPTS``. Extra Spark config can be
  given as ``$SEMSEG_SPARK_CONF="key=value key=value"`` (e.g. ``spark.sql.ansi.enabled=false``).
* SQL semantics: ``spark.sql.ansi.enabled=true`` (Spark 4 default, stated explicitly: errors on
  overflow / invalid casts / division by zero like standard SQL),
  ``spark.sql.session.timeZone=UTC``, and ``spark.sql.timestampType=TIMESTAMP_NTZ`` so that
  ``TIMESTAMP`` literals and casts in compiled SQL mean "timestamp without time zone", like
  DuckDB's TIMESTAMP (input TIMESTAMP columns are TimestampNTZType too).

Tables are loaded with ``createDataFrame(rows, explicit schema)`` + ``createOrReplaceTempView``.

``execute``:

* ``CREATE TABLE x AS SELECT ...`` works: it writes a Parquet table into the temp warehouse
  (in-memory catalog). ``CREATE OR REPLACE TABLE ... AS`` does not (Spark only supports it for
  v2 tables): issue ``DROP TABLE IF EXISTS x`` first.
* ``CREATE [OR REPLACE] VIEW v AS ...`` is rewritten to ``CREATE [OR REPLACE] TEMPORARY VIEW``
  because the input tables are temporary views and Spark refuses a permanent view that
  references a temporary one. Temporary views may reference tables and other temp views; they
  live until ``close()``.
* Several ``;``-separated statements are run one by one.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import Column, EngineUnavailable, describe_table, fetch_rows, split_statements

if TYPE_CHECKING:
    import duckdb

_LOG4J2 = """\
rootLogger.level = error
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
"""

# Serial GC and C1-only JIT: the JVM starts ~1 s faster and tiny test queries warm up faster.
_JAVA_OPTS = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1"

_CREATE_VIEW_RE = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\b", re.IGNORECASE)


def _find_java_home() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and os.path.isfile(os.path.join(home, "bin", "java")):
        return home
    java = shutil.which("java")
    if not java:
        return None
    real = os.path.realpath(java)  # readlink -f
    return os.path.dirname(os.path.dirname(real))


def _spark_type(col: Column, T: Any) -> Any:
    simple = {
        "VARCHAR": T.StringType,
        "SMALLINT": T.ShortType,
        "INTEGER": T.IntegerType,
        "BIGINT": T.LongType,
        "FLOAT": T.FloatType,
        "DOUBLE": T.DoubleType,
        "DATE": T.DateType,
        "TIMESTAMP": T.TimestampNTZType,
        "BOOLEAN": T.BooleanType,
    }
    if col.type == "DECIMAL":
        return T.DecimalType(col.precision, col.scale)
    return simple[col.type]()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # pyspark warns on every import path that it does not fully support pandas >= 3;
    # nothing here goes through pandas.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        yield


class SparkEngine:
    name = "spark"

    def __init__(self, master: str = "local[2]") -> None:
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise EngineUnavailable(
                f"Spark: pyspark not importable ({exc}); pip install -e '.[engines]'"
            ) from None
        java_home = _find_java_home()
        if not java_home:
            raise EngineUnavailable("Spark: java not on PATH and JAVA_HOME not set")
        os.environ["JAVA_HOME"] = java_home
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

        self._closed = False
        self.spark = None
        self.tmp = tempfile.mkdtemp(prefix="semseg-spark-")
        atexit.register(self.close)
        log4j = os.path.join(self.tmp, "log4j2.properties")
        with open(log4j, "w") as fh:
            fh.write(_LOG4J2)
        extra = os.environ.get("SEMSEG_SPARK_JAVA_OPTS", _JAVA_OPTS)
        java_opts = f"-Dlog4j2.configurationFile=file:{log4j} {extra}"
        conf = {
            "spark.master": master,
            "spark.app.name": "semseg-engine-tests",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.eventLog.enabled": "false",
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.memory": "1g",
            "spark.driver.extraJavaOptions": java_opts,
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.warehouse.dir": os.path.join(self.tmp, "warehouse"),
            "spark.local.dir": os.path.join(self.tmp, "local"),
            "spark.sql.ansi.enabled": "true",
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.timestampType": "TIMESTAMP_NTZ",
        }
        for kv in os.environ.get("SEMSEG_SPARK_CONF", "").split():  # "key=value key=value"
            k, _, v = kv.partition("=")
            conf[k] = v
        try:
            builder = SparkSession.builder
            for k, v in conf.items():
                builder = builder.config(k, v)
            with _quiet():
                self.spark = builder.getOrCreate()
            self.spark.sparkContext.setLogLevel("ERROR")
        except BaseException as exc:
            self.close()
            if isinstance(exc, Exception):
                raise EngineUnavailable(f"Spark: session failed to start: {exc}") from exc
            raise

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        from pyspark.sql import types as T

        assert self.spark is not None
        for table in tables:
            cols = describe_table(src, table)
            schema = T.StructType(
                [T.StructField(c.name, _spark_type(c, T), c.nullable) for c in cols]
            )
            rows = fetch_rows(src, table)
            dec = {i for i, c in enumerate(cols) if c.type == "DECIMAL"}
            if dec:  # DecimalType wants Decimal values (HUGEINT columns arrive as int)
                rows = [
                    tuple(
                        Decimal(v) if i in dec and isinstance(v, int) else v
                        for i, v in enumerate(r)
                    )
                    for r in rows
                ]
            with _quiet():
                df = self.spark.createDataFrame(rows, schema=schema)
            df.createOrReplaceTempView(table)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        assert self.spark is not None
        df = self.spark.sql(sql)
        return list(df.columns), [tuple(r) for r in df.collect()]

    def execute(self, sql: str) -> None:
        assert self.spark is not None
        for stmt in split_statements(sql, "spark"):
            stmt = _CREATE_VIEW_RE.sub(
                lambda m: f"CREATE {m.group(1) or ''}TEMPORARY VIEW", stmt, count=1
            )
            self.spark.sql(stmt)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self.spark is not None:
            with contextlib.suppress(Exception):
                self.spark.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
