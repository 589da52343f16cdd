"""Parameters (issue 12): typed values used as {{ name }} in snippets, windows and band bounds,
set with --var, written as dbt var(), never rendered as code."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.errors import SpecError, UsageError
from semseg.spec import load_spec
from semseg.verify import verify

runner = CliRunner()

SPEC = """\
version: 1
name: params
parameters:
  recent_days: {type: integer, default: 90, min: 1, max: 3650}
  big_spend: {type: number, default: 500}
  kind: {type: text, default: Sale}
  since: {type: date, default: 2024-01-01}
entity: {name: customer, key: unified_customer_id}
sources:
  sales:
    table: int_order_lines
    where: transaction_type = {{ kind }} AND order_date >= {{ since }}
    time: order_date
metrics:
  recent_spend:
    source: sales
    agg: sum
    expr: sales_amount
    window: last {{recent_days}} days
    fill: 0
segmentations:
  spend_band:
    by: recent_spend
    segments:
      - {label: Big, min: "{{ big_spend }}"}
      - {label: Small, else: true}
"""


@pytest.fixture
def spec_path(tmp_path):
    path = tmp_path / "params.yml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def test_defaults_and_vars_become_literals(spec_path):
    sql = compile_spec(load_spec(spec_path).with_as_of(date(2025, 1, 1)))
    assert "transaction_type = 'Sale' AND order_date >= CAST('2024-01-01' AS DATE)" in sql
    assert "INTERVAL (-90) DAY" in sql and "recent_spend >= 500" in sql
    given = {"recent_days": "30", "big_spend": "1e3", "kind": "O'Brien", "since": "2023-05-06"}
    sql = compile_spec(load_spec(spec_path, given).with_as_of(date(2025, 1, 1)))
    assert "transaction_type = 'O''Brien'" in sql and "CAST('2023-05-06' AS DATE)" in sql
    assert "INTERVAL (-30) DAY" in sql and "recent_spend >= 1000.0" in sql
    assert "{{" not in sql


def test_a_text_value_is_data_never_code(spec_path, tmp_path):
    hostile = "x' OR 1=1 --{{ 7*7 }}"
    spec_file = load_spec(spec_path, {"kind": hostile}).with_as_of(date(2025, 1, 1))
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE int_order_lines AS SELECT 'c1' AS unified_customer_id, "
        "'Sale' AS transaction_type, DATE '2024-12-31' AS order_date, 600.0 AS sales_amount"
    )
    assert con.execute(compile_spec(spec_file)).fetchall() == []  # no row has that type
    out = tmp_path / "dbt"
    result = runner.invoke(
        app, ["compile", str(spec_path), "--dbt", str(out), "--var", f"kind={hostile}"]
    )
    assert result.exit_code == 0, result.output
    model = (out / "models" / "params.sql").read_text(encoding="utf-8")
    # dbt: the var's default is a Jinja string literal, and the run-time value is quoted for SQL
    assert (
        "'{{ var('kind', \"x' OR 1=1 --{{ 7*7 }}\") | string | replace(\"'\", \"''\") }}'" in model
    )


def test_dbt_writes_snippet_parameters_as_vars(spec_path, tmp_path):
    result = runner.invoke(app, ["compile", str(spec_path), "--dbt", str(tmp_path)])
    assert result.exit_code == 0, result.output
    model = (tmp_path / "models" / "params.sql").read_text(encoding="utf-8")
    assert "'{{ var('kind', \"Sale\") | string | replace(\"'\", \"''\") }}'" in model
    assert "CAST('{{ var('since', \"2024-01-01\") | string" in model
    assert "__semseg_param__" not in model


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ("recent_days=0", "'recent_days' = 0 is below 1 (min of the parameter)"),
        ("recent_days=ten", "not an integer"),
        ("since=2024-02-30", "is not a date (YYYY-MM-DD)"),
        ("big_spend=nan", "not a finite number"),
        ("nope=1", "not a parameter of"),
        ("recent_days", "write NAME=VALUE"),
    ],
)
def test_bad_vars_are_usage_errors(spec_path, var, message):
    result = runner.invoke(app, ["compile", str(spec_path), "--var", var])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (("{{ kind }}", "{{ knd }}"), "12:12", "'{{ knd }}' is not a declared parameter"),
        (("default: 90, min: 1", "default: 0, min: 1"), "4:41", "is below 1"),
        (("{type: text, default: Sale}", "{type: text}"), "12:12", "has no default and no --var"),
        (("last {{recent_days}} days", "last {{big_spend}} days"), "19:13", "a window counts"),
        (('min: "{{ big_spend }}"', 'min: "{{ kind }}"'), "25:27", "a bound is a number"),
        (("type: integer", "type: int"), "4:23", "must be 'integer', 'number'"),
    ],
)
def test_parameter_mistakes_are_located(tmp_path, change, where, message):
    path = tmp_path / "params.yml"
    path.write_text(SPEC.replace(*change), encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    text = str(err.value)
    assert f"params.yml:{where}: error: " in text and message in text, text


def test_verify_proves_a_model_with_parameters(spec_path):
    report = verify(
        load_spec(spec_path, {"recent_days": "365"}), dialects=["duckdb"], progress=lambda _m: None
    )
    assert report.passed, report.to_text()


def test_a_var_for_a_folder_must_belong_to_some_spec(spec_path):
    ok = runner.invoke(app, ["check", str(spec_path.parent), "--var", "kind=Refund"])
    assert ok.exit_code == 0, ok.output
    with pytest.raises(UsageError):
        from semseg.cli import load_all

        load_all(spec_path.parent, {"unknown": "1"})


def test_placeholders_in_quotes_and_comments_stay_text(tmp_path):
    """'{{ kind }}' inside a SQL string is the text itself (the hostile-labels spec of the dbt
    tests has one); only a placeholder in the SQL stands for a value."""
    text = SPEC.replace(
        "where: transaction_type = {{ kind }} AND order_date >= {{ since }}",
        "where: transaction_type IN ({{ kind }}, '{{ kind }}') -- {{ nope }}",
    )
    path = tmp_path / "params.yml"
    path.write_text(text, encoding="utf-8")
    sql = compile_spec(load_spec(path).with_as_of(date(2025, 1, 1)))
    assert "transaction_type IN ('Sale', '{{ kind }}')" in sql
