"""Regression tests for issue 9, through the command line only (the modules are being moved).

Each test pins one bug listed in the issue and failed on the code the issue was filed against,
except ``test_guard_bundled_specs_still_pass_check``, a guard that the new name rules do not
refuse the bundled example specs. Behaviour pinned:

- A. unsafe names (generated CTE/column names, reserved words, niladic functions, ``__``) are
  refused by ``semseg check`` at ``file:line:col`` with a fix hint;
- B. ``--dbt`` with 11+ tables refers to every table by exactly its own ``ref()``;
- C. the same usage mistake exits 2 in ``cluster`` and ``profile``;
- D. ``--format json`` prints a JSON error object on stdout on error paths too;
- E. one overwrite policy: clashing outputs in one run, symlinks out of the folder and folders
  in the way are refused cleanly.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from semseg.cli import app

SPECS = Path(__file__).resolve().parents[1] / "segment_specs"
PERSONAS = SPECS / "olist_personas.yml"
PERSONAS_MODEL = SPECS / "olist_personas.persona.model.json"
ERROR_KINDS = {"spec", "compile", "data", "usage"}

runner = CliRunner()


# --- helpers ---------------------------------------------------------------------------------


def run(*args: str | Path) -> Result:
    """Invoke ``semseg`` with ``args`` (paths converted to text)."""
    return runner.invoke(app, [str(a) for a in args])


def write_spec(path: Path, text: str) -> Path:
    """Write a dedented spec to ``path`` and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def assert_clean_exit(result: Result) -> None:
    """The command ended by exiting, not by an exception, and printed no traceback."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}; output:\n{result.output}"
    )


@dataclass(frozen=True)
class ErrorLine:
    """One ``path:line:col: error: message — hint`` line of the output."""

    line: int
    col: int
    message: str
    hint: str


def error_lines(result: Result, path: Path) -> list[ErrorLine]:
    """The ``<path>:<line>:<col>: error: ...`` lines of the output, parsed."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): error: (.*)$")
    found = []
    for text in result.output.splitlines():
        match = pattern.match(text)
        if match:
            message, _, hint = match.group(3).partition(" — ")
            found.append(ErrorLine(int(match.group(1)), int(match.group(2)), message, hint))
    return found


def copy_personas(tmp_path: Path) -> tuple[Path, Path]:
    """olist_personas.yml and its fitted model, copied so no command can touch the originals."""
    spec = tmp_path / PERSONAS.name
    model = tmp_path / PERSONAS_MODEL.name
    shutil.copy(PERSONAS, spec)
    shutil.copy(PERSONAS_MODEL, model)
    return spec, model


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


# --- A. names ----------------------------------------------------------------------------------
# Each template is a minimal valid spec once ``@@`` is replaced by the control name, and breaks
# exactly one name rule with the offending name. ``fragment`` locates the line to report.

SOURCE = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      @@: {table: raw_orders}
    metrics:
      order_count: {source: @@, agg: count}
    """

FIRST_OF_TWO_SOURCES = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      @@: {table: raw_orders}
      returns: {table: raw_returns}
    metrics:
      order_count: {source: @@, agg: count}
      return_count: {source: returns, agg: count}
    """

TABLE = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: order_lines}
      returns:
        table: @@
    metrics:
      order_count: {source: orders, agg: count}
      return_count: {source: returns, agg: count}
    """

METRIC = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      @@: {source: orders, agg: sum, expr: amount}
    """

ENTITY_KEY = """\
    version: 1
    name: names
    entity:
      name: customer
      key: @@
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    """

