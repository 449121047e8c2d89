"""The office suspends a laboratory and restores it from the supervision pages or API, with a reason: the labs
lifecycle takes the audited step and issues the numbered public decision, and the public directory and the
sanctions list show the status. A lab with an open rectification order is not restored."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.labs.models import Laboratory
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager = users, users["office"], users["lab_manager"]
    e.lab = make_lab("sus", status="named", region="320000")
    scope_to(e.manager, e.lab)
    return e


def test_a_suspension_is_audited_numbered_public_and_shown_in_the_directory(env):
    lab = services.suspend_laboratory(env.office, env.lab, "严重违反管理办法")
    assert lab.status == "suspended"
    assert lab.last_document.kind.code == "lab_suspension" and lab.last_document.is_public
    record = ChangeRecord.objects.filter(transition="suspend", object_id=str(lab.pk)).get()
    assert (record.from_state, record.to_state, record.reason) == ("named", "suspended", "严重违反管理办法")
    public = verified_client(None)
    directory = public.get("/labs/", {"status": "suspended"}).content.decode()
    assert lab.name_en in directory or lab.name_zh in directory
    sanctions = public.get("/supervision/sanctions/").content.decode()
    assert lab.last_document.number in sanctions
    assert public.get("/api/supervision/sanctions").json()[0]["status"] == "suspended"


def test_suspension_and_restoration_need_a_reason_the_office_and_the_right_status(env):
    with pytest.raises(ValidationError, match="reason"):
        services.suspend_laboratory(env.office, env.lab, " ")
    with pytest.raises(PermissionDenied):
        services.suspend_laboratory(env.users["committee"], env.lab, "x")
    with pytest.raises(ValidationError, match="suspended"):
        services.restore_laboratory(env.office, env.lab, "x")
    proposed = make_lab("new", status="proposed")
    with pytest.raises(ValidationError):
        services.suspend_laboratory(env.office, proposed, "x")
    assert Laboratory.objects.get(pk=env.lab.pk).status == "named"


def test_a_lab_with_an_open_rectification_order_is_restored_only_once_the_order_is_closed(env):
    order = services.order_rectification(env.office, env.lab, grounds="问题")
    services.suspend_laboratory(env.office, env.lab, "整改期间暂停运行")
    with pytest.raises(ValidationError, match="still open"):
        services.restore_laboratory(env.office, env.lab, "恢复")
    services.respond_to_order(env.manager, order, "整改完成")
    services.move_order(env.office, order, "verify")
    lab = services.restore_laboratory(env.office, env.lab, "整改通过，恢复运行")
    assert lab.status == "named"
    assert lab.last_document.kind.code == "lab_reinstatement"
    assert sorted(e.to_state for e in services.suspension_history(lab)) == ["named", "suspended"]


def test_the_office_suspends_and_restores_from_the_page_and_the_api(env):
    client = verified_client(env.office)
    page = client.get(f"/supervision/labs/{env.lab.pk}/suspension/")
    assert 'data-action="suspend"' in page.content.decode()
    client.post(f"/supervision/labs/{env.lab.pk}/suspension/", {"action": "suspend", "reason": "暂停"})
    assert Laboratory.objects.get(pk=env.lab.pk).status == "suspended"
    page = client.get(f"/supervision/labs/{env.lab.pk}/suspension/").content.decode()
    assert 'data-action="restore"' in page and "暂停" in page
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.office, "t")
    r = verified_client(None).post(
        f"/api/supervision/laboratories/{env.lab.pk}/restore",
        {"reason": "恢复"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["status"] == "named" and r.json()["document_number"]
