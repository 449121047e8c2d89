"""The supervision work the pages do, done through the API alone: a template and its reports, an item
and a plan, the draw and a redraw with its reason, the inspections from the draw, a finding with an
evidence file, the corrective action, a rectification order answered with files, and a major change
filed by the lab's manager. Same services and permissions as the pages."""

from __future__ import annotations

import datetime as dt

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from qslab.core.testing import close_quietly, verified_client
from qslab.supervision.models import MajorChange, RectificationOrder, SpotCheckDraw, SpotCheckPlan

from .conftest import PNG, SECTIONS

PDF = b"%PDF-1.4\n%plan\n"


def _status(client, url):
    response = client.get(url)
    close_quietly(response)
    return response.status_code


def _api(world, role):
    token = world.tokens[role]
    client = Client()

    def post(path, data=None, multipart=False):
        headers = {"Authorization": f"Bearer {token}"}
        if multipart:
            return client.post(f"/api/supervision{path}", data=data or {}, headers=headers)
        return client.post(
            f"/api/supervision{path}", data or {}, content_type="application/json", headers=headers
        )

    def get(path):
        return client.get(f"/api/supervision{path}", headers={"Authorization": f"Bearer {token}"})

    return post, get


def test_plan_draw_redraw_inspection_finding_correction_and_order_through_the_api_only(world):
    office, office_get = _api(world, "office")
    expert, _expert_get = _api(world, "expert")
    manager, manager_get = _api(world, "lab_manager")
    today = timezone.localdate()

    r = office(
        "/items",
        {
            "code": "records",
            "name_zh": "记录管理",
            "name_en": "Records",
            "legal_basis": "管理办法第十条",
            "content": "原始记录",
            "method": "现场查阅",
        },
    )
    assert r.status_code == 201, r.content
    item_id = r.json()["id"]
    assert any(i["code"] == "records" for i in Client().get("/api/supervision/items").json())

    r = office(
        "/plans",
        {
            "year": today.year,
            "name_zh": "年度抽查",
            "name_en": "Yearly spot check",
            "item_ids": [item_id],
            "proportions": {"high": 1, "normal": 1, "low": 1},
            "conflict_rules": [],
        },
    )
    assert r.status_code == 201, r.content
    plan_id = r.json()["id"]
    assert office(f"/plans/{plan_id}/draws", {"after": 0}).status_code == 422  # no seed published yet
    assert office(f"/plans/{plan_id}/seed", {"seed_source": "lottery 2026-042"}).status_code == 200
    assert manager(f"/plans/{plan_id}/draws", {"after": 0}).status_code in (403, 404)

    first = office(f"/plans/{plan_id}/draws", {"after": 0})
    assert first.status_code == 201, first.content
    assert first.json()["number"] == 1 and first.json()["rerun_matches"]
    assert office(f"/plans/{plan_id}/draws", {"after": 1}).status_code == 422  # a redraw needs a reason
    second = office(f"/plans/{plan_id}/draws", {"after": 1, "reason": "抽中检查员回避"})
    assert second.status_code == 201, second.content
    assert second.json()["number"] == 2 and second.json()["reason"] == "抽中检查员回避"
    assert SpotCheckDraw.objects.get(plan_id=plan_id, number=1).superseded
    draws = office_get(f"/plans/{plan_id}/draws").json()
    assert [(d["number"], d["superseded"]) for d in draws] == [(2, False), (1, True)]

    r = office(f"/plans/{plan_id}/inspections", {"planned_on": today.isoformat()})
    assert r.status_code == 201, r.content
    inspection = next(i for i in r.json() if i["laboratory_id"] == world.lab.pk)
    assert len(inspection["inspector_ids"]) == 2 and inspection["spot_check_id"]
    assert world.users["expert"].pk in inspection["inspector_ids"]

    r = expert(
        f"/inspections/{inspection['id']}/findings",
        {
            "severity": "major",
            "description": "原始记录缺失",
            "evidence": "见照片",
            "files": [SimpleUploadedFile("photo.png", PNG)],
        },
        multipart=True,
    )
    assert r.status_code == 201, r.content
    finding = r.json()
    assert finding["files"][0]["name"] == "photo.png"
    assert finding["files"][0]["url"].startswith("/supervision/files/")
    r = expert(
        f"/inspections/{inspection['id']}/findings",
        {"severity": "minor", "description": "x", "files": [SimpleUploadedFile("a.exe", b"MZ\x90\x00")]},
        multipart=True,
    )
    assert r.status_code == 422 and "a.exe" in r.content.decode()

    # the lab does not see the inspection (nor its files) before the findings are recorded
    assert not [i for i in manager_get("/inspections").json()["items"] if i["id"] == inspection["id"]]
    lab_browser = verified_client(world.users["lab_manager"])
    assert _status(lab_browser, finding["files"][0]["url"]) == 404
    r = expert(
        f"/inspections/{inspection['id']}/record", {"conducted_on": today.isoformat(), "summary": "发现问题"}
    )
    assert r.status_code == 200 and r.json()["status"] == "reported"
    assert _status(lab_browser, finding["files"][0]["url"]) == 200

    assert manager(f"/findings/{finding['id']}/corrective-actions", {"request": "补全"}).status_code in (
        403,
        404,
    )
    r = office(
        f"/findings/{finding['id']}/corrective-actions", {"request": "补全原始记录", "working_days": 10}
    )
    assert r.status_code == 201, r.content
    action_id = r.json()["id"]
    r = manager(
        f"/corrective-actions/{action_id}/response",
        {"response": "已补全", "files": [SimpleUploadedFile("fixed.pdf", PDF)]},
        multipart=True,
    )
    assert r.status_code == 200 and r.json()["status"] == "responded", r.content
    assert r.json()["files"][0]["name"] == "fixed.pdf"

    r = office(
        f"/laboratories/{world.lab.pk}/rectification-orders",
        {"grounds": "重大问题", "working_days": 30, "inspection_id": inspection["id"]},
    )
    assert r.status_code == 201, r.content
    order = r.json()
    assert order["document_number"] and order["status"] == "issued"
    assert RectificationOrder.objects.get(pk=order["id"]).inspection_id == inspection["id"]
    r = manager(
        f"/orders/{order['id']}/response",
        {
            "response": "整改方案与证据",
            "files": [SimpleUploadedFile("plan.pdf", PDF), SimpleUploadedFile("site.png", PNG)],
        },
        multipart=True,
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "responded"
    assert sorted(f["name"] for f in r.json()["files"]) == ["plan.pdf", "site.png"]
    download = lab_browser.get(r.json()["files"][0]["url"])
    close_quietly(download)
    assert download.status_code == 200 and "attachment" in download["Content-Disposition"]
    assert _status(verified_client(world.users["client"]), r.json()["files"][0]["url"]) == 404
    r = office(f"/orders/{order['id']}/transitions/verify", {"reason": "整改到位"})
    assert r.status_code == 200 and r.json()["status"] == "verified"
    assert SpotCheckPlan.objects.get(pk=plan_id).status == "drawn"


def test_templates_and_major_changes_through_the_api(world):
    office, _ = _api(world, "office")
    manager, _ = _api(world, "lab_manager")
    today = timezone.localdate()
    body = {
        "year": today.year,
        "sections": SECTIONS,
        "opens_on": today.isoformat(),
        "due_on": (today + dt.timedelta(days=60)).isoformat(),
    }
    assert manager("/templates", body).status_code == 403
    r = office("/templates", body)
    assert r.status_code == 201, r.content
    assert office("/templates", body).status_code == 422  # one template a year
    assert office("/templates", {**body, "year": today.year + 1, "sections": []}).status_code == 422
    r = office(f"/templates/{r.json()['id']}/open")
    assert r.status_code == 200 and r.json()["opened"] and r.json()["reports"] >= 2

    MajorChange.objects.all().delete()
    r = manager(
        f"/laboratories/{world.lab.pk}/changes", {"kind": "director", "new_value": "王五", "reason": "换届"}
    )
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "submitted" and r.json()["proposed"] == "王五"
    r = manager(
        f"/laboratories/{world.other_lab.pk}/changes",
        {"kind": "director", "new_value": "赵六", "reason": "换届"},
    )
    assert r.status_code == 403
    assert (
        manager(f"/laboratories/{world.lab.pk}/changes", {"kind": "director", "reason": "x"}).status_code
        == 422
    )


def test_a_phased_evaluation_with_timetable_visit_scores_and_confirmation_through_the_api_only(world):
    office, _ = _api(world, "office")
    expert, _ = _api(world, "expert")
    committee, _ = _api(world, "committee")
    _manager_post, manager_get = _api(world, "lab_manager")
    today = timezone.localdate()
    r = office(
        "/campaigns",
        {
            "code": "api-eval",
            "name_zh": "阶段评估",
            "name_en": "Phased evaluation",
            "year": today.year,
            "indicators": [{"code": "q", "name_zh": "质量", "name_en": "Quality", "kind": "qualitative"}],
            "visits_from": (today - dt.timedelta(days=5)).isoformat(),
            "visits_to": (today + dt.timedelta(days=5)).isoformat(),
            "scoring_due": (today + dt.timedelta(days=10)).isoformat(),
        },
    )
    assert r.status_code == 201, r.content
    campaign_id = r.json()["id"]
    assert r.json()["timetable"]["visits_to"] == (today + dt.timedelta(days=5)).isoformat()
    assert office("/campaigns", {**r.json(), "indicators": [], "code": "x"}).status_code == 422
    expert_id = world.users["expert"].pk
    r = office(
        f"/campaigns/{campaign_id}/entries",
        {"laboratory_id": world.lab.pk, "expert_ids": [expert_id], "lead_expert_id": expert_id},
    )
    assert r.status_code == 200 and r.json()["laboratory_ids"] == [world.lab.pk], r.content
    entry = world.lab.evaluations.get(campaign_id=campaign_id)
    assert office(f"/campaigns/{campaign_id}/transitions/open_scoring").status_code == 200

    r = expert(
        f"/entries/{entry.pk}/visit",
        {
            "visited_on": today.isoformat(),
            "place": "实验室",
            "expert_ids": [expert_id],
            "agenda": "设备、记录",
            "summary": "良好",
            "files": SimpleUploadedFile("minutes.pdf", PDF),
        },
        multipart=True,
    )
    assert r.status_code == 200, r.content
    assert expert(f"/entries/{entry.pk}/scores", {"scores": {"q": 88}}).status_code == 200
    assert manager_get(f"/entries/{entry.pk}/visit").status_code == 404  # not before publication
    r = committee(f"/campaigns/{campaign_id}/transitions/confirm")
    assert r.status_code == 200 and r.json()["status"] == "confirmed", r.content
    assert office(f"/campaigns/{campaign_id}/transitions/publish").status_code == 200
    visit = manager_get(f"/entries/{entry.pk}/visit")
    assert visit.status_code == 200 and visit.json()["summary"] == "良好"


def test_a_plan_from_someone_not_in_the_office_is_refused_before_its_items_are_checked(world):
    """A caller who may not create plans gets 403 whatever the item ids, not a 422 that tells them
    which items exist."""
    manager, _manager_get = _api(world, "lab_manager")
    r = manager(
        "/plans",
        {
            "year": timezone.localdate().year,
            "name_zh": "年度抽查",
            "name_en": "Yearly spot check",
            "item_ids": [987654],
            "proportions": {"normal": 1},
        },
    )
    assert r.status_code == 403, r.content
    assert not SpotCheckPlan.objects.filter(name_en="Yearly spot check").exists()
