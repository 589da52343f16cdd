"""The verify report: data, distribution and checks, rendered as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from semseg.errors import printable


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome with a few offending keys."""

    name: str
    description: str
    passed: bool
    failures: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class SegmentRow:
    """One line of a segment distribution (like the seed's "Check Segment Distribution")."""

    label: str | None
    order: int | None
    count: int
    share: float
    averages: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class VerifyReport:
    """Everything ``semseg verify`` found."""

    spec: str
    spec_path: str
    data: str
    rows: int
    distribution: dict[str, list[SegmentRow]]
    checks: list[CheckResult]
    seconds: dict[str, float]
    as_of: str = ""  # where the as-of date came from ('' for a model without event time)
    engine: str = ""  # where the model ran and what the proofs covered ('' : DuckDB here)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def to_json(self) -> str:
        payload: dict[str, Any] = asdict(self)
        payload["passed"] = self.passed
        return json.dumps(payload, indent=2, default=str)

    def to_text(self, color: bool = False) -> str:
        def paint(text: str, code: str) -> str:
            return f"\033[{code}m{text}\033[0m" if color else text

        lines = [
            f"semseg verify: {self.spec} ({self.spec_path})",
            f"data: {self.data}",
            *([self.engine] if self.engine else []),
            *([self.as_of] if self.as_of else []),
            f"rows: {self.rows:,}",
            "",
        ]
        for name, rows in self.distribution.items():
            metrics = list(rows[0].averages) if rows else []
            head = ["order", name, "count", "share", *(f"avg {m}" for m in metrics)]
            table = [
                [
                    str(r.order),
                    printable(str(r.label)),  # user text: no terminal control sequence
                    f"{r.count:,}",
                    f"{r.share:.1%}",
                    *(_fmt(r.averages[m]) for m in metrics),
                ]
                for r in rows
            ]
            widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(head)]
            lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
            for t in table:
                lines.append(
                    "  ".join(
                        v.ljust(w) if i == 1 else v.rjust(w)
                        for i, (v, w) in enumerate(zip(t, widths, strict=True))
                    )
                )
            lines.append("")
        for c in self.checks:
            mark = paint("PASS", "32") if c.passed else paint("FAIL", "31")
            lines.append(f"{mark}  {c.name}: {c.description}")
            if not c.passed:
                lines.append(f"      {c.failures:,} offending row(s), e.g.:")
                lines += [f"        {e}" for e in c.examples]
        failed = sum(not c.passed for c in self.checks)
        verdict = (
            paint("verified", "32") if self.passed else paint(f"{failed} check(s) failed", "31")
        )
        total = sum(self.seconds.values())
        lines += ["", f"{verdict}: {len(self.checks)} checks in {total:.2f}s"]
        return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    if value is None:
        return "NULL"
    return f"{value:,.2f}"
