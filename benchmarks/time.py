"""Benchmark: windows cost (nearly) nothing: offer_trend vs offer_seeker, and vs hand-written SQL.

``python -m benchmarks.time [--sizes 10000000] [--repeat 5]`` (``make bench`` runs it) uses the
synthetic order lines of ``benchmarks.data`` (2023-01-01 to 2025-11-30) and times, each run in
a fresh Python subprocess with a fresh DuckDB connection, ``CREATE TEMP TABLE AS`` of:

* ``offer_seeker``: the compiled segment_specs/offer_seeker.yml (no time);
* ``offer_trend``: the compiled segment_specs/offer_trend.yml as of 2025-11-30 (three windows,
  days since the last order, active months, point-in-time filter);
* ``hand``: offer_trend written by hand in the seed's style, one CTE per window.

Criteria (issue 12): offer_trend/offer_seeker <= 1.3 and offer_trend/hand <= 1.0. Before the
timed rounds, one run checks that the hand-written SQL and the compiled SQL give the same rows.
It writes ``benchmarks/results/time.md`` and puts it at the end of ``BENCHMARKS.md`` (replacing
its earlier figures); ``benchmarks.run`` appends the same file when it rewrites BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks import REPORT, RESULTS

ROOT = Path(__file__).resolve().parent.parent
OUT = RESULTS / "time.md"
HEADING = "## Time windows: offer_trend"
AS_OF = "2025-11-30"
MAX_VS_NO_TIME = 1.3
MAX_VS_HAND = 1.0

HAND = f"""
WITH customers AS (
  SELECT DISTINCT unified_customer_id FROM int_customers WHERE unified_customer_id IS NOT NULL
), sales AS (
  SELECT * FROM int_order_lines
  WHERE unified_customer_id IS NOT NULL AND transaction_type = 'Sale'
    AND order_date <= DATE '{AS_OF}'
), recent_offers AS (
  SELECT unified_customer_id, COUNT(DISTINCT unified_order_id) AS n FROM sales
  WHERE has_discount = 1 AND order_date > DATE '{AS_OF}' - INTERVAL 90 DAY
  GROUP BY unified_customer_id
), earlier_offers AS (
  SELECT unified_customer_id, COUNT(DISTINCT unified_order_id) AS n FROM sales
  WHERE has_discount = 1 AND order_date > DATE '{AS_OF}' - INTERVAL 455 DAY
    AND order_date <= DATE '{AS_OF}' - INTERVAL 90 DAY
  GROUP BY unified_customer_id
), recent_orders AS (
  SELECT unified_customer_id, COUNT(DISTINCT unified_order_id) AS n FROM sales
  WHERE order_date > DATE '{AS_OF}' - INTERVAL 90 DAY
  GROUP BY unified_customer_id
), history AS (
  SELECT unified_customer_id, DATE '{AS_OF}' - MAX(order_date) AS days_since_last_order,
    COUNT(DISTINCT year(order_date) * 12 + month(order_date)) AS active_months
  FROM sales GROUP BY unified_customer_id
), metrics AS (
  SELECT c.unified_customer_id,
    COALESCE(ro.n, 0) AS recent_offer_orders, COALESCE(eo.n, 0) AS earlier_offer_orders,
    COALESCE(r.n, 0) AS recent_orders, h.days_since_last_order,
    COALESCE(h.active_months, 0) AS active_months
  FROM customers c
  LEFT JOIN recent_offers ro USING (unified_customer_id)
  LEFT JOIN earlier_offers eo USING (unified_customer_id)
  LEFT JOIN recent_orders r USING (unified_customer_id)
  LEFT JOIN history h USING (unified_customer_id)
)
SELECT *,
  CASE WHEN recent_offer_orders >= 1 AND earlier_offer_orders = 0 THEN 'New Offer Seeker'
       WHEN recent_offer_orders >= 1 THEN 'Steady Offer Seeker'
       WHEN earlier_offer_orders >= 1 THEN 'Lapsed Offer Seeker'
       ELSE 'Non-Offer User' END AS offer_trend,
  CASE WHEN recent_offer_orders >= 1 AND earlier_offer_orders = 0 THEN 1
       WHEN recent_offer_orders >= 1 THEN 2
       WHEN earlier_offer_orders >= 1 THEN 3
       ELSE 4 END AS offer_trend_order
