"""``semseg verify``: run the compiled model in DuckDB on sample data and prove it right.

Cluster segmentations are proven by ``verify.cluster_checks`` (cluster ids, ``cluster.where``,
agreement with a local refit); numpy and the clustering libraries are imported only then.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from semseg.compile import canonical_query, compile_spec, refusals, target_sql
from semseg.compile.dialects import TARGETS, get_target
from semseg.data import open_session, sampled
from semseg.engine import Connection
from semseg.errors import CompileError, DataError, SemsegError
from semseg.progress import terminal_progress
from semseg.spec import SpecFile
from semseg.spec.graph import segment_labels
from semseg.sql import ident, sql_literal, table_sql
from semseg.sql import name_sql as q
from semseg.verify.checks import (
    grain_check,
    key_checks,
    metric_checks,
    population_check,
    segmentation_checks,
)
from semseg.verify.cluster_checks import agreement_check, rule_check
from semseg.verify.predict_checks import predict_checks
from semseg.verify.proof import RESULT, CheckSQL
from semseg.verify.report import CheckResult, SegmentRow, VerifyReport
from semseg.verify.split_checks import split_checks
from semseg.verify.time_checks import point_in_time_check

__all__ = ["verify", "VerifyReport"]
EXAMPLES = 5
NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
)


def verify(
    spec_file: SpecFile,
    data: Path | None = None,
    tables: dict[str, Path] | None = None,
    dialects: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    model_sql: str | None = None,
    as_of: date | str | None = None,
    engine: Connection | None = None,
    sample: float | None = None,
    refit: bool = True,
) -> VerifyReport:
    """Run the model and every check; ``DataError`` when data does not fit the spec.

    ``model_sql`` replaces the compiled model by another DuckDB query (e.g. a hand-written
    one) so that it is proven against the spec instead. ``engine``: the model runs there, in
    its dialect (``model_sql`` then is in that dialect), over the engine's tables; the proofs
    run here in DuckDB over a copy of the same tables read from the engine. ``sample``
    (with ``engine``): those tables are read for the keys the portable hash puts in a sample
    of this fraction; the proofs that recompute from them (population, metrics, time) run on
    the model's rows of those keys, the others on every row of the model. ``refit=False``:
    a cluster model's labels are proven as its rule gives them, without the agreement with
    a local refit (a history's past dates: the model was fitted at another).
    """
    spec = spec_file.spec
    show = progress or terminal_progress()
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    if engine is not None:
        show(f"reading the spec's tables from {engine.description}…")
    session = open_session(spec_file, data, tables, as_of, engine=engine, sample=sample)
    spec_file = session.spec_file  # with its as-of date resolved for this data
    spec = spec_file.spec
    if session.as_of_note:
        show(session.as_of_note)
    con = session.con
    seconds["load"] = time.perf_counter() - t0
    pool = ThreadPoolExecutor(max_workers=1)
    stop = threading.Event()  # set on the way out: an error need not wait for the re-parse
    try:
        show("running the model…")
        t0 = time.perf_counter()
        try:  # one plan and parse serve the model and every dialect
            canonical: exp.Expression | None = canonical_query(spec_file.spec, spec_file.path)
        except CompileError:
            if model_sql is None:
                raise
            canonical = None  # proving a hand-written model: the dialect check reports it
        local = compile_spec(spec_file, "duckdb", canonical=canonical) if canonical else None
        sql = model_sql if model_sql is not None and engine is None else local
        # The dialect check is pure Python (sqlglot) and DuckDB releases the GIL while it
        # works, so the check runs beside the queries instead of after them.
        dialect_result = pool.submit(
            _dialect_check,
            spec_file,
            dialects or list(TARGETS),
            canonical,
            stop,
            not dialects,
            engine.dialect if engine is not None else None,
        )
        engine_note, rows_of_sample, in_time_against = "", RESULT, RESULT
        if engine is not None:
            on_engine = model_sql or compile_spec(spec_file, engine.dialect, canonical=canonical)
            show(f"running the model on {engine.description}…")
            session.load_result(engine.arrow(on_engine), local, RESULT)
            if model_sql is not None:
                sql = None  # the engine's own query: no DuckDB form to re-run in time
            if sample is not None:
                rows_of_sample = _sampled_rows(con, spec, sample)
                if sql is not None:  # the time check compares within the sample
                    in_time_against = session.load(sql, SAMPLE_MODEL)
            engine_note = _engine_note(
                con, engine, session.source.tables, model_sql is not None, sample
            )
        else:
            assert sql is not None
            session.load(sql, RESULT, hand_written=model_sql is not None)
        seconds["model"] = time.perf_counter() - t0
        described = con.execute(f"DESCRIBE {RESULT}").fetchall()
        numeric = {r[0]: str(r[1]).upper().startswith(NUMERIC) for r in described}
        _require_columns(spec_file, {r[0].lower() for r in described}, model_sql is not None)
        rows = (con.execute(f"SELECT COUNT(*) FROM {RESULT}").fetchone() or (0,))[0]

        t0 = time.perf_counter()
        # The light checks (over the result, and the population) go in one query; each heavy
        # one (recomputing metrics from the sources) runs alone, with its own progress line.
        light = [
            grain_check(spec),
            population_check(spec, rows_of_sample),
            *(check for _, check in key_checks(spec)),
            *segmentation_checks(spec_file),
        ]
        heavy = metric_checks(spec, numeric, rows_of_sample)
        total = len(light) + len(heavy)
        show(f"[1-{len(light)}/{total}] {', '.join(c.name for c in light)}…")
        results = _run_checks(con, light)
        for i, check in enumerate(heavy, len(light) + 1):
            show(f"[{i}/{total}] {check.name}…")
            results += _run_checks(con, [check])
        in_time = (
            point_in_time_check(con, spec, sql, numeric, in_time_against)
            if sql is not None
            else None
        )
        if in_time is not None:
            show("[time] running the model with events after the as-of date…")
            results.append(in_time)
        if sample is not None:
            results = [
                replace(r, description=f"[sample] {r.description}")
                if r.name.startswith(ON_SAMPLE)
                else r
                for r in results
            ]
        results += predict_checks(con, spec_file)
        results += split_checks(con, spec_file)
        results += _spec_checks(con, spec_file, rows)
        seconds["checks"] = time.perf_counter() - t0
        clusters = [n for n, s in spec.segmentations.items() if s.kind == "cluster"]
        if clusters:
            t0 = time.perf_counter()
            for name in clusters:
                show(f"applying {name}'s model to every row outside SQL…")
                results.append(rule_check(session, name))
                if sample is None and refit:  # a refit needs every row: not on a sample
                    show(f"refitting {name} locally to check the agreement…")
                    results.append(agreement_check(session, name))
            seconds["agreement"] = time.perf_counter() - t0
        distribution = _distribution(con, spec_file, rows, numeric)
        t0 = time.perf_counter()
        show("re-parsing every dialect…")
        results.append(dialect_result.result())
        seconds["dialects"] = time.perf_counter() - t0  # the part not overlapped with DuckDB
        show("")
    finally:
        stop.set()
        session.close()
        pool.shutdown(wait=True)
    return VerifyReport(
        spec.name,
        str(spec_file.path),
        session.source.description,
        rows,
        distribution,
        results,
        {k: round(v, 4) for k, v in seconds.items()},
        session.as_of_note,
        engine_note,
    )


SAMPLED = "semseg_result_sampled"  # the model's rows of the sampled keys (--sample)
SAMPLE_MODEL = "semseg_sample_model"  # the DuckDB model over the sampled tables (time check)
ON_SAMPLE = ("population", "metrics:", "time:")  # the checks that recompute from tables


def _sampled_rows(con, spec, fraction: float) -> str:
    """The model's rows whose key is in the sample (the same hash the engine filtered its
    tables with, here in DuckDB's SQL), as TEMP table ``SAMPLED``."""
    key = exp.column(ident(spec.entity.key))
    keep = target_sql(sampled(key, fraction), TARGETS["duckdb"], pretty=False)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SAMPLED} AS SELECT * FROM {RESULT} WHERE {keep}")
    return SAMPLED


