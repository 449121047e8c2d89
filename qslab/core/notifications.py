"""Tell people: an inbox row per recipient, and an email in their language if they want one."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from qslab.core.models import Notification, Watch


def watchers_of(obj: Any) -> list[Any]:
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True)
    return [
        w.user for w in Watch.objects.filter(content_type=ct, object_id=str(obj.pk)).select_related("user")
    ]


def notify(
    recipients: Iterable[Any],
    *,
    verb: str,
    text_en: str,
    text_zh: str,
    obj: Any = None,
    link: str = "",
) -> list[Notification]:
    """Create one inbox notification per active recipient and email those who asked for email."""
    ct = ContentType.objects.get_for_model(obj, for_concrete_model=True) if obj is not None else None
    if not link and obj is not None and hasattr(obj, "get_absolute_url"):
        link = obj.get_absolute_url() or ""
    created = []
    for user in {u for u in recipients if u is not None and u.is_active}:
        note = Notification.objects.create(
            recipient=user,
            verb=verb,
            text_en=text_en,
            text_zh=text_zh,
            link=link,
            content_type=ct,
            object_id=str(obj.pk) if obj is not None else "",
        )
        if user.email_notifications and user.email:
            zh = user.preferred_language.startswith("zh")
            text = text_zh if zh else text_en
            subject = ("qslab 通知：" if zh else "qslab notification: ") + text[:80]
            transaction.on_commit(
                partial(_email, note.pk, subject, text + (f"\n\n{link}" if link else ""), user.email)
            )
        created.append(note)
    return created


def _email(notification_id: int, subject: str, body: str, address: str) -> None:
    """Sent only once the transaction that created the notification has committed."""
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    Notification.objects.filter(pk=notification_id).update(emailed_at=timezone.now())
