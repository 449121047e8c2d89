"""Closing a recall issues its closing summary as a numbered bilingual public document (PDFs in
zh-Hans and English with the counts and the final summary, no confidential field), linked from the
recall's work page and its public notice."""

import datetime as dt
import shutil
import subprocess

import pytest
from django.test import Client
from django.urls import reverse

from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.tests.conftest import grant_client, make_company, make_product, make_recall

pytestmark = pytest.mark.django_db


def _text(path):
    return subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout


def test_closing_issues_a_numbered_bilingual_summary_linked_from_the_recall(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company()
    owner = make_user("client")
    grant_client(owner, company)
    office = make_user("office")
    recall = make_recall(
        make_product(company),
        "in_progress",
        units_affected=100,
        investigation="SECRET-INVESTIGATION",
        office_notes="SECRET-OFFICE",
        start_date=dt.date(2025, 10, 1),
    )
    services.record_progress(owner, recall, {"period_end": dt.date(2025, 12, 31), "units_remedied": 40})
    services.record_progress(
        owner,
        recall,
        {
            "period_end": dt.date(2026, 3, 31),
            "units_remedied": 93,
            "is_final": True,
            "summary_zh": "九十三台已更换壶盖。",
            "summary_en": "Ninety-three lids replaced.",
            "notes": "SECRET-NOTE",
        },
    )
    services.move_recall(office, recall, "close", "remedied as planned")
    recall.refresh_from_db()
    doc = recall.closing_document
    assert doc is not None and doc.is_public and doc.number.startswith("国质标召结〔")
    assert doc.number != getattr(recall.notice_document, "number", None)
    assert "93" in doc.body_en and "93.0 %" in doc.body_en and "Ninety-three lids replaced." in doc.body_en
    assert "九十三台已更换壶盖" in doc.body_zh and "召回完成率 93.0 %" in doc.body_zh
    for text in (doc.body_zh, doc.body_en):
        assert "SECRET" not in text
    for pdf in (doc.pdf_zh, doc.pdf_en):
        with pdf.open("rb") as handle:
            assert handle.read(4) == b"%PDF"
    if shutil.which("pdftotext"):
        assert "Ninety-three" in _text(doc.pdf_en.path)
        assert doc.number in _text(doc.pdf_zh.path)
    url = doc.get_absolute_url()
    assert url in verified_client(owner).get(reverse("recalls:recall", args=[recall.pk])).content.decode()
    assert url in Client().get(reverse("recalls:public_recall", args=[recall.pk])).content.decode()
