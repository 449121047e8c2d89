"""The recalls app's objects added to the shared access-test world, and helpers for its tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from stdnum import ean

from qslab.core.testing import make_organisation


def gtin(body: str) -> str:
    """A GTIN-13 with its check digit, from 12 digits."""
    return body + ean.calc_check_digit(body)


PLAN = {
    "title_zh": "电热水壶召回",
    "title_en": "Kettle recall",
    "defect_zh": "壶盖锁扣松开。",
    "defect_en": "The lid latch releases.",
    "remedy": "replace",
    "remedy_text_zh": "免费更换壶盖。",
    "remedy_text_en": "Free replacement lid.",
    "advice_zh": "停止使用。",
    "advice_en": "Stop using it.",
    "start_date": dt.date(2025, 12, 1),
    "planned_end": dt.date(2026, 6, 30),
    "notice_zh": "召回公告。",
    "notice_en": "Recall notice.",
    "investigation": "SECRET-TEST-REPORT-T41",
    "sales_channels": "SECRET-CHANNELS",
    "contact_name": "SECRET-CONTACT",
    "contact_phone": "020-1234",
    "office_notes": "SECRET-OFFICE-NOTE",
}


def make_company(region: str = "320000", **fields: Any) -> Any:
    return make_organisation(kind="enterprise", region_code=region, **fields)


def grant_client(user: Any, company: Any) -> None:
    """Make ``user`` an industry client of ``company``."""
    from qslab.accounts.models import RoleMembership

    m = RoleMembership.objects.filter(user=user, role="client", organisation__isnull=True).first()
    if m is not None:
        m.organisation = company
        m.save()
    else:
        RoleMembership.objects.get_or_create(user=user, role="client", organisation=company)
    for attr in ("_qslab_recall_companies", "_qslab_memberships"):
        if hasattr(user, attr):
            delattr(user, attr)


def make_product(company: Any, code: str = "690123450001", **fields: Any) -> Any:
    from qslab.recalls.models import Batch, Product

    product = Product.objects.create(
        company=company,
        name_zh="电热水壶",
        name_en="Kettle",
        brand=fields.pop("brand", "晨星（测试）"),
        model=fields.pop("model", f"CX-{code[-3:]}"),
        gtin=gtin(code),
        **fields,
    )
    Batch.objects.create(
        product=product,
        lot="L1",
        produced_from=dt.date(2025, 3, 1),
        produced_to=dt.date(2025, 3, 5),
        quantity=100,
        serial_first="SN000001",
        serial_last="SN000100",
    )
    Batch.objects.create(
        product=product, lot="L2", produced_from=dt.date(2025, 4, 1), produced_to=dt.date(2025, 4, 5)
    )
    return product


_refs = iter(range(1, 10**6))


def make_recall(product: Any, status: str = "draft", **fields: Any) -> Any:
    from qslab.recalls.models import Recall

    recall = Recall.objects.create(
        reference=f"RCTEST-{next(_refs):04d}",
        product=product,
        company=product.company,
        status=status,
        **{**PLAN, **fields},
    )
    recall.batches.set(product.batches.filter(lot="L1"))
    return recall


@pytest.fixture
def world(world: Any, settings: Any, tmp_path: Any) -> Any:
    """The shared world plus two companies, their products and recalls in each state."""
    from django.utils import timezone

    from qslab.recalls.models import ProgressReport, TraceUpload

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    w = world
    w.company = make_company("320000", name_en="Own company")
    w.other_company = make_company("440000", name_en="Other company")
    grant_client(w.users["client"], w.company)
    w.product = make_product(w.company)
    w.other_product = make_product(w.other_company, "690123450002")
    w.draft = make_recall(w.product)
    w.other_draft = make_recall(w.other_product)
    w.submitted = make_recall(w.product, "submitted")
    w.approved = make_recall(w.product, "approved")
    w.published = make_recall(w.product, "public", notice_published_at=timezone.now(), units_affected=100)
    w.in_progress = make_recall(
        w.product, "in_progress", notice_published_at=timezone.now(), units_affected=100, units_remedied=10
    )
    ProgressReport.objects.create(
        recall=w.in_progress,
        period_end=dt.date(2025, 12, 31),
        units_remedied=10,
        notes="SECRET-PROGRESS-NOTE",
    )
    from qslab.recalls.models import ProducerReport, ReportingRule

    w.producer_report = ProducerReport.objects.create(
        reference="PRTEST-0001",
        company=w.company,
        product=w.product,
        rule=ReportingRule.objects.get(code="death-or-serious-injury"),
        learned_on=dt.date(2026, 1, 5),
        description="SECRET-INCIDENT a child was scalded",
        working_days=2,
        due=dt.date(2026, 1, 7),
    )
    from django.core.files.uploadedfile import SimpleUploadedFile

    from qslab.labs.tests.conftest import make_lab
    from qslab.recalls.models import LabTestRequest

    w.lab_request = LabTestRequest.objects.create(
        laboratory=make_lab("recall-test-lab"),
        recall=w.in_progress,
        question="Test the lid latch to GB 4706.19.",
        requested_by=w.users["office"],
        report=SimpleUploadedFile("report.pdf", b"%PDF-1.4\n%test report\n"),
        report_name="report.pdf",
    )
    w.upload = TraceUpload.objects.create(
        company=w.company,
        kind="units",
        file="recalls/trace/x.csv",
        file_name="x.csv",
        status="rejected",
        problems=[{"row": 2, "column": "gtin", "value": "123", "message": "bad"}],
    )
    return w


def load_supply_chain(product: Any) -> None:
    """Units of lots L1 (SN000001-SN000010) and L2 (SN000011-SN000015) of ``product`` and their events:
    all made in Guangdong; L1 goes to distributors D-BJ (odd serials) and D-JS (even), three are sold by
    retailer R-BJ and two of those remedied; L2 goes to distributor D-GD."""
    from qslab.recalls.services import trace_store

    units, events = [], []

    def event(serial: str, kind: str, party: str, role: str, region: str, day: str) -> None:
        events.append(
            {
                "gtin": product.gtin,
                "serial": serial,
                "kind": kind,
                "party_id": party,
                "party_name": f"{party} name",
                "party_role": role,
                "region": region,
                "occurred_at": day,
            }
        )

    for i in range(1, 16):
        serial = f"SN{i:06d}"
        lot = "L1" if i <= 10 else "L2"
        units.append({"gtin": product.gtin, "serial": serial, "batch": lot, "production_date": "2025-03-02"})
        event(serial, "manufactured", "M-1", "manufacturer", "440604", "2025-03-03")
        if lot == "L2":
            event(serial, "distributed", "D-GD", "distributor", "440106", "2025-03-10")
            continue
        distributor = ("D-BJ", "110105") if i % 2 else ("D-JS", "320102")
        event(serial, "distributed", distributor[0], "distributor", distributor[1], "2025-03-10")
        if i in (1, 3, 5):
            event(serial, "distributed", "R-BJ", "retailer", "110108", "2025-03-20")
            event(serial, "sold", "R-BJ", "retailer", "110108", "2025-04-01")
        if i in (1, 3):
            event(serial, "remedied", "S-1", "service", "440604", "2025-12-10")
    store = trace_store()
    try:
        store.ingest_units(units, name="test units")
        store.ingest_events(events, name="test events")
    finally:
        store.close()
