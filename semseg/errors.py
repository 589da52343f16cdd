"""Every problem semseg reports, typed, each with its exit code.

A spec problem is an ``Issue`` printed as ``path:line:col: error: what — how to fix``. The
exceptions below are the only ones the command line turns into messages; the exit code belongs
to the error's type, so the same mistake exits the same way in every command:

- 0 success;
- 1 a problem with the spec, the data or the files, or a failed check;
- 2 a usage mistake (an option or argument that cannot work).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


def printable(text: str) -> str:
    """User text (a label, a cluster name, a file name) made safe to print or to put in a
    ``--`` comment: every character that is not printable (a line break, an ESC that starts
    a terminal control sequence, a NUL) is written as ``\\uXXXX``."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text)


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

    def to_dict(self) -> dict[str, Any]:
        """The issue as JSON-ready data (``file`` rather than ``path``)."""
        data = asdict(self)
        data["file"] = data.pop("path")
        return data


class SemsegError(Exception):
    """Base of every error semseg reports to a user; ``kind`` and ``exit_code`` by type."""

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1

    def lines(self) -> list[str]:
        """The message as the lines printed to stderr."""
        return str(self).splitlines() or [self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The error as JSON-ready data: kind, exit code, message."""
        return {"kind": self.kind, "exit_code": self.exit_code, "message": str(self)}


class SpecError(SemsegError):
    """A spec cannot be loaded; carries every problem found, not only the first."""

    kind = "spec"

    def __init__(self, issues: list[Issue], summary: str = "") -> None:
        self.issues = sorted(issues)
        self.summary = summary
        super().__init__("\n".join([*(i.format() for i in self.issues), *filter(None, [summary])]))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "issues": [i.to_dict() for i in self.issues]}


class CompileError(SemsegError):
    """A valid spec cannot be expressed faithfully for a target, or needs a missing artefact."""

    kind = "compile"


class DataError(SemsegError):
    """Input data or an output file does not fit what the spec or command needs."""

    kind = "data"


class UsageError(SemsegError):
    """An option or argument that cannot work (unknown dialect, segmentation, overlay ...)."""

    kind = "usage"
    exit_code = 2
