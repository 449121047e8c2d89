"""Each role's dashboard lists a designation step once: where a core ``Deadline`` already shows the work
(an expert's review, a laboratory's progress report and acceptance request), the designation queue adds
no second line for it; work without a deadline (the moderator's consensus, a second manager of the lab)
still comes from the designation queue."""

from __future__ import annotations

from typing import Any

import pytest

from qslab.accounts.roles import Role, forget_cached_roles
from qslab.accounts.services import grant_role
from qslab.core.dashboard import queue_for
from qslab.core.testing import make_organisation, make_user
from qslab.designation import services
from qslab.designation.models import Construction
from qslab.designation.tests.factories import make_application, make_call, make_expert

pytestmark = pytest.mark.django_db


def _for(user: Any, url: str) -> list[Any]:
    return [i for i in queue_for(user) if i.url == url]


def _designated(users: dict[str, Any]) -> Construction:
    applicant = users["lab_manager"]
    applicant.organisation = make_organisation(region_code="320000")
    applicant.save(update_fields=["organisation"])
    call = make_call("queue-once", reviewers_per_application=1)
    app = make_application(call, applicant.organisation, owner=applicant, status="designated")
    services.hand_over_to_registry(app, users["office"])
    forget_cached_roles(applicant)
    return Construction.objects.get(application=app)


def test_the_lab_manager_sees_the_construction_as_its_two_deadlines_and_not_a_third_line(users):
    c = _designated(users)
    items = _for(users["lab_manager"], c.get_absolute_url())
    assert sorted((i.kind, i.due) for i in items) == [
        ("deadline", c.next_report_due),
        ("deadline", c.ends_on),
    ], "the progress report and the acceptance request, each once"
    assert not [i for i in items if i.kind == "designation"]


def test_a_second_manager_of_the_lab_without_the_deadlines_still_finds_the_construction(users):
    c = _designated(users)
    second = make_user("second-manager")
    grant_role(users["office"], second, Role.LAB_MANAGER, scope=c.laboratory)
    forget_cached_roles(second)
    items = _for(second, c.get_absolute_url())
    assert [(i.kind, i.due) for i in items] == [("designation", c.ends_on)]


def test_an_expert_sees_each_released_review_once_and_the_moderator_also_the_consensus(users):
    call = make_call("queue-review", reviewers_per_application=2, max_load=3)
    app = make_application(call, make_organisation(region_code="320000"), status="accepted")
    experts = [make_expert() for _i in range(2)]
    services.propose_assignment(users["office"], call)
    services.release_assignments(users["office"], call)
    for assignment in app.assignments.all():
        items = _for(assignment.expert, assignment.get_absolute_url())
        assert [(i.kind, i.due) for i in items] == [("deadline", assignment.due)], "the review, once"
        consensus = [i for i in queue_for(assignment.expert) if "/consensus/" in i.url]
        assert len(consensus) == (1 if assignment.moderator else 0)
    assert {a.expert for a in app.assignments.all()} == {p.user for p in experts}
    moderator = app.assignments.get(moderator=True)
    services.submit_review(moderator.expert, moderator, {"direction": 4, "team": 4}, "好")
    assert not _for(moderator.expert, moderator.get_absolute_url()), "done: gone from the queue"
