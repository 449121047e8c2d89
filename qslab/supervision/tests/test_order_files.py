"""A laboratory answers a rectification order with its plan and evidence as text and files: the files are
checked by content and size before anything is recorded and are served only by the checked download
view, to the office, the committee and the lab's own manager."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.models import Attachment
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision.models import RectificationOrder

PDF = b"%PDF-1.7\n%plan\n"


def status_of(client: Any, url: str) -> int:
    response = client.get(url)
    close_quietly(response)
    return response.status_code


def test_the_lab_answers_an_order_with_files_on_the_page_and_only_clean_files_are_taken(users):
    lab = make_lab("of1", status="named")
    scope_to(users["lab_manager"], lab)
    order = RectificationOrder.objects.create(
        laboratory=lab, grounds="问题", due_on=timezone.localdate() + dt.timedelta(days=10)
    )
    manager = verified_client(users["lab_manager"])
    page = manager.get(order.get_absolute_url()).content.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="files"' in page

    bad = manager.post(
        order.get_absolute_url(),
        {"response": "方案", "files": [SimpleUploadedFile("x.html", b"<html><script>1</script>")]},
    )
    assert bad.status_code == 302
    order.refresh_from_db()
    assert order.status == "issued" and not Attachment.objects.exists()

    ok = manager.post(
        order.get_absolute_url(),
        {
            "response": "整改方案",
            "files": [SimpleUploadedFile("plan.pdf", PDF), SimpleUploadedFile("b.pdf", PDF)],
        },
    )
    assert ok.status_code == 302
    order.refresh_from_db()
    assert order.status == "responded"
    files = list(Attachment.objects.filter(object_id=str(order.pk), content_type__model="rectificationorder"))
    assert sorted(f.name for f in files) == ["b.pdf", "plan.pdf"]
    assert all(f.change_record and f.change_record.transition == "respond" for f in files)
    url = f"/supervision/files/{files[0].pk}/"
    assert url in manager.get(order.get_absolute_url()).content.decode()
    assert status_of(manager, url) == 200
    assert status_of(verified_client(users["office"]), url) == 200
    assert status_of(verified_client(make_user("lab_manager", scope=make_lab("of2"))), url) == 404
    assert status_of(verified_client(None), url) == 302  # to sign-in
