"""The inbox list reads only its page: as many queries for 30 notifications as for 3."""

from qslab.core.testing import list_queries_at_two_sizes


def test_notification_list_runs_as_many_queries_for_thirty_rows_as_for_three(users, clients):
    from qslab.core.models import Notification

    def add(n):
        Notification.objects.bulk_create(
            Notification(recipient=users["office"], verb="test", text_zh="通知", text_en="Note")
            for _ in range(n)
        )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/platform/notifications?limit=1000", add)
    assert few == many
