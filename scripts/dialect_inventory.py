"""Write docs/dialects.md: the functions and constructs semseg emits per dialect (from goldens)."""

from __future__ import annotations

import re
from pathlib import Path

import sqlglot
from sqlglot import exp

from semseg.compile.dialects import TARGETS, UNFAITHFUL

ROOT = Path(__file__).resolve().parent.parent
CONSTRUCTS = (
    (exp.CTE, "WITH (CTEs)"),
    (exp.Join, "JOIN (LEFT, INNER, CROSS)"),
    (exp.Values, "VALUES (the cluster prototypes)"),
    (exp.Unnest, "UNNEST of an array of STRUCTs (the cluster prototypes)"),
    (exp.Case, "CASE WHEN"),
    (exp.Union, "UNION"),
    (exp.Distinct, "DISTINCT"),
    (exp.Cast, "CAST"),
    (exp.Window, "window functions: RANK() OVER (PARTITION BY ... ORDER BY ...), COUNT() OVER ()"),
)

# What a user of a target should know to run its SQL well (not its meaning: that is the same)
NOTES = {
    "mysql": "the same SQL runs on MariaDB (the engine tests run it there); enable hash joins "
    "there as MySQL 8 has them (`SET join_cache_level = 4`): MariaDB's default block nested "
    "loop compares every pair of rows of a join (the personas model: over 6 minutes instead "
    "of 4 s)",
}


def render() -> str:
    """The text of docs/dialects.md."""
    lines = [
        "# What semseg emits per dialect",
        "",
        "Generated from the golden files (`tests/golden/<dialect>/*.sql`) by",
        "`python -m scripts.dialect_inventory`. Dialects marked *run* are executed in the test",
        "suite and compared with DuckDB; the others are golden files re-parsed by sqlglot in",
        "their own dialect.",
        "",
        "What a spec's snippets may use, what each construct means on every dialect, and where",
        "that is proven: [`conformance.md`](conformance.md) (the catalogue, run on six engines)",
        "and [`tests/golden/conformance.md`](../tests/golden/conformance.md) (each case as written",
        "for the dialects no engine runs here, reviewed against the vendors' documentation).",
        "",
    ]
    for name, target in TARGETS.items():
        funcs: set[str] = set()
        constructs: set[str] = set()
        for path in sorted((ROOT / "tests" / "golden" / name).glob("*.sql")):
            text = path.read_text()
            for node in sqlglot.parse_one(text, read=target.sqlglot).walk():
                if isinstance(node, exp.Func) and not isinstance(node, (exp.Connector, exp.Case)):
                    head = node.sql(target.sqlglot).split("(")[0].strip()
                    if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", head):
                        funcs.add(head.upper())
                constructs.update(label for k, label in CONSTRUCTS if isinstance(node, k))
            if "SETTINGS join_use_nulls" in text:
                constructs.add("SETTINGS join_use_nulls = 1")
        run = f"*run* on {target.engine}" if target.engine else "golden files only"
        refused = sorted(f"{c} ({why})" for c, by in UNFAITHFUL.items() if (why := by.get(name)))
        if target.no_time_zones:
            refused.append(f"event dates in a time zone other than UTC ({target.no_time_zones})")
        lines += [
            f"## {target.title} (`{name}`, {run})",
            "",
            "- functions: " + ", ".join(sorted(funcs)),
            "- constructs: " + ", ".join(sorted(constructs)),
            "- refused at compile time: " + ("; ".join(refused) or "nothing"),
            *([f"- note: {NOTES[name]}"] if name in NOTES else []),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    (ROOT / "docs" / "dialects.md").write_text(render())


if __name__ == "__main__":
    main()
