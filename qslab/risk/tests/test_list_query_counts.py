"""The taxonomy list reads only its page: as many queries for 30 terms as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes

_n = itertools.count()


def test_term_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.risk.models import Term

    def add(n):
        for _ in range(n):
            i = next(_n)
            Term.objects.create(
                kind=Term.Kind.HAZARD, code=f"zz-test-{i}", name_zh=f"危害{i}", name_en=f"zz-test hazard {i}"
            )

    url = "/api/risk/terms?kind=hazard&q=zz-test&limit=1000"
    few, many = list_queries_at_two_sizes(clients["anonymous"], url, add)
    assert few == many
