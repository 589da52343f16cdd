"""Benchmarks: ``make bench`` runs each at full size; ``tests/test_benchmarks_smoke.py`` runs
each at a tiny size in ``make test``, so that none can rot unnoticed.

Where they write: the report ``BENCHMARKS.md`` at the top of the repository and sections in
``benchmarks/results/``; with ``SEMSEG_BENCH_OUTPUT=DIR`` (the smoke test's), ``DIR`` holds
``BENCHMARKS.md`` and ``benchmarks/results/`` instead, and the committed figures are left alone.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = Path(os.environ.get("SEMSEG_BENCH_OUTPUT") or ROOT)
REPORT = OUTPUT / "BENCHMARKS.md"
RESULTS = OUTPUT / "benchmarks" / "results"
