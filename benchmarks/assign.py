"""Benchmark: the cluster assignment SQL (a prototypes relation) against the two forms before it.

``python -m benchmarks.assign [--rows 1000000] [--repeat 3]`` (``make bench`` runs it) builds
synthetic models (random prototypes in a 5-feature space, written with the spec's fingerprint)
and synthetic customers around them, then times, each run in a fresh DuckDB connection,
``CREATE TEMP TABLE AS`` of each form:

* ``pairwise``: the rule as compiled until issue 14's first change (each prototype compared
  with every later one: text quadratic in the prototypes);
* ``columns``: the rule compiled until the prototypes became a relation (a distance column per
  prototype, the nearest of them, the first prototype at it: text linear in the prototypes,
  but an expression per prototype);
* ``relation, join back``: the relation as compiled until issue 21: the nearest distance
  per row by GROUP BY, joined back to a second reading of the pairs on equal distance (wrong
  on engines that evaluate each reading apart: tests/test_noisy_engine.py);
* ``relation``: today's compiled model (``semseg.compile``): the prototypes a ``VALUES``
  relation, cross-joined to the rows, read once: the nearest per row and its prototype in
  one GROUP BY, DuckDB's ``MIN({'d': distance, 'n': prototype}).n`` (``Target.nearest_of``);
  ``relation, window``: as written for targets without such an aggregate (a window MIN over
  the row's pairs, the lowest prototype at it); also with ``assign_noise: nearest``
  (``relation, nearest``), where every pair is a candidate.

``pairwise``, ``columns`` and the join back are written here, by hand, as the references
(not by the compiler); every form must give the same labels. It also reports the SQL sizes
(the issue's criterion: 100 clusters x 3 prototypes x 20 features under BigQuery's 1 MB; and
ClickHouse's default max_query_size, 256 KB). It writes ``benchmarks/results/assign.md`` and
puts it into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlglot import exp

from benchmarks import REPORT, RESULTS
from benchmarks.time import splice
from semseg.compile import compile_spec
from semseg.compile import plan as plan_module
from semseg.compile.cluster_model import ClusterCentre, FittedModel, Prototype, load_model
from semseg.compile.cluster_sql import pairs_query, prototypes_query
from semseg.compile.dialects import TARGETS
from semseg.spec import load_spec
from semseg.spec.graph import cluster_fingerprint
from semseg.spec.names import distance_column, nearest_column, prototype_columns
from semseg.sql import all_of, column, table

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / ".data" / "assign"
OUT = RESULTS / "assign.md"
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


def _coordinates(model: FittedModel) -> str:
    """The scaled coordinates of every customer (numeric features only, as these models)."""
    zs = ", ".join(
        f"(CAST({f} AS DOUBLE) - {m!r}) / {sd!r} AS z{i}"
        for i, (f, m, sd) in enumerate(zip(model.features, model.means, model.stds, strict=True))
    )
    return f"SELECT customer_id, {', '.join(model.features)}, {zs} FROM customers"


def _distances(model: FittedModel) -> str:
    terms = [
        [f"(z{i} - ({c!r})) * (z{i} - ({c!r}))" for i, c in enumerate(p.centre)]
        for p in model.prototypes
    ]
    return ", ".join(f"{' + '.join(t)} AS d{p}" for p, t in enumerate(terms))


def _guarded(model: FittedModel, label: str) -> str:
    nulls = " OR ".join(f"{f} IS NULL" for f in model.features)
    return f"CAST(CASE WHEN {nulls} THEN -1 ELSE {label} END AS INT)"


def reference_sql(model: FittedModel, form: str) -> str:
    """A hand-written DuckDB query of ``customer_id, segment`` in an earlier form."""
    protos = model.prototypes
    r2 = [repr(p.radius**2) for p in protos]
    inside = [f"d{p} <= {r2[p]}" for p in range(len(protos))]
    if form == "pairwise":  # p wins when it holds the row and no later one of another
        branches = []  # cluster holds it nearer
        for p, proto in enumerate(protos):
            later = [
                f"(NOT {inside[q]} OR d{p} <= d{q})"
                for q in range(p + 1, len(protos))
                if protos[q].cluster != proto.cluster
            ]
            branches.append(f"WHEN {' AND '.join([inside[p], *later])} THEN {proto.cluster}")
        label = f"CASE {' '.join(branches)} ELSE -1 END"
        return (
            f"SELECT customer_id, {_guarded(model, label)} AS segment FROM "
            f"(SELECT *, {_distances(model)} FROM ({_coordinates(model)}))"
        )
    assert form == "columns"  # the nearest held distance, then the first prototype at it
    outside = repr(2 * max(p.radius**2 for p in protos) + 1)
    held = ", ".join(
        f"CASE WHEN {inside[p]} THEN d{p} ELSE {outside} END" for p in range(len(protos))
    )
    branches = " ".join(
        f"WHEN {inside[p]} AND d{p} = nearest THEN {proto.cluster}"
        for p, proto in enumerate(protos)
    )
    return (
        f"SELECT customer_id, {_guarded(model, f'CASE {branches} ELSE -1 END')} AS segment "
        f"FROM (SELECT *, LEAST({held}) AS nearest FROM "
        f"(SELECT *, {_distances(model)} FROM ({_coordinates(model)})))"
    )


def compiled(
    path: Path,
    dialect: str = "duckdb",
    anywhere: bool = False,
    join_back: bool = False,
    window: bool = False,
) -> str:
    """Today's compiled model (``anywhere``: with ``assign_noise: nearest``; ``join_back``:
    with the assignment as it was before issue 21, ``join_back_queries``; ``window``: the
    nearest prototype found as for a target without ``Target.nearest_of``)."""
    if window:
        real_target = TARGETS[dialect]
        TARGETS[dialect] = replace(real_target, nearest_of=None)
        try:
            return compiled(path, dialect, anywhere, join_back)
        finally:
            TARGETS[dialect] = real_target
    if join_back:
        real = plan_module.assignment_queries
        plan_module.assignment_queries = join_back_queries  # type: ignore[assignment]
        try:
            return compiled(path, dialect, anywhere)
        finally:
            plan_module.assignment_queries = real
    if anywhere:
        text = path.read_text(encoding="utf-8")
        nearest = path.with_name("assign_nearest.yml")
        nearest.write_text(
            text.replace("min_cluster_size: 5", "min_cluster_size: 5\n      assign_noise: nearest"),
            encoding="utf-8",
        )
        model = path.parent / "assign.segment.model.json"  # assign_noise is not in the fit
        (path.parent / "assign_nearest.segment.model.json").write_bytes(model.read_bytes())
        return compile_spec(load_spec(nearest), dialect)
    return compile_spec(load_spec(path), dialect)


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


def join_back_queries(model, name, ctes, coordinates, keys, where, anywhere=False):
    """``cluster_sql.assignment_queries`` as it was before issue 21 (a reference written here,
    not by the compiler): the nearest distance by GROUP BY over one reading of the pairs, then
    the pairs read again and joined to it on ``distance = nearest``. Faster in DuckDB, which
    materialises nothing here, and wrong on an engine that evaluates each reading apart
    (tests/test_noisy_engine.py)."""
    (key,) = keys  # a model of one date: rows are keys
    protos, pairs, nearest, assigned = ctes
    number_col, _, radius_col, _ = prototype_columns(name, len(model.dimensions))
    distance, nearest_col = distance_column(name), nearest_column(name)
    source = pairs_query(model, name, ctes, coordinates, keys, where)
    nearest_query = (
        exp.select(column(key), exp.alias_(exp.Min(this=column(distance)), nearest_col))
        .from_(source)
        .group_by(column(key))
    )
    on = all_of(
        exp.EQ(this=column(key, pairs), expression=column(key, nearest)),
        exp.EQ(this=column(distance, pairs), expression=column(nearest_col, nearest)),
    )
    assigned_query = (
        exp.select(
            column(key, pairs),
            exp.alias_(exp.Min(this=column(number_col, pairs)), number_col),
            exp.alias_(exp.Min(this=column(nearest_col, nearest)), nearest_col),
        )
        .from_(source.copy())
        .join(table(nearest), on=on)
        .group_by(column(key, pairs))
    )
    if not anywhere:
        radius = exp.LTE(this=column(distance), expression=column(radius_col))
        nearest_query = nearest_query.where(radius)
        assigned_query = assigned_query.where(
            exp.LTE(this=column(distance, pairs), expression=column(radius_col, pairs))
        )
    return [
        (protos, prototypes_query(model, name)),
        (nearest, nearest_query),
        (assigned, assigned_query),
    ]


FORMS = (
    (9, "pairwise"),
    (9, "columns"),
    (9, "relation, join back"),
    (9, "relation, window"),
    (9, "relation"),
    (100, "columns"),
    (100, "relation, join back"),
    (100, "relation, window"),
    (100, "relation"),
    (100, "relation, nearest, join back"),
    (100, "relation, nearest, window"),
    (100, "relation, nearest"),
)


def _sql(path: Path, form: str) -> str:
    if form.startswith("relation"):
        return compiled(
            path,
            anywhere="nearest" in form,
            join_back=form.endswith("join back"),
            window=form.endswith("window"),
        )
    model = load_model(path.parent / "assign.segment.model.json")
    return reference_sql(model, form)


def measure(rows: int, repeat: int) -> dict[str, Any]:
    import duckdb

    out: dict[str, Any] = {"rows": rows, "cases": [], "differ": {}}
    for clusters, form in FORMS:
        path = write_model(DATA / f"c{clusters}_r{rows}", clusters, 5, rows)
        median, runs = _time(path, _sql(path, form), repeat)
        size = (
            len(compiled(path, "bigquery", "nearest" in form).encode("utf-8"))
            if form.startswith("relation")
            else len(_sql(path, form).encode("utf-8"))
        )
        out["cases"].append(
            {"clusters": clusters, "form": form, "seconds": median, "runs": runs, "bytes": size}
        )
        print(f"{form} {clusters} clusters: {median:.3f}s, {size:,} bytes", flush=True)
    for clusters, forms in (
        (9, ("pairwise", "columns", "relation, join back", "relation, window", "relation")),
        (100, ("columns", "relation, join back", "relation, window", "relation")),
    ):
        path = DATA / f"c{clusters}_r{rows}" / "assign.yml"
        con = duckdb.connect()
        con.execute(
            f"CREATE VIEW customers AS FROM read_parquet('{path.parent / 'customers.parquet'}')"
        )
        first, *rest = (_sql(path, f) for f in forms)
        for form, other in zip(forms[1:], rest, strict=True):
            out["differ"][f"{forms[0]} vs {form} at {clusters}"] = con.execute(
                f"SELECT COUNT(*) FROM (SELECT customer_id, segment FROM ({first})) a "
                f"FULL JOIN (SELECT customer_id, segment FROM ({other})) b USING (customer_id) "
                "WHERE a.segment IS DISTINCT FROM b.segment"
            ).fetchone()[0]
        con.close()
    big = write_model(DATA / "c100_f20", 100, 20)
    out["big_bytes"] = {
        d: len(compiled(big, d).encode("utf-8")) for d in ("bigquery", "clickhouse")
    }
    return out


def render(r: dict[str, Any], repeat: int) -> str:
    base = next(c for c in r["cases"] if c["form"] == "columns" and c["clusters"] == 9)
    lines = [
        f"{HEADING} (`benchmarks/assign.py`)",
        "",
        f"Generated by `python -m benchmarks.assign` ({r['rows']:,} synthetic customers, 5 "
        f"features, 3 prototypes per cluster, each customer near a random prototype; DuckDB, "
        f"median of {repeat} runs, each a fresh connection). `pairwise` and `columns` are the "
        "two earlier forms of the rule, written by hand in the benchmark as references; "
        "`relation` is today's compiled model, which reads the pairs once and takes the "
        "nearest prototype in one GROUP BY (DuckDB's MIN of a struct), `relation, window` the "
        "same for targets without such an aggregate (a window MIN over the row's pairs), "
        "`relation, join back` the form before issue 21, which joined a second reading of "
        "the pairs to the nearest distance on equality (wrong on engines that evaluate a CTE "
        "per reference); `nearest`: with `assign_noise: nearest`.",
        "",
        "| clusters | form | seconds | vs columns at 9 | SQL bytes (BigQuery for relation) |",
        "|---:|---|---:|---:|---:|",
    ]
    for c in r["cases"]:
        lines.append(
            f"| {c['clusters']} | {c['form']} | {c['seconds']:.3f} | "
            f"{c['seconds'] / base['seconds']:.2f} | {c['bytes']:,} |"
        )
    limits = {"bigquery": 1_048_576, "clickhouse": 262_144}
    lines.append("")
    for case, n in r["differ"].items():
        lines.append(
            f"- same labels, {case} clusters: {'**PASS**' if n == 0 else '**FAIL**'} ({n} differ)"
        )
    for dialect, size in r["big_bytes"].items():
        ok = size < limits[dialect]
        lines.append(
            f"- 100 clusters x 3 prototypes x 20 features: {size:,} bytes of {dialect} SQL "
            f"(limit {limits[dialect]:,}): {'**PASS**' if ok else '**FAIL**'}"
        )
    lines += [
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
    splice(REPORT, section, HEADING)
    print(section)
    return 0 if not any(result["differ"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
