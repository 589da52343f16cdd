"""Reading a spec file, before validation (``semseg/spec/load.py``; the missing-file check of
``load_spec``): YAML syntax errors, empty, missing and non-UTF-8 files, duplicate keys, hostile
YAML (alias loops and bombs, deep nesting, tags, keys that are not text: issue 11), merge keys
and number forms. Each is one issue at the right line and column.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from semseg.errors import SpecError
from semseg.spec import load_spec
from tests.cli_helpers import check_text as _check
from tests.cli_helpers import run_clean as _run
from tests.golden_regen import SPECS
from tests.validate_helpers import BASE, expect, issues_of, the_issue, variant

OFFER = SPECS / "offer_seeker.yml"


# --- YAML syntax, the file itself, duplicate keys --------------------------------------------


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((14, "agg: count", "agg: count: distinct")))
    expect(
        issue,
        14,
        15,
        ("invalid YAML", "mapping values are not allowed"),
        ("indentation", "colons", "quoting"),
    )


def test_invalid_yaml_unclosed_flow_sequence(tmp_path: Path) -> None:
    issues = issues_of(tmp_path, variant((36, "labels: [High, Mid, Low]", "labels: [High, Mid")))
    assert len(issues) == 1
    assert issues[0].message.startswith("invalid YAML")
    assert issues[0].line >= 36


@pytest.mark.parametrize(
    "text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"]
)
def test_empty_file(tmp_path: Path, text: str) -> None:
    expect(the_issue(tmp_path, text), 1, 1, "the spec file is empty", ("version: 1", "name:"))


def test_spec_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(tmp_path / "missing.yml")
    [issue] = err.value.issues
    expect(issue, 1, 1, "spec file not found", "check the path")


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes(BASE.replace("customer_id", "cliént_id").encode("latin-1"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    [issue] = err.value.issues
    expect(issue, 1, 1, "not UTF-8", "UTF-8")


def test_duplicate_key(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((20, "fill: 0", "agg: avg")))
    expect(issue, 20, 5, ("duplicate key 'agg'", "first defined on line 18"), ("remove or rename",))


def test_duplicate_key_in_flow_mapping(tmp_path: Path) -> None:
    issue = the_issue(tmp_path, variant((29, "min: 3", "label: Often, min: 3")))
    expect(issue, 29, 27, ("duplicate key 'label'", "line 29"), "rename")


# --- hostile YAML, merge keys and number forms (issue 11) ------------------------------------


ALIAS_BOMB = "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("a: &a [*a]\n", 1, "an alias refers to a node that contains it"),
        (ALIAS_BOMB, 2, "expands to more than"),  # 9^10 values: it ran past 20 s and 2 GB
        ("a: " + "[" * 3000 + "]" * 3000 + "\n", 1, "nests too deep"),
        ("b: 1\na: " + "[" * 60 + "]" * 60 + "\n", 2, "nests deeper than"),
        ("version: !!python/object:os.system [ls]\n", 1, "unsupported YAML tag"),
        ("version: !custom 1\n", 1, "unsupported YAML tag"),
        ("? [a, b]\n: 1\n", 1, "a key must be text"),
    ],
)
def test_hostile_yaml_is_one_located_error(tmp_path, text, line, message):
    result, path = _check(tmp_path, text)
    assert result.exit_code == 1
    assert f"{path}:{line}:" in result.output and message in result.output, result.output


def test_merge_keys_and_exponent_numbers_are_read(tmp_path):
    """`<<: *base` merges (it was an unknown key) and `min: 1e3` is a number (it was text)."""
    text = OFFER.read_text(encoding="utf-8")
    text = text.replace(
        "  total_discount_amount:\n",
        "  total_discount_amount: &amount\n",
    )
    text = text.replace(
        "segmentations:",
        "  discount_again:\n    <<: *amount\n    description: the same, merged\nsegmentations:",
    )
    text = text.replace("min: 3", "min: 3e0")
    result, path = _check(tmp_path, text)
    assert result.exit_code == 0, result.output
    sql = _run("compile", path).stdout
    assert "AS discount_again" in sql and ">= 3.0" in sql
