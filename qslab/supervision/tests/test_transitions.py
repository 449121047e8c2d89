"""Every transition of every supervision workflow: a holder of the right role takes it and it is audited;
a user without the role is refused; taking it from a state it does not start from is refused."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from qslab.accounts.roles import Role
from qslab.core.models import ChangeRecord
from qslab.core.services import apply_transition
from qslab.core.workflow import TransitionRefused
from qslab.labs.tests.conftest import make_lab, scope_to
from qslab.supervision.models import (
    AnnualReport,
    CorrectiveAction,
    EvaluationCampaign,
    Finding,
    Inspection,
    MajorChange,
    RectificationOrder,
    ReportTemplate,
    SpotCheckPlan,
)

_n = itertools.count(1)


def _yesterday() -> dt.date:
    return timezone.localdate() - dt.timedelta(days=1)


def _report(env: Any) -> AnnualReport:
    tpl = ReportTemplate.objects.create(
        year=2000 + next(_n), sections=[], opens_on=_yesterday(), due_on=timezone.localdate()
    )
    return AnnualReport.objects.create(template=tpl, laboratory=env.lab, due_on=tpl.due_on)


def _plan(env: Any) -> SpotCheckPlan:
    return SpotCheckPlan.objects.create(year=2026, name_zh="抽查", name_en="Check", seed_source="x")


def _campaign(env: Any) -> EvaluationCampaign:
    return EvaluationCampaign.objects.create(code=f"c{next(_n)}", name_zh="评估", name_en="Eval", year=2026)


def _order(env: Any) -> RectificationOrder:
    # due yesterday, with a response: the guards of "lapse" and "respond" are both satisfied
    return RectificationOrder.objects.create(
        laboratory=env.lab, grounds="问题", due_on=_yesterday(), response="整改方案"
    )


def _change(env: Any) -> MajorChange:
    return MajorChange.objects.create(
        laboratory=env.lab, kind="direction", new_value="新方向", reason="调整", current_value="旧"
    )


def _inspection(env: Any) -> Inspection:
    inspection = Inspection.objects.create(
        laboratory=env.lab, kind="for_cause", cause="投诉", planned_on=_yesterday()
    )
    inspection.inspectors.set([env.users["expert"]])
    return inspection


def _action(env: Any) -> CorrectiveAction:
    finding = Finding.objects.create(inspection=_inspection(env), severity="minor", description="记录不全")
    return CorrectiveAction.objects.create(
        finding=finding, request="补全记录", due_on=_yesterday(), response="已补全"
    )


FACTORIES = {
    AnnualReport: _report,
    SpotCheckPlan: _plan,
    EvaluationCampaign: _campaign,
    RectificationOrder: _order,
    MajorChange: _change,
    Inspection: _inspection,
    CorrectiveAction: _action,
}

ROLE_USER = {
    Role.OFFICE: "office",
    Role.COMMITTEE: "committee",
    Role.LAB_MANAGER: "lab_manager",
    Role.EXPERT: "expert",
}

CASES = [
    pytest.param(model, t, id=f"{model.__name__}.{t.name}")
    for model in FACTORIES
    for t in model.workflow.transitions
]


@pytest.fixture
def env(users: dict[str, Any]) -> Any:
    class Env:
        pass

    e = Env()
    e.users = users
    e.lab = make_lab("tlab", status="named")
    scope_to(users["lab_manager"], e.lab)
    return e


def _at(obj: Any, state: str) -> Any:
    type(obj).objects.filter(pk=obj.pk).update(**{obj.workflow.state_field: state})
    obj.refresh_from_db()
    return obj


def _audited(obj: Any, name: str) -> bool:
    ct = ContentType.objects.get_for_model(obj)
    return ChangeRecord.objects.filter(
        content_type=ct, object_id=str(obj.pk), action=ChangeRecord.Action.TRANSITION, transition=name
    ).exists()


@pytest.mark.parametrize(("model", "transition"), CASES)
def test_a_holder_of_the_role_takes_the_transition_and_it_is_audited(env, model, transition):
    for role in transition.roles:
        obj = _at(FACTORIES[model](env), transition.source[0])
        user = env.users[ROLE_USER[role]]
        apply_transition(obj, transition.name, user, reason="reason given")
        obj.refresh_from_db()
        assert getattr(obj, obj.workflow.state_field) == transition.target
        assert _audited(obj, transition.name), f"{transition.name} by {role} left no audit record"


@pytest.mark.parametrize(("model", "transition"), CASES)
def test_a_user_without_the_role_is_refused_and_nothing_changes(env, model, transition):
    obj = _at(FACTORIES[model](env), transition.source[0])
    outsiders = [u for r, u in env.users.items() if r not in {ROLE_USER[x] for x in transition.roles}]
    for user in outsiders:
        with pytest.raises(TransitionRefused) as exc:
            apply_transition(obj, transition.name, user, reason="reason given")
        assert exc.value.code == TransitionRefused.FORBIDDEN, user.username
    obj.refresh_from_db()
    assert getattr(obj, obj.workflow.state_field) == transition.source[0]
    assert not _audited(obj, transition.name)


@pytest.mark.parametrize(("model", "transition"), CASES)
def test_the_transition_is_refused_from_a_state_it_does_not_start_from(env, model, transition):
    wrong = next(s.value for s in model.workflow.states if s.value not in transition.source)
    obj = _at(FACTORIES[model](env), wrong)
    user = env.users[ROLE_USER[transition.roles[0]]]
    with pytest.raises(TransitionRefused) as exc:
        apply_transition(obj, transition.name, user, reason="reason given")
    assert exc.value.code == TransitionRefused.WRONG_STATE
    obj.refresh_from_db()
    assert getattr(obj, obj.workflow.state_field) == wrong
    assert not _audited(obj, transition.name)


def test_a_lab_manager_of_another_laboratory_may_not_take_the_labs_transitions(env):
    from qslab.core.testing import make_user

    stranger = make_user("lab_manager", scope=make_lab("elsewhere", status="named"))
    for model in (AnnualReport, RectificationOrder, MajorChange, CorrectiveAction):
        for t in model.workflow.transitions:
            if Role.LAB_MANAGER not in t.roles:
                continue
            obj = _at(FACTORIES[model](env), t.source[0])
            with pytest.raises(TransitionRefused) as exc:
                apply_transition(obj, t.name, stranger)
            assert exc.value.code == TransitionRefused.FORBIDDEN


def test_transitions_that_need_a_reason_refuse_without_one(env):
    for model in FACTORIES:
        for t in model.workflow.transitions:
            if not t.requires_reason:
                continue
            obj = _at(FACTORIES[model](env), t.source[0])
            with pytest.raises(TransitionRefused) as exc:
                apply_transition(obj, t.name, env.users[ROLE_USER[t.roles[0]]], reason="  ")
            assert exc.value.code == TransitionRefused.REASON_REQUIRED, f"{model.__name__}.{t.name}"
