"""verify for specs with cluster segmentations, until ``semseg.verify`` knows the kind.

``verify_cluster`` runs ``semseg.verify.verify`` on the spec without its cluster segmentations
but with the full compiled model as ``model_sql`` (grain, population, metrics), then adds per
cluster segmentation: label/order consistency, -1 outside ``cluster.where``, the agreement of
the assignment SQL with the local fit, and the full spec's dialect re-parse check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from semseg.cluster.assign import fitted_model
from semseg.compiler import SpecFile, compile_spec
from semseg.plan import snippet_sql
from semseg.verify.checks import RESULT, CheckSQL
from semseg.verify.report import CheckResult, VerifyReport

AGREEMENT_MIN = 0.95


def cluster_checks(spec_file: SpecFile, name: str) -> list[CheckSQL]:
    """Set-based checks over the model result (table ``semseg_result``) for one cluster seg."""
    spec = spec_file.spec
    c = spec.segmentations[name].cluster
    assert c is not None
    k = len(fitted_model(spec, name).clusters)
    key, order = spec.entity.key, spec.order_column(name)
    checks = [
        CheckSQL(
            f"labels:{name}",
            f"every row has a cluster id in -1..{k - 1} and its {order}",
            f"SELECT CAST({key} AS VARCHAR), 'cluster ' || COALESCE(CAST({name} AS VARCHAR), "
            f"'NULL') || ' with order ' || COALESCE(CAST({order} AS VARCHAR), 'NULL') "
            f"FROM {RESULT} WHERE {name} IS NULL OR {name} < -1 OR {name} >= {k} "
            f"OR {order} IS DISTINCT FROM CASE WHEN {name} = -1 THEN {k + 1} ELSE {name} + 1 END",
        )
    ]
    if c.where:
        where = snippet_sql(c.where, spec.dialect)
        checks.append(
            CheckSQL(
                f"where:{name}",
                f"rows failing cluster.where ({c.where}) are -1",
                f"SELECT CAST({key} AS VARCHAR), 'cluster ' || CAST({name} AS VARCHAR) || "
                f"' but cluster.where does not hold' FROM {RESULT} "
                f"WHERE {name} <> -1 AND NOT COALESCE(({where}), FALSE)",
            )
        )
    return checks


def verify_cluster(
    spec_file: SpecFile,
    data: Path | None = None,
    tables: dict[str, Path] | None = None,
    dialects: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyReport:
    """``verify`` plus cluster checks and agreement (needs the fitted model files)."""
    from semseg.cluster.fit import fit_local, sql_agreement
    from semseg.verify import _dialect_check, verify
    from semseg.verify.data import connect
    from semseg.verify.report import SegmentRow

    spec = spec_file.spec
    clusters = [n for n, s in spec.segmentations.items() if s.kind == "cluster"]
    full_sql = compile_spec(spec_file, "duckdb")
    kept = {n: s for n, s in spec.segmentations.items() if s.kind != "cluster"}
    stripped = SpecFile(
        spec.model_copy(update={"segmentations": kept, "checks": []}),
        spec_file.path,
        spec_file.marks,
    )
    report = verify(stripped, data, tables, dialects=[], progress=progress, model_sql=full_sql)
    results = [r for r in report.checks if r.name != "dialects"]
    distribution = dict(report.distribution)
    con, _ = connect(spec_file, data, tables)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {RESULT} AS {full_sql}")
        for name in clusters:
            for check in cluster_checks(spec_file, name):
                found = con.execute(
                    f"SELECT *, COUNT(*) OVER () FROM ({check.sql}) LIMIT 5"
                ).fetchall()
                results.append(
                    CheckResult(
                        check.name,
                        check.description,
                        not found,
                        found[0][-1] if found else 0,
                        tuple(f"{r[0]}: {r[1]}" for r in found),
                    )
                )
            rows = con.execute(
                f"SELECT {name}, {spec.order_column(name)}, COUNT(*) FROM {RESULT} "
                f"GROUP BY 1, 2 ORDER BY 2"
            ).fetchall()
            distribution[name] = [
                SegmentRow(str(r[0]), r[1], r[2], r[2] / report.rows if report.rows else 0.0)
                for r in rows
            ]
    finally:
        con.close()
    for name in clusters:
        share = sql_agreement(spec_file, fit_local(spec_file, name, data, tables), data, tables)
        results.append(
            CheckResult(
                f"agreement:{name}",
                f"assignment SQL equals the local fit on >= {AGREEMENT_MIN:.0%} of the "
                f"clustered rows (actual {share:.2%})",
                share >= AGREEMENT_MIN,
                0 if share >= AGREEMENT_MIN else 1,
                () if share >= AGREEMENT_MIN else (f"agreement {share:.4f}",),
            )
        )
    from semseg.dialects import TARGETS

    results.append(_dialect_check(spec_file, dialects or list(TARGETS)))
    return dataclasses.replace(report, checks=results, distribution=distribution)