def _engine_note(
    con, engine: Connection, tables: dict[str, str], hand_written: bool, sample: float | None
) -> str:
    """Where the model ran, and which rows the proofs covered."""
    counts = []
    for table in tables:
        n = (con.execute(f"SELECT COUNT(*) FROM {table_sql(table)}").fetchone() or (0,))[0]
        counts.append(f"{table} {n:,}")
    what = "your --sql model" if hand_written else f"the model compiled for {engine.dialect}"
    if sample is None:
        return (
            f"model: {what}, run on the engine; proofs: here in DuckDB, over every row of the "
            f"engine's tables ({', '.join(counts)})"
        )
    total = (con.execute(f"SELECT COUNT(*) FROM {RESULT}").fetchone() or (0,))[0]
    kept = (con.execute(f"SELECT COUNT(*) FROM {SAMPLED}").fetchone() or (0,))[0]
    return (
        f"model: {what}, run on the engine over all its rows; sample: {kept:,} of {total:,} "
        f"keys (--sample {sample:g}, the portable hash); the checks marked [sample] ran on "
        f"those keys and the rows read for them ({', '.join(counts)}), the others on every "
        "row of the model; the cluster refit needs every row and is not run"
    )


def _run_checks(con, checks: list[CheckSQL]) -> list[CheckResult]:
    """Run ``checks`` as one query: the first few offenders of each (by key) and their count."""
    union = " UNION ALL ".join(
        f"(SELECT {i}, CAST(o.k AS VARCHAR), CAST(o.d AS VARCHAR), COUNT(*) OVER () "
        f"FROM ({check.sql}) AS o(k, d) ORDER BY 2, 3 LIMIT {EXAMPLES})"
        for i, check in enumerate(checks)
    )
    found: dict[int, list[tuple]] = {}
    try:
        offenders = con.execute(union).fetchall()
    except duckdb.Error as err:  # e.g. a hand-written model (--sql) with a column of odd type
        raise DataError(
            f"check(s) {', '.join(c.name for c in checks)} could not run on the model: "
            f"{str(err).splitlines()[0]} — check the types of the model's columns (labels "
            "text, order columns integer, metrics numeric)"
        ) from None
    for row in offenders:
        found.setdefault(row[0], []).append(row)
    results = []
    for i, check in enumerate(checks):
        rows = sorted(found.get(i, []), key=lambda r: (r[1] is None, r[1] or "", r[2] or ""))
        results.append(
            CheckResult(
                check.name,
                check.description,
                not rows,
                rows[0][3] if rows else 0,
                tuple(f"{r[1]}: {r[2]}" for r in rows),
            )
        )
    return results


