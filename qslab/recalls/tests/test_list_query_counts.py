"""The products list reads only its page: as many queries for 30 products as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.recalls.tests.conftest import make_company, make_product

_n = itertools.count(1)


def test_product_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        company = make_company()
        for _ in range(n):
            make_product(company, code=f"690123{next(_n):06d}")

    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/recalls/products/?limit=1000", add)
    assert few == many
