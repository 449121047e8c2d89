"""API of the labs app (mounted at /api/labs/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["labs"])
