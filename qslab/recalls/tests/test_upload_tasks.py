"""Supply-chain uploads (CSV or XLSX) run as background tasks with progress; all or nothing, with every
row's problem listed."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.models import TaskProgress
from qslab.core.testing import make_user, verified_client
from qslab.labs.xlsx import write_xlsx
from qslab.recalls import services
from qslab.recalls.models import TraceUpload
from qslab.recalls.tests.conftest import grant_client, make_company, make_product

pytestmark = pytest.mark.django_db

HEADER = ["gtin", "serial", "batch", "production_date"]


@pytest.fixture
def scene(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company()
    user = make_user("client")
    grant_client(user, company)
    return {"company": company, "user": user, "product": make_product(company)}


def _rows(gtin, n=4):
    return [[gtin, f"SN-A{i:06d}", "L1", "2025-03-02"] for i in range(1, n + 1)]


def _csv(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _post(scene, name, content, capture):
    client = verified_client(scene["user"])
    with capture(execute=True) as callbacks:
        response = client.post(
            reverse("recalls:uploads"),
            {"company": scene["company"].pk, "kind": "units", "file": SimpleUploadedFile(name, content)},
        )
    return response, callbacks


def test_the_page_queues_a_task_and_the_upload_shows_its_progress(scene, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = verified_client(scene["user"]).post(
            reverse("recalls:uploads"),
            {
                "company": scene["company"].pk,
                "kind": "units",
                "file": SimpleUploadedFile("units.csv", _csv(_rows(scene["product"].gtin))),
            },
        )
    upload = TraceUpload.objects.get()
    assert response.status_code == 302 and upload.status == "queued" and len(callbacks) == 1
    page = verified_client(scene["user"]).get(upload.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' in page, "a pending upload follows itself"
    callbacks[0]()  # the worker runs it (the test backend runs it at once)
    upload.refresh_from_db()
    assert upload.status == "done" and upload.n_inserted == 4 and upload.task_id
    task = TaskProgress.objects.get(task_id=upload.task_id)
    assert (task.status, task.done, task.total, task.owner) == ("done", 3, 3, scene["user"])
    page = verified_client(scene["user"]).get(upload.get_absolute_url()).content.decode()
    assert 'hx-trigger="every 2s"' not in page and "Supply-chain upload" in page and "<progress" in page


def test_an_xlsx_file_is_loaded_like_a_csv(scene, django_capture_on_commit_callbacks):
    content = write_xlsx(HEADER, _rows(scene["product"].gtin, 3), sheet_name="units")
    _post(scene, "units.xlsx", content, django_capture_on_commit_callbacks)
    upload = TraceUpload.objects.get()
    assert upload.status == "done", upload.message
    store = services.trace_store()
    try:
        assert store.count_units() == 3
    finally:
        store.close()


def test_an_xlsx_file_with_bad_rows_writes_nothing_and_lists_every_problem(
    scene, django_capture_on_commit_callbacks
):
    rows = _rows(scene["product"].gtin, 5)
    rows[1][3] = "2025-02-30"
    rows[3][0] = "6901234500019"  # wrong check digit
    rows[4][1] = ""
    content = write_xlsx(HEADER, rows, sheet_name="units")
    _post(scene, "units.xlsx", content, django_capture_on_commit_callbacks)
    upload = TraceUpload.objects.get()
    assert upload.status == "rejected"
    found = {(p["row"], p["column"]) for p in upload.problems}
    assert {(2, "production_date"), (4, "gtin"), (5, "serial")} <= found
    store = services.trace_store()
    try:
        assert store.count_units() == 0, "nothing was written"
    finally:
        store.close()
    task = TaskProgress.objects.get(task_id=upload.task_id)
    assert task.status == "done" and "nothing was written" in task.message


def test_a_file_that_is_not_what_its_name_says_is_refused_before_any_task(
    scene, django_capture_on_commit_callbacks
):
    response, callbacks = _post(
        scene, "units.xlsx", b"gtin,serial\n1,2\n", django_capture_on_commit_callbacks
    )
    assert response.status_code == 200 and not callbacks
    assert "not an accepted type" in response.content.decode()
    response, _callbacks = _post(scene, "units.pdf", b"%PDF-1.7", django_capture_on_commit_callbacks)
    assert "CSV" in response.content.decode() and not TraceUpload.objects.exists()


def test_an_unreadable_xlsx_fails_with_a_message(scene):
    content = b"PK\x03\x04" + b"xl/" + b"\0" * 40
    upload = services.upload_trace(
        scene["user"], scene["company"], "units", SimpleUploadedFile("u.xlsx", content)
    )
    assert upload.status == "failed" and "XLSX" in upload.message
