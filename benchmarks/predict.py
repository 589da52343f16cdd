"""Benchmark: a propensity scored in SQL costs little; its fit is fast (issue 24).

``python -m benchmarks.predict [--sizes 10000000] [--repeat 5]`` (``make bench`` runs it) uses
the synthetic order lines of ``benchmarks.data`` (10M lines: 1.43M customers) and times, each
run in a fresh Python subprocess with a fresh DuckDB connection, ``CREATE TEMP TABLE AS`` of:

* ``no_score``: segment_specs/offer_propensity.yml without the propensity and the two
  segmentations over it;
* ``score``: the spec with the propensity (its committed logistic model) and without those
  two segmentations: the criterion's pair, the score and nothing else;
* ``tiered``: the whole spec, the score with its deciles (a RANK over every customer) and
  the responders band.

and, once per size, ``fit``: ``fit_propensity`` of the spec on the same tables (features as of
two horizons before the as-of date, the label one horizon before; validation on the next
split), its seconds and peak resident memory, the model written into a temporary folder.

Criteria (issue 24): score/no_score <= 1.3; the fit under 60 s and 4 GB. tiered/no_score is
reported, not judged: a decile tier costs the same sort over any metric. It writes
``benchmarks/results/predict.md`` and puts it in ``BENCHMARKS.md`` (replacing its earlier
figures).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import RESULTS
from benchmarks.time import (
    bench_main,
    log,
    run_worker,
    runs_lines,
    time_query,
    timed_rounds,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "segment_specs" / "offer_propensity.yml"
OUT = RESULTS / "predict.md"
HEADING = "## Propensity scored in SQL"
MAX_VS_NO_SCORE = 1.3
MAX_FIT_SECONDS = 60.0
MAX_FIT_MB = 4096.0
KINDS = ("no_score", "score", "tiered")


def _spec(kind: str):
    """The spec as loaded (``tiered``), without the segmentations over the propensity
    (``score``), or without the propensity too (``no_score``)."""
    import yaml

    from semseg.spec import load_spec

    if kind == "tiered":
        return load_spec(SPEC)
    data = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    if kind == "no_score":
        del data["metrics"]["offer_propensity"]
    for name in ("propensity_decile", "responders"):
        del data["segmentations"][name]
    folder = Path(tempfile.mkdtemp(prefix=f"semseg-bench-{kind}-"))
    path = folder / SPEC.name  # next to it, the committed model under its default name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    model = SPEC.with_name(f"{SPEC.stem}.offer_propensity.model.json")
    shutil.copy(model, folder / model.name)
    return load_spec(path)


def worker(kind: str, paths: dict[str, str], threads: int) -> dict[str, Any]:
    from benchmarks.run import _connect

    if kind == "fit":
        return _fit(paths, threads)
    from semseg.compile import compile_spec

    spec_file = _spec(kind)
    sql = compile_spec(spec_file, "duckdb")
    if kind != "tiered":  # the temporary copy
        shutil.rmtree(spec_file.path.parent, ignore_errors=True)
    con = _connect(paths, threads)
    return time_query(con, sql)


def _fit(paths: dict[str, str], threads: int) -> dict[str, Any]:
    """``fit_propensity`` on the tables, the model written into a temporary copy of the
    spec's folder (the committed model is not touched)."""
    from benchmarks.run import _rss_mb
    from semseg.cluster.predict import fit_propensity
    from semseg.data import open_session
    from semseg.spec import load_spec

    folder = Path(tempfile.mkdtemp(prefix="semseg-bench-fit-"))
    try:
        spec_path = folder / SPEC.name
        shutil.copy(SPEC, spec_path)
        tables = {t: Path(p) for t, p in paths.items()}
        t0 = time.perf_counter()
        with open_session(load_spec(spec_path), tables=tables) as session:
            session.con.execute(f"SET threads = {threads}")
            _, _, summary = fit_propensity(session, "offer_propensity", force=True)
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "seconds": seconds,
        "peak_rss_mb": _rss_mb(),
        "rows": summary.get("training_rows", summary.get("rows")),
        "auc": summary.get("validation", {}).get("auc"),
    }


def _run(kind: str, paths: dict[str, Path], threads: int) -> dict[str, Any]:
    return run_worker("benchmarks.predict", kind, paths, threads)


def measure(lines: int, repeat: int, threads: int) -> dict[str, Any]:
    from benchmarks.data import customers_for, ensure_dataset

    paths = ensure_dataset(lines, threads=threads, log=log, redemptions=True)
    timed = timed_rounds("benchmarks.predict", KINDS, paths, threads, repeat, lines, log)
    fit = _run("fit", paths, threads)
    log(f"[{lines:,}] fit {fit['seconds']:.1f}s, peak {fit['peak_rss_mb']:.0f} MB")
    median = timed["median"]
    return {
        "lines": lines,
        "customers": customers_for(lines),
        **timed,
        "ratio": median["score"] / median["no_score"],
        "tiered_ratio": median["tiered"] / median["no_score"],
        "fit": fit,
    }


def render(results: list[dict[str, Any]], repeat: int, threads: int) -> str:
    lines = [
        f"{HEADING}: offer_propensity with and without its score (`benchmarks/predict.py`)",
        "",
        f"Generated by `python -m benchmarks.predict` ({repeat} timed rounds per size, DuckDB "
        f"threads = {threads}, each run a fresh process; medians). `score` is "
        "segment_specs/offer_propensity.yml with its committed logistic model and without the "
        "two segmentations over the score, `no_score` without the score too, `tiered` the "
        "whole spec (the score, its deciles and the responders band). `fit` is "
        "`semseg fit`'s work on the same tables: two point-in-time feature queries, the label "
        "queries, the logistic fit and its validation.",
        "",
        "| order lines | customers | no_score s | score s | tiered s | score/no_score | "
        "tiered/no_score | peak RSS MB (no_score / score / tiered) | fit s | fit peak RSS MB "
        "| validation AUC |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m, rss, fit = r["median"], r["rss"], r["fit"]
        auc = "n/a" if fit["auc"] is None else f"{fit['auc']:.3f}"
        lines.append(
            f"| {r['lines']:,} | {r['rows']['score']:,} | {m['no_score']:.3f} | "
            f"{m['score']:.3f} | {m['tiered']:.3f} | **{r['ratio']:.2f}** | "
            f"{r['tiered_ratio']:.2f} | {rss['no_score']:.0f} / {rss['score']:.0f} / "
            f"{rss['tiered']:.0f} | {fit['seconds']:.1f} | {fit['peak_rss_mb']:.0f} | {auc} |"
        )
    lines += [
        "",
        f"- score/no_score <= {MAX_VS_NO_SCORE} at every size: "
        + verdict(all(r["ratio"] <= MAX_VS_NO_SCORE for r in results)),
        f"- fit under {MAX_FIT_SECONDS:.0f} s and {MAX_FIT_MB / 1024:.0f} GB at every size: "
        + verdict(
            all(
                r["fit"]["seconds"] < MAX_FIT_SECONDS and r["fit"]["peak_rss_mb"] < MAX_FIT_MB
                for r in results
            )
        ),
        *runs_lines(results),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(argv, __doc__, "10000000", worker, measure, render, OUT, HEADING)


if __name__ == "__main__":
    raise SystemExit(main())
