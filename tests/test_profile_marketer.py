"""A profile a marketer reads (issue 14): known values, missing and Other columns, ordinal
order, metric direction, significance flags, persona cards, and one run of the model.

The small dataset's expected shares and means are worked out by hand in the comments.
"""

from __future__ import annotations

import io
import math

import duckdb
import pytest

from semseg.profile.index import Column, Profile, profile, significance
from semseg.profile.render import GREEN, RED, _tone, render_html, render_terminal
from semseg.spec import load_spec
from tests.golden_regen import SPECS

SPEC = """\
version: 1
name: people
entity: {name: customer, key: customer_id}
sources:
  people: {table: people}
metrics:
  tier_value: {source: people, agg: max, expr: tier, type: integer}
  income_band:
    source: people
    agg: max
    expr: band
    type: text
    categories: [15-24K, 25-49K, 50-74K]
  spend: {source: people, agg: max, expr: spend, better: lower}
segmentations:
  tier:
    by: tier_value
    segments:
      - {label: A, max: 1}
      - {label: B, min: 2}
"""
# (customer, tier, band, spend)
PEOPLE = [
    ("c1", 1, "15-24K", 10.0),
    ("c2", 1, "100-124K", 20.0),
    ("c3", 1, None, 30.0),
    ("c4", 1, None, None),
    ("c5", 2, "15-24K", 5.0),
    ("c6", 2, "25-49K", 5.0),
    ("c7", 2, "50-74K", None),
    ("c8", 2, "15-24K", 7.0),
]


@pytest.fixture
def people(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    con = duckdb.connect()
    con.execute("CREATE TABLE people (customer_id VARCHAR, tier INT, band VARCHAR, spend DOUBLE)")
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?)", PEOPLE)
    con.execute(f"COPY people TO '{data / 'people.parquet'}' (FORMAT parquet)")
    spec = tmp_path / "people.yml"
    spec.write_text(SPEC, encoding="utf-8")
    return profile(load_spec(spec), "tier", data=data, overlays=["income_band", "spend"])


def test_shares_among_known_values_with_missing_and_other(people):
    p = people
    # 6 of 8 bands known; A knows 2 (15-24K, 100-124K), B knows 4 (15-24K x2, 25-49K, 50-74K).
    assert p.row("A", "income_band", "15-24K")["value"] == pytest.approx(1 / 2)
    assert p.row("A", "income_band", "15-24K")["baseline"] == pytest.approx(3 / 6)
    assert p.index("A", "income_band", "15-24K") == pytest.approx(0.0)  # -33% among all rows
    assert p.index("B", "income_band", "25-49K") == pytest.approx((1 / 4) / (1 / 6) - 1)
    # 100-124K is not a declared category: Other is 1/2 of A's known, 1/6 of everyone's.
    assert p.index("A", "income_band", kind="other") == pytest.approx((1 / 2) / (1 / 6) - 1)
    assert p.index("B", "income_band", kind="other") == pytest.approx(-1.0)
    # Missing: 2 of A's 4 rows, 2 of 8 overall; B has none.
    assert p.row("A", "income_band", kind="missing")["value"] == pytest.approx(0.5)
    assert p.index("A", "income_band", kind="missing") == pytest.approx(0.5 / 0.25 - 1)
    assert p.index("B", "income_band", kind="missing") == pytest.approx(-1.0)
    # Spend among known values: A (10 + 20 + 30) / 3 = 20; everyone 77 / 6.
    assert p.row("A", "spend")["value"] == pytest.approx(20.0)
    assert p.index("A", "spend") == pytest.approx(20 / (77 / 6) - 1)
    assert p.index("A", "spend", kind="missing") == pytest.approx(0.0)  # 1/4 and 2/8
    assert p.row("A", "spend")["flag"] == "small"  # 3 values


def test_ordinal_categories_keep_their_declared_order(people):
    heads = [c.head for c in people.columns() if c.metric == "income_band"]
    # Declared order, not text order ('100-124K' < '15-24K'), then Other, then missing.
    assert heads == [
        "income_band=15-24K",
        "income_band=25-49K",
        "income_band=50-74K",
        "income_band=Other",
        "income_band missing",
    ]


