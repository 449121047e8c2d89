"""Operations: liveness and readiness endpoints, and structured logs that carry the request id."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging

import duckdb
import pytest
from django.test import override_settings
from django.utils import timezone

from qslab.core import health
from qslab.core.logs import JsonFormatter, RequestIdFilter


def test_liveness_answers_without_touching_the_database(client, db, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


def test_probes_need_no_allowed_host_and_no_https(client):
    with override_settings(ALLOWED_HOSTS=["qslab.example.org"], SECURE_SSL_REDIRECT=True):
        response = client.get("/healthz", headers={"Host": "10.0.0.7:8000"})
    assert response.status_code == 200


def test_readiness_reports_each_dependency(client, db, settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    duckdb.connect(str(settings.DUCKDB_PATH)).close()
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["analytical_store"]["status"] == "ok"
    assert {"worker", "scheduler"} <= set(body["checks"])


def test_readiness_fails_when_the_analytical_store_is_corrupt(client, db, settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    settings.DUCKDB_PATH.write_bytes(b"this is not a duckdb file" * 100)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["analytical_store"]["status"] == "fail"


def test_readiness_fails_when_the_database_is_down(client, db, monkeypatch):
    monkeypatch.setattr(
        health, "check_database", lambda: {"status": "fail", "error": "OperationalError: connection refused"}
    )
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "fail"


def test_a_stalled_worker_and_a_silent_scheduler_are_warnings_not_failures(db, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    now = timezone.now()
    DBTaskResult.objects.create(
        status="READY",
        args_kwargs={"args": [], "kwargs": {}},
        task_path="qslab.core.tasks.send_reminders_task",
        queue_name="default",
        backend_name="default",
        run_after=now - dt.timedelta(hours=2),
    )
    checks = health.check_task_queue(now)
    assert checks["worker"]["status"] == "warn"
    assert checks["worker"]["oldest_waiting_seconds"] >= 7200
    assert checks["scheduler"]["status"] == "warn"  # never enqueued anything
    DBTaskResult.objects.create(
        status="READY",
        args_kwargs={"args": [], "kwargs": {}},
        task_path=health.SCHEDULER_TASK,
        queue_name="default",
        backend_name="default",
        run_after=now + dt.timedelta(minutes=5),
    )
    assert health.check_task_queue(now)["scheduler"]["status"] == "ok"


def test_probes_refuse_other_methods(client):
    assert client.post("/readyz").status_code == 405


def _capture(logger_name: str) -> tuple[logging.Logger, io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    return logger, stream, handler


@pytest.mark.django_db
def test_each_request_logs_one_json_line_with_its_request_id(client):
    logger, stream, handler = _capture("qslab.request")
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        response = client.get("/", headers={"X-Request-ID": "abc123"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    assert response["X-Request-ID"] == "abc123"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "abc123"
    assert line["method"] == "GET" and line["path"] == "/" and line["status"] == 200
    assert line["duration_ms"] >= 0 and line["level"] == "INFO" and line["logger"] == "qslab.request"


def test_a_line_logged_during_a_request_carries_its_request_id():
    from qslab.core import context

    logger, stream, handler = _capture("qslab.test")
    token = context.current_request_id.set("r42")
    try:
        logger.error("inside", extra={"lab_id": 7})
    finally:
        context.current_request_id.reset(token)
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["request_id"] == "r42" and line["message"] == "inside" and line["lab_id"] == 7


def test_the_json_formatter_writes_exceptions_and_unicode():
    record = logging.LogRecord("qslab.x", logging.ERROR, __file__, 1, "失败 %s", ("原因",), None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    RequestIdFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "失败 原因" and "ValueError: boom" in line["exception"]
    assert line["request_id"] is None or line["request_id"] == "-"
