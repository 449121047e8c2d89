"""A scenario saved at the instant the assessment is completed, on PostgreSQL: threads with their own
connections, released together by a barrier. Completion fixes the level and issues the numbered report,
so the scenario is either in it (saved first) or refused (the assessment is no longer a draft); it never
changes the level of a completed assessment afterwards."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from qslab.core.models import ChangeRecord
from qslab.core.testing import at_once
from qslab.risk import services
from qslab.risk.models import RiskAssessment, Term

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]

MINOR = "1 | 打开折叠椅 | unfolds the chair\n1/50 | 手指被夹 | finger caught\n1/10 | 轻微夹伤 | pinching"
FATAL = "1 | 翻倒 | tips over\n1 | 压伤 | crushed"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_scenario_saved_while_the_assessment_is_completed_is_in_its_level_or_refused(users, terms):
    analyst, office = users["analyst"], users["office"]
    hazard = Term.objects.create(kind="hazard", code="mechanical", name_en="Mechanical", name_zh="机械伤害")
    for round_ in range(3):
        chair = services.save_assessment(
            analyst,
            {
                "title_zh": f"折叠椅{round_}",
                "title_en": f"Folding chair {round_}",
                "product_category": terms["kettle"],
                "hazard": hazard,
                "conclusion_en": "Low risk.",
            },
        )
        services.save_scenario(analyst, chair, {"description_en": "pinch", "severity": 1, "steps": MINOR})
        pk = chair.pk
        calls = {
            "complete": lambda pk=pk: services.move_assessment(
                analyst, RiskAssessment.objects.get(pk=pk), "complete"
            ),
            "scenario": lambda pk=pk: services.save_scenario(
                office,
                RiskAssessment.objects.get(pk=pk),
                {"description_en": "tips over", "severity": 4, "steps": FATAL},
            ),
        }
        outcomes = at_once(calls)  # refusals and errors alike: the assertions below tell them apart
        assert outcomes["complete"] == "ok", outcomes
        assert outcomes["scenario"] == "ok" or outcomes["scenario"].startswith("PermissionDenied"), outcomes
        final = RiskAssessment.objects.get(pk=pk)
        completion = ChangeRecord.objects.get(
            content_type=ContentType.objects.get_for_model(RiskAssessment),
            object_id=str(pk),
            transition="complete",
        )
        assert final.risk_level == completion.after["risk_level"], (
            f"round {round_}: completed at {completion.after['risk_level']}, "
            f"now {final.risk_level}; {outcomes}"
        )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_assessments_and_alerts_drafted_at_the_same_instant_each_get_their_own_reference(users, terms):
    """Two drafted at once both read the same last reference; neither may fail on the unique one."""
    from qslab.risk.models import ConsumerAlert
    from qslab.risk.tests.conftest import alert_data

    analyst = users["analyst"]
    for round_ in range(2):  # the first of the year, then with earlier references

        def draft(n: int) -> None:
            if n % 2:
                services.save_alert(analyst, alert_data({**terms, "thermal_hazard": terms["thermal"]}))
            else:
                services.save_assessment(
                    analyst,
                    {"title_zh": "折叠椅", "title_en": "Folding chair", "product_category": terms["kettle"]},
                )

        outcomes = list(at_once({str(n): lambda n=n: draft(n) for n in range(4)}).values())
        assert outcomes == ["ok"] * 4, f"round {round_}: {outcomes}"
    for model in (RiskAssessment, ConsumerAlert):
        references = list(model.objects.values_list("reference", flat=True))
        assert len(references) == len(set(references)) == 4
