"""Every benchmark of ``make bench`` runs at a tiny size here, so that none can rot between
the runs that measure (issue 23, item 31: ``make bench`` failed on a fresh clone because the
benchmark's data generator lacked a column the sample had gained). No figure is asserted:
each command must finish, write its section and say PASS where it checks correctness.

The benchmarks write into ``SEMSEG_BENCH_OUTPUT`` (a temporary folder), never into the
committed ``BENCHMARKS.md`` and ``benchmarks/results/``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.golden_regen import SPECS

ROOT = SPECS.parent

# (arguments, a heading of its section, the lines of what it checks for correctness, which
# must say PASS; a speed criterion at a tiny size means nothing and is not read)
SMOKES = {
    "assign": (["--rows", "3000", "--repeat", "1"], "## Cluster assignment SQL", "same labels"),
    "cluster": (
        ["--sizes", "3000", "--repeat", "1", "--full-fit-max", "0", "--sklearn-max", "0"],
        "## Clustering",
        "load no numeric module",
    ),
    "time": (["--sizes", "20000", "--repeat", "1"], "## ", None),
    "predict": (["--sizes", "20000", "--repeat", "1"], "## Propensity scored in SQL", None),
    "run": (["--sizes", "20000", "--repeat", "1"], "# ", "every verify run passed"),
    "history": (["--sizes", "20000", "--repeat", "1"], "## A history of 12 month ends", None),
}


@pytest.mark.parametrize("name", list(SMOKES))
def test_the_benchmark_runs_at_a_tiny_size(name, tmp_path):
    args, heading, checked = SMOKES[name]
    committed = (ROOT / "BENCHMARKS.md").read_bytes()
    env = {**os.environ, "SEMSEG_BENCH_OUTPUT": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    written = [*tmp_path.rglob("*.md")]
    assert written, "the benchmark wrote no section"
    text = "\n".join(p.read_text(encoding="utf-8") for p in written)
    assert heading in text
    if checked:
        lines = [line for line in text.splitlines() if checked in line]
        assert lines and all("PASS" in line for line in lines), lines
    assert (ROOT / "BENCHMARKS.md").read_bytes() == committed  # the figures are left alone
