"""The calls list reads only its page: as many queries for 30 calls as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.designation.tests.factories import make_call

_n = itertools.count()


def test_call_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            make_call(f"c{next(_n)}")

    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/designation/calls?limit=1000", add)
    assert few == many
