"""The boxes rule (issue 24): an HDBSCAN fit distilled into a decision tree whose SQL
reproduces the fit on at least 99% of the fitted rows, exactly the same on every engine.

The data are the two kinds the issue measured the prototype rule on: three plain Gaussian
blobs of 10,000 rows with the default settings (the prototypes agreed on 92.9-94.1%), and
households with five log/ratio features fitted with ``min_cluster_size: 25, min_samples: 5``
(a held-out public dataset of 2,469 households gave 87.1%). Here the households are
synthetic, generated with the same shape: skewed spend, counts, and shares in [0, 1].
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from semseg.cli import app
from semseg.cluster.boxes import outward, separator
from semseg.compile import compile_spec
from semseg.spec import load_spec

pytest.importorskip("sklearn")

RUNNER = CliRunner()

SPEC = """\
version: 1
name: {name}
entity: {{name: point, key: id}}
population: {{table: points}}
sources:
  points: {{table: points}}
metrics:
{metrics}
segmentations:
  segment:
    cluster:
      features: [{features}]
{settings}
"""


def _spec(folder: Path, name: str, columns: dict[str, np.ndarray], derived: dict, settings: str):
    """A spec over ``points.parquet`` (one row per id, metrics ``max(column)``) clustering
    on ``derived`` (metric -> expression, or the column's own metric when None)."""
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    frame = {"id": np.arange(1, len(next(iter(columns.values()))) + 1), **columns}
    con.register("generated", frame)
    con.execute(f"COPY generated TO '{(folder / 'points.parquet').as_posix()}' (FORMAT parquet)")
    lines = [f"  {c}:\n    source: points\n    agg: max\n    expr: {c}" for c in columns]
    lines += [f"  {m}:\n    expr: {e}" for m, e in derived.items() if e]
    path = folder / f"{name}.yml"
    path.write_text(
        SPEC.format(
            name=name,
            metrics="\n".join(lines),
            features=", ".join(derived),
            settings=settings,
        ),
        encoding="utf-8",
    )
    return path


def _fit(spec: Path) -> tuple[float, dict]:
    """``semseg cluster`` on the spec; the agreement it reports and the model file."""
    table = f"points={(spec.parent / 'points.parquet').as_posix()}"
    result = RUNNER.invoke(app, ["cluster", str(spec), "--table", table, "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    return summary["agreement"], json.loads(Path(summary["model"]).read_text())


def blobs(n: int = 10_000, seed: int = 0) -> dict[str, np.ndarray]:
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n_samples=n, centers=3, n_features=2, random_state=seed)
    return {"x": x[:, 0], "y": x[:, 1]}


def households(n: int = 2_469, seed: int = 1) -> dict[str, np.ndarray]:
    """Spend, visits, coupon visits and private-label spend of four kinds of household."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, n)
    visits = 1 + rng.poisson(8 + 20 * (kind == 2)) + rng.poisson(rng.lognormal(1, 1, n))
    spend = np.round(visits * rng.lognormal(3 + 0.5 * kind, 0.6), 2)
    coupons = rng.binomial(visits, np.where(kind == 1, 0.4, 0.05))
    private = np.round(spend * rng.beta(2 + 4 * (kind == 3), 5), 2)
    return {"spend": spend, "visits": visits, "coupons": coupons, "private": private}


HOUSEHOLD_FEATURES = {
    "log_spend": "LN(spend)",
    "log_visits": "LN(visits)",
    "log_basket": "LN(spend / visits)",
    "coupon_rate": "coupons / visits",
    "private_share": "private / spend",
}


@pytest.fixture(scope="module")
def blobs_fit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blobs")
    spec = _spec(folder, "blobs", blobs(), {"x": None, "y": None}, "")
    return spec, *_fit(spec)


@pytest.fixture(scope="module")
def households_fit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("households")
    settings = "      min_cluster_size: 25\n      min_samples: 5"
    spec = _spec(folder, "households", households(), HOUSEHOLD_FEATURES, settings)
    return spec, *_fit(spec)


def test_blobs_are_reproduced_on_99_percent_with_the_defaults(blobs_fit):
    """Three Gaussian blobs, default settings: the SQL agrees with the fit on >= 99% of the
    10,000 fitted rows (noise included), and the fit found the blobs and noise around them."""
    _, agreement, model = blobs_fit
    assert model["rule"] == "boxes" and model["fit"]["n_sampled"] == 10_000
    assert len(model["clusters"]) >= 2 and model["fit"]["noise_share"] > 0.05
    assert agreement >= 0.99, agreement


def test_households_are_reproduced_on_99_percent(households_fit):
    """Five log/ratio features, min_cluster_size 25 and min_samples 5: >= 99% of the 2,469
    households, with most of them noise (where the prototype rule failed)."""
    _, agreement, model = households_fit
    assert model["fit"]["n_sampled"] == 2_469 and len(model["clusters"]) >= 2
    assert agreement >= 0.99, agreement


def test_the_prototype_rule_did_not_reproduce_these_fits(blobs_fit, households_fit):
    """Why the rule changed: the nearest-prototype rule, chosen for agreement as before, on
    the same fitted labels gives well under 99% (docs/design.md has the figures)."""
    from semseg.cluster.features import design, pull
    from semseg.cluster.fit import _prototype_rule, _renumber, _sample
    from semseg.cluster.hdbscan import hdbscan_labels
    from semseg.data import open_session

    for spec, _, model in (blobs_fit, households_fit):
        spec_file = load_spec(spec)
        table = {"points": spec.parent / "points.parquet"}
        with open_session(spec_file, tables=table) as session:
            feats = pull(session, "segment")
        space = design(feats, model["means"], model["stds"], {})
        keep = _sample(feats.keys, 10**9)
        c = spec_file.spec.segmentations["segment"].cluster
        fitted = _renumber(
            space[keep], hdbscan_labels(space[keep], c.min_cluster_size, c.min_samples)
        )
        k = int(fitted.max()) + 1
        assert _prototype_rule(space[keep], fitted, k, 3)["agreement"] < 0.97


def test_verify_proves_the_boxes(households_fit):
    """verify: the rule check (every row, the boxes evaluated outside SQL) and agreement."""
    spec, _, _ = households_fit
    table = f"points={(spec.parent / 'points.parquet').as_posix()}"
    result = RUNNER.invoke(app, ["verify", str(spec), "--table", table])
    assert result.exit_code == 0, result.output
    assert re.search(r"PASS  rule:segment: .*the box holding it.* 0 differ", result.output)


def test_verify_fails_a_compiler_that_drops_a_bound(households_fit, monkeypatch):
    """A compiler that leaves out each box's last bound labels other rows: the rule check,
    which reads the model file itself, fails naming them."""
    from semseg.compile import cluster_sql

    spec, _, _ = households_fit
    real = cluster_sql._box_sql

    def dropped(box):
        if box.upto:
            box = type(box)(
                box.cluster, box.above, dict(list(box.upto.items())[:-1]), box.equal, box.unequal
            )
        return real(box)

    monkeypatch.setattr(cluster_sql, "_box_sql", dropped)
    table = f"points={(spec.parent / 'points.parquet').as_posix()}"
    result = RUNNER.invoke(app, ["verify", str(spec), "--table", table])
    assert result.exit_code == 1, result.output
    assert re.search(r"FAIL  rule:segment: .* [1-9][\d,]* differ", result.output)


# ----------------------------------------------------------------- the edges, on every engine


def edge_rows(model: dict) -> list[dict]:
    """For every bound of every box: the value, one ulp below and one above, the other
    features at the box's middle; then rows with NULL, NaN and infinities."""
    feats = model["features"]
    rows = []
    for box in model["boxes"]:
        middle = {f: box["above"][f] / 2 + box["upto"][f] / 2 for f in feats}
        for f in feats:
            for t in (box["above"][f], box["upto"][f]):
                for v in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)):
                    rows.append({**middle, f: v})
        rows.append({**middle, feats[0]: None})
        for special in (math.nan, math.inf, -math.inf):
            rows.append({**middle, feats[-1]: special})
    return rows


