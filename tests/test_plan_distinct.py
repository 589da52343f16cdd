"""The split-off shape for conditional distinct counts keeps the single-aggregate semantics."""

from __future__ import annotations

import textwrap

import duckdb
import pytest
from sqlglot import exp

from semseg.compile import compile_spec
from semseg.compile.distinct import distinct_only
from semseg.spec import load_spec
from tests import edge_data


@pytest.mark.parametrize(
    ("sql", "conditions", "empty"),
    [
        ("COUNT(DISTINCT CASE WHEN d = 1 THEN o END)", ("d = 1",), "0"),
        (
            "COUNT(DISTINCT CASE WHEN a <> '' THEN a END)"
            " + COUNT(DISTINCT CASE WHEN b > 0 THEN b END)",
            ("a <> ''", "b > 0"),
            "0",
        ),
        ("2 * COUNT(DISTINCT CASE WHEN d = 1 THEN o ELSE NULL END) + 1", ("d = 1",), "1"),
    ],
)
def test_recognised_shapes(sql, conditions, empty):
    found = distinct_only(sql)
    assert found is not None and found.conditions == conditions and found.empty == empty


@pytest.mark.parametrize(
    "sql",
    [
        "SUM(x)",
        "COUNT(DISTINCT o)",  # no condition: every row counts
        "COUNT(DISTINCT CASE WHEN c THEN o ELSE 0 END)",  # ELSE value counts too
        "COUNT(DISTINCT CASE WHEN c THEN o END) + y",  # a column outside the aggregate
        "COUNT(DISTINCT CASE WHEN c THEN o END) + SUM(x)",  # a plain aggregate inside
        "COUNT(CASE WHEN c THEN o END)",  # not DISTINCT
    ],
)
def test_other_shapes_are_left_alone(sql):
    assert distinct_only(sql) is None


SPEC = """\
version: 1
name: split
entity: {name: customer, key: unified_customer_id}
population: {table: int_customers}
sources:
  lines: {table: int_order_lines, where: transaction_type = 'Sale'}
metrics:
  discounted_orders: {source: lines, agg: count_distinct, expr: unified_order_id,
                      where: has_discount = 1}
  filled_orders: {source: lines, agg: count_distinct, expr: unified_order_id,
                  where: has_discount = 1, fill: -1}
  sales: {source: lines, agg: sum, expr: sales_amount}
"""


def test_split_metrics_are_null_without_source_rows_and_zero_without_matches(tmp_path):
    path = tmp_path / "split.yml"
    path.write_text(textwrap.dedent(SPEC))
    sql = compile_spec(load_spec(path), "duckdb")
    assert "customer_lines_distinct" in sql  # the faster shape is in use
    con = duckdb.connect()
    edge_data.load(con)
    got = {r[0]: r[1:] for r in con.execute(sql).fetchall()}
    # Worked out by hand from tests/edge_data.py.
    assert got["C1"][:2] == (3, 3)
    assert got["C3"][:2] == (None, -1)  # refunds only: no Sale rows at all -> NULL / fill
    assert got["C4"][:2] == (0, 0)  # Sale rows, none discounted -> 0, not NULL or fill
    assert got["C8"] == (None, -1, None)  # no rows -> NULL, fill applies
    # The same as the single-aggregate shape, row for row.
    reference = con.execute(
        "SELECT c.unified_customer_id, s.d, COALESCE(s.d, -1), s.sales FROM int_customers c "
        "LEFT JOIN (SELECT unified_customer_id, COUNT(DISTINCT CASE WHEN has_discount = 1 THEN "
        "unified_order_id END) AS d, SUM(sales_amount) AS sales FROM int_order_lines "
        "WHERE transaction_type = 'Sale' AND unified_customer_id IS NOT NULL GROUP BY 1) s "
        "USING (unified_customer_id) WHERE c.unified_customer_id IS NOT NULL"
    ).fetchall()
    assert sorted(got.items()) == sorted((r[0], r[1:]) for r in reference)


# --- two levels: MIN/MAX and one COUNT(DISTINCT x) per (key, x), then per key ---------------


