"""semseg profile through the CLI: index table, SQL for a dialect, HTML without overwrites."""

from __future__ import annotations

import sqlglot
from typer.testing import CliRunner

from semseg.cli import app
from tests.golden_regen import SPECS

runner = CliRunner()
OFFER = str(SPECS / "offer_seeker.yml")


def test_profile_prints_index_table_with_overlay():
    result = runner.invoke(app, ["profile", OFFER, "--overlay", "distinct_offers_used"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("offer_seeker.offer_seeker_segment: index vs population")
    assert "*distinct_offers_used" in lines[1]
    # Non-Offer Users have 0 discounted orders: index = 0 / mean - 1 = -100%.
    assert any(ln.strip().startswith("Non-Offer User") and "-100.0%" in ln for ln in lines)


def test_profile_sql_for_a_dialect_parses():
    result = runner.invoke(app, ["profile", OFFER, "--sql", "snowflake"])
    assert result.exit_code == 0, result.output
    assert sqlglot.parse(result.stdout, read="snowflake")


def test_profile_html_refuses_to_overwrite(tmp_path):
    page = tmp_path / "p.html"
    first = runner.invoke(app, ["profile", OFFER, "--html", str(page)])
    assert first.exit_code == 0, first.output
    text = page.read_text()
    assert "Offer Seeker" in text and "Non-Offer User" in text
    page.write_text("mine")
    again = runner.invoke(app, ["profile", OFFER, "--html", str(page)])
    assert again.exit_code == 1 and "--force" in again.output and page.read_text() == "mine"


def test_profile_usage_errors():
    bad = runner.invoke(app, ["profile", OFFER, "--overlay", "nope"])
    assert bad.exit_code == 2 and "not a metric" in bad.output
    bad = runner.invoke(app, ["profile", OFFER, "--segmentation", "nope"])
    assert bad.exit_code == 2 and "no segmentation 'nope'" in bad.output
