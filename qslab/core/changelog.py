"""Write a change record for every save and delete of a :class:`ChangeLoggedModel`."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models.signals import post_delete, post_save

from qslab.core import context
from qslab.core.models import ChangeLoggedModel, ChangeRecord


def record_change(
    instance: Any,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    *,
    transition: str = "",
    from_state: str = "",
    to_state: str = "",
    reason: str | None = None,
) -> ChangeRecord:
    user = context.current_user.get()
    return ChangeRecord.objects.create(
        user=user if user is not None and getattr(user, "pk", None) else None,
        user_name=str(user.get_username()) if user is not None and getattr(user, "pk", None) else "",
        request_id=context.current_request_id.get(),
        action=action,
        content_type=ContentType.objects.get_for_model(instance, for_concrete_model=True),
        object_id=str(instance.pk),
        object_repr=str(instance)[:300],
        before=before,
        after=after,
        transition=transition,
        from_state=from_state,
        to_state=to_state,
        reason=context.current_reason.get() if reason is None else reason,
    )


def _on_save(
    sender: type, instance: ChangeLoggedModel, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw or not isinstance(instance, ChangeLoggedModel):
        return
    after = instance.snapshot()
    before = None if created else getattr(instance, "_loaded_snapshot", None)
    if not created and before == after:
        return  # nothing changed: no record
    if getattr(instance, "_skip_change_record", False):
        instance._loaded_snapshot = after
        return
    record_change(
        instance, ChangeRecord.Action.CREATE if created else ChangeRecord.Action.UPDATE, before, after
    )
    instance._loaded_snapshot = after


def _on_delete(sender: type, instance: ChangeLoggedModel, **kwargs: Any) -> None:
    if not isinstance(instance, ChangeLoggedModel):
        return
    record_change(
        instance, ChangeRecord.Action.DELETE, getattr(instance, "_loaded_snapshot", instance.snapshot()), None
    )


def connect() -> None:
    post_save.connect(_on_save, dispatch_uid="qslab_changelog_save")
    post_delete.connect(_on_delete, dispatch_uid="qslab_changelog_delete")
