"""Cluster segmentations: validation, deterministic fit, model file, assignment SQL, agreement."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from semseg.compiler import compile_spec, load_spec
from semseg.dialects import TARGETS
from semseg.errors import CompileError, SpecError

pytest.importorskip("fast_hdbscan")
pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "segment_specs" / "olist_personas.yml"
MODEL = ROOT / "segment_specs" / "olist_personas.persona.model.json"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from semseg.cluster.olist import prepare_marketplace

    folder = tmp_path_factory.mktemp("olist")
    prepare_marketplace(folder)
    return folder


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, data):
    """The example spec copied to a temp folder and fitted there (the committed model stays)."""
    from semseg.cluster.fit import fit_spec

    folder = tmp_path_factory.mktemp("spec")
    spec_path = folder / SPEC.name
    shutil.copy(SPEC, spec_path)
    spec_file = load_spec(spec_path)
    model_path, summary = fit_spec(spec_file, data=data)
    return spec_file, model_path, summary


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yml"
    path.write_text(SPEC.read_text(encoding="utf-8").replace(*text.split("|||")))
    return path


def test_fit_is_deterministic_and_matches_the_committed_model(fitted, data):
    from semseg.cluster.fit import fit_local

    spec_file, model_path, _ = fitted
    again = fit_local(spec_file, data=data).model.to_json()
    assert model_path.read_text(encoding="utf-8") == again
    assert MODEL.read_text(encoding="utf-8") == again, "regenerate the committed model file"


def test_clusters_numbered_by_size_with_noise(fitted, data):
    from semseg.cluster.fit import fit_local

    spec_file, _, summary = fitted
    local = fit_local(spec_file, data=data)
    sizes = [c.size for c in local.model.clusters]
    assert [c.id for c in local.model.clusters] == list(range(len(sizes)))
    assert sizes == sorted(sizes, reverse=True)
    assert min(sizes) >= 50
    assert set(local.labels.tolist()) == set(range(len(sizes))) | {-1}
    assert 0 < summary["noise_share"] < 0.5


def test_ari_against_planted_personas(fitted, data):
    from sklearn.metrics import adjusted_rand_score

    from semseg.cluster.fit import fit_local
    from semseg.sample.generate import marketplace_personas

    spec_file, _, _ = fitted
    local = fit_local(spec_file, data=data)
    planted = marketplace_personas()
    pairs = [
        (planted[k], int(lab))
        for k, lab in zip(local.features.keys, local.labels, strict=True)
        if lab >= 0 and planted[k] != "noise"
    ]
    ari = adjusted_rand_score([p for p, _ in pairs], [lab for _, lab in pairs])
    assert ari >= 0.8, ari  # clustered customers vs their planted persona
    assert len(pairs) >= 0.6 * len(local.features.keys)


def test_assignment_sql_agrees_with_local_labels(fitted, data):
    from semseg.cluster.fit import agreement

    spec_file, _, summary = fitted
    assert summary["agreement"] >= 0.95
    assert agreement(spec_file, "persona", data=data) == summary["agreement"]


@pytest.mark.parametrize("dialect", list(TARGETS))
def test_assignment_sql_reparses(fitted, dialect):
    sql = compile_spec(fitted[0], dialect)
    trees = sqlglot.parse(sql, read=TARGETS[dialect].sqlglot, error_level=ErrorLevel.RAISE)
    assert len([t for t in trees if t is not None]) == 1
    assert "POWER" not in sql.upper() and "POW(" not in sql.upper()


def test_sql_labels_noise_null_and_where(fitted, data):
    from semseg.verify.data import connect

    spec_file = fitted[0]
    con, _ = connect(spec_file, data)
    try:
        sql = compile_spec(spec_file, "duckdb")
        bad = con.execute(
            f"SELECT COUNT(*) FROM ({sql}) WHERE persona <> -1 AND NOT (no_orders > 1)"
        ).fetchone()[0]
        kind = con.execute(f"DESCRIBE SELECT persona FROM ({sql})").fetchone()[1]
        order = con.execute(
            f"SELECT COUNT(*) FROM ({sql}) WHERE persona_order <> "
            f"CASE WHEN persona = -1 THEN 10 ELSE persona + 1 END"
        ).fetchone()[0]
    finally:
        con.close()
    assert bad == 0 and order == 0
    assert kind == "INTEGER"


def test_compile_without_model_says_to_fit(tmp_path):
    path = tmp_path / "p.yml"
    shutil.copy(SPEC, path)
    with pytest.raises(CompileError, match="semseg cluster SPEC"):
        compile_spec(load_spec(path), "duckdb")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("algorithm: hdbscan|||algorithm: kmeans", "has no 'k'"),
        ("overlays: [ltv,|||overlays: [nope,", "not a metric"),
        ("categorical: [customer_city]|||categorical: [ltv]", "both"),
        ("order_column: persona_order|||order_column: persona_order\n    by: ltv", "also has"),
        ("where: no_orders > 1|||where: bogus > 1", "not a metric"),
    ],
)
def test_validation(tmp_path, change, message):
    with pytest.raises(SpecError, match=message):
        load_spec(_write(tmp_path, change))


def test_kmeans_fit_labels_everyone_and_agrees(tmp_path, data):
    from semseg.cluster.fit import fit_spec

    path = _write(tmp_path, "algorithm: hdbscan|||algorithm: kmeans\n      k: 7")
    model_path, summary = fit_spec(load_spec(path), data=data)
    assert summary["clusters"] == 7 and summary["noise_share"] == 0
    assert summary["agreement"] >= 0.95
    assert '"n_init": 10' in model_path.read_text()


def test_importing_the_cli_does_not_import_numeric_libraries():
    code = (
        "import sys, semseg.cli, semseg.cluster, semseg.profile; "
        "bad = [m for m in ('numpy', 'fast_hdbscan', 'sklearn') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_verify_cluster_passes(fitted, data):
    from semseg.cluster.verify import verify_cluster

    report = verify_cluster(load_spec(SPEC), data=data, dialects=["duckdb", "tsql"])
    assert report.passed, report.to_text()
    assert any(c.name == "agreement:persona" for c in report.checks)
