"""Named, stable clusters (issue 14): names in the spec, ids kept across refits.

The data are well-separated blobs whose membership is known by construction, so which cluster
persists, appears, vanishes, merges or splits is worked out from the blobs, not read from the
code under test.
"""

from __future__ import annotations

import json
import textwrap

import duckdb
import numpy as np
import pytest
import sqlglot
from sqlglot import exp
from typer.testing import CliRunner

from semseg.cli import app
from semseg.cluster.lineage import match, next_fresh_id
from semseg.compile import compile_spec
from semseg.compile.cluster_model import load_model
from semseg.spec import load_spec
from semseg.verify import verify

pytest.importorskip("sklearn")
runner = CliRunner()

# Blob centres (x, y) far apart: HDBSCAN finds each blob as one cluster.
BLOBS = {"a": (0, 0), "b": (40, 0), "c": (0, 40), "d": (40, 40), "e": (80, 80)}
SPEC = """\
version: 1
name: dots
entity: {name: customer, key: customer_id}
sources:
  dots: {table: dots}
metrics:
  x: {source: dots, agg: max, expr: x}
  y: {source: dots, agg: max, expr: y}
segmentations:
  dot_group:
    cluster:
      features: [x, y]
      scaling: none
      min_cluster_size: 15
"""


def _write_data(folder, sizes: dict[str, int]) -> dict[str, str]:
    """One row per customer, named after its blob (``b_0012``); blob -> the first key."""
    rng = np.random.default_rng(7)
    rows = []
    for blob, n in sizes.items():
        cx, cy = BLOBS[blob]
        for i in range(n):
            rows.append((f"{blob}_{i:04d}", cx + rng.normal(0, 1), cy + rng.normal(0, 1)))
    folder.mkdir(exist_ok=True)
    con = duckdb.connect()
    con.execute("CREATE TABLE dots (customer_id VARCHAR, x DOUBLE, y DOUBLE)")
    con.executemany("INSERT INTO dots VALUES (?, ?, ?)", rows)
    con.execute(f"COPY dots TO '{folder / 'dots.parquet'}' (FORMAT parquet)")
    return {blob: f"{blob}_0000" for blob in sizes}


def _spec(tmp_path, names: dict[int, str] | None = None):
    text = SPEC
    if names:
        text += "      names:\n" + "".join(
            f"        {i}: {json.dumps(n)}\n" for i, n in names.items()
        )
    path = tmp_path / "dots.yml"
    path.write_text(text, encoding="utf-8")
    return path


def _labels(spec_path, data) -> dict[str, tuple]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW dots AS SELECT * FROM read_parquet('{data / 'dots.parquet'}')")
    cur = con.execute(compile_spec(load_spec(spec_path), "duckdb"))
    cols = [d[0] for d in cur.description]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}


