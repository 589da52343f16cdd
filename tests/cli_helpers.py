"""Helpers for the tests that run ``semseg`` through typer's CliRunner: run it (and check that it
ended cleanly), write a spec, copy the bundled personas, read the JSON error of
``--format json``. Shared by the feature test files that took in the tests of the old
issue-named files (issue 23, item 34).
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from semseg.cli import app
from tests.golden_regen import SPECS

PERSONAS = SPECS / "olist_personas.yml"
PERSONAS_MODEL = SPECS / "olist_personas.persona.model.json"
ERROR_KINDS = {"spec", "compile", "data", "usage"}

runner = CliRunner()


def run(*args: str | Path) -> Result:
    """Invoke ``semseg`` with ``args`` (paths converted to text)."""
    return runner.invoke(app, [str(a) for a in args])


def run_clean(*args: str | Path):
    """Invoke ``semseg`` with ``args`` and assert that it ended by exiting, without a
    traceback (issue 11: a bad input is a clear error, never a crash)."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def write_spec(path: Path, text: str) -> Path:
    """Write a dedented spec to ``path`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def check_text(tmp_path: Path, text: str):
    """Write ``text`` to ``spec.yml`` in ``tmp_path`` and run ``semseg check`` on it."""
    path = tmp_path / "spec.yml"
    path.write_text(text, encoding="utf-8")
    return run_clean("check", path), path


def assert_clean_exit(result: Result) -> None:
    """The command ended by exiting, not by an exception, and printed no traceback."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}; output:\n{result.output}"
    )


def copy_personas(tmp_path: Path) -> tuple[Path, Path]:
    """olist_personas.yml and its fitted model, copied so no command can touch the originals."""
    spec = tmp_path / PERSONAS.name
    model = tmp_path / PERSONAS_MODEL.name
    shutil.copy(PERSONAS, spec)
    shutil.copy(PERSONAS_MODEL, model)
    return spec, model


def fitted_personas(tmp_path: Path, setting: str) -> Path:
    """``copy_personas`` with ``setting`` (e.g. ``rule: prototypes``) added to the persona
    segmentation's cluster, fitted again there (the copied model gives the ids); the spec."""
    from semseg.cluster.fit import fit_spec
    from semseg.data import open_session
    from semseg.spec import load_spec

    spec, _ = copy_personas(tmp_path)
    text = spec.read_text(encoding="utf-8")
    assert text.count("algorithm: hdbscan") == 1
    spec.write_text(text.replace("algorithm: hdbscan", f"algorithm: hdbscan\n      {setting}"))
    with open_session(load_spec(spec)) as session:
        fit_spec(session, force=True)
    return spec


def json_error(result: Result) -> dict:
    """The ``error`` object of the JSON printed on stdout, checked against the exit code."""
    try:
        payload = json.loads(result.stdout)
    except json.JSONDecodeError:
        payload = None
    if payload is None:
        pytest.fail(
            f"stdout is not JSON (exit {result.exit_code});\nstdout: {result.stdout!r}\n"
            f"stderr: {result.stderr!r}"
        )
    assert isinstance(payload, dict) and isinstance(payload.get("error"), dict), payload
    error = payload["error"]
    assert error.get("kind") in ERROR_KINDS, error
    assert error.get("exit_code") == result.exit_code, error
    assert isinstance(error.get("message"), str) and error["message"], error
    return error


# A minimal valid spec, indented: ``write_spec`` or ``textwrap.dedent`` takes the indent off.
SMALL = """\
    version: 1
    name: small
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    """
