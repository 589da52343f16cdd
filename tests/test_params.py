"""Parameters (issue 12): typed values used as {{ name }} in snippets, windows and band bounds,
set with --var, written as dbt var(), never rendered as code."""

from __future__ import annotations

import re
import types
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


# Every kind of site a var can take under dbt: a snippet, both ends of a window (in months, so
# that SQLite's month arithmetic takes an expression too) and a band bound.
DBT_SPEC = SPEC.replace(
    "window: last {{recent_days}} days", 'window: "{{ near }} to {{ far }} months ago"'
).replace(
    "  since: {type: date, default: 2024-01-01}\n",
    "  since: {type: date, default: 2024-01-01}\n"
    "  near: {type: integer, default: 1, min: 0}\n"
    "  far: {type: integer, default: 6, min: 1}\n",
)
_EVENTS = [  # (customer, type, date, amount)
    ("c1", "Sale", "2024-12-31", 600.0),
    ("c1", "Sale", "2024-07-31", 50.0),
    ("c2", "Sale", "2024-11-30", 200.0),
    ("c2", "Refund", "2024-12-15", 900.0),
    ("c3", "Sale", "2024-09-30", 120.0),
    ("c3", "Sale", "2023-12-01", 5000.0),
    ("c4", "Refund", "2024-06-30", 700.0),
    ("c5", "Refund", "2024-03-01", 300.0),
]


def _dbt_render(text: str, given: dict) -> str:
    """A generated dbt file rendered as dbt renders it: ``var(name, default)`` takes ``given``
    (as ``dbt run --vars`` does), ``ref`` the table's own name."""
    import jinja2

    class CompilerError(Exception):
        pass

    def raise_compiler_error(message: str) -> None:
        raise CompilerError(message)

    def var(name: str, default=None):
        return given.get(name, default)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(
        ref=lambda name: name,
        config=lambda **_k: "",
        var=var,
        modules=types.SimpleNamespace(re=re),  # as dbt's context has it
        exceptions=type("E", (), {"raise_compiler_error": staticmethod(raise_compiler_error)}),
    )
    return env.from_string(text).render()


def _rows_on(engine: str, sql: str) -> list[tuple]:
    rows = "\n UNION ALL ".join(
        f"SELECT '{c}' AS unified_customer_id, '{t}' AS transaction_type, "
        f"{'DATE(' + repr(d) + ')' if engine == 'sqlite' else 'DATE ' + repr(d)} AS order_date, "
        f"{a} AS sales_amount"
        for c, t, d, a in _EVENTS
    )
    if engine == "duckdb":
        con = duckdb.connect()
        con.execute(f"CREATE TABLE int_order_lines AS {rows}")
        return sorted(con.execute(sql).fetchall())
    import sqlite3

    lite = sqlite3.connect(":memory:")
    lite.execute(f"CREATE TABLE int_order_lines AS {rows}")
    return sorted(lite.execute(sql).fetchall())


_BIG_CASE = {"near": 0, "far": 12, "big_spend": 100, "kind": "Refund", "since": "2023-01-01"}


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize(
    "given",
    [
        {},
        _BIG_CASE,
        {"near": 2, "far": 3, "big_spend": 150.5},
    ],
)
def test_dbt_vars_set_snippets_windows_and_bounds(tmp_path, engine, given):
    """``dbt run --vars`` gives what ``compile --var`` gives with the same values, for every
    site a parameter can take."""
    path = tmp_path / "params.yml"
    path.write_text(DBT_SPEC, encoding="utf-8")
    out = tmp_path / "dbt"
    result = runner.invoke(
        app, ["compile", str(path), "-d", engine, "--as-of", "2024-12-31", "--dbt", str(out)]
    )
    assert result.exit_code == 0, result.output
    model = (out / "models" / "params.sql").read_text(encoding="utf-8")
    assert "__semseg_param__" not in model
    for name in ("near", "far", "big_spend"):
        assert f"var('{name}'" in model
    dbt_rows = _rows_on(engine, _dbt_render(model, {"as_of": "2024-12-31", **given}))
    vars_ = {k: str(v) for k, v in given.items()}
    spec = load_spec(path, vars_).with_as_of(date(2024, 12, 31))
    assert dbt_rows == _rows_on(engine, compile_spec(spec, engine))
    # the proof dbt runs as a singular test takes the same var: it holds for the model built
    # with it, and fails for a model built with another bound
    test = (out / "tests" / "params__spend_band.sql").read_text(encoding="utf-8")
    model_sql = _dbt_render(model, {"as_of": "2024-12-31", **given})
    other = _dbt_render(model, {"as_of": "2024-12-31", **given, "big_spend": 10_000})
    assert given != _BIG_CASE or any(r[2] == "Big" for r in dbt_rows)  # the proof has work
    for built, offenders in ((model_sql, 0), (other, sum(r[2] == "Big" for r in dbt_rows))):
        proof = _dbt_render(test, given)
        tables = f"WITH params AS ({built}) " if engine == "duckdb" else ""
        if engine == "duckdb":
            assert len(_rows_on(engine, tables + proof)) == offenders


