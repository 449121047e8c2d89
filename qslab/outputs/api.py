"""API of the outputs app (mounted at /api/outputs/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["outputs"])