def _edge_con(model: dict, rows: list[dict], nan: bool) -> duckdb.DuckDBPyConnection:
    feats = model["features"]
    con = duckdb.connect()
    cols = ", ".join(f"{f} DOUBLE" for f in feats)
    con.execute(f"CREATE TABLE edge_rows (i INTEGER, {cols})")
    data = []
    for i, row in enumerate(rows):
        values = [row[f] for f in feats]
        if not nan:  # engines without NaN or infinities take NULL there
            values = [None if v is not None and not math.isfinite(v) else v for v in values]
        data.append([i, *values])
    con.executemany(f"INSERT INTO edge_rows VALUES (?, {', '.join('?' for _ in feats)})", data)
    return con


def _rule(model: dict, rows: list[dict], nan: bool) -> list[int]:
    """The rule on the rows, by this test's own reading of the model file."""
    out = []
    for row in rows:
        x = {f: row[f] for f in model["features"]}
        if not nan:
            x = {f: None if v is not None and not math.isfinite(v) else v for f, v in x.items()}
        label = -1
        for box in model["boxes"]:
            if all(
                x[f] is not None and box["above"][f] < x[f] <= box["upto"][f]
                for f in model["features"]
            ):
                label = box["cluster"]
                break
        out.append(label)
    return out


def _edge_sql(model: dict, dialect: str) -> str:
    from sqlglot import exp

    from semseg.compile import target_sql
    from semseg.compile.cluster_model import FittedModel
    from semseg.compile.cluster_sql import box_label_sql
    from semseg.compile.dialects import TARGETS

    label = box_label_sql(FittedModel.from_json(json.dumps(model)), None)
    query = exp.select(exp.column("i"), exp.alias_(label, "l")).from_("edge_rows")
    return target_sql(query, TARGETS[dialect], pretty=False)


