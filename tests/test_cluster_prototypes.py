"""The assignment SQL is linear in prototypes and features (issue 14): the prototypes are a
relation, so 100 clusters x 3 prototypes x 20 features compile to well under BigQuery's 1 MB
query-text limit and ClickHouse's default 256 KB, and give exactly the labels of the numpy rule
(``cluster.fit.assign``) on DuckDB and every engine here.

The model is synthetic (random prototypes and radii, written with the spec's fingerprint), so
that the size and the rule are tested at a scale no bundled sample fits.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import pytest

from benchmarks.assign import PER_CLUSTER, write_model
from semseg.compile import compile_spec, plan
from semseg.spec import load_spec
from tests.engines.compare import assert_same_rows

CLUSTERS, FEATURES, ROWS = 100, 20, 3_000
BIGQUERY_LIMIT = 1_024 * 1_024  # bytes of query text
CLICKHOUSE_LIMIT = 262_144  # max_query_size's default


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    return _model(tmp_path_factory.mktemp("many"), CLUSTERS, FEATURES, ROWS)


def _model(folder, clusters: int, features: int, rows: int):
    """``benchmarks.assign``'s synthetic spec and model of ``clusters`` x 3 prototypes, and
    its ``rows`` customers in DuckDB: a tenth far from every prototype, one with a NULL."""
    from semseg.compile.cluster_model import load_model

    path = write_model(folder, clusters, features, rows, far=0.1)
    con = duckdb.connect()
    con.execute(f"CREATE TABLE customers AS FROM read_parquet('{folder / 'customers.parquet'}')")
    con.execute("UPDATE customers SET f3 = NULL WHERE customer_id = 7")
    return load_spec(path), load_model(folder / "assign.segment.model.json"), con


def test_the_sql_is_linear_and_under_bigquerys_and_clickhouses_limits(many, tmp_path):
    from benchmarks.assign import write_model

    spec_file, _, _ = many
    sizes = {d: len(compile_spec(spec_file, d).encode("utf-8")) for d in ("bigquery", "clickhouse")}
    assert sizes["bigquery"] < BIGQUERY_LIMIT and sizes["clickhouse"] < CLICKHOUSE_LIMIT, sizes
    # one distance expression (its first term is (z0 - c0) * (z0 - c0)) however many
    # prototypes (they are rows of a relation), read once (issue 21), and the text grows by
    # the same bytes per prototype: 100 -> 200 clusters adds what 50 -> 100 did
    sql = compile_spec(spec_file, "duckdb")
    assert sql.count("segment__z0 - segment__c0") == 2, sql.count("segment__z0 - segment__c0")
    other = {n: load_spec(write_model(tmp_path / str(n), n, FEATURES)) for n in (50, 200)}
    size = {n: len(compile_spec(f, "bigquery").encode("utf-8")) for n, f in other.items()}
    size[CLUSTERS] = sizes["bigquery"]
    per_prototype = [
        (size[b] - size[a]) / ((b - a) * PER_CLUSTER) for a, b in ((50, 100), (100, 200))
    ]
    assert abs(per_prototype[1] / per_prototype[0] - 1) < 0.05, per_prototype


def test_labels_are_the_numpy_rule_on_every_row(many):
    import numpy as np

    from semseg.cluster.fit import assign, owners

    spec_file, model, con = many
    rows = con.execute(
        f"SELECT customer_id, segment, {', '.join(model.features)} FROM "
        f"({compile_spec(spec_file, 'duckdb')}) ORDER BY customer_id"
    ).fetchall()
    x = np.array([[np.nan if v is None else v for v in r[2:]] for r in rows], dtype=float)
    space = (x - np.array(model.means)) / np.array(model.stds)
    rule = owners(
        assign(space, [p.centre for p in model.prototypes], [p.radius for p in model.prototypes]),
        [p.cluster for p in model.prototypes],
    )
    sql = np.array([r[1] for r in rows])
    assert (sql == rule).all(), int((sql != rule).sum())
    assert (rule == -1).sum() >= ROWS // 10 and len(set(rule.tolist())) > CLUSTERS // 2
    assert rows[7][1] == -1  # a NULL feature


def test_a_tie_goes_to_the_lowest_prototype(fewer, tmp_path):
    """Two prototypes of different clusters at the same place (a twin of prototype 0 in
    another cluster, listed after it): a row at that place takes prototype 0's cluster, and
    no row moves."""
    spec_file, model, con = fewer
    twin = replace(model.prototypes[0], cluster=model.prototypes[3].cluster)
    assert twin.cluster != model.prototypes[0].cluster
    tied = replace(model, prototypes=[model.prototypes[0], twin, *model.prototypes[1:]])
    path = tmp_path / "assign.yml"
    path.write_text(spec_file.path.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "assign.segment.model.json").write_text(tied.to_json(), encoding="utf-8")
    at = [
        c * s + m
        for c, s, m in zip(model.prototypes[0].centre, model.stds, model.means, strict=True)
    ]
    here = duckdb.connect()  # the customers, and one at prototype 0's centre
    con.execute(f"COPY customers TO '{tmp_path / 'customers.parquet'}' (FORMAT parquet)")
    here.execute(f"CREATE TABLE customers AS FROM read_parquet('{tmp_path / 'customers.parquet'}')")
    here.execute(f"INSERT INTO customers VALUES (-1{', ?' * len(at)})", at)

    def labels(spec) -> dict:
        return dict(
            here.execute(f"SELECT customer_id, segment FROM ({compile_spec(spec)})").fetchall()
        )

    tied_labels, first = labels(load_spec(path)), labels(spec_file)
    assert tied_labels[-1] == first[-1] == model.prototypes[0].cluster
    assert tied_labels == first  # the twin never wins a tie, so nothing moves


@pytest.fixture(scope="module")
def fewer(tmp_path_factory):
    """40 clusters x 3 prototypes x 8 features on 500 rows: a few seconds on every engine,
    with and without ``assign_noise: nearest``."""
    return _model(tmp_path_factory.mktemp("fewer"), clusters=40, features=8, rows=500)


@pytest.mark.engines
@pytest.mark.parametrize("name", ["sqlite", "postgres", "spark", "clickhouse", "mysql"])
def test_engines_give_duckdbs_labels(fewer, name, request, tmp_path):
    spec_file, _, con = fewer
    engine = request.getfixturevalue(f"{name}_engine")
    engine.load(con, ["customers"])
    expected = con.execute(compile_spec(spec_file, "duckdb"))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    assert len({r[-2] for r in exp_rows}) > 10  # many clusters (and -1) to tell apart
    cols, rows = engine.query(compile_spec(spec_file, name))
    assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)
    nearest = _nearest_spec(spec_file, tmp_path)  # and with assign_noise: nearest
    expected = con.execute(compile_spec(nearest, "duckdb"))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    cols, rows = engine.query(compile_spec(nearest, name))
    assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)


@pytest.mark.engines
@pytest.mark.parametrize("name", ["sqlite", "postgres", "spark", "clickhouse", "mysql"])
def test_engines_run_the_100_cluster_model(many, name, request):
    """100 clusters x 3 prototypes x 20 features on every engine: DuckDB's labels. (When each
    prototype was an expression, 0.6 MB of SQL, ClickHouse's parser refused it by default and,
    with its limits raised, chdb ran this machine (24 GiB) out of memory analysing it.)"""
    spec_file, _, con = many
    engine = request.getfixturevalue(f"{name}_engine")
    engine.load(con, ["customers"])
    expected = con.execute(compile_spec(spec_file, "duckdb"))
    exp_cols, exp_rows = [d[0] for d in expected.description], expected.fetchall()
    assert len({r[-2] for r in exp_rows}) > 50  # most of the 100 clusters, and -1
    cols, rows = engine.query(compile_spec(spec_file, name))
    assert_same_rows(exp_cols, exp_rows, cols, rows, rel_tol=1e-12)


def test_compile_warns_when_the_sql_is_longer_than_the_target_parses(many, tmp_path):
    """400 clusters x 3 prototypes x 20 features: over ClickHouse's default max_query_size
    (compile says so and how to raise it), within BigQuery's 1 MB; 100 clusters: neither."""
    from typer.testing import CliRunner

    from benchmarks.assign import write_model
    from semseg.cli import app

    huge = write_model(tmp_path, 400, FEATURES)
    result = CliRunner().invoke(app, ["compile", str(huge), "-d", "clickhouse"])
    assert result.exit_code == 0
    assert "over 262,144: ClickHouse parses at most max_query_size" in result.output
    for spec, dialect in ((huge, "bigquery"), (many[0].path, "clickhouse")):
        result = CliRunner().invoke(app, ["compile", str(spec), "-d", dialect])
        assert result.exit_code == 0 and "note:" not in result.output


