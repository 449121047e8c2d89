"""The studies lists read only their page: as many queries for 30 rows as for 3."""

import itertools

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.studies.tests.conftest import make_lab, pt_round

_n = itertools.count()


def _monitor(lab=None):
    from qslab.studies.models import Monitor

    i = next(_n)
    return Monitor.objects.create(
        laboratory=lab or make_lab(f"M{i}"), name_zh=f"监控{i}", name_en=f"Monitor {i}", characteristic="mass"
    )


def test_monitor_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            _monitor()

    few, many = list_queries_at_two_sizes(clients["office"], "/api/studies/monitors?limit=1000", add)
    assert few == many


def test_round_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    def add(n):
        for _ in range(n):
            pt_round(make_lab(f"R{next(_n)}"), users["office"], f"PT-{next(_n)}", status="open")

    few, many = list_queries_at_two_sizes(clients["office"], "/api/studies/pt/rounds?limit=1000", add)
    assert few == many


def test_point_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.studies.models import MonitorPoint

    monitor = _monitor()

    def add(n):
        start = MonitorPoint.objects.filter(monitor=monitor).count()
        MonitorPoint.objects.bulk_create(
            MonitorPoint(monitor=monitor, seq=start + i + 1, values=[1.0], statistic=1.0) for i in range(n)
        )

    url = f"/api/studies/monitors/{monitor.pk}/points?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_alarm_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.studies.models import Alarm, MonitorPoint

    def add(n):
        for _ in range(n):
            monitor = _monitor()
            point = MonitorPoint.objects.create(
                monitor=monitor, seq=1, values=[9.0], statistic=9.0, signals=["1"]
            )
            Alarm.objects.create(monitor=monitor, point=point, signals=["1"])

    few, many = list_queries_at_two_sizes(clients["office"], "/api/studies/alarms?limit=1000", add)
    assert few == many


def test_index_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    def add(n):
        texts = []
        for _ in range(n):
            lab = make_lab(f"IX{next(_n)}")
            rnd = pt_round(lab, users["office"], f"PTX-{next(_n):04d}", status="open")
            texts += [rnd.code, _monitor(lab).name_en]
        return texts

    few, many = page_queries_at_two_sizes(clients["office"], "/studies/", add)
    assert few == many


def test_alarms_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.studies.models import Alarm, MonitorPoint

    def add(n):
        names = []
        for _ in range(n):
            monitor = _monitor()
            point = MonitorPoint.objects.create(
                monitor=monitor, seq=1, values=[9.0], statistic=9.0, signals=["1"]
            )
            Alarm.objects.create(monitor=monitor, point=point, signals=["1"])
            names.append(monitor.name_en)
        return names

    few, many = page_queries_at_two_sizes(clients["office"], "/studies/alarms/", add)
    assert few == many


PINNED_LISTS = {
    "qslab_studies_api_monitors": test_monitor_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_studies_api_rounds": test_round_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_studies_api_points": test_point_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_studies_api_alarms": test_alarm_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "studies:index": test_index_page_runs_as_many_queries_for_30_rows_as_for_3,
    "studies:alarms": test_alarms_page_runs_as_many_queries_for_30_rows_as_for_3,
}
