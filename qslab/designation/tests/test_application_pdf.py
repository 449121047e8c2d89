"""An application downloads as one PDF with Chinese and English labels: co-applicants, directions, team,
resources, the construction plan and the budget lines with their totals per year, budget line and source.
Whoever reads the application may download it, except an expert who declared a conflict on it."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import pytest
from django.utils import timezone

from qslab.core.testing import make_organisation
from qslab.designation import services
from qslab.designation.models import Application, Assignment, CoApplicant, Review
from qslab.designation.tests.factories import make_application, make_call, make_expert
from qslab.designation.tests.test_api_panels import _api

pytestmark = pytest.mark.django_db


def _text(pdf: bytes) -> str:
    assert shutil.which("pdftotext"), "poppler-utils is required (.ci/run installs it)"
    out = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return out.stdout.decode()


@pytest.fixture
def app(users):
    manager = users["lab_manager"]
    notice = dt.date(timezone.localdate().year + 1, 3, 1)
    call = make_call("pdf", construction_years=3, notice_starts_on=notice)
    manager.organisation = make_organisation(
        region_code="320000", name_zh="申报大学", name_en="Applicant University"
    )
    manager.save(update_fields=["organisation"])
    app = make_application(
        call,
        manager.organisation,
        owner=manager,
        resources="大型仪器 35 台",
        directions="工业机器人可靠性验证",
    )
    partner = make_organisation(region_code="320000", name_zh="协作企业", name_en="Partner Works")
    CoApplicant.objects.create(application=app, organisation=partner, role=CoApplicant.Role.INDUSTRY)
    y = notice.year
    services.set_budget_lines(
        manager,
        app,
        [
            services.BudgetRow(y, "equipment", "central", Decimal("1200.50"), "质谱仪"),
            services.BudgetRow(y, "equipment", "own", Decimal("300")),
            services.BudgetRow(y + 1, "research", "central", Decimal("450.25")),
            services.BudgetRow(y + 3, "operations", "enterprise", Decimal("49.25")),
        ],
    )
    Application.objects.filter(pk=app.pk).update(status="in_review")  # released to the experts
    app.refresh_from_db()
    return app


def test_the_pdf_holds_the_application_with_its_budget_lines_and_totals_in_both_languages(
    users, clients, app
):
    response = clients["lab_manager"].get(f"/designation/applications/{app.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = _text(b"".join(response.streaming_content) if response.streaming else response.content)
    y = app.call.notice_starts_on.year
    flat = " ".join(text.split())
    # the lines, each with its year, bilingual budget line and source, and amount
    assert (
        "1200.50" in flat and "质谱仪" in flat and "300.00" in flat and "450.25" in flat and "49.25" in flat
    )
    assert "instruments and equipment" in flat and "central government funds" in flat
    # totals per year, per budget line, per source and overall (Decimal arithmetic, two places)
    assert f"{y} 1500.50" in flat and f"{y + 1} 450.25" in flat and f"{y + 3} 49.25" in flat
    assert "1500.50" in flat  # equipment: 1200.50 + 300
    assert "1650.75" in flat  # central: 1200.50 + 450.25
    assert "2000.00" in flat
    for label in ("Budget (10k CNY)", "Source of funds", "Co-applicants", "Research directions"):
        assert label in flat, label
    assert (
        "Total per year" in flat and "Total per source of funds" in flat and "Total per budget line" in flat
    )
    assert "协作企业" in flat and "Partner Works" in flat and "industry" in flat
    assert "工业机器人可靠性验证" in flat and "大型仪器 35 台" in flat and "三年建设" in flat
    assert app.name_zh in flat and "申报大学" in flat


def test_the_pdf_labels_are_chinese_as_well_as_english(clients, app):
    text = " ".join(_text(clients["office"].get(f"/designation/applications/{app.pk}/pdf/").content).split())
    from django.utils import translation

    with translation.override("zh-hans"):
        from django.utils.translation import gettext

        for message in ("Research directions", "Source of funds", "Total per year", "Co-applicants"):
            assert gettext(message) != message, f"{message} has no Chinese translation"
            assert gettext(message) in text


def test_the_api_serves_the_same_pdf_to_the_recommending_authority(users, app):
    response = _api(users["authority"])("get", f"/applications/{app.pk}/pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert "2000.00" in _text(response.content)


def test_an_expert_on_the_panel_downloads_it_but_not_after_declaring_a_conflict(clients, users, app):
    expert = users["expert"]
    make_expert(user=expert)
    assignment = Assignment.objects.create(application=app, expert=expert, released=True)
    page = clients["expert"].get(app.get_absolute_url())
    assert b"data-application-pdf" in page.content
    assert clients["expert"].get(f"/designation/applications/{app.pk}/pdf/").status_code == 200

    # a submitted review keeps the assignment (and the page) after the declaration; the PDF is refused
    Review.objects.create(assignment=assignment, scores={}, total=70, submitted_at=timezone.now())
    services.declare_conflict(expert, app, True, "曾在申报单位任职")
    assert Assignment.objects.filter(pk=assignment.pk).exists()
    page = clients["expert"].get(app.get_absolute_url())
    assert page.status_code == 200 and b"data-application-pdf" not in page.content
    assert clients["expert"].get(f"/designation/applications/{app.pk}/pdf/").status_code == 404
    assert _api(expert)("get", f"/applications/{app.pk}/pdf").status_code == 404


def test_another_institution_and_an_unassigned_expert_get_nothing(users, clients, app):
    other = make_expert()
    other.user.organisation = make_organisation(region_code="330000")
    other.user.save(update_fields=["organisation"])
    assert _api(other.user)("get", f"/applications/{app.pk}/pdf").status_code == 404
    assert clients["client"].get(f"/designation/applications/{app.pk}/pdf/").status_code == 404
