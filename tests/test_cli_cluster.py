"""semseg cluster through the CLI: fits, reports, usage errors (as text or JSON), and never
replaces a different model silently."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

from typer.testing import CliRunner

from semseg.cli import app
from tests.cli_helpers import (
    PERSONAS_MODEL,
    assert_clean_exit,
    copy_personas,
    json_error,
    run,
)
from tests.cli_helpers import run_clean as _run
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


# --- usage errors, as text and as JSON (issue 9) ---------------------------------------------


def test_unknown_segmentation_is_a_usage_error_in_cluster_and_profile(tmp_path: Path) -> None:
    """Issue 9, exit codes: `--segmentation nope` exited 1 in `cluster` but 2 in `profile`; both
    must be usage errors (2), raised before anything is fitted or written."""
    spec, model = copy_personas(tmp_path)
    codes = {}
    for command in ("cluster", "profile"):
        result = run(command, spec, "--segmentation", "nope")
        assert_clean_exit(result)
        assert "nope" in result.output, result.output
        codes[command] = result.exit_code
    assert codes == {"cluster": 2, "profile": 2}
    assert model.read_bytes() == PERSONAS_MODEL.read_bytes()


def test_cluster_json_reports_usage_error_as_json(tmp_path: Path) -> None:
    """Issue 9, JSON and exit codes: `cluster --format json --segmentation nope` printed text
    and exited 1; it must exit 2 with a JSON usage error on stdout."""
    spec, model = copy_personas(tmp_path)
    result = run("cluster", spec, "--segmentation", "nope", "--format", "json")
    assert_clean_exit(result)
    error = json_error(result)
    assert result.exit_code == 2, result.output
    assert error["kind"] == "usage", error
    assert "nope" in error["message"], error
    assert model.read_bytes() == PERSONAS_MODEL.read_bytes()


# --- installs and specs that were not handled (issue 11) -------------------------------------


def test_a_plain_install_names_the_cluster_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sklearn" else real(name, *a)
    )
    spec = tmp_path / "olist_personas.yml"
    spec.write_text((SPECS / "olist_personas.yml").read_text("utf-8"), "utf-8")
    result = _run("cluster", spec)
    assert result.exit_code == 2 and "pip install 'semseg[cluster]'" in result.output
    assert not list(tmp_path.glob("*.model.json"))  # nothing written


def test_cluster_fits_every_cluster_segmentation_of_a_spec(tmp_path):
    """Two cluster segmentations in one spec: both are fitted and both agreements measured
    (the first one's agreement compiled the whole model, which needs the second's model
    file, not written yet)."""
    import yaml

    spec = yaml.safe_load((SPECS / "olist_personas.yml").read_text("utf-8"))
    twin = dict(spec["segmentations"]["persona"])
    twin["cluster"] = dict(twin["cluster"], min_cluster_size=80)
    twin["cluster"].pop("names")  # the personas' names are for the personas' model
    twin.pop("order_column", None)
    spec["segmentations"]["persona_coarse"] = twin
    path = tmp_path / "two.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    result = _run("cluster", path)
    assert result.exit_code == 0, result.output
    assert result.output.count("assignment SQL agrees with the local labels on") == 2
    assert sorted(p.name for p in tmp_path.glob("*.model.json")) == [
        "two.persona.model.json",
        "two.persona_coarse.model.json",
    ]
