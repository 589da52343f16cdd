"""Validation as a whole (``semseg/spec/validate/__init__.py``, through ``load_spec`` and the
CLI): the fixtures and the example specs are valid; the checks on the whole spec (a mapping, a
known dialect); every problem is reported at once, sorted by line, structural and semantic
together without cascading; how an issue is printed, and what ``check`` and ``compile`` print.

The rules themselves are tested by module: ``tests/test_validate_<module>.py``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.errors import SpecError
from semseg.spec import load_spec
from tests.validate_helpers import BASE, HEAD, expect, issues_of, the_issue, variant

SPECS_DIR = Path(__file__).resolve().parents[1] / "segment_specs"


# --- the fixtures themselves -----------------------------------------------------------------


def test_base_spec_is_valid(tmp_path: Path) -> None:
    assert issues_of(tmp_path, BASE) == []
    assert all(line.endswith(f"# {n}") for n, line in enumerate(BASE.splitlines(), 1))


def test_small_head_is_valid(tmp_path: Path) -> None:
    spec = HEAD + "  n: {source: orders, agg: count}\n"
    assert issues_of(tmp_path, spec) == []


@pytest.mark.parametrize("path", sorted(SPECS_DIR.glob("*.yml")), ids=lambda p: p.name)
def test_every_example_spec_is_valid(path: Path) -> None:
    load_spec(path)  # raises SpecError listing the issues if any


def test_there_are_example_specs() -> None:
    assert len(list(SPECS_DIR.glob("*.yml"))) >= 3


# --- the spec as a whole ---------------------------------------------------------------------


def test_spec_not_a_mapping(tmp_path: Path) -> None:
    expect(
        the_issue(tmp_path, "- version: 1\n- name: x\n"),
        1,
        1,
        "the spec must be a YAML mapping",
        "version: 1",
    )


def test_unknown_dialect(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((3, "description: A small valid spec", "dialect: oracle9")))
    expect(issue, 3, 10, "unknown SQL dialect 'oracle9'", ("sqlglot dialect", "duckdb"))


def test_known_dialect_is_accepted(tmp_path: Path) -> None:
    spec = variant((3, "description: A small valid spec", "dialect: snowflake"))
    assert issues_of(tmp_path, spec) == []


# --- several problems at once ----------------------------------------------------------------


def test_independent_problems_are_all_reported_sorted_by_line(tmp_path: Path) -> None:
    spec = variant(
        (47, "segment: Loyal", "segment: Loyl"),  # references (line 47)
        (29, "min: 3", "min: 2"),  # bands: overlap with Occasional (line 30)
        (19, "expr: amount", "description: no expr"),  # kinds: sum without expr (line 17)
    )
    issues = issues_of(tmp_path, spec)
    assert [i.line for i in issues] == [17, 30, 47], [i.format() for i in issues]
    assert "without 'expr'" in issues[0].message
    assert "overlaps" in issues[1].message
    assert "unknown segment 'Loyl'" in issues[2].message


def test_structural_and_semantic_problems_are_reported_together(tmp_path):
    """A broken entry does not hide the other entries' problems, nor cascade into noise."""
    spec = tmp_path / "mixed.yml"
    spec.write_text(
        textwrap.dedent(
            """\
            version: 1
            name: mixed
            entity: {name: customer, key: cid}
            sources:
              lines: {table: t}
            metrics:
              a: {source: lines, agg: sum, expr: x, fill: [0]}
              b: {source: linez, agg: sum, expr: y}
              c: {expr: a + b}
            segmentations:
              s:
                by: b
                segments:
                  - {label: X, min: 0, max: 5}
                  - {label: Y, min: 3}
                  - {label: Z, else: true}
            """
        )
    )
    with pytest.raises(SpecError) as err:
        load_spec(spec)
    found = [(i.line, i.message) for i in err.value.issues]
    assert (
        found[0][0] == 7
        and "fill must be an integer, a number, text or true or false" in (found[0][1])
    )
    assert (8, "unknown source 'linez'") in found
    assert any(line == 15 and "overlaps 'X'" in msg for line, msg in found)
    # 'c' refers to the broken metric 'a': a consequence, not reported again.
    assert not any("'a'" in msg for _, msg in found)
    assert len(found) == 3


# --- how problems are printed, and the command line ------------------------------------------


def test_issue_format(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((17, "source: orders", "source: order")))
    path = tmp_path / "spec.yml"
    assert issue.format() == (
        f"{path}:17:13: error: unknown source 'order' — did you mean 'orders'?"
    )


@pytest.mark.parametrize("command", ["check", "compile"])
def test_cli_reports_problems_without_traceback(tmp_path: Path, command: str) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(
        variant((17, "source: orders", "source: order"), (29, "min: 3", "min: 4")), encoding="utf-8"
    )
    result = CliRunner().invoke(app, [command, str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""  # problems go to stderr only
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        f"{path}:17:13: error: unknown source 'order' — did you mean 'orders'?",
        f"{path}:29:9: error: values [3, 3] of 'order_count' fall between bands 'Occasional' "
        "and 'Frequent' — extend one band to close the gap",
    ]
    assert lines[2] == "2 problems found; nothing was compiled."


def test_cli_reports_yaml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text(variant((14, "agg: count", "agg: count: distinct")), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.startswith(f"{path}:14:15: error: invalid YAML")


def test_cli_check_accepts_the_example_specs() -> None:
    result = CliRunner().invoke(app, ["check", str(SPECS_DIR)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == len(list(SPECS_DIR.glob("*.yml")))
