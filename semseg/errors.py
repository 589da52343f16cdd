"""Spec problems: one record per problem, printed as ``path:line:col: error: what — how to fix``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Issue:
    """One problem found in a spec file."""

    path: str
    line: int
    col: int
    message: str
    hint: str = ""
    severity: str = "error"

    def format(self) -> str:
        """Render as one line: ``file:line:col: error: message — hint``."""
        text = f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text


class SpecError(Exception):
    """Raised when a spec cannot be loaded; carries every problem found, not only the first."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = sorted(issues)
        super().__init__("\n".join(i.format() for i in self.issues))


class CompileError(Exception):
    """Raised when a valid spec cannot be expressed faithfully for a target."""


class DataError(Exception):
    """Raised when input data does not match what the spec needs (missing table or column)."""
