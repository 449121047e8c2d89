"""The record of a phased evaluation's on-site visit: the office or the lead expert enters date, place,
experts present, what was examined, the summary and files; the entry's experts read it at once, the
laboratory once the results are published; files are checked on the way in and served by a checked
view."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.models import Attachment
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import EvaluationCampaign, EvaluationVisit
from qslab.supervision.tests.conftest import INDICATORS, PNG


def status_of(client: Any, url: str) -> int:
    response = client.get(url)
    close_quietly(response)
    return response.status_code


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager, e.expert = users, users["office"], users["lab_manager"], users["expert"]
    e.lab = make_lab("vr1", status="named")
    scope_to(e.manager, e.lab)
    e.other_expert = make_user("expert")
    e.campaign = services.create_campaign(
        e.office, code="vr", name_zh="评估", name_en="Evaluation", year=2026, indicators=INDICATORS
    )
    e.entry = services.add_to_campaign(e.office, e.campaign, e.lab, [e.expert, e.other_expert], e.expert)
    return e


def _form(env: Any, **extra: Any) -> dict[str, Any]:
    return {
        "visited_on": timezone.localdate().isoformat(),
        "place": "实验室主楼三层",
        "experts": [env.expert.pk, env.other_expert.pk],
        "agenda": "查看设备台账、原始记录，座谈",
        "summary": "管理规范，个别记录不完整。",
        **extra,
    }


def test_the_lead_expert_records_the_visit_and_the_lab_reads_it_once_the_results_are_published(env):
    lead = verified_client(env.expert)
    url = f"/supervision/entries/{env.entry.pk}/visit/"
    r = lead.post(url, _form(env, files=SimpleUploadedFile("minutes.png", PNG)))
    assert r.status_code == 302, r.content
    visit = EvaluationVisit.objects.get(entry=env.entry)
    assert set(visit.experts_present.all()) == {env.expert, env.other_expert}
    [file] = Attachment.objects.filter(object_id=str(visit.pk), content_type__model="evaluationvisit")
    file_url = f"/supervision/files/{file.pk}/"
    assert "/media/" not in lead.get(url).content.decode()

    colleague = verified_client(env.other_expert)
    assert "个别记录不完整" in colleague.get(url).content.decode()
    assert colleague.post(url, _form(env)).status_code == 403  # not the lead expert
    manager = verified_client(env.manager)
    assert manager.get(url).status_code == 404 and status_of(manager, file_url) == 404
    assert status_of(verified_client(env.users["committee"]), file_url) == 200

    EvaluationCampaign.objects.filter(pk=env.campaign.pk).update(status="published")
    assert "个别记录不完整" in manager.get(url).content.decode()
    assert status_of(manager, file_url) == 200
    assert status_of(verified_client(env.users["client"]), file_url) == 404
    with pytest.raises(ValidationError):  # closed once the grades are confirmed
        services.record_visit(env.office, env.entry, **_kwargs(env))


def _kwargs(env: Any, **extra: Any) -> dict[str, Any]:
    return {
        "visited_on": timezone.localdate(),
        "place": "主楼",
        "experts": [env.expert],
        "agenda": "设备",
        "summary": "良好",
        **extra,
    }


def test_a_visit_is_dated_within_the_window_by_assigned_experts_with_clean_files(env):
    today = timezone.localdate()
    services.set_timetable(
        env.office,
        env.campaign,
        visits_from=today - dt.timedelta(days=10),
        visits_to=today - dt.timedelta(days=1),
    )
    with pytest.raises(ValidationError) as exc:
        services.record_visit(env.office, env.entry, **_kwargs(env))
    assert "visited_on" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_visit(env.office, env.entry, **_kwargs(env, visited_on=today + dt.timedelta(days=1)))
    ok = today - dt.timedelta(days=2)
    with pytest.raises(ValidationError) as exc:
        services.record_visit(
            env.office, env.entry, **_kwargs(env, visited_on=ok, experts=[make_user("expert")])
        )
    assert "experts" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.record_visit(
            env.office,
            env.entry,
            **_kwargs(env, visited_on=ok),
            files=[SimpleUploadedFile("run.exe", b"MZ\x90\x00")],
        )
    assert "run.exe" in str(exc.value)
    assert not EvaluationVisit.objects.exists()
    with pytest.raises(PermissionDenied):
        services.record_visit(env.manager, env.entry, **_kwargs(env, visited_on=ok))
    visit = services.record_visit(env.office, env.entry, **_kwargs(env, visited_on=ok))
    services.record_visit(env.expert, env.entry, **_kwargs(env, visited_on=ok, summary="更正"))
    assert EvaluationVisit.objects.get(pk=visit.pk).summary == "更正"


def test_the_visit_record_through_the_api(env):
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.expert, "t")
    auth = {"Authorization": f"Bearer {token}"}
    api = verified_client(None)
    r = api.post(
        f"/api/supervision/entries/{env.entry.pk}/visit",
        {
            "visited_on": timezone.localdate().isoformat(),
            "place": "主楼",
            "expert_ids": [env.expert.pk],
            "agenda": "设备",
            "summary": "良好",
            "files": SimpleUploadedFile("m.png", PNG),
        },
        headers=auth,
    )
    assert r.status_code == 200, r.content
    assert r.json()["files"][0]["url"].startswith("/supervision/files/")
    assert api.get(f"/api/supervision/entries/{env.entry.pk}/visit", headers=auth).json()["place"] == "主楼"
    _t, lab_token = ApiToken.issue(env.manager, "t")
    r = api.get(
        f"/api/supervision/entries/{env.entry.pk}/visit", headers={"Authorization": f"Bearer {lab_token}"}
    )
    assert r.status_code == 404


def test_an_unknown_expert_id_in_the_api_is_named_not_dropped(env):
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.office, "t")
    r = verified_client(None).post(
        f"/api/supervision/entries/{env.entry.pk}/visit",
        {
            "visited_on": timezone.localdate().isoformat(),
            "place": "主楼",
            "expert_ids": [env.expert.pk, 987654],
            "agenda": "设备",
            "summary": "良好",
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422, r.content
    assert "987654" in r.content.decode()
    assert not EvaluationVisit.objects.filter(entry=env.entry).exists()


def test_the_entry_page_gives_the_lab_no_sign_of_a_visit_record_before_the_results_are_published(env):
    """The record stays hidden from the laboratory until publication; so does the fact that one exists."""
    services.record_visit(
        env.office,
        env.entry,
        visited_on=timezone.localdate(),
        place="主楼",
        experts=[env.expert],
        agenda="座谈",
        summary="良好",
        files=[],
    )
    manager = verified_client(env.manager)
    page = manager.get(env.entry.get_absolute_url())
    assert page.status_code == 200
    assert not page.context["has_visit"] and 'id="visit-link"' not in page.content.decode()
    assert verified_client(env.expert).get(env.entry.get_absolute_url()).context["has_visit"]
    EvaluationCampaign.objects.filter(pk=env.campaign.pk).update(status="published")
    page = manager.get(env.entry.get_absolute_url())
    assert page.context["has_visit"] and 'id="visit-link"' in page.content.decode()
