"""The portable hash (issue 22): one function of a key, the same in Python and in the SQL every
target writes. 100,000 keys (integers from -2^53 to 2^53 and texts with quotes, backslashes,
accents, CJK and emoji) hash to Python's values on DuckDB, SQLite, PostgreSQL, MariaDB,
ClickHouse and Spark; the other targets' SQL is checked against the vendors' documented
functions by hand (docs/spec.md) and re-parses.
"""

from __future__ import annotations

import functools
import hashlib
import random

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from sqlglot import exp

from semseg.compile import target_sql
from semseg.compile.dialects import TARGETS
from semseg.compile.portable import key_hash
from semseg.spec.keyhash import SCALE, key_text, md5_32, threshold
from semseg.spec.keyhash import key_hash as python_hash

SALT = "semseg-sample"
N = 50_000  # of each kind: 100,000 keys


@functools.cache
def _keys() -> tuple[list[int], list[str]]:
    rng = random.Random(22)
    ints = [0, 1, -1, 2**53, -(2**53), 10, 100, 2**31, 2**32 - 1]
    ints += [rng.randint(-(2**53), 2**53) for _ in range(N - len(ints))]
    alphabet = "abcXYZ019 '\"\\%_-:;éüßçøÅ中文字😀🎁\t"
    texts = ["", "a", "A", "'", "\\", "\\'", "é", "😀", "03", "3", " 3", "3 "]
    texts += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
        for _ in range(N - len(texts))
    ]
    return ints, list(dict.fromkeys(texts))


def _source() -> duckdb.DuckDBPyConnection:
    ints, texts = _keys()
    con = duckdb.connect()
    int_keys = pa.table({"k": pa.array(ints, pa.int64())})  # noqa: F841 (read by name)
    text_keys = pa.table({"k": pa.array(texts, pa.string())})  # noqa: F841
    con.execute("CREATE TABLE int_keys AS SELECT * FROM int_keys")
    con.execute("CREATE TABLE text_keys AS SELECT * FROM text_keys")
    return con


def _query(dialect: str, table: str) -> str:
    tree = exp.select(exp.column("k"), exp.alias_(key_hash(SALT, exp.column("k")), "h")).from_(
        table
    )
    return target_sql(tree, TARGETS[dialect], pretty=False)


def test_the_definition():
    """MD5's first 4 bytes, big-endian, over 'salt:key' in UTF-8; integers in decimal."""
    assert md5_32("") == 0xD41D8CD9  # MD5("") = d41d8cd9...
    assert python_hash("s", 3) == int(hashlib.md5(b"s:3").hexdigest()[:8], 16)
    assert python_hash("s", "\u00e9") == int(hashlib.md5("s:é".encode()).hexdigest()[:8], 16)
    assert python_hash("s", -12) == md5_32("s:-12")
    assert key_text(3) != key_text("03")
    for bad in (1.5, True, None):
        with pytest.raises(TypeError):
            key_text(bad)
    assert threshold(1) == SCALE and threshold(0.1) == 429_496_730
    ints, texts = _keys()
    shares = sum(python_hash(SALT, k) < threshold(0.1) for k in ints) / len(ints)
    assert abs(shares - 0.1) < 0.005  # spread evenly


def test_every_targets_sql_reparses():
    for dialect, target in TARGETS.items():
        sql = _query(dialect, "int_keys")
        assert sqlglot.parse_one(sql, read=target.sqlglot), dialect
        assert "SEMSEG_HASH32" not in sql.upper(), (dialect, sql)


@functools.cache
def _expected(table: str) -> dict:
    ints, texts = _keys()
    return {k: python_hash(SALT, k) for k in (ints if table == "int_keys" else texts)}


def _check(engine, dialect: str) -> None:
    ints, texts = _keys()
    for table, keys in (("int_keys", ints), ("text_keys", texts)):
        _, rows = engine.query(_query(dialect, table))
        got = {(int(k) if table == "int_keys" else k): int(h) for k, h in rows}
        assert len(got) == len(keys), (dialect, table)
        want = _expected(table)
        wrong = [(k, got[k], want[k]) for k in keys if got[k] != want[k]]
        assert not wrong, (dialect, table, len(wrong), wrong[:5])


def test_duckdb():
    con = _source()

    class Local:
        def query(self, sql):
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()

    _check(Local(), "duckdb")


@pytest.mark.engines
@pytest.mark.parametrize(
    ("fixture", "dialect"),
    [
        ("sqlite_hash_engine", "sqlite"),
        ("postgres_engine", "postgres"),
        ("mysql_engine", "mysql"),
        ("clickhouse_engine", "clickhouse"),
        ("spark_engine", "spark"),
    ],
)
def test_engines_give_pythons_hash(fixture, dialect, request):
    engine = request.getfixturevalue(fixture)
    engine.load(_source(), ["int_keys", "text_keys"])
    _check(engine, dialect)


@pytest.fixture
def sqlite_hash_engine(sqlite_engine):
    """SQLite with SEMSEG_MD5_32 registered, as semseg's own SQLite connections have it."""
    from semseg.engine import register_sqlite_functions

    register_sqlite_functions(sqlite_engine.conn)
    return sqlite_engine
