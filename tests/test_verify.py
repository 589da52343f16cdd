"""semseg verify: passes on the examples, fails with an explanation when something is wrong."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.errors import DataError
from semseg.spec import load_spec
from semseg.verify import verify
from tests import edge_data
from tests.cli_helpers import SMALL, assert_clean_exit, json_error, run, write_spec
from tests.cli_helpers import run_clean as _run
from tests.golden_regen import SPECS
from tests.seed_sql import SEED_OFFER_SEEKER_SQL

runner = CliRunner()
OFFER = SPECS / "offer_seeker.yml"


def _by_name(report):
    return {c.name: c for c in report.checks}


@pytest.mark.parametrize("spec", sorted(SPECS.glob("*.yml")), ids=lambda p: p.stem)
def test_examples_verify_on_the_bundled_sample(spec):
    report = verify(load_spec(spec))
    assert report.passed, report.to_text()
    assert report.rows > 1000
    names = _by_name(report)
    assert {"grain", "population", "dialects"} <= set(names)
    assert any(n.startswith("metrics:") for n in names)


def test_distribution_matches_an_independent_count():
    report = verify(load_spec(OFFER))
    rows = {r.label: r for r in report.distribution["offer_seeker_segment"]}
    # Counted directly from the bundled Parquet with plain SQL (no semseg code).
    from semseg.sample import table_paths

    lines = table_paths("retail")["int_order_lines"]
    counts = dict(
        duckdb.sql(f"""
        WITH c AS (SELECT unified_customer_id, COUNT(DISTINCT unified_order_id) AS n
                   FROM '{lines}' WHERE transaction_type = 'Sale' AND has_discount = 1
                   AND unified_customer_id IS NOT NULL GROUP BY 1)
        SELECT CASE WHEN n >= 3 THEN 'seeker' ELSE 'occasional' END, COUNT(*) FROM c GROUP BY 1
    """).fetchall()
    )
    assert rows["Offer Seeker"].count == counts["seeker"]
    assert rows["Occasional Offer User"].count == counts["occasional"]
    assert rows["Non-Offer User"].count == 4000 - counts["seeker"] - counts["occasional"]
    assert [r.order for r in report.distribution["offer_seeker_segment"]] == [1, 2, 3]


@pytest.fixture()
def edge_db(tmp_path):
    path = tmp_path / "edge.duckdb"
    con = duckdb.connect(str(path))
    edge_data.load(con)
    con.close()
    return path


def test_seed_sql_proves_against_the_spec_and_db_stays_untouched(edge_db):
    before = hashlib.sha256(edge_db.read_bytes()).hexdigest()
    report = verify(load_spec(OFFER), data=edge_db, model_sql=SEED_OFFER_SEEKER_SQL)
    assert report.passed, report.to_text()
    assert hashlib.sha256(edge_db.read_bytes()).hexdigest() == before
    assert "read-only" in report.data


def test_counting_lines_instead_of_orders_is_caught(edge_db):
    """The classic bug: COUNT(CASE ...) over lines. The metric cross-check must catch it."""
    buggy = SEED_OFFER_SEEKER_SQL.replace(
        "COUNT(DISTINCT CASE\n            WHEN ol.has_discount = 1",
        "COUNT(CASE\n            WHEN ol.has_discount = 1",
    )
    assert buggy != SEED_OFFER_SEEKER_SQL
    report = verify(load_spec(OFFER), data=edge_db, model_sql=buggy)
    checks = _by_name(report)
    assert not report.passed
    assert not checks["metrics:order_lines"].passed
    assert any(
        e.startswith("C1: orders_with_discount_count: model 5, source 3")
        for e in checks["metrics:order_lines"].examples
    ), checks["metrics:order_lines"]
    assert checks["grain"].passed and checks["population"].passed


def test_wrong_label_and_missing_member_are_caught(edge_db):
    buggy = SEED_OFFER_SEEKER_SQL.replace(">= 3 THEN 'Offer Seeker'", ">= 2 THEN 'Offer Seeker'", 1)
    buggy = buggy.replace(
        "WHERE unified_customer_id IS NOT NULL) c", "WHERE unified_customer_id <> 'C9') c"
    )
    checks = _by_name(verify(load_spec(OFFER), data=edge_db, model_sql=buggy))
    rules = checks["rules:offer_seeker_segment"]
    assert not rules.passed and rules.failures == 3  # 2 orders each: labelled seekers
    assert [e.split(":")[0] for e in rules.examples] == ["C10", "C14", "C2"]
    assert all("labelled Offer Seeker" in e for e in rules.examples)
    assert not checks["labels:offer_seeker_segment"].passed
    assert not checks["population"].passed
    assert "C9: missing from the model" in checks["population"].examples


def test_spec_check_and_unreachable_band_fail(tmp_path):
    spec = tmp_path / "s.yml"
    spec.write_text(
        OFFER.read_text()
        .replace("min: 3\n", "min: 300\n")
        .replace("max: 2\n", "max: 299\n")
        .replace("share_between: [0.0, 0.6]}", "min_count: 1}")
    )
    result = runner.invoke(app, ["verify", str(spec)])
    assert result.exit_code == 1
    assert "FAIL  spec:offer_seeker_segment=Offer Seeker" in result.output
    assert "count 0 < 1" in result.output


def test_missing_table_and_column_name_the_spec_line(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    duckdb.sql(
        f"COPY (SELECT 'C1' AS unified_customer_id) TO '{folder / 'int_customers.csv'}' (HEADER)"
    )
    with pytest.raises(DataError) as err:
        verify(load_spec(OFFER), data=folder)
    assert f"{OFFER}:12:12:" in str(err.value) and "int_order_lines" in str(err.value)
    duckdb.sql(
        f"COPY (SELECT 'C1' AS unified_customer_id, 'O1' AS unified_order_id, "
        f"'Sale' AS transaction_type) TO '{folder / 'int_order_lines.csv'}' (HEADER)"
    )
    result = runner.invoke(app, ["verify", str(OFFER), "--data", str(folder)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{OFFER}:21:" in result.output  # where: has_discount = 1
    assert "column 'has_discount' not found in table 'int_order_lines'" in result.output


def test_table_option_and_json(edge_db, tmp_path):
    con = duckdb.connect(str(edge_db), read_only=True)
    for t in ("int_customers", "int_order_lines"):
        con.execute(f"COPY {t} TO '{tmp_path / t}.parquet' (FORMAT parquet)")
    con.close()
    result = runner.invoke(
        app,
        [
            "verify",
            str(OFFER),
            "--format",
            "json",
            "--table",
            f"int_customers={tmp_path / 'int_customers.parquet'}",
            "--table",
            f"int_order_lines={tmp_path / 'int_order_lines.parquet'}",
        ],
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["passed"] is True and payload["rows"] == 14
    bad = runner.invoke(app, ["verify", str(OFFER), "--table", "nonsense"])
    assert bad.exit_code == 2


def test_wrong_offer_count_is_caught(edge_db):
    """A raw metric (two conditional distinct counts) is recomputed independently too."""
    buggy = SEED_OFFER_SEEKER_SQL.replace(
        "COUNT(DISTINCT CASE\n            WHEN ol.online_offer_no_",
        "COUNT(CASE\n            WHEN ol.online_offer_no_",
    )
    assert buggy != SEED_OFFER_SEEKER_SQL
    checks = _by_name(verify(load_spec(OFFER), data=edge_db, model_sql=buggy))
    metrics = checks["metrics:order_lines"]
    assert not metrics.passed
    assert all("distinct_offers_used" in e for e in metrics.examples), metrics.examples
    # C1 used ONL-1 on two lines of one order, C6 ONL-5 on three orders, C10 and C14 ONL-8
    # on two orders each.
    assert metrics.failures == 4
    assert any(
        e.startswith("C6: distinct_offers_used: model 3, source 1") for e in metrics.examples
    )


def test_many_offenders_are_counted_and_the_first_keys_shown_every_time():
    """Everybody labelled Offer Seeker: the rules check counts every wrong row and shows the
    smallest keys, the same on every run (DuckDB's threads do not pick them)."""
    spec_file = load_spec(OFFER)
    right = verify(spec_file)
    should_not_be_seekers = sum(
        r.count for r in right.distribution["offer_seeker_segment"] if r.label != "Offer Seeker"
    )
    model = (
        compile_spec(spec_file, "duckdb")
        .replace("ELSE 'Non-Offer User'", "ELSE 'Offer Seeker'")
        .replace("ELSE 3", "ELSE 1")
        .replace("THEN 'Occasional Offer User'", "THEN 'Offer Seeker'")
        .replace("THEN 2", "THEN 1")
    )
    first, second = (
        _by_name(verify(spec_file, model_sql=model))["rules:offer_seeker_segment"] for _ in "ab"
    )
    assert not first.passed
    assert first.failures == should_not_be_seekers > 100
    keys = [e.split(":")[0] for e in first.examples]
    assert len(keys) == 5 and keys == sorted(keys)
    assert first.examples == second.examples


@pytest.mark.parametrize(
    ("select", "message"),
    [
        ("SELECT DISTINCT unified_customer_id FROM int_customers", "has no column"),
        (
            "SELECT unified_customer_id, 1 AS orders_with_discount_count, 0.0 AS "
            "total_discount_amount, 1 AS distinct_offers_used, 'Offer Seeker' AS "
            "offer_seeker_segment, 'one' AS offer_seeker_segment_order FROM int_customers",
            "check the types of the model's columns",
        ),
    ],
    ids=["missing-columns", "wrong-type"],
)
def test_hand_written_model_of_the_wrong_shape_is_an_error_not_a_traceback(
    tmp_path, select, message
):
    model = tmp_path / "model.sql"
    model.write_text(select)
    result = runner.invoke(app, ["verify", str(OFFER), "--sql", str(model)])
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


# --- the report: JSON errors (issue 9), folders and empty segments (issue 11) ----------------


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


def test_verify_of_a_folder_ends_with_an_overall_summary(tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    for name in ("offer_seeker", "customer_rfm"):
        (folder / f"{name}.yml").write_text((SPECS / f"{name}.yml").read_text("utf-8"), "utf-8")
    result = _run("verify", folder, "-d", "duckdb")
    assert result.exit_code == 0
    assert result.stdout.rstrip().endswith("2 of 2 specs verified")


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