def test_dbt_var_values_must_be_numbers_in_range(tmp_path):
    path = tmp_path / "params.yml"
    path.write_text(DBT_SPEC, encoding="utf-8")
    out = tmp_path / "dbt"
    assert runner.invoke(app, ["compile", str(path), "--dbt", str(out)]).exit_code == 0
    model = (out / "models" / "params.sql").read_text(encoding="utf-8")
    for bad, message in [
        ({"far": "6) OR (1=1"}, "var far must be an integer >= 1"),
        ({"far": 0}, "var far must be an integer >= 1"),
        ({"near": True}, "var near must be an integer >= 0"),
        ({"big_spend": "500"}, "var big_spend must be a finite number"),
    ]:
        with pytest.raises(Exception, match=message):
            _dbt_render(model, bad)


ATTACK = "\\' OR PWNED = 1 -- "  # a backslash, then a quote: \' escapes on some dialects


@pytest.mark.parametrize("spec_dialect", ["snowflake", "mysql", "bigquery", "spark", "duckdb"])
def test_a_text_value_with_a_backslash_stays_data_in_every_dialect(tmp_path, spec_dialect):
    """Issue 23, item 1: the value was written with doubled quotes only, then read in the
    spec's dialect, where ``\\'`` escapes the quote on Snowflake, MySQL, BigQuery and Spark:
    ``'''' OR PWNED = 1`` became code. Now it is a literal in the snippet's own dialect, and
    every target's SQL holds the value as one string."""
    import sqlglot
    from sqlglot import exp

    from semseg.compile.dialects import TARGETS

    path = tmp_path / "params.yml"
    path.write_text(SPEC.replace("version: 1\n", f"version: 1\ndialect: {spec_dialect}\n"))
    spec_file = load_spec(path, {"kind": ATTACK})
    for name, target in TARGETS.items():
        tree = sqlglot.parse_one(compile_spec(spec_file, name), read=target.sqlglot)
        assert not [c for c in tree.find_all(exp.Column) if c.name.lower() == "pwned"], name
        texts = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        assert ATTACK in texts or ATTACK + "|" in texts, (name, texts)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE int_order_lines AS SELECT 1 AS unified_customer_id, "
        f"'{ATTACK.replace(chr(39), chr(39) * 2)}' AS transaction_type, "
        "DATE '2025-01-01' AS order_date, 10.0 AS sales_amount"
    )
    rows = con.execute(compile_spec(spec_file.with_as_of(date(2025, 1, 2)), "duckdb")).fetchall()
    assert rows and rows[0][1] == 10.0  # the line with that very text was selected


def test_a_negative_number_after_a_minus_is_not_a_comment(tmp_path):
    """Issue 23, item 4: ``sales_amount-{{ fee }}`` with fee -2 was ``sales_amount--2.0``, a
    comment that swallowed the fee (and verify passed). The value is parenthesised."""
    text = SPEC.replace("expr: sales_amount", "expr: sales_amount-{{ big_spend }}")
    path = tmp_path / "params.yml"
    path.write_text(text)
    sql = compile_spec(load_spec(path, {"big_spend": "-2"}), "duckdb")
    assert "--" not in sql.split("\n", 1)[1] and "/*" not in sql
    assert "sales_amount - (\n" in sql or "sales_amount - (-2.0)" in sql


@pytest.mark.parametrize("day", ["2025-02-30", "2025-13-01", "0000-01-01"])
@pytest.mark.parametrize("where", ["as_of", "default"])
def test_an_impossible_date_is_an_error_at_its_line(tmp_path, day, where):
    """Issue 23, item 17: PyYAML's date constructor raised ValueError (a traceback) for an
    unquoted ``as_of: 2025-02-30`` and a date parameter's ``default: 2024-02-30``."""
    text = (
        SPEC.replace(
            "since: {type: date, default: 2024-01-01}", f"since: {{type: date, default: {day}}}"
        )
        if where == "default"
        else SPEC.replace("name: params\n", f"name: params\nas_of: {day}\n")
    )
    path = tmp_path / "params.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=rf":\d+:\d+: error: '{day}' is not a date"):
        load_spec(path)


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("quantity >= 1{{ recent_days }}", "is glued to '1'"),
        ("quantity >= {{ recent_days }}0", "is glued to '0'"),
        ("transaction_type = {{ kind.x }}", "is not a placeholder: a placeholder is a bare"),
        ("transaction_type = {{ kind | upper }}", "is not a placeholder"),
        ("transaction_type = {{ 'x' }}", "is not a placeholder"),
        ("transaction_type = {{ f(1) }}", "is not a placeholder"),
    ],
)
def test_a_placeholder_is_a_bare_name_and_a_value_of_its_own(tmp_path, where, said):
    """Issue 23, items 23 and 24: ``1{{ bump }}`` compiled to ``>= 19``; Jinja-looking
    placeholders gave errors about structs and sqlglot classes."""
    text = SPEC.replace(
        "where: transaction_type = {{ kind }} AND order_date >= {{ since }}", f"where: {where}"
    )
    path = tmp_path / "params.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=said):
        load_spec(path)


def test_an_as_of_with_a_time_of_day_is_one_error_that_says_so(tmp_path):
    """Issue 23, item 20: ``as_of: 2025-01-01 10:00:00`` gave two validator-worded errors
    quoting ``datetime.datetime(...)``."""
    path = tmp_path / "params.yml"
    path.write_text(SPEC.replace("name: params\n", "name: params\nas_of: 2025-01-01 10:00:00\n"))
    with pytest.raises(SpecError) as found:
        load_spec(path)
    text = str(found.value)
    assert "as_of is a date, and '2025-01-01 10:00:00' has a time of day" in text
    assert "datetime.datetime" not in text and text.count("error:") == 1
