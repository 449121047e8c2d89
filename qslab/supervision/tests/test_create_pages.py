"""The office creates report templates, spot-check plans and evaluation campaigns from pages; the plain-text
forms for sections, indicator trees and grades report every faulty line at once and create nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from qslab.core.testing import verified_client
from qslab.supervision import textforms
from qslab.supervision.models import EvaluationCampaign, ReportTemplate, SpotCheckItem, SpotCheckPlan


def test_the_indicator_text_becomes_a_nested_tree():
    tree = textforms.parse_indicators(textforms.INDICATORS_EXAMPLE)
    assert [n["code"] for n in tree] == ["research", "openness", "management"]
    assert [c["code"] for c in tree[0]["children"]] == ["quality", "standards"]
    assert tree[0]["children"][1]["target"] == 10 and tree[1]["weight"] == 30
    assert tree[0]["children"][1]["source"] == "outputs.standards_published"
    rectifications = tree[2]["children"][1]
    assert (rectifications["target"], rectifications["rule"]) == (0, "at_most")


def test_every_faulty_line_is_reported_at_once():
    with pytest.raises(ValidationError) as exc:
        textforms.parse_indicators("a | 甲 | A | group | x\n  b | 乙 | B | magic | 1\nc | 丙")
    assert [m[:7] for m in exc.value.messages] == ["Line 1:", "Line 2:", "Line 3:"]
    with pytest.raises(ValidationError) as exc:
        textforms.parse_sections("field | 字段 | Field | text\n# | |")
    assert len(exc.value.messages) == 2


def test_the_office_creates_a_template_from_the_page(users):
    client = verified_client(users["office"])
    response = client.post(
        "/supervision/templates/new/",
        {
            "year": "2025",
            "opens_on": "2026-01-01",
            "due_on": "2026-03-31",
            "sections": textforms.SECTIONS_EXAMPLE,
        },
    )
    template = ReportTemplate.objects.get(year=2025)
    assert response.status_code == 302 and response["Location"] == template.get_absolute_url()
    assert [f["key"] for f in template.fields()] == [
        "summary",
        "staff",
        "standards_drafted",
        "machine_hours",
        "execution_rate",
    ]
    assert template.fields()[1]["source"] == "key_figures.staff"


def test_reporting_prefills_fields_from_the_registry_and_the_sharing_app(users):
    from qslab.labs.models import KeyFigures
    from qslab.labs.tests.conftest import make_lab
    from qslab.supervision import services

    lab = make_lab("pre", status="named")
    KeyFigures.objects.create(laboratory=lab, year=2025, staff=12)
    template = services.create_template(
        users["office"],
        year=2025,
        sections=textforms.parse_sections(textforms.SECTIONS_EXAMPLE),
        opens_on=dt.date(2026, 1, 1),
        due_on=dt.date(2026, 3, 31),
    )
    (report,) = services.open_reporting(users["office"], template)
    assert report.values["staff"] == 12
    assert report.values["machine_hours"] == 0.0, "no bookings: zero hours, read from sharing"
    assert "execution_rate" not in report.values, "no budget: left for the lab to fill"


def test_a_faulty_template_creates_nothing_and_says_why(users):
    client = verified_client(users["office"])
    response = client.post(
        "/supervision/templates/new/",
        {
            "year": "2025",
            "opens_on": "2026-03-31",
            "due_on": "2026-01-01",
            "sections": textforms.SECTIONS_EXAMPLE,
        },
    )
    assert response.status_code == 200 and not ReportTemplate.objects.exists()
    assert "The due date must be after the opening date." in response.content.decode()


def test_the_office_creates_a_plan_and_enters_the_seed_before_the_draw(users):
    item = SpotCheckItem.objects.create(
        code="ops", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    client = verified_client(users["office"])
    client.post(
        "/supervision/plans/new/",
        {
            "year": "2026",
            "name_zh": "抽查",
            "name_en": "Spot check",
            "items": [item.pk],
            "p_high": "1",
            "p_normal": "0.2",
            "p_low": "0",
            "inspectors_per_lab": "2",
            "publication_days": "20",
            "conflict_rules": ["same_organisation", "same_province"],
        },
    )
    plan = SpotCheckPlan.objects.get()
    assert plan.proportions == {"high": 1.0, "normal": 0.2, "low": 0.0}
    assert plan.conflict_rules == ["same_organisation", "same_province"] and plan.seed_source == ""
    client.post(f"/supervision/plans/{plan.pk}/seed/", {"seed_source": "福彩3D 2026-01-05: 4 1 7"})
    plan.refresh_from_db()
    assert plan.seed_source == "福彩3D 2026-01-05: 4 1 7"

    refused = client.post(
        "/supervision/plans/new/",
        {"year": "2026", "name_zh": "", "name_en": "", "p_high": "3", "inspectors_per_lab": "1"},
    )
    assert refused.status_code == 200 and SpotCheckPlan.objects.count() == 1


def test_the_office_creates_a_campaign_with_its_tree_and_grades(users):
    client = verified_client(users["office"])
    client.post(
        "/supervision/campaigns/new/",
        {
            "code": "mid-2026",
            "name_zh": "中期评估",
            "name_en": "Mid-construction evaluation",
            "year": "2026",
            "period_from": "2024",
            "indicators": textforms.INDICATORS_EXAMPLE,
            "grades": "a | 通过 | pass | 60\nb | 不通过 | fail | 0",
        },
    )
    campaign = EvaluationCampaign.objects.get(code="mid-2026")
    assert [g["code"] for g in campaign.grades] == ["a", "b"]
    assert campaign.indicators.get(code="quality").parent.code == "research"
    assert campaign.period_years == [2024, 2025, 2026]
    assert campaign.indicators.get(code="budget").source == "funding.execution_rate"


def test_the_create_pages_are_the_offices(users):
    for url in ("/supervision/templates/new/", "/supervision/plans/new/", "/supervision/campaigns/new/"):
        assert verified_client(users["committee"]).get(url).status_code == 403
        assert verified_client(users["office"]).get(url).status_code == 200


def test_the_plan_form_and_page_name_the_conflict_rules_in_the_users_language(users, settings):
    client = verified_client(users["office"])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get("/supervision/plans/new/").content.decode()
    assert "与实验室依托单位相同的检查人员" in page
    assert 'value="same_province"' in page
    assert "> same_province<" not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get("/supervision/plans/new/").content.decode()
    assert "inspector from the laboratory&#x27;s supporting institution" in page


def test_reporting_fills_shared_hours_budget_execution_and_outputs_from_the_computed_sources(users):
    """The annual report's indicator fields come from ``figures.py``, the same functions as the
    evaluation indicators: shared-instrument hours and external share from sharing, budget execution
    from funding, standards from outputs, for the report year only."""
    from decimal import Decimal

    from django.utils import timezone

    from qslab.labs.tests.conftest import make_lab
    from qslab.sharing.models import Booking
    from qslab.sharing.tests.conftest import make_resource
    from qslab.supervision import figures, services
    from qslab.supervision.tests.test_computed_indicators import _budget_spent, _standard

    office = users["office"]
    year = timezone.localdate().year - 1
    lab = make_lab("auto", status="named")
    resource = make_resource(lab)
    tz = timezone.get_current_timezone()
    for day, hours, user_class in ((3, 6, "internal"), (4, 2, "industry"), (5, 4, "industry")):
        starts = dt.datetime(year, 3, day, 9, tzinfo=tz)
        Booking.objects.create(
            resource=resource,
            user=users["client"],
            starts=starts,
            ends=starts + dt.timedelta(hours=hours),
            status="completed",
            user_class=user_class,
        )
    starts = dt.datetime(year - 1, 3, 3, 9, tzinfo=tz)  # the year before: not counted
    Booking.objects.create(
        resource=resource,
        user=users["client"],
        starts=starts,
        ends=starts + dt.timedelta(hours=50),
        status="completed",
    )

    class Env:
        pass

    env = Env()
    env.office = office
    _budget_spent(env, lab, year, Decimal("0.5"))
    _standard(lab, dt.date(year, 5, 1), 1)
    sections = textforms.parse_sections(
        textforms.SECTIONS_EXAMPLE
        + "\nexternal_share | 对外机时占比 | External share (%) | number | sharing.external_share"
        + "\nstandards | 发布标准数 | Standards published | number | outputs.standards_published"
    )
    template = services.create_template(
        office,
        year=year,
        sections=sections,
        opens_on=dt.date(year + 1, 1, 1),
        due_on=dt.date(year + 1, 3, 31),
    )
    (report,) = services.open_reporting(office, template)
    assert report.values["machine_hours"] == 12.0
    assert report.values["external_share"] == 50.0  # %, like the indicator, not a fraction
    assert report.values["execution_rate"] == pytest.approx(50.0, abs=0.1)
    assert report.values["standards"] == 1.0
    for key, source in (
        ("machine_hours", "sharing.machine_hours"),
        ("external_share", "sharing.external_share"),
        ("execution_rate", "funding.execution_rate"),
        ("standards", "outputs.standards_published"),
    ):
        assert report.values[key] == figures.compute(source, lab, [year])


def test_a_template_field_with_an_unknown_source_is_refused(users):
    from qslab.supervision import services

    sections = textforms.parse_sections(
        textforms.SECTIONS_EXAMPLE
        + "\nhours | 机时 | Hours | number | sharing.machine_hour"
        + "\nstaff2 | 人员 | Staff | number | key_figures.nobody"
    )
    with pytest.raises(ValidationError) as refused:
        services.create_template(
            users["office"],
            year=2024,
            sections=sections,
            opens_on=dt.date(2025, 1, 1),
            due_on=dt.date(2025, 3, 1),
        )
    text = " ".join(refused.value.messages)
    assert "sharing.machine_hour" in text and "key_figures.nobody" in text


def test_a_campaign_code_already_used_is_refused_with_a_message_and_the_api_asks_the_role_first(users):
    from qslab.accounts.models import ApiToken

    client = verified_client(users["office"])
    form = {
        "code": "mid-2026",
        "name_zh": "中期评估",
        "name_en": "Mid-construction evaluation",
        "year": "2026",
        "indicators": textforms.INDICATORS_EXAMPLE,
        "grades": "a | 通过 | pass | 60\nb | 不通过 | fail | 0",
    }
    assert client.post("/supervision/campaigns/new/", form).status_code == 302
    again = client.post("/supervision/campaigns/new/", form, HTTP_ACCEPT_LANGUAGE="en")
    assert again.status_code == 200, "the form again, not a server error"
    assert "The code “mid-2026” is already used." in again.content.decode()
    assert EvaluationCampaign.objects.filter(code="mid-2026").count() == 1

    payload = {
        "code": "mid-2026",
        "name_zh": "中期评估",
        "name_en": "Mid",
        "year": 2026,
        "indicators": textforms.parse_indicators(textforms.INDICATORS_EXAMPLE),
    }
    for role, expected in (("committee", 403), ("office", 422)):
        _t, token = ApiToken.issue(users[role], "t")
        r = verified_client(None).post(
            "/api/supervision/campaigns",
            payload,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == expected, (role, r.content)


def test_a_spot_check_item_code_may_have_capitals_and_a_used_code_is_named(users):
    from qslab.supervision import services

    fields = {
        "name_zh": "运行",
        "name_en": "Operation",
        "legal_basis": "办法",
        "content": "运行",
        "method": "现场",
    }
    item = services.create_item(users["office"], code="SC-01", **fields)
    assert SpotCheckItem.objects.get(pk=item.pk).code == "SC-01"
    with pytest.raises(ValidationError) as exc:
        services.create_item(users["office"], code="SC-01", **fields)
    assert exc.value.message_dict["code"] == ["The code “SC-01” is already used."]
    with pytest.raises(ValidationError) as exc:
        services.create_item(users["office"], code="运行 检查", **fields)
    assert exc.value.message_dict["code"] == ["The code is letters, digits, - and _ only."]