def _nearest_spec(spec_file, folder):
    """The same spec and model with ``assign_noise: nearest`` (not part of the fingerprint:
    the rule changes, not the fit)."""
    text = spec_file.path.read_text(encoding="utf-8")
    (folder / "assign.yml").write_text(
        text.replace("min_cluster_size: 5", "min_cluster_size: 5\n      assign_noise: nearest"),
        encoding="utf-8",
    )
    model = spec_file.path.parent / "assign.segment.model.json"
    (folder / "assign.segment.model.json").write_text(model.read_text(encoding="utf-8"))
    return load_spec(folder / "assign.yml")


def test_assign_noise_nearest_is_the_nearest_prototype_and_its_distance(fewer, tmp_path):
    import numpy as np

    from semseg.cluster.fit import assign, owners, squared_distances

    spec_file, model, con = fewer
    nearest = _nearest_spec(spec_file, tmp_path)
    rows = con.execute(
        f"SELECT customer_id, segment, segment_distance, {', '.join(model.features)} FROM "
        f"({compile_spec(nearest)}) ORDER BY customer_id"
    ).fetchall()
    x = np.array([[np.nan if v is None else v for v in r[3:]] for r in rows], dtype=float)
    space = (x - np.array(model.means)) / np.array(model.stds)
    centres = [p.centre for p in model.prototypes]
    rule = owners(
        assign(space, centres, [np.inf] * len(centres)), [p.cluster for p in model.prototypes]
    )
    sql = np.array([r[1] for r in rows])
    assert (sql == rule).all(), int((sql != rule).sum())
    complete = np.isfinite(space).all(axis=1)
    assert (sql[complete] != -1).all() and (sql[~complete] == -1).all() and (~complete).any()
    far = np.sqrt(squared_distances(space[complete], centres).min(axis=1))
    got = np.array([r[2] for r, ok in zip(rows, complete, strict=True) if ok], dtype=float)
    assert np.allclose(got, far, rtol=1e-12, atol=0)
    assert all(r[2] is None for r, ok in zip(rows, complete, strict=True) if not ok)
    # radii still decide without the option: some of these rows were noise
    radius_rule = dict(
        con.execute(f"SELECT customer_id, segment FROM ({compile_spec(spec_file)})").fetchall()
    )
    assert -1 in {radius_rule[r[0]] for r, ok in zip(rows, complete, strict=True) if ok}


