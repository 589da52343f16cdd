"""Benchmark: the cluster assignment SQL, linear in prototypes, against the pairwise form.

``python -m benchmarks.assign [--rows 1000000] [--repeat 3]`` (``make bench`` runs it) builds
synthetic models (random prototypes in a 5-feature space, written with the spec's fingerprint)
and synthetic customers around them, then times, each run in a fresh DuckDB connection,
``CREATE TEMP TABLE AS`` of the compiled model:

* ``pairwise``, 9 clusters x 3 prototypes: the rule as compiled until issue 14 (each
  prototype compared with every later one; kept here as ``pairwise_label``, the reference);
* ``linear``, 9 clusters x 3 prototypes: today's rule (the nearest distance, then the first
  prototype at it);
* ``linear``, 100 clusters x 3 prototypes.

It also reports the SQL sizes (BigQuery text; the issue's criterion is 100 clusters x 3
prototypes x 20 features under 1 MB) and checks that both rules give the same labels at 9
clusters. It writes ``benchmarks/results/assign.md`` and puts it into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlglot import exp

from benchmarks.time import splice
from semseg.compile import compile_spec, plan
from semseg.compile.cluster_model import ClusterCentre, FittedModel, Prototype
from semseg.compile.cluster_sql import _num
from semseg.spec import load_spec
from semseg.spec.graph import cluster_fingerprint
from semseg.spec.names import distance_column
from semseg.sql import all_of, any_of, case, column, is_null, number, paren

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / ".data" / "assign"
OUT = Path(__file__).resolve().parent / "results" / "assign.md"
HEADING = "## Cluster assignment SQL"
PER_CLUSTER = 3
SEED = 20261130


def write_model(
    folder: Path, clusters: int, features: int, rows: int = 0, far: float = 0.0
) -> Path:
    """A spec over ``features`` columns of table ``customers``, a random model of
    ``clusters`` x 3 prototypes next to it, and (``rows`` > 0) the customers as parquet:
    each near a random prototype, the first ``far`` share of them far from every one.
    (tests/test_cluster_prototypes.py builds its models here too.)"""
    import duckdb
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    names = [f"f{i}" for i in range(features)]
    metrics = "\n".join(f"  {n}: {{source: customers, agg: max, expr: {n}}}" for n in names)
    path = folder / "assign.yml"
    path.write_text(
        "version: 1\nname: assign\nentity: {name: customer, key: customer_id}\n"
        "sources:\n  customers: {table: customers}\n"
        f"metrics:\n{metrics}\n"
        "segmentations:\n  segment:\n    cluster:\n"
        f"      features: [{', '.join(names)}]\n      min_cluster_size: 5\n",
        encoding="utf-8",
    )
    rng = np.random.default_rng(SEED)
    means, stds = rng.normal(50, 10, features).round(6), rng.uniform(1, 5, features).round(6)
    centres = rng.normal(0, 3, (clusters * PER_CLUSTER, features)).round(6)
    radii = rng.uniform(1.5, 4.0, clusters * PER_CLUSTER).round(6)
    model = FittedModel(
        spec="assign",
        segmentation="segment",
        features=names,
        means=[float(m) for m in means],
        stds=[float(s) for s in stds],
        categorical={},
        clusters=[ClusterCentre(c, 10, [0.0] * features) for c in range(clusters)],
        prototypes=[
            Prototype(p // PER_CLUSTER, [float(v) for v in centres[p]], float(radii[p]))
            for p in range(clusters * PER_CLUSTER)
        ],
        fingerprint=cluster_fingerprint(load_spec(path).spec, "segment"),
    )
    (folder / "assign.segment.model.json").write_text(model.to_json(), encoding="utf-8")
    if rows:
        near = centres[rng.integers(0, len(centres), rows)] + rng.normal(0, 0.8, (rows, features))
        near[: int(rows * far)] += 20  # outside every radius
        values = near * stds + means
        con = duckdb.connect()
        table = {"customer_id": np.arange(rows)} | {n: values[:, i] for i, n in enumerate(names)}
        con.register("src", table)
        con.execute(f"COPY src TO '{folder / 'customers.parquet'}' (FORMAT parquet)")
        con.close()
    return path


def pairwise_label(model: FittedModel, name: str, where: exp.Expression | None) -> exp.Expression:
    """The rule as compiled before issue 14: prototype p wins when its radius holds the row and
    every later prototype of another cluster is farther or does not hold it (text grows with
    the square of the prototypes). The reference for time and labels."""
    protos = model.prototypes
    d = [distance_column(name, p) for p in range(len(protos))]

    def inside(p: int) -> exp.Expression:
        return exp.LTE(this=column(d[p]), expression=_num(protos[p].radius ** 2))

    minus_one = exp.Neg(this=number(1))
    branches = []
    for p, proto in enumerate(protos):
        conds = [inside(p)] + [
            paren(
                any_of(exp.Not(this=inside(q)), exp.LTE(this=column(d[p]), expression=column(d[q])))
            )
            for q in range(p + 1, len(protos))
            if protos[q].cluster != proto.cluster
        ]
        branches.append((all_of(*conds), number(proto.cluster)))
    nearest = case(branches, minus_one.copy())
    guard = any_of(*(is_null(column(f)) for f in model.features))
    label = case([(where, nearest)], minus_one.copy()) if where is not None else nearest
    return exp.cast(case([(guard, minus_one.copy())], label), exp.DataType.build("int"))


def compiled(path: Path, form: str, dialect: str = "duckdb") -> str:
    spec_file = load_spec(path)
    if form == "linear":
        return compile_spec(spec_file, dialect)
    label, nearest = plan.label_sql, plan.nearest_sql
    plan.label_sql, plan.nearest_sql = pairwise_label, lambda *_: number("0.0")
    try:
        return compile_spec(spec_file, dialect)
    finally:
        plan.label_sql, plan.nearest_sql = label, nearest


def _time(path: Path, sql: str, repeat: int) -> tuple[float, list[float]]:
    import duckdb

    runs = []
    for _ in range(repeat):
        con = duckdb.connect()
        con.execute(
            f"CREATE VIEW customers AS FROM read_parquet('{path.parent / 'customers.parquet'}')"
        )
        t0 = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE result AS {sql}")
        runs.append(time.perf_counter() - t0)
        con.close()
    return statistics.median(runs), runs


def measure(rows: int, repeat: int) -> dict[str, Any]:
    import duckdb

    out: dict[str, Any] = {"rows": rows, "cases": []}
    for clusters, form in ((9, "pairwise"), (9, "linear"), (100, "linear")):
        path = write_model(DATA / f"c{clusters}_r{rows}", clusters, 5, rows)
        sql = compiled(path, form)
        median, runs = _time(path, sql, repeat)
        size = len(compiled(path, form, "bigquery").encode("utf-8"))
        out["cases"].append(
            {"clusters": clusters, "form": form, "seconds": median, "runs": runs, "bytes": size}
        )
        print(f"{form} {clusters} clusters: {median:.3f}s, {size:,} bytes", flush=True)
    path = DATA / f"c9_r{rows}"
    con = duckdb.connect()
    con.execute(f"CREATE VIEW customers AS FROM read_parquet('{path / 'customers.parquet'}')")
    a, b = (compiled(path / "assign.yml", f) for f in ("pairwise", "linear"))
    out["differ"] = con.execute(
        f"SELECT COUNT(*) FROM (SELECT customer_id, segment FROM ({a})) p "
        f"JOIN (SELECT customer_id, segment FROM ({b})) l USING (customer_id) "
        "WHERE p.segment <> l.segment"
    ).fetchone()[0]
    big = write_model(DATA / "c100_f20", 100, 20)
    out["big_bytes"] = len(compiled(big, "linear", "bigquery").encode("utf-8"))
    return out


def render(r: dict[str, Any], repeat: int) -> str:
    base = next(c for c in r["cases"] if c["form"] == "pairwise")
    lines = [
        f"{HEADING} (`benchmarks/assign.py`)",
        "",
        f"Generated by `python -m benchmarks.assign` ({r['rows']:,} synthetic customers, 5 "
        f"features, 3 prototypes per cluster, DuckDB, median of {repeat} runs, each a fresh "
        "connection). `pairwise` is the rule compiled before issue 14, `linear` today's.",
        "",
        "| clusters | form | seconds | vs pairwise at 9 | BigQuery SQL bytes |",
        "|---:|---|---:|---:|---:|",
    ]
    for c in r["cases"]:
        lines.append(
            f"| {c['clusters']} | {c['form']} | {c['seconds']:.3f} | "
            f"{c['seconds'] / base['seconds']:.2f} | {c['bytes']:,} |"
        )
    limit = 1_048_576
    lines += [
        "",
        f"- pairwise and linear give the same labels at 9 clusters: "
        f"{'**PASS**' if r['differ'] == 0 else '**FAIL**'} ({r['differ']} differ)",
        f"- 100 clusters x 3 prototypes x 20 features: {r['big_bytes']:,} bytes of BigQuery SQL "
        f"(limit {limit:,}): {'**PASS**' if r['big_bytes'] < limit else '**FAIL**'}",
        "",
        "All timed runs (seconds): "
        + "; ".join(
            f"{c['form']}@{c['clusters']} {', '.join(f'{x:.3f}' for x in c['runs'])}"
            for c in r["cases"]
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    result = measure(args.rows, args.repeat)
    section = render(result, args.repeat)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(section, encoding="utf-8")
    splice(ROOT / "BENCHMARKS.md", section, HEADING)
    print(section)
    return 0 if result["differ"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