FROM metrics
"""


def _sql(kind: str) -> str:
    if kind == "hand":
        return HAND
    from semseg.compile import compile_spec
    from semseg.spec import load_spec

    spec_file = load_spec(ROOT / "segment_specs" / f"{kind}.yml")
    return compile_spec(spec_file.with_as_of(date.fromisoformat(AS_OF)), "duckdb")


def worker(kind: str, paths: dict[str, str], threads: int) -> dict[str, Any]:
    from benchmarks.run import _connect

    con = _connect(paths, threads)
    if kind == "same":  # hand-written and compiled offer_trend: the same rows
        compiled = _sql("offer_trend")
        diff = con.execute(
            f"SELECT COUNT(*) FROM ((({compiled}) EXCEPT ALL ({HAND})) UNION ALL "
            f"(({HAND}) EXCEPT ALL ({compiled})))"
        ).fetchone()[0]
        rows = con.execute(f"SELECT COUNT(*) FROM ({HAND})").fetchone()[0]
        return {"differences": diff, "rows": rows}
    return time_query(con, _sql(kind))


def time_query(con, sql: str) -> dict[str, Any]:
    """``CREATE TEMP TABLE AS`` of ``sql`` in ``con``, timed: its seconds (wall and CPU), its
    rows and the process's peak RSS. Shared by the benchmarks that time one query per run."""
    from benchmarks.run import _rss_mb

    t0, c0 = time.perf_counter(), time.process_time()
    con.execute(f"CREATE TEMP TABLE bench_result AS {sql}")
    out = {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0}
    out["rows"] = con.execute("SELECT COUNT(*) FROM bench_result").fetchone()[0]
    out["peak_rss_mb"] = _rss_mb()
    return out


def log(msg: str) -> None:
    """A benchmark's progress, on standard error."""
    print(msg, file=sys.stderr, flush=True)


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def runs_lines(results: list[dict[str, Any]]) -> list[str]:
    """The tail of a section: every timed run's seconds, in run order, per size."""
    lines = ["", "All timed runs (seconds, in run order):", ""]
    for r in results:
        runs = "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in r["runs"].items())
        lines.append(f"- {r['lines']:,}: {runs}")
    return lines


