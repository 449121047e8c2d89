"""API of the studies app (mounted at /api/studies/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["studies"])
