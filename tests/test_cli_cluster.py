"""semseg cluster through the CLI: fits, reports, and never replaces a different model silently."""

from __future__ import annotations

import errno
import json
import os
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


class _FullDisk:
    """A file on a disk that fills up after 4 KB: the rest of the write fails with ENOSPC."""

    def __init__(self, handle):
        self.handle = handle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()

    def write(self, data: bytes) -> int:
        self.handle.write(data[:4096])
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.handle, name)


def test_a_full_disk_during_cluster_force_keeps_the_old_model(tmp_path, monkeypatch):
    """It had destroyed the old model and left 4 KB of invalid JSON (issue 11)."""
    spec, model = _copy(tmp_path)
    model.write_text('{"edited": true}')  # the old model, different from the refit
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k)))
    result = runner.invoke(app, ["cluster", str(spec), "--force"])
    monkeypatch.undo()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No space left on device" in result.output and MODEL.name in result.output
    assert model.read_text() == '{"edited": true}'  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([MODEL.name, "olist_personas.yml"])
