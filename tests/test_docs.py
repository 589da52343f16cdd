"""Docs that cannot drift: every CLI command and option is documented in the README."""

from __future__ import annotations

import re

import typer.main
from typer.testing import CliRunner

from semseg.cli import app
from tests.golden_regen import ROOT

README = (ROOT / "README.md").read_text()


def test_every_command_is_in_the_readme():
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for name in commands:
        assert f"semseg {name}" in README, f"README does not document `semseg {name}`"


def test_every_option_is_in_the_readme():
    group = typer.main.get_command(app)
    missing = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            for opt in param.opts:
                if opt.startswith("--") and opt != "--help" and opt not in README:
                    missing.append(f"semseg {name} {opt}")
    assert not missing, f"undocumented options: {missing}"


def test_readme_shows_exactly_the_two_setup_commands():
    assert re.search(r"^make demo\b", README, re.M) and re.search(r"^make test\b", README, re.M)
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
