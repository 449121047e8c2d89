"""Fixtures shared by the Django apps' tests: one user per role and a small world of objects."""

from __future__ import annotations

import types
from typing import Any

import pytest

from qslab.core.testing import ROLES, make_user, verified_client


@pytest.fixture
def users(db: Any) -> dict[str, Any]:
    """One user per role (unscoped; the authority covers Jiangsu 320000)."""
    out = {}
    for role in ROLES:
        extra = {"region_code": "320000"} if role == "authority" else {}
        out[role] = make_user(role, username=f"{role}_user", **extra)
    return out


class _LazyClients(dict):
    """Clients are made on first use: most tests need one role's, not all eight."""

    def __init__(self, users: dict[str, Any]):
        super().__init__()
        self._users = users

    def __missing__(self, role: str) -> Any:
        client = verified_client(None if role == "anonymous" else self._users[role])
        self[role] = client
        return client


@pytest.fixture
def clients(users: dict[str, Any]) -> dict[str, Any]:
    """Signed-in, two-factor-verified clients per role, plus ``anonymous``."""
    return _LazyClients(users)


@pytest.fixture
def world(users: dict[str, Any], settings: Any) -> Any:
    """Objects every access test can point at: notices in each state, a document, inbox items, tokens."""
    from django.core.files.base import ContentFile

    from qslab.accounts.models import ApiToken
    from qslab.core.models import DocumentKind, Notification, OfficialDocument, TaskProgress
    from qslab.portal.models import Notice

    w = types.SimpleNamespace(users=users)
    office = users["office"]
    w.draft = Notice.objects.create(
        title_zh="草稿", title_en="Draft", body_zh="正文", body_en="Body", author=office
    )
    w.in_review = Notice.objects.create(
        title_zh="审核",
        title_en="In review",
        body_zh="正文",
        body_en="Body",
        status="in_review",
        author=office,
    )
    kind = DocumentKind.objects.get(code="notice")
    w.document = OfficialDocument(
        kind=kind,
        year=2026,
        sequence=900,
        number="测试〔2026〕900号",
        title_zh="测试公告",
        title_en="Test notice",
        sha256_zh="0" * 64,
        sha256_en="0" * 64,
        is_public=True,
    )
    w.document.pdf_zh.save("t-zh.pdf", ContentFile(b"%PDF-1.4\n%test\n"), save=False)
    w.document.pdf_en.save("t-en.pdf", ContentFile(b"%PDF-1.4\n%test\n"), save=False)
    w.document.save()
    w.private_document = OfficialDocument(
        kind=kind,
        year=2026,
        sequence=901,
        number="测试〔2026〕901号",
        title_zh="内部",
        title_en="Internal",
        sha256_zh="0" * 64,
        sha256_en="0" * 64,
        is_public=False,
    )
    w.private_document.pdf_zh.save("p-zh.pdf", ContentFile(b"%PDF-1.4\n%p\n"), save=False)
    w.private_document.pdf_en.save("p-en.pdf", ContentFile(b"%PDF-1.4\n%p\n"), save=False)
    w.private_document.save()
    w.published = Notice.objects.create(
        title_zh="已发布",
        title_en="Published",
        body_zh="正文",
        body_en="Body",
        status="published",
        author=office,
        document=w.document,
    )
    w.notifications = {
        role: Notification.objects.create(recipient=u, verb="test", text_zh="通知", text_en="note")
        for role, u in users.items()
    }
    w.tokens = {role: ApiToken.issue(u, "test")[1] for role, u in users.items()}
    w.token_rows = {role: ApiToken.objects.get(user=u) for role, u in users.items()}
    w.task = TaskProgress.objects.create(
        task_id="task-office-1", label="import", owner=office, total=10, done=3
    )
    return w
