"""The supervision lists read only their page: as many queries for 30 rows as for 3."""

import datetime as dt
import itertools

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from qslab.core.testing import list_queries_at_two_sizes, make_user, page_queries_at_two_sizes
from qslab.funding.tests.conftest import make_lab
from qslab.supervision.tests.conftest import PNG, SECTIONS

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


def test_report_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision import services
    from qslab.supervision.models import AnnualReport

    today = timezone.localdate()
    template = services.create_template(
        users["office"], year=1900, sections=SECTIONS, opens_on=today, due_on=today + dt.timedelta(days=30)
    )

    def add(n):
        for _ in range(n):
            AnnualReport.objects.create(template=template, laboratory=make_lab(f"AR{next(_n)}"), due_on=today)

    few, many = list_queries_at_two_sizes(clients["office"], "/api/supervision/reports?limit=1000", add)
    assert few == many


def _add_orders(users, n):
    from qslab.core.services import add_attachment
    from qslab.supervision.models import RectificationOrder

    today = timezone.localdate()
    for _ in range(n):
        order = RectificationOrder.objects.create(
            laboratory=make_lab(f"RO{next(_n)}"), grounds="问题", due_on=today + dt.timedelta(days=10)
        )
        add_attachment(order, SimpleUploadedFile("photo.png", PNG), users["lab_manager"])


def test_order_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    url = "/api/supervision/orders?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, lambda n: _add_orders(users, n))
    assert few == many


def test_order_list_names_each_orders_files(users, clients):
    _add_orders(users, 2)
    items = clients["office"].get("/api/supervision/orders").json()["items"]
    assert [len(i["files"]) for i in items] == [1, 1] and items[0]["files"] != items[1]["files"]


def test_change_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision import services

    def add(n):
        for _ in range(n):
            services.report_major_change(
                users["office"], make_lab(f"MC{next(_n)}"), kind="director", new_value="李四", reason="换届"
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/supervision/changes?limit=1000", add)
    assert few == many


def test_plan_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision import services
    from qslab.supervision.models import Inspector, SpotCheckItem, SpotCheckPlan

    item = SpotCheckItem.objects.create(
        code="ops", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    Inspector.objects.create(user=users["expert"], region_code="110000")
    Inspector.objects.create(user=make_user("expert"), region_code="440000")
    make_lab("PL1", status="named")
    make_lab("PL2", status="named")

    def add(n):
        for _ in range(n):
            plan = SpotCheckPlan.objects.create(
                year=1000 + next(_n),
                name_zh="抽查",
                name_en="Spot check",
                proportions={"normal": 1},
                seed_source="x",
            )
            plan.items.set([item])
            services.draw_spot_check(users["office"], plan)

    few, many = list_queries_at_two_sizes(clients["office"], "/api/supervision/plans?limit=1000", add)
    assert few == many


def test_complaint_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision import services

    def add(n):
        for i in range(n):
            complaint = services.file_complaint(
                users["client"],
                make_lab(f"CP{next(_n)}", status="named"),
                name="张三",
                contact="13800000000",
                subject="检测报告造假",
                description="报告数据与样品不符。",
            )
            if i % 2:
                services.move_complaint(users["office"], complaint, "accept", "受理")

    few, many = list_queries_at_two_sizes(clients["office"], "/api/supervision/complaints?limit=1000", add)
    assert few == many


def test_complaint_list_gives_each_complaint_the_reason_of_its_last_step(users, clients):
    from qslab.supervision import services

    lab = make_lab("CPR", status="named")
    kwargs = {"name": "张三", "contact": "13800000000", "subject": "s", "description": "d"}
    first = services.file_complaint(users["client"], lab, **kwargs)
    second = services.file_complaint(users["client"], lab, **kwargs)
    services.move_complaint(users["office"], first, "accept", "受理")
    services.move_complaint(users["office"], first, "dismiss", "查证不实")
    items = {c["id"]: c for c in clients["office"].get("/api/supervision/complaints").json()["items"]}
    assert (items[first.pk]["reason"], items[second.pk]["reason"]) == ("查证不实", "")


def test_complaints_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.supervision import services

    def add(n):
        subjects = []
        for _ in range(n):
            subject = f"zz-complaint-{next(_n):04d}"
            services.file_complaint(
                users["client"],
                make_lab(f"CQ{next(_n)}", status="named"),
                name="张三",
                contact="13800000000",
                subject=subject,
                description="d",
            )
            subjects.append(subject)
        return subjects

    few, many = page_queries_at_two_sizes(clients["office"], "/supervision/complaints/", add)
    assert few == many


PINNED_LISTS = {
    "qslab_supervision_api_inspections": test_inspection_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_supervision_api_reports": test_report_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_supervision_api_orders": test_order_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_supervision_api_changes": test_change_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_supervision_api_plans": test_plan_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_supervision_api_complaints": test_complaint_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "supervision:complaints": test_complaints_page_runs_as_many_queries_for_30_rows_as_for_3,
}


def _labs_with_complaints_and_orders(users, n):
    """n named labs, each with a substantiated complaint, an open rectification order and a grade, so
    every part of the risk class has something to count; returns their codes."""
    from qslab.supervision import services
    from qslab.supervision.models import Complaint, RectificationOrder

    codes = []
    today = timezone.localdate()
    for _ in range(n):
        code = f"RK{next(_n):05d}"
        lab = make_lab(code, status="named")
        complaint = services.file_complaint(
            users["office"], lab, name="王敏", contact="139", subject="不实", description="不符"
        )
        Complaint.objects.filter(pk=complaint.pk).update(status="substantiated", received_on=today)
        RectificationOrder.objects.create(laboratory=lab, grounds="问题", due_on=today + dt.timedelta(days=9))
        codes.append(code)
    return codes


def test_overview_page_runs_as_many_queries_for_30_labs_as_for_3(users, clients):
    few, many = page_queries_at_two_sizes(
        clients["office"], "/supervision/overview/", lambda n: _labs_with_complaints_and_orders(users, n)
    )
    assert few == many


def test_draw_inputs_run_as_many_queries_for_30_labs_as_for_3(users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qslab.supervision import services
    from qslab.supervision.models import SpotCheckPlan

    plan = SpotCheckPlan.objects.create(
        year=1999, name_zh="抽查", name_en="Spot check", proportions={"high": 1}
    )
    counts = []
    for n in (3, 27):
        _labs_with_complaints_and_orders(users, n)
        with CaptureQueriesContext(connection) as captured:
            inputs = services.draw_inputs(plan)
        assert sum(1 for lab in inputs["labs"] if lab["risk"] == "high") >= (3 if n == 3 else 30)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1]
