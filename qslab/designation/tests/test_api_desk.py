"""The office's desk through the API: committee decisions on a meeting item, releasing the proposed
panels, adding and removing one expert, naming the moderator; and experts editing their own profile (the
office any). Each is checked on the server by role and object."""

from __future__ import annotations

import pytest

from qslab.core.models import Deadline
from qslab.core.testing import make_organisation, make_user
from qslab.designation import services
from qslab.designation.models import Assignment, Decision, ExpertProfile, Vote
from qslab.designation.tests.factories import make_application, make_call, make_expert, on_agenda, seat
from qslab.designation.tests.test_api_panels import _api

pytestmark = pytest.mark.django_db


def _voting(users, code, quorum=2):
    call = make_call(code, quorum=quorum)
    app = make_application(call, make_organisation(region_code="320000"), status="reviewed")
    meeting = on_agenda(app)
    members = [users["committee"], make_user("committee")]
    for m in members:
        seat(m)
    return app, meeting, members


def test_the_office_records_the_decision_of_a_meeting_item_from_the_votes(users):
    app, meeting, members = _voting(users, "api-decide")
    office = _api(users["office"])
    _api(members[0])("post", f"/applications/{app.pk}/votes", {"choice": "approve"})
    no_quorum = office("post", f"/applications/{app.pk}/decision", {"minutes": "表决"})
    assert no_quorum.status_code == 422 and "No quorum: 1 members voted" in str(no_quorum.json())
    _api(members[1])("post", f"/applications/{app.pk}/votes", {"choice": "approve"})
    refused = _api(members[0])("post", f"/applications/{app.pk}/decision", {"minutes": "表决"})
    assert refused.status_code == 403, "a committee member votes; the office records the decision"
    done = office("post", f"/applications/{app.pk}/decision", {"minutes": "经表决，同意"})
    assert done.status_code == 201, done.content
    body = done.json()
    assert (body["outcome"], body["approve"], body["meeting_id"], body["status"]) == (
        "approve",
        2,
        meeting.pk,
        "approved",
    )
    again = office("post", f"/applications/{app.pk}/decision", {"minutes": "再次"})
    assert again.status_code == 422 and Decision.objects.filter(application=app).count() == 1


def test_a_deferral_through_the_api_clears_the_votes_for_the_next_meeting(users):
    app, _meeting, members = _voting(users, "api-defer", quorum=1)
    _api(members[0])("post", f"/applications/{app.pk}/votes", {"choice": "reject"})
    done = _api(users["office"])(
        "post", f"/applications/{app.pk}/decision", {"minutes": "补充材料", "defer": True}
    )
    assert (done.status_code, done.json()["outcome"], done.json()["status"]) == (201, "defer", "deferred")
    assert not Vote.objects.filter(application=app).exists()


def _proposed(users, code, k=2):
    call = make_call(code, reviewers_per_application=k, max_load=3)
    app = make_application(call, make_organisation(region_code="320000"), status="accepted")
    experts = [make_expert() for _i in range(k + 1)]
    services.propose_assignment(users["office"], call)
    return call, app, experts


def test_the_office_edits_a_proposed_panel_then_releases_it_with_review_deadlines(users):
    call, app, experts = _proposed(users, "api-panel")
    office = _api(users["office"])
    panel = office("get", f"/applications/{app.pk}/panel").json()
    assert len(panel) == 2 and not any(p["released"] for p in panel)
    spare = next(e for e in experts if e.user_id not in {p["expert_id"] for p in panel})
    removed = office("delete", f"/assignments/{panel[0]['id']}")
    assert removed.status_code == 204 and not Assignment.objects.filter(pk=panel[0]["id"]).exists()
    too_few = office("post", f"/calls/{call.pk}/assignment/release")
    assert too_few.status_code == 422 and "has 1 experts; the call needs 2" in str(too_few.json())
    added = office("post", f"/applications/{app.pk}/panel", {"expert_id": spare.user_id})
    assert added.status_code == 201 and added.json()["expert"] == spare.name
    moderator = office("post", f"/assignments/{added.json()['id']}/moderator")
    assert moderator.status_code == 200 and moderator.json()["moderator"]
    released = office("post", f"/calls/{call.pk}/assignment/release?stage=designation")
    assert released.status_code == 200 and released.json()["applications"] == 1
    app.refresh_from_db()
    assert app.status == "in_review"
    panel = office("get", f"/applications/{app.pk}/panel").json()
    assert all(p["released"] and p["due"] for p in panel)
    assert [p["expert_id"] for p in panel if p["moderator"]] == [spare.user_id], (
        "one moderator, the named one"
    )
    assert (
        Deadline.objects.filter(object_id__in=[str(p["id"]) for p in panel], done_at__isnull=True).count()
        == 2
    )


def test_a_conflicted_expert_is_refused_and_a_reviewed_assignment_stays(users):
    _call, app, _experts = _proposed(users, "api-conflict", k=1)
    office = _api(users["office"])
    conflicted = make_expert(org=app.institution)
    refused = office("post", f"/applications/{app.pk}/panel", {"expert_id": conflicted.user_id})
    assert refused.status_code == 422 and "cannot review this application" in str(refused.json())
    draft = make_application(app.call, make_organisation(region_code="320000"))
    not_yet = office("post", f"/applications/{draft.pk}/panel", {"expert_id": make_expert().user_id})
    assert not_yet.status_code == 422 and "is not waiting for or in the designation review" in str(
        not_yet.json()
    )
    services.release_assignments(users["office"], app.call)
    a = Assignment.objects.get(application=app)
    services.submit_review(a.expert, a, {"direction": 4, "team": 4}, "")
    kept = office("delete", f"/assignments/{a.pk}")
    assert kept.status_code == 422 and "already submitted a review" in str(kept.json())
    expert = _api(a.expert)
    assert expert("delete", f"/assignments/{a.pk}").status_code == 403
    assert expert("post", f"/assignments/{a.pk}/moderator").status_code == 403


def test_an_expert_edits_their_own_profile_and_is_vetted_again_the_office_edits_any(users):
    mine = make_expert(user=users["expert"])
    other = make_expert()
    org = make_organisation(region_code="110000")
    expert = _api(users["expert"])
    data = {
        "name": "李专家",
        "title": "研究员",
        "organisation_id": org.pk,
        "region_code": "110000",
        "fields": ["robots", "manufacturing"],
        "collaborations": [{"organisation": org.pk, "until": 2025}],
    }
    done = expert("put", f"/experts/{mine.pk}", data)
    assert done.status_code == 200, done.content
    assert (done.json()["name"], done.json()["vetted"], sorted(done.json()["fields"])) == (
        "李专家",
        False,
        ["manufacturing", "robots"],
    )
    mine.refresh_from_db()
    assert mine.collaborations == [{"organisation": org.pk, "until": 2025}]
    assert expert("put", f"/experts/{other.pk}", data).status_code == 404, "another's profile is not seen"
    bad = expert(
        "put", f"/experts/{mine.pk}", {**data, "former_affiliations": [{"organisation": 0, "until": 2020}]}
    )
    assert bad.status_code == 422 and "Unknown organisations: [0]" in str(bad.json())
    assert _api(users["committee"])("put", f"/experts/{other.pk}", data).status_code == 403
    by_office = _api(users["office"])("put", f"/experts/{other.pk}", {**data, "name": "赵专家"})
    assert by_office.status_code == 200 and by_office.json()["vetted"], "the office's edit keeps the vetting"
    assert ExpertProfile.objects.get(pk=other.pk).name == "赵专家"
