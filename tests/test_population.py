"""A population from several tables (issue 13): the union of their keys, each table with its own
key column and filter; without a population, the keys with source rows that count."""

from __future__ import annotations

import dataclasses
from datetime import date

import duckdb
import pytest

from semseg.compile import compile_spec, plan
from semseg.errors import DataError, SpecError
from semseg.spec import load_spec
from semseg.verify import verify
from tests.engines.compare import assert_same_rows
from tests.parquet import write_tables

SPEC = """\
version: 1
name: members
entity: {name: customer, key: customer_id}
population:
  - {table: crm, key: crm_id, where: "status <> 'deleted'"}
  - {table: loyalty}
sources:
  orders: {table: orders, time: order_date}
metrics:
  n_orders: {source: orders, agg: count, fill: 0}
segmentations:
  buyer:
    segments:
      - {label: Buyer, when: n_orders > 0}
      - {label: Member, else: true}
"""


def _data(folder=None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE crm AS SELECT * FROM (VALUES ('a', 'active'), ('b', 'deleted'), "
        "(NULL, 'active'), ('c', 'active')) t(crm_id, status)"
    )
    con.execute(
        "CREATE TABLE loyalty AS SELECT * FROM (VALUES ('c'), ('d'), (NULL)) t(customer_id)"
    )
    con.execute(
        "CREATE TABLE orders AS SELECT * FROM (VALUES ('a', DATE '2025-01-01'), "
        "('e', DATE '2025-01-02'), ('d', DATE '2025-03-01')) t(customer_id, order_date)"
    )
    if folder is not None:
        write_tables(con, folder, ["crm", "loyalty", "orders"])
    return con


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "members.yml"
    path.write_text(SPEC, encoding="utf-8")
    return load_spec(path).with_as_of(date(2025, 2, 1))


def test_the_population_is_the_union_of_its_tables(spec_file):
    rows = _data().execute(compile_spec(spec_file)).fetchall()
    # a and c from crm (b deleted, NULL never), c and d from loyalty; e only ordered: no row;
    # d's order is after the as-of date
    assert sorted(rows) == [("a", 1, "Buyer", 1), ("c", 0, "Member", 2), ("d", 0, "Member", 2)]


def test_verify_proves_it_and_fails_a_model_that_drops_a_table(spec_file, tmp_path, monkeypatch):
    _data(tmp_path)
    assert verify(spec_file, data=tmp_path, dialects=["duckdb"]).passed
    original = plan.build_plan

    def first_table_only(spec, spec_path=None):
        built = original(spec, spec_path)
        return dataclasses.replace(built, population=built.population[:1])

    monkeypatch.setattr(plan, "build_plan", first_table_only)
    import semseg.compile as compile_layer

    monkeypatch.setattr(compile_layer, "build_plan", first_table_only)
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    failed = {c.name: c for c in report.checks if not c.passed}
    assert "population" in failed and "d: " in " ".join(failed["population"].examples)


def test_without_a_population_the_keys_are_those_with_events_up_to_the_as_of_date(tmp_path):
    text = SPEC.split("population:")[0] + "sources:" + SPEC.split("sources:")[1]
    path = tmp_path / "members.yml"
    path.write_text(text, encoding="utf-8")
    spec_file = load_spec(path).with_as_of(date(2025, 2, 1))
    rows = _data(tmp_path).execute(compile_spec(spec_file)).fetchall()
    assert sorted(r[0] for r in rows) == ["a", "e"]  # d ordered after the as-of date
    assert verify(spec_file, data=tmp_path, dialects=["duckdb"]).passed


def test_a_bad_table_in_the_list_is_located(tmp_path):
    path = tmp_path / "members.yml"
    path.write_text(SPEC.replace("- {table: loyalty}", "- {table: loyalty, kee: x}"), "utf-8")
    with pytest.raises(SpecError, match=r"members.yml:6:\d+: error: .*kee"):
        load_spec(path)


ATTRIBUTES = """\
version: 1
name: attrs
entity: {name: customer, key: customer_id}
population: {table: crm, key: crm_id}
sources:
  crm: {table: crm, key: crm_id}
  orders: {table: orders}
metrics:
  status: {source: crm, agg: attribute, expr: status, type: text}
  n_orders: {source: orders, agg: count, fill: 0}
segmentations:
  kind:
    segments:
      - {label: Gone, when: status = 'deleted'}
      - {label: Kept, else: true}
"""


@pytest.fixture
def attrs(tmp_path):
    path = tmp_path / "attrs.yml"
    path.write_text(ATTRIBUTES, encoding="utf-8")
    return load_spec(path)


def test_an_attribute_is_the_value_of_the_one_row(attrs, tmp_path):
    rows = _data().execute(compile_spec(attrs)).fetchall()
    assert sorted(rows) == [
        ("a", "active", 1, "Kept", 2),
        ("b", "deleted", 0, "Gone", 1),
        ("c", "active", 0, "Kept", 2),
    ]
    _data(tmp_path)
    report = verify(attrs, data=tmp_path, dialects=["duckdb"])
    assert report.passed and "grain:crm" in {c.name for c in report.checks}


def test_an_attribute_source_with_two_rows_for_a_key_fails_verify(attrs, tmp_path):
    con = _data()
    con.execute("INSERT INTO crm VALUES ('a', 'deleted')")  # 'a' is now active and deleted
    write_tables(con, tmp_path, ["crm", "loyalty", "orders"])
    report = verify(attrs, data=tmp_path, dialects=["duckdb"])
    grain = {c.name: c for c in report.checks}["grain:crm"]
    assert not grain.passed and grain.examples == ("a: 2 rows in crm",)


def test_dbt_ships_the_grain_of_an_attribute_source_as_a_test(attrs, tmp_path):
    from semseg.dbt import dbt_model

    files = dbt_model(attrs).files
    test = files["tests/attrs__crm__one_row_per_key.sql"]
    assert "{{ ref('crm') }}" in test and "HAVING" in test and "COUNT(*) > 1" in test


@pytest.mark.parametrize(
    "snippet",
    ["expr: int_order_lines.sales_amount", "where: o.channel = 'web'"],
)
def test_a_column_with_a_table_name_is_refused_at_its_place(tmp_path, snippet):
    """A qualified column compiled to SQL that could not resolve it (the CTEs read the source
    under other names): refused with its line, until sources have named joins (issue 13)."""
    path = tmp_path / "q.yml"
    path.write_text(
        "version: 1\nname: q\nentity: {name: customer, key: unified_customer_id}\n"
        "sources:\n  sales: {table: int_order_lines}\n"
        f"metrics:\n  n:\n    source: sales\n    agg: count\n    {snippet}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=r"q.yml:10:\d+: error: .* names a table"):
        load_spec(path)


@pytest.mark.engines
@pytest.mark.parametrize("name", ["sqlite", "postgres", "spark", "clickhouse", "mysql"])
def test_engines_give_duckdbs_population_and_attributes(spec_file, attrs, name, request):
    engine = request.getfixturevalue(f"{name}_engine")
    src = _data()
    engine.load(src, ["crm", "loyalty", "orders"])
    for case in (spec_file, attrs):
        expected = src.execute(compile_spec(case))
        exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
        cols, rows = engine.query(compile_spec(case, name))
        assert_same_rows(exp_cols, exp_rows, cols, rows)


def test_keys_of_two_types_are_refused(spec_file, tmp_path):
    """Issue 23, item 9: a population key 3 (integer) and '03' (text) were two rows, both
    credited with customer 3's orders; verify passed. Now each key whose type differs from the
    first table's is refused at its line, naming both types."""
    con = _data()
    con.execute("CREATE OR REPLACE TABLE loyalty AS SELECT 3 AS customer_id")
    con.execute("CREATE OR REPLACE TABLE crm AS SELECT '03' AS crm_id, 'active' AS status")
    con.execute(
        "CREATE OR REPLACE TABLE orders AS SELECT 3 AS customer_id, DATE '2025-01-01' AS order_date"
    )
    write_tables(con, tmp_path, ["crm", "loyalty", "orders"])
    with pytest.raises(DataError) as err:
        verify(spec_file, data=tmp_path, dialects=["duckdb"])
    text = str(err.value)
    assert "members.yml:6:13:" in text and "'customer_id' of table 'loyalty' is number" in text
    assert "'crm_id' of table 'crm' is text" in text and "one type" in text
    # the first table's type is the one the others are held to: orders differs from crm too
    assert "'customer_id' of table 'orders' is number" in text
    con.execute("CREATE OR REPLACE TABLE crm AS SELECT 3 AS crm_id, 'active' AS status")
    write_tables(con, tmp_path, ["crm"])
    report = verify(spec_file, data=tmp_path, dialects=["duckdb"])
    assert report.passed and report.rows == 1, report.to_text()


# ---------------------------------------------------------------- the population's own time

TIMED = """\
version: 1
name: signups
entity: {name: customer, key: customer_id}
population: {table: signups, time: joined_at}
sources:
  orders: {table: orders, time: order_date}
metrics:
  n_orders: {source: orders, agg: count, fill: 0}
segmentations:
  buyer:
    segments:
      - {label: Buyer, when: n_orders > 0}
      - {label: Member, else: true}
"""


def _signups(folder) -> None:
    """p joined long before, q on the as-of date (a TIMESTAMP late that UTC day), r the day
    after it, s at an unknown time (NULL: a member at every date)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE signups AS SELECT * FROM (VALUES ('p', TIMESTAMP '2024-05-01 08:00:00'), "
        "('q', TIMESTAMP '2025-02-01 23:59:59'), ('r', TIMESTAMP '2025-02-02 00:00:00'), "
        "('s', NULL)) t(customer_id, joined_at)"
    )
    con.execute(
        "CREATE TABLE orders AS SELECT * FROM (VALUES ('p', DATE '2025-01-01'), "
        "('r', DATE '2025-01-15')) t(customer_id, order_date)"
    )
    write_tables(con, folder, ["signups", "orders"])


@pytest.fixture
def timed(tmp_path):
    path = tmp_path / "signups.yml"
    path.write_text(TIMED, encoding="utf-8")
    _signups(tmp_path)
    return load_spec(path).with_as_of(date(2025, 2, 1))


def test_a_member_is_in_the_population_from_its_own_date_on(timed, tmp_path):
    """Issue 26: as of 2025-02-01, r (joined the day after) is not yet a member, even with an
    order before; q (that day, 23:59:59 UTC) is; s (no time) is at every date."""
    con = duckdb.connect()
    for table in ("signups", "orders"):
        con.execute(f"CREATE VIEW {table} AS FROM read_parquet('{tmp_path / table}.parquet')")
    rows = con.execute(compile_spec(timed)).fetchall()
    assert sorted(r[0] for r in rows) == ["p", "q", "s"]
    later = con.execute(compile_spec(timed.with_as_of(date(2025, 2, 2)))).fetchall()
    assert sorted((r[0], r[2]) for r in later) == [
        ("p", "Buyer"), ("q", "Member"), ("r", "Buyer"), ("s", "Member")
    ]  # fmt: skip
    assert verify(timed, data=tmp_path, dialects=["duckdb"]).passed


def test_a_compiler_that_ignores_the_population_time_fails_verify(timed, tmp_path, monkeypatch):
    original = plan._population_phase

    def timeless(spec, names):
        pops = [(at, p.model_copy(update={"time": None})) for at, p in spec.populations]
        return original(spec.model_copy(update={"population": pops[0][1]}), names)

    monkeypatch.setattr(plan, "_population_phase", timeless)
    report = verify(timed, data=tmp_path, dialects=["duckdb"])
    failed = {c.name: c for c in report.checks if not c.passed}
    assert "population" in failed, report.to_text()
    assert "r: not expected" in " ".join(failed["population"].examples)


def test_a_population_time_is_checked(tmp_path):
    """Without any source time there is no as-of date to compare it with (refused at its
    line); a missing column and a column that is not a date are refused when the data opens."""
    path = tmp_path / "signups.yml"
    path.write_text(TIMED.replace(", time: order_date", ""), encoding="utf-8")
    with pytest.raises(SpecError, match=r"signups.yml:4:\d+: error: the population has a time"):
        load_spec(path)
    _signups(tmp_path)
    wrong = (
        ("joined", "time column 'joined' not found"),
        ("customer_id", "is VARCHAR in table 'signups': it needs DATE"),
    )
    for column, message in wrong:
        path.write_text(TIMED.replace("time: joined_at", f"time: {column}"), encoding="utf-8")
        with pytest.raises(DataError, match=message):
            verify(load_spec(path).with_as_of(date(2025, 2, 1)), data=tmp_path)


def test_the_lifecycle_population_on_the_edge_cases():
    """customer_lifecycle.yml's population has signup_date: as of the edge cases' date, C9
    (signed up the day after) is not a prospect yet; C8 (no date) and C7 (that day) are."""
    from tests import edge_data
    from tests.golden_regen import SPECS

    con = duckdb.connect()
    edge_data.load(con)
    spec_file = load_spec(SPECS / "customer_lifecycle.yml").with_as_of(edge_data.AS_OF)
    keys = {r[0] for r in con.execute(compile_spec(spec_file)).fetchall()}
    assert keys == {c for c, _ in edge_data.CUSTOMERS if c is not None} - {"C9"}
    later = spec_file.with_as_of(date(2025, 7, 1))
    assert "C9" in {r[0] for r in con.execute(compile_spec(later)).fetchall()}
