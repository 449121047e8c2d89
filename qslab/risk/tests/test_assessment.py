"""Risk assessment by injury scenarios: probabilities multiply, the matrix (reference data) gives the level,
the highest scenario decides, the sensitivity view, completion issues a numbered report."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from qslab.core.testing import verified_client
from qslab.core.workflow import TransitionRefused
from qslab.risk import services
from qslab.risk.assessment import format_probability, parse_probability, sensitivity
from qslab.risk.models import RiskAssessment, RiskMatrix, SeriesFamily, Signal

pytestmark = pytest.mark.django_db

FOLDING_CHAIR = (
    "1 | 打开折叠椅 | unfolds the chair\n"
    "1/50 | 握错位置 | grips it in the wrong place\n"
    "1/10 | 手指被夹 | finger caught in the hinge\n"
    "1 | 轻微夹伤 | minor pinching"
)


@pytest.fixture
def chair(users, terms):
    from qslab.risk.models import Term

    hazard = Term.objects.create(kind="hazard", code="mechanical", name_en="Mechanical", name_zh="机械伤害")
    return services.save_assessment(
        users["analyst"],
        {
            "title_zh": "折叠椅",
            "title_en": "Folding chair",
            "product_category": terms["kettle"],
            "hazard": hazard,
            "conclusion_en": "Low risk for the intended user.",
        },
    )


def test_the_folding_chair_example_gives_one_in_500_and_low_risk(chair, users):
    scenario = services.save_scenario(
        users["analyst"],
        chair,
        {"description_en": "Minor pinching of a finger", "severity": 1, "steps": FOLDING_CHAIR},
    )
    scenario.refresh_from_db()
    chair.refresh_from_db()
    assert scenario.probability == pytest.approx(1 / 500)
    assert format_probability(scenario.probability) == "1/500"
    assert scenario.risk_level == "low" and chair.risk_level == "low"
    assert [s.probability_text for s in scenario.steps.all()] == ["1", "1/50", "1/10", "1"]


def test_the_highest_scenario_decides_unless_the_matrix_says_the_first_one_does(chair, users):
    services.save_scenario(
        users["analyst"], chair, {"description_en": "pinch", "severity": 1, "steps": FOLDING_CHAIR}
    )
    second = services.save_scenario(
        users["analyst"],
        chair,
        {
            "description_en": "child's fingertip amputated",
            "consumer": "child 3-6",
            "severity": 4,
            "steps": "1/100 | | caught",
        },
    )
    chair.refresh_from_db()
    assert chair.risk_level == "serious" and chair.deciding_scenario_id == second.pk
    RiskMatrix.objects.filter(pk=chair.matrix_id).update(combination="first")
    chair.refresh_from_db()
    assert services.store_results(chair) == "low"


def test_the_sensitivity_view_shows_where_a_tenfold_change_moves_the_level(chair, users):
    services.save_scenario(
        users["analyst"], chair, {"description_en": "pinch", "severity": 1, "steps": FOLDING_CHAIR}
    )
    rows = {r["step"].description_en: r for r in sensitivity(chair)}
    grip = rows["grips it in the wrong place"]
    assert (grip["up"], grip["up_changes"]) == ("medium", True)  # 1/50 -> 1/5: 1/50 overall
    assert (grip["down"], grip["down_changes"]) == ("low", False)
    assert rows["unfolds the chair"]["up"] == "low"  # a certainty cannot be ten times more likely
    page = verified_client(users["analyst"]).get(chair.get_absolute_url()).content.decode()
    assert 'id="sensitivity"' in page and "1/500" in page


def test_the_matrix_is_reference_data_checked_when_edited():
    matrix = RiskMatrix.objects.get(code="eu-safety-gate")
    assert matrix.verified is False and matrix.level_for(1 / 500, 1) == "low"
    assert matrix.level_for(0.6, 2) == "serious" and matrix.level_for(1e-7, 4) == "low"
    matrix.bands = [
        {"above": 0.1, "levels": ["low"] * 4},
        {"above": 0.5, "levels": ["bad", "low", "low", "low"]},
    ]
    with pytest.raises(ValidationError) as error:
        matrix.full_clean()
    text = " ".join(error.value.message_dict["bands"])
    assert "most to the least probable" in text and "four levels" in text


def test_what_each_severity_means_is_reference_data_of_the_matrix(chair, users):
    matrix = chair.matrix
    assert matrix.code == "eu-safety-gate" and len(matrix.severities) == 4  # Table 3, shipped as data
    analyst = verified_client(users["analyst"])
    url = reverse("risk:scenario_create", args=[chair.pk])
    page = analyst.get(url, headers={"accept-language": "en"}).content.decode()
    assert "4: is or could be fatal" in page
    matrix.severities = [{"zh": f"级别{n}", "en": f"OFFICE-TEXT-{n}"} for n in range(1, 5)]
    matrix.full_clean()
    matrix.save()
    page = analyst.get(url, headers={"accept-language": "en"}).content.decode()
    assert "3: OFFICE-TEXT-3" in page and "is or could be fatal" not in page
    assert "2: 级别2" in analyst.get(url, headers={"accept-language": "zh-hans"}).content.decode()
    translation.activate("en")  # the request left Chinese active in this thread
    matrix.severities = [{"en": "only one"}]
    with pytest.raises(ValidationError) as error:
        matrix.full_clean()
    assert "four severity levels" in " ".join(error.value.message_dict["severities"])
    matrix.severities = []  # none: the built-in short descriptions
    matrix.save()
    assert "4: fatal, or disability over 10 per cent" in analyst.get(url).content.decode()


def test_bad_probabilities_are_all_reported_at_once(chair, users):
    assert parse_probability("2%") == pytest.approx(0.02) and parse_probability("1／50") == pytest.approx(
        0.02
    )
    with pytest.raises(ValidationError) as error:
        services.save_scenario(
            users["analyst"],
            chair,
            {"description_en": "x", "severity": 2, "steps": "1/0.5 | a\nabc | b\n0.5 |"},
        )
    problems = error.value.message_dict["steps"]
    assert len(problems) == 3 and problems[0].startswith("Line 1") and "Line 3" in problems[2]
    assert chair.scenarios.count() == 0


def test_completing_issues_a_numbered_report_in_both_languages_and_freezes_the_assessment(chair, users):
    from qslab.core.documents import verify_document

    with pytest.raises(TransitionRefused, match="at least one injury scenario"):
        services.move_assessment(users["analyst"], chair, "complete")
    services.save_scenario(
        users["analyst"], chair, {"description_en": "pinch", "severity": 1, "steps": FOLDING_CHAIR}
    )
    chair = services.move_assessment(users["analyst"], chair, "complete")
    assert chair.status == "completed" and chair.document is not None and chair.completed_at
    assert chair.document.number.startswith("国质标风评〔") and verify_document(chair.document)
    assert chair.document.pdf_zh.size > 1000 and chair.document.pdf_en.size > 1000
    response = verified_client(users["analyst"]).get(reverse("risk:assessment_edit", args=[chair.pk]))
    assert response.status_code == 403


def test_escalating_a_signal_opens_a_draft_assessment_of_its_product(users, terms):
    family = SeriesFamily.objects.create(name="f", source="neiss", by="product_code", period="month")
    signal = Signal.objects.create(
        family=family,
        unit="269",
        unit_label="Kettles",
        first_period=dt.date(2021, 1, 1),
        last_period=dt.date(2021, 1, 1),
        observed=9,
        upperbound=3,
        method="earsC",
    )
    services.move_signal(users["analyst"], signal, "escalate", "burns cluster")
    assessment = RiskAssessment.objects.get(signal=signal)
    assert assessment.status == "draft" and assessment.product_category == terms["kettle"]
    assert assessment.matrix.code == "eu-safety-gate" and assessment.product_description == "burns cluster"
    page = verified_client(users["analyst"]).get(signal.get_absolute_url()).content.decode()
    assert assessment.reference in page


def test_an_analyst_builds_an_assessment_in_the_browser_forms(users, terms):
    from qslab.risk.models import Term

    hazard = Term.objects.create(kind="hazard", code="thermal2", name_en="Burns")
    analyst = verified_client(users["analyst"])
    response = analyst.post(
        reverse("risk:assessment_create"),
        {
            "title_en": "Kettle",
            "product_category": terms["kettle"].pk,
            "hazard": hazard.pk,
            "matrix": RiskMatrix.objects.get().pk,
            "barcode": "4006381333932",
        },
    )
    assert "check digit does not match" in response.content.decode()
    response = analyst.post(
        reverse("risk:assessment_create"),
        {
            "title_en": "Kettle",
            "product_category": terms["kettle"].pk,
            "hazard": hazard.pk,
            "matrix": RiskMatrix.objects.get().pk,
        },
    )
    assessment = RiskAssessment.objects.get()
    assert response.status_code == 302 and response["Location"] == assessment.get_absolute_url()
    analyst.post(
        reverse("risk:scenario_create", args=[assessment.pk]),
        {"description_en": "scald", "severity": "3", "steps": "1/10 | | lid opens\n1/2 | | hand over spout"},
    )
    assessment.refresh_from_db()
    assert assessment.risk_level == "serious"  # 1/20 with severity 3
