"""The data service: one connection per run, the model run once, tables as the spec names them."""

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
from tests.golden_regen import SPECS


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
