"""The daily job reminds people before a due date and marks overdue items, once each."""

import datetime as dt

import time_machine
from django.contrib.contenttypes.models import ContentType

from qslab.core.dashboard import queue_for
from qslab.core.models import Deadline, Notification
from qslab.core.reminders import send_reminders


def _deadline(target, due, **kw):
    return Deadline.objects.create(
        content_type=ContentType.objects.get_for_model(target),
        object_id=str(target.pk),
        label_en="Answer the order",
        label_zh="答复整改通知",
        due=due,
        **kw,
    )


@time_machine.travel(dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC), tick=False)
def test_reminders_and_overdue_marks_are_sent_once(users, world):
    soon = _deadline(world.draft, dt.date(2030, 3, 6), assignee=users["lab_manager"])
    late = _deadline(world.draft, dt.date(2030, 3, 1), assignee_role="office")
    assert send_reminders() == {"reminded": 1, "overdue": 1}
    assert send_reminders() == {"reminded": 0, "overdue": 0}
    soon.refresh_from_db()
    late.refresh_from_db()
    assert soon.reminded_at and late.overdue_at
    assert Notification.objects.filter(recipient=users["lab_manager"], verb="reminder").count() == 1
    assert Notification.objects.filter(recipient=users["office"], verb="overdue").count() == 1


@time_machine.travel(dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC), tick=False)
def test_dashboard_queue_puts_overdue_first(users, world):
    _deadline(world.draft, dt.date(2030, 3, 20), assignee=users["office"])
    _deadline(world.draft, dt.date(2030, 3, 1), assignee=users["office"])
    queue = queue_for(users["office"])
    deadlines = [i for i in queue if i.kind == "deadline"]
    assert [i.due for i in deadlines] == [dt.date(2030, 3, 1), dt.date(2030, 3, 20)]
    assert queue[0].overdue


def test_lab_manager_does_not_see_another_persons_deadline(users, world):
    _deadline(world.draft, dt.date(2030, 3, 20), assignee=users["office"])
    assert not Deadline.objects.visible_to(users["lab_manager"]).exists()
    assert Deadline.objects.visible_to(users["office"]).count() == 1


def test_every_apps_queue_provider_runs_for_every_role(users):
    """The dashboard merges every app's queue: one failing provider would break every dashboard."""
    for user in users.values():
        queue_for(user)
