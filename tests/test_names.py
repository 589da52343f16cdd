"""Names that reach SQL: every class of unsafe name is refused, and the word lists are true.

Classes: reserved words (per dialect), bare words an engine evaluates (niladic functions and
pseudo-columns), the ``__`` helper namespace, generated CTE names, unqualified tables named
like a CTE. The lists in ``semseg/spec/reserved.py`` are checked against the engines that run
here: a word listed for DuckDB, SQLite or PostgreSQL really fails (or changes meaning) there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from semseg.errors import SpecError
from semseg.spec import load_spec
from semseg.spec.names import ModelNames, unsafe_name
from semseg.spec.reserved import ENGINES, NILADIC, RESERVED

BASE = """\
version: 1
name: names
entity: {{name: {entity}, key: {key}}}
sources:
  {source}: {{table: {table}}}
  other: {{table: other_table}}
metrics:
  {metric}: {{source: {source}, agg: count}}
segmentations:
  {segmentation}:
    by: {metric}
    order_column: {order}
    segments:
      - {{label: Many, min: 2}}
      - {{label: Few, else: true}}
"""
SAFE = {
    "entity": "customer",
    "key": "customer_id",
    "source": "orders",
    "table": "order_lines",
    "metric": "n_orders",
    "segmentation": "tier",
    "order": "tier_order",
}


def _issues(tmp_path: Path, **names: str) -> list[str]:
    path = tmp_path / "names.yml"
    path.write_text(BASE.format(**{**SAFE, **names}), encoding="utf-8")
    try:
        load_spec(path)
    except SpecError as err:
        return [i.format() for i in err.issues]
    return []


def test_the_safe_spec_loads(tmp_path):
    assert _issues(tmp_path) == []


UNION = sorted(set().union(*(RESERVED[d] for d in ENGINES)))


@pytest.mark.parametrize("dialect", ENGINES)
def test_every_reserved_word_of_every_dialect_is_refused(dialect):
    for word in sorted(RESERVED[dialect]):
        problem = unsafe_name(word)
        assert problem is not None, word
        assert dialect in problem[0] or "more" in problem[0], problem


def test_ansi_only_words_stay_allowed():
    ansi_only = RESERVED["ansi"] - set(UNION) - NILADIC
    assert {"value", "count", "year", "date", "position"} <= ansi_only
    assert all(unsafe_name(w) is None for w in ansi_only)


@pytest.mark.parametrize(
    "where, name",
    [
        ("key", "order"),  # reserved nearly everywhere
        ("metric", "group"),
        ("segmentation", "select"),
        ("order", "rank"),  # MySQL 8 only
        ("key", "user"),  # niladic: the session user on PostgreSQL
        ("metric", "current_date"),
        ("metric", "rowid"),  # SQLite/DuckDB pseudo-column
        ("key", "_partitiontime"),  # BigQuery pseudo-column
        ("table", "select"),
        ("table", "analytics.order"),  # every part of a table name
    ],
)
def test_a_reserved_or_niladic_name_is_refused_where_it_is_written(tmp_path, where, name):
    issues = _issues(tmp_path, **{where: name})
    assert issues, name
    shown = name.split(".")[-1]
    line = next(
        i + 1
        for i, text in enumerate(BASE.format(**{**SAFE, where: name}).splitlines())
        if name in text
    )
    assert any(f":{line}:" in i and f"'{shown}'" in i and " — rename it" in i for i in issues)


def test_double_underscore_is_the_helper_namespace(tmp_path):
    assert any("'__'" in i for i in _issues(tmp_path, metric="spend__rank"))
    assert any("'__'" in i for i in _issues(tmp_path, order="tier__n"))
    assert _issues(tmp_path, table="stg_shop__orders") == []  # tables may use dbt's style


@pytest.mark.parametrize(
    "source",
    ["metrics", "keys", "population", "derived_metrics", "ranks", "tiers", "segments",
     "segments_1", "cluster_labels", "cluster_prototypes_1", "cluster_pairs_1"],
)  # fmt: skip
def test_a_source_named_like_a_generated_cte_is_refused(tmp_path, source):
    issues = _issues(tmp_path, source=source)
    assert any(f"source '{source}' would name a CTE 'customer_{source}'" in i for i in issues)


def test_every_fixed_cte_name_is_reserved_for_sources():
    names = ModelNames("customer")
    fixed = names.fixed(
        load_spec(Path(__file__).parent.parent / "segment_specs/offer_seeker.yml").spec
    )
    for cte in (names.metrics, names.keys, names.population, names.ranks, names.tiers,
                names.cluster_coordinates, names.cluster_prototypes(1), names.cluster_pairs(1),
                names.cluster_nearest(1), names.cluster_assigned(1), names.cluster_labels,
                names.derived_metrics, names.segments(1, 1), names.segments(1, 2)):  # fmt: skip
        assert cte in fixed


def test_an_unqualified_table_named_like_a_cte_is_refused(tmp_path):
    issues = _issues(tmp_path, table="customer_other")  # the CTE of source 'other'
    assert any("table 'customer_other' has the name of a CTE" in i for i in issues)
    assert (
        _issues(tmp_path, table="analytics.customer_other") == []
    )  # qualified: not read as the CTE


def _breaks(execute, word: str) -> bool:
    """Whether ``word`` fails unquoted as a column, a CTE name or a column reference."""
    usages = [
        f"CREATE TEMP TABLE t_probe ({word} INTEGER)",
        f"WITH {word} AS (SELECT 1 AS x) SELECT x FROM {word}",
        f"SELECT {word} FROM (SELECT 1 AS x) AS s",
    ]
    broke = False
    for sql in usages:
        try:
            execute(sql)
        except Exception:  # noqa: BLE001 - any engine error means the word is unusable here
            broke = True
        execute("DROP TABLE IF EXISTS t_probe")
    return broke


def test_duckdb_list_is_what_duckdb_refuses():
    con = duckdb.connect()
    fine = [w for w in sorted(RESERVED["duckdb"]) if not _breaks(con.execute, w)]
    assert fine == []


def test_sqlite_list_is_what_sqlite_refuses():
    con = sqlite3.connect(":memory:")
    fine = [w for w in sorted(RESERVED["sqlite"]) if not _breaks(con.execute, w)]
    assert set(fine) <= NILADIC  # current_date & co: accepted, but read as today's date


def test_niladic_words_do_change_meaning_on_duckdb_and_sqlite():
    """The bug class: a column named like a built-in value reads the built-in instead."""
    con = duckdb.connect()
    got = con.execute("WITH t AS (SELECT 7 AS x) SELECT current_date FROM t").fetchone()
    assert got is not None and got[0] != 7 and "current_date" in NILADIC
    lite = sqlite3.connect(":memory:")
    lite.execute("CREATE TABLE t (x INTEGER)")
    lite.execute("INSERT INTO t VALUES (7)")
    assert lite.execute("SELECT rowid FROM t").fetchone() == (1,) and "rowid" in NILADIC


@pytest.mark.engines
def test_postgres_list_and_niladic_words_on_a_real_server(postgres_engine):
    _, rows = postgres_engine.query(
        "SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')"
    )
    assert {r[0] for r in rows} <= RESERVED["postgres"]
    _, rows = postgres_engine.query("WITH t AS (SELECT 7 AS x) SELECT user FROM t")
    assert rows == [("postgres",)] and "user" in NILADIC  # the session user, not a column


def test_names_like_the_proofs_own_aliases_verify_and_profile(tmp_path):
    """verify's and profile's own CTEs and columns live in the __ namespace: metrics called
    k, v, seg or metric and tables called a or expected no longer collide with them (a metric
    named k made every metric check fail with a conversion error)."""
    from semseg.profile.index import profile
    from semseg.sample import table_paths
    from semseg.verify import verify

    text = (Path(__file__).parent.parent / "segment_specs/offer_seeker.yml").read_text()
    renames = {
        "orders_with_discount_count": "k",
        "total_discount_amount": "seg",
        "distinct_offers_used": "metric",
        "table: int_customers": "table: expected",
        "table: int_order_lines": "table: a",
    }
    for old, new in renames.items():
        text = text.replace(old, new)
    spec = tmp_path / "aliases.yml"
    spec.write_text(text, encoding="utf-8")
    paths = table_paths("retail")
    tables = {"expected": paths["int_customers"], "a": paths["int_order_lines"]}
    spec_file = load_spec(spec)
    report = verify(spec_file, tables=tables, dialects=["duckdb"], progress=lambda _m: None)
    assert report.passed, [c for c in report.checks if not c.passed]
    result = profile(spec_file, "offer_seeker_segment", tables=tables, overlays=["seg", "metric"])
    assert {r["metric"] for r in result.rows} == {"k", "seg", "metric"}


@pytest.mark.parametrize("name", ["order", "user", "select", "current_date"])
def test_a_model_named_like_a_reserved_word_is_refused(tmp_path, name):
    """Issue 23, item 14: a spec named ``order`` passed check and verify; ``--materialize
    view`` wrote ``CREATE VIEW order AS`` unquoted, which SQLite (and six more) refuse."""
    text = (
        Path(__file__).resolve().parent.parent / "segment_specs" / "offer_seeker.yml"
    ).read_text()
    path = tmp_path / "spec.yml"
    path.write_text(text.replace("name: offer_seeker", f"name: {name}", 1), encoding="utf-8")
    with pytest.raises(SpecError, match=rf":\d+:\d+: error: the model's name '{name}'"):
        load_spec(path)


@pytest.mark.parametrize(("first", "second"), [("1", "01"), ("2", "2.0"), ("-1", "-01")])
def test_two_names_for_one_cluster_id_are_refused(tmp_path, first, second):
    """Issue 23, item 29: cluster.names keys 1 and 01 (or 2 and 2.0) were the same id and
    the later won without a word."""
    spec = Path(__file__).resolve().parent.parent / "segment_specs" / "olist_personas.yml"
    text = spec.read_text(encoding="utf-8")
    names = "      names:\n"
    extra = f"        {first}: First\n        {second}: Second\n"
    body = text[: text.index(names) + len(names)] + extra
    path = tmp_path / "spec.yml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SpecError, match=rf"cluster.names has '{first}' and '{second}'"):
        load_spec(path)


def test_a_metric_referred_to_in_another_case_is_refused(tmp_path):
    """Issue 23, item 13: ``DBL + 1`` for metric ``dbl`` passed every check; the SQL read
    ``DBL`` where engines fold unquoted names differently (SQLite: no such column)."""
    path = tmp_path / "spec.yml"
    path.write_text(
        "version: 1\nname: dbl_case\nentity: {name: customer, key: unified_customer_id}\n"
        "sources:\n  sales: {table: int_order_lines}\nmetrics:\n"
        "  dbl: {source: sales, agg: sum, expr: quantity}\n  more: {expr: DBL + 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=r":8:\d+: error: .*refers to 'DBL'.*did you mean 'dbl'"):
        load_spec(path)


def test_a_nul_character_in_text_is_refused_at_its_line(tmp_path):
    """Issue 23, item 28: a NUL in a cluster name passed check and verify; SQLite and
    PostgreSQL cannot hold it."""
    spec = Path(__file__).resolve().parent.parent / "segment_specs" / "olist_personas.yml"
    text = spec.read_text(encoding="utf-8").replace(
        "0: Belo Horizonte critics", '0: "Belo\\0 Horizonte critics"'
    )
    path = tmp_path / "spec.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError, match=r":\d+:\d+: error: the text has a NUL character"):
        load_spec(path)
