"""semseg profile through the CLI: index table, SQL for a dialect, HTML without overwrites."""

from __future__ import annotations

import sqlglot
from typer.testing import CliRunner

from semseg.cli import app
from tests.golden_regen import SPECS

runner = CliRunner()
OFFER = str(SPECS / "offer_seeker.yml")


def test_profile_prints_index_table_with_overlay():
    result = runner.invoke(app, ["profile", OFFER, "--overlay", "distinct_offers_used"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("offer_seeker.offer_seeker_segment: index vs population")
    assert "*distinct_offers_used" in lines[1]
    # Non-Offer Users have 0 discounted orders: index = 0 / mean - 1 = -100%.
    assert any(ln.strip().startswith("Non-Offer User") and "-100.0%" in ln for ln in lines)


def test_profile_sql_for_a_dialect_parses():
    result = runner.invoke(app, ["profile", OFFER, "--sql", "snowflake"])
    assert result.exit_code == 0, result.output
    assert sqlglot.parse(result.stdout, read="snowflake")


def test_profile_html_refuses_to_overwrite(tmp_path):
    page = tmp_path / "p.html"
    first = runner.invoke(app, ["profile", OFFER, "--html", str(page)])
    assert first.exit_code == 0, first.output
    text = page.read_text()
    assert "Offer Seeker" in text and "Non-Offer User" in text
    page.write_text("mine")
    again = runner.invoke(app, ["profile", OFFER, "--html", str(page)])
    assert again.exit_code == 1 and "--force" in again.output and page.read_text() == "mine"


def test_profile_usage_errors():
    bad = runner.invoke(app, ["profile", OFFER, "--overlay", "nope"])
    assert bad.exit_code == 2 and "not a metric" in bad.output
    bad = runner.invoke(app, ["profile", OFFER, "--segmentation", "nope"])
    assert bad.exit_code == 2 and "no segmentation 'nope'" in bad.output


def _model_rows() -> tuple[list[str], list[tuple]]:
    """offer_seeker's model, run on the bundled sample by DuckDB (not by profile's code)."""
    import duckdb

    from semseg.sample import table_paths

    con = duckdb.connect()
    for name, path in table_paths("retail").items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    sql = runner.invoke(app, ["compile", OFFER, "-d", "duckdb"]).stdout
    cur = con.execute(sql)
    return [d[0] for d in cur.description], cur.fetchall()


def test_profile_json_and_csv_hold_the_index_table():
    """Issue 23, item 32: the index table as JSON and CSV. The means and the index of one
    metric are recomputed here from the model's rows; the CSV holds the JSON's records."""
    import csv
    import io
    import json
    import statistics

    overlay = ["--overlay", "total_discount_amount"]
    done = runner.invoke(app, ["profile", OFFER, *overlay, "--format", "json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert payload["segmentation"] == "offer_seeker_segment"
    cols, rows = _model_rows()
    metric, label = cols.index("total_discount_amount"), cols.index("offer_seeker_segment")
    everyone = statistics.fmean(float(r[metric]) for r in rows)
    assert payload["population"] == len(rows)
    means = {}
    for r in payload["rows"]:
        if r["metric"] == "total_discount_amount":
            means[r["segment"]] = r
    assert set(means) == {"Offer Seeker", "Occasional Offer User", "Non-Offer User"}
    for segment, r in means.items():
        own = [float(x[metric]) for x in rows if x[label] == segment]
        assert r["size"] == len(own) and r["kind"] == "mean" and r["group"] == "overlay"
        assert abs(r["value"] - statistics.fmean(own)) < 1e-9 * max(1, abs(r["value"]))
        assert abs(r["baseline"] - everyone) < 1e-9 * everyone
        assert abs(r["index"] - (statistics.fmean(own) / everyone - 1)) < 1e-9
    assert {r["group"] for r in payload["rows"]} == {"input", "overlay"}
    as_csv = runner.invoke(app, ["profile", OFFER, *overlay, "--format", "csv"])
    assert as_csv.exit_code == 0, as_csv.output
    records = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(records) == len(payload["rows"])
    for got, want in zip(records, payload["rows"], strict=True):
        assert got == {k: "" if v is None else str(v) for k, v in want.items()}


def test_profile_csv_cells_never_start_a_formula(tmp_path):
    """A label a spreadsheet would run ('=HYPERLINK(...)', '@SUM(...)') is written with a
    leading apostrophe in CSV, and as itself in JSON."""
    import csv
    import io
    import json

    evil = '=HYPERLINK("http://x","y")'
    spec = tmp_path / "evil.yml"
    text = (SPECS / "offer_seeker.yml").read_text(encoding="utf-8")
    spec.write_text(
        text.replace("label: Offer Seeker", f"label: '{evil}'").replace(
            "segment: Offer Seeker", f"segment: '{evil}'"
        ),
        encoding="utf-8",
    )
    out = runner.invoke(app, ["profile", str(spec), "--format", "csv"])
    assert out.exit_code == 0, out.output
    segments = {r["segment"] for r in csv.DictReader(io.StringIO(out.stdout))}
    assert "'" + evil in segments and evil not in segments
    assert not any(s.startswith(("=", "+", "-", "@")) for s in segments)
    as_json = json.loads(runner.invoke(app, ["profile", str(spec), "--format", "json"]).stdout)
    assert evil in {s["segment"] for s in as_json["segments"]}
