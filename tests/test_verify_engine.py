"""``semseg verify --engine URL`` (issue 22): the model runs on the user's engine, the proofs
here over the same tables read from it. End to end on SQLite, PostgreSQL, MariaDB, ClickHouse
(chDB) and Spark: every example spec passes, and a model mutated on the engine (a table it
reads replaced by a copy with one changed row; a bound flipped) fails with the offending key.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.engine import hide_password, scrub
from semseg.sample import table_paths
from semseg.spec import find_specs, keyhash, load_spec
from tests.golden_regen import SPECS

pytestmark = pytest.mark.engines
runner = CliRunner()
EXAMPLES = [p for p in find_specs(SPECS)]
OFFER = SPECS / "offer_seeker.yml"
AS_OF = "2025-06-30"


def _sample() -> duckdb.DuckDBPyConnection:
    """Both bundled datasets as DuckDB views, to load into an engine."""
    con = duckdb.connect()
    for dataset in ("retail", "marketplace"):
        for name, path in table_paths(dataset).items():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    return con


def _tables() -> list[str]:
    return [*table_paths("retail"), *table_paths("marketplace")]


def _verify(url: str, spec: Path, *extra: str) -> tuple[int, dict]:
    done = runner.invoke(app, ["verify", str(spec), "--engine", url, "--format", "json", *extra])
    return done.exit_code, json.loads(done.stdout)


def _failed(report: dict) -> dict[str, list[str]]:
    return {c["name"]: c["examples"] for c in report["checks"] if not c["passed"]}


# --- the mutations ---------------------------------------------------------------------------

# One order line of customer C-SHIFT gets a discount it did not have (its order count with a
# discount moves by one), in a copy of the table the mutated model reads instead.
SHIFT = """
SELECT unified_customer_id FROM int_order_lines
WHERE transaction_type = 'Sale' AND has_discount = 0 AND unified_customer_id IS NOT NULL
  AND unified_customer_id IN (
    SELECT unified_customer_id FROM int_order_lines GROUP BY 1
    HAVING COUNT(DISTINCT CASE WHEN has_discount = 1 THEN unified_order_id END) = 2)
ORDER BY unified_customer_id, unified_order_id LIMIT 1
"""


def _shifted_customer(sample: duckdb.DuckDBPyConnection) -> tuple[str, str]:
    """(customer, order) whose line becomes discounted in the shadow copy."""
    row = sample.execute(
        "SELECT unified_customer_id, unified_order_id FROM int_order_lines WHERE "
        f"unified_customer_id = ({SHIFT}) AND has_discount = 0 AND transaction_type = 'Sale' "
        "AND unified_order_id NOT IN (SELECT unified_order_id FROM int_order_lines "
        "WHERE has_discount = 1) ORDER BY unified_order_id LIMIT 1"
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _mutations(sample, dialect: str, tmp_path: Path) -> list[tuple[Path, str, str]]:
    """(--sql file, the check that must fail, a key it must name) for two mutated models."""
    customer, order = _shifted_customer(sample)
    spec_file = load_spec(OFFER).with_as_of(None)
    sql = compile_spec(spec_file, dialect)
    shadow = tmp_path / f"shadow_{dialect}.sql"
    assert sql.count("int_order_lines") == 1, sql
    shadow.write_text(sql.replace("int_order_lines", "semseg_shadow_lines"), encoding="utf-8")
    flipped = tmp_path / f"flipped_{dialect}.sql"
    assert sql.count(">= 3") == 2, sql  # the label's CASE and the order's
    flipped.write_text(sql.replace(">= 3", "> 3"), encoding="utf-8")
    return [(shadow, "metrics:order_lines", customer), (flipped, "rules:offer_seeker_segment", "")]


def _shadow_table(sample) -> None:
    """semseg_shadow_lines in the DuckDB sample: int_order_lines with the one changed line."""
    customer, order = _shifted_customer(sample)
    sample.execute(
        "CREATE OR REPLACE TABLE semseg_shadow_lines AS SELECT * REPLACE (CASE WHEN "
        f"unified_order_id = '{order}' THEN 1 ELSE has_discount END AS has_discount) "
        "FROM int_order_lines"
    )


def _prove(url: str, dialect: str, tmp_path: Path, specs: list[Path]) -> None:
    """Every spec passes on the engine; both mutations fail with their key; and the same
    with ``--sample``, whose keys are Python's."""
    for spec in specs:
        code, report = _verify(url, spec)
        assert code == 0 and report["passed"], (spec.name, _failed(report))
        assert "run on the engine" in report["engine"], report["engine"]
        assert hide_password(url) in report["data"]
    sample = _sample()
    for path, check, key in _mutations(sample, dialect, tmp_path):
        code, report = _verify(url, OFFER, "--sql", str(path))
        failed = _failed(report)
        assert code == 1 and check in failed, (path.name, failed)
        assert not key or any(e.startswith(f"{key}:") for e in failed[check]), failed[check]
    _prove_sample(url, dialect, tmp_path, sample)
    _profile_matches(url)


