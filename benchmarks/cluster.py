"""Benchmark: a sampled HDBSCAN fit + the assignment SQL vs HDBSCAN fitted on every row.

``python -m benchmarks.cluster [--sizes 100000,1000000] [--repeat 3]`` generates (or reuses)
a synthetic customer table per size in ``benchmarks/.data/cluster/`` (numpy, fixed seed: five
numeric features from seven Gaussian blobs plus 10% uniform noise, one row per customer,
Parquet), writes a spec for it in a temporary folder, then per size measures:

* **end to end** (the real path): ``load_spec`` → ``semseg.cluster.fit.fit_spec`` (features
  through DuckDB, HDBSCAN on the ``cluster.sample_size`` md5 sample, radii, model JSON, and
  its own check of the compiled SQL against the local labels) → ``compile_spec(spec, 'duckdb')``
  run in DuckDB over every customer, labels written to Parquet;
* **references**: the same features (same population standardisation, same
  ``min_cluster_size``, ``min_samples`` left at its default, i.e. equal) fitted directly on
  every row by fast_hdbscan and by ``hdbscan`` when it is installed (up to ``--full-fit-max``
  rows, default 100k), and by scikit-learn's HDBSCAN (one run only, it is several times
  slower; up to ``--sklearn-max`` rows, default 100k; killed after ``--sklearn-timeout``).

Every measurement is a fresh Python subprocess (``python -m benchmarks.cluster --worker …``);
its wall time is taken by the parent from spawn to exit (interpreter start, imports, reading
the data and writing the labels included, for every method alike), its peak RSS is the child's
``ru_maxrss`` as returned by ``os.wait4`` for that child alone (``RUSAGE_CHILDREN`` of a
process with that one child; the parent's own ``RUSAGE_CHILDREN`` would be the maximum over
every child so far). fast_hdbscan compiles its numba functions on first use and caches them
on disk: one untimed warm-up of the end-to-end path and of the fast_hdbscan reference runs
first, so that no timed run pays the compilation (it still pays loading the cache). Timed runs
go one after the other, never in parallel, and methods alternate within each round. Then one
untimed diagnostic end-to-end run per size under cProfile gives where the time goes.

ARI (``sklearn.metrics.adjusted_rand_score``) of the end-to-end labels against the full
fast_hdbscan fit: over every customer with noise (-1) as one more label, and over the
customers that both label as clustered. Import cost: ``python -X importtime -c "import
semseg.cli"``, and a check that no numeric library is in ``sys.modules`` after importing
the CLI or compiling a cluster spec.

Writes the markdown section ``benchmarks/results/cluster.md`` and the raw figures to
``benchmarks/.data/cluster/results.json``; prints whether the criteria hold: at 100k, end to
end faster than the fastest full fit measured; at 1M, end to end < 60 s and < 4 GB peak RSS.
This module imports only the standard library at the top, so a worker's clock starts before
numpy, DuckDB or any clustering library is imported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import RESULTS as RESULTS_DIR

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".data" / "cluster"
OUT = RESULTS_DIR / "cluster.md"
RESULTS = CACHE / "results.json"

GENERATOR_VERSION = 1
SEED = 20240601
BLOBS = 7
FEATURES = ("f1", "f2", "f3", "f4", "f5")
NOISE_SHARE = 0.10
CENTRE_BOX = 10.0  # blob centres uniform in [-10, 10]^5
NOISE_BOX = 14.0  # noise uniform in [-14, 14]^5 (centres ± 3 of the widest spread)
MIN_CLUSTER_SIZE = 50  # the spec default
SAMPLE_SIZE = 20_000  # the spec default: above it, fit on a sample
TITLE = "## Clustering at scale: sampled fit + assignment SQL (`benchmarks/cluster.py`)"
MAX_SECONDS_1M = 60.0
MAX_RSS_MB_1M = 4096.0
NUMERIC_MODULES = ("numpy", "fast_hdbscan", "sklearn", "numba", "hdbscan", "scipy", "pandas")
REFERENCES = ("fast_hdbscan", "hdbscan", "sklearn")

SPEC_TEMPLATE = """\
# Written by benchmarks/cluster.py: one row per customer, five numeric features.
version: 1
name: synthetic_customers
description: Synthetic customers (7 Gaussian blobs in 5 features plus 10% uniform noise).
entity:
  name: customer
  key: customer_id
