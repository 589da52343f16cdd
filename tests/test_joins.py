"""Many-to-one dimension joins (issue 13): dimension columns in a source's snippets, a missing
dimension row keeps its event, verify proves the key unique and recomputes every joined
metric its own way, and every engine here gives DuckDB's rows."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from sqlglot import exp

from semseg.compile import compile_spec, plan
from semseg.dbt import dbt_model
from semseg.errors import DataError, SpecError
from semseg.spec import load_spec
from semseg.verify import verify
from tests.engines.compare import assert_same_rows
from tests.parquet import write_tables

SPEC = """\
version: 1
name: shop
entity: {name: customer, key: customer_id}
sources:
  lines:
    table: sale_lines
    time: sold_on
    where: COALESCE(product.department, '-') <> 'Hidden'
    joins:
      product: {table: products, key: product_id, on: item, missing: {department: Unknown}}
      store: {table: stores, key: store_id}
metrics:
  spend: {source: lines, agg: sum, expr: amount, fill: 0}
  dairy_spend:
    {source: lines, agg: sum, expr: amount, where: product.department = 'Dairy', fill: 0}
  departments: {source: lines, agg: count_distinct, expr: product.department, fill: 0}
  unknown_lines: {source: lines, agg: count, where: product.department = 'Unknown', fill: 0}
  last_department: {source: lines, agg: last, expr: product.department, type: text}
  online_spend: {source: lines, agg: sum, expr: amount, where: store.online, fill: 0}
  regions: {source: lines, agg: count_distinct, expr: store.region, fill: 0}
  top_department: {source: lines, agg: top, expr: product.department, measure: amount}
  top_share: {source: lines, agg: top_share, expr: product.department, measure: amount}
  top_region: {source: lines, agg: top, expr: store.region}
  dairy_share: {expr: "dairy_spend / NULLIF(spend, 0)"}
segmentations:
  dairy:
    segments:
      - {label: Dairy lover, when: dairy_share >= 0.5}
      - {label: Other, else: true}
