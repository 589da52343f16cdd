"""Constructs a target cannot compute the same way are refused, never approximated silently."""

from __future__ import annotations

import textwrap

import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.compile.dialects import UNFAITHFUL
from semseg.errors import CompileError
from semseg.spec import load_spec

SPEC = textwrap.dedent(
    """\
    version: 1
    name: med
    entity: {name: customer, key: unified_customer_id}
    sources:
      lines: {table: int_order_lines}
    metrics:
      median_line:
        source: lines
        sql: MEDIAN(sales_amount)
    """
)


@pytest.fixture()
def spec(tmp_path):
    path = tmp_path / "med.yml"
    path.write_text(SPEC)
    return path


@pytest.mark.parametrize("dialect", sorted(UNFAITHFUL["Median"]))
def test_median_is_refused_where_it_is_not_exact(spec, dialect):
    with pytest.raises(CompileError) as err:
        compile_spec(load_spec(spec), dialect)
    assert f"{spec}:9:10: error: MEDIAN(sales_amount) cannot be compiled" in str(err.value)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "snowflake", "spark", "redshift"])
def test_median_compiles_where_it_is_exact(spec, dialect):
    assert "median_line" in compile_spec(load_spec(spec), dialect)


def test_cli_reports_the_refusal_without_traceback(spec):
    result = CliRunner().invoke(app, ["compile", str(spec), "--dialect", "trino"])
    assert result.exit_code == 1
    assert "approx_percentile" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "sql",
    ["SUM(quantity) + quantity", "quantity * COUNT(order_line_no)", "MAX(quantity) - sales_amount"],
)
def test_a_bare_column_in_a_raw_aggregate_is_refused_at_its_line(tmp_path, sql):
    """Issue 23, item 16: ``sql: SUM(quantity) + quantity`` passed check and compile; only
    verify failed, with DuckDB's Binder Error and no line."""
    from semseg.errors import SpecError

    path = tmp_path / "spec.yml"
    path.write_text(
        "version: 1\nname: bare\nentity: {name: customer, key: unified_customer_id}\n"
        "sources:\n  sales: {table: int_order_lines}\nmetrics:\n"
        f"  total: {{source: sales, sql: {sql}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=r":7:\d+: error: \w+ is outside an aggregate"):
        load_spec(path)