def test_the_metric_direction_drives_the_colours():
    lower = Column("recency_days", None, "mean", "input", "lower")
    higher = Column("ltv", None, "mean", "input", "higher")
    neutral = Column("items", None, "mean", "input", None)
    above = {"index_value": 0.4, "flag": ""}
    assert _tone(lower, above) == -1  # more days since the last order: worse
    assert _tone(higher, above) == 1
    assert _tone(neutral, above) == 2  # above, no judgement
    assert _tone(lower, {"index_value": -0.4, "flag": ""}) == 1
    assert _tone(lower, {"index_value": 0.4, "flag": "ns"}) == 0  # not shown to be real
    rows = []
    for seg, idx in (("Recent", -0.5), ("Lapsed", 0.7)):
        rows.append(
            {"segment": seg, "metric": "recency_days", "category": None, "kind": "mean"}
            | {"category_order": 0, "value": 10 * (1 + idx), "baseline": 10.0}
            | {"index_value": idx, "known": 500, "square": None, "z": 9.0, "flag": ""}
        )
    p = Profile("s", "life", "population", ["recency_days"], [], [("Recent", 500), ("Lapsed", 500)],
                rows, 1000, better={"recency_days": "lower"})  # fmt: skip
    text = render_terminal(p, io.StringIO(), color=True).splitlines()
    recent = next(ln for ln in text if ln.startswith("Recent"))
    lapsed = next(ln for ln in text if ln.startswith("Lapsed"))
    assert GREEN in recent and RED in lapsed  # a lower recency is the good one
    page = render_html(p)  # 10 x 1.7 and 10 x 0.5 days against 10
    assert "recency days 17 against 10 (higher, worse)" in page
    assert "recency days 5 against 10 (lower, better)" in page


def test_significance_by_hand_on_the_personas():
    p = profile(load_spec(SPECS / "olist_personas.yml"), "persona")
    from semseg.compile import compile_spec
    from semseg.data import connect

    spec_file = load_spec(SPECS / "olist_personas.yml")
    con, _ = connect(spec_file)
    model = compile_spec(spec_file, "duckdb")
    rows = con.execute(
        f"SELECT persona, avg_review_score, customer_city FROM ({model}) WHERE no_orders > 1"
    ).fetchall()
    seg = [float(r[1]) for r in rows if r[0] == 6 and r[1] is not None]
    everyone = [float(r[1]) for r in rows if r[1] is not None]
    mean, base = sum(seg) / len(seg), sum(everyone) / len(everyone)
    sd = math.sqrt(sum((x - mean) ** 2 for x in seg) / (len(seg) - 1))
    z = (mean - base) / (sd / math.sqrt(len(seg)))
    cell = p.row(6, "avg_review_score")
    assert cell["z"] == pytest.approx(z, rel=1e-6)
    assert cell["flag"] == ("" if abs(z) >= 1.96 else "ns")
    # A share: z = (p_s - p) / sqrt(p (1 - p) / n_s), over known cities.
    cities = [r[2] for r in rows if r[2] is not None]
    in_seg = [r[2] for r in rows if r[0] == 0 and r[2] is not None]
    share, pop = in_seg.count("sao paulo") / len(in_seg), cities.count("sao paulo") / len(cities)
    expected = (share - pop) / math.sqrt(pop * (1 - pop) / len(in_seg))
    assert p.row(0, "customer_city", "sao paulo")["z"] == pytest.approx(expected, rel=1e-6)
    # Not significant: a mean equal to its baseline; small: under 30 values.
    same = {"kind": "mean", "known": 100, "value": 2.0, "baseline": 2.0, "square": 5.0}
    assert significance(same)[1] == "ns"
    assert significance(same | {"known": 10, "value": 9.0})[1] == "small"


def test_cards_describe_each_persona_in_words():
    p = profile(load_spec(SPECS / "olist_personas.yml"), "persona")
    page = render_html(p)
    names = load_spec(SPECS / "olist_personas.yml").spec.segmentations["persona"].cluster.names
    for seg, n in p.segments:
        assert f'<h3>{seg} {names[seg]}</h3><p class="size">{n:,} rows' in page
    # Rio bulk buyers (3) order many items: their card says so, with both values.
    row = p.row(3, "items_per_order")
    card = page.split("<h3>3 Rio bulk buyers</h3>")[1].split("</div>")[0]
    assert f"items per order {row['value']:.3g} against {row['baseline']:.3g} (higher)" in card


def test_the_model_runs_once_per_profile(monkeypatch):
    from semseg.data import Session

    loads = []
    original = Session.load

    def counted(self, sql, *args, **kwargs):
        loads.append(sql[:40])
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(Session, "load", counted)
    profile(load_spec(SPECS / "olist_personas.yml"), "persona", projection=True)
    assert len(loads) == 1