def test_verify_proves_assign_noise_nearest_on_the_personas(tmp_path, monkeypatch):
    """Fitted on the bundled personas with assign_noise: nearest, verify passes (every
    clusterable customer has a cluster and a distance, agreement with the refit), and fails
    once the compiler keeps the radii."""
    from semseg.cluster.fit import fit_spec
    from semseg.data import open_session
    from semseg.verify import verify
    from tests.golden_regen import SPECS

    text = (SPECS / "olist_personas.yml").read_text(encoding="utf-8")
    path = tmp_path / "olist_personas.yml"
    path.write_text(
        text.replace("min_cluster_size: 50", "min_cluster_size: 50\n      assign_noise: nearest"),
        encoding="utf-8",
    )
    spec_file = load_spec(path)
    with open_session(spec_file) as session:
        fit_spec(session, force=True)
    report = verify(spec_file, dialects=["duckdb"], progress=lambda _m: None)
    assert report.passed and "nearest:persona" in {c.name for c in report.checks}, report.to_text()
    original = plan.assignment_queries
    monkeypatch.setattr(plan, "assignment_queries", lambda *args, **_: original(*args[:6]))
    report = verify(spec_file, dialects=["duckdb"], progress=lambda _m: None)
    failed = {c.name for c in report.checks if not c.passed}
    assert "nearest:persona" in failed, report.to_text()


def _prototypes_relation(spec_file, dialect: str) -> str:
    """The compiled prototypes CTE of ``spec_file`` for ``dialect``, as a query of its own."""
    import sqlglot
    from sqlglot import exp

    from semseg.compile.dialects import get_target

    read = get_target(dialect).sqlglot
    tree = sqlglot.parse_one(compile_spec(spec_file, dialect), read=read)
    cte = next(c for c in tree.find_all(exp.CTE) if c.alias == "customer_cluster_prototypes_1")
    return cte.this.sql(read)


def _assert_models_doubles(rows, model) -> None:
    assert len(rows) == len(model.prototypes)
    for p, (row, proto) in enumerate(zip(rows, model.prototypes, strict=True)):
        assert tuple(row[:2]) == (p, proto.cluster)
        assert row[2] == proto.radius**2 and list(row[3:]) == proto.centre, p
        assert all(type(v) is float for v in row[2:])


@pytest.mark.parametrize("dialect", ["duckdb", "sqlite"])
def test_the_prototypes_relation_holds_the_models_doubles_exactly(many, dialect):
    """Every number of the relation reads back as the model's own double (radius squared as
    Python computes it), typed DOUBLE: no engine makes a DECIMAL of them or rounds them. (The
    SQLite of Python 3.11 reads 1 of these 6,300 decimals one unit in the last place off unless
    they are written as exact quotients: ``portable._sqlite_exact_numbers``.)"""
    import sqlite3

    spec_file, model, _ = many
    sql = _prototypes_relation(spec_file, dialect)
    if dialect == "duckdb":
        result = duckdb.connect().execute(sql)
        assert {str(d[1]) for d in result.description[2:]} == {"DOUBLE"}
        rows = result.fetchall()
    else:
        rows = sqlite3.connect(":memory:").execute(sql).fetchall()
    _assert_models_doubles(rows, model)