def _fit(spec, data, *extra):
    result = runner.invoke(app, ["cluster", str(spec), "--data", str(data), *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_refit_keeps_the_ids_and_names_of_clusters_that_persist(tmp_path):
    data1, data2 = tmp_path / "d1", tmp_path / "d2"
    first = _write_data(data1, {"a": 120, "b": 80, "c": 60})
    spec = _spec(tmp_path)
    _fit(spec, data1)
    before = _labels(spec, data1)
    ids = {blob: before[key]["dot_group"] for blob, key in first.items()}
    assert sorted(ids.values()) == [0, 1, 2] and ids["a"] == 0  # fit order: largest first

    # Blob a is gone, c has grown past b, and d is new: a refit by size alone would call c 0.
    second = _write_data(data2, {"b": 80, "c": 150, "d": 40})
    spec = _spec(tmp_path, {ids["b"]: "Bees", ids["c"]: "Seas", -1: "Loners"})
    refused = runner.invoke(app, ["cluster", str(spec), "--data", str(data2)])
    assert refused.exit_code == 1 and "--force" in refused.output  # nothing replaced silently
    out = _fit(spec, data2, "--force")
    assert f"ids kept from the previous model: {ids['b']} (Bees), {ids['c']} (Seas)" in out
    assert "appeared: cluster 3" in out and f"vanished: cluster {ids['a']}" in out
    after = _labels(spec, data2)
    assert (
        after[second["b"]]["dot_group"] == ids["b"] and after[second["c"]]["dot_group"] == ids["c"]
    )
    assert after[second["d"]]["dot_group"] == 3  # a fresh id, not the retired 0
    assert after[second["b"]]["dot_group_name"] == "Bees" and after[second["d"]][
        "dot_group_name"
    ] == ("Cluster 3")
    model = load_model(tmp_path / "dots.dot_group.model.json")
    assert [c.size for c in model.clusters] == sorted(
        (c.size for c in model.clusters), reverse=True
    )
    assert next_fresh_id(model) == 4 and 0 not in {c.id for c in model.clusters}  # 0 retired
    report = verify(load_spec(spec), data=data2, dialects=["duckdb"])
    assert report.passed, report.to_text()
    assert {c.name for c in report.checks} >= {
        "names:dot_group",
        "agreement:dot_group",
        "labels:dot_group",
    }

    # The same data again: nothing changes, the file is left as it is.
    again = runner.invoke(app, ["cluster", str(spec), "--data", str(data2), "--format", "json"])
    payload = json.loads(again.stdout)
    assert payload["unchanged"] is True and payload["changes"][0].startswith("ids kept")

    # A name for the retired id: compile says which ids the model has.
    stale = _spec(tmp_path, {ids["a"]: "Ants"})
    result = runner.invoke(app, ["compile", str(stale), "--dialect", "duckdb"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"names cluster {ids['a']}" in result.output and "does not have" in result.output

    # --renumber: fit order again, 0 for the largest (c).
    _fit(_spec(tmp_path), data2, "--force", "--renumber")
    assert _labels(tmp_path / "dots.yml", data2)[second["c"]]["dot_group"] == 0


def test_merges_and_splits_are_reported(tmp_path):
    data1 = tmp_path / "d1"
    _write_data(data1, {"a": 100, "b": 80, "c": 60})
    spec = _spec(tmp_path)
    _fit(spec, data1)
    previous = load_model(tmp_path / "dots.dot_group.model.json")
    # Labels by construction on the rows of a second fit: the new fit's cluster 0 holds all of
    # old 0 and old 1 (merged), old 2 is cut in two new clusters 1 and 2 (a split).
    old = np.array([0] * 100 + [1] * 80 + [2] * 30 + [2] * 30 + [-1] * 5)
    new = np.array([0] * 100 + [0] * 80 + [1] * 30 + [2] * 30 + [-1] * 5)
    lineage = match(new, old, 3, previous)
    assert lineage.ids == [0, 2, 3]  # new 0 keeps old 0 (largest overlap both ways)
    assert lineage.merged == [(1, 0)]
    assert lineage.kept == [(0, 100), (2, 30)] and lineage.split == [(3, 2)]
    assert lineage.vanished == [] and lineage.appeared == []


def test_names_are_data_and_are_checked(tmp_path):
    data = tmp_path / "d"
    first = _write_data(data, {"a": 60, "b": 40})
    _fit(_spec(tmp_path), data)
    hostile = "O'Brien -- '; DROP TABLE dots; {{ x }}"
    spec = _spec(tmp_path, {0: hostile, 1: "Bees"})
    labels = _labels(spec, data)
    assert labels[first["a"]]["dot_group_name"] == hostile
    for dialect in ("snowflake", "bigquery", "tsql", "mysql", "clickhouse", "sqlite"):
        tree = sqlglot.parse_one(compile_spec(load_spec(spec), dialect), read=dialect)
        strings = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
        assert hostile in strings, dialect  # one string literal, whatever it holds
    dup = _spec(tmp_path, {0: "Same", 1: "Same"})
    result = runner.invoke(app, ["compile", str(dup), "--dialect", "duckdb"])
    assert result.exit_code != 0 and "dots.yml:" in result.output
    assert "is given to clusters 0 and 1" in result.output
    bad = tmp_path / "bad.yml"
    bad.write_text(textwrap.dedent(SPEC) + "      names:\n        first: Ants\n", encoding="utf-8")
    result = runner.invoke(app, ["compile", str(bad), "--dialect", "duckdb"])
    assert (
        result.exit_code != 0 and "bad.yml:" in result.output and "Traceback" not in result.output
    )


def test_a_compiler_that_names_the_wrong_cluster_fails_verify(tmp_path, monkeypatch):
    from semseg.compile import cluster_sql

    data = tmp_path / "d"
    _write_data(data, {"a": 60, "b": 40})
    _fit(_spec(tmp_path), data)
    spec = _spec(tmp_path, {0: "Ants", 1: "Bees"})
    assert verify(load_spec(spec), data=data, dialects=["duckdb"]).passed
    original = cluster_sql.name_sql

    def swapped(model, label, cluster):  # each cluster gets the other's name
        other = {"'Ants'": "Bees", "'Bees'": "Ants"}
        return original(model, label, cluster).transform(
            lambda n: exp.Literal.string(other[n.sql()]) if n.sql() in other else n
        )

    monkeypatch.setattr(cluster_sql, "name_sql", swapped)
    monkeypatch.setattr("semseg.compile.plan.name_sql", swapped)
    failed = {
        c.name
        for c in verify(load_spec(spec), data=data, dialects=["duckdb"]).checks
        if not c.passed
    }
    assert "names:dot_group" in failed


def test_a_refit_that_would_leave_a_name_on_a_retired_id_writes_nothing(tmp_path):
    """Issue 23, item 7: the refit wrote the new model, then stopped on the names error,
    without the report of what changed. Now nothing is written, and the report is said."""
    from tests.golden_regen import SPECS

    spec = tmp_path / "olist_personas.yml"
    model = tmp_path / "olist_personas.persona.model.json"
    text = (SPECS / "olist_personas.yml").read_text(encoding="utf-8")
    last = "        8: Sao Paulo premium singles\n"
    spec.write_text(text.replace(last, last + "        9: Ghost cluster\n"), encoding="utf-8")
    old = json.loads((SPECS / model.name).read_text(encoding="utf-8"))
    old["fit"]["noise_share"] = 0.5  # a model the refit would replace, were it written
    model.write_text(json.dumps(old, indent=2), encoding="utf-8")
    before = model.read_bytes()
    result = CliRunner().invoke(app, ["cluster", str(spec), "--force"])
    assert result.exit_code == 1, result.output
    assert "not written: cluster.names names cluster 9" in result.output
    assert "refit: ids kept from the previous model: 0 (" in result.output
    assert model.read_bytes() == before


def test_a_refit_over_an_unreadable_model_says_the_ids_start_again(tmp_path):
    """Issue 23, item 30: over a corrupt model file, ``cluster --force`` numbered the
    clusters by size again without a word, so the names could move to other customers."""
    from tests.golden_regen import SPECS

    spec = tmp_path / "olist_personas.yml"
    spec.write_bytes((SPECS / "olist_personas.yml").read_bytes())
    (tmp_path / "olist_personas.persona.model.json").write_text('{"broken": true}')
    result = CliRunner().invoke(app, ["cluster", str(spec), "--force"])
    assert result.exit_code == 0, result.output
    assert "refit: no lineage:" in result.output and "cannot be read" in result.output
    assert "ids start again from 0 by size: check the names in cluster.names" in result.output
