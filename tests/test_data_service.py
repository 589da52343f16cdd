"""The data service: one connection per run, the model run once, tables as the spec names them,
and data it cannot read (a broken file, a header-only CSV, a locked database) named in the error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from semseg.data import Session, open_session
from semseg.errors import DataError, UsageError
from semseg.profile.index import profile
from semseg.sample import table_paths
from semseg.spec import load_spec
from semseg.verify import verify
from tests.cli_helpers import run_clean as _run
from tests.golden_regen import SPECS

OFFER = SPECS / "offer_seeker.yml"


@pytest.fixture
def loads(monkeypatch):
    """Every model query stored by a session, in order."""
    seen: list[str] = []
    original = Session.load

    def counting(self, sql, table="semseg_result", hand_written=False):
        seen.append(table)
        return original(self, sql, table, hand_written)

    monkeypatch.setattr(Session, "load", counting)
    return seen


def test_profile_with_html_projection_runs_the_model_once(loads):
    result = profile(load_spec(SPECS / "olist_personas.yml"), "persona", projection=True)
    assert result.projection["x"] and loads == ["semseg_result"]


def test_verify_runs_the_model_once_and_the_metrics_once_for_the_refit(loads):
    report = verify(load_spec(SPECS / "olist_personas.yml"), dialects=["duckdb"])
    assert report.passed and loads == ["semseg_result", "semseg_metrics"]


def test_session_reuses_the_model_table(loads):
    with open_session(load_spec(SPECS / "offer_seeker.yml")) as session:
        assert session.model() == session.model() == "semseg_result"
    assert loads == ["semseg_result"]


def test_schema_and_catalog_qualified_tables_read_from_a_folder(tmp_path: Path):
    text = (SPECS / "offer_seeker.yml").read_text(encoding="utf-8")
    text = text.replace("table: int_customers", "table: crm.int_customers")
    text = text.replace("table: int_order_lines", "table: analytics.dw.int_order_lines")
    spec = tmp_path / "qualified.yml"
    spec.write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    for path in table_paths("retail").values():
        shutil.copy(path, data / path.name)
    report = verify(load_spec(spec), data, dialects=["duckdb"])
    assert report.passed and report.rows > 1000


def test_a_table_option_the_spec_does_not_read_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="reads no table of that name"):
        open_session(load_spec(SPECS / "offer_seeker.yml"), tables={"my table": tmp_path})


def test_a_hand_written_model_must_be_one_select():
    spec_file = load_spec(SPECS / "offer_seeker.yml")
    with open_session(spec_file) as session:
        for script in (
            "SELECT 1; COPY (SELECT 1) TO 'x.csv'",
            "ATTACH 'x.db' AS x",
            "CREATE TABLE t AS SELECT 1",
        ):
            with pytest.raises(DataError, match="must be one SELECT"):
                session.load(script, hand_written=True)


# --- data it cannot read is an error naming it (issue 11) ------------------------------------


@pytest.fixture
def bad_files(tmp_path):
    customers = table_paths("retail")["int_customers"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"unified_customer_id,x\n\xff\xfe,1\n")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(table_paths("retail")["int_order_lines"].read_bytes()[:2000])
    return customers, bad, truncated


@pytest.mark.parametrize("which", ["bad", "truncated"])
def test_unreadable_data_files_name_the_file(bad_files, which):
    customers, bad, truncated = bad_files
    path = bad if which == "bad" else truncated
    result = _run(
        "verify", OFFER, "-d", "duckdb",
        "--table", f"int_customers={customers}", "--table", f"int_order_lines={path}",
    )  # fmt: skip
    assert result.exit_code == 1 and f"{path}: cannot be read as" in result.output


def test_data_that_is_not_a_database_or_a_folder(tmp_path):
    result = _run("verify", OFFER, "--data", table_paths("retail")["int_customers"])
    assert result.exit_code == 2 and "--table NAME=FILE" in result.output
    not_db = tmp_path / "notes.db"
    not_db.write_text("hello", encoding="utf-8")
    result = _run("verify", OFFER, "--data", not_db)
    assert result.exit_code == 1 and "not a DuckDB database" in result.output


def test_a_header_only_csv_is_named_when_the_model_fails(tmp_path):
    """A CSV with a header and no rows gave a TypeError traceback; now the model's failure
    names the table and why its columns have no types."""
    lines = table_paths("retail")["int_order_lines"]
    header = tmp_path / "lines.csv"
    import duckdb

    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_parquet('{lines}') LIMIT 0) TO '{header}' (HEADER true)"
    )
    customers = table_paths("retail")["int_customers"]
    result = _run(
        "verify", OFFER, "-d", "duckdb",
        "--table", f"int_customers={customers}", "--table", f"int_order_lines={header}",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "int_order_lines" in result.output and "has a header and no rows" in result.output


def test_a_database_locked_by_a_writer_says_so(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); "
         "c.execute('CREATE TABLE t AS SELECT 1 AS x'); print('ready', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = _run("verify", OFFER, "--data", db)
        assert result.exit_code == 1 and "locked by another process" in result.output
    finally:
        holder.communicate("")
