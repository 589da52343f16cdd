"""The dbt output builds and its generated tests pass under real dbt (dbt-duckdb), and fail
when a row is corrupted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from semseg.cli import app
from semseg.sample import DATASETS, table_paths
from tests.golden_regen import SPECS

pytestmark = pytest.mark.dbt
DBT = Path(sys.executable).parent / "dbt"


def _require_dbt() -> None:
    import os

    if not DBT.exists():
        reason = "dbt (dbt-core + dbt-duckdb) is not installed: pip install -e '.[dbt]'"
        if os.environ.get("SEMSEG_REQUIRE_ENGINES", "") in ("all",) or "dbt" in os.environ.get(
            "SEMSEG_REQUIRE_ENGINES", ""
        ).split(","):
            pytest.fail(reason)
        pytest.skip(reason)


def _dbt(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        cwd=project,
        timeout=600,
    )


def _new_project(root: Path, name: str) -> Path:
    """An empty dbt project ``name`` in ``root`` on dbt-duckdb (a warehouse file of its own)."""
    (root / "dbt_project.yml").write_text(
        f"name: {name}\nversion: '1.0'\nconfig-version: 2\nprofile: {name}\n"
        "model-paths: [models]\ntest-paths: [tests]\n"
    )
    (root / "profiles.yml").write_text(
        f"{name}:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {root / 'warehouse.duckdb'}\n      threads: 1\n"
    )
    (root / "models").mkdir()
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    _require_dbt()
    root = _new_project(tmp_path_factory.mktemp("dbt_project"), "semseg_demo")
    for dataset in DATASETS:  # staging models for every table the example specs ref()
        for name, path in table_paths(dataset).items():
            (root / "models" / f"{name}.sql").write_text(f"select * from read_parquet('{path}')\n")
    result = CliRunner().invoke(
        app, ["compile", str(SPECS), "--dialect", "duckdb", "--dbt", str(root)]
    )
    assert result.exit_code == 0, result.output
    hostile = tmp_path_factory.mktemp("hostile") / "hostile_labels.yml"
    hostile.write_text(_hostile_spec(), encoding="utf-8")
    result = CliRunner().invoke(app, ["compile", str(hostile), "--dbt", str(root)])
    assert result.exit_code == 0, result.output
    return root


# Labels and literals with everything dbt's Jinja, SQL and YAML could take as code.
HOSTILE_LABELS = [
    'Many {{ env_var("SECRET") }} {% if true %}x{% endif %}',
    'it\'s "quoted" \\ {# c #}',
    "{{ run_query('DROP TABLE main.offer_seeker') }}",
]


def _hostile_spec() -> str:
    """offer_seeker with hostile labels, a hostile literal in a where and a description."""
    spec = yaml.safe_load((SPECS / "offer_seeker.yml").read_text(encoding="utf-8"))
    spec["name"] = "hostile_labels"
    spec["description"] = "Labels {{ var('x') }} that dbt must not run"
    spec["sources"]["order_lines"]["where"] = (
        "transaction_type = 'Sale' OR transaction_type = '{{ x }} it''s'"
    )
    segments = spec["segmentations"]["offer_seeker_segment"]["segments"]
    for segment, label in zip(segments, HOSTILE_LABELS, strict=True):
        segment["label"] = label
    spec["checks"] = []
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def test_generated_files(project):
    for spec in ("offer_seeker", "customer_rfm", "customer_lifecycle"):
        sql = (project / "models" / f"{spec}.sql").read_text()
        assert "{{ config(materialized='table') }}" in sql
        assert "{{ ref('int_order_lines') }}" in sql
        assert "FROM int_order_lines" not in sql
    props = (project / "models" / "offer_seeker.yml").read_text()
    assert "accepted_values" in props and "Occasional Offer User" in props
    assert (project / "tests" / "offer_seeker__offer_seeker_segment.sql").exists()
    assert (project / "tests" / "customer_rfm__recency_tier.sql").exists()
    persona = (project / "tests" / "olist_personas__persona.sql").read_text()
    assert "{{ ref('olist_personas') }}" in persona and "no_orders > 1" in persona


def test_dbt_build_passes_then_a_corrupted_row_fails(project):
    built = _dbt(project, "build")
    assert built.returncode == 0, built.stdout[-4000:]
    assert "ERROR=0" in built.stdout.replace(" ", "") and "PASS=" in built.stdout
    # the hostile labels came through dbt's Jinja unchanged, and nothing of them ran
    con = duckdb.connect(str(project / "warehouse.duckdb"), read_only=True)
    labels = {
        r[0]
        for r in con.execute("SELECT DISTINCT offer_seeker_segment FROM hostile_labels").fetchall()
    }
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    con.close()
    assert labels == set(HOSTILE_LABELS)
    assert "offer_seeker" in tables  # the label's run_query did not drop it
    # Corrupt one row: a customer with no discounted orders labelled Offer Seeker (order 1).
    con = duckdb.connect(str(project / "warehouse.duckdb"))
    con.execute(
        "UPDATE offer_seeker SET offer_seeker_segment = 'Offer Seeker', "
        "offer_seeker_segment_order = 1 WHERE unified_customer_id = "
        "(SELECT MIN(unified_customer_id) FROM offer_seeker "
        "WHERE orders_with_discount_count = 0)"
    )
    # and one clustered customer moved out of cluster.where (a single-order customer)
    con.execute(
        "UPDATE olist_personas SET persona = 0, persona_order = 1 WHERE customer_id = "
        "(SELECT MIN(customer_id) FROM olist_personas WHERE persona = -1 AND no_orders <= 1)"
    )
    # and one propensity out of [0, 1]
    con.execute(
        "UPDATE offer_propensity SET offer_propensity = 1.5 WHERE unified_customer_id = "
        "(SELECT MIN(unified_customer_id) FROM offer_propensity)"
    )
    con.close()
    tested = _dbt(project, "test", "--select", "offer_seeker", "olist_personas", "offer_propensity")
    assert tested.returncode != 0
    out = tested.stdout
    # The corrupted persona row fails two proofs: cluster.where and its (now wrong) name.
    for test, fails in (
        ("offer_seeker__offer_seeker_segment", 1),
        ("olist_personas__persona", 2),
        ("offer_propensity__offer_propensity__in_0_1", 1),
    ):
        assert any(test in ln and f"FAIL {fails}" in ln for ln in out.splitlines()), out[-3000:]


def test_compile_dbt_refuses_to_overwrite_edits(project, tmp_path):
    target = tmp_path / "p"
    shutil.copytree(project / "models", target / "models")
    shutil.copytree(project / "tests", target / "tests")
    (target / "models" / "offer_seeker.sql").write_text("-- hand edit\n")
    result = CliRunner().invoke(
        app, ["compile", str(SPECS / "offer_seeker.yml"), "--dbt", str(target)]
    )
    assert result.exit_code == 1 and "--force" in result.output
    assert (target / "models" / "offer_seeker.sql").read_text() == "-- hand edit\n"


def test_dbt_vars_set_the_as_of_date_and_window_parameters(project):
    """``dbt run --vars`` on offer_trend gives the rows ``compile --var --as-of`` gives on
    the same tables; a var that is not a number in range stops the run."""
    given = {"recent_days": 30, "history_days": 120}
    run = _dbt(
        project,
        "run",
        "--select",
        "+offer_trend",
        "--vars",
        yaml.safe_dump({"as_of": "2025-06-30", **given}),
    )
    assert run.returncode == 0, run.stdout[-4000:]
    con = duckdb.connect(str(project / "warehouse.duckdb"), read_only=True)
    from_dbt = sorted(con.execute("SELECT * FROM offer_trend").fetchall())
    con.close()
    compiled = CliRunner().invoke(
        app,
        [
            "compile",
            str(SPECS / "offer_trend.yml"),
            "--as-of",
            "2025-06-30",
            *[arg for k, v in given.items() for arg in ("--var", f"{k}={v}")],
        ],
    )
    assert compiled.exit_code == 0, compiled.output
    con = duckdb.connect()
    for dataset in DATASETS:
        for name, path in table_paths(dataset).items():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")
    assert from_dbt == sorted(con.execute(compiled.stdout).fetchall())
    assert any(r[1] for r in from_dbt)  # someone has recent discounted orders
    refused = _dbt(
        project, "run", "--select", "offer_trend", "--vars", "{recent_days: '30 OR 1=1'}"
    )
    assert refused.returncode != 0 and "var recent_days must be an integer" in refused.stdout


def test_dbt_sources_declare_every_table_and_test_dimension_keys(tmp_path):
    """--dbt-source NAME: models read {{ source('NAME', t) }}, a sources file declares every
    table of every spec compiled into the project (one run or several), with a `unique` test
    on each joined dimension's key; dbt build passes, and fails once a key is duplicated."""
    _require_dbt()
    root = tmp_path / "proj"
    root.mkdir()
    (root / "dbt_project.yml").write_text(
        "name: semseg_src\nversion: '1.0'\nconfig-version: 2\nprofile: semseg_src\n"
        "model-paths: [models]\ntest-paths: [tests]\n"
    )
    warehouse = root / "warehouse.duckdb"
    (root / "profiles.yml").write_text(
        "semseg_src:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        f"      path: {warehouse}\n      threads: 1\n"
    )
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA raw")
    for name, path in table_paths("retail").items():
        con.execute(f"CREATE TABLE raw.{name} AS SELECT * FROM read_parquet('{path}')")
    con.close()
    for spec in ("offer_seeker.yml", "offer_categories.yml"):  # two runs: tables accumulate
        result = CliRunner().invoke(
            app,
            ["compile", str(SPECS / spec), "--dbt", str(root), "--dbt-source", "raw"]
            + ["--as-of", "2025-06-30"],
        )
        assert result.exit_code == 0, result.output
    sources = yaml.safe_load((root / "models" / "semseg_sources__raw.yml").read_text())
    tables = sources["sources"][0]["tables"]
    assert [t["name"] for t in tables] == ["int_customers", "int_order_lines", "int_products"]
    assert tables[2]["columns"] == [{"name": "product_id", "data_tests": ["unique"]}]
    model = (root / "models" / "offer_categories.sql").read_text()
    assert "LEFT JOIN {{ source('raw', 'int_products') }} AS product" in model
    built = _dbt(root, "build")
    assert built.returncode == 0, built.stdout[-4000:]
    assert "source_unique_raw_int_products_product_id" in built.stdout
    con = duckdb.connect(str(warehouse))
    con.execute("INSERT INTO raw.int_products SELECT * FROM raw.int_products LIMIT 1")
    con.close()
    tested = _dbt(root, "test", "--select", "source:raw")
    assert tested.returncode != 0 and "FAIL 1" in tested.stdout, tested.stdout[-3000:]
    # an edited sources file is neither merged nor replaced without --force
    edited = root / "models" / "semseg_sources__raw.yml"
    edited.write_text("version: 2\nsources: []\n")
    result = CliRunner().invoke(
        app, ["compile", str(SPECS / "offer_seeker.yml"), "--dbt", str(root), "--dbt-source", "raw"]
    )
    assert result.exit_code == 1 and "--force" in result.output
    assert edited.read_text() == "version: 2\nsources: []\n"


