"""API of the sharing app (mounted at /api/sharing/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["sharing"])