"""


def _data(folder=None, duplicate: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    # the lines name the product 'item'; both tables have a 'name' column
    con.execute(
        "CREATE TABLE products AS SELECT * FROM (VALUES ('p1', 'Dairy', 'Milk'), "
        "('p2', 'Bakery', 'Bread'), ('p3', NULL, 'Mystery'), ('p4', 'Hidden', 'Secret')) "
        "t(product_id, department, name)"
    )
    if duplicate:  # p2 twice: a join on it would count its lines twice
        con.execute("INSERT INTO products VALUES ('p2', 'Dairy', 'Bread too')")
    con.execute(
        "CREATE TABLE stores AS SELECT * FROM (VALUES (1, 'North', TRUE), (2, 'South', FALSE)) "
        "t(store_id, region, online)"
    )
    con.execute(
        "CREATE TABLE sale_lines AS SELECT * FROM (VALUES "
        "('a', 'p1', 1, 10.0, DATE '2025-01-01', 'line a1'),"
        "('a', 'p2', 2, 5.0, DATE '2025-01-02', 'line a2'),"
        "('a', 'p9', 1, 1.0, DATE '2025-01-03', 'unknown product'),"
        "('b', 'p2', 2, 7.0, DATE '2025-01-01', 'bread'),"
        "('b', NULL, 3, 2.0, DATE '2025-01-01', 'no product, no store'),"
        "('c', 'p3', 1, 4.0, DATE '2025-01-05', 'NULL department'),"
        "('c', 'p4', 1, 99.0, DATE '2025-01-06', 'hidden: filtered out'),"
        "('d', 'p1', 1, 3.0, DATE '2025-03-01', 'after the as-of date'),"
        "('e', 'p1', 1, 5.0, DATE '2025-01-10', 'a tie: Dairy'),"
        "('e', 'p2', 2, 5.0, DATE '2025-01-11', 'a tie: Bakery')"
        ") t(customer_id, item, store_id, amount, sold_on, name)"
    )
    if folder is not None:
        write_tables(con, folder, ["products", "stores", "sale_lines"])
    return con


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "shop.yml"
    path.write_text(SPEC, encoding="utf-8")
    return load_spec(path).with_as_of(date(2025, 2, 1))


def test_dimension_columns_reach_metrics_and_filters(spec_file):
    cur = _data().execute(compile_spec(spec_file))
    cols = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert sorted(rows) == ["a", "b", "c", "e"]  # d's only line is after the as-of date
    a, b, c = rows["a"], rows["b"], rows["c"]
    # a: Dairy 10, Bakery 5, and p9 (not in products) in 'Unknown'; the last line is p9's
    assert (a["spend"], a["dairy_spend"], a["departments"], a["unknown_lines"]) == (16, 10, 3, 1)
    assert a["last_department"] == "Unknown" and a["dairy"] == "Dairy lover"
    # b: the line without a product is kept, as 'Unknown'; store 3 does not exist: no region
    assert (b["spend"], b["unknown_lines"], b["departments"], b["regions"]) == (9, 1, 2, 1)
    assert b["online_spend"] == 0 and a["online_spend"] == 11  # store 1 is online
    # top: the largest total (a: Dairy 10 of 16), ties to the smallest (e: Bakery and Dairy
    # 5 each); NULL categories are no category (c); by row count without a measure
    assert (a["top_department"], a["top_share"], a["top_region"]) == ("Dairy", 0.625, "North")
    assert (b["top_department"], b["top_share"], b["top_region"]) == ("Bakery", 7 / 9, "South")
    e = rows["e"]
    assert (e["top_department"], e["top_share"], e["top_region"]) == ("Bakery", 0.5, "North")
    assert (c["top_department"], c["top_share"]) == (None, None)
    # c: p3's department is NULL (a row, with a NULL value: not 'missing'); p4 is 'Hidden'
    assert (c["spend"], c["departments"], c["unknown_lines"], c["last_department"]) == (
        4,
        0,
        0,
        None,
    )


def test_top_and_top_share_of_one_category_and_measure_share_their_totals(spec_file):
    """top_department and top_share (department by amount) read one totals CTE; top_region
    (another category) has its own. The values are the hand-worked ones above."""
    sql = compile_spec(spec_file)
    assert sql.count("customer_lines_top_1_totals AS (") == 1
    assert "customer_lines_top_2_totals" not in sql  # top_share reads top_1's totals
    assert sql.count("customer_lines_top_3_totals AS (") == 1


def test_verify_proves_it(spec_file, tmp_path):
    _data(tmp_path)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    assert report.passed, report.to_text()
    names = {c.name for c in report.checks}
    assert {"unique:lines.product", "unique:lines.store", "metrics:lines"} <= names


def test_a_duplicated_dimension_key_fails_verify(spec_file, tmp_path):
    _data(tmp_path, duplicate=True)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = {c.name: c for c in report.checks if not c.passed}
    assert set(failed) == {"unique:lines.product"}, report.to_text()
    assert failed["unique:lines.product"].examples == ("p2: 2 rows in products",)


def test_a_compiler_that_forgets_missing_values_fails_verify(spec_file, tmp_path, monkeypatch):
    _data(tmp_path)
    original = plan._joined_value

    def no_missing(name, joins):  # the dimension's column, NULL when the row is missing
        if name.startswith("product__"):
            return plan.column(name.removeprefix("product__"), "product")
        return original(name, joins)

    monkeypatch.setattr(plan, "_joined_value", no_missing)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = {c.name for c in report.checks if not c.passed}
    assert "metrics:lines" in failed, report.to_text()


def test_a_top_tie_broken_the_other_way_fails_verify(spec_file, tmp_path, monkeypatch):
    _data(tmp_path)
    original = plan._top_steps

    def largest(*args):  # MIN(category) written as MAX
        steps = original(*args)
        return [
            plan.SourceStep(
                **{
                    **st.__dict__,
                    "columns": tuple(
                        plan.Column(c.name, exp.Max(this=c.expr.this))
                        if isinstance(c.expr, exp.Min)
                        else c
                        for c in st.columns
                    ),
                }
            )
            for st in steps
        ]

    monkeypatch.setattr(plan, "_top_steps", largest)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = {c.name: c for c in report.checks if not c.passed}
    assert "metrics:lines" in failed, report.to_text()
    assert any(
        "top_department" in x and x.startswith("e") for x in failed["metrics:lines"].examples
    )


def test_a_compiler_that_drops_events_without_a_dimension_row_fails_verify(
    spec_file, tmp_path, monkeypatch
):
    """An inner join would lose b's line without a product (and a's unknown product)."""
    _data(tmp_path)
    original = plan._joined_rows

    def inner(spec, source, cte, names, where):
        step = original(spec, source, cte, names, where)
        keep = plan.all_of(step.where, plan.not_null(plan.column("product_id", "product")))
        return plan.RowsStep(step.cte, step.table, step.columns, keep, step.alias, step.joins)

    monkeypatch.setattr(plan, "_joined_rows", inner)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    assert "metrics:lines" in {c.name for c in report.checks if not c.passed}, report.to_text()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("expr: product.department, fill", "expr: prodct.department, fill"),
            r"shop.yml:16:\d+: error: .*'prodct.department' names no join of its source "
            r"\(joins: product, store\)",
        ),
        (
            ("COALESCE(product.department", "COALESCE(p.department"),
            r"shop.yml:8:\d+: error: .*names no join",
        ),
        (("store: {table", "st__ore: {table"), r"shop.yml:11:\d+: error: 'st__ore' contains '__'"),
    ],
)
def test_a_qualifier_must_name_a_join_of_the_source(tmp_path, change, message):
    path = tmp_path / "shop.yml"
    path.write_text(SPEC.replace(*change), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_a_dimension_column_is_looked_up_in_the_dimension(spec_file, tmp_path):
    _data(tmp_path)
    path = tmp_path / "shop.yml"
    path.write_text(SPEC.replace("expr: store.region", "expr: store.regoin"), encoding="utf-8")
    bad = load_spec(path).with_as_of(date(2025, 2, 1))
    with pytest.raises(DataError, match=r"column 'store.regoin' not found in table 'stores'"):
        verify(bad, data=tmp_path, dialects=["duckdb"])
    path.write_text(SPEC.replace("on: item", "on: itme"), encoding="utf-8")
    bad = load_spec(path).with_as_of(date(2025, 2, 1))
    with pytest.raises(
        DataError, match=r"join 'product': column 'itme' not found in table 'sale_lines'"
    ):
        verify(bad, data=tmp_path, dialects=["duckdb"])


def test_dbt_refs_the_dimensions_and_ships_their_unique_keys(spec_file):
    files = dbt_model(spec_file).files
    model = files["models/shop.sql"]
    assert "LEFT JOIN {{ ref('products') }} AS product" in model
    assert "LEFT JOIN {{ ref('stores') }} AS store" in model
    test = files["tests/shop__lines__product__unique_key.sql"]
    assert "FROM {{ ref('products') }}" in test and "COUNT(*) > 1" in test


@pytest.mark.engines
@pytest.mark.parametrize("name", ["sqlite", "postgres", "spark", "clickhouse", "mysql"])
def test_engines_give_duckdbs_joined_metrics(spec_file, name, request):
    engine = request.getfixturevalue(f"{name}_engine")
    src = _data()
    engine.load(src, ["products", "stores", "sale_lines"])
    expected = src.execute(compile_spec(spec_file))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    cols, rows = engine.query(compile_spec(spec_file, name))
    assert_same_rows(exp_cols, exp_rows, cols, rows)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("agg: sum, expr: amount, fill: 0}", "agg: sum, expr: amount, measure: amount}"),
            "has 'measure', which only agg top and top_share use",
        ),
        (("agg: top, expr: store.region}", "agg: top}"), "uses agg 'top' without 'expr'"),
        (
            ("agg: top, expr: store.region}", "agg: top, expr: store.region, type: integer}"),
            r"is a category \(agg top\): its type is text",
        ),
    ],
)
def test_top_metrics_are_checked(tmp_path, change, message):
    path = tmp_path / "shop.yml"
    assert change[0] in SPEC
    path.write_text(SPEC.replace(*change, 1), encoding="utf-8")
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_offer_categories_on_the_edge_cases(tmp_path):
    """Worked out by hand from tests/edge_data.py (PRODUCTS, PRODUCT_OF)."""
    from tests import edge_data
    from tests.golden_regen import SPECS

    con = duckdb.connect()
    edge_data.load(con)
    write_tables(con, tmp_path, ["int_customers", "int_order_lines", "int_products"])
    spec_file = load_spec(SPECS / "offer_categories.yml").with_as_of(edge_data.AS_OF)
    cur = con.execute(compile_spec(spec_file))
    cols = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}

    def of(key):
        r = rows[key]
        return (r["top_offer_department"], r["top_offer_share"], r["discounted_departments"])

    # C1: Beauty 3 lines (160), 'beauty' 1 line (80), Dairy 1 line (20); spend share 160/260
    assert of("C1") == ("Beauty", 160 / 260, 3)
    # C2: a product missing from the table and a NULL product: both 'Unknown'; its refund
    # does not count
    assert of("C2") == ("Unknown", 1.0, 1)
    assert rows["C2"]["offer_department"] == "Unknown product"
    # C5: the product exists with a NULL department: no category at all
    assert of("C5") == (None, None, 0)
    # C6: one line each in 'beauty', 'Home', 'Beauty': the smallest in code-point order
    assert of("C6") == ("Beauty", 1 / 3, 3)
    assert rows["C6"]["category_offer_seeker"] == "Multi-Category Offer User"
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = [c.name for c in report.checks if not c.passed]
    # every proof holds; only the spec's own expectations of the bundled sample do not
    assert all(name.startswith("spec:") for name in failed), report.to_text()


def test_offer_types_on_the_edge_cases(tmp_path):
    """offer_types.yml (issue 25) worked out by hand from tests/edge_data.py (OFFERS, LINES,
    REDEMPTIONS), as of 2025-06-30: a line reaches its offer through whichever of the two
    joins finds a row."""
    from semseg.spec.keyhash import arm_of
    from tests import edge_data
    from tests.golden_regen import SPECS

    con = duckdb.connect()
    edge_data.load(con)
    tables = ["int_customers", "int_order_lines", "int_offers", "int_offer_redemptions"]
    write_tables(con, tmp_path, tables)
    spec_file = load_spec(SPECS / "offer_types.yml").with_as_of(edge_data.AS_OF)
    cur = con.execute(compile_spec(spec_file))
    cols = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert set(rows) == {c for c, _ in edge_data.CUSTOMERS if c is not None}

    def of(key):
        r = rows[key]
        share = None if r["preferred_offer_share"] is None else float(r["preferred_offer_share"])
        return r["preferred_offer_type"], share, r["typed_offer_lines"], r["offer_orders"]

    # C1: two percentage lines (ONL-1), a free-shipping line (ONL-2), an offer with no type
    # (OFF-9) and a store line with the code '' (no offer): percentage, 2 of 3 typed lines
    assert of("C1") == ("percentage", pytest.approx(2 / 3), 3, 3)
    # C2: fixed amount through the store code (the online code is ''), percentage online;
    # the tie goes to fixed_amount (code-point order); the refund counts for nothing
    assert of("C2") == ("fixed_amount", 0.5, 2, 2)
    # C6: one free-shipping code three times: sensitive (3 lines >= min_lines, share 1)
    assert of("C6") == ("free_shipping", 1.0, 3, 3)
    assert rows["C6"]["offer_type_sensitivity"] == "Free-shipping sensitive"
    assert float(rows["C6"]["free_shipping_spend"]) == 15.0
    assert float(rows["C1"]["free_shipping_spend"]) == 10.0
    # C7: its store code is not in int_offers; C5: no code; C3: refunds only; C14: after
    for key, orders in (("C7", 1), ("C5", 1), ("C3", 0), ("C14", 0), ("C8", 0)):
        assert of(key) == (None, None, 0, orders), key
        assert rows[key]["preferred_offer"] == "No typed offer", key
        assert rows[key]["preferred_offer_arm"] is None, key
    # C10-C13: percentage (any time up to the as-of date), too few lines to be sensitive
    for key in ("C10", "C11", "C12", "C13"):
        assert rows[key]["preferred_offer"] == "Percentage off", key
        assert rows[key]["offer_type_sensitivity"] == "Mixed offer user", key
    assert [rows[k]["preferred_offer"] for k in ("C1", "C2", "C6")] == [
        "Percentage off",
        "Fixed amount off",
        "Free shipping",
    ]
    for key in ("C1", "C2", "C6", "C10", "C11", "C12", "C13"):
        want = arm_of("offer_types_2025q4", key, ["holdout", "offer"], [0.2, 0.8])
        assert rows[key]["preferred_offer_arm"] == want, key
    # the outcomes, (2025-05-31, 2025-06-30]: C1's O3 on June 1 and R2 (not R1, May 31);
    # C2's two redemptions on June 30; C10's order on June 30
    assert float(rows["C1"]["sales_30d"]) == 10.0 and rows["C1"]["redemptions_30d"] == 1
    assert rows["C2"]["redemptions_30d"] == 2 and rows["C3"]["redemptions_30d"] == 0
    assert float(rows["C10"]["sales_30d"]) == 10.0 and float(rows["C6"]["sales_30d"]) == 0
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = [c.name for c in report.checks if not c.passed]
    # every proof holds; only the spec's own expectations of the bundled sample do not
    assert all(name.startswith("spec:") for name in failed), report.to_text()


def test_a_source_column_named_like_a_joined_column_is_refused(tmp_path):
    """Issue 23, item 11: with a join named ``product``, a source column ``product__department``
    passed check, and the SQL read the dimension's column under that name."""
    from semseg.errors import SpecError
    from semseg.spec import load_spec
    from tests.golden_regen import SPECS

    text = (SPECS / "offer_categories.yml").read_text(encoding="utf-8")
    start = text.index("metrics:\n")
    text = text[:start] + text[start:].replace(
        "    where: has_discount = 1\n",
        "    where: has_discount = 1 AND product__department <> 'x'\n",
        1,
    )
    path = tmp_path / "clash.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r"'product__department' is named like the column the join"):
        load_spec(path)


