"""Fuzzing with hypothesis: broken specs are clear errors, generated valid specs verify.

- Mutated spec files (lines dropped, duplicated, re-indented, or spliced with YAML and SQL
  syntax) always end with exit 0, 1 or 2, a `file:line:col` message on error, and never a
  traceback; the specs that stay valid compile for all 12 dialects or are refused cleanly.
- Generated valid specs (bands, quantiles, fills, filters over the bundled sample) compile for
  all 12 dialects and pass every check of `verify` on DuckDB.

`make test` runs a few hundred cases; `make fuzz` runs SEMSEG_FUZZ_EXAMPLES (10,000) of the
first kind.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from semseg.cli import app
from semseg.compile import compile_spec
from semseg.compile.dialects import TARGETS
from semseg.errors import SemsegError
from semseg.spec import load_spec
from semseg.verify import verify
from tests.golden_regen import SPECS

runner = CliRunner()
EXAMPLES = int(os.environ.get("SEMSEG_FUZZ_EXAMPLES", "300"))
SOURCES = [p.read_text(encoding="utf-8") for p in sorted(SPECS.glob("*.yml"))]
LOCATED = re.compile(r":\d+:\d+: error: ")
SPLICES = [
    "&a", "*a", "<<: *a", "!!python/object:os.system", "!tag", "? [x]", "{", "}", "[", "]",
    ":", "- ", "'", '"', "\\", "\t", "#", "|", ">", "%YAML 1.2", "---", "...", ".nan", ".inf",
    "-1e400", "1e6", "0x1F", "null", "~", "true", "yes", "on", "2025-12-01", "é", "\u202e",
    "{{ x }}", "'; DROP TABLE t; --", "SELECT 1", "COUNT(*)", "CURRENT_DATE", "a__b", "order",
    "user", "metrics", "1/0", "NULLIF(", "CAST(x AS INTEGER)", "INTERVAL 1 DAY", "\x00",
]  # fmt: skip


@st.composite
def mutated_spec(draw) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "duplicate", "indent", "dedent", "splice"]))
        if action == "drop":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = "  " + lines[i]
        elif action == "dedent":
            lines[i] = lines[i][2:]
        else:
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(SPLICES)) + lines[i][at:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=mutated_spec())
def test_mutated_specs_are_clear_errors_never_tracebacks(tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "spec.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        text,
        result.exception,
    )
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output
    if result.exit_code == 1:
        assert LOCATED.search(result.output), result.output
        return
    if result.exit_code == 0:
        spec_file = load_spec(path)
        for dialect in TARGETS:
            with contextlib.suppress(SemsegError):  # refused for this dialect: fine
                compile_spec(spec_file, dialect)
    assert sorted(p.name for p in folder.iterdir()) == ["spec.yml"]  # nothing written


VALID = """\
version: 1
name: generated
entity: {{name: customer, key: unified_customer_id}}
population: {{table: int_customers}}
sources:
  lines:
    table: int_order_lines
    where: {where}
metrics:
  discounted_orders:
    source: lines
    agg: count_distinct
    expr: unified_order_id
    where: has_discount = 1
    fill: {fill}
  spend:
    source: lines
    agg: sum
    expr: sales_amount
segmentations:
  offers:
    by: discounted_orders
    segments:
{bands}
      - {{label: None, else: true}}
  spend_tier:
    by: spend
    quantiles: {quantiles}
    direction: {direction}
"""
WHERES = [
    "transaction_type = 'Sale'",
    "transaction_type IN ('Sale', 'Refund')",
    "sales_amount > 0 AND NOT discount_amount IS NULL",
    "order_date >= DATE '2025-12-01' - INTERVAL 1 YEAR",
    "DATE_DIFF('day', order_date, DATE '2025-12-01') BETWEEN 0 AND 400",
]


@settings(max_examples=max(EXAMPLES // 20, 10), deadline=None)
@given(
    where=st.sampled_from(WHERES),
    fill=st.sampled_from([0, 1]),
    bounds=st.lists(st.integers(1, 12), min_size=1, max_size=4, unique=True),
    quantiles=st.integers(2, 10),
    direction=st.sampled_from(["asc", "desc"]),
)
def test_generated_valid_specs_compile_everywhere_and_verify(
    tmp_path_factory, where, fill, bounds, quantiles, direction
):
    ordered = sorted(bounds, reverse=True)
    bands = "\n".join(
        f"      - {{label: At least {b}, min: {b}"
        + (f", below: {ordered[i - 1]}" if i else "")
        + "}"
        for i, b in enumerate(ordered)
    )
    path = tmp_path_factory.mktemp("valid") / "generated.yml"
    text = VALID.format(
        where=where, fill=fill, bands=bands, quantiles=quantiles, direction=direction
    )
    path.write_text(text, encoding="utf-8")
    spec_file = load_spec(path)
    for dialect in TARGETS:
        assert compile_spec(spec_file, dialect)
    report = verify(spec_file, dialects=["duckdb"], progress=lambda _m: None)
    assert report.passed, (text, [c for c in report.checks if not c.passed])


def test_the_fuzzer_reaches_the_loader(tmp_path: Path):
    """The splices include what used to crash: a recursive alias is an error, not a hang."""
    path = tmp_path / "spec.yml"
    path.write_text("a: &a [*a]\n", encoding="utf-8")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1 and LOCATED.search(result.output)
