"""The committee's minutes and the acceptance consensus are issued as numbered bilingual PDFs, linked
from the meeting and construction pages, visible to the people they concern."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from django.utils import timezone

from qslab.core.models import OfficialDocument
from qslab.core.testing import make_organisation
from qslab.designation import services
from qslab.designation.tests.factories import make_application, make_call, seat
from qslab.designation.tests.test_panels_and_construction import _under_construction

pytestmark = pytest.mark.django_db


def _text(path: str) -> str:
    assert shutil.which("pdftotext"), "poppler-utils is required (.ci/run installs it)"
    out = subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout
    return out.replace("\n", "")


def test_closing_a_meeting_issues_its_minutes_as_a_numbered_pdf_in_both_languages(users, clients):
    call = make_call("minutes", quorum=1)
    app = make_application(call, make_organisation(region_code="320000"), status="reviewed")
    seat(users["committee"])
    meeting = services.schedule_meeting(
        users["office"], title="第五次会议", held_on=timezone.localdate(), applications=[app]
    )
    services.cast_vote(users["committee"], app, "approve")
    services.record_decision(users["office"], app, "同意")
    services.close_meeting(users["office"], meeting, "会议审议通过一项申请")
    meeting.refresh_from_db()
    doc = meeting.document
    assert doc is not None and doc.kind.code == "designation_minutes"
    assert doc.number.startswith("国质标实纪〔") and doc.number.endswith("号")
    assert not doc.is_public
    assert doc.recipients.filter(user=users["committee"]).exists(), "members in term receive the minutes"
    zh, en = _text(doc.pdf_zh.path), _text(doc.pdf_en.path)
    assert "会议审议通过一项申请" in zh and "批准" in zh and app.name_zh in zh
    assert "Minutes of the Review Committee" in en and "approved" in en and doc.number in en
    page = clients["committee"].get(f"/designation/committee/meetings/{meeting.pk}/")
    assert doc.number in page.content.decode() and doc.get_absolute_url() in page.content.decode()
    with pytest.raises(Exception, match="already closed"):
        services.close_meeting(users["office"], meeting, "再次")
    assert OfficialDocument.objects.filter(kind__code="designation_minutes").count() == 1


def test_the_acceptance_consensus_is_a_numbered_pdf_for_the_lab_without_reviewer_names(users, clients):
    applicant, app, construction, expert = _under_construction(users, "accdoc")
    a = app.assignments.get(stage="acceptance", expert=expert.user)
    services.submit_review(expert.user, a, {"milestones": 4, "capacity": 4}, "良好")
    report = services.submit_consensus(
        expert.user,
        app,
        "acceptance",
        scores={"milestones": 4, "capacity": 4},
        summary="各项建设任务已完成",
        strengths="平台完善",
        recommendation="positive",
    )
    doc = report.document
    assert doc is not None and doc.kind.code == "designation_acceptance"
    assert doc.number.startswith("国质标实验〔")
    assert doc.recipients.filter(user=applicant).exists()
    assert doc.issued_by is None, "the moderator is not named to the applicant"
    zh, en = _text(doc.pdf_zh.path), _text(doc.pdf_en.path)
    assert "各项建设任务已完成" in zh and "建议通过验收" in zh
    assert "recommends passing the acceptance" in en and "Weighted total" in en
    for text in (zh, en):
        assert expert.name not in text and expert.user.username not in text
    html = clients["lab_manager"].get(construction.get_absolute_url()).content.decode()
    assert doc.number in html and doc.get_absolute_url() in html
    assert clients["lab_manager"].get(doc.get_absolute_url()).status_code == 200
    designation_report = app.consensus_reports.filter(stage="designation").first()
    assert designation_report is None or designation_report.document is None


def test_the_public_notice_is_a_numbered_public_pdf_in_both_languages_linked_from_the_notice(users, client):
    call = make_call("notice-doc", notice_working_days=5)
    app = make_application(
        call, make_organisation(region_code="320000", name_en="Notice University"), status="approved"
    )
    services.move_application(users["office"], app, "publish_notice")
    notice = app.__class__.objects.get(pk=app.pk).public_notice
    doc = notice.document
    assert doc is not None and doc.kind.code == "designation_notice" and doc.is_public
    assert doc.number.startswith("国质标实公〔") and doc.number.endswith("号")
    zh, en = _text(doc.pdf_zh.path), _text(doc.pdf_en.path)
    assert app.name_zh in zh and f"{notice.ends_on:%Y-%m-%d}" in zh and "5个工作日" in zh
    assert "Public notice" in en and "Notice University" in en and doc.number in en
    page = client.get(notice.get_absolute_url()).content.decode()
    assert doc.number in page and doc.get_absolute_url() in page, "the visitor sees the number and link"
    assert client.get(doc.get_absolute_url()).status_code == 200, "published: anyone opens it"
    listed = client.get("/api/designation/notices").json()["items"]
    assert [(n["id"], n["document_number"]) for n in listed] == [(notice.pk, doc.number)]
