"""The split-off shape for conditional distinct counts keeps the single-aggregate semantics."""

from __future__ import annotations

import textwrap

import duckdb
import pytest

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
