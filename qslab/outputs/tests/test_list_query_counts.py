"""The outputs and standards lists read only their page: as many queries for 30 rows as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.outputs.tests.conftest import make_lab

_n = itertools.count()


def _add_outputs(n):
    from qslab.outputs.models import Output

    titles = []
    for _ in range(n):
        i = next(_n)
        title = f"zz-output-{i:04d}"
        Output.objects.create(
            laboratory=make_lab(f"O{i}"), kind="test_method", title_zh=title, title_en=title, year=2025
        )
        titles.append(title)
    return titles


def _add_standards(n):
    from qslab.outputs.models import Standard

    titles = []
    for _ in range(n):
        i = next(_n)
        title = f"zz-standard-{i:04d}"
        Standard.objects.create(
            laboratory=make_lab(f"S{i}"), title_zh=title, title_en=title, role="lead", level="group"
        )
        titles.append(title)
    return titles


def test_output_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["office"], "/api/outputs/items?limit=1000", _add_outputs)
    assert few == many


def test_standard_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["office"], "/api/outputs/standards?limit=1000", _add_standards
    )
    assert few == many


def test_outputs_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        return _add_outputs(n) + _add_standards(n)

    few, many = page_queries_at_two_sizes(clients["office"], "/outputs/", add)
    assert few == many


PINNED_LISTS = {
    "qslab_outputs_api_list_outputs": test_output_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_outputs_api_list_standards": test_standard_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "outputs:index": test_outputs_page_runs_as_many_queries_for_30_rows_as_for_3,
}