SEGMENTATION = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    segmentations:
      @@:
        by: order_count
        segments:
          - {label: Many, min: 2}
          - {label: Few, else: true}
    """

NAME_CASES = [
    # (template, offending name, valid control name, fragment of the line to report)
    pytest.param(SOURCE, "metrics", "orders", "  @@: {table", id="source-metrics-duplicate-cte"),
    pytest.param(
        FIRST_OF_TWO_SOURCES, "keys", "orders", "  @@: {table", id="source-keys-duplicate-cte"
    ),
    pytest.param(TABLE, "customer_orders", "return_lines", "table: @@", id="table-shadowed-by-cte"),
    pytest.param(METRIC, "order", "spend", "  @@: {source", id="metric-reserved-order"),
    pytest.param(METRIC, "group", "spend", "  @@: {source", id="metric-reserved-group"),
    pytest.param(ENTITY_KEY, "user", "customer_id", "key: @@", id="key-niladic-user"),
    pytest.param(METRIC, "current_date", "spend", "  @@: {source", id="metric-current_date"),
    pytest.param(METRIC, "current_user", "spend", "  @@: {source", id="metric-current_user"),
    pytest.param(SEGMENTATION, "select", "frequency", "  @@:", id="segmentation-select"),
    pytest.param(SEGMENTATION, "from", "frequency", "  @@:", id="segmentation-from"),
    pytest.param(METRIC, "spend__rank", "spend_rank", "  @@: {source", id="metric-dunder"),
]


def position(text: str, fragment: str, name: str) -> tuple[int, set[int]]:
    """1-based line of the one line holding ``fragment`` (``@@`` = ``name``), and the columns an
    error may point at: the start of the name or of the key it belongs to."""
    rendered = fragment.replace("@@", name)
    hits = [(n, line) for n, line in enumerate(text.splitlines(), 1) if rendered in line]
    assert len(hits) == 1, f"{rendered!r} should be on exactly one line of:\n{text}"
    number, line = hits[0]
    name_col = line.index(rendered) + fragment.index("@@") + 1
    key_col = len(line) - len(line.lstrip()) + 1
    return number, {name_col, key_col}


def assert_name_refused(result: Result, path: Path, text: str, fragment: str, name: str) -> None:
    """Exit 1, no traceback, and an error at the name's line quoting it, with a fix hint."""
    assert result.exit_code == 1, f"the name {name!r} was accepted:\n{result.output}"
    assert_clean_exit(result)
    line, cols = position(text, fragment, name)
    quoting = [e for e in error_lines(result, path) if f"'{name}'" in e.message]
    assert any(e.line == line and e.col in cols and e.hint.strip() for e in quoting), (
        f"expected `{path}:{line}:<col in {sorted(cols)}>: error: ...'{name}'... — <hint>` in:\n"
        f"{result.output}"
    )


@pytest.mark.parametrize(("template", "name", "control", "fragment"), NAME_CASES)
def test_check_refuses_unsafe_name(
    tmp_path: Path, template: str, name: str, control: str, fragment: str
) -> None:
    """Issue 9, names: `check` accepted names that collide with generated CTEs/columns, SQL
    reserved words and niladic functions, which then compiled to broken or silently wrong SQL."""
    control_path = write_spec(tmp_path / "control.yml", template.replace("@@", control))
    control_result = run("check", control_path)
    assert control_result.exit_code == 0, (
        f"the control spec must be valid:\n{control_result.output}"
    )

    text = textwrap.dedent(template).replace("@@", name)
    path = write_spec(tmp_path / "spec.yml", text)
    assert_name_refused(run("check", path), path, text, fragment, name)


@pytest.mark.parametrize("command", ["compile", "verify"])
def test_compile_and_verify_refuse_unsafe_name_before_compiling(
    tmp_path: Path, command: str
) -> None:
    """Issue 9, names: a source named `metrics` reached the compiler (two CTEs
    `customer_metrics`); compile and verify must stop at validation with the same error."""
    text = textwrap.dedent(SOURCE).replace("@@", "metrics")
    path = write_spec(tmp_path / "spec.yml", text)
    result = run(command, path)
    assert_name_refused(result, path, text, "  @@: {table", "metrics")
    assert "WITH" not in result.stdout, "SQL was compiled from a refused spec"


def test_guard_bundled_specs_still_pass_check() -> None:
    """GUARD (passes before the fix too): the name rules must not refuse the bundled specs."""
    result = run("check", SPECS)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == len(list(SPECS.glob("*.yml")))


# --- B. dbt with 11 or more tables -------------------------------------------------------------


def test_dbt_model_refs_eleven_tables_each_by_its_own_name(tmp_path: Path) -> None:
    """Issue 9, dbt: with 11+ tables the placeholder of table 1 was replaced inside the
    placeholder of table 10 (`{{ ref('t01') }}0`); every table must be exactly its own ref."""
    tables = [f"t{i:02d}" for i in range(1, 12)]
    sources = "".join(f"  s{t[1:]}: {{table: {t}}}\n" for t in tables)
    metrics = "".join(f"  n{t[1:]}: {{source: s{t[1:]}, agg: count}}\n" for t in tables)
    spec = tmp_path / "eleven.yml"
    spec.write_text(
        "version: 1\nname: eleven\nentity: {name: customer, key: customer_id}\n"
        f"sources:\n{sources}metrics:\n{metrics}",
        encoding="utf-8",
    )
    project = tmp_path / "dbt_project"
    project.mkdir()
    result = run("compile", spec, "--dbt", project)
    assert result.exit_code == 0, result.output
    model = (project / "models" / "eleven.sql").read_text(encoding="utf-8")

    assert "{{ ref('t01') }}0" not in model and "{{ ref('t01') }}1" not in model, model
    refs = re.findall(r"\{\{ ref\('([^']*)'\) \}\}(\w*)", model)
    glued = [f"{{{{ ref('{name}') }}}}{tail}" for name, tail in refs if tail]
    assert not glued, f"refs glued to leftover placeholder text: {glued}"
    assert "{{ ref('t10') }}" in model and "{{ ref('t11') }}" in model, model
    assert sorted({name for name, _ in refs}) == tables
    bare = re.findall(r"\bt\d\d\b", re.sub(r"\{\{ ref\('t\d\d'\) \}\}", "", model))
    assert not bare, f"tables left outside ref(): {bare}"
    assert "semseg_dbt_relation" not in model