def test_top_share_is_a_share_of_the_positive_totals(spec_file, tmp_path):
    """Issue 23, item 10: with refund lines, Dairy 10 and Bakery -8 gave a top_share of
    10 / 2 = 5.0. The share is of the positive totals (docs/spec.md): f gets 1.0, g (Dairy
    10, Bakery 5, Unknown -3) 10 / 15, h (all below zero) NULL; verify agrees its own way."""
    con = _data(tmp_path)
    con.execute(
        "INSERT INTO sale_lines VALUES "
        "('f', 'p1', 1, 10.0, DATE '2025-01-01', 'f: Dairy'),"
        "('f', 'p2', 1, -8.0, DATE '2025-01-02', 'f: a Bakery refund'),"
        "('g', 'p1', 1, 10.0, DATE '2025-01-01', 'g: Dairy'),"
        "('g', 'p2', 1, 5.0, DATE '2025-01-02', 'g: Bakery'),"
        "('g', 'p9', 1, -3.0, DATE '2025-01-02', 'g: an Unknown refund'),"
        "('h', 'p1', 1, -2.0, DATE '2025-01-01', 'h: refunds only'),"
        "('h', 'p2', 1, -1.0, DATE '2025-01-01', 'h: refunds only')"
    )
    write_tables(con, tmp_path, ["products", "stores", "sale_lines"])
    cur = con.execute(compile_spec(spec_file))
    cols = [d[0] for d in cur.description]
    rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    assert (rows["f"]["top_department"], rows["f"]["top_share"]) == ("Dairy", 1.0)
    assert (rows["g"]["top_department"], rows["g"]["top_share"]) == ("Dairy", 10 / 15)
    assert (rows["h"]["top_department"], rows["h"]["top_share"]) == ("Bakery", None)
    assert all(r["top_share"] is None or 0 < r["top_share"] <= 1 for r in rows.values())
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    assert report.passed, report.to_text()


