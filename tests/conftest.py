from __future__ import annotations

# --- engine harness fixtures (tests/engines) ---------------------------------------------------
# Session-scoped engines that run compiled SQL for real. An engine that cannot start here
# skips its tests with the reason, unless SEMSEG_REQUIRE_ENGINES is "all" or names it
# (comma-separated: sqlite, postgres, spark, clickhouse, mysql), in which case its tests fail.
import os
from collections.abc import Callable, Iterator
from typing import NoReturn

import pytest

from tests.engines import Engine, EngineUnavailable


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that run on an engine first (stable otherwise): they are the long ones (the
    Spark matrix alone is minutes), and with ``--dist worksteal`` (``make test``) a long test
    started last is the whole run's tail, while started first the other worker runs the
    short ones beside it."""
    items.sort(key=lambda item: item.get_closest_marker("engines") is None)


_ENGINE_ALIASES = {
    "postgresql": "postgres",
    "pg": "postgres",
    "chdb": "clickhouse",
    "mariadb": "mysql",
}


def engine_required(name: str) -> bool:
    """True if SEMSEG_REQUIRE_ENGINES is 'all' or lists ``name`` (comma-separated)."""
    raw = os.environ.get("SEMSEG_REQUIRE_ENGINES", "")
    wanted = {w.strip().lower() for w in raw.split(",") if w.strip()}
    wanted = {_ENGINE_ALIASES.get(w, w) for w in wanted}
    return "all" in wanted or name in wanted


def engine_unavailable(name: str, reason: str) -> NoReturn:
    """Skip (engine optional) or fail (engine required) with ``reason``. The single rule."""
    if engine_required(name):
        pytest.fail(
            f"{reason} [required: SEMSEG_REQUIRE_ENGINES={os.environ['SEMSEG_REQUIRE_ENGINES']}]",
            pytrace=False,
        )
    pytest.skip(reason)


def _engine_fixture(name: str, factory: Callable[[], Engine]) -> Iterator[Engine]:
    engine, reason = None, ""
    try:
        engine = factory()
    except EngineUnavailable as exc:
        reason = str(exc)
    if engine is None:  # outside the except block: no chained traceback in the report
        engine_unavailable(name, reason)
    try:
        yield engine
    finally:
        engine.close()


@pytest.fixture(scope="session")
def sqlite_engine() -> Iterator[Engine]:
    from tests.engines.sqlite import SqliteEngine

    yield from _engine_fixture("sqlite", SqliteEngine)


@pytest.fixture(scope="session")
def mysql_engine() -> Iterator[Engine]:
    """MariaDB (Debian's mariadb-server) running the mysql dialect."""
    from tests.engines.mariadb import MariaDBEngine

    yield from _engine_fixture("mysql", MariaDBEngine)


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    from tests.engines.postgres import PostgresEngine

    yield from _engine_fixture("postgres", PostgresEngine)


@pytest.fixture(scope="session")
def spark_engine() -> Iterator[Engine]:
    from tests.engines.spark import SparkEngine

    yield from _engine_fixture("spark", SparkEngine)


@pytest.fixture(scope="session")
def clickhouse_engine() -> Iterator[Engine]:
    from tests.engines.clickhouse import ClickHouseEngine

    yield from _engine_fixture("clickhouse", ClickHouseEngine)


# --- end of engine harness fixtures --------------------------------------------------------------


@pytest.fixture
def unbanded(tmp_path):
    """The propensity example without segmentations by its score, fitted here (logistic)."""
    from tests.predict_helpers import fit_unbanded

    return fit_unbanded(tmp_path)


@pytest.fixture
def boosted(tmp_path):
    """The propensity example as 50 trees of depth 3, without segmentations by the score."""
    from tests.predict_helpers import fit_boosted

    return fit_boosted(tmp_path)