def run_worker(module: str, kind: str, paths: dict[str, Path], threads: int) -> dict[str, Any]:
    """``python -m <module> --worker`` for one ``kind``, in a fresh process: its JSON result
    (the last line of its output). Shared by the benchmarks that time one query per run."""
    payload = json.dumps(
        {"kind": kind, "paths": {t: str(p) for t, p in paths.items()}, "threads": threads}
    )
    proc = subprocess.run(
        [sys.executable, "-m", module, "--worker", payload],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _run(kind: str, paths: dict[str, Path], threads: int) -> dict[str, Any]:
    return run_worker("benchmarks.time", kind, paths, threads)


KINDS = ("offer_seeker", "offer_trend", "hand")


def measure(lines: int, repeat: int, threads: int) -> dict[str, Any]:
    from benchmarks.data import ensure_dataset

    paths = ensure_dataset(lines, threads=threads, log=log)
    same = _run("same", paths, threads)
    timed = timed_rounds("benchmarks.time", KINDS, paths, threads, repeat, lines, log)
    median = timed["median"]
    return {
        "lines": lines,
        "same": same,
        **timed,
        "vs_no_time": median["offer_trend"] / median["offer_seeker"],
        "vs_hand": median["offer_trend"] / median["hand"],
    }


def timed_rounds(
    module: str,
    kinds: Sequence[str],
    paths: dict[str, Path],
    threads: int,
    repeat: int,
    lines: int,
    log,
) -> dict[str, Any]:
    """Each kind once to warm the OS file cache (discarded), then ``repeat`` rounds, every
    other one in reverse order, each run a fresh ``module`` worker: the median seconds, every
    run's seconds, the peak RSS and the row count of each kind."""
    for kind in kinds:
        run_worker(module, kind, paths, threads)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(repeat):
        order = kinds if i % 2 == 0 else tuple(reversed(kinds))
        for kind in order:
            runs[kind].append(run_worker(module, kind, paths, threads))
            log(f"[{lines:,}] round {i + 1}: {kind} {runs[kind][-1]['seconds']:.3f}s")
    return {
        "median": {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()},
        "runs": {k: [round(r["seconds"], 3) for r in v] for k, v in runs.items()},
        "rss": {k: max(r["peak_rss_mb"] for r in v) for k, v in runs.items()},
        "rows": {k: v[0]["rows"] for k, v in runs.items()},
    }


def render(results: list[dict[str, Any]], repeat: int, threads: int) -> str:
    lines = [
        f"{HEADING} vs offer_seeker and vs hand-written SQL (`benchmarks/time.py`)",
        "",
        f"Generated by `python -m benchmarks.time` ({repeat} timed rounds per size, DuckDB "
        f"threads = {threads}, each run a fresh process; medians). offer_trend is compiled as "
        f"of {AS_OF}: two windowed conditional distinct counts, a windowed distinct count, "
        "days since the last order, active months and the point-in-time filter. `hand` is "
        "the same model written by hand in the seed's style, one CTE per window.",
        "",
        "| order lines | offer_seeker s | offer_trend s | hand-written s | trend/seeker | "
        "trend/hand | peak RSS MB (seeker / trend / hand) | hand = compiled rows |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        m, rss = r["median"], r["rss"]
        same = "yes" if r["same"]["differences"] == 0 else f"NO ({r['same']['differences']})"
        lines.append(
            f"| {r['lines']:,} | {m['offer_seeker']:.3f} | {m['offer_trend']:.3f} | "
            f"{m['hand']:.3f} | **{r['vs_no_time']:.2f}** | **{r['vs_hand']:.2f}** | "
            f"{rss['offer_seeker']:.0f} / {rss['offer_trend']:.0f} / {rss['hand']:.0f} | "
            f"{same} ({r['same']['rows']:,} rows) |"
        )
    lines += [
        "",
        f"- offer_trend/offer_seeker <= {MAX_VS_NO_TIME} at every size: "
        + verdict(all(r["vs_no_time"] <= MAX_VS_NO_TIME for r in results)),
        f"- offer_trend/hand-written <= {MAX_VS_HAND} at every size: "
        + verdict(all(r["vs_hand"] <= MAX_VS_HAND for r in results)),
        "- hand-written and compiled give the same rows: "
        + verdict(all(r["same"]["differences"] == 0 for r in results)),
        *runs_lines(results),
    ]
    return "\n".join(lines) + "\n"


def splice(report: Path, section: str, heading: str = HEADING) -> None:
    """Put ``section`` (which starts with ``heading``) in the report: in place of an earlier
    one, up to the next ``## `` heading, or at the end."""
    text = report.read_text(encoding="utf-8") if report.exists() else "# Benchmarks\n"
    start = text.find("\n" + heading)
    if start < 0:
        report.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = text.find("\n## ", start + 1 + len(heading))
    rest = "" if end < 0 else "\n" + text[end + 1 :]
    report.write_text(text[:start].rstrip("\n") + "\n\n" + section + rest, encoding="utf-8")


def bench_main(
    argv: Sequence[str] | None,
    doc: str | None,
    sizes: str,
    worker,
    measure,
    render,
    out: Path,
    heading: str,
) -> int:
    """The command line of a benchmark module: ``--worker`` runs one timed job, else every
    size is measured, rendered, written to ``out`` and spliced into BENCHMARKS.md."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    ap.add_argument("--sizes", default=sizes)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        print(json.dumps(worker(job["kind"], job["paths"], job["threads"])))
        return 0
    counts = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    results = [measure(n, args.repeat, args.threads) for n in counts]
    section = render(results, args.repeat, args.threads)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(section, encoding="utf-8")
    splice(REPORT, section, heading)
    print(section)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, __doc__, "1000000,10000000", worker, measure, render, OUT, HEADING)


if __name__ == "__main__":
    raise SystemExit(main())