def _require_columns(spec_file: SpecFile, have: set[str], hand_written: bool) -> None:
    """The model returns the key, every metric, and each segmentation's label and order."""
    wanted = spec_file.spec.output_columns()
    missing = [c for c in wanted if c.lower() not in have]
    if missing:
        what = "the --sql model" if hand_written else "the compiled model"
        raise DataError(
            f"{spec_file.path}: {what} has no column {', '.join(missing)} — a model proven "
            f"against this spec returns {', '.join(wanted)}"
        )


def _spec_checks(con, spec_file: SpecFile, rows: int) -> list[CheckResult]:
    spec = spec_file.spec
    out = []
    for check in spec.checks:
        seg = check.segmentation or next(
            n for n in spec.segmentations if check.segment in segment_labels(spec, n)
        )
        count = con.execute(
            f"SELECT COUNT(*) FROM {RESULT} WHERE {q(seg)} = {sql_literal(check.segment)}"
        ).fetchone()[0]
        share = count / rows if rows else 0.0
        problems, wanted = [], []
        if check.share_between is not None:
            lo, hi = check.share_between
            wanted.append(f"share in [{lo:g}, {hi:g}]")
            if not lo <= share <= hi:
                problems.append(f"share {share:.4f} outside [{lo:g}, {hi:g}]")
        if check.min_count is not None:
            wanted.append(f"count >= {check.min_count}")
            if count < check.min_count:
                problems.append(f"count {count} < {check.min_count}")
        if check.max_count is not None:
            wanted.append(f"count <= {check.max_count}")
            if count > check.max_count:
                problems.append(f"count {count} > {check.max_count}")
        line = spec_file.marks.at(("checks", spec.checks.index(check)))[0]
        out.append(
            CheckResult(
                f"spec:{seg}={check.segment}",
                f"{', '.join(wanted)} (spec line {line}; actual {count:,} rows, {share:.1%})",
                not problems,
                len(problems),
                tuple(problems),
            )
        )
    return out


