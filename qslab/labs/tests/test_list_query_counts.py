"""The directory reads only its page: as many queries for 30 laboratories as for 3, in the API and on the
page (search and region filter, as the load test asks)."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes, make_organisation, page_queries_at_two_sizes
from qslab.labs.tests.conftest import make_lab

_n = itertools.count(1)


def _add_labs(n):
    """n named laboratories in Jiangsu, each with a partner (the list shows partners)."""
    from qslab.labs.models import Partner

    codes = []
    for _ in range(n):
        code = f"ZQ{next(_n):04d}"
        lab = make_lab(code, fields=("robots", "new-energy-vehicles"))
        Partner.objects.create(laboratory=lab, organisation=make_organisation())
        codes.append(f"National {code} Quality")
    return codes


def test_lab_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["anonymous"], "/api/labs/laboratories?q=ZQ&limit=1000", _add_labs
    )
    assert few == many


def test_directory_search_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/labs/?q=ZQ", _add_labs)
    assert few == many


def test_directory_region_filter_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/labs/?region=320000", _add_labs)
    assert few == many


PINNED_LISTS = {
    "qslab_labs_api_list_labs": test_lab_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "labs:directory": test_directory_search_runs_as_many_queries_for_30_rows_as_for_3,
}
