"""The notices list reads only its page: as many queries for 30 notices as for 3."""

from qslab.core.testing import list_queries_at_two_sizes


def test_notice_list_runs_as_many_queries_for_thirty_rows_as_for_three(users, clients):
    from qslab.portal.models import Notice

    def add(n):
        for i in range(n):
            Notice.objects.create(
                title_zh=f"公告{i}",
                title_en=f"Notice {i}",
                body_zh="正文",
                body_en="Body",
                author=users["office"],
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/portal/notices?limit=1000", add)
    assert few == many
