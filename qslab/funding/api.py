"""API of the funding app (mounted at /api/funding/ in qslab/api.py)."""

from ninja import Router

router = Router(tags=["funding"])