# --- C. same mistake, same exit code -----------------------------------------------------------


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


# --- D. --format json on error paths -----------------------------------------------------------

SMALL = """\
    version: 1
    name: small
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    """


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        pytest.param("agg: count}", "agg: count: x}", "YAML", id="yaml-syntax"),
        pytest.param("source: orders", "source: order", "'order'", id="unknown-source"),
    ],
)
def test_verify_json_reports_spec_errors_as_json(
    tmp_path: Path, old: str, new: str, words: str
) -> None:
    """Issue 9, JSON: `verify --format json` printed spec problems as text on stderr only, so a
    caller parsing stdout got nothing; it must print a JSON error with every issue."""
    text = textwrap.dedent(SMALL)
    assert text.count(old) == 1
    text = text.replace(old, new)
    line = next(n for n, ln in enumerate(text.splitlines(), 1) if new in ln)
    path = write_spec(tmp_path / "broken.yml", text)

    result = run("verify", path, "--format", "json")
    assert result.exit_code == 1, result.output
    assert_clean_exit(result)
    error = json_error(result)
    assert error["kind"] == "spec", error
    issues = error.get("issues")
    assert isinstance(issues, list) and issues, error
    for issue in issues:
        assert {"file", "line", "col", "message", "hint"} <= set(issue), issue
        assert isinstance(issue["line"], int) and isinstance(issue["col"], int), issue
        assert isinstance(issue["message"], str) and isinstance(issue["hint"], str), issue
    assert any(
        i["file"] == str(path) and i["line"] == line and words in i["message"] for i in issues
    ), issues


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


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "SPEC", "--format", "json", "--dialect", "oracle"),  # a bad choice
        ("cluster", "SPEC", "--nope", "--format=json"),  # an unknown option
    ],
)
def test_a_usage_error_found_by_the_parser_is_json_too(tmp_path: Path, args) -> None:
    """`--format json` on every path: click's own usage errors (found before a command runs)
    were text on stderr."""
    spec, _ = copy_personas(tmp_path)
    result = run(*[spec if a == "SPEC" else a for a in args])
    assert result.exit_code == 2, result.output
    error = json_error(result)
    assert error["kind"] == "usage" and error["exit_code"] == 2, error


# --- E. one overwrite policy -------------------------------------------------------------------


def test_two_specs_writing_the_same_file_are_refused_before_writing(tmp_path: Path) -> None:
    """Issue 9, overwrite: two specs with the same `name:` in one run wrote the first file and
    then failed on the second; the clash must be reported up front, naming both specs."""
    folder = tmp_path / "specs"
    for stem in ("first_copy", "second_copy"):
        write_spec(folder / f"{stem}.yml", SMALL.replace("name: small", "name: dup_model"))
    out = tmp_path / "out"
    out.mkdir()

    result = run("compile", folder, "--out", out)
    assert result.exit_code == 1, result.output
    assert_clean_exit(result)
    for named in ("first_copy.yml", "second_copy.yml", "dup_model.sql"):
        assert named in result.output, f"{named} not named in:\n{result.output}"
    assert sorted(p.name for p in out.iterdir()) == [], "files were written before the refusal"


def test_force_does_not_follow_a_symlink_out_of_the_target_folder(tmp_path: Path) -> None:
    """Issue 9, overwrite: `--force` wrote through `<out>/<name>.sql` when it was a symlink to a
    file outside `<out>`, replacing that file."""
    outside = tmp_path / "elsewhere" / "precious.sql"
    outside.parent.mkdir()
    outside.write_text("-- not yours\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "small.sql").symlink_to(outside)
    spec = write_spec(tmp_path / "small.yml", SMALL)

    result = run("compile", spec, "--out", out, "--force")
    assert result.exit_code != 0, f"wrote through the symlink:\n{result.output}"
    assert_clean_exit(result)
    assert outside.read_text(encoding="utf-8") == "-- not yours\n"


def test_folder_in_place_of_the_output_file_is_a_clean_error(tmp_path: Path) -> None:
    """Issue 9, overwrite: a folder at `<out>/<name>.sql` raised IsADirectoryError; it must be
    a one-line error naming the path."""
    out = tmp_path / "out"
    target = out / "small.sql"
    target.mkdir(parents=True)
    spec = write_spec(tmp_path / "small.yml", SMALL)

    result = run("compile", spec, "--out", out)
    assert_clean_exit(result)
    assert result.exit_code == 1, result.output
    assert str(target) in result.output, result.output
    assert target.is_dir() and not any(target.iterdir())
