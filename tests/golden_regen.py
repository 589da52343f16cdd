"""Regenerate the golden SQL files: ``make golden`` (review the diff before committing)."""

from __future__ import annotations

from pathlib import Path

from semseg.compile import compile_spec
from semseg.compile.dialects import TARGETS
from semseg.spec import find_specs, load_spec

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "segment_specs"
GOLDEN = Path(__file__).resolve().parent / "golden"


def golden_path(dialect: str, spec_path: Path) -> Path:
    """Where the golden file of one spec for one dialect lives."""
    return GOLDEN / dialect / f"{spec_path.stem}.sql"


def cases() -> list[tuple[str, Path]]:
    """Every (dialect, example spec) pair."""
    return [(d, p) for d in TARGETS for p in find_specs(SPECS)]


def main() -> None:
    changed = 0
    for dialect, spec_path in cases():
        sql = compile_spec(load_spec(spec_path), dialect)
        target = golden_path(dialect, spec_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != sql:
            target.write_text(sql, encoding="utf-8")
            changed += 1
            print(f"updated {target.relative_to(ROOT)}")
    print(f"{changed} golden file(s) changed; review with `git diff tests/golden`.")


if __name__ == "__main__":
    main()
