"""Holdout splits (issue 25): ``split:`` gives each entity an arm that is a function of the salt
and its key only, the same in Python and in the SQL of every engine (the engine matrix runs
customer_lifecycle.yml's split on DuckDB, SQLite, PostgreSQL, MariaDB, ClickHouse and Spark,
each against DuckDB's rows), and verify proves it and its balance outside SQL."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from semseg.compile import compile_spec
from semseg.spec import load_spec
from semseg.spec.keyhash import arm_of
from semseg.verify.split_checks import chi_square_p
from tests.cli_helpers import run, write_spec

SPEC = """\
version: 1
name: holdout
entity: {{name: customer, key: id}}
population: {{table: {population}}}
sources:
  sales: {{table: sales}}
metrics:
  spend: {{source: sales, agg: sum, expr: amount, fill: 0}}
segmentations:
  value:
    by: spend
    segments:
      - {{label: High, min: {high}}}
      - {{label: Low, else: true}}
    split:
      arms: {arms}
      salt: {salt}
{extra}"""


def _spec(tmp_path: Path, name: str = "s.yml", **kw) -> Path:
    values = {
        "population": "people",
        "high": 500,
        "arms": "{holdout: 0.1, offer: 0.9}",
        "salt": "dec_campaign",
        "extra": "",
    }
    return write_spec(tmp_path / name, SPEC.format(**{**values, **kw}))


def _data(n: int, extra: int = 0) -> duckdb.DuckDBPyConnection:
    """``people`` with integer ids 0 .. n-1 (and ``more``, n + extra of them), and ``sales``
    with a deterministic amount for each."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE people AS SELECT range AS id FROM range({n})")
    con.execute(f"CREATE TABLE more AS SELECT range AS id FROM range({n + extra})")
    con.execute(
        f"CREATE TABLE sales AS SELECT range AS id, CAST(range % 997 AS DOUBLE) AS amount "
        f"FROM range({n + extra})"
    )
    return con


def _arms(con: duckdb.DuckDBPyConnection, spec: Path) -> dict[int, str | None]:
    return dict(
        con.execute(f"SELECT id, value_arm FROM ({compile_spec(load_spec(spec))})").fetchall()
    )


def test_a_million_keys_split_as_their_shares_and_as_python_says(tmp_path):
    """1,000,000 integer keys in three arms: DuckDB's arm of every key is Python's
    ``keyhash.arm_of``; each share is within 0.2 points of its target, and scipy's chi-square
    test does not reject (p > 0.01), nor does verify's own closed form disagree with it."""
    from scipy.stats import chisquare

    shares = {"holdout": 0.1, "a": 0.45, "b": 0.45}
    spec = _spec(tmp_path, arms="{holdout: 0.1, a: 0.45, b: 0.45}", high=10**9)
    n = 1_000_000
    got = _arms(_data(n), spec)
    assert len(got) == n
    arms, values = list(shares), list(shares.values())
    mismatched = [k for k in range(0, n, 1) if got[k] != arm_of("dec_campaign", k, arms, values)]
    assert mismatched == []
    counts = [sum(1 for v in got.values() if v == a) for a in shares]
    for arm, count in zip(shares, counts, strict=True):
        assert abs(count / n - shares[arm]) < 0.002, (arm, count)
    expected = [n * s for s in shares.values()]
    test = chisquare(counts, expected)
    shown = dict(zip(shares, counts, strict=True))
    print(f"\n1,000,000 keys: {shown}, chi-square p {test.pvalue:.3f}")
    assert test.pvalue > 0.01
    assert chi_square_p(float(test.statistic), 2) == pytest.approx(test.pvalue, rel=1e-9)


def test_chi_square_p_in_closed_form_is_scipys():
    from scipy.stats import chi2

    for df in (1, 2, 3, 4, 5, 8):
        for x in (0.0, 0.3, 1.0, 3.84, 10.0, 40.0):
            assert chi_square_p(x, df) == pytest.approx(chi2.sf(x, df), rel=1e-9, abs=1e-300)


def test_only_the_salt_moves_a_key(tmp_path):
    """New customers, other thresholds and another segmentation leave every existing key's
    arm where it was; another salt gives an independent split (about 0.1 * 0.9 * 2 of the
    keys change arm)."""
    n = 20_000
    base = _arms(_data(n), _spec(tmp_path))
    other = _spec(
        tmp_path,
        "other.yml",
        population="more",
        high=50,
        extra="  second:\n    by: spend\n    segments:\n      - {label: Any, else: true}\n",
    )
    moved = _arms(_data(n, extra=5_000), other)
    assert len(moved) == n + 5_000
    assert all(moved[k] == base[k] for k in base)
    salted = _arms(_data(n), _spec(tmp_path, "salted.yml", salt="jan_campaign"))
    changed = sum(1 for k in base if salted[k] != base[k]) / n
    assert 0.16 < changed < 0.20, changed


