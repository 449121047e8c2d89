"""Every list keeps a constant number of queries, and none can be forgotten.

Each app's ``tests/test_list_query_counts.py`` declares what it pins: ``PINNED_LISTS`` maps an API
operation id to the test that compares its query counts with few and many rows, ``PINNED_PAGES`` does the
same for HTML pages by URL name. The completeness tests below fail when a paginated API list (a GET whose
answer has ``items`` and ``count``), an HTML page whose view builds a ``Paginator``, or a page of the load
test (``load/locustfile.py``) has no such test, as ``test_access_complete.py`` does for the access matrix.
"""

import importlib
import pkgutil
import re
from pathlib import Path

from django.urls import Resolver404, resolve

import qslab
from qslab.core.testing import (
    list_queries_at_two_sizes,
    page_queries_at_two_sizes,
    paginated_list_operations,
    paginated_url_names,
    url_names,
)
from qslab.core.tests import test_list_queries as seeded


def test_notification_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.core.models import Notification

    def add(n):
        Notification.objects.bulk_create(
            Notification(recipient=users["office"], verb="test", text_zh="通知", text_en="Note")
            for _ in range(n)
        )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/platform/notifications?limit=1000", add)
    assert few == many


def test_deadline_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    import datetime as dt

    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline

    kind = ContentType.objects.get_for_model(Deadline)

    def add(n):
        Deadline.objects.bulk_create(
            Deadline(
                content_type=kind,
                object_id=str(i),
                label_zh="期限",
                label_en="Deadline",
                due=dt.date(2026, 1, 1),
                assignee=users["office"],
            )
            for i in range(n)
        )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/platform/deadlines?limit=1000", add)
    assert few == many


def _add_documents(n, start=[9000]):  # noqa: B006 -- a counter shared by the calls: numbers stay unique
    from qslab.core.models import DocumentKind, OfficialDocument

    kind = DocumentKind.objects.get(code="notice")
    rows = []
    for _ in range(n):
        start[0] += 1
        rows.append(
            OfficialDocument(
                kind=kind,
                year=2026,
                sequence=start[0],
                number=f"QC-2026-{start[0]}",
                title_zh="文件",
                title_en="Document",
                sha256_zh="0" * 64,
                sha256_en="0" * 64,
                is_public=True,
            )
        )
    OfficialDocument.objects.bulk_create(rows)
    return [row.number for row in rows]


def test_document_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["office"], "/api/platform/documents?limit=1000", _add_documents
    )
    assert few == many


def _add_changes(n, start=[0]):  # noqa: B006 -- a counter shared by the calls
    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import ChangeRecord, Deadline

    kind = ContentType.objects.get_for_model(Deadline)
    rows = []
    for _ in range(n):
        start[0] += 1
        rows.append(
            ChangeRecord(
                action="update",
                content_type=kind,
                object_id=str(start[0]),
                object_repr=f"zz-change-{start[0]:04d}",
            )
        )
    ChangeRecord.objects.bulk_create(rows)
    return [row.object_repr for row in rows]


def test_audit_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/platform/audit?limit=1000&q=zz-change"
    few, many = list_queries_at_two_sizes(clients["office"], url, _add_changes)
    assert few == many


def test_inbox_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.core.models import Notification

    def add(n, start=[0]):  # noqa: B006
        texts = []
        for _ in range(n):
            start[0] += 1
            texts.append(f"zz-note-{start[0]:04d}")
        Notification.objects.bulk_create(
            Notification(recipient=users["office"], verb="test", text_zh=t, text_en=t) for t in texts
        )
        return texts

    few, many = page_queries_at_two_sizes(clients["office"], "/work/inbox/", add)
    assert few == many


def test_audit_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["office"], "/work/audit/?q=zz-change", _add_changes)
    assert few == many


def test_document_kind_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.core.models import DocumentKind

    def add(n, start=[0]):  # noqa: B006
        codes = []
        for _ in range(n):
            start[0] += 1
            codes.append(f"zz-kind-{start[0]:04d}")
        DocumentKind.objects.bulk_create(
            DocumentKind(code=c, name_zh=c, name_en=c, prefix="ZZ") for c in codes
        )
        return codes

    few, many = list_queries_at_two_sizes(clients["office"], "/api/platform/document-kinds?limit=1000", add)
    assert few == many


PINNED_LISTS = {
    "qslab_core_api_document_kinds": test_document_kind_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_core_api_notifications": test_notification_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_core_api_deadlines": test_deadline_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_core_api_documents": test_document_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_core_api_audit": test_audit_list_runs_as_many_queries_for_30_rows_as_for_3,
}

# The load test's pages, pinned with the seeded rows of ``manage.py seed_load``.
PINNED_PAGES = {
    name: seeded.test_list_pages_run_as_many_queries_with_many_rows_as_with_one
    for name in (
        *("portal:home", "labs:directory", "core:dashboard", "sharing:bookings", "sharing:catalogue"),
        *("risk:signals", "risk:reports"),
    )
}
PINNED_PAGES |= {
    "core:inbox": test_inbox_page_runs_as_many_queries_for_30_rows_as_for_3,
    "core:audit": test_audit_page_runs_as_many_queries_for_30_rows_as_for_3,
}


def _pinned(attribute: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for module in pkgutil.iter_modules(qslab.__path__):
        try:
            counts = importlib.import_module(f"qslab.{module.name}.tests.test_list_query_counts")
        except ModuleNotFoundError:
            continue
        for target, test in getattr(counts, attribute, {}).items():
            assert callable(test) and test.__name__.startswith("test_"), f"{target}: {test!r} is not a test"
            out[target] = test
    return out


def test_every_paginated_api_list_has_a_pinned_query_count():
    missing = paginated_list_operations() - set(_pinned("PINNED_LISTS"))
    assert not missing, f"paginated API lists without a query-count test: {sorted(missing)}"


def test_every_paginated_page_has_a_pinned_query_count():
    missing = paginated_url_names() - set(_pinned("PINNED_PAGES"))
    assert not missing, f"paginated pages without a query-count test: {sorted(missing)}"


def _load_test_pages() -> set[str]:
    source = (Path(qslab.__path__[0]).parent / "load" / "locustfile.py").read_text()
    names = set()
    for path in re.findall(r'\.(?:get|page)\(\s*f?"(/[^"?{]*)', source):
        if path.startswith(("/api/", "/accounts/")):
            continue
        try:
            match = resolve(path)
        except Resolver404:
            continue
        names.add(f"{match.namespace}:{match.url_name}" if match.namespace else match.url_name)
    return names


def test_every_load_test_page_has_a_pinned_query_count():
    pages = _load_test_pages()
    assert "labs:directory" in pages and "risk:signals" in pages  # the locustfile was read
    missing = pages - set(_pinned("PINNED_PAGES"))
    assert not missing, f"load-test pages without a query-count test: {sorted(missing)}"


def test_pinned_targets_exist():
    """A pin names a real operation or page: a renamed one is not silently left unchecked."""
    stale_lists = set(_pinned("PINNED_LISTS")) - paginated_list_operations()
    stale_pages = set(_pinned("PINNED_PAGES")) - url_names()
    assert not stale_lists and not stale_pages, (stale_lists, stale_pages)