def test_duckdb_labels_every_edge_as_the_model_file_says(households_fit):
    """Each bound of each box, one ulp either side, NULL, NaN and infinities: DuckDB's
    label is the model file's rule read by this test; and a bound one ulp lower fails."""
    _, _, model = households_fit
    rows = edge_rows(model)
    assert len(rows) > 500
    con = _edge_con(model, rows, nan=True)
    found = dict(con.execute(_edge_sql(model, "duckdb")).fetchall())
    want = _rule(model, rows, nan=True)
    assert [found[i] for i in range(len(rows))] == want
    assert len(set(want)) > 2  # clusters and noise among the edges
    box = model["boxes"][0]
    f = model["features"][0]
    box["upto"][f] = math.nextafter(box["upto"][f], -math.inf)
    found = dict(con.execute(_edge_sql(model, "duckdb")).fetchall())
    assert [found[i] for i in range(len(rows))] != want


@pytest.mark.engines
@pytest.mark.parametrize(
    "fixture",
    ["sqlite_engine", "postgres_engine", "mysql_engine", "clickhouse_engine", "spark_engine"],
)
def test_engines_label_every_edge_as_the_model_file_says(households_fit, fixture, request):
    """The same edges on every engine here (NaN and infinities as NULL where a column cannot
    hold them): each row's label is the rule's."""
    engine = request.getfixturevalue(fixture)
    _, _, model = households_fit
    rows = edge_rows(model)
    engine.load(_edge_con(model, rows, nan=False), ["edge_rows"])
    _, found = engine.query(_edge_sql(model, engine.name))
    labels = {int(i): int(lab) for i, lab in found}
    assert [labels[i] for i in range(len(rows))] == _rule(model, rows, nan=False)


# ----------------------------------------------------------------- the pieces


def test_a_separator_is_the_shortest_decimal_between_two_values():
    assert separator(3.0, 4.0) == 3.5
    assert separator(0.1234, 0.1301) == 0.13
    assert separator(12.0, 12.0000001) == 12.00000005
    low = 1.0
    assert separator(low, math.nextafter(low, 2)) == low  # adjacent doubles: the left one
    for a, b in [(0.1, 0.2), (-5.5, -5.25), (1e-300, 2e-300), (123456.789, 123456.79)]:
        t = separator(a, b)
        assert a < t < b


def test_a_range_is_rounded_outward():
    assert outward(2.7367456312345, True) == 2.736745631
    assert outward(2.7367456312345, False) == 2.736745632
    assert outward(-2.7367456312345, True) == -2.736745632
    assert outward(5.0, True) == 5.0 and outward(0.0, False) == 0.0


def test_the_blob_model_compiles_for_every_dialect_without_deep_nesting(blobs_fit):
    """Two levels of CASE whatever the tree's depth (SQL Server allows ten)."""
    spec, _, _ = blobs_fit
    sql = compile_spec(load_spec(spec), "tsql")
    depth = deepest = 0
    for word in re.findall(r"\bCASE\b|\bEND\b", sql):
        depth += 1 if word == "CASE" else -1
        deepest = max(deepest, depth)
    assert deepest <= 3, deepest
