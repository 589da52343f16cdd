"""semseg: customer segments declared once in YAML, compiled to any warehouse, verified locally.

Python API: ``semseg.spec.load_spec`` then ``semseg.compile.compile_spec``; the command line
(``semseg.cli``) is a thin shell over them.
"""

from __future__ import annotations

from semseg.version import __version__

__all__ = ["__version__"]
