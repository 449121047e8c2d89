"""API of the risk app (mounted at /api/risk/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["risk"])
