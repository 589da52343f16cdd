"""Cluster segmentations: validation, deterministic fit, model file, assignment SQL, agreement."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlglot
from sqlglot.errors import ErrorLevel

from semseg.compile import compile_spec
from semseg.compile.dialects import TARGETS
from semseg.data import open_session
from semseg.errors import CompileError, SpecError
from semseg.spec import load_spec
from tests.cli_helpers import fitted_personas
from tests.cli_helpers import run_clean as _run
from tests.golden_regen import SPECS

pytest.importorskip("sklearn")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "segment_specs" / "olist_personas.yml"
MODEL = ROOT / "segment_specs" / "olist_personas.persona.model.json"


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """The example spec copied to a temp folder and fitted there on the bundled sample
    (no data argument: the bundled 'marketplace' dataset has every table the spec reads);
    the committed model stays."""
    from semseg.cluster.fit import fit_spec

    folder = tmp_path_factory.mktemp("spec")
    spec_path = folder / SPEC.name
    shutil.copy(SPEC, spec_path)
    spec_file = load_spec(spec_path)
    with open_session(spec_file) as session:
        model_path, _, summary = fit_spec(session, force=True)
    return spec_file, model_path, summary


@pytest.fixture(scope="module")
def prototyped(tmp_path_factory):
    """The example spec with ``rule: prototypes``, fitted in a temp folder: (spec, model)."""
    spec = fitted_personas(tmp_path_factory.mktemp("prototypes"), "rule: prototypes")
    return load_spec(spec), spec.parent / MODEL.name


def _local(spec_file, **kwargs):
    """A local fit of the spec's cluster segmentation on its data (default: the bundled one)."""
    from semseg.cluster.fit import fit_local

    with open_session(spec_file, **kwargs) as session:
        return fit_local(session)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yml"
    path.write_text(SPEC.read_text(encoding="utf-8").replace(*text.split("|||")))
    return path


def test_fit_is_deterministic_and_matches_the_committed_model(fitted):

    spec_file, model_path, _ = fitted
    again = _local(spec_file).model.to_json()
    assert model_path.read_text(encoding="utf-8") == again
    assert MODEL.read_text(encoding="utf-8") == again, "regenerate the committed model file"


def test_clusters_numbered_by_size_with_noise(fitted):

    spec_file, _, summary = fitted
    local = _local(spec_file)
    sizes = [c.size for c in local.model.clusters]
    assert [c.id for c in local.model.clusters] == list(range(len(sizes)))
    assert sizes == sorted(sizes, reverse=True)
    assert min(sizes) >= 50
    assert set(local.labels.tolist()) == set(range(len(sizes))) | {-1}
    assert 0 < summary["noise_share"] < 0.5


def test_ari_against_planted_personas(fitted):
    from sklearn.metrics import adjusted_rand_score

    from scripts.generate_sample import marketplace_personas

    spec_file, _, _ = fitted
    local = _local(spec_file)
    planted = marketplace_personas()
    pairs = [
        (planted[k], int(lab))
        for k, lab in zip(local.features.keys, local.labels, strict=True)
        if lab >= 0 and planted[k] != "noise"
    ]
    ari = adjusted_rand_score([p for p, _ in pairs], [lab for _, lab in pairs])
    assert ari >= 0.8, ari  # clustered customers vs their planted persona
    assert len(pairs) >= 0.6 * len(local.features.keys)


def test_assignment_sql_agrees_with_local_labels(fitted):
    from semseg.cluster.fit import agreement

    spec_file, _, summary = fitted
    # 98.4% with three prototypes per cluster; one centre per cluster gave 95.5%
    assert summary["agreement"] >= 0.97
    with open_session(spec_file) as session:
        assert agreement(session, "persona") == summary["agreement"]


def test_sql_rule_equals_the_python_rule_on_every_row(prototyped):
    """The compiled rule (the nearest distance among the prototypes whose radius holds the
    row, then the first prototype at it) gives exactly the labels of the numpy rule."""
    import numpy as np

    from semseg.cluster.fit import assign, owners, sql_labels

    spec_file, _ = prototyped
    local = _local(spec_file)
    model = local.model
    rule = owners(
        assign(
            local.space, [p.centre for p in model.prototypes], [p.radius for p in model.prototypes]
        ),
        [p.cluster for p in model.prototypes],
    )
    with open_session(spec_file) as session:
        found = sql_labels(session, "persona")
    sql = np.array([found[k] for k in local.features.keys])
    assert len(model.prototypes) == 3 * len(model.clusters)
    assert (sql == rule).all(), int((sql != rule).sum())
    assert len(set(rule.tolist())) == len(model.clusters) + 1  # every cluster and noise


