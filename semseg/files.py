"""The one overwrite policy for every file semseg writes (SQL, dbt files, models, HTML, samples).

- Every output of a run is checked before any is written: two outputs of one run on the same
  file, a folder where the file should be, a different existing file without ``force``, or a
  symbolic link leading out of the target's folder each stop the run with nothing written.
- An existing file with the same bytes is left as it is (reported as unchanged).
- A file is written to a temporary file in the same folder, flushed to disk, then renamed over
  the target: a failure (full disk, no permission) leaves the old file whole.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semseg.errors import DataError


def stable_number(value: Any) -> Any:
    """A number a JSON output can hold, the same on every run: NaN and the infinities (a z
    over no spread) are null, and a float keeps 12 significant digits (a parallel float sum's
    last bits differ from run to run and from engine to engine, and the output must not)."""
    if not isinstance(value, float):
        return value
    return float(f"{value:.12g}") if math.isfinite(value) else None


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as data: text that would start a formula ('=cmd|...',
    '+1', '@SUM') gets a leading apostrophe (OWASP's advice for CSV injection); numbers are
    written as they are, and None as an empty cell."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return "" if value is None else value


@dataclass(frozen=True)
class Output:
    """One file to write: where, what, and who produces it (for messages)."""

    path: Path
    content: bytes
    owner: str = ""
    # the file's content this output was made from (an update of semseg's own file): the
    # file may be replaced without --force as long as it still holds exactly that
    replaces: bytes | None = None

    @classmethod
    def text(cls, path: Path, text: str, owner: str = "", replaces: str | None = None) -> Output:
        old = replaces.encode("utf-8") if replaces is not None else None
        return cls(Path(path), text.encode("utf-8"), owner, old)


def _destination(path: Path) -> Path:
    """The file really written: ``path``, or the target of a link that stays in its folder."""
    if not path.is_symlink():
        return path
    target = path.resolve()
    folder = path.parent.resolve()
    if target.parent != folder:
        raise DataError(
            f"{path}: is a symbolic link to {target}, outside {path.parent}; not written through "
            "it — remove the link or choose another output folder"
        )
    return target


def preflight(
    path: Path, force: bool, content: bytes | None = None, replaces: bytes | None = None
) -> bool:
    """Whether ``path`` may be written (True) or already holds ``content`` (False).

    ``content=None`` (not known yet): any existing file counts as different. ``replaces``: the
    content an update was made from; a file still holding it may be replaced. Raises
    ``DataError`` with the reason and the fix when the file must not be written.
    """
    path = Path(path)
    dest = _destination(path)
    if dest.is_dir():
        raise DataError(f"{path}: is a folder; not replaced — remove it or choose another path")
    if dest.exists() and not dest.is_file():
        raise DataError(f"{path}: is not a regular file; not replaced")
    if dest.is_file():
        if content is not None and dest.read_bytes() == content:
            return False
        if not force and (replaces is None or dest.read_bytes() != replaces):
            raise DataError(
                f"{path}: already exists with different content; not overwritten "
                "(pass --force to replace it)"
            )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"{path}: {parent} is a file, not a folder")
            break
    return True


def _write(path: Path, content: bytes) -> None:
    dest = _destination(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    except OSError as err:
        raise DataError(f"{path}: cannot write: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        mode = dest.stat().st_mode & 0o777 if dest.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        os.replace(tmp, dest)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise DataError(f"{path}: cannot write: {err.strerror or err}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_outputs(outputs: list[Output], force: bool) -> list[tuple[Path, bool]]:
    """Write every output under the policy above; ``(path, changed)`` for each, in order."""
    seen: dict[Path, Output] = {}
    for out in outputs:
        key = Path(os.path.abspath(out.path))
        if key in seen:
            first = seen[key]
            raise DataError(
                f"{out.path}: written twice in one run (by {first.owner or 'one output'} and "
                f"{out.owner or 'another'}); nothing was written — give each spec its own name"
            )
        seen[key] = out
    changed = [preflight(out.path, force, out.content, out.replaces) for out in outputs]
    for out, change in zip(outputs, changed, strict=True):
        if change:
            _write(out.path, out.content)
    return [(out.path, change) for out, change in zip(outputs, changed, strict=True)]


def write_text(path: Path, text: str, force: bool, owner: str = "") -> bool:
    """Write one text file under the policy; False when it already held ``text``."""
    return write_outputs([Output.text(path, text, owner)], force)[0][1]
