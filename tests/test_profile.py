"""Profiling: index numbers equal a hand computation, both baselines, SQL, renderers."""

from __future__ import annotations

import html
import io
import re
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from semseg.compile import compile_spec
from semseg.compile.dialects import TARGETS
from semseg.spec import load_spec
from tests.cli_helpers import run_clean as _run

ROOT = Path(__file__).resolve().parent.parent
PERSONAS = ROOT / "segment_specs" / "olist_personas.yml"
RFM = ROOT / "segment_specs" / "customer_rfm.yml"
OFFER = ROOT / "segment_specs" / "offer_seeker.yml"


def _rows(spec_path: Path, columns: str, where: str = "TRUE") -> list[tuple]:
    """Columns of the compiled model run on the bundled sample."""
    from semseg.data import connect

    spec_file = load_spec(spec_path)
    con, _ = connect(spec_file)
    try:
        sql = compile_spec(spec_file, "duckdb")
        return con.execute(f"SELECT {columns} FROM ({sql}) WHERE {where}").fetchall()
    finally:
        con.close()


def test_numeric_index_by_hand_both_baselines():
    from semseg.profile.index import profile

    spec_file = load_spec(RFM)
    rows = _rows(RFM, "monetary_tier, monetary_value")
    by_seg: dict[str, list[float]] = {}
    for seg, v in rows:
        if v is not None:
            by_seg.setdefault(seg, []).append(float(v))
    everyone = [float(v) for _, v in rows if v is not None]
    seg_mean = sum(by_seg["Top 20%"]) / len(by_seg["Top 20%"])
    population = sum(everyone) / len(everyone)
    means = [sum(v) / len(v) for v in by_seg.values()]
    got = profile(spec_file, "monetary_tier").index("Top 20%", "monetary_value")
    assert got == pytest.approx(seg_mean / population - 1, rel=1e-9)
    got2 = profile(spec_file, "monetary_tier", baseline="segment_mean").index(
        "Top 20%", "monetary_value"
    )
    assert got2 == pytest.approx(seg_mean / (sum(means) / len(means)) - 1, rel=1e-9)


def test_categorical_and_overlay_index_by_hand():
    from semseg.profile.index import profile

    p = profile(load_spec(PERSONAS), "persona")
    rows = _rows(PERSONAS, "persona, customer_city, ltv", "no_orders > 1")
    seg = [r for r in rows if r[0] == 0]
    share = sum(r[1] == "sao paulo" for r in seg) / len(seg)
    base = sum(r[1] == "sao paulo" for r in rows) / len(rows)
    assert p.index(0, "customer_city", "sao paulo") == pytest.approx(share / base - 1)
    ltv = sum(float(r[2]) for r in seg) / len(seg) / (sum(float(r[2]) for r in rows) / len(rows))
    assert p.index(0, "ltv") == pytest.approx(ltv - 1)
    assert p.overlays == [
        "avg_item_price",
        "ltv",
        "avg_installments",
        "avg_order_weight_kg",
        "avg_photos",
    ]
    assert p.population == len(rows) and sum(n for _, n in p.segments) == len(rows)
    # segment_mean baseline leaves the noise segment out of the mean of segment means
    q = profile(load_spec(PERSONAS), "persona", baseline="segment_mean")
    shares = [
        sum(r[1] == "sao paulo" for r in rows if r[0] == s) / n for s, n in q.segments if s != -1
    ]
    assert q.index(0, "customer_city", "sao paulo") == pytest.approx(
        share / (sum(shares) / len(shares)) - 1
    )


@pytest.mark.parametrize("dialect", list(TARGETS))
def test_profile_sql_parses_for_every_dialect(dialect):
    from semseg.profile.index import profile_sql

    for spec, seg in ((PERSONAS, "persona"), (RFM, "customer_rfm_segment")):
        sql = profile_sql(load_spec(spec), seg, dialect, baseline="segment_mean")
        sqlglot.parse(sql, read=TARGETS[dialect].sqlglot, error_level=ErrorLevel.RAISE)


def test_profile_sql_runs_in_duckdb_like_profile():
    from semseg.data import connect
    from semseg.profile.index import profile, profile_sql

    as_of = date(2025, 11, 30)  # profile_sql is compiled SQL: without it, the current date
    spec_file = load_spec(RFM).with_as_of(as_of)
    con, _ = connect(spec_file)
    try:
        found = con.execute(profile_sql(spec_file, "recency_tier", "duckdb")).fetchall()
    finally:
        con.close()
    p = profile(spec_file, "recency_tier")
    assert [r[-1] for r in found] == [r["index_value"] for r in p.rows]


def test_terminal_colour_only_on_a_tty():
    from semseg.profile.index import profile
    from semseg.profile.render import render_terminal

    p = profile(load_spec(PERSONAS), "persona")
    plain = render_terminal(p, io.StringIO())
    assert "\033[" not in plain and "customer_city=sao paulo" in plain
    coloured = render_terminal(p, io.StringIO(), color=True)
    assert "\033[32m" in coloured and "\033[31m" in coloured


def test_html_is_self_contained_and_names_every_segment(tmp_path):
    from semseg.profile.index import profile
    from semseg.profile.render import render_html

    p = profile(load_spec(PERSONAS), "persona", projection=True)
    out = tmp_path / "report.html"
    out.write_text(render_html(p), encoding="utf-8")
    page = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", page)
    assert "<script" not in page and "<link" not in page
    names = load_spec(PERSONAS).spec.segmentations["persona"].cluster.names
    for seg, _ in p.segments:  # every persona is named in the spec: id, then name
        assert f"<th>{seg} {html.escape(names[seg])}</th>" in page
    assert page.count("<circle") == len(p.projection["x"]) > 1000


def test_a_profile_of_tables_without_rows_says_so(tmp_path):
    """Issue 23, item 15: tables with no rows gave ``TypeError: 'int' object is not
    iterable`` in the terminal renderer (also with --html), where verify passed."""
    import duckdb
    from typer.testing import CliRunner

    from semseg.cli import app
    from semseg.sample import table_paths
    from tests.golden_regen import SPECS

    con = duckdb.connect()
    for name, path in table_paths("retail").items():
        target = tmp_path / f"{name}.parquet"
        con.execute(f"COPY (FROM read_parquet('{path}') LIMIT 0) TO '{target}' (FORMAT parquet)")
    page = tmp_path / "profile.html"
    spec = str(SPECS / "offer_seeker.yml")
    for extra in ([], ["--html", str(page)]):
        result = CliRunner().invoke(app, ["profile", spec, "--data", str(tmp_path), *extra])
        assert result.exit_code == 0, result.output
        assert "no rows to profile" in result.output
    assert "0 rows profiled" in page.read_text(encoding="utf-8")


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