def _earlier_format(source: Path, format: int, shift: int = 0) -> dict:
    """The prototypes model ``source`` as semseg wrote it in ``format`` 1 (a centre and
    radius per cluster, no prototypes), 2 (prototypes, no fingerprint) or 3 (no rule);
    cluster ids + ``shift``."""
    model = json.loads(source.read_text(encoding="utf-8"))
    for key in ("rule", "boxes"):
        del model[key]
    if format < 3:
        del model["fingerprint"]
    for c in model["clusters"]:
        c["id"] += shift
    for p in model["prototypes"]:
        p["cluster"] += shift
    if format == 1:
        first = {}
        for p in model["prototypes"]:
            first.setdefault(p["cluster"], p)
        for c in model["clusters"]:
            c["centre"], c["radius"] = first[c["id"]]["centre"], first[c["id"]]["radius"]
        del model["prototypes"]
    model["format"] = format
    return model


def test_model_files_of_earlier_formats_are_read(prototyped):
    """Formats 1 to 3 are migrated, not refused (issue 21): format 1's centre and radius per
    cluster is its one prototype, 3 had the prototypes rule; a newer format than this
    semseg's is refused."""
    from semseg.compile.cluster_model import FittedModel

    source = prototyped[1]
    one = FittedModel.from_json(json.dumps(_earlier_format(source, 1)))
    assert one.format == 1 and not one.fingerprint
    assert [(p.cluster, p.radius) for p in one.prototypes] == [
        (c["id"], c["radius"]) for c in _earlier_format(source, 1)["clusters"]
    ]
    two = FittedModel.from_json(json.dumps(_earlier_format(source, 2)))
    assert two.prototypes == FittedModel.from_json(source.read_text()).prototypes
    three = FittedModel.from_json(json.dumps(_earlier_format(source, 3)))
    assert three.rule == "prototypes" and three.fingerprint
    assert three.prototypes == two.prototypes
    newer = dict(_earlier_format(source, 2), format=5)
    with pytest.raises(ValueError, match="format 5, this semseg reads formats 1 to 4"):
        FittedModel.from_json(json.dumps(newer))
    boxes_in_three = dict(_earlier_format(source, 3), boxes=[])
    with pytest.raises(ValueError, match="format 3 has no rule or boxes"):
        FittedModel.from_json(json.dumps(boxes_in_three))


def test_a_format_3_model_still_compiles_and_a_refit_writes_boxes(prototyped, tmp_path):
    """A prototypes model fitted before the boxes rule existed compiles under the default
    (no refit forced on a user), and one the spec's rule contradicts is refused."""
    spec_path = tmp_path / SPEC.name
    shutil.copy(SPEC, spec_path)
    model = _earlier_format(prototyped[1], 3)
    (tmp_path / MODEL.name).write_text(json.dumps(model), encoding="utf-8")
    assert "_cluster_prototypes_1" in compile_spec(load_spec(spec_path), "duckdb")
    text = spec_path.read_text(encoding="utf-8")
    spec_path.write_text(
        text.replace("algorithm: hdbscan", "algorithm: hdbscan\n      rule: boxes")
    )
    with pytest.raises(CompileError, match="assigns rows by prototypes.*asks for boxes"):
        compile_spec(load_spec(spec_path), "duckdb")


@pytest.mark.parametrize("format", [1, 2])
def test_a_model_of_an_earlier_format_is_refitted_with_its_ids(prototyped, tmp_path, format):
    """compile cannot check what an earlier model was fitted for (no fingerprint) and says to
    refit; the refit reads the old model and keeps its cluster ids (here 20..28), so the names
    in the spec keep meaning the same customers."""
    from typer.testing import CliRunner

    from semseg.cli import app

    spec_path = tmp_path / SPEC.name
    text = SPEC.read_text(encoding="utf-8")
    spec_path.write_text(text[: text.index("      names:")], encoding="utf-8")  # ids 0..8
    old = _earlier_format(prototyped[1], format, 20)
    (tmp_path / MODEL.name).write_text(json.dumps(old), encoding="utf-8")
    with pytest.raises(CompileError, match=rf"model format {format}.*--force.*keep their ids"):
        compile_spec(load_spec(spec_path), "duckdb")
    refit = CliRunner().invoke(app, ["cluster", str(spec_path), "--force", "--format", "json"])
    assert refit.exit_code == 0, refit.output
    model = json.loads((tmp_path / MODEL.name).read_text(encoding="utf-8"))
    assert model["format"] == 4 and model["fingerprint"] and model["rule"] == "boxes"
    assert [c["id"] for c in model["clusters"]] == list(range(20, 29))
    compile_spec(load_spec(spec_path), "duckdb")


