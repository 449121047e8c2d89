"""The organisations and tokens lists read only their page: as many queries for 30 rows as for 3."""

from qslab.core.testing import list_queries_at_two_sizes, make_organisation


def test_organisation_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            make_organisation()

    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/accounts/organisations?limit=1000", add)
    assert few == many


def test_token_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.accounts.models import ApiToken

    def add(n):
        for i in range(n):
            ApiToken.issue(users["analyst"], f"token {i}")

    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/accounts/tokens?limit=1000", add)
    assert few == many


PINNED_LISTS = {
    "qslab_accounts_api_organisations": test_organisation_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_accounts_api_tokens": test_token_list_runs_as_many_queries_for_30_rows_as_for_3,
}