ATTACK = "\\' OR PWNED = 1 -- "  # a backslash then a quote: \' escapes on many targets
VARS_SPEC = """\
version: 1
name: {name}
parameters:
  kind: {{type: text, default: "\U0001f381 Sale"}}
  since: {{type: date, default: 2024-01-01}}
  fee: {{type: number, default: 0}}
  n: {{type: integer, default: 30}}
entity: {{name: customer, key: unified_customer_id}}
sources:
  sales:
    table: int_order_lines
    where: transaction_type = {{{{ kind }}}} AND order_date >= {{{{ since }}}}
    time: order_date
metrics:
  recent:
    source: sales
    agg: sum
    expr: "sales_amount - {{{{ fee }}}}"
    window: "last {{{{ n }}}} days"
    fill: 0
segmentations:
  s:
    by: recent
    segments:
      - {{label: Some, min: 1}}
      - {{label: None, else: true}}
"""


@pytest.fixture(scope="module")
def vars_project(tmp_path_factory):
    """A dbt project (dbt-duckdb, used only to render) with the spec above compiled for
    every target, one model each."""
    from semseg.compile.dialects import TARGETS

    _require_dbt()
    root = _new_project(tmp_path_factory.mktemp("dbt_vars"), "semseg_vars")
    lines = table_paths("retail")["int_order_lines"]
    (root / "models" / "int_order_lines.sql").write_text(f"select * from read_parquet('{lines}')\n")
    for dialect in TARGETS:
        spec = root / f"vars_{dialect}.yml"
        spec.write_text(VARS_SPEC.format(name=f"vars_{dialect}"), encoding="utf-8")
        done = CliRunner().invoke(app, ["compile", str(spec), "-d", dialect, "--dbt", str(root)])
        assert done.exit_code == 0, done.output
    return root


