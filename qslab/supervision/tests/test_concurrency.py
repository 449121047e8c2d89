"""Two draws of the same spot-check plan at the same instant give one recorded draw: on PostgreSQL, the plan
row is locked for the draw and ``(plan, number)`` is unique, so the second request waits, then finds the
draw made and is refused (a redraw needs a reason)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction

from qslab.core.testing import at_once, make_user
from qslab.labs.tests.conftest import make_lab
from qslab.supervision import services
from qslab.supervision.models import Inspector, SpotCheck, SpotCheckDraw, SpotCheckItem, SpotCheckPlan

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]


def _plan() -> SpotCheckPlan:
    for i, region in enumerate(("320000", "330000", "440000")):
        make_lab(f"race{i}", status="named", region=region)
    for region in ("110000", "510000", "610000"):
        Inspector.objects.create(user=make_user("expert"), region_code=region)
    item = SpotCheckItem.objects.create(
        code="race", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    plan = SpotCheckPlan.objects.create(
        year=2026, name_zh="抽查", name_en="Spot check", proportions={"normal": 1}, seed_source="lottery 417"
    )
    plan.items.set([item])
    return plan


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_draws_of_one_plan_at_the_same_instant_record_one_draw():
    plan = _plan()
    offices = [make_user("office") for _ in range(2)]
    barrier = threading.Barrier(len(offices))
    outcomes: list[str] = []

    def attempt(user):
        try:
            barrier.wait()
            services.draw_spot_check(user, SpotCheckPlan.objects.get(pk=plan.pk))
            outcomes.append("drawn")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in offices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and outcomes.count("drawn") == 1, outcomes
    assert any("needs a reason" in o for o in outcomes if o != "drawn"), outcomes
    assert SpotCheckDraw.objects.filter(plan=plan).count() == 1
    draw = SpotCheckDraw.objects.get(plan=plan)
    assert SpotCheck.objects.filter(plan=plan).count() == len(draw.result["checks"]) == 3
    assert SpotCheckPlan.objects.get(pk=plan.pk).status == "drawn"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_redraws_from_the_same_page_at_the_same_instant_record_one_redraw():
    plan = _plan()
    services.draw_spot_check(make_user("office"), plan)
    offices = [make_user("office") for _ in range(2)]
    barrier = threading.Barrier(len(offices))
    outcomes: list[str] = []

    def attempt(user):
        try:
            barrier.wait()
            services.draw_spot_check(user, SpotCheckPlan.objects.get(pk=plan.pk), "检查员回避", after=1)
            outcomes.append("drawn")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in offices]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and outcomes.count("drawn") == 1, outcomes
    assert any("drawn meanwhile" in o for o in outcomes if o != "drawn"), outcomes
    assert list(SpotCheckDraw.objects.filter(plan=plan).values_list("number", "superseded")) == [
        (2, False),
        (1, True),
    ]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_itself_refuses_a_second_draw_with_the_same_number():
    plan = _plan()
    first = services.draw_spot_check(make_user("office"), plan)
    with pytest.raises(IntegrityError), transaction.atomic():
        SpotCheckDraw.objects.create(
            plan=plan,
            number=first.number,
            seed_source=first.seed_source,
            seed=first.seed,
            algorithm=first.algorithm,
            inputs=first.inputs,
            result=first.result,
        )
    assert SpotCheckDraw.objects.filter(plan=plan).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_visit_recorded_twice_at_the_same_instant_gives_one_record_and_no_error():
    from django.utils import timezone

    from qslab.supervision.models import EvaluationVisit
    from qslab.supervision.tests.conftest import INDICATORS

    office, lead = make_user("office"), make_user("expert")
    campaign = services.create_campaign(
        office, code="race-visit", name_zh="评估", name_en="Evaluation", year=2026, indicators=INDICATORS
    )
    for round_ in range(5):
        entry = services.add_to_campaign(
            office, campaign, make_lab(f"race-visit{round_}", status="named"), [lead], lead
        )
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(user, place, entry=entry, barrier=barrier, outcomes=outcomes):
            try:
                barrier.wait()
                services.record_visit(
                    user,
                    entry,
                    visited_on=timezone.localdate(),
                    place=place,
                    experts=[lead],
                    agenda="查看设备台账",
                    summary="管理规范。",
                )
                outcomes.append("recorded")
            except Exception as exc:  # an unexpected error is the failure we report
                outcomes.append(f"error: {type(exc).__name__}: {exc}")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=attempt, args=a) for a in ((office, "主楼"), (lead, "二号楼"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes == ["recorded", "recorded"], f"round {round_}: {outcomes}"
        assert EvaluationVisit.objects.filter(entry=entry).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_result_entered_while_the_results_are_published_is_in_them_or_refused():
    from django.core.exceptions import PermissionDenied
    from django.utils import timezone

    office = make_user("office")
    for round_ in range(3):
        plan = (
            _plan()
            if round_ == 0
            else SpotCheckPlan.objects.create(
                year=2026,
                name_zh="抽查",
                name_en=f"Spot check {round_}",
                proportions={"normal": 1},
                seed_source="x",
            )
        )
        if round_:
            plan.items.set(SpotCheckItem.objects.all())
        services.draw_spot_check(office, plan)
        checks = list(SpotCheck.objects.filter(plan=plan))
        today = timezone.localdate()
        for check in checks:
            services.enter_result(office, check, outcome="no_issues", findings="", inspected_on=today)
        pk, check_pk = plan.pk, checks[0].pk
        calls = {
            "publish": lambda pk=pk: services.publish_spot_check_results(
                office, SpotCheckPlan.objects.get(pk=pk)
            ),
            "enter": lambda c=check_pk, today=today: services.enter_result(
                office,
                SpotCheck.objects.get(pk=c),
                outcome="major",
                findings="No records.",
                inspected_on=today,
            ),
        }
        outcomes = at_once(calls, refusals=(PermissionDenied,))
        assert outcomes["publish"] == "ok", outcomes
        assert outcomes["enter"] == "ok" or outcomes["enter"].startswith("refused"), outcomes
        published = SpotCheckPlan.objects.get(pk=pk).result_document
        in_document = "major problems found" in published.body_en
        entered = SpotCheck.objects.get(pk=check_pk).outcome == "major"
        assert in_document == entered == (outcomes["enter"] == "ok"), (round_, outcomes)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_laboratory_added_while_the_grades_are_confirmed_is_added_before_or_refused():
    """Confirmation closes the entries' deadlines; a laboratory that slipped in after it read the entries
    would sit in a confirmed campaign with a self-evaluation still due."""
    import datetime as dt

    from django.contrib.contenttypes.models import ContentType

    from qslab.core.models import Deadline
    from qslab.supervision.models import EvaluationCampaign, EvaluationEntry
    from qslab.supervision.tests.conftest import INDICATORS

    office, expert = make_user("office"), make_user("expert")
    for round_ in range(3):
        year = dt.date.today().year + 1
        campaign = services.create_campaign(
            office,
            code=f"race{round_}",
            name_zh="评估",
            name_en="Evaluation",
            year=year,
            indicators=INDICATORS,
            self_report_due=dt.date(year, 3, 31),
            visits_from=dt.date(year, 4, 7),
            visits_to=dt.date(year, 5, 29),
        )
        first = services.add_to_campaign(
            office, campaign, make_lab(f"first{round_}", status="named"), [expert]
        )
        services.move_campaign(office, campaign, "open_scoring")
        services.submit_score_sheet(expert, first, {"quality": 80, "openness": 70})
        late_lab = make_lab(f"late{round_}", status="named")
        pk = campaign.pk
        calls = {
            "confirm": lambda pk=pk: services.move_campaign(
                office, EvaluationCampaign.objects.get(pk=pk), "confirm"
            ),
            "add": lambda pk=pk, lab=late_lab: services.add_to_campaign(
                office, EvaluationCampaign.objects.get(pk=pk), lab, [expert]
            ),
        }
        outcomes = at_once(calls, refusals=(ValidationError,))
        # added first: confirmation then finds the new laboratory not yet graded; confirmed first: refused
        assert "ok" in outcomes.values(), outcomes
        assert outcomes["add"].startswith("refused") or outcomes["confirm"].startswith(
            "TransitionRefused: Not yet graded"
        ), outcomes
        entries = EvaluationEntry.objects.filter(campaign_id=pk)
        assert entries.filter(laboratory=late_lab).exists() == (outcomes["add"] == "ok")
        still_due = Deadline.objects.filter(
            content_type=ContentType.objects.get_for_model(EvaluationEntry),
            object_id__in=[str(e.pk) for e in entries],
            done_at__isnull=True,
        )
        assert outcomes["confirm"] != "ok" or not still_due.exists(), (
            round_,
            outcomes,
            list(still_due.values_list("label_en", flat=True)),
        )
