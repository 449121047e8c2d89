"""A task worker killed (SIGKILL) in the middle of an import leaves nothing half-written, and the import
completes without a human: the scheduled stale-task recovery queues it again for a new worker.

This runs the real thing: ``manage.py db_worker`` as a separate process (the django-tasks database
backend, production settings apart from the paths), an analyst's data intake queued through the service,
``kill -9`` while the worker is inside the task, then a second worker. On SQLite the test database is
copied to a file the worker can open; with ``DATABASE_URL`` set to PostgreSQL the worker connects to the
test database itself.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections

# Transactional (the worker sees only committed rows), with the migrated reference data restored afterwards
# for the tests that run after this one in the same process.
pytestmark = [pytest.mark.serial, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REPO = Path(__file__).resolve().parents[3]
FDA = "fda_drug_enforcement/drug_enforcement_2012_2023.csv.gz"
COPIES = 4  # the real file four times over (distinct recall numbers): a few seconds of work to interrupt


def enforcement_csv(data_dir: Path) -> tuple[bytes, int]:
    """The real openFDA enforcement file repeated with distinct recall numbers, and its row count."""
    with gzip.open(data_dir / FDA, "rt", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for copy in range(COPIES):
        for row in rows:
            writer.writerow([f"{row[0]}-{copy}", *row[1:]])
    return out.getvalue().encode(), len(rows) * COPIES


@pytest.fixture
def worker_database(tmp_path: Path, settings: Any) -> Iterator[dict[str, str]]:
    """The environment a worker process needs to share this test's database, media and DuckDB file."""
    var = tmp_path / "var"
    (var / "media").mkdir(parents=True)
    settings.MEDIA_ROOT = var / "media"
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "DATABASE_URL"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "qslab.settings.base",
        "DEBUG": "0",
        "QSLAB_VAR_DIR": str(var),
        "DUCKDB_PATH": str(settings.DUCKDB_PATH),
        "PYTHONUNBUFFERED": "1",
    }
    if connection.vendor == "postgresql":
        s = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
            f"/{s['NAME']}"
        )
        yield env
        return
    # SQLite: the test database lives in memory; copy it (migrated) to the file the worker will open and
    # point this process's connection at the same file for the duration of the test.
    path = var / "qslab.sqlite3"
    connection.ensure_connection()
    with sqlite3.connect(path) as target:
        connection.connection.backup(target)
    target.close()
    env["DATABASE_URL"] = f"sqlite:///{path}"
    memory = connections["default"]
    on_file = memory.__class__({**memory.settings_dict, "NAME": str(path)}, alias="default")
    connections["default"] = on_file
    try:
        yield env
    finally:
        on_file.close()
        connections["default"] = memory


def start_worker(env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "manage.py", "db_worker", "--queue-name", "*", "--interval", "0.1"]
    command += ["--no-startup-delay", "--no-reload", *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(predicate: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-3000:]}")


def test_a_worker_killed_mid_import_leaves_nothing_half_written_and_the_recovery_has_it_completed(
    worker_database: dict[str, str], data_dir: Path, tmp_path: Path
) -> None:
    from django_tasks_db.models import DBTaskResult

    from qslab.core import scheduling
    from qslab.core.models import ChangeRecord
    from qslab.core.testing import make_user
    from qslab.risk import services
    from qslab.risk.models import IngestRun

    content, n_rows = enforcement_csv(data_dir)
    analyst = make_user("analyst")
    run = services.start_ingest(
        analyst, "fda-enforcement", SimpleUploadedFile("enforcement.csv", content, "text/csv")
    )
    first = DBTaskResult.objects.get()
    assert first.status == "READY" and run.status == "queued"

    log = tmp_path / "worker.log"
    worker = start_worker(worker_database, log)
    try:
        wait_for(lambda: IngestRun.objects.get(pk=run.pk).status == "running", 60, "the import to start", log)
        # Half a second into the engine's work (reading, checking every value, appending to the store:
        # about two seconds for this file on an idle machine), the worker dies without any cleanup.
        time.sleep(0.5)
        assert worker.poll() is None
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)

    # Killed inside the task: the task never finished, the run never reached "done", and the analytical
    # store holds none of the file's rows (DuckDB discards the uncommitted append when the file reopens).
    run.refresh_from_db()
    first.refresh_from_db()
    assert first.status == "RUNNING" and first.finished_at is None
    assert run.status == "running" and run.n_inserted == 0
    store = services.analytical_store()
    try:
        assert store.count("fda-enforcement") == 0
    finally:
        store.close()

    # No human queues it again: the scheduler's frequent stale-task recovery finds the task silent for
    # longer than the lease (1 s here), puts it back in the queue under the same id (the intake is
    # idempotent), and a new worker (batch mode: it exits when the queue is empty) completes the import.
    worker_database["QSLAB_TASK_LEASE_SECONDS"] = "1"
    time.sleep(1.5)
    (recovery,) = [j for j in scheduling.jobs("frequent") if j.task_path.endswith("recover_stale_tasks_task")]
    scheduling.enqueue(recovery)
    worker = start_worker(worker_database, log, "--batch")
    try:
        assert worker.wait(60) == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    first.refresh_from_db()
    assert first.status == "SUCCESSFUL" and len(first.worker_ids) == 2
    requeue = ChangeRecord.objects.get(object_id=str(first.pk), transition="requeue")
    assert requeue.from_state == "RUNNING" and "worker lost" in requeue.reason
    assert DBTaskResult.objects.filter(status="RUNNING").count() == 0
    run.refresh_from_db()
    assert run.status == "done", run.message
    assert (run.n_rows, run.n_inserted) == (n_rows, n_rows)
    store = services.analytical_store()
    try:
        assert store.count("fda-enforcement") == n_rows
    finally:
        store.close()
    assert Path(django_settings.MEDIA_ROOT, run.file.name).is_file()
