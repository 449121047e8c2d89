"""The daily job: remind people of what falls due soon, and mark what is overdue.

Idempotent: a deadline is reminded once and marked overdue once, so running the job twice in a day
sends nothing new.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from qslab.accounts.models import User
from qslab.core.calendar import add_days
from qslab.core.models import Deadline
from qslab.core.notifications import notify

REMIND_WORKING_DAYS_BEFORE = 3


def _people(deadline: Deadline) -> list[User]:
    if deadline.assignee_id:
        return [deadline.assignee]
    if deadline.assignee_role:
        return list(
            User.objects.filter(
                role_memberships__role=deadline.assignee_role, role_memberships__active=True, is_active=True
            ).distinct()
        )
    return []


@transaction.atomic
def send_reminders() -> dict[str, int]:
    today = timezone.localdate()
    horizon = add_days(today, REMIND_WORKING_DAYS_BEFORE)
    open_deadlines = Deadline.objects.select_for_update().filter(done_at__isnull=True)
    reminded = overdue = 0
    for d in open_deadlines.filter(reminded_at__isnull=True, due__gte=today, due__lte=horizon):
        notify(
            _people(d),
            verb="reminder",
            obj=d.target,
            text_en=f"Due {d.due:%Y-%m-%d}: {d.label_en}",
            text_zh=f"{d.due:%Y-%m-%d} 到期：{d.label_zh}",
        )
        d.reminded_at = timezone.now()
        d.save(update_fields=["reminded_at"])
        reminded += 1
    for d in open_deadlines.filter(overdue_at__isnull=True, due__lt=today):
        notify(
            _people(d),
            verb="overdue",
            obj=d.target,
            text_en=f"Overdue since {d.due:%Y-%m-%d}: {d.label_en}",
            text_zh=f"已逾期（{d.due:%Y-%m-%d}）：{d.label_zh}",
        )
        d.overdue_at = timezone.now()
        d.save(update_fields=["overdue_at"])
        overdue += 1
    return {"reminded": reminded, "overdue": overdue}