def _two_levels_of(sql: str):
    from semseg.compile.plan import Column, _two_levels

    return _two_levels((Column("m", exp.maybe_parse(sql, dialect="duckdb")),))


@pytest.mark.parametrize(
    "sql",
    [
        "COUNT(DISTINCT o) + MAX(d)",
        "DATE_DIFF('DAY', MIN(d), MAX(d)) * COUNT(DISTINCT o)",
        "COUNT(DISTINCT o) - COUNT(DISTINCT o)",
    ],
)
def test_two_levels_recognised(sql):
    levels = _two_levels_of(sql)
    assert levels is not None
    value, inner, outer = levels
    assert value.sql("duckdb") == "SEMSEG_EXACT(o)"  # grouped byte for byte (MySQL, T-SQL)
    assert inner[-1].expr.sql("duckdb") == "COUNT(o)"
    assert "COUNT(DISTINCT" not in outer[0].expr.sql("duckdb")


@pytest.mark.parametrize(
    "sql",
    [
        "COUNT(DISTINCT o)",  # nothing shares the hash
        "COUNT(DISTINCT o) + SUM(x)",  # SUM over (key, o) groups would reorder float sums
        "COUNT(DISTINCT o) + COUNT(DISTINCT p)",  # two distinct values
        "COUNT(DISTINCT o) + COUNT(x)",
        "MAX(d) + MIN(d)",  # no distinct count: one GROUP BY already
    ],
)
def test_two_levels_left_alone(sql):
    assert _two_levels_of(sql) is None


TWO_LEVELS = """\
version: 1
name: two_levels
entity: {name: customer, key: unified_customer_id}
population: {table: int_customers}
sources:
  lines: {table: int_order_lines, where: transaction_type = 'Sale'}
metrics:
  online_codes: {source: lines, agg: count_distinct, expr: online_offer_no_}
  largest_line: {source: lines, agg: max, expr: sales_amount}
  first_order_days: {source: lines, agg: min, expr: "order_date - DATE '2020-01-01'"}
"""


def test_two_levels_keep_the_single_aggregate_values_and_verify_guards_them(tmp_path, monkeypatch):
    """The two-level shape gives the one-GROUP-BY values on the bundled sample (where most
    order lines have no online code: the NULL group must not count), and a compiler that
    counts the NULL group fails verify."""
    from semseg.compile import plan
    from semseg.sample import table_paths
    from semseg.verify import verify

    path = tmp_path / "two_levels.yml"
    path.write_text(TWO_LEVELS)
    sql = compile_spec(load_spec(path), "duckdb")
    assert "customer_lines_values" in sql and "COUNT(DISTINCT" not in sql
    con = duckdb.connect()
    for name, p in table_paths("retail").items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{p}')")
    reference = con.execute(
        "SELECT c.unified_customer_id, s.a, s.b, s.c FROM (SELECT DISTINCT unified_customer_id "
        "FROM int_customers WHERE unified_customer_id IS NOT NULL) c LEFT JOIN (SELECT "
        "unified_customer_id, COUNT(DISTINCT online_offer_no_) AS a, MAX(sales_amount) AS b, "
        "MIN(order_date - DATE '2020-01-01') AS c FROM int_order_lines WHERE transaction_type "
        "= 'Sale' AND unified_customer_id IS NOT NULL GROUP BY 1) s USING (unified_customer_id)"
    ).fetchall()
    got = con.execute(sql).fetchall()
    assert sorted(got, key=str) == sorted(reference, key=str)
    assert any(r[1] == 0 for r in got)  # customers whose lines have no code at all

    def report():
        return verify(load_spec(path), dialects=["duckdb"], progress=lambda _m: None)

    assert all(c.passed for c in report().checks)
    original = plan._two_levels

    def counts_null_group(columns):
        levels = original(columns)
        if levels is None:
            return None
        value, inner, outer = levels
        unnull = [
            plan.Column(
                c.name, c.expr.transform(lambda n: n.this if isinstance(n, exp.Nullif) else n)
            )
            for c in outer
        ]
        return value, inner, tuple(unnull)

    monkeypatch.setattr(plan, "_two_levels", counts_null_group)
    failed = {c.name.split(":")[0] for c in report().checks if not c.passed}
    assert "metrics" in failed