@pytest.mark.parametrize("dialect", list(TARGETS))
def test_assignment_sql_reparses(fitted, dialect):
    sql = compile_spec(fitted[0], dialect)
    trees = sqlglot.parse(sql, read=TARGETS[dialect].sqlglot, error_level=ErrorLevel.RAISE)
    assert len([t for t in trees if t is not None]) == 1
    assert "POWER" not in sql.upper() and "POW(" not in sql.upper()


def test_sql_boxes_equal_the_python_boxes_on_every_row(fitted):
    """The default rule of an HDBSCAN fit: the box holding the row, as ``box_labels`` reads
    the model file, on every row; every cluster and noise occur."""
    import numpy as np

    from semseg.cluster.boxes import box_labels
    from semseg.cluster.fit import sql_labels

    spec_file, _, summary = fitted
    local = _local(spec_file)
    model = local.model
    rule = box_labels(model, local.features.numeric, local.features.categorical)
    with open_session(spec_file) as session:
        found = sql_labels(session, "persona")
    sql = np.array([found[k] for k in local.features.keys])
    assert model.rule == "boxes" and not model.prototypes and len(model.boxes) > 9
    assert (sql == rule).all(), int((sql != rule).sum())
    assert len(set(rule.tolist())) == len(model.clusters) + 1
    assert summary["agreement"] >= 0.99


def test_sql_labels_noise_null_and_where(fitted):
    from semseg.data import connect

    spec_file = fitted[0]
    con, _ = connect(spec_file)
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
        ("overlays: [avg_item_price,|||overlays: [nope,", "not a metric"),
        ("categorical: [customer_city]|||categorical: [ltv]", "both"),
        ("order_column: persona_order|||order_column: persona_order\n    by: ltv", "also has"),
        ("where: no_orders > 1|||where: bogus > 1", "not a metric"),
    ],
)
def test_validation(tmp_path, change, message):
    with pytest.raises(SpecError, match=message):
        load_spec(_write(tmp_path, change))


def test_kmeans_fit_labels_everyone_and_agrees(tmp_path):
    from semseg.cluster.fit import fit_spec

    path = _write(tmp_path, "algorithm: hdbscan|||algorithm: kmeans\n      k: 7")
    text = path.read_text(encoding="utf-8")  # 7 clusters: the personas' names of 7 and 8 go
    path.write_text(re.sub(r"\n        [78]: [^\n]+", "", text), encoding="utf-8")
    with open_session(load_spec(path)) as session:
        model_path, _, summary = fit_spec(session, force=True)
    assert summary["clusters"] == 7 and summary["noise_share"] == 0
    assert summary["agreement"] >= 0.95
    assert '"n_init": 10' in model_path.read_text()