@pytest.mark.parametrize(
    "old, new, message",
    [
        (  # item 19: a misspelt column was silently ignored
            "missing: {department: Unknown}",
            "missing: {departmnet: Unknown}",
            r"shop\.yml:10:\d+: error: join 'product': missing: 'departmnet' not found in table "
            "'products'",
        ),
        (  # item 25: DuckDB's "Cannot mix VARCHAR and INTEGER_LITERAL" without a line
            "missing: {department: Unknown}",
            "missing: {department: 0}",
            r"shop\.yml:10:\d+: error: join 'product': the missing value 0 for 'department' is "
            r"number, and the column is text in table 'products' — write a text value \(quote "
            "it: department: '0'\\)",
        ),
        (  # item 26: a text key joined to an integer key; '01' and '1.0' both matched 1
            "store: {table: stores, key: store_id}",
            "store: {table: stores, key: store_id, on: name}",
            r"shop\.yml:11:\d+: error: join 'store': 'name' of table 'sale_lines' is text, and "
            "'store_id' of table 'stores' is number",
        ),
    ],
)
def test_join_columns_and_values_of_another_type_are_refused(tmp_path, old, new, message):
    """Issue 23, items 19, 25 and 26: each at its line, before any SQL runs."""
    _data(tmp_path)
    path = tmp_path / "shop.yml"
    path.write_text(SPEC.replace(old, new), encoding="utf-8")
    with pytest.raises(DataError, match=message):
        verify(load_spec(path).with_as_of(date(2025, 2, 1)), data=tmp_path, dialects=["duckdb"])
