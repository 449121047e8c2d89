"""The phased evaluation's timetable: separate dates for self-evaluation reports, the on-site visit
window, scoring and the committee's confirmation; they must follow each other, a self-evaluation after
its due date is taken but marked late (as annual reports are), and the lab managers', lead experts',
experts' and committee's deadlines follow the dates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.models import Deadline
from qslab.core.testing import make_user, verified_client
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import EvaluationCampaign, EvaluationEntry
from qslab.supervision.tests.conftest import INDICATORS

D = dt.date


def _open(obj: Any) -> list[Deadline]:
    return list(
        Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk), done_at__isnull=True
        ).order_by("due")
    )


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager, e.expert = users, users["office"], users["lab_manager"], users["expert"]
    e.lab = make_lab("tt1", status="named")
    scope_to(e.manager, e.lab)
    e.second = make_user("expert")
    return e


def _campaign(env: Any, **dates: Any) -> EvaluationCampaign:
    return services.create_campaign(
        env.office,
        code=f"c{EvaluationCampaign.objects.count()}",
        name_zh="评估",
        name_en="Evaluation",
        year=2026,
        indicators=INDICATORS,
        **dates,
    )


TIMETABLE = {
    "self_report_due": D(2026, 3, 31),
    "visits_from": D(2026, 4, 7),
    "visits_to": D(2026, 5, 29),
    "scoring_due": D(2026, 6, 15),
    "confirmation_due": D(2026, 6, 30),
}


def test_the_phases_must_follow_each_other_and_a_visit_window_has_both_ends(env):
    with pytest.raises(ValidationError) as exc:
        _campaign(env, **{**TIMETABLE, "scoring_due": D(2026, 5, 1)})
    assert any("scoring due" in m and "on-site visits until" in m for m in exc.value.messages)
    with pytest.raises(ValidationError):
        _campaign(env, visits_from=D(2026, 4, 7))
    campaign = _campaign(env, **TIMETABLE)
    with pytest.raises(ValidationError):
        services.set_timetable(env.office, campaign, confirmation_due=D(2026, 6, 1))
    with pytest.raises(PermissionDenied):
        services.set_timetable(env.manager, campaign, confirmation_due=D(2026, 7, 1))


@time_machine.travel(dt.datetime(2026, 3, 2, 10, 0), tick=False)
def test_deadlines_follow_the_dates_for_lab_managers_lead_experts_experts_and_the_committee(env):
    campaign = _campaign(env, **TIMETABLE)
    entry = services.add_to_campaign(env.office, campaign, env.lab, [env.expert, env.second], env.second)
    assert entry.lead_expert == env.second
    [self_due] = _open(entry)
    assert (self_due.assignee, self_due.due) == (env.manager, D(2026, 3, 31))

    services.set_timetable(env.office, campaign, self_report_due=D(2026, 4, 3))
    assert [(d.assignee, d.due) for d in _open(entry)] == [(env.manager, D(2026, 4, 3))]

    services.move_campaign(env.office, campaign, "open_scoring")
    by_assignee = {(d.assignee, d.due) for d in _open(entry)}
    assert (env.second, D(2026, 5, 29)) in by_assignee  # the lead expert records the visit
    assert {(env.expert, D(2026, 6, 15)), (env.second, D(2026, 6, 15))} <= by_assignee  # scoring
    [confirm] = _open(campaign)
    assert (confirm.assignee_role, confirm.due) == ("committee", D(2026, 6, 30))
    services.set_timetable(env.office, campaign, scoring_due=D(2026, 6, 20))
    assert {d.due for d in _open(entry) if d.label_en.startswith("Score ")} == {D(2026, 6, 20)}


def test_a_self_evaluation_after_its_due_date_is_taken_and_marked_late(env):
    campaign = _campaign(env, **TIMETABLE)
    on_time = services.add_to_campaign(env.office, campaign, env.lab, [env.expert])
    late_lab = make_lab("tt2", status="named")
    late = services.add_to_campaign(env.office, campaign, late_lab, [env.expert])
    with time_machine.travel(dt.datetime(2026, 3, 31, 10, 0), tick=False):
        services.submit_self_report(env.manager, on_time, "按时提交")
    with time_machine.travel(dt.datetime(2026, 4, 2, 10, 0), tick=False):
        services.submit_self_report(env.office, late, "逾期提交")
    on_time.refresh_from_db()
    late.refresh_from_db()
    assert not on_time.self_report_late and late.self_report_late
    assert not _open(on_time) and not _open(late)  # the deadlines are done
    with time_machine.travel(
        dt.datetime(2026, 3, 20, 10, 0), tick=False
    ):  # a later edit keeps the first date
        services.submit_self_report(env.office, late, "修改")
    assert EvaluationEntry.objects.get(pk=late.pk).self_report_late
    page = verified_client(env.manager).get(late.get_absolute_url())
    assert page.status_code == 404 or b'data-late="1"' not in page.content  # another lab's entry
    office_page = verified_client(env.office).get(late.get_absolute_url()).content.decode()
    assert 'data-late="1"' in office_page


def test_the_office_sets_the_timetable_from_the_campaign_page_and_the_api(env):
    campaign = _campaign(env)
    office = verified_client(env.office)
    r = office.post(
        f"/supervision/campaigns/{campaign.pk}/timetable/",
        {"self_report_due": "2026-03-31", "visits_from": "2026-04-07", "visits_to": "2026-05-29"},
    )
    assert r.status_code == 302
    campaign.refresh_from_db()
    assert campaign.visits_to == D(2026, 5, 29)
    office.post(f"/supervision/campaigns/{campaign.pk}/timetable/", {"visits_from": "2026-13-01"})
    campaign.refresh_from_db()
    assert campaign.visits_from == D(2026, 4, 7)
    from qslab.accounts.models import ApiToken

    _t, token = ApiToken.issue(env.office, "t")
    r = verified_client(None).post(
        f"/api/supervision/campaigns/{campaign.pk}/timetable",
        {"scoring_due": "2026-06-15", "confirmation_due": "2026-06-01"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    r = verified_client(None).post(
        f"/api/supervision/campaigns/{campaign.pk}/timetable",
        {"scoring_due": "2026-06-15", "confirmation_due": "2026-06-30"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["self_report_due"] == "2026-03-31"


@time_machine.travel(dt.datetime(2026, 3, 2, 10, 0), tick=False)
def test_the_lead_experts_score_sheet_leaves_the_visit_record_deadline_open(env):
    campaign = _campaign(env, **TIMETABLE)
    entry = services.add_to_campaign(env.office, campaign, env.lab, [env.expert], env.expert)
    services.move_campaign(env.office, campaign, "open_scoring")
    services.submit_score_sheet(env.expert, entry, {"quality": 80, "openness": 70})
    mine = [d.label_en for d in _open(entry) if d.assignee == env.expert]
    assert mine == [f"Record the on-site visit to {env.lab.name_en}"], "scored, but the visit is not recorded"


@time_machine.travel(dt.datetime(2026, 3, 2, 10, 0), tick=False)
def test_confirming_the_grades_closes_the_entries_deadlines_that_can_no_longer_be_met(env):
    campaign = _campaign(env, **TIMETABLE)
    entry = services.add_to_campaign(env.office, campaign, env.lab, [env.expert], env.expert)
    services.move_campaign(env.office, campaign, "open_scoring")
    services.submit_score_sheet(env.expert, entry, {"quality": 80, "openness": 70})
    left = {d.label_en.split(":")[0].split(" to ")[0] for d in _open(entry)}
    assert left == {"Self-evaluation report due", "Record the on-site visit"}
    services.move_campaign(env.office, campaign, "confirm")
    assert _open(entry) == [], "no self-evaluation or visit record is taken once the grades are confirmed"