def test_importing_the_cli_does_not_import_numeric_libraries():
    code = (
        "import sys, semseg.cli, semseg.cluster, semseg.profile; "
        "bad = [m for m in ('numpy', 'sklearn') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_verify_proves_the_cluster_segmentation():
    from semseg.verify import verify

    report = verify(load_spec(SPEC), dialects=["duckdb", "tsql"])
    assert report.passed, report.to_text()
    checks = {c.name: c for c in report.checks}
    assert {"labels:persona", "where:persona", "agreement:persona"} <= set(checks)
    assert not any(n.startswith("rules:") or n.startswith("tiers:") for n in checks)
    assert "other data" not in checks["agreement:persona"].description
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    k = len(model["clusters"])
    rows = report.distribution["persona"]
    assert [r.label for r in rows] == [str(j) for j in range(k)] + ["-1"]
    assert [r.order for r in rows] == list(range(1, k + 2))
    assert sum(r.count for r in rows) == report.rows == 8000
    sizes = [c["size"] for c in model["clusters"]]
    assert all(abs(r.count - n) <= 0.2 * n for r, n in zip(rows, sizes, strict=False))


def test_verify_says_when_the_model_was_fitted_on_other_data(tmp_path):
    """The model records a digest of the rows it was fitted on (issue 11): applied to other
    data, verify's refit answers for this data, and the agreement check says so."""
    from semseg.verify import verify

    shutil.copy(SPEC, tmp_path / SPEC.name)
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    assert len(model["fit"]["data_digest"]) == 16
    model["fit"]["data_digest"] = "0" * 16
    (tmp_path / MODEL.name).write_text(json.dumps(model), encoding="utf-8")
    report = verify(load_spec(tmp_path / SPEC.name), dialects=["duckdb"])
    agreement = {c.name: c for c in report.checks}["agreement:persona"]
    assert "fitted on other data" in agreement.description


def test_verify_catches_a_wrong_cluster_assignment():
    from semseg.verify import verify

    spec_file = load_spec(SPEC)
    swapped = (  # clusters 0 and 1 swapped, and one one-time customer put in cluster 2
        f"WITH m AS ({compile_spec(spec_file, 'duckdb')}) "
        "SELECT * REPLACE (CASE WHEN persona = 0 THEN 1 WHEN persona = 1 THEN 0 "
        "WHEN customer_id = (SELECT MIN(customer_id) FROM m WHERE no_orders = 1) THEN 2 "
        "ELSE persona END AS persona) FROM m"
    )
    report = verify(spec_file, dialects=["duckdb"], model_sql=swapped)
    checks = {c.name: c for c in report.checks}
    assert not report.passed
    assert not checks["labels:persona"].passed  # persona_order no longer matches
    assert checks["where:persona"].failures == 1
    swapped_rows = checks["rule:persona"]  # every row of clusters 0 and 1, and the one
    assert not swapped_rows.passed and swapped_rows.failures > 500
    # The refit is matched to the model's ids by shared members (issue 21), so swapped ids
    # are the rule check's to catch; the agreement says which matching it used.
    agreement = checks["agreement:persona"]
    assert "0→1, 1→0, 2→2" in agreement.description


def test_agreement_matches_the_refit_to_the_model_ids_by_members(tmp_path):
    """A model whose ids came from a lineage (not the fit order) verifies: the refit, which
    knows no history, is matched by shared members (issue 21: a machine that numbered two
    equal-sized clusters the other way round failed agreement at 75.83%)."""
    from semseg.verify import verify

    shutil.copy(SPEC, tmp_path / SPEC.name)
    model = json.loads(MODEL.read_text(encoding="utf-8"))
    moved = {c["id"]: 10 + (c["id"] + 1) % len(model["clusters"]) for c in model["clusters"]}
    for c in model["clusters"] + model["boxes"]:
        key = "id" if "id" in c else "cluster"
        c[key] = moved[c[key]]
    # and listed out of fit order, as a model fitted where two equal-sized clusters came out
    # the other way round: a refit mapped by position disagrees on both
    model["clusters"][0], model["clusters"][1] = model["clusters"][1], model["clusters"][0]
    (tmp_path / MODEL.name).write_text(json.dumps(model), encoding="utf-8")
    spec_text = (tmp_path / SPEC.name).read_text(encoding="utf-8")
    spec_text = spec_text[: spec_text.index("      names:")]  # names of ids 0..8 no more
    (tmp_path / SPEC.name).write_text(spec_text, encoding="utf-8")
    report = verify(load_spec(tmp_path / SPEC.name), dialects=["duckdb"])
    agreement = {c.name: c for c in report.checks}["agreement:persona"]
    assert agreement.passed, agreement
    assert "0→11, 1→12, 2→13" in agreement.description and "8→10" in agreement.description


def test_verifying_a_rules_spec_does_not_import_numeric_libraries():
    code = (
        "import sys; from semseg.spec import load_spec; from semseg.verify import verify; "
        "assert verify(load_spec('segment_specs/customer_rfm.yml'), dialects=['duckdb']).passed; "
        "bad = [m for m in ('numpy', 'sklearn') if m in sys.modules]; "
        "sys.exit(1 if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_clusters_of_identical_rows_keep_their_rows(tmp_path):
    """A clump of identical customers is a cluster whose prototypes sit on them (distance ~0
    after rounding): the stored radius must still hold them, in numpy and in the SQL."""
    import duckdb
    import numpy as np

    from benchmarks.cluster import FEATURES, write_spec
    from semseg.cluster.fit import fit_spec, sql_labels

    rng = np.random.default_rng(1)
    rows = np.vstack(
        [
            np.tile([2, 3, 5, 7, 1], (120, 1)),  # 120 identical customers
            np.tile([4, 1, 1, 2, 9], (80, 1)),  # 80 identical customers
            rng.integers(10, 30, size=(200, len(FEATURES))),  # scattered
        ]
    ).astype(float)
    parquet = tmp_path / "customers.parquet"
    con = duckdb.connect()
    cols = ", ".join(f"0::DOUBLE AS {f}" for f in FEATURES)
    con.execute(f"CREATE TABLE t AS SELECT 0 AS customer_id, {cols} LIMIT 0")
    con.executemany(
        f"INSERT INTO t VALUES (?{', ?' * len(FEATURES)})",
        [[i + 1, *map(float, r)] for i, r in enumerate(rows)],
    )
    con.execute(f"COPY t TO '{parquet.as_posix()}' (FORMAT parquet)")
    con.close()
    spec_file = load_spec(write_spec(tmp_path / "spec", min_cluster_size=50))
    tables = {"customers": parquet}
    with open_session(spec_file, tables=tables) as session:
        _, _, summary = fit_spec(session, force=True)
    local = _local(spec_file, tables=tables)
    fitted = dict(zip(local.features.keys, local.labels.tolist(), strict=True))
    assert fitted[1] != -1 and fitted[121] != -1 and fitted[1] != fitted[121]
    assert len({fitted[k] for k in range(1, 121)}) == 1
    with open_session(spec_file, tables=tables) as session:
        found = sql_labels(session, local.model.segmentation)
    assert all(found[k] == fitted[k] for k in range(1, 201))  # every identical row kept
    assert summary["agreement"] >= 0.99
    assert all(p.radius >= 1e-6 for p in local.model.prototypes)


# --- a model file that does not fit the spec (issue 11) --------------------------------------


def _personas(tmp_path: Path) -> tuple[Path, Path]:
    model = SPECS / "olist_personas.persona.model.json"
    spec = tmp_path / "olist_personas.yml"
    spec.write_text((SPECS / "olist_personas.yml").read_text("utf-8"), "utf-8")
    copy = tmp_path / model.name
    copy.write_text(model.read_text("utf-8"), "utf-8")
    return spec, copy


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda m: [m], "not a JSON object"),
        (lambda m: {**m, "means": m["means"][:-1]}, "means must be"),
        (lambda m: {**m, "stds": [0.0] * len(m["stds"])}, "stds must be positive"),
        (
            lambda m: {**m, "boxes": [{**m["boxes"][0], "upto": {"items_per_order": "1"}}]},
            "a box's above and upto must map every numeric feature",
        ),
        (
            lambda m: {
                **m,
                "boxes": [{**m["boxes"][0], "above": {"items_per_order": float("nan")}}],
            },
            "a box's above and upto must map every numeric feature",
        ),
        (
            lambda m: {**m, "boxes": [{**m["boxes"][0], "cluster": 99}]},
            "a box of cluster 99",
        ),
        (
            lambda m: {**m, "boxes": [{**m["boxes"][0], "equal": {"customer_city": "Atlantis"}}]},
            "categories of the model's vocabulary",
        ),
        (
            lambda m: {**m, "boxes": [{**m["boxes"][0], "upto": {}}]},
            "must map every numeric feature",
        ),
        (
            lambda m: {**m, "prototypes": [{"cluster": 0, "centre": [1.0], "radius": 1.0}]},
            "a prototype centre must be",
        ),
    ],
)
def test_a_damaged_model_file_is_a_clear_error(tmp_path, edit, problem):
    import json

    spec, model = _personas(tmp_path)
    model.write_text(json.dumps(edit(json.loads(model.read_text("utf-8")))), "utf-8")
    result = _run("compile", spec)
    assert result.exit_code == 1 and "cannot read the fitted model" in result.output
    assert problem in result.output, result.output


def test_a_model_fitted_for_other_feature_definitions_is_refused(tmp_path):
    """The names are the same, the expression of a feature is not: only renames were caught."""
    spec, _ = _personas(tmp_path)
    text = spec.read_text("utf-8")
    assert "where: no_orders > 1" in text
    spec.write_text(text.replace("where: no_orders > 1", "where: no_orders > 2"), "utf-8")
    result = _run("compile", spec)
    assert result.exit_code == 1 and "the spec changed since this model was fitted" in result.output