def _customers(sample) -> list[str]:
    return [
        r[0] for r in sample.execute("SELECT unified_customer_id FROM int_customers").fetchall()
    ]


def _sample_fraction(customer: str) -> float:
    """A fraction whose sample holds ``customer`` (and about a third of the keys or more)."""
    needed = (keyhash.key_hash(keyhash.SAMPLE_SALT, customer) + 1) / keyhash.SCALE
    return max(0.3, math.ceil(needed * 100) / 100)


def _prove_sample(url: str, dialect: str, tmp_path: Path, sample) -> None:
    """``--sample F``: the engine reads the rows of Python's keys (the report's count is
    Python's), the recomputing checks say [sample], the specs pass, and a changed line of a
    sampled customer still fails naming it."""
    customer, _ = _shifted_customer(sample)
    fraction = _sample_fraction(customer)
    customers = _customers(sample)
    below = keyhash.threshold(fraction)
    want = sum(keyhash.key_hash(keyhash.SAMPLE_SALT, c) < below for c in customers)
    for spec in (OFFER, SPECS / "offer_trend.yml"):
        code, report = _verify(url, spec, "--sample", str(fraction))
        assert code == 0 and report["passed"], (spec.name, _failed(report))
        assert f"sample: {want:,} of {len(customers):,} keys" in report["engine"], report["engine"]
        marked = {c["name"] for c in report["checks"] if c["description"].startswith("[sample]")}
        assert {"population"} < marked and all(
            n.startswith(("population", "metrics:", "time:")) for n in marked
        ), marked
    shadow, check, key = _mutations(sample, dialect, tmp_path)[0]
    code, report = _verify(url, OFFER, "--sql", str(shadow), "--sample", str(fraction))
    failed = _failed(report)
    assert code == 1 and any(e.startswith(f"{key}:") for e in failed[check]), failed


# --- the engines -------------------------------------------------------------------------------


def _load(engine) -> None:
    sample = _sample()
    _shadow_table(sample)
    engine.load(sample, [*_tables(), "semseg_shadow_lines"])


def test_sqlite(tmp_path):
    from tests.engines.sqlite import SqliteEngine

    path = tmp_path / "shop.db"
    engine = SqliteEngine(str(path))
    try:
        _load(engine)
    finally:
        engine.close()
    _prove(f"sqlite:///{path}", "sqlite", tmp_path, EXAMPLES)


def test_duckdb_file(tmp_path):
    path = tmp_path / "shop.duckdb"
    sample = _sample()
    _shadow_table(sample)
    sample.execute(f"ATTACH '{path}' AS f")
    for name in [*_tables(), "semseg_shadow_lines"]:
        sample.execute(f"CREATE TABLE f.{name} AS SELECT * FROM {name}")
    sample.execute("DETACH f")
    _prove(f"duckdb:///{path}", "duckdb", tmp_path, EXAMPLES)


def test_postgres(postgres_engine, tmp_path):
    _load(postgres_engine)
    url = f"postgresql://postgres@/postgres?host={postgres_engine.tmp}&port=5432"
    _prove(url, "postgres", tmp_path, EXAMPLES)


def test_mariadb(mysql_engine, tmp_path):
    _load(mysql_engine)
    url = f"mysql://root@/semseg?unix_socket={mysql_engine.socket}&charset=utf8mb4"
    _prove(url, "mysql", tmp_path, EXAMPLES)


def test_spark(spark_engine, tmp_path):
    _load(spark_engine)
    _prove("spark://local[2]", "spark", tmp_path, EXAMPLES)


CHDB_LOAD = textwrap.dedent("""\
    import sys, chdb.session
    session = chdb.session.Session(sys.argv[1])
    for name in sys.argv[2:]:
        session.query(
            f"CREATE TABLE `{name}` ENGINE = MergeTree ORDER BY tuple() AS "
            f"SELECT * FROM file('{sys.argv[1]}/../{name}.parquet', Parquet)"
        )
    session.close()
""")