@pytest.mark.engines
@pytest.mark.parametrize("name", ["postgres", "spark", "clickhouse", "mysql"])
def test_every_engine_reads_the_models_doubles_exactly(many, name, request):
    """PostgreSQL types ``2.5e0`` as an exact NUMERIC; next to the DOUBLE PRECISION
    coordinates it becomes the nearest double (numeric -> float8 is the implicit cast), which is
    what ``float(Decimal)`` gives here."""
    from decimal import Decimal

    spec_file, model, _ = many
    engine = request.getfixturevalue(f"{name}_engine")
    _, rows = engine.query(_prototypes_relation(spec_file, name))
    if name == "postgres":
        assert all(type(v) is Decimal for r in rows for v in r[2:])
        rows = [(*r[:2], *(float(v) for v in r[2:])) for r in rows]
    _assert_models_doubles(sorted(rows), model)


def test_two_cluster_segmentations_in_one_model(fewer, tmp_path):
    """Two cluster segmentations, each with its own prototypes relation and joins: the first
    gives the labels it gives alone, the second (other features, a ``where``, ``assign_noise:
    nearest``) the numpy rule's; SQLite, through its rewrites, gives DuckDB's rows."""
    import sqlite3
    from dataclasses import replace

    import numpy as np

    from semseg.cluster.fit import assign, owners
    from semseg.compile.cluster_model import Prototype
    from semseg.spec.graph import cluster_fingerprint

    spec_file, model, con = fewer
    text = spec_file.path.read_text(encoding="utf-8")
    text += (
        "  other:\n    cluster:\n      features: [f2, f5]\n      where: f0 > 50\n"
        "      min_cluster_size: 5\n      assign_noise: nearest\n"
    )
    path = tmp_path / "assign.yml"
    path.write_text(text, encoding="utf-8")
    spec = load_spec(path).spec
    first = replace(model, fingerprint=cluster_fingerprint(spec, "segment"))
    (tmp_path / "assign.segment.model.json").write_text(first.to_json(), encoding="utf-8")
    i2, i5 = 2, 5
    second = replace(
        model,
        segmentation="other",
        features=["f2", "f5"],
        means=[model.means[i2], model.means[i5]],
        stds=[model.stds[i2], model.stds[i5]],
        clusters=[replace(c, centre=[0.0, 0.0]) for c in model.clusters[:4]],
        prototypes=[Prototype(k, [float(k) - 1.5, 1.5 - float(k)], 1.0) for k in range(4)],
        fingerprint=cluster_fingerprint(spec, "other"),
    )
    (tmp_path / "assign.other.model.json").write_text(second.to_json(), encoding="utf-8")
    both = load_spec(path)

    query = f"SELECT customer_id, segment FROM ({compile_spec(spec_file)})"
    alone = dict(con.execute(query).fetchall())
    cur = con.execute(f"SELECT * FROM ({compile_spec(both)}) ORDER BY customer_id")
    cols = [d[0] for d in cur.description]
    rows = cur.fetchall()
    got = [dict(zip(cols, r, strict=True)) for r in rows]
    assert {r["customer_id"]: r["segment"] for r in got} == alone
    x = np.array([[np.nan if r[f] is None else r[f] for f in ("f2", "f5")] for r in got])
    space = (x - np.array(second.means)) / np.array(second.stds)
    rule = owners(
        assign(space, [p.centre for p in second.prototypes], [np.inf] * 4),
        [p.cluster for p in second.prototypes],
    )
    passes = np.array([r["f0"] is not None and r["f0"] > 50 for r in got])
    expected = np.where(passes, rule, -1)
    assert [r["other"] for r in got] == expected.tolist()
    assert len(set(expected.tolist())) == 5  # four clusters and -1
    lite = sqlite3.connect(":memory:")
    table_cols = [d[0] for d in con.execute("SELECT * FROM customers LIMIT 0").description]
    lite.execute(f"CREATE TABLE customers ({', '.join(table_cols)})")
    lite.executemany(
        f"INSERT INTO customers VALUES ({', '.join('?' * len(table_cols))})",
        con.execute("SELECT * FROM customers").fetchall(),
    )
    sql = compile_spec(both, "sqlite")
    lite_rows = lite.execute(f"SELECT * FROM ({sql}) ORDER BY customer_id").fetchall()
    assert_same_rows(cols, rows, cols, lite_rows, rel_tol=1e-12)
