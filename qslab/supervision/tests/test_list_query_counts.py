"""The inspections list reads only its page, converted together: as many queries for 30 as for 3."""

import datetime as dt
import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.funding.tests.conftest import make_lab

_n = itertools.count()


def test_inspection_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision.models import Finding, Inspection

    def add(n):
        for _ in range(n):
            i = next(_n)
            inspection = Inspection.objects.create(
                laboratory=make_lab(f"S{i}"), planned_on=dt.date(2026, 3, 1)
            )
            inspection.inspectors.add(users["expert"])
            Finding.objects.create(inspection=inspection, severity="minor", description=f"finding {i}")

    few, many = list_queries_at_two_sizes(clients["office"], "/api/supervision/inspections?limit=1000", add)
    assert few == many
