"""Benchmark: compiled offer_seeker SQL vs the seed's hand-written SQL, and ``semseg verify``.

``python -m benchmarks.run [--sizes 1000000,10000000] [--repeat 5]`` (``make bench``) generates
(or reuses) synthetic order lines with ``benchmarks.data``, then per size:

* a warm-up round (seed, compiled, verify) with DuckDB's JSON profiler on for the two bare
  queries: DuckDB's own peak buffer memory and the slowest operators come from it, its times
  are discarded;
* ``--repeat`` timed rounds, each running the seed SQL, the compiled SQL (order alternating
  per round) and ``semseg.verify.verify()``; every run is a fresh Python subprocess with a
  fresh in-process DuckDB connection (``SET threads`` = the core count), so peak RSS
  (``ru_maxrss``) is per run and runs cannot warm each other's DuckDB state;
* one diagnostic run (not timed for the criteria): checks that seed and compiled results are
  equal row for row, and times every query verify makes, one by one.

It writes ``BENCHMARKS.md`` (repository root) and the raw figures to
``benchmarks/.data/results.json``, and prints whether the acceptance criteria hold:
compiled/seed <= 1.0, verify/bare <= 3.0, peak RSS < 2 GB at 10M lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import REPORT
from benchmarks import RESULTS as RESULTS_DIR

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "segment_specs" / "offer_seeker.yml"
OUT = REPORT
RESULTS = Path(__file__).resolve().parent / ".data" / "results.json"
TABLES = ("int_customers", "int_order_lines")
MAX_RATIO = 1.0
MAX_VERIFY_RATIO = 3.0
MAX_RSS_MB = 2048
RSS_SIZE = 10_000_000  # the size at which the memory criterion applies

# --------------------------------------------------------------------------- worker side


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux: ru_maxrss is in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _model_sql(kind: str) -> str:
    if kind == "seed":
        from tests.seed_sql import SEED_OFFER_SEEKER_SQL

        return SEED_OFFER_SEEKER_SQL
    from semseg.compile import compile_spec
    from semseg.spec import load_spec

    return compile_spec(load_spec(SPEC), "duckdb")


def _connect(paths: dict[str, str], threads: int):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    for table, path in paths.items():
        quoted = "'" + path.replace("'", "''") + "'"
        con.execute(f"CREATE TEMP VIEW {table} AS SELECT * FROM read_parquet({quoted})")
    return con


def _operators(node: dict[str, Any], out: list[tuple[float, str, str]]) -> None:
    # the profile's root lists its plan under "operator", operators under "children"
    for child in node.get("children") or node.get("operator") or []:
        extra = child.get("extra_info") or {}
        detail = ""
        for key in ("Groups", "Aggregates", "Join Type", "CTE Name", "Function"):
            value = extra.get(key)
            if value:
                text = value if isinstance(value, str) else ", ".join(map(str, value))
                detail += f"{'; ' if detail else ''}{key}: {text}"
        out.append((float(child.get("timing") or 0.0), str(child.get("type")), detail[:120]))
        _operators(child, out)


def _bare(kind: str, paths: dict[str, str], threads: int, profile: bool) -> dict[str, Any]:
    sql = _model_sql(kind)
    con = _connect(paths, threads)
    prof_file = None
    if profile:
        fd, prof_file = tempfile.mkstemp(prefix="semseg-bench-", suffix=".json")
        os.close(fd)
        con.execute("SET enable_profiling = 'json'")
        con.execute(f"SET profiling_output = '{prof_file}'")
    base = _current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TEMP TABLE bench_result AS {sql}")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    out: dict[str, Any] = {"seconds": seconds, "cpu_seconds": cpu, "base_rss_mb": base}
    if prof_file is not None:
        con.execute("SET enable_profiling = 'no_output'")
        try:
            prof = json.loads(Path(prof_file).read_text())
            system = prof.get("system", {})
            out["duckdb_peak_buffer_mb"] = system.get("peak_buffer_memory", 0) / 2**20
            out["duckdb_peak_temp_mb"] = system.get("peak_temp_dir_size", 0) / 2**20
            ops: list[tuple[float, str, str]] = []
            _operators(prof, ops)
            out["operators"] = sorted(ops, reverse=True)[:6]
        except (OSError, ValueError, AttributeError):
            pass
        finally:
            Path(prof_file).unlink(missing_ok=True)
    out["rows"] = con.execute("SELECT COUNT(*) FROM bench_result").fetchone()[0]
    con.close()
    return out


def _patch_threads(threads: int) -> None:
    """verify() opens its own connection: give it the same explicit thread count."""
    import duckdb

    original = duckdb.connect
    if getattr(original, "_bench_threads", None) == threads:
        return

    def connect(*args: Any, **kwargs: Any):
        con = original(*args, **kwargs)
        con.execute(f"SET threads = {threads}")
        return con

    connect._bench_threads = threads  # type: ignore[attr-defined]
    duckdb.connect = connect  # type: ignore[assignment]


def _verify(paths: dict[str, str], threads: int) -> dict[str, Any]:
    from semseg.spec import load_spec
    from semseg.verify import verify

    _patch_threads(threads)
    spec_file = load_spec(SPEC)
    tables = {t: Path(p) for t, p in paths.items()}
    base = _current_rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    report = verify(spec_file, tables=tables, progress=lambda _msg: None)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "base_rss_mb": base,
        "passed": report.passed,
        "rows": report.rows,
        "parts": report.seconds,
        "failed": [c.name for c in report.checks if not c.passed],
    }


def _timed(con, sql: str) -> float:
    t0 = time.perf_counter()
    con.execute(sql).fetchall()
    return time.perf_counter() - t0


def _diagnose(paths: dict[str, str], threads: int) -> dict[str, Any]:
    """Seed == compiled row for row; then each query verify makes, timed one by one."""
    from semseg.spec import load_spec
    from semseg.verify import NUMERIC
    from semseg.verify.checks import (
        grain_check,
        metric_checks,
        population_check,
        segmentation_checks,
    )
    from semseg.verify.proof import RESULT

    con = _connect(paths, threads)
    out: dict[str, Any] = {}
    con.execute(f"CREATE TEMP TABLE seed_result AS {_model_sql('seed')}")
    t0 = time.perf_counter()
    con.execute(f"CREATE TEMP TABLE {RESULT} AS {_model_sql('compiled')}")
    steps = [("model (CREATE TEMP TABLE)", time.perf_counter() - t0)]
    diff = con.execute(
        f"SELECT (SELECT COUNT(*) FROM (SELECT * FROM seed_result EXCEPT ALL "
        f"SELECT * FROM {RESULT})), (SELECT COUNT(*) FROM (SELECT * FROM {RESULT} "
        f"EXCEPT ALL SELECT * FROM seed_result)), (SELECT COUNT(*) FROM seed_result)"
    ).fetchone()
    out["seed_only"], out["compiled_only"], out["rows"] = diff
    con.execute("DROP TABLE seed_result")
    spec_file = load_spec(SPEC)
    spec = spec_file.spec
    described = con.execute(f"DESCRIBE {RESULT}").fetchall()
    numeric = {r[0]: str(r[1]).upper().startswith(NUMERIC) for r in described}
    steps.append(("DESCRIBE + COUNT(*)", _timed(con, f"SELECT COUNT(*) FROM {RESULT}")))
    checks = [
        grain_check(spec),
        population_check(spec),
        *segmentation_checks(spec_file),
        *metric_checks(spec, numeric),
    ]
    for check in checks:
        sql = f"SELECT *, COUNT(*) OVER () FROM ({check.sql}) LIMIT 5"
        steps.append((f"check {check.name}", _timed(con, sql)))
    try:  # verify internals: diagnostic only, skipped if they change
        from semseg.compile.dialects import TARGETS
        from semseg.data import connect as verify_connect
        from semseg.verify import _dialect_check, _distribution, _spec_checks

        rows = out["rows"]
        t0 = time.perf_counter()
        _spec_checks(con, spec_file, rows)
        steps.append(("spec checks (share_between …)", time.perf_counter() - t0))
        t0 = time.perf_counter()
        _distribution(con, spec_file, rows, numeric)
        steps.append(("segment distribution", time.perf_counter() - t0))
        t0 = time.perf_counter()
        from semseg.compile import canonical_query

        _dialect_check(spec_file, list(TARGETS), canonical_query(spec, spec_file.path))
        steps.append(("dialect re-parse (all targets)", time.perf_counter() - t0))
        _patch_threads(threads)
        t0 = time.perf_counter()
        verify_con, _ = verify_connect(spec_file, None, {t: Path(p) for t, p in paths.items()})
        steps.append(("load (views + column checks)", time.perf_counter() - t0))
        verify_con.close()
    except Exception as err:  # noqa: BLE001 - diagnostic only
        steps.append((f"(verify internals unavailable: {type(err).__name__})", 0.0))
    con.close()
    out["steps"] = steps
    return out


def worker(kind: str, paths: dict[str, str], threads: int, profile: bool) -> dict[str, Any]:
    if kind in ("seed", "compiled"):
        result = _bare(kind, paths, threads, profile)
    elif kind == "verify":
        result = _verify(paths, threads)
    elif kind == "diagnose":
        result = _diagnose(paths, threads)
    else:
        raise ValueError(kind)
    result["peak_rss_mb"] = _rss_mb()
    return result


# --------------------------------------------------------------------------- driver side


def _run_worker(
    kind: str, paths: dict[str, Path], threads: int, profile: bool = False
) -> dict[str, Any]:
    payload = json.dumps(
        {
            "kind": kind,
            "paths": {t: str(p) for t, p in paths.items()},
            "threads": threads,
            "profile": profile,
        }
    )
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--worker", payload],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def measure_size(
    lines: int, repeat: int, threads: int, log: Callable[[str], None]
) -> dict[str, Any]:
    from benchmarks.data import customers_for, ensure_dataset

    paths = ensure_dataset(lines, threads=threads, log=log)
    runs: dict[str, list[dict[str, Any]]] = {"seed": [], "compiled": [], "verify": []}
    log(f"[{lines:,}] warm-up (profiled)")
    warm = {
        "seed": _run_worker("seed", paths, threads, profile=True),
        "compiled": _run_worker("compiled", paths, threads, profile=True),
        "verify": _run_worker("verify", paths, threads),
    }
    for i in range(repeat):
        order = ("seed", "compiled") if i % 2 == 0 else ("compiled", "seed")
        for kind in (*order, "verify"):
            runs[kind].append(_run_worker(kind, paths, threads))
        log(
            f"[{lines:,}] round {i + 1}/{repeat}: "
            + ", ".join(f"{k} {runs[k][-1]['seconds']:.3f}s" for k in runs)
        )
    log(f"[{lines:,}] diagnostics")
    diag = _run_worker("diagnose", paths, threads)

    seed = _median([r["seconds"] for r in runs["seed"]])
    comp = _median([r["seconds"] for r in runs["compiled"]])
    ver = _median([r["seconds"] for r in runs["verify"]])
    seed_cpu = _median([r["cpu_seconds"] for r in runs["seed"]])
    comp_cpu = _median([r["cpu_seconds"] for r in runs["compiled"]])
    parts = {
        key: _median([r["parts"].get(key, 0.0) for r in runs["verify"]])
        for key in runs["verify"][0]["parts"]
    }
    return {
        "lines": lines,
        "customers": customers_for(lines),
        "parquet_bytes": {t: p.stat().st_size for t, p in paths.items()},
        "runs": runs,
        "warmup": warm,
        "diagnose": diag,
        "seed_s": seed,
        "compiled_s": comp,
        "ratio": comp / seed,
        "seed_cpu_s": seed_cpu,
        "compiled_cpu_s": comp_cpu,
        "cpu_ratio": comp_cpu / seed_cpu,
        "verify_s": ver,
        "verify_ratio": ver / comp,
        "verify_vs_seed": ver / seed,
        "verify_parts": parts,
        "verify_passed": all(r["passed"] for r in runs["verify"]),
        "rss_mb": {
            k: max(r["peak_rss_mb"] for r in (*runs[k], warm[k])) for k in ("seed", "compiled")
        }
        | {"verify": max(r["peak_rss_mb"] for r in (*runs["verify"], warm["verify"]))},
        "base_rss_mb": min(r["base_rss_mb"] for r in runs["compiled"]),
        "duckdb_peak_mb": {
            k: warm[k].get("duckdb_peak_buffer_mb", float("nan")) for k in ("seed", "compiled")
        },
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("nan")


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info(threads: int) -> dict[str, Any]:
    import duckdb
    import sqlglot

    import semseg

    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = os.cpu_count() or 1
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "threads": threads,
        "memory_gb": round(_mem_total_gb(), 1),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "sqlglot": sqlglot.__version__,
        "semseg": semseg.__version__,
        "commit": _git("rev-parse", "--short", "HEAD")
        + (" (+ uncommitted changes)" if _git("status", "--porcelain", "--", "semseg") else ""),
        "loadavg_start": os.getloadavg(),
    }


def _f(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}"


def render(info: dict[str, Any], results: list[dict[str, Any]], repeat: int) -> str:
    ok_ratio = all(r["ratio"] <= MAX_RATIO for r in results)
    ok_verify = all(r["verify_ratio"] <= MAX_VERIFY_RATIO for r in results)
    big = [r for r in results if r["lines"] >= RSS_SIZE]
    ok_rss = all(max(r["rss_mb"].values()) < MAX_RSS_MB for r in big) if big else None
    ok_pass = all(r["verify_passed"] for r in results)
    sizes = ",".join(str(r["lines"]) for r in results)

    def verdict(ok: bool | None) -> str:
        return "n/a (10M not measured)" if ok is None else ("PASS" if ok else "FAIL")

    load = info["loadavg_start"], info.get("loadavg_end", (float("nan"),) * 3)
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m benchmarks.run "
        f"--sizes {sizes} --repeat {repeat}` (`make bench` runs the defaults); "
        "do not edit by hand.",
        "",
        "## Result",
        "",
        "| size (order lines) | customers | seed SQL median s | compiled SQL median s "
        "| compiled/seed | verify() median s | verify/compiled | verify/seed "
        "| peak RSS MB (seed / compiled / verify) | DuckDB peak buffer MB (seed / compiled) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rss = r["rss_mb"]
        peak = r["duckdb_peak_mb"]
        lines.append(
            f"| {r['lines']:,} | {r['customers']:,} | {_f(r['seed_s'])} | {_f(r['compiled_s'])} "
            f"| **{_f(r['ratio'], 2)}** | {_f(r['verify_s'])} | **{_f(r['verify_ratio'], 2)}** "
            f"| {_f(r['verify_vs_seed'], 2)} "
            f"| {rss['seed']:.0f} / {rss['compiled']:.0f} / {rss['verify']:.0f} "
            f"| {peak['seed']:.0f} / {peak['compiled']:.0f} |"
        )
    lines += [
        "",
        "Acceptance criteria:",
        "",
        f"- compiled/seed ≤ {MAX_RATIO} at every size: **{verdict(ok_ratio)}**",
        f"- verify/compiled bare query ≤ {MAX_VERIFY_RATIO} at every size: "
        f"**{verdict(ok_verify)}**",
        f"- peak memory < {MAX_RSS_MB} MB at {RSS_SIZE:,} lines: **{verdict(ok_rss)}**",
        f"- every verify run passed all its checks: **{verdict(ok_pass)}**",
        "",
        "CPU time (user + system of the whole process while the query runs, all threads; "
        "less sensitive to other load on the machine than wall time):",
        "",
        "| size | seed CPU s | compiled CPU s | compiled/seed (CPU) | seed = compiled rows |",
        "|---:|---:|---:|---:|---|",
    ]
    for r in results:
        d = r["diagnose"]
        same = (
            f"yes ({d['rows']:,} rows)"
            if d["seed_only"] == 0 and d["compiled_only"] == 0
            else f"NO: {d['seed_only']} seed-only, {d['compiled_only']} compiled-only rows"
        )
        lines.append(
            f"| {r['lines']:,} | {_f(r['seed_cpu_s'])} | {_f(r['compiled_cpu_s'])} "
            f"| {_f(r['cpu_ratio'], 2)} | {same} |"
        )
    lines += ["", "All timed runs (seconds, in run order):", ""]
    for r in results:
        lines.append(
            f"- {r['lines']:,}: "
            + "; ".join(
                f"{k} " + ", ".join(_f(x["seconds"]) for x in r["runs"][k])
                for k in ("seed", "compiled", "verify")
            )
        )
    lines += ["", "## Where the time goes", ""]
    for r in results:
        parts = ", ".join(f"{k} {_f(v)} s" for k, v in r["verify_parts"].items())
        lines += [
            f"### {r['lines']:,} order lines",
            "",
            f"`verify()` as it reports itself (medians): {parts}.",
            "",
            "Each query of verify timed alone (one diagnostic run, same connection setup):",
            "",
            "| step | seconds |",
            "|---|---:|",
        ]
        lines += [f"| {name} | {_f(sec)} |" for name, sec in r["diagnose"]["steps"]]
        for kind in ("seed", "compiled"):
            ops = r["warmup"][kind].get("operators") or []
            if not ops:
                continue
            lines += [
                "",
                f"Slowest operators, {kind} SQL (profiled warm-up run; operator seconds "
                "as DuckDB's profiler reports them, summed over threads):",
                "",
                "| operator | seconds | detail |",
                "|---|---:|---|",
            ]
            lines += [
                f"| {op} | {_f(sec)} | {detail.replace('|', '/')} |" for sec, op, detail in ops
            ]
        lines.append("")
    lines += [
        "## Machine",
        "",
        f"- date: {info['date']}",
        f"- CPU: {info['cpu']}, {info['cores']} cores ({info['cores_available']} available "
        f"to this process); DuckDB `SET threads = {info['threads']}` in every connection",
        f"- memory: {info['memory_gb']} GB; platform: {info['platform']}",
        f"- Python {info['python']}, DuckDB {info['duckdb']}, sqlglot {info['sqlglot']}, "
        f"semseg {info['semseg']} at commit {info['commit']}",
        "- load average (1/5/15 min) at start "
        + " / ".join(f"{x:.2f}" for x in load[0])
        + ", at end "
        + " / ".join(f"{x:.2f}" for x in load[1])
        + " (other work on the machine makes wall times noisy; ratios come from "
        "interleaved runs)",
        "",
        "## Method",
        "",
        "- Data: `benchmarks/data.py` generates `int_order_lines` (exactly N rows) and "
        "`int_customers` (4,000 customers per 27,900 lines, the bundled sample's ratio) "
        "with DuckDB SQL: `range()` rows and `hash(key, salt)` pseudo-random columns, the "
        "same recipe, schema, column types, sort order and Parquet settings (zstd) as "
        "`semseg/sample/retail`; cached in `benchmarks/.data/` (git-ignored).",
        "- Bare query: `CREATE TEMP TABLE bench_result AS <sql>` on temp views over the "
        "Parquet files (`SELECT * FROM read_parquet(...)`, as `semseg verify` makes them), in "
        "a fresh in-process DuckDB connection with `SET threads` = the core count. Seed SQL: "
        "`tests/seed_sql.py` `SEED_OFFER_SEEKER_SQL`; compiled SQL: "
        "`compile_spec(load_spec('segment_specs/offer_seeker.yml'), 'duckdb')`.",
        "- verify: the `semseg.verify.verify(spec_file, tables=...)` call end to end (views, "
        "model, every check, distribution, re-parse of every dialect), with "
        "`duckdb.connect` wrapped to `SET threads` to the same count; Python start-up and "
        "`load_spec` are outside the timer.",
        f"- Every run is its own Python subprocess. One warm-up round (discarded), then "
        f"{repeat} rounds of seed, compiled (order swapped every other round) and verify; "
        "figures are medians. Ratios: compiled median / seed median; verify median / "
        "compiled median (verify/seed also shown).",
        "- Peak RSS: `ru_maxrss` of each subprocess (Python + DuckDB + the run; the largest "
        "over warm-up and timed runs). DuckDB peak buffer memory: "
        "`system.peak_buffer_memory` of DuckDB's JSON profiler in the warm-up run.",
        f"- Python + imports + connection before the query: about "
        f"{min(r['base_rss_mb'] for r in results):.0f} MB RSS.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        help="comma-separated numbers of order lines (default: 1000000,10000000)",
    )
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per size")
    parser.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="DuckDB threads (default: the core count)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="Markdown report to write")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when an acceptance criterion fails"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        job = json.loads(args.worker)
        result = worker(job["kind"], job["paths"], job["threads"], job["profile"])
        print(json.dumps(result))
        return 0

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.repeat < 1 or not sizes:
        parser.error("need --repeat >= 1 and at least one size")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    info = machine_info(args.threads)
    results = [measure_size(n, args.repeat, args.threads, log) for n in sizes]
    info["loadavg_end"] = os.getloadavg()
    text = render(info, results, args.repeat)
    for extra in ("cluster.md", "time.md", "assign.md", "cluster_10m.md"):  # make bench runs
        path = RESULTS_DIR / extra  # (make bench runs them first)
        if path.exists():
            text += "\n" + path.read_text()
    args.out.write_text(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": info, "results": results}, indent=1) + "\n")
    summary = text.split("## Where the time goes")[0]
    print(summary.split("## Result", 1)[1].strip())
    print(f"\nwrote {args.out} and {RESULTS}")
    failed = any(r["ratio"] > MAX_RATIO or r["verify_ratio"] > MAX_VERIFY_RATIO for r in results)
    failed |= any(
        max(r["rss_mb"].values()) >= MAX_RSS_MB for r in results if r["lines"] >= RSS_SIZE
    )
    failed |= not all(r["verify_passed"] for r in results)
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
