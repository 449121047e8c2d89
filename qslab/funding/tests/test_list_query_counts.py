"""The lab grades list reads only its page: as many queries for 30 grades as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes
from qslab.funding.tests.conftest import YEAR, make_lab

_n = itertools.count()


def test_lab_grade_list_runs_as_many_queries_for_thirty_rows_as_for_three(clients):
    from qslab.funding.models import LabGrade

    def add(n):
        for _ in range(n):
            LabGrade.objects.create(laboratory=make_lab(f"G{next(_n)}"), year=YEAR, grade="good")

    url = f"/api/funding/grades?year={YEAR}&limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many
