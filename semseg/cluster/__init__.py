"""Clustering segmentations: features pulled through DuckDB -> local fit -> model file.

The model file format and its assignment SQL are part of the compile layer
(``semseg.compile.cluster_model``, ``semseg.compile.cluster_sql``): compiling needs no numpy.
numpy and scikit-learn are imported inside the functions that fit, so importing
this package (or ``semseg.cli``) stays light.
"""
