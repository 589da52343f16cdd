"""MySQL engine: a throwaway MariaDB server in a temp dir, reached over a Unix socket.

It runs the ``mysql`` dialect (semseg's MySQL 8 target; MariaDB 10.11 from Debian's
``mariadb-server`` is what this machine and CI can install). Start-up (``MariaDBEngine()``):

1. ``mariadb-install-db --no-defaults`` into ``<tmp>/data`` (no test database, no anonymous
   users);
2. ``mariadbd --no-defaults`` on that data dir with no TCP (``--skip-networking``), the socket in
   the temp dir, ``--skip-grant-tables`` (nothing but this process can reach the socket) and the
   server defaults a stock install has: ``utf8mb4`` with its default, case-insensitive
   collation, the default ``sql_mode``, time zone UTC. As root it runs with ``--user=root``
   (MariaDB refuses root otherwise); the data dir is private to the temp dir;
3. connect with PyMySQL (pure Python) and ``CREATE DATABASE semseg``.

``close()`` shuts the server down and removes the temp dir; it is idempotent and registered
with ``atexit``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import TYPE_CHECKING, Any

from . import Column, EngineUnavailable, describe_table, fetch_rows, quote_ident

if TYPE_CHECKING:
    import duckdb

_TYPES = {
    "VARCHAR": "VARCHAR(255)",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "TIMESTAMP": "DATETIME(6)",
    "BOOLEAN": "BOOLEAN",
}


def _sql_type(col: Column) -> str:
    if col.type == "DECIMAL":
        return f"DECIMAL({col.precision},{col.scale})"
    return _TYPES[col.type]


class MariaDBEngine:
    name = "mysql"

    def __init__(self, start_timeout: int = 60) -> None:
        try:
            import pymysql
        except ImportError as exc:
            raise EngineUnavailable(
                f"MariaDB: pymysql not importable ({exc}); pip install -e '.[engines]'"
            ) from None
        server = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin")
        install = shutil.which("mariadb-install-db")
        if not server or not install:
            raise EngineUnavailable("MariaDB: mariadbd not found (Debian package 'mariadb-server')")
        self.conn: Any = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        self.tmp = tempfile.mkdtemp(prefix="semseg-maria-", dir="/tmp")
        self.datadir = os.path.join(self.tmp, "data")
        self.socket = os.path.join(self.tmp, "mysqld.sock")
        self.log = os.path.join(self.tmp, "mariadb.log")
        user = ["--user=root"] if os.geteuid() == 0 else []
        atexit.register(self.close)
        try:
            done = subprocess.run(
                [install, "--no-defaults", f"--datadir={self.datadir}", "--skip-test-db",
                 "--auth-root-authentication-method=normal", *user],
                capture_output=True, text=True, timeout=start_timeout,
            )  # fmt: skip
            if done.returncode != 0:
                raise EngineUnavailable(
                    f"MariaDB: mariadb-install-db failed: {(done.stderr or done.stdout)[-1500:]}"
                )
            self._proc = subprocess.Popen(
                [server, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
                 "--skip-networking", "--skip-grant-tables", f"--log-error={self.log}",
                 f"--pid-file={os.path.join(self.tmp, 'mysqld.pid')}", "--default-time-zone=+00:00",
                 "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=0",
                 "--skip-log-bin", "--character-set-server=utf8mb4",
                 "--collation-server=utf8mb4_general_ci",
                 # hash joins (BNLH), as MySQL 8 (the target) makes by default: MariaDB's
                 # default block nested loop compared every pair of rows of the model's joins
                 # (the personas model: 28 s, and minutes once its rows met the prototypes)
                 "--join-cache-level=4", *user],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + start_timeout
            while True:
                try:
                    self.conn = pymysql.connect(
                        unix_socket=self.socket, user="root", autocommit=True, charset="utf8mb4"
                    )
                    break
                except pymysql.err.OperationalError:
                    if self._proc.poll() is not None or time.monotonic() > deadline:
                        raise EngineUnavailable(
                            f"MariaDB: server did not start: {self._tail()}"
                        ) from None
                    time.sleep(0.2)
            with self.conn.cursor() as cur:
                cur.execute("CREATE DATABASE semseg")
                cur.execute("USE semseg")
        except BaseException:
            self.close()
            raise

    def _tail(self) -> str:
        with contextlib.suppress(OSError), open(self.log, errors="replace") as fh:
            return fh.read()[-1500:]
        return ""

    # -- interface -------------------------------------------------------------------------

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        with self.conn.cursor() as cur:
            for table in tables:
                cols = describe_table(src, table)
                qt = quote_ident(table, "`")
                cur.execute(f"DROP TABLE IF EXISTS {qt}")
                col_defs = ", ".join(
                    f"{quote_ident(c.name, '`')} {_sql_type(c)}{'' if c.nullable else ' NOT NULL'}"
                    for c in cols
                )
                cur.execute(f"CREATE TABLE {qt} ({col_defs})")
                rows = fetch_rows(src, table)
                if rows:
                    marks = ", ".join("%s" for _ in cols)
                    cur.executemany(f"INSERT INTO {qt} VALUES ({marks})", rows)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return [], []
            return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]

    def execute(self, sql: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.cursor().execute("SHUTDOWN")
            with contextlib.suppress(Exception):
                self.conn.close()
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.send_signal(signal.SIGKILL)
                self._proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)
