"""Issue 11's bad inputs, family by family: each is a clear error (file:line:col where it has a
line), with exit 1 or 2, and never a traceback, a hang or a wrong result."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.sample import table_paths
from tests.golden_regen import SPECS

runner = CliRunner()
OFFER = SPECS / "offer_seeker.yml"


def _run(*args: str | Path):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def _check(tmp_path: Path, text: str):
    path = tmp_path / "spec.yml"
    path.write_text(text, encoding="utf-8")
    return _run("check", path), path


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


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("min: 3", "min: .nan", "is not a finite number"),
        ("min: 3", "min: .inf", "is not a finite number"),
        ("    fill: 0\n", "    fill: true\n", "fill True for the number"),
        ("    fill: 0\n", "    fill: 0.5\n", "is not an integer"),
        ("share_between: [0.0, 0.6]", "min_count: 5, max_count: 1", "is above max_count"),
    ],
)
def test_numbers_that_would_mislead_are_refused(tmp_path, old, new, message):
    text = OFFER.read_text(encoding="utf-8")
    assert old in text
    result, path = _check(tmp_path, text.replace(old, new, 1))
    assert result.exit_code == 1 and message in result.output, result.output
    assert f"{path}:" in result.output


def test_a_null_label_equal_to_a_tier_label_is_refused(tmp_path):
    rfm = (SPECS / "customer_rfm.yml").read_text(encoding="utf-8")
    rfm = rfm.replace("    labels: [Top 20%, High, Middle, Low, Bottom 20%]\n", (
        "    labels: [Top 20%, High, Middle, Low, Bottom 20%]\n    null_label: Low\n"
    ))  # fmt: skip
    result, _ = _check(tmp_path, rfm)
    assert result.exit_code == 1 and "is also a tier label" in result.output, result.output


@pytest.fixture
def bad_files(tmp_path):
    customers = table_paths("retail")["int_customers"]
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"unified_customer_id,x\n\xff\xfe,1\n")
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(table_paths("retail")["int_order_lines"].read_bytes()[:2000])
    return customers, bad, truncated


@pytest.mark.parametrize("which", ["bad", "truncated"])
def test_unreadable_data_files_name_the_file(bad_files, which):
    customers, bad, truncated = bad_files
    path = bad if which == "bad" else truncated
    result = _run(
        "verify", OFFER, "-d", "duckdb",
        "--table", f"int_customers={customers}", "--table", f"int_order_lines={path}",
    )  # fmt: skip
    assert result.exit_code == 1 and f"{path}: cannot be read as" in result.output


def test_data_that_is_not_a_database_or_a_folder(tmp_path):
    result = _run("verify", OFFER, "--data", table_paths("retail")["int_customers"])
    assert result.exit_code == 2 and "--table NAME=FILE" in result.output
    not_db = tmp_path / "notes.db"
    not_db.write_text("hello", encoding="utf-8")
    result = _run("verify", OFFER, "--data", not_db)
    assert result.exit_code == 1 and "not a DuckDB database" in result.output


def test_an_out_folder_that_is_a_file_or_read_only(tmp_path):
    file = tmp_path / "file"
    file.write_text("x", encoding="utf-8")
    result = _run("compile", OFFER, "--out", file)
    assert result.exit_code == 1 and "is a file, not a folder" in result.output
    assert file.read_text(encoding="utf-8") == "x"


def test_a_rule_on_a_label_that_does_not_exist_is_refused(tmp_path):
    text = (SPECS / "customer_rfm.yml").read_text(encoding="utf-8")
    text = text.replace("when: monetary_tier_order = 1", "when: monetary_tier = 'top 20%'")
    result, path = _check(tmp_path, text)
    assert result.exit_code == 1, result.output
    assert "'top 20%' is not a label of 'monetary_tier'" in result.output
    assert "did you mean 'Top 20%'?" in result.output and f"{path}:" in result.output


def test_dialects_format_is_text_or_json():
    result = _run("dialects", "--format", "xml")
    assert result.exit_code == 2


def test_profile_shows_control_characters_instead_of_obeying_them():
    from semseg.profile.index import Profile
    from semseg.profile.render import render_terminal

    label = "evil\x1b[2J\x1b]0;title\x07"
    p = Profile("s", "seg", "population", ["m"], [], [(label, 1)], [
        {"segment": label, "metric": "m", "category": None, "index_value": 0.1, "kind": "mean",
         "category_order": 0, "value": 1.1, "baseline": 1.0, "known": 1, "square": None,
         "z": None, "flag": "small"}
    ], 1)  # fmt: skip
    text = render_terminal(p, color=False)
    assert "\x1b" not in text and "\x07" not in text and "evil\\x1b[2J" in text


def test_verify_of_a_folder_ends_with_an_overall_summary(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("offer_seeker", "customer_rfm"):
        (folder / f"{name}.yml").write_text((SPECS / f"{name}.yml").read_text("utf-8"), "utf-8")
    result = _run("verify", folder, "-d", "duckdb")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("2 of 2 specs verified")


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


def _personas(tmp_path: Path) -> tuple[Path, Path]:
    model = SPECS / "olist_personas.persona.model.json"
    spec = tmp_path / "olist_personas.yml"
    spec.write_text((SPECS / "olist_personas.yml").read_text("utf-8"), "utf-8")
    copy = tmp_path / model.name
    copy.write_text(model.read_text("utf-8"), "utf-8")
    return spec, copy


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda m: [m], "not a JSON object"),
        (lambda m: {**m, "means": m["means"][:-1]}, "means must be"),
        (lambda m: {**m, "stds": [0.0] * len(m["stds"])}, "stds must be positive"),
        (
            lambda m: {**m, "prototypes": [{**m["prototypes"][0], "radius": "1"}]},
            "a radius must be",
        ),
        (
            lambda m: {**m, "prototypes": [{**m["prototypes"][0], "radius": float("nan")}]},
            "a radius must be",
        ),
        (
            lambda m: {**m, "prototypes": [{**m["prototypes"][0], "centre": [1.0]}]},
            "a prototype centre must be",
        ),
    ],
)
def test_a_damaged_model_file_is_a_clear_error(tmp_path, edit, problem):
    import json

    spec, model = _personas(tmp_path)
    model.write_text(json.dumps(edit(json.loads(model.read_text("utf-8")))), "utf-8")
    result = _run("compile", spec)
    assert result.exit_code == 1 and "cannot read the fitted model" in result.output
    assert problem in result.output, result.output


def test_a_model_fitted_for_other_feature_definitions_is_refused(tmp_path):
    """The names are the same, the expression of a feature is not: only renames were caught."""
    spec, _ = _personas(tmp_path)
    text = spec.read_text("utf-8")
    assert "where: no_orders > 1" in text
    spec.write_text(text.replace("where: no_orders > 1", "where: no_orders > 2"), "utf-8")
    result = _run("compile", spec)
    assert result.exit_code == 1 and "the spec changed since this model was fitted" in result.output


def test_a_segment_nobody_falls_in_is_shown_with_zero_rows(tmp_path):
    text = OFFER.read_text(encoding="utf-8").replace(
        "      - label: Offer Seeker\n        min: 3\n",
        "      - {label: Whale, min: 1000}\n      - label: Offer Seeker\n        min: 3\n"
        "        below: 1000\n",
    )
    assert "Whale" in text
    path = tmp_path / "whales.yml"
    path.write_text(text, encoding="utf-8")
    result = _run("verify", path, "-d", "duckdb", "--format", "json")
    import json

    rows = json.loads(result.stdout)["distribution"]["offer_seeker_segment"]
    assert rows[0]["label"] == "Whale" and rows[0]["count"] == 0 and rows[0]["order"] == 1


def test_profile_sql_profiles_a_text_overlay_by_category(tmp_path):
    text = OFFER.read_text(encoding="utf-8").replace(
        "segmentations:",
        "  last_type:\n    source: order_lines\n    agg: max\n    expr: transaction_type\n"
        "segmentations:",
    )
    spec = tmp_path / "typed.yml"
    spec.write_text(text, "utf-8")
    plain = _run("profile", spec, "--sql", "postgres", "--overlay", "last_type")
    assert plain.exit_code == 2 and "declare `type: number` or `type: text`" in plain.output
    spec.write_text(text.replace("    expr: transaction_type\n", (
        "    expr: transaction_type\n    type: text\n"
    )), "utf-8")  # fmt: skip
    typed = _run("profile", spec, "--sql", "postgres", "--overlay", "last_type")
    assert typed.exit_code == 0, typed.output
    assert "AVG(CAST(last_type AS DOUBLE" not in typed.stdout
    assert "CAST(last_type AS TEXT)" in typed.stdout


def test_a_header_only_csv_is_named_when_the_model_fails(tmp_path):
    """A CSV with a header and no rows gave a TypeError traceback; now the model's failure
    names the table and why its columns have no types."""
    lines = table_paths("retail")["int_order_lines"]
    header = tmp_path / "lines.csv"
    import duckdb

    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_parquet('{lines}') LIMIT 0) TO '{header}' (HEADER true)"
    )
    customers = table_paths("retail")["int_customers"]
    result = _run(
        "verify", OFFER, "-d", "duckdb",
        "--table", f"int_customers={customers}", "--table", f"int_order_lines={header}",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "int_order_lines" in result.output and "has a header and no rows" in result.output


def test_a_read_only_out_folder_is_a_clear_error(tmp_path):
    """As an ordinary user; as root (CI), the command runs as 'nobody' through setpriv, since
    root can write into a read-only folder."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    as_root = os.geteuid() == 0
    if as_root and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv to drop to an ordinary user")
    base = Path(tempfile.mkdtemp(prefix="semseg-ro-"))  # world-traversable, unlike tmp_path
    try:
        base.chmod(0o755)
        out = base / "ro"
        out.mkdir()
        out.chmod(0o555)
        drop = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if as_root else []
        result = subprocess.run(
            [
                *drop,
                sys.executable,
                "-c",
                "from semseg.cli import main; main()",
                "compile",
                str(OFFER),
                "--out",
                str(out),
            ],  # fmt: skip
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "HOME": str(base)},
            timeout=120,
        )
        if as_root and "Permission denied" in result.stderr and "semseg" not in result.stderr:
            pytest.skip(f"'nobody' cannot run this checkout: {result.stderr.strip()[:200]}")
        assert result.returncode == 1, result.stderr
        assert "cannot write" in result.stderr and "Traceback" not in result.stderr
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def test_a_database_locked_by_a_writer_says_so(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         f"import duckdb, sys, time; c = duckdb.connect({str(db)!r}); "
         "c.execute('CREATE TABLE t AS SELECT 1 AS x'); print('ready', flush=True); "
         "sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = _run("verify", OFFER, "--data", db)
        assert result.exit_code == 1 and "locked by another process" in result.output
    finally:
        holder.communicate("")


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
