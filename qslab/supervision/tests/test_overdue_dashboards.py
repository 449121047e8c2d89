"""Travel in time: overdue supervision items reach the right person's dashboard on the right working day,
with China's 2026 Mid-Autumn and National Day holidays (and the adjusted working days) counted."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from qslab.core.calendar import seed_china_calendar
from qslab.core.dashboard import queue_for
from qslab.core.reminders import send_reminders
from qslab.core.testing import make_user
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services
from qslab.supervision.models import Inspector, SpotCheckItem, SpotCheckPlan
from qslab.supervision.tests.conftest import SECTIONS

SHANGHAI = ZoneInfo("Asia/Shanghai")


def on(day: dt.date) -> Any:
    """Travel to 10:00 Beijing time on ``day`` (time stands still)."""
    return time_machine.travel(dt.datetime(day.year, day.month, day.day, 10, tzinfo=SHANGHAI), tick=False)


def items_for(user: Any, obj: Any, kind: str = "") -> list[Any]:
    """The user's dashboard items about ``obj`` (``kind``: "deadline", or "supervision" for escalations)."""
    return [i for i in queue_for(user) if i.url == obj.get_absolute_url() and (not kind or i.kind == kind)]


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    seed_china_calendar([2026])
    e = Env()
    e.users, e.office, e.manager = users, users["office"], users["lab_manager"]
    e.lab = make_lab("tt", status="named", region="320000")
    scope_to(e.manager, e.lab)
    return e


def test_a_rectification_deadline_skips_the_holidays_and_lapses_on_the_right_day(env):
    with on(dt.date(2026, 9, 23)):  # Wednesday before Mid-Autumn (25 Sep) and National Day (1-7 Oct)
        order = services.order_rectification(env.office, env.lab, grounds="重大问题", working_days=5)
    # 24 Sep, 28, 29, 30 Sep, 8 Oct: five working days (25 Sep and 1-7 Oct are holidays)
    assert order.due_on == dt.date(2026, 10, 8)

    with on(dt.date(2026, 10, 5)):  # a Monday, but a holiday: a weekday count would call it overdue
        assert [i.overdue for i in items_for(env.manager, order)] == [False]
        assert not items_for(env.office, order, "supervision")
        assert not any(i.overdue for i in items_for(env.office, order)), "the office oversees, nothing late"

    with on(dt.date(2026, 10, 8)):  # the due day itself
        assert [i.overdue for i in items_for(env.manager, order)] == [False]
        assert not items_for(env.office, order, "supervision")
        with pytest.raises(Exception, match="not passed"):
            services.move_order(env.office, order, "lapse")

    with on(dt.date(2026, 10, 9)):  # the day after: overdue for the lab, a lapse to record for the office
        assert [i.overdue for i in items_for(env.manager, order)] == [True]
        office_items = items_for(env.office, order, "supervision")
        assert len(office_items) == 1 and office_items[0].overdue, "the office is asked to record the lapse"
        assert not items_for(env.users["committee"], order)
        assert send_reminders()["overdue"] >= 1
        services.move_order(env.office, order, "lapse")
        assert not items_for(env.office, order) and not items_for(env.manager, order)


def test_an_overdue_annual_report_escalates_to_the_office_the_day_after_it_is_due(env):
    with on(dt.date(2026, 3, 2)):
        template = services.create_template(
            env.office,
            year=2025,
            sections=SECTIONS,
            opens_on=dt.date(2026, 3, 2),
            due_on=dt.date(2026, 3, 31),
        )
        services.open_reporting(env.office, template)
    report = env.lab.annual_reports.get()

    with on(dt.date(2026, 3, 31)):
        assert [i.overdue for i in items_for(env.manager, report)] == [False]
        assert not items_for(env.office, report, "supervision")

    with on(dt.date(2026, 4, 1)):
        assert [i.overdue for i in items_for(env.manager, report)] == [True]
        escalated = items_for(env.office, report, "supervision")
        assert len(escalated) == 1 and escalated[0].overdue
        assert not items_for(env.users["expert"], report)
        assert services.risk_class(env.lab) == "high", "an overdue report raises the lab's risk class"


def test_spot_check_results_are_due_for_publication_twenty_working_days_after_the_inspection(env):
    expert = env.users["expert"]
    Inspector.objects.create(user=expert, region_code="110000")
    second = Inspector.objects.create(user=make_user("expert"), region_code="440000")
    item = SpotCheckItem.objects.create(
        code="ops", name_zh="运行", name_en="Operation", legal_basis="办法", content="运行", method="现场"
    )
    with on(dt.date(2026, 9, 1)):
        plan = SpotCheckPlan.objects.create(
            year=2026, name_zh="抽查", name_en="Check", proportions={"normal": 1, "high": 1}, seed_source="x"
        )
        plan.items.set([item])
        services.draw_spot_check(env.office, plan)
    check = plan.checks.get(laboratory=env.lab)
    assert set(check.inspectors.all()) == {expert, second.user}

    with on(dt.date(2026, 9, 10)):
        check = services.enter_result(
            expert, check, outcome="minor", findings="记录不全", inspected_on=dt.date(2026, 9, 10)
        )
    # 20 working days, counting Sunday 20 Sep and Saturday 10 Oct (adjusted working days) and skipping
    # 25 Sep and 1-7 Oct
    assert check.publish_by == dt.date(2026, 10, 14)

    with on(dt.date(2026, 10, 14)):
        assert [i.overdue for i in items_for(env.office, check, "deadline")] == [False]
    with on(dt.date(2026, 10, 15)):
        assert [i.overdue for i in items_for(env.office, check, "deadline")] == [True]
        assert not items_for(expert, check), "publication is the office's duty, not the inspector's"


def test_an_overdue_corrective_action_shows_on_the_labs_dashboard_and_in_the_overview(env):
    Inspector.objects.create(user=env.users["expert"])
    with on(dt.date(2026, 9, 23)):
        inspection = services.plan_inspection(
            env.office,
            env.lab,
            kind="for_cause",
            cause="投诉",
            planned_on=dt.date(2026, 9, 23),
            inspectors=[env.users["expert"]],
        )
        finding = services.record_finding(env.users["expert"], inspection, severity="minor", description="x")
        services.record_inspection(
            env.users["expert"], inspection, conducted_on=dt.date(2026, 9, 23), summary="s"
        )
        action = services.request_correction(env.office, finding, text="整改", working_days=5)
    assert action.due_on == dt.date(2026, 10, 8)
    with on(dt.date(2026, 10, 8)):
        assert [i.overdue for i in items_for(env.manager, action)] == [False]
        assert not items_for(env.office, action, "supervision")
        assert services.overview()[0].overdue_actions == 0
    with on(dt.date(2026, 10, 9)):
        assert [i.overdue for i in items_for(env.manager, action)] == [True]
        assert [i.overdue for i in items_for(env.office, action, "supervision")] == [True]
        row = services.overview(attention=True)[0]
        assert row.lab == env.lab and row.overdue_actions == 1