sources:
  customers:
    table: customers
metrics:
{metrics}
segmentations:
  segment:
    description: HDBSCAN clusters (-1 = noise)
    cluster:
      features: [{features}]
      algorithm: hdbscan
      min_cluster_size: {min_cluster_size}
      sample_size: {sample_size}
"""


# --------------------------------------------------------------------------- data and spec


def make_customers(n: int, seed: int = SEED) -> tuple[dict[str, Any], Any]:
    """Columns ``customer_id`` (1..n) and f1..f5, plus the planted blob per row (-1: noise).

    The blob centres, spreads and weights are drawn first, so they are the same at every ``n``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-CENTRE_BOX, CENTRE_BOX, size=(BLOBS, len(FEATURES)))
    spreads = rng.uniform(0.6, 1.4, size=BLOBS)
    weights = rng.uniform(0.5, 1.5, size=BLOBS)
    weights /= weights.sum()
    n_noise = round(n * NOISE_SHARE)
    blob = rng.choice(BLOBS, size=n - n_noise, p=weights)
    points = centres[blob] + rng.normal(size=(n - n_noise, len(FEATURES))) * spreads[blob, None]
    noise = rng.uniform(-NOISE_BOX, NOISE_BOX, size=(n_noise, len(FEATURES)))
    values = np.vstack([points, noise])
    truth = np.concatenate([blob, np.full(n_noise, -1)])
    order = rng.permutation(n)
    values, truth = values[order], truth[order]
    columns: dict[str, Any] = {"customer_id": np.arange(1, n + 1, dtype=np.int64)}
    for i, name in enumerate(FEATURES):
        columns[name] = np.ascontiguousarray(values[:, i])
    return columns, truth


def write_customers(folder: Path, n: int, seed: int = SEED) -> Path:
    """``folder/customers.parquet`` and ``folder/truth.npy`` (planted blob per row, key order)."""
    import duckdb
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    columns, truth = make_customers(n, seed)
    path = folder / "customers.parquet"
    con = duckdb.connect()
    con.register("generated", columns)
    con.execute(f"COPY (SELECT * FROM generated ORDER BY customer_id) TO '{path}' (FORMAT parquet)")
    con.close()
    np.save(folder / "truth.npy", truth)
    return path