def _dialect_check(
    spec_file: SpecFile,
    dialects: list[str],
    canonical: exp.Expression | None,
    stop: threading.Event | None = None,
    every: bool = False,
    engine: str | None = None,
) -> CheckResult:
    """Each dialect's SQL compiles and re-parses. ``every``: the dialects were not chosen, so
    one that refuses the spec (a construct it cannot compute the same way, said by compile)
    is reported as refused, not failed; a dialect asked for must compile."""
    problems, refused = [], []
    for name in dialects:
        if stop is not None and stop.is_set():
            break
        target = get_target(name)
        try:
            sql = compile_spec(spec_file, name, canonical=canonical)
            sqlglot.parse(sql, read=target.sqlglot, error_level=ErrorLevel.RAISE)
        except (SemsegError, sqlglot.errors.SqlglotError) as err:
            if every and isinstance(err, CompileError) and refusals(spec_file, target):
                refused.append(name)  # asked why only when compile said no
            else:
                problems.append(f"{name}: {str(err).splitlines()[0]}")
    compiled = [d for d in dialects if d not in refused]
    description = _dialects_description(compiled, engine)
    if refused:
        description += (
            f"; {', '.join(refused)}: refused by compile (run `semseg compile -d {refused[0]}` "
            "for the reason)"
        )
    return CheckResult(
        "dialects",
        description,
        not problems,
        len(problems),
        tuple(problems[:EXAMPLES]),
    )


def _dialects_description(dialects: list[str], engine: str | None = None) -> str:
    """What the dialect check really proved, per dialect: DuckDB ran here (and ``engine``'s
    dialect on the user's engine, with --engine)."""
    ran = {"duckdb", engine}
    tested = [d for d in dialects if d not in ran and get_target(d).engine]
    rendered = [d for d in dialects if d not in ran and not get_target(d).engine]
    parts = [f"the SQL for {len(dialects)} dialect(s) compiles and re-parses"]
    if engine is not None:
        parts.append(f"{engine}: executed on the engine")
    if "duckdb" in dialects and engine != "duckdb":
        parts.append("duckdb: executed here")
    if tested:
        parts.append(
            f"{', '.join(tested)}: not executed here (their SQL is run by semseg's own "
            "engine and conformance tests)"
        )
    if rendered:
        parts.append(f"{', '.join(rendered)}: rendered only, not executed anywhere")
    return "; ".join(parts)


def _distribution(
    con, spec_file: SpecFile, rows: int, numeric: dict[str, bool]
) -> dict[str, list[SegmentRow]]:
    spec = spec_file.spec
    metrics = [m for m in spec.metrics if numeric.get(m)]
    out = {}
    for name in spec.segmentations:
        avgs = "".join(f", AVG(CAST({q(m)} AS DOUBLE))" for m in metrics)
        label, order = q(name), q(spec.order_column(name))
        found = con.execute(
            f"SELECT {label}, {order}, COUNT(*){avgs} FROM {RESULT} "
            f"GROUP BY {label}, {order} ORDER BY {order}, {label}"
        ).fetchall()
        cluster = spec.segmentations[name].kind == "cluster"
        out[name] = [
            SegmentRow(
                str(r[0]) if cluster and r[0] is not None else r[0],
                r[1],
                r[2],
                r[2] / rows if rows else 0.0,
                dict(zip(metrics, r[3:], strict=True)),
            )
            for r in found
        ]
        if not cluster:  # a declared segment nobody falls in is shown, with 0 rows
            seen = {r.label for r in out[name]}
            empty = [
                SegmentRow(lbl, i, 0, 0.0, dict.fromkeys(metrics))
                for i, lbl in enumerate(segment_labels(spec, name), 1)
                if lbl not in seen
            ]
            out[name] = sorted(
                out[name] + empty, key=lambda r: (r.order is None, r.order or 0, str(r.label))
            )
    return out
