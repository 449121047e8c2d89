"""The daily job: remind people of what falls due soon, and mark what is overdue.

Idempotent: a deadline is reminded once and marked overdue once, so running the job twice in a day
sends nothing new.
"""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
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


@transaction.atomic
def close_orphan_deadlines() -> int:
    """Close (mark done) the open deadlines whose object no longer exists; returns how many.

    Deleting an object of a change-logged model closes its deadlines at once (``close_deadlines_of``);
    this daily sweep catches the rest (bulk deletes, other models, rows removed outside Django), so no
    dashboard or reminder points at nothing.
    """
    now = timezone.now()
    open_deadlines = Deadline.objects.filter(done_at__isnull=True)
    closed = 0
    for type_id in open_deadlines.order_by().values_list("content_type", flat=True).distinct():
        model = ContentType.objects.get_for_id(type_id).model_class()
        ids = set(open_deadlines.filter(content_type_id=type_id).values_list("object_id", flat=True))
        existing: set[str] = set()
        if model is not None:
            valid = []
            for object_id in ids:
                try:
                    valid.append(model._meta.pk.to_python(object_id))
                except ValidationError:
                    continue  # not even a possible key of that model: its object cannot exist
            found = model._base_manager.filter(pk__in=valid).values_list("pk", flat=True)
            existing = {str(pk) for pk in found}
        gone = ids - existing
        if gone:
            closed += open_deadlines.filter(content_type_id=type_id, object_id__in=gone).update(done_at=now)
    return closed


def close_deadlines_of(sender: type, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` receiver: the open deadlines of a deleted change-logged object are closed."""
    from qslab.core.models import ChangeLoggedModel

    if not isinstance(instance, ChangeLoggedModel) or instance.pk is None:
        return
    Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        object_id=str(instance.pk),
        done_at__isnull=True,
    ).update(done_at=timezone.now())