def write_spec(
    folder: Path, min_cluster_size: int = MIN_CLUSTER_SIZE, sample_size: int = SAMPLE_SIZE
) -> Path:
    """The spec of the synthetic table (source ``customers``, metrics ``max(fN)``)."""
    metrics = "\n".join(
        f"  {f}:\n    source: customers\n    agg: max\n    expr: {f}" for f in FEATURES
    )
    text = SPEC_TEMPLATE.format(
        metrics=metrics,
        features=", ".join(FEATURES),
        min_cluster_size=min_cluster_size,
        sample_size=sample_size,
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "synthetic_customers.yml"
    path.write_text(text, encoding="utf-8")
    return path


def ensure_data(n: int) -> Path:
    """The cached folder for ``n`` customers (regenerated when the recipe or seed changed)."""
    import duckdb
    import numpy as np

    folder = CACHE / f"customers_{n}"
    manifest = folder / "manifest.json"
    want = {
        "generator": GENERATOR_VERSION,
        "seed": SEED,
        "rows": n,
        "numpy": np.__version__,
        "duckdb": duckdb.__version__,
    }
    if manifest.is_file() and json.loads(manifest.read_text()) == want:
        return folder
    write_customers(folder, n)
    manifest.write_text(json.dumps(want, indent=2) + "\n")
    return folder


# --------------------------------------------------------------------------- worker side


def _end_to_end(spec: Path, parquet: Path, out: Path, profile: Path | None) -> dict[str, Any]:
    """fit_spec + the compiled assignment SQL over everyone, labels to Parquet."""
    t0 = time.perf_counter()
    marks: list[tuple[str, float]] = []

    def mark(message: str) -> None:
        marks.append((message, time.perf_counter() - t0))

    def run() -> dict[str, Any]:
        from semseg.cluster.fit import fit_spec
        from semseg.compile import compile_spec
        from semseg.data import connect, open_session
        from semseg.spec import load_spec

        mark("imported semseg")
        spec_file = load_spec(spec)
        tables = {"customers": parquet}
        with open_session(spec_file, tables=tables) as session:
            _, _, summary = fit_spec(session, force=True, progress=mark)
        mark("model written, SQL agreement measured")
        sql = compile_spec(spec_file, "duckdb")
        mark("compiled")
        con, _ = connect(spec_file, tables=tables)
        quoted = "'" + str(out).replace("'", "''") + "'"
        con.execute(
            f"COPY (SELECT customer_id, segment FROM ({sql}) AS m ORDER BY customer_id) "
            f"TO {quoted} (FORMAT parquet)"
        )
        con.close()
        mark("everyone labelled by the SQL (Parquet written)")
        return summary

    if profile is None:
        summary = run()
    else:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        summary = prof.runcall(run)
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative")
        rows = []
        table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
        for (file, line, func), (_cc, calls, tot, cum, _callers) in table.items():
            short = file.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
            rows.append(
                {
                    "function": f"{short}:{line}({func})",
                    "calls": calls,
                    "tottime": tot,
                    "cumtime": cum,
                }
            )
        profile.write_text(json.dumps(rows))
    return {"summary": summary, "phases": marks}


def _reference(library: str, parquet: Path, out: Path, min_cluster_size: int) -> dict[str, Any]:
    """Standardised features of every row (ddof=0, as semseg), HDBSCAN fitted on all of them."""
    t0 = time.perf_counter()
    import duckdb
    import numpy as np

    con = duckdb.connect()
    cols = ", ".join(f"CAST({f} AS DOUBLE)" for f in FEATURES)
    found = con.execute(
        f"SELECT {cols} FROM read_parquet('{parquet}') ORDER BY customer_id"
    ).fetchnumpy()
    con.close()
    x = np.column_stack(list(found.values()))
    std = x.std(axis=0)
    space = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    t_read = time.perf_counter() - t0
    if library == "fast_hdbscan":
        from fast_hdbscan import HDBSCAN

        model: Any = HDBSCAN(min_cluster_size=min_cluster_size)
    elif library == "hdbscan":
        from hdbscan import HDBSCAN as Hdbscan

        model = Hdbscan(min_cluster_size=min_cluster_size)
    elif library == "sklearn":
        from sklearn.cluster import HDBSCAN as SkHdbscan

        model = SkHdbscan(min_cluster_size=min_cluster_size)
    else:
        raise SystemExit(f"unknown library {library}")
    t_import = time.perf_counter() - t0
    labels = np.asarray(model.fit_predict(space))
    t_fit = time.perf_counter() - t0
    np.save(out, labels)
    return {
        "phases": [
            ("data read and standardised", t_read),
            (f"{library} imported", t_import),
            ("fitted on every row", t_fit),
        ]
    }


def worker(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="benchmarks.cluster --worker")
    ap.add_argument("kind")
    ap.add_argument("--spec", type=Path)
    ap.add_argument("--parquet", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--profile", type=Path)
    ap.add_argument("--min-cluster-size", type=int, default=MIN_CLUSTER_SIZE)
    args = ap.parse_args(argv)
    if args.kind == "end_to_end":
        result = _end_to_end(args.spec, args.parquet, args.out, args.profile)
    else:
        result = _reference(args.kind, args.parquet, args.out, args.min_cluster_size)
    print("RESULT " + json.dumps(result, default=str), flush=True)


# --------------------------------------------------------------------------- parent side


def measure(
    args: list[str], timeout: float | None = None, runner: list[str] | None = None
) -> dict[str, Any]:
    """Run one worker subprocess: wall and CPU seconds, its own peak RSS (MB), its result.

    ``runner`` replaces ``python -m benchmarks.cluster --worker`` (e.g. to time a patched copy).
    """
    cmd = [*(runner or [sys.executable, "-m", "benchmarks.cluster", "--worker"]), *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        status, rusage, timed_out = None, None, False
        while status is None:
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status, rusage = st, ru
                break
            if timeout is not None and time.perf_counter() - t0 > timeout:
                proc.kill()
                _, status, rusage = os.wait4(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    found: dict[str, Any] = {
        "seconds": seconds,
        "rss_mb": rusage.ru_maxrss / 1024 if rusage else float("nan"),  # Linux: KB
        "cpu_seconds": rusage.ru_utime + rusage.ru_stime if rusage else float("nan"),
        "ok": proc.returncode == 0 and not timed_out,
        "timed_out": timed_out,
    }
    for line in stdout.splitlines():
        if line.startswith("RESULT "):
            found.update(json.loads(line[len("RESULT ") :]))
    if not found["ok"]:
        found["error"] = "timed out" if timed_out else stderr.strip().splitlines()[-1:]
    return found


def import_cost(spec: Path) -> dict[str, Any]:
    """-X importtime of ``import semseg.cli``; numeric modules loaded by the CLI and compile."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import semseg.cli"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    top_level, cli_us = 0, None
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, _, rest = line.partition(":")
        _self, cumulative, name = rest.split("|")
        if not name.startswith("  "):  # nested imports are indented by two more spaces
            top_level += int(cumulative)
        if name.strip() == "semseg.cli":
            cli_us = int(cumulative)
    probe = (
        "import json, sys, semseg.cli\n"
        f"mods = {NUMERIC_MODULES!r}\n"
        "after_cli = [m for m in mods if m in sys.modules]\n"
        "from semseg.compile import compile_spec\nfrom semseg.spec import load_spec\n"
        f"compile_spec(load_spec({str(spec)!r}), 'duckdb')\n"
        "after_compile = [m for m in mods if m in sys.modules]\n"
        "print(json.dumps([after_cli, after_compile]))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    after_cli, after_compile = json.loads(found.stdout)
    walls = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import semseg.cli"], cwd=ROOT, check=True)
        walls.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    # what a fit imports (the cluster extra), not the bench extra's fast_hdbscan
    subprocess.run([sys.executable, "-c", "import numpy, sklearn.cluster"], cwd=ROOT, check=True)
    numeric_wall = time.perf_counter() - t0
    return {
        "cli_cumulative_ms": (cli_us or 0) / 1000,
        "all_top_level_ms": top_level / 1000,
        "cli_wall_ms_median_of_5": statistics.median(walls) * 1000,
        "numpy_sklearn_wall_ms": numeric_wall * 1000,
        "numeric_after_import_cli": after_cli,
        "numeric_after_compile": after_compile,
    }


def _labels_of(path: Path, n: int):
    import duckdb
    import numpy as np

    found = (
        duckdb.connect()
        .execute(f"SELECT customer_id, segment FROM read_parquet('{path}') ORDER BY 1")
        .fetchnumpy()
    )
    keys = np.asarray(found["customer_id"])
    assert len(keys) == n and (keys == np.arange(1, n + 1)).all(), "labels must cover everyone"
    return np.asarray(found["segment"]).astype(int)


def ari_pair(a, b) -> dict[str, float]:
    """ARI with noise as a label, and over the rows both call clustered; plus noise overlap."""
    from sklearn.metrics import adjusted_rand_score

    both = (a >= 0) & (b >= 0)
    return {
        "with_noise": float(adjusted_rand_score(a, b)),
        "without_noise": float(adjusted_rand_score(a[both], b[both])),
        "both_clustered_share": float(both.mean()),
        "same_noise_call": float(((a == -1) == (b == -1)).mean()),
    }


def _describe(labels) -> dict[str, Any]:
    return {
        "clusters": int(labels.max()) + 1 if len(labels) else 0,
        "noise_share": float((labels == -1).mean()),
    }


def bench_size(
    n: int,
    repeat: int,
    full_fit_max: int,
    sklearn_max: int,
    sklearn_timeout: float,
    work: Path,
    warm: bool,
) -> dict[str, Any]:
    import numpy as np

    folder = ensure_data(n)
    parquet = folder / "customers.parquet"
    truth = np.load(folder / "truth.npy")
    spec = write_spec(work / f"spec_{n}")
    outs = {k: work / f"{k}_{n}" for k in ("end_to_end", *REFERENCES)}

    def e2e_args(profile: Path | None = None) -> list[str]:
        args = ["end_to_end", "--spec", str(spec), "--parquet", str(parquet)]
        args += ["--out", str(outs["end_to_end"]) + ".parquet"]
        return args + (["--profile", str(profile)] if profile else [])

    def ref_args(lib: str) -> list[str]:
        return [lib, "--parquet", str(parquet), "--out", str(outs[lib]) + ".npy"]

    have_hdbscan = (
        subprocess.run([sys.executable, "-c", "import hdbscan"], capture_output=True).returncode
        == 0
    )
    refs = []
    skipped: dict[str, str] = {}
    if n <= full_fit_max:
        refs.append("fast_hdbscan")
        if have_hdbscan:
            refs.append("hdbscan")
        else:
            skipped["hdbscan"] = "not installed (pip install hdbscan)"
    else:
        for lib in REFERENCES:
            skipped[lib] = f"full fits are run up to --full-fit-max={full_fit_max:,} rows"
    if warm:
        print(f"[{n:,}] warm-up (numba cache): end to end, fast_hdbscan", flush=True)
        measure(e2e_args())
        if "fast_hdbscan" in refs:
            measure(ref_args("fast_hdbscan"))
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("end_to_end", *refs)}
    rounds = repeat if n <= full_fit_max else 1
    for r in range(rounds):
        order = ["end_to_end", *refs]
        if r % 2:
            order.reverse()
        for kind in order:
            found = measure(e2e_args() if kind == "end_to_end" else ref_args(kind))
            print(
                f"[{n:,}] round {r + 1}/{rounds} {kind}: {found['seconds']:.2f} s, "
                f"{found['rss_mb']:.0f} MB{'' if found['ok'] else ' FAILED ' + str(found)}",
                flush=True,
            )
            runs[kind].append(found)
    if n > sklearn_max:
        skipped["sklearn"] = f"run up to --sklearn-max={sklearn_max:,} rows only"
    elif n <= full_fit_max:
        print(f"[{n:,}] sklearn HDBSCAN, one run, timeout {sklearn_timeout:.0f} s", flush=True)
        found = measure(ref_args("sklearn"), timeout=sklearn_timeout)
        print(f"[{n:,}] sklearn: {found['seconds']:.2f} s, ok={found['ok']}", flush=True)
        if found["ok"]:
            runs["sklearn"] = [found]
        else:
            skipped["sklearn"] = (
                f"killed after {sklearn_timeout:.0f} s (--sklearn-timeout)"
                if found["timed_out"]
                else f"failed: {found.get('error')}"
            )
    profile_path = work / f"profile_{n}.json"
    print(f"[{n:,}] diagnostic end-to-end run under cProfile (untimed)", flush=True)
    diag = measure(e2e_args(profile_path))
    profile = json.loads(profile_path.read_text()) if profile_path.is_file() else []
    profile.sort(key=lambda row: -row["cumtime"])

    labels = {"end_to_end": _labels_of(Path(str(outs["end_to_end"]) + ".parquet"), n)}
    for lib, found in runs.items():
        if lib != "end_to_end" and any(f["ok"] for f in found):
            labels[lib] = np.load(str(outs[lib]) + ".npy")
    methods: dict[str, Any] = {}
    for kind, found in runs.items():
        ok = [f for f in found if f["ok"]]
        secs = [f["seconds"] for f in ok]
        methods[kind] = {
            "runs": len(ok),
            "seconds_median": statistics.median(secs) if secs else None,
            "seconds_all": secs,
            "rss_mb_max": max((f["rss_mb"] for f in ok), default=None),
            "cpu_seconds_median": statistics.median(f["cpu_seconds"] for f in ok) if ok else None,
            "phases": ok[0]["phases"] if ok else None,
            "summary": ok[0].get("summary") if ok else None,
            **(_describe(labels[kind]) if kind in labels else {}),
            "vs_truth": ari_pair(truth, labels[kind]) if kind in labels else None,
        }
    aris = {}
    if "fast_hdbscan" in labels:
        for kind in labels:
            if kind != "fast_hdbscan":
                aris[kind] = ari_pair(labels["fast_hdbscan"], labels[kind])
    return {
        "rows": n,
        "methods": methods,
        "skipped": skipped,
        "ari_vs_fast_hdbscan_full": aris,
        "diagnostic": {
            "seconds": diag["seconds"],
            "phases": diag.get("phases"),
            "profile_top": profile[:40],
        },
    }


# --------------------------------------------------------------------------- report


def _fmt_s(x: float | None, digits: int = 2) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _criteria(results: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    out = []
    for res in results:
        n, m = res["rows"], res["methods"]
        e2e = m["end_to_end"]
        if len(m) > 1:
            refs = {k: v for k, v in m.items() if k != "end_to_end" and v["seconds_median"]}
            if refs and e2e["seconds_median"] is not None:
                best = min(refs, key=lambda k: refs[k]["seconds_median"])
                t = refs[best]["seconds_median"]
                out.append(
                    (
                        f"{n:,}: end to end faster than the fastest full fit ({best})",
                        e2e["seconds_median"] < t,
                        f"{e2e['seconds_median']:.2f} s vs {t:.2f} s "
                        f"({t / e2e['seconds_median']:.1f}x)",
                    )
                )
        if n >= 1_000_000:
            secs, rss = e2e["seconds_median"], e2e["rss_mb_max"]
            out.append(
                (
                    f"{n:,}: end to end < {MAX_SECONDS_1M:.0f} s",
                    secs is not None and secs < MAX_SECONDS_1M,
                    f"{_fmt_s(secs)} s",
                )
            )
            out.append(
                (
                    f"{n:,}: end to end peak RSS < {MAX_RSS_MB_1M / 1024:.0f} GB",
                    rss is not None and rss < MAX_RSS_MB_1M,
                    f"{rss:.0f} MB" if rss is not None else "–",
                )
            )
    return out


def _phase_table(phases: list[list[Any]]) -> list[str]:
    lines = [
        "| event (progress message or benchmark mark) | at s | since previous s |",
        "| --- | ---: | ---: |",
    ]
    prev = 0.0
    for message, at in phases:
        lines.append(f"| {message} | {at:.2f} | {at - prev:.2f} |")
        prev = at
    return lines


def render(meta: dict[str, Any], results: list[dict[str, Any]], imports: dict[str, Any]) -> str:
    label = {
        "end_to_end": "**semseg end to end** (sample fit + SQL for everyone)",
        "fast_hdbscan": "fast_hdbscan on every row",
        "hdbscan": "hdbscan on every row",
        "sklearn": "scikit-learn HDBSCAN on every row",
    }
    lines = [
        meta.get("title", TITLE),
        "",
        f"Run {meta['date']} on {meta['machine']}; Python {meta['python']}, "
        f"{meta['versions']}. Load average (1, 5, 15 min) at start: {meta['loadavg']}; at "
        f"end: {meta['loadavg_end']} (other work on the machine slows the 2-thread full fits "
        "more than the mostly single-threaded end-to-end path).",
        f"Command: ``{meta['command']}``.",
        "",
        f"Data: synthetic customers, one row each, {len(FEATURES)} numeric features from "
        f"{BLOBS} Gaussian blobs (centres uniform in ±{CENTRE_BOX:g}, spreads 0.6–1.4, uneven "
        f"weights) plus {NOISE_SHARE:.0%} uniform noise in ±{NOISE_BOX:g}; numpy seed {SEED}; "
        "Parquet, read through DuckDB. Spec: source `customers`, metrics `max(fN)`, one cluster "
        f"segmentation, HDBSCAN, `min_cluster_size: {MIN_CLUSTER_SIZE}` (`min_samples` default "
        f"= min_cluster_size), standard scaling, `sample_size: {SAMPLE_SIZE:,}`.",
        "",
        "End to end = `load_spec` → `fit_spec` (features through DuckDB, md5 sample, HDBSCAN, "
        "radii, model JSON, and fit_spec's own check of the compiled SQL against the local "
        "labels) → `compile_spec(spec, 'duckdb')` run in DuckDB over every customer, labels "
        "written to Parquet. References: the same standardised features of every row "
        "(population mean and std, ddof=0, as semseg) fitted directly, same `min_cluster_size`. "
        "Each measurement is a fresh subprocess; seconds are spawn to exit (imports and I/O "
        "included for every method); peak RSS is that child's `ru_maxrss` (`os.wait4`). "
        "Numba compilation is excluded: one untimed warm-up of the end-to-end path and of "
        "fast_hdbscan runs first (fast_hdbscan caches its compiled functions on disk; timed runs "
        "load the cache). Runs are sequential; methods alternate within rounds.",
        "",
        "ARI = `sklearn.metrics.adjusted_rand_score` against fast_hdbscan fitted on every row: "
        "*with noise* over every customer (noise = one more label), *without noise* over the "
        "customers both call clustered.",
        "",
    ]
    for res in results:
        n = res["rows"]
        lines += [f"### {n:,} customers", ""]
        lines += [
            "| method | runs | wall s (median) | all runs, wall s | CPU s (median) | peak RSS MB "
            "| clusters | noise | ARI vs full fast_hdbscan (with / without noise) "
            "| ARI vs planted blobs (with / without noise) |",
            "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
        ]
        for kind, m in res["methods"].items():
            a = res["ari_vs_fast_hdbscan_full"].get(kind)
            ari = f"{a['with_noise']:.4f} / {a['without_noise']:.4f}" if a else "(reference)"
            if "fast_hdbscan" not in res["methods"]:
                ari = "–"
            t = m["vs_truth"]
            truth = f"{t['with_noise']:.4f} / {t['without_noise']:.4f}" if t else "–"
            lines.append(
                f"| {label[kind]} | {m['runs']} | {_fmt_s(m['seconds_median'])} | "
                f"{', '.join(f'{s:.2f}' for s in m['seconds_all'])} | "
                f"{_fmt_s(m['cpu_seconds_median'])} | {_fmt_s(m['rss_mb_max'], 0)} | "
                f"{m.get('clusters', '–')} | "
                f"{m.get('noise_share', 0):.1%} | {ari} | {truth} |"
            )
        for lib, why in res["skipped"].items():
            lines.append(f"| {label[lib]} | 0 | skipped: {why} | | | | | | | |")
        lines.append("")
        e2e = res["methods"]["end_to_end"]
        if e2e["summary"]:
            s = e2e["summary"]
            lines.append(
                f"fit_spec summary: {s['clusters']} clusters fitted on {s['sampled']:,} of "
                f"{s['rows']:,} rows, noise in the sample {s['noise_share']:.1%}, compiled SQL "
                f"= local labels on {s['agreement']:.2%} of rows."
            )
            lines.append("")
        if e2e["phases"]:
            lines += [
                "End-to-end events (first timed run; seconds since the worker's clock started, "
                "before any import; a progress message marks the start of its step):",
                "",
            ]
            lines += _phase_table(e2e["phases"])
            lines.append("")
        top = [
            r
            for r in res["diagnostic"]["profile_top"]
            if "semseg/" in r["function"]
            or "fit_predict" in r["function"]
            or r["function"].startswith("fast_hdbscan/__init__.py")
        ][:14]
        if top:
            lines += [
                f"cProfile of one untimed end-to-end run ({res['diagnostic']['seconds']:.2f} s "
                "with the profiler): semseg functions, the import of fast_hdbscan (which "
                "brings numba, scikit-learn and scipy) and the HDBSCAN fit, by cumulative time:",
                "",
                "| function | calls | cumulative s | own s |",
                "| --- | ---: | ---: | ---: |",
            ]
            for r in top:
                lines.append(
                    f"| `{r['function']}` | {r['calls']} | {r['cumtime']:.2f} | "
                    f"{r['tottime']:.2f} |"
                )
            lines.append("")
    lines += [
        "### Import cost",
        "",
        f'`python -X importtime -c "import semseg.cli"`: semseg.cli cumulative '
        f"{imports['cli_cumulative_ms']:.0f} ms; total of the top-level entries (site "
        f"included) {imports['all_top_level_ms']:.0f} ms. Wall time of "
        '`python -c "import semseg.cli"` '
        f"(median of 5): {imports['cli_wall_ms_median_of_5']:.0f} ms; for comparison "
        f'`python -c "import numpy, sklearn.cluster"`: {imports["numpy_sklearn_wall_ms"]:.0f}'
        " ms.",
        f"Numeric modules ({', '.join(NUMERIC_MODULES)}) in `sys.modules` after `import "
        f"semseg.cli`: {imports['numeric_after_import_cli'] or 'none'}; after also compiling "
        f"the fitted cluster spec: {imports['numeric_after_compile'] or 'none'}.",
        "",
        "### Criteria",
        "",
    ]
    for name, ok, detail in meta["criteria"]:
        lines.append(f"- {'PASS' if ok else 'FAIL'}: {name}: {detail}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(argv[1:])
        return 0
    ap = argparse.ArgumentParser(prog="python -m benchmarks.cluster")
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated customer counts")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds per size (full fits)")
    ap.add_argument(
        "--full-fit-max", type=int, default=100_000, help="largest size fitted on every row"
    )
    ap.add_argument(
        "--sklearn-max", type=int, default=100_000, help="largest size for scikit-learn's fit"
    )
    ap.add_argument("--sklearn-timeout", type=float, default=300.0)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--title", default=TITLE, help="the markdown heading of the section")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    import duckdb
    import numpy as np
    import sklearn

    versions = [f"numpy {np.__version__}", f"duckdb {duckdb.__version__}"]
    versions.append(f"scikit-learn {sklearn.__version__}")
    probe = (
        "import importlib.metadata as m\n"
        "for p in ('fast_hdbscan', 'numba', 'hdbscan'):\n"
        "    try: print(p, m.version(p))\n"
        "    except m.PackageNotFoundError: pass\n"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    versions += found.stdout.strip().splitlines()
    meta: dict[str, Any] = {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "python": platform.python_version(),
        "versions": ", ".join(versions),
        "loadavg": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "command": "python -m benchmarks.cluster " + shlex.join(argv),
        "title": args.title,
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="semseg-cluster-bench-") as tmp:
        work = Path(tmp)
        for i, n in enumerate(sorted(sizes)):
            results.append(
                bench_size(
                    n,
                    args.repeat,
                    args.full_fit_max,
                    args.sklearn_max,
                    args.sklearn_timeout,
                    work,
                    i == 0,
                )
            )
        imports = import_cost(work / f"spec_{sorted(sizes)[0]}" / "synthetic_customers.yml")
    meta["loadavg_end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    meta["criteria"] = _criteria(results)
    if imports["numeric_after_import_cli"] or imports["numeric_after_compile"]:
        meta["criteria"].append(
            (
                "import semseg.cli / compile load no numeric module",
                False,
                f"{imports['numeric_after_import_cli']} / {imports['numeric_after_compile']}",
            )
        )
    else:
        meta["criteria"].append(
            ("import semseg.cli / compile load no numeric module", True, "none loaded")
        )
    text = render(meta, results, imports)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"meta": meta, "results": results, "imports": imports}, indent=2) + "\n"
    )
    print(text)
    failed = [c for c in meta["criteria"] if not c[1]]
    for name, ok, detail in meta["criteria"]:
        print(f"{'PASS' if ok else 'FAIL'}: {name}: {detail}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
