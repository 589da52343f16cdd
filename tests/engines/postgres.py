"""PostgreSQL engine: a throwaway cluster in a temp dir, reached over a Unix socket.

Start-up (``PostgresEngine()``):

1. ``initdb -A trust -U postgres -E UTF8 --locale=C --no-sync`` into ``<tmp>/data``.
   The binaries (``initdb``, ``pg_ctl``, ``postgres``) are taken from the directory of
   ``initdb`` on PATH, else from the newest ``/usr/lib/postgresql/*/bin``; they refuse to run as
   root, so when this process is root the temp dir is chowned to an unprivileged account
   (``$SEMSEG_PG_OS_USER`` or ``nobody``) and both commands run via ``runuser -u USER --``.
2. Settings are appended to ``postgresql.conf``: no TCP (``listen_addresses = ''``), the
   socket lives in the temp dir (so parallel sessions / xdist workers never collide on a port),
   ``fsync``/``synchronous_commit``/``full_page_writes`` off for speed, ``TimeZone = UTC``.
   ``--locale=C`` gives byte-wise string ordering, like DuckDB's default collation.
3. ``pg_ctl start -w``; connect with psycopg 3 (autocommit) as ``postgres`` to ``postgres``.

``close()`` runs ``pg_ctl stop -m fast`` and removes the temp dir; it is idempotent and is also
registered with ``atexit`` so the cluster goes away even if the test session dies.

Types: VARCHAR -> TEXT, integers -> SMALLINT/INTEGER/BIGINT, FLOAT -> REAL,
DOUBLE -> DOUBLE PRECISION, DECIMAL(p,s) -> NUMERIC(p,s), DATE, TIMESTAMP (without time zone),
BOOLEAN. Tables are loaded with COPY ... FROM STDIN; ``load`` drops a same-named table with
CASCADE (views on it go too).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from typing import TYPE_CHECKING, Any

from . import Column, EngineUnavailable, describe_table, fetch_rows, quote_ident

if TYPE_CHECKING:
    import duckdb

_TYPES = {
    "VARCHAR": "TEXT",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INTEGER",
    "BIGINT": "BIGINT",
    "FLOAT": "REAL",
    "DOUBLE": "DOUBLE PRECISION",
    "DATE": "DATE",
    "TIMESTAMP": "TIMESTAMP",
    "BOOLEAN": "BOOLEAN",
}

_PORT = 5432  # only names the socket file; nothing listens on TCP

_CONF = """
# --- semseg test harness ---
listen_addresses = ''
unix_socket_directories = '{sockdir}'
port = {port}
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 20
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
TimeZone = 'UTC'
log_timezone = 'UTC'
DateStyle = 'ISO, MDY'
logging_collector = off
log_min_messages = warning
# A runaway query fails the test with a clear error instead of hanging CI (the persona model
# once ran for minutes at 7 GB when PostgreSQL recomputed inlined distances; see dialects.py).
statement_timeout = '120s'
"""


def _sql_type(col: Column) -> str:
    if col.type == "DECIMAL":
        return f"NUMERIC({col.precision},{col.scale})"
    return _TYPES[col.type]


def _find_bindir() -> str | None:
    """Directory of initdb/pg_ctl/postgres: from PATH, else the newest Debian install."""
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _world_traversable(path: str) -> bool:
    path = os.path.abspath(path)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


class PostgresEngine:
    name = "postgres"

    def __init__(self, os_user: str | None = None, start_timeout: int = 60) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise EngineUnavailable(
                f"PostgreSQL: psycopg not importable ({exc}); pip install -e '.[engines]'"
            ) from None
        bindir = _find_bindir()
        if bindir is None:
            raise EngineUnavailable("PostgreSQL: initdb not on PATH")
        self._initdb = os.path.join(bindir, "initdb")
        self._pg_ctl = os.path.join(bindir, "pg_ctl")
        for prog in ("pg_ctl", "postgres"):
            if not os.access(os.path.join(bindir, prog), os.X_OK):
                raise EngineUnavailable(f"PostgreSQL: {prog} not found next to {self._initdb}")

        self._prefix: list[str] = []
        self._uid = self._gid = None
        base = None
        if os.geteuid() == 0:
            user = os_user or os.environ.get("SEMSEG_PG_OS_USER") or "nobody"
            runuser = shutil.which("runuser")
            if not runuser:
                raise EngineUnavailable("PostgreSQL: running as root but runuser not on PATH")
            try:
                pw = pwd.getpwnam(user)
            except KeyError:
                raise EngineUnavailable(
                    f"PostgreSQL: running as root and OS user {user!r} does not exist"
                ) from None
            self._prefix = [runuser, "-u", user, "--"]
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            if not _world_traversable(tempfile.gettempdir()):
                base = "/tmp"
        self.conn = None
        self._closed = False
        self.tmp = tempfile.mkdtemp(prefix="semseg-pg-", dir=base)
        if len(self.tmp) > 80:  # Unix socket paths are limited to ~107 bytes
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = tempfile.mkdtemp(prefix="semseg-pg-", dir="/tmp")
        self.datadir = os.path.join(self.tmp, "data")
        self.logfile = os.path.join(self.tmp, "postgres.log")
        atexit.register(self.close)
        try:
            if self._uid is not None:
                os.chown(self.tmp, self._uid, self._gid)
            self._run(
                [
                    self._initdb,
                    "-D",
                    self.datadir,
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ],
                "initdb",
                start_timeout,
            )
            with open(os.path.join(self.datadir, "postgresql.conf"), "a") as fh:
                fh.write(_CONF.format(sockdir=self.tmp, port=_PORT))
            self._run(
                [
                    self._pg_ctl,
                    "-D",
                    self.datadir,
                    "-l",
                    self.logfile,
                    "-w",
                    "-t",
                    str(start_timeout),
                    "start",
                ],
                "pg_ctl start",
                start_timeout + 10,
            )
            self.conn = psycopg.connect(
                host=self.tmp, port=_PORT, user="postgres", dbname="postgres", autocommit=True
            )
        except BaseException:
            self.close()
            raise

    def _run(self, cmd: list[str], what: str, timeout: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
        env.update(LC_ALL="C", LANG="C", HOME=self.tmp)
        try:
            proc = subprocess.run(
                self._prefix + cmd,
                cwd=self.tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise EngineUnavailable(f"PostgreSQL: {what} timed out after {timeout}s") from None
        if proc.returncode != 0:
            log = ""
            if os.path.exists(self.logfile):
                with open(self.logfile, errors="replace") as fh:
                    log = fh.read()[-2000:]
            raise EngineUnavailable(
                f"PostgreSQL: {what} failed (exit {proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}\n{log}".rstrip()
            )

    # -- interface -------------------------------------------------------------------------

    def load(self, src: duckdb.DuckDBPyConnection, tables: list[str]) -> None:
        assert self.conn is not None
        with self.conn.cursor() as cur:
            for table in tables:
                cols = describe_table(src, table)
                qt = quote_ident(table)
                cur.execute(f"DROP TABLE IF EXISTS {qt} CASCADE")
                col_defs = ", ".join(
                    f"{quote_ident(c.name)} {_sql_type(c)}{'' if c.nullable else ' NOT NULL'}"
                    for c in cols
                )
                cur.execute(f"CREATE TABLE {qt} ({col_defs})")
                names = ", ".join(quote_ident(c.name) for c in cols)
                with cur.copy(f"COPY {qt} ({names}) FROM STDIN") as copy:
                    for row in fetch_rows(src, table):
                        copy.write_row(row)

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        assert self.conn is not None
        with self.conn.cursor() as cur:
            cur.execute(sql)
            if cur.description is None:
                return [], []
            return [d.name for d in cur.description], [tuple(r) for r in cur.fetchall()]

    def execute(self, sql: str) -> None:
        assert self.conn is not None
        self.conn.execute(sql)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            try:
                self._run(
                    [self._pg_ctl, "-D", self.datadir, "-m", "fast", "-w", "stop"],
                    "pg_ctl stop",
                    60,
                )
            except Exception:
                self._kill_postmaster()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(Exception):
            with open(os.path.join(self.datadir, "postmaster.pid")) as fh:
                pid = int(fh.readline().strip())
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the postmaster we started
