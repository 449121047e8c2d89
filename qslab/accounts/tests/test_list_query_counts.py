"""The organisations list reads only its page: as many queries for 30 organisations as for 3."""

from qslab.core.testing import list_queries_at_two_sizes, make_organisation


def test_organisation_list_runs_as_many_queries_for_thirty_rows_as_for_three(clients):
    def add(n):
        for _ in range(n):
            make_organisation()

    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/accounts/organisations?limit=1000", add)
    assert few == many
