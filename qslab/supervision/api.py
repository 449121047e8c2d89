"""API of the supervision app (mounted at /api/supervision/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["supervision"])
