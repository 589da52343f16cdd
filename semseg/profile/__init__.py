"""Profiling: over/under-index of each segment on its inputs and overlays (the seed's Step 5-6).

``index`` computes the index table (SQL for any dialect, or data through DuckDB); ``render``
draws it for a terminal or as one offline HTML page.
"""
