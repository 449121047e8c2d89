"""Health endpoints for load balancers and orchestrators: ``/healthz`` (liveness) and ``/readyz`` (readiness).

Served by ``HealthCheckMiddleware``, first in ``MIDDLEWARE``: the probes reach the process without a
session, a host name from ``ALLOWED_HOSTS``, an HTTPS redirect or a database query they do not need.

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process can answer. Touches nothing else.
- ``GET /readyz``: 200 when the process can serve traffic, 503 when a required dependency fails.
  ``checks`` holds one entry per dependency, each ``{"status": "ok" | "warn" | "fail", ...}``:
  ``database`` (required: a query on the relational store), ``analytical_store`` (required: the
  DuckDB file opens read-only; absent is fine before the first ingest; a file locked by a writer is
  "ok", busy), ``worker`` and ``scheduler`` (informational, "warn" only: the database task queue has
  tasks waiting longer than ``HEALTH_WORKER_MAX_WAIT`` seconds, or the scheduler enqueued nothing
  for ``HEALTH_SCHEDULER_MAX_SILENCE`` seconds: a stopped worker must not take the web tier out of
  rotation, but the operator sees it).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

PATHS = ("/healthz", "/readyz")
SCHEDULER_TASK = "qslab.sharing.tasks.release_no_shows_task"  # enqueued by run_scheduler every check


def _json(payload: dict[str, Any], status: int = 200) -> HttpResponse:
    response = HttpResponse(json.dumps(payload), status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "vendor": connections["default"].vendor, "ms": _ms(started)}


def check_analytical_store(path: Path | None = None) -> dict[str, Any]:
    import duckdb

    path = Path(path or settings.DUCKDB_PATH)
    if not path.exists():
        return {"status": "ok", "detail": "no file yet (created by the first ingest)"}
    started = time.perf_counter()
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            return {"status": "ok", "detail": "in use by a writer"}
        return {"status": "fail", "error": str(exc)[:300]}
    except Exception as exc:
        return {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    try:
        con.execute("SELECT 1").fetchone()
    except Exception as exc:
        return {"status": "fail", "error": f"{type(exc).__name__}: {exc}"[:300]}
    finally:
        con.close()
    return {"status": "ok", "ms": _ms(started)}


def check_task_queue(now: dt.datetime | None = None) -> dict[str, dict[str, Any]]:
    """The worker's and the scheduler's heartbeat, as the database task queue shows them."""
    backend = settings.TASKS.get("default", {}).get("BACKEND", "")
    if not backend.startswith("django_tasks_db"):
        skipped = {"status": "ok", "detail": f"tasks run by {backend.rsplit('.', 1)[-1]}"}
        return {"worker": skipped, "scheduler": dict(skipped)}
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    max_wait = getattr(settings, "HEALTH_WORKER_MAX_WAIT", 600)
    max_silence = getattr(settings, "HEALTH_SCHEDULER_MAX_SILENCE", 1800)
    try:
        waiting = (
            DBTaskResult.objects.filter(status="READY", run_after__lte=now)
            .order_by("run_after")
            .values_list("run_after", flat=True)
            .first()
        )
        last_finished = (
            DBTaskResult.objects.exclude(finished_at=None)
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        last_scheduled = (
            DBTaskResult.objects.filter(task_path=SCHEDULER_TASK)
            .order_by("-enqueued_at")
            .values_list("enqueued_at", flat=True)
            .first()
        )
    except Exception as exc:
        failed = {"status": "warn", "error": f"{type(exc).__name__}: {exc}"[:300]}
        return {"worker": failed, "scheduler": dict(failed)}
    oldest_wait = (now - waiting).total_seconds() if waiting else 0.0
    worker = {
        "status": "warn" if oldest_wait > max_wait else "ok",
        "oldest_waiting_seconds": round(oldest_wait),
        "last_finished": last_finished.isoformat() if last_finished else None,
    }
    silence = (now - last_scheduled).total_seconds() if last_scheduled else None
    scheduler = {
        "status": "warn" if silence is None or silence > max_silence else "ok",
        "last_enqueued": last_scheduled.isoformat() if last_scheduled else None,
    }
    return {"worker": worker, "scheduler": scheduler}


def readiness() -> tuple[int, dict[str, Any]]:
    checks = {"database": check_database(), "analytical_store": check_analytical_store()}
    if checks["database"]["status"] == "ok":
        checks.update(check_task_queue())
    failed = any(c["status"] == "fail" for c in checks.values())
    warned = any(c["status"] == "warn" for c in checks.values())
    status = "fail" if failed else ("warn" if warned else "ok")
    return (503 if failed else 200), {"status": status, "checks": checks}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before any other middleware runs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        if path not in PATHS:
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = _json({"status": "fail", "detail": "GET only"}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        if path == "/healthz":
            return _json({"status": "ok"})
        status, payload = readiness()
        return _json(payload, status=status)
