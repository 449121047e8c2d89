"""The risk app's objects added to the shared access-test world, and small helpers for its tests."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile


def png_bytes(size: tuple[int, int] = (4, 4), fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


def make_terms() -> dict[str, Any]:
    from qslab.risk.models import Term

    def term(kind: str, code: str, en: str, zh: str = "") -> Term:
        return Term.objects.get_or_create(kind=kind, code=code, defaults={"name_en": en, "name_zh": zh})[0]

    return {
        "kettle": term("product", "269", "Electric kettles or hot pots", "电热水壶"),
        "scooter": term("product", "1329", "Scooters, unpowered", "滑板车"),
        "thermal": term("hazard", "thermal", "Burns and scalds (thermal)", "烫伤、灼伤"),
        "fall": term("hazard", "fall", "Falls", "跌落"),
        "burn": term("diagnosis", "48", "Burns, scald", "烫伤"),
        "hand": term("body_part", "82", "Hand", "手"),
        "released": term("disposition", "1", "Treated and released", "诊治后离院"),
    }


def make_report(terms: dict[str, Any], reporter: Any = None, status: str = "submitted", **extra: Any) -> Any:
    from qslab.risk.models import IncidentReport

    defaults = {
        "reference": f"IRTEST-{IncidentReport.objects.count() + 1:04d}",
        "reporter": reporter,
        "product_category": terms["kettle"],
        "hazard": terms["thermal"],
        "brand": "晨星（测试）",
        "model": "CX-1",
        "incident_date": dt.date(2026, 1, 5),
        "description": "壶盖弹开，开水烫伤手背。The lid opened and scalded my hand.",
        "consent_publish": True,
        "consent_text": "test consent",
        "status": status,
    }
    return IncidentReport.objects.create(**{**defaults, **extra})


SECRETS = {
    "operator_name": "SECRET-OPERATOR Shenzhen Acme Trading",
    "operator_contact": "SECRET-CONTACT 13800000000",
    "supply_chain": "SECRET-CHAIN distributed via warehouse 7",
    "information_source": "SECRET-SOURCE customs inspection",
    "internal_notes": "SECRET-NOTE do not publish",
}


def alert_data(terms: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "title_zh": "晨星电热水壶壶盖弹开",
        "title_en": "Chenxing kettle lid opens",
        "product_category": terms["kettle"],
        "product_name_zh": "电热水壶",
        "product_name_en": "Electric kettle",
        "brand": "晨星",
        "model": "CX-1",
        "batch": "2025-11A",
        "barcode": "4006381333931",
        "hazard": terms["thermal_hazard"],
        "risk_level": "serious",
        "hazard_description_zh": "壶盖在沸腾时弹开，开水溅出可致烫伤。",
        "hazard_description_en": "The lid opens while boiling; splashing water can scald.",
        "measures_zh": "生产者召回并更换壶盖。",
        "measures_en": "The producer recalls the kettles and replaces the lids.",
        "advice_zh": "请停止使用并联系销售商。",
        "advice_en": "Stop using the kettle and contact the seller.",
        **SECRETS,
        **extra,
    }


def make_assessment_and_alerts(w: Any) -> None:
    """A draft assessment with one scenario, a completed one, a draft and a published alert, a digest."""
    from django.utils import timezone

    from qslab.risk.models import (
        AlertDigest,
        AlertPhoto,
        AlertUpdate,
        ConsumerAlert,
        RiskAssessment,
        RiskMatrix,
        RiskScenario,
        ScenarioStep,
    )

    w.terms["thermal_hazard"] = w.terms["thermal"]
    matrix = RiskMatrix.objects.get(code="eu-safety-gate")
    w.assessment = RiskAssessment.objects.create(
        reference="RA2026-0901",
        title_en="Kettle lid",
        product_category=w.terms["kettle"],
        hazard=w.terms["thermal"],
        matrix=matrix,
        conclusion_en="Serious risk.",
    )
    w.scenario = RiskScenario.objects.create(assessment=w.assessment, description_en="lid opens", severity=3)
    ScenarioStep.objects.create(scenario=w.scenario, description_en="boils", probability=0.5)
    w.completed_assessment = RiskAssessment.objects.create(
        reference="RA2026-0902", title_en="Done", matrix=matrix, status="completed", risk_level="low"
    )
    w.draft_alert = ConsumerAlert.objects.create(
        reference="CA2026-0901", author=w.users["analyst"], **alert_data(w.terms)
    )
    w.published_alert = ConsumerAlert.objects.create(
        reference="CA2026-0902",
        status="published",
        published_at=timezone.now(),
        author=w.users["analyst"],
        **alert_data(w.terms),
    )
    w.alert_photo = AlertPhoto.objects.create(
        alert=w.published_alert, image=SimpleUploadedFile("kettle.png", png_bytes(), content_type="image/png")
    )
    w.draft_photo = AlertPhoto.objects.create(
        alert=w.draft_alert, image=SimpleUploadedFile("draft.png", png_bytes(), content_type="image/png")
    )
    AlertUpdate.objects.create(alert=w.published_alert, date=dt.date(2026, 1, 9), text_en="More batches.")
    year, week, _day = timezone.localdate().isocalendar()
    w.digest = AlertDigest.objects.create(
        year=year,
        week=week,
        start=dt.date.fromisocalendar(year, week, 1),
        end=dt.date.fromisocalendar(year, week, 7),
    )
    w.digest.alerts.set([w.published_alert])


@pytest.fixture
def terms(db: Any) -> dict[str, Any]:
    return make_terms()


@pytest.fixture
def world(world: Any, settings: Any, tmp_path: Any) -> Any:
    """The shared world plus reports in each state, patterns, a series family, signals and an intake."""
    from qslab.risk.models import DefectPattern, IngestRun, SeriesFamily, Signal

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    w = world
    client = w.users["client"]
    w.terms = make_terms()
    w.submitted = make_report(
        w.terms, client, photo=SimpleUploadedFile("photo.png", png_bytes(), content_type="image/png")
    )
    w.under_review = make_report(w.terms, client, status="under_review")
    w.published_report = make_report(w.terms, client, status="published", public_summary_en="Lid opens.")
    w.rejected = make_report(w.terms, client, status="rejected")
    w.public_pattern = DefectPattern.objects.create(
        title_zh="壶盖弹开",
        title_en="Lid opens",
        product_category=w.terms["kettle"],
        hazard=w.terms["thermal"],
        is_public=True,
    )
    w.public_pattern.evidence.set([w.published_report, w.submitted])
    w.private_pattern = DefectPattern.objects.create(
        title_zh="折叠关节松开",
        title_en="Folding joint unlocks",
        product_category=w.terms["scooter"],
        hazard=w.terms["fall"],
    )
    w.family = SeriesFamily.objects.create(
        name="test family",
        source="neiss",
        by="product_code",
        period="month",
        method="earsC",
        control={"method": "C1"},
    )
    w.signal = Signal.objects.create(
        family=w.family,
        unit="1807",
        unit_label="Floors",
        first_period=dt.date(2021, 11, 1),
        last_period=dt.date(2021, 12, 1),
        observed=30,
        upperbound=20,
        method="earsC",
        config={},
    )
    w.triaged_signal = Signal.objects.create(
        family=w.family,
        unit="1842",
        unit_label="Stairs",
        first_period=dt.date(2021, 11, 1),
        last_period=dt.date(2021, 11, 1),
        observed=25,
        upperbound=20,
        method="earsC",
        config={},
        status="triaged",
    )
    make_assessment_and_alerts(w)
    from qslab.risk.models import ConsumerAlert

    w.submitted_alert = ConsumerAlert.objects.create(
        reference="CA2026-0903", status="submitted", author=w.users["analyst"], **alert_data(w.terms)
    )
    w.ingest_run = IngestRun.objects.create(
        source="neiss",
        file_name="x.csv",
        file="risk/ingest/x.csv",
        owner=w.users["analyst"],
        status="rejected",
        problems=[{"row": 1, "column": "treatment_date", "value": "2021-02-30", "message": "not a date"}],
    )
    return w
