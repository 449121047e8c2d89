"""A lab manager fills in the annual report on its page and submits it; the office returns it with a
reason and accepts the resubmission; a required field left empty blocks the submission."""

from __future__ import annotations

from qslab.core.testing import verified_client


def test_the_lab_manager_fills_in_and_submits_and_the_office_returns_then_accepts(world):
    report = world.report
    report.values = {}
    report.save(update_fields=["values"])
    manager = verified_client(world.users["lab_manager"])
    url = report.get_absolute_url()
    assert 'name="summary"' in manager.get(url).content.decode()

    manager.post(f"/supervision/reports/{report.pk}/actions/submit/")
    report.refresh_from_db()
    assert report.status == "open", "required fields are empty: not submitted"

    assert manager.post(url, {"summary": "全年运行正常。", "staff": "12"}).status_code == 302
    report.refresh_from_db()
    assert report.values["summary"] == "全年运行正常。" and float(report.values["staff"]) == 12
    manager.post(f"/supervision/reports/{report.pk}/actions/submit/")
    report.refresh_from_db()
    assert report.status == "submitted" and report.submitted_at is not None

    office = verified_client(world.users["office"])
    office.post(f"/supervision/reports/{report.pk}/actions/return/", {"reason": "请补充人员构成"})
    report.refresh_from_db()
    assert report.status == "returned"
    manager.post(f"/supervision/reports/{report.pk}/actions/submit/")
    office.post(f"/supervision/reports/{report.pk}/actions/accept/")
    report.refresh_from_db()
    assert report.status == "accepted"
    # the lab may not change an accepted report, nor another lab's report
    assert manager.post(url, {"summary": "改"}).status_code == 403
    assert manager.get(world.other_report.get_absolute_url()).status_code in (403, 404)
