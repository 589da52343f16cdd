"""Names that reach SQL: every class of unsafe name is refused, and the word lists are true.

Classes: reserved words (per dialect), bare words an engine evaluates (niladic functions and
pseudo-columns), the ``__`` helper namespace, generated CTE names, unqualified tables named
like a CTE. The lists in ``semseg/spec/reserved.py`` are checked against the engines that run
here: a word listed for DuckDB, SQLite or PostgreSQL really fails (or changes meaning) there.
Through the command line (``check``, ``compile``, ``verify``) an unsafe name is an error at its
``file:line:col`` with a hint, before anything is compiled (issue 9).
"""

from __future__ import annotations

import re
import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from typer.testing import Result

from semseg.errors import SpecError
from semseg.spec import load_spec
from semseg.spec.names import ModelNames, unsafe_name
from semseg.spec.reserved import ENGINES, NILADIC, RESERVED
from tests.cli_helpers import assert_clean_exit, run, write_spec
from tests.golden_regen import SPECS

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


# --- refused through the command line, at file:line:col (issue 9) ----------------------------


@dataclass(frozen=True)
class ErrorLine:
    """One ``path:line:col: error: message — hint`` line of the output."""

    line: int
    col: int
    message: str
    hint: str


def error_lines(result: Result, path: Path) -> list[ErrorLine]:
    """The ``<path>:<line>:<col>: error: ...`` lines of the output, parsed."""
    pattern = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): error: (.*)$")
    found = []
    for text in result.output.splitlines():
        match = pattern.match(text)
        if match:
            message, _, hint = match.group(3).partition(" — ")
            found.append(ErrorLine(int(match.group(1)), int(match.group(2)), message, hint))
    return found


# Each template is a minimal valid spec once ``@@`` is replaced by the control name, and breaks
# exactly one name rule with the offending name. ``fragment`` locates the line to report.

SOURCE = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      @@: {table: raw_orders}
    metrics:
      order_count: {source: @@, agg: count}
    """

FIRST_OF_TWO_SOURCES = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      @@: {table: raw_orders}
      returns: {table: raw_returns}
    metrics:
      order_count: {source: @@, agg: count}
      return_count: {source: returns, agg: count}
    """

TABLE = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: order_lines}
      returns:
        table: @@
    metrics:
      order_count: {source: orders, agg: count}
      return_count: {source: returns, agg: count}
    """

METRIC = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      @@: {source: orders, agg: sum, expr: amount}
    """

ENTITY_KEY = """\
    version: 1
    name: names
    entity:
      name: customer
      key: @@
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    """

SEGMENTATION = """\
    version: 1
    name: names
    entity: {name: customer, key: customer_id}
    sources:
      orders: {table: raw_orders}
    metrics:
      order_count: {source: orders, agg: count}
    segmentations:
      @@:
        by: order_count
        segments:
          - {label: Many, min: 2}
          - {label: Few, else: true}
    """

NAME_CASES = [
    # (template, offending name, valid control name, fragment of the line to report)
    pytest.param(SOURCE, "metrics", "orders", "  @@: {table", id="source-metrics-duplicate-cte"),
    pytest.param(
        FIRST_OF_TWO_SOURCES, "keys", "orders", "  @@: {table", id="source-keys-duplicate-cte"
    ),
    pytest.param(TABLE, "customer_orders", "return_lines", "table: @@", id="table-shadowed-by-cte"),
    pytest.param(METRIC, "order", "spend", "  @@: {source", id="metric-reserved-order"),
    pytest.param(METRIC, "group", "spend", "  @@: {source", id="metric-reserved-group"),
    pytest.param(ENTITY_KEY, "user", "customer_id", "key: @@", id="key-niladic-user"),
    pytest.param(METRIC, "current_date", "spend", "  @@: {source", id="metric-current_date"),
    pytest.param(METRIC, "current_user", "spend", "  @@: {source", id="metric-current_user"),
    pytest.param(SEGMENTATION, "select", "frequency", "  @@:", id="segmentation-select"),
    pytest.param(SEGMENTATION, "from", "frequency", "  @@:", id="segmentation-from"),
    pytest.param(METRIC, "spend__rank", "spend_rank", "  @@: {source", id="metric-dunder"),
]


def position(text: str, fragment: str, name: str) -> tuple[int, set[int]]:
    """1-based line of the one line holding ``fragment`` (``@@`` = ``name``), and the columns an
    error may point at: the start of the name or of the key it belongs to."""
    rendered = fragment.replace("@@", name)
    hits = [(n, line) for n, line in enumerate(text.splitlines(), 1) if rendered in line]
    assert len(hits) == 1, f"{rendered!r} should be on exactly one line of:\n{text}"
    number, line = hits[0]
    name_col = line.index(rendered) + fragment.index("@@") + 1
    key_col = len(line) - len(line.lstrip()) + 1
    return number, {name_col, key_col}


def assert_name_refused(result: Result, path: Path, text: str, fragment: str, name: str) -> None:
    """Exit 1, no traceback, and an error at the name's line quoting it, with a fix hint."""
    assert result.exit_code == 1, f"the name {name!r} was accepted:\n{result.output}"
    assert_clean_exit(result)
    line, cols = position(text, fragment, name)
    quoting = [e for e in error_lines(result, path) if f"'{name}'" in e.message]
    assert any(e.line == line and e.col in cols and e.hint.strip() for e in quoting), (
        f"expected `{path}:{line}:<col in {sorted(cols)}>: error: ...'{name}'... — <hint>` in:\n"
        f"{result.output}"
    )


@pytest.mark.parametrize(("template", "name", "control", "fragment"), NAME_CASES)
def test_check_refuses_unsafe_name(
    tmp_path: Path, template: str, name: str, control: str, fragment: str
) -> None:
    """Issue 9, names: `check` accepted names that collide with generated CTEs/columns, SQL
    reserved words and niladic functions, which then compiled to broken or silently wrong SQL."""
    control_path = write_spec(tmp_path / "control.yml", template.replace("@@", control))
    control_result = run("check", control_path)
    assert control_result.exit_code == 0, (
        f"the control spec must be valid:\n{control_result.output}"
    )

    text = textwrap.dedent(template).replace("@@", name)
    path = write_spec(tmp_path / "spec.yml", text)
    assert_name_refused(run("check", path), path, text, fragment, name)


@pytest.mark.parametrize("command", ["compile", "verify"])
def test_compile_and_verify_refuse_unsafe_name_before_compiling(
    tmp_path: Path, command: str
) -> None:
    """Issue 9, names: a source named `metrics` reached the compiler (two CTEs
    `customer_metrics`); compile and verify must stop at validation with the same error."""
    text = textwrap.dedent(SOURCE).replace("@@", "metrics")
    path = write_spec(tmp_path / "spec.yml", text)
    result = run(command, path)
    assert_name_refused(result, path, text, "  @@: {table", "metrics")
    assert "WITH" not in result.stdout, "SQL was compiled from a refused spec"


def test_guard_bundled_specs_still_pass_check() -> None:
    """GUARD (passes before the fix too): the name rules must not refuse the bundled specs."""
    result = run("check", SPECS)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("ok ") == len(list(SPECS.glob("*.yml")))