def test_dbt_text_vars_stay_data_on_every_target(vars_project):
    """Issue 23, item 2: the run-time quoting doubled quotes and left backslashes, so on
    Snowflake, BigQuery, Databricks, Spark, MySQL, Redshift and ClickHouse ``\\'`` ended the
    string. Rendered by dbt, every target's SQL holds the var as one string literal."""
    import sqlglot
    from sqlglot import exp

    from semseg.compile.dialects import TARGETS

    run = _dbt(vars_project, "compile", "--vars", yaml.safe_dump({"kind": ATTACK}))
    assert run.returncode == 0, run.stdout[-3000:]
    compiled = vars_project / "target" / "compiled" / "semseg_vars" / "models"
    for dialect, target in TARGETS.items():
        sql = (compiled / f"vars_{dialect}.sql").read_text(encoding="utf-8")
        tree = sqlglot.parse_one(sql, read=target.sqlglot)
        assert not [c for c in tree.find_all(exp.Column) if c.name.lower() == "pwned"], dialect
        texts = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        assert ATTACK in texts or ATTACK + "|" in texts, (dialect, texts)


def test_a_text_default_outside_the_bmp_renders_as_itself(vars_project):
    """Issue 23, item 12: the default ``🎁 Sale`` was written as JSON's surrogate pair, which
    Jinja decodes to two lone surrogates: the rendered SQL was not UTF-8. Rendered by dbt with
    no var given, every target's SQL is UTF-8 and holds the default as one string literal."""
    import sqlglot
    from sqlglot import exp

    from semseg.compile.dialects import TARGETS

    run = _dbt(vars_project, "compile")
    assert run.returncode == 0, run.stdout[-3000:]
    compiled = vars_project / "target" / "compiled" / "semseg_vars" / "models"
    for dialect, target in TARGETS.items():
        sql = (compiled / f"vars_{dialect}.sql").read_bytes().decode("utf-8")  # strict
        tree = sqlglot.parse_one(sql, read=target.sqlglot)
        texts = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        assert "\U0001f381 Sale" in texts, (dialect, texts)


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"as_of": "2025-01-01' OR PWNED = 1 -- "}, "var as_of must be a date"),
        ({"since": "2024-01-01' OR 1=1 -- "}, "var since must be a date"),
        ({"fee": float("nan")}, "var fee must be a finite number"),
        ({"fee": float("inf")}, "var fee must be a finite number"),
        ({"n": 0}, "var n must be an integer >= 1"),
        ({"n": -30}, "var n must be an integer >= 1"),
    ],
)
def test_dbt_vars_that_are_not_what_they_must_be_stop_the_run(vars_project, given, said):
    """Issue 23, items 3 and 5: the as_of var was written into the SQL unchecked, a date var
    too; NaN and infinity passed the numeric guard and were written as columns; a window of
    0 or -30 days was empty without a word, where ``--var`` refuses it."""
    run = _dbt(vars_project, "compile", "--select", "vars_duckdb", "--vars", yaml.safe_dump(given))
    assert run.returncode != 0 and said in run.stdout, run.stdout[-3000:]


