"""semseg cluster through the CLI: fits, reports, and never replaces a different model silently."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from semseg.cli import app
from tests.golden_regen import SPECS

runner = CliRunner()
MODEL = SPECS / "olist_personas.persona.model.json"


def _copy(tmp_path):
    shutil.copy(SPECS / "olist_personas.yml", tmp_path / "olist_personas.yml")
    shutil.copy(MODEL, tmp_path / MODEL.name)
    return tmp_path / "olist_personas.yml", tmp_path / MODEL.name


def test_refit_of_identical_model_is_unchanged_and_different_needs_force(tmp_path):
    spec, model = _copy(tmp_path)
    same = runner.invoke(app, ["cluster", str(spec), "--format", "json"])
    assert same.exit_code == 0, same.output
    payload = json.loads(same.stdout)
    assert payload["unchanged"] is True and payload["clusters"] >= 5
    assert model.read_bytes() == MODEL.read_bytes()

    model.write_text('{"edited": true}')
    refused = runner.invoke(app, ["cluster", str(spec)])
    assert refused.exit_code == 1 and "--force" in refused.output
    assert model.read_text() == '{"edited": true}'

    forced = runner.invoke(app, ["cluster", str(spec), "--force"])
    assert forced.exit_code == 0, forced.output
    assert model.read_bytes() == MODEL.read_bytes()  # deterministic: the committed model again
    assert "assignment SQL agrees with the local labels on" in forced.stdout


def test_cluster_on_a_spec_without_cluster_segmentation_fails_cleanly():
    result = runner.invoke(app, ["cluster", str(SPECS / "offer_seeker.yml")])
    assert result.exit_code == 2  # a usage error, as an unknown --segmentation is
    assert "Traceback" not in result.output and "cluster" in result.output
