"""The notices and documents lists read only their page: as many queries for 30 rows as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.core.tests.test_list_query_counts import _add_documents

_n = itertools.count(1)


def _add_notices(office, n):
    """n notices, each published with an issued document (the list shows its number)."""
    from qslab.portal.models import Notice

    numbers = _add_documents(n)
    from qslab.core.models import OfficialDocument

    titles = []
    for number in numbers:
        title = f"zz-notice-{next(_n):04d}"
        Notice.objects.create(
            title_zh=title,
            title_en=title,
            body_zh="正文",
            body_en="Body",
            status="published",
            author=office,
            document=OfficialDocument.objects.get(number=number),
        )
        titles.append(title)
    return titles


def test_notice_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    few, many = list_queries_at_two_sizes(
        clients["office"], "/api/portal/notices?limit=1000", lambda n: _add_notices(users["office"], n)
    )
    assert few == many


def test_notices_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    few, many = page_queries_at_two_sizes(
        clients["anonymous"], "/notices/", lambda n: _add_notices(users["office"], n)
    )
    assert few == many


def test_documents_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/documents/", _add_documents)
    assert few == many


PINNED_LISTS = {
    "qslab_portal_api_notices": test_notice_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "portal:notices": test_notices_page_runs_as_many_queries_for_30_rows_as_for_3,
    "portal:documents": test_documents_page_runs_as_many_queries_for_30_rows_as_for_3,
}
