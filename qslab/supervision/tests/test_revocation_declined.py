"""When the committee decides not to revoke, the laboratory leaves rectification: it returns to named
through the labs lifecycle's audited ``decline_revocation`` step, with the decision as the reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.contenttypes.models import ContentType

from qslab.core.models import ChangeRecord
from qslab.core.services import apply_transition
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import Laboratory
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision import services


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users, e.office, e.manager, e.committee = (
        users,
        users["office"],
        users["lab_manager"],
        users["committee"],
    )
    e.lab = make_lab("kp", status="named", region="320000")
    scope_to(e.manager, e.lab)
    return e


def _proposed(env: Any) -> Any:
    order = services.order_rectification(env.office, env.lab, grounds="问题", working_days=5)
    with time_machine.travel(order.due_on + dt.timedelta(days=3)):
        services.move_order(env.office, order, "lapse")
    services.move_order(env.office, order, "propose_revocation", "逾期未整改")
    return order


def _lab_transitions(lab: Laboratory) -> Any:
    return ChangeRecord.objects.filter(
        content_type=ContentType.objects.get_for_model(Laboratory),
        object_id=str(lab.pk),
        action=ChangeRecord.Action.TRANSITION,
    )


def test_a_committee_decision_not_to_revoke_returns_the_lab_to_named_with_the_decision_as_reason(env):
    order = _proposed(env)
    assert Laboratory.objects.get(pk=env.lab.pk).status == "under_rectification"
    services.move_order(env.committee, order, "decide_keep", "整改虽逾期，已基本完成")
    order.refresh_from_db()
    assert order.status == "kept"
    lab = Laboratory.objects.get(pk=env.lab.pk)
    assert lab.status == "named"
    record = _lab_transitions(lab).get(transition="decline_revocation")
    assert (record.from_state, record.to_state, record.user) == (
        "under_rectification",
        "named",
        env.committee,
    )
    assert "整改虽逾期，已基本完成" in record.reason
    # the lab is supervised as a named lab again: a new order may be issued
    services.order_rectification(env.office, lab, grounds="新问题")


def test_the_committee_decides_through_the_api_and_the_lab_is_named_again(env):
    from qslab.accounts.models import ApiToken
    from qslab.core.testing import verified_client

    order = _proposed(env)
    _t, token = ApiToken.issue(env.committee, "t")
    r = verified_client(None).post(
        f"/api/supervision/orders/{order.pk}/transitions/decide_keep",
        {"reason": "委员会表决不予撤销"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "kept"
    assert Laboratory.objects.get(pk=env.lab.pk).status == "named"


def test_a_suspended_lab_stays_suspended_and_can_then_be_restored(env):
    order = _proposed(env)
    services.suspend_laboratory(env.office, env.lab, "暂停")
    services.move_order(env.committee, order, "decide_keep", "不予撤销")
    lab = Laboratory.objects.get(pk=env.lab.pk)
    assert lab.status == "suspended"
    assert services.restore_laboratory(env.office, lab, "恢复").status == "named"


def test_the_lifecycle_step_needs_a_kept_order_and_the_committee(env):
    order = _proposed(env)
    lab = Laboratory.objects.get(pk=env.lab.pk)
    with pytest.raises(TransitionRefused) as refused:  # the order is still heading for revocation
        apply_transition(lab, "decline_revocation", env.committee, reason="x")
    assert refused.value.code == TransitionRefused.GUARD
    type(order).objects.filter(pk=order.pk).update(status="kept")
    with pytest.raises(TransitionRefused) as refused:
        apply_transition(lab, "decline_revocation", env.office, reason="x")
    assert refused.value.code == TransitionRefused.FORBIDDEN
    apply_transition(lab, "decline_revocation", env.committee, reason="委员会决定")
    assert Laboratory.objects.get(pk=lab.pk).status == "named"