def test_clickhouse(tmp_path):
    """chDB allows one data path per process (and the engine matrix holds one): the tables
    are written, and verify runs, in processes of their own."""
    pytest.importorskip("chdb", reason="chdb not installed: pip install -e '.[engines]'")
    sample = _sample()
    _shadow_table(sample)
    names = [*_tables(), "semseg_shadow_lines"]
    for name in names:
        sample.execute(f"COPY {name} TO '{tmp_path / name}.parquet' (FORMAT parquet)")
    data = tmp_path / "chdb"
    subprocess.run([sys.executable, "-c", CHDB_LOAD, str(data), *names], check=True)
    url = f"chdb://{data}"
    script = (
        "import sys\nfrom semseg.cli import main\nsys.argv = ['semseg', *sys.argv[1:]]\nmain()\n"
    )
    for spec in EXAMPLES:
        done = subprocess.run(
            [sys.executable, "-c", script, "verify", str(spec), "--engine", url, "-d", "duckdb"],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        assert done.returncode == 0, (spec.name, done.stdout[-3000:], done.stderr[-2000:])
    customer, _ = _shifted_customer(sample)
    fraction = _sample_fraction(customer)
    done = subprocess.run(
        [sys.executable, "-c", script, "verify", str(OFFER), "--engine", url, "--sample",
         str(fraction), "-d", "duckdb", "--format", "json"],
        capture_output=True,
        text=True,
    )  # fmt: skip
    report = json.loads(done.stdout)
    customers = _customers(sample)
    want = sum(
        keyhash.key_hash(keyhash.SAMPLE_SALT, c) < keyhash.threshold(fraction) for c in customers
    )
    assert done.returncode == 0 and f"sample: {want:,} of" in report["engine"], report["engine"]
    for path, check, key in _mutations(sample, "clickhouse", tmp_path):
        done = subprocess.run(
            [sys.executable, "-c", script, "verify", str(OFFER), "--engine", url, "--sql",
             str(path), "-d", "duckdb", "--format", "json"],
            capture_output=True,
            text=True,
        )  # fmt: skip
        report = json.loads(done.stdout)
        failed = _failed(report)
        assert done.returncode == 1 and check in failed, (path.name, failed)
        assert not key or any(e.startswith(f"{key}:") for e in failed[check]), failed[check]


# --- what the user sees --------------------------------------------------------------------------


def test_a_password_never_appears(tmp_path):
    """In the URL shown, and in a driver's message that echoes it."""
    url = "postgresql://ann:pa%40ss-w0rd@127.0.0.1:1/db?sslpassword=k3y&password=x9z"
    assert hide_password(url) == (
        "postgresql://ann:***@127.0.0.1:1/db?sslpassword=***&password=***"
    )
    assert "pa@ss-w0rd" not in scrub("auth failed for pa@ss-w0rd and pa%40ss-w0rd", url)
    done = runner.invoke(app, ["verify", str(OFFER), "--engine", url])
    assert done.exit_code == 1 and "ann:***@" in done.output and "connecting failed" in done.output
    for secret in ("pa%40ss-w0rd", "pa@ss-w0rd", "k3y", "x9z"):
        assert secret not in done.output
    # a URL is user text: a terminal escape in it is shown, not obeyed
    done = runner.invoke(app, ["verify", str(OFFER), "--engine", "sqlite:///no\x1b[2J/dir/x.db"])
    assert done.exit_code == 1 and "\x1b" not in done.output and "\\u001b" in done.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("oracle://u@h/db", "not an engine URL semseg knows"),
        ("snowflake://u@acct/db", "pip install 'semseg[snowflake]'"),
        ("sqlite:///no/such/dir/x.db", "connecting failed"),
    ],
)
def test_an_engine_that_cannot_be_used_is_one_line(url, said):
    done = runner.invoke(app, ["verify", str(OFFER), "--engine", url])
    assert done.exit_code in (1, 2) and said in done.output, done.output
    assert "Traceback" not in done.output


def test_a_table_the_engine_lacks_is_named_at_its_line(tmp_path):
    path = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(path).close()
    done = runner.invoke(app, ["verify", str(OFFER), "--engine", f"sqlite:///{path}"])
    assert done.exit_code == 1, done.output
    assert "offer_seeker.yml:9:" in done.output and "table 'int_customers' not found" in done.output


def test_sample_needs_an_engine_and_a_fraction():
    for args, said in (
        (["--sample", "0.1"], "give --engine URL too"),
        (["--engine", "sqlite:///x.db", "--sample", "0"], "above 0 and at most 1"),
        (["--engine", "sqlite:///x.db", "--sample", "1.5"], "above 0 and at most 1"),
    ):
        done = runner.invoke(app, ["verify", str(OFFER), *args])
        assert done.exit_code == 2 and said in done.output, done.output


