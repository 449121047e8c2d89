"""The monitors list reads only its page: as many queries for 30 monitors as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.studies.tests.conftest import make_lab

_n = itertools.count()


def test_monitor_list_runs_as_many_queries_for_thirty_rows_as_for_three(clients):
    from qslab.studies.models import Monitor

    def add(n):
        for _ in range(n):
            i = next(_n)
            Monitor.objects.create(
                laboratory=make_lab(f"M{i}"),
                name_zh=f"监控{i}",
                name_en=f"Monitor {i}",
                characteristic="mass",
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/studies/monitors?limit=1000", add)
    assert few == many
