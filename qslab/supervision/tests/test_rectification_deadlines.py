"""The registry's rectification deadline (opened by the labs lifecycle when the order is issued) follows the
supervision order: it carries the order's due date and extension, and it closes when the lab answers, the
order lapses or fails, or the order is closed."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType

from qslab.core.models import Deadline
from qslab.labs.models import Laboratory
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager = users, users["office"], users["lab_manager"]
    e.lab = make_lab("rd", status="named", region="320000")
    scope_to(e.manager, e.lab)
    return e


def lab_deadlines(lab: Laboratory) -> Any:
    return Deadline.objects.filter(
        content_type=ContentType.objects.get_for_model(Laboratory), object_id=str(lab.pk)
    )


def test_the_registry_deadline_carries_the_orders_due_date_and_its_extension(env):
    order = services.order_rectification(env.office, env.lab, grounds="问题", working_days=20)
    deadline = lab_deadlines(env.lab).get(done_at__isnull=True)
    assert deadline.due == order.due_on
    order = services.extend_order(env.office, order, 10, "材料需补充")
    deadline.refresh_from_db()
    assert deadline.due == order.due_on and deadline.done_at is None


def test_a_lapsed_order_closes_the_registry_deadline(env):
    order = services.order_rectification(env.office, env.lab, grounds="问题", working_days=5)
    assert lab_deadlines(env.lab).filter(done_at__isnull=True).count() == 1
    with time_machine.travel(order.due_on + dt.timedelta(days=3)):
        services.move_order(env.office, order, "lapse")
    order.refresh_from_db()
    assert order.status == "failed"
    assert env.lab.__class__.objects.get(pk=env.lab.pk).status == "under_rectification"
    assert lab_deadlines(env.lab).filter(done_at__isnull=True).count() == 0


def test_the_labs_answer_closes_the_registry_deadline_and_a_rejection_leaves_it_closed(env):
    order = services.order_rectification(env.office, env.lab, grounds="问题")
    services.respond_to_order(env.manager, order, "整改方案与证据")
    assert lab_deadlines(env.lab).filter(done_at__isnull=True).count() == 0
    services.move_order(env.office, order, "reject", "证据不足")
    assert lab_deadlines(env.lab).filter(done_at__isnull=True).count() == 0


def test_a_verified_order_closes_the_rectification_and_its_deadline(env):
    order = services.order_rectification(env.office, env.lab, grounds="问题")
    services.respond_to_order(env.manager, order, "整改完成")
    services.move_order(env.office, order, "verify")
    env.lab.refresh_from_db()
    assert env.lab.status == "named"
    assert lab_deadlines(env.lab).filter(done_at__isnull=True).count() == 0
