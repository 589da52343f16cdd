"""Profiling: over/under-index of each segment on its inputs and overlays (the seed's Step 5-6)."""

from __future__ import annotations

__all__ = ["profile", "profile_sql", "render_terminal", "render_html"]


def __getattr__(name: str):
    if name in ("profile", "profile_sql"):
        from semseg.profile import index

        return getattr(index, name)
    if name in ("render_terminal", "render_html"):
        from semseg.profile import render

        return getattr(render, name)
    raise AttributeError(name)