def test_the_incremental_history_adds_a_date_per_run_and_a_rerun_changes_nothing(tmp_path):
    """Issue 26: ``history --dbt``: dbt runs as of 2025-10-31, then 2025-11-30, then
    2025-11-30 again; the table holds each date's rows as ``compile --as-of`` gives them on
    the same tables, once; the third run changes no row; the generated tests pass."""
    _require_dbt()
    root = _new_project(tmp_path, "semseg_history")
    paths = table_paths("retail")
    for name in ("int_customers", "int_order_lines"):
        (root / "models" / f"{name}.sql").write_text(
            f"select * from read_parquet('{paths[name]}')\n"
        )
    spec = SPECS / "customer_lifecycle.yml"
    done = CliRunner().invoke(app, ["history", str(spec), "--dbt", str(root)])
    assert done.exit_code == 0, done.output
    assert (root / "models" / "customer_lifecycle_history.sql").is_file()

    def build(day: str) -> list[tuple]:
        run = _dbt(root, "build", "--vars", yaml.safe_dump({"as_of": day}))
        assert run.returncode == 0, run.stdout[-4000:]
        con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
        rows = con.execute("SELECT * FROM customer_lifecycle_history").fetchall()
        con.close()
        return rows

    build("2025-10-31")
    rows = build("2025-11-30")
    again = build("2025-11-30")
    assert sorted(again, key=repr) == sorted(rows, key=repr)  # the rerun changed nothing
    con = duckdb.connect()
    for name in ("int_customers", "int_order_lines"):
        con.execute(f"CREATE VIEW {name} AS FROM read_parquet('{paths[name]}')")
    from datetime import date

    from semseg.compile import compile_spec
    from semseg.spec import load_spec

    spec_file = load_spec(spec)
    for day in (date(2025, 10, 31), date(2025, 11, 30)):
        want = con.execute(compile_spec(spec_file.with_as_of(day))).fetchall()
        got = [(r[0], *r[2:]) for r in rows if r[1] == day]
        assert sorted(got, key=repr) == sorted(want, key=repr), day
    assert len(rows) == len({(r[0], r[1]) for r in rows})
