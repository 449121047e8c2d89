"""The outputs list reads only its page: as many queries for 30 outputs as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.outputs.tests.conftest import make_lab

_n = itertools.count()


def test_output_list_runs_as_many_queries_for_thirty_rows_as_for_three(clients):
    from qslab.outputs.models import Output

    def add(n):
        for _ in range(n):
            i = next(_n)
            Output.objects.create(
                laboratory=make_lab(f"O{i}"), kind="test_method", title_zh=f"方法{i}", year=2025
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/outputs/items?limit=1000", add)
    assert few == many
