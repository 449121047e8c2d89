"""Early-warning engine: analytical store, ingest, series, temporal detectors, disproportionality.

Pure Python (numpy, scipy, numba, Ibis); it imports nothing from Django or the platform apps.
"""
