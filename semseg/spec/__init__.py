"""The spec layer: YAML file -> validated, typed ``Spec`` with the marks that locate its parts.

``load_spec`` is the entry point; ``model`` declares what a spec is, ``validate`` every rule a
spec must meet (each problem an ``Issue`` with file:line:col), ``graph`` what depends on what,
``names`` the rules and generated names that keep SQL names safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from semseg.errors import Issue, SpecError
from semseg.spec.load import Marks, load_yaml
from semseg.spec.model import Spec
from semseg.spec.params import substitute
from semseg.spec.validate import validate

__all__ = ["SpecFile", "find_specs", "load_spec"]


@dataclass(frozen=True)
class SpecFile:
    """A validated spec with where it came from (for error messages that point into the file)."""

    spec: Spec
    path: Path
    marks: Marks

    def with_as_of(self, as_of: date | str | None) -> SpecFile:
        """The spec with this as-of date (``--as-of``) in place of its own (None: its own)."""
        if as_of is None:
            return self
        return SpecFile(self.spec.model_copy(update={"as_of": as_of}), self.path, self.marks)


def load_spec(
    path: str | Path, variables: dict[str, str] | None = None, markers: bool = False
) -> SpecFile:
    """Load and validate a spec file; raise ``SpecError`` listing every problem found.

    ``variables`` (``--var``) set parameters; ``markers`` keeps every placeholder for dbt's
    ``var()`` (``semseg.spec.params``)."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(
            [
                Issue(
                    str(path),
                    1,
                    1,
                    "spec file not found",
                    "check the path; specs usually live in segment_specs/",
                )
            ]
        )
    loaded = load_yaml(path)
    if loaded.issues and loaded.data is None:
        raise SpecError(loaded.issues)
    data, placed, sites = substitute(loaded.data, loaded.marks, variables, markers)
    spec, issues = validate(data, loaded.marks)
    issues = loaded.issues + placed + issues
    if issues or spec is None:
        raise SpecError(issues)
    return SpecFile(spec.with_parameter_sites(sites), path, loaded.marks)


def find_specs(path: str | Path) -> list[Path]:
    """A spec file itself, or every ``*.yml``/``*.yaml`` in a folder, sorted by name."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    return [path]
