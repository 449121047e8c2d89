"""API of the designation app (mounted at /api/designation/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["designation"])