def test_a_split_of_some_segments_leaves_the_others_without_an_arm(tmp_path):
    text = (
        _spec(tmp_path)
        .read_text()
        .replace("      salt: dec_campaign\n", "      salt: dec_campaign\n      segments: [High]\n")
    )
    spec = write_spec(tmp_path / "some.yml", text)
    con = _data(5_000)
    rows = con.execute(f"SELECT value, value_arm FROM ({compile_spec(load_spec(spec))})").fetchall()
    assert {arm for label, arm in rows if label == "Low"} == {None}
    assert {arm for label, arm in rows if label == "High"} == {"holdout", "offer"}


def _verify(tmp_path: Path, spec: Path, sql: str | None = None) -> dict:
    data = tmp_path / "data.duckdb"
    if not data.exists():
        con = _data(5_000)
        con.execute(f"ATTACH '{data}' AS f")
        con.execute("CREATE TABLE f.people AS FROM people")
        con.execute("CREATE TABLE f.sales AS FROM sales")
        con.close()
    extra = []
    if sql is not None:
        (tmp_path / "model.sql").write_text(sql)
        extra = ["--sql", str(tmp_path / "model.sql")]
    done = run("verify", spec, "--data", data, "--format", "json", *extra)
    report = json.loads(done.stdout)
    return {c["name"]: c for c in report["checks"]} | {"exit": done.exit_code}


def test_verify_proves_the_arms_and_fails_a_compiler_that_moves_them(tmp_path):
    spec = _spec(tmp_path)
    checks = _verify(tmp_path, spec)
    assert (
        checks["exit"] == 0 and checks["arms:value"]["passed"] and checks["balance:value"]["passed"]
    )
    # a compiler whose first bound is 2^31 (a 50% holdout): every moved key is an offender,
    # and the sizes are a sample ratio mismatch, with its numbers
    sql = compile_spec(load_spec(spec)).replace("< 429496730", "< 2147483648")
    assert sql != compile_spec(load_spec(spec))
    checks = _verify(tmp_path, spec, sql)
    assert checks["exit"] == 1
    assert not checks["arms:value"]["passed"] and checks["arms:value"]["failures"] > 1500
    balance = checks["balance:value"]
    assert not balance["passed"]
    assert "sample ratio mismatch: holdout" in balance["examples"][0], balance


def test_verify_flags_an_arm_whose_metric_differs_beyond_chance(tmp_path):
    """Arms drawn by spend rather than by the hash: the means differ far beyond chance, and
    the balance check names the metric with its standardised difference."""
    spec = _spec(tmp_path)
    sql = compile_spec(load_spec(spec))
    at = sql.index("CASE\n      WHEN CAST((")  # the arm's CASE, as DuckDB's text writes it
    end = sql.index("END AS value_arm")
    rigged = sql[:at] + "CASE WHEN spend < 100 THEN 'holdout' ELSE 'offer' " + sql[end:]
    checks = _verify(tmp_path, spec, rigged)
    examples = " ".join(checks["balance:value"]["examples"])
    assert not checks["balance:value"]["passed"] and "spend: offer mean" in examples, examples
    assert "standardised difference" in examples


@pytest.mark.parametrize(
    ("arms", "extra", "said"),
    [
        ("{holdout: 0.1, offer: 0.8}", "", "add up to 0.9"),
        ("{holdout: 1}", "", "at least 2"),
        ("{holdout: 0.5, offer: 0.5}", "      control: nope\n", "control 'nope' is not one"),
        ("{holdout: 0.5, offer: 0.5}", "      segments: [Mid]\n", "'Mid' is not one of its"),
    ],
)
def test_split_mistakes_are_refused_at_their_line(tmp_path, arms, extra, said):
    text = (
        _spec(tmp_path, arms=arms)
        .read_text()
        .replace("      salt: dec_campaign\n", "      salt: dec_campaign\n" + extra)
    )
    spec = write_spec(tmp_path / "bad.yml", text)
    done = run("check", spec)
    assert done.exit_code != 0 and said in done.output, done.output
    assert "bad.yml:" in done.output


def test_an_arm_column_another_name_takes_is_refused(tmp_path):
    text = (
        _spec(tmp_path)
        .read_text()
        .replace("  spend: {", "  value_arm: {source: sales, agg: count}\n  spend: {")
    )
    done = run("check", write_spec(tmp_path / "clash.yml", text))
    assert done.exit_code != 0 and "value_arm" in done.output, done.output