def test_sample_refuses_a_key_without_one_text(tmp_path):
    """A DECIMAL key has no one text on every engine: --sample refuses it at its line."""
    import sqlite3

    db = tmp_path / "k.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE orders (customer_id DECIMAL(10, 2), amount DOUBLE)")
    con.execute("INSERT INTO orders VALUES (1.5, 10)")
    con.commit()
    con.close()
    spec = tmp_path / "k.yml"
    spec.write_text(
        textwrap.dedent("""\
            version: 1
            name: k
            entity: {name: customer, key: customer_id}
            sources:
              orders: {table: orders}
            metrics:
              spend: {source: orders, agg: sum, expr: amount}
            segmentations:
              s:
                by: spend
                segments:
                  - {label: Big, min: 5}
                  - {label: Small, else: true}
            """),
        encoding="utf-8",
    )
    done = runner.invoke(
        app, ["verify", str(spec), "--engine", f"sqlite:///{db}", "--sample", "0.5"]
    )
    assert done.exit_code == 1, done.output
    assert "k.yml:5:" in done.output and "is DECIMAL(10, 2)" in done.output, done.output
    assert "integer or text" in done.output
    whole = runner.invoke(app, ["verify", str(spec), "--engine", f"sqlite:///{db}", "-d", "duckdb"])
    assert whole.exit_code == 0, whole.output


# --- fitting from an engine ----------------------------------------------------------------------


def test_a_cluster_spec_fits_from_an_engine_and_verifies_there(postgres_engine, tmp_path):
    """``semseg cluster --engine``: the feature query runs on PostgreSQL and the fit is the
    committed model byte for byte; verify --engine then proves it there (agreement included).
    With ``--sample`` only the feature rows of the sampled keys come back (Python's keys)."""
    import shutil

    _load(postgres_engine)
    url = f"postgresql://postgres@/postgres?host={postgres_engine.tmp}&port=5432"
    spec = tmp_path / "olist_personas.yml"
    shutil.copy(SPECS / "olist_personas.yml", spec)
    model = SPECS / "olist_personas.persona.model.json"
    shutil.copy(model, tmp_path / model.name)
    done = runner.invoke(app, ["cluster", str(spec), "--engine", url, "--format", "json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["unchanged"] is True
    assert (tmp_path / model.name).read_bytes() == model.read_bytes()
    code, report = _verify(url, spec, "-d", "duckdb")
    assert code == 0 and "agreement:persona" in {c["name"] for c in report["checks"]}, report
    # a sample: the spec without names (a half may not find every named cluster)
    text = spec.read_text(encoding="utf-8")
    unnamed = tmp_path / "unnamed.yml"
    unnamed.write_text(text[: text.index("      # Named after")], encoding="utf-8")
    half = tmp_path / "half.json"
    done = runner.invoke(
        app,
        ["cluster", str(unnamed), "--engine", url, "--sample", "0.5", "--model", str(half),
         "--format", "json"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    counts = _sample().execute(
        "SELECT c.customer_id, COUNT(DISTINCT o.order_id) FROM customers c "
        "LEFT JOIN market_orders o ON o.customer_id = c.customer_id GROUP BY 1"
    )
    repeat = [k for k, n in counts.fetchall() if n > 1]  # cluster.where: no_orders > 1
    below = keyhash.threshold(0.5)
    want = sum(keyhash.key_hash(keyhash.SAMPLE_SALT, k) < below for k in repeat)
    assert 0 < want < len(repeat) and json.loads(done.stdout)["rows"] == want


def test_fitting_from_an_engine_without_a_date_asks_for_one(tmp_path):
    """With --engine the events stay on the engine, so the latest event date is not known
    here: a timed spec without an as-of date is a usage error saying to pass --as-of."""
    import sqlite3

    db = tmp_path / "e.db"
    sqlite3.connect(db).close()
    spec = tmp_path / "timed.yml"
    text = (SPECS / "olist_personas.yml").read_text(encoding="utf-8")
    spec.write_text(
        text.replace("    table: market_orders\n", "    table: market_orders\n    time: day\n"),
        encoding="utf-8",
    )
    done = runner.invoke(app, ["cluster", str(spec), "--engine", f"sqlite:///{db}"])
    assert done.exit_code == 2 and "pass --as-of YYYY-MM-DD" in done.output, done.output


def _profile_matches(url: str) -> None:
    """``semseg profile --engine``: the profile's SQL runs on the engine and its records are
    the local profile's of the same data (values to 1e-9: the engine's float sums); with
    ``--sample`` the index covers Python's sampled keys."""
    args = ["profile", str(OFFER), "--overlay", "total_discount_amount", "--format", "json"]
    there = runner.invoke(app, [*args, "--engine", url])
    here = runner.invoke(app, args)
    assert there.exit_code == 0 and here.exit_code == 0, there.output
    got, want = json.loads(there.stdout)["rows"], json.loads(here.stdout)["rows"]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for k, v in w.items():
            if isinstance(v, float):
                assert g[k] == pytest.approx(v, rel=1e-9, abs=1e-12), (k, g, w)
            else:
                assert g[k] == v, (k, g, w)
    half = runner.invoke(app, [*args, "--engine", url, "--sample", "0.5"])
    below = keyhash.threshold(0.5)
    wanted = sum(keyhash.key_hash(keyhash.SAMPLE_SALT, c) < below for c in _customers(_sample()))
    assert half.exit_code == 0 and json.loads(half.stdout)["population"] == wanted
