"""Who sees which deadline, and what happens to a deadline whose object is deleted.

The office's dashboard queue is its own work (deadlines assigned to an office user or to the office role);
other people's deadlines reach the office only once overdue, in a separate overview naming who owes them.
"""

import datetime as dt

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse

from qslab.core.dashboard import overdue_overview, queue_for
from qslab.core.models import Deadline, TaskProgress
from qslab.core.reminders import close_orphan_deadlines
from qslab.core.testing import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def today():
    with time_machine.travel(dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC), tick=False):
        yield


PAST, FUTURE = dt.date(2030, 3, 1), dt.date(2030, 3, 20)


def _deadline(target, due, label="Review the application", **kw):
    return Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(target),
        object_id=str(target.pk),
        label_en=label,
        label_zh="评审申请",
        due=due,
        **kw,
    )


def test_the_office_does_not_get_an_experts_personal_to_do_list(users, world):
    _deadline(world.draft, FUTURE, assignee=users["expert"])
    assert not Deadline.objects.visible_to(users["office"]).exists()
    assert [i for i in queue_for(users["office"]) if i.kind == "deadline"] == []
    assert overdue_overview(users["office"]) == []


def test_the_office_sees_its_own_and_its_roles_deadlines_in_its_queue(users, world):
    mine = _deadline(world.draft, FUTURE, label="Mine", assignee=users["office"])
    role = _deadline(world.draft, FUTURE, label="Office role", assignee_role="office")
    assert set(Deadline.objects.visible_to(users["office"])) == {mine, role}
    assert {i.label for i in queue_for(users["office"]) if i.kind == "deadline"} == {"Mine", "Office role"}


def test_the_office_sees_others_overdue_deadlines_as_an_overview_naming_who_owes_them(users, world):
    late = _deadline(world.draft, PAST, label="Late review", assignee=users["expert"])
    _deadline(world.draft, PAST, label="Late answer", assignee_role="lab_manager")
    done = _deadline(world.draft, PAST, label="Done late", assignee=users["expert"])
    Deadline.objects.filter(pk=done.pk).update(done_at=dt.datetime(2030, 3, 2, tzinfo=dt.UTC))

    assert late in Deadline.objects.visible_to(users["office"])
    assert [i for i in queue_for(users["office"]) if i.kind == "deadline"] == []  # not its own queue
    overview = overdue_overview(users["office"])
    assert sorted(i.label for i in overview) == [
        "Late answer — owed by Laboratory manager",
        f"Late review — owed by {users['expert']}",
    ]
    assert all(i.overdue and i.url == world.draft.get_absolute_url() for i in overview)
    page = verified_client(users["office"]).get(reverse("core:dashboard"), headers={"accept-language": "en"})
    assert "Overdue elsewhere" in page.content.decode() and "Late review" in page.content.decode()


def test_the_expert_sees_only_their_own_deadlines(users, world):
    own = _deadline(world.draft, PAST, assignee=users["expert"])
    _deadline(world.draft, PAST, assignee=users["office"])
    assert list(Deadline.objects.visible_to(users["expert"])) == [own]
    assert overdue_overview(users["expert"]) == []


def test_the_deadlines_api_follows_the_same_rule(users, world, clients):
    _deadline(world.draft, FUTURE, label="Someone else's", assignee=users["expert"])
    _deadline(world.draft, PAST, label="Overdue elsewhere", assignee=users["expert"])
    _deadline(world.draft, FUTURE, label="Mine", assignee=users["office"])
    response = clients["office"].get("/api/platform/deadlines", headers={"accept-language": "en"})
    assert response.status_code == 200
    assert sorted(d["label"] for d in response.json()["items"]) == ["Mine", "Overdue elsewhere"]


def test_deleting_the_object_closes_its_deadlines(users, world):
    deadline = _deadline(world.draft, FUTURE, assignee=users["office"])
    other = _deadline(world.in_review, FUTURE, assignee=users["office"])
    world.draft.delete()
    deadline.refresh_from_db()
    other.refresh_from_db()
    assert deadline.done_at is not None and other.done_at is None


def test_a_deadline_pointing_at_nothing_is_left_off_the_dashboard_and_closed_by_the_daily_job(users, world):
    orphan = _deadline(world.draft, PAST, label="Orphan", assignee=users["office"])
    others_orphan = _deadline(world.draft, PAST, label="Orphan of expert", assignee=users["expert"])
    garbage = _deadline(world.draft, PAST, label="Garbage id", assignee=users["office"])
    kept = _deadline(world.in_review, PAST, label="Kept", assignee=users["office"])
    Deadline.objects.filter(pk__in=[orphan.pk, others_orphan.pk]).update(object_id="987654")
    world.draft.delete()  # its deadline is closed at once; the ones pointing at nothing wait for the job
    garbage.refresh_from_db()
    assert garbage.done_at is not None
    Deadline.objects.filter(pk=garbage.pk).update(done_at=None)

    office = users["office"]
    labels = {i.label for i in queue_for(office)} | {i.label for i in overdue_overview(office)}
    assert "Kept" in labels and not {"Orphan", "Garbage id"} & labels
    assert not any(label.startswith("Orphan of expert") for label in labels)

    # (an id that cannot even be a key of the model — written outside the services — is closed too)
    Deadline.objects.filter(pk=garbage.pk).update(object_id="not-a-number")

    assert close_orphan_deadlines() == 3
    assert close_orphan_deadlines() == 0
    assert set(Deadline.objects.filter(done_at__isnull=True)) == {kept}


def test_the_daily_reminder_task_closes_orphans_first(users, world):
    from qslab.core.tasks import send_reminders_task

    orphan = _deadline(world.draft, PAST, assignee=users["office"])
    Deadline.objects.filter(pk=orphan.pk).update(object_id="987654")
    result = send_reminders_task.enqueue()
    orphan.refresh_from_db()
    assert orphan.done_at is not None and orphan.overdue_at is None  # closed, so nobody was told
    assert result.return_value["overdue"] == 0
    assert "closed for deleted objects 1" in TaskProgress.objects.get(task_id=str(result.id)).message
