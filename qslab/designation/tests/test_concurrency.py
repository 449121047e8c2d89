"""Committee votes under parallel requests, on PostgreSQL: threads with their own connections, released
at the same instant by a barrier. No member has two votes, no vote is lost, and a vote racing the
office's decision is either counted in it or refused, never left behind uncounted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from qslab.core.testing import make_organisation, make_user
from qslab.designation import services
from qslab.designation.models import Application, Decision, Vote
from qslab.designation.tests.factories import make_application, make_call, on_agenda, seat

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: threads and row locks"),
]


def _reviewed(code: str, quorum: int = 1) -> Application:
    app = make_application(
        make_call(code, quorum=quorum), make_organisation(region_code="320000"), status="reviewed"
    )
    on_agenda(app)
    return app


def _members(n: int) -> list[Any]:
    members = [make_user("committee") for _ in range(n)]
    for m in members:
        seat(m)
    return members


def _at_once(calls: list[Callable[[], Any]]) -> list[str]:
    """Run every call in its own thread (own connection), all released together; what each gave."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = [""] * len(calls)

    def run(i: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait()
            fn()
            outcomes[i] = "ok"
        except ValidationError as exc:
            outcomes[i] = " ".join(exc.messages)
        except Exception as exc:  # an unexpected error is the failure we report
            outcomes[i] = f"error: {type(exc).__name__}: {exc}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_one_member_voting_from_eight_requests_at_once_has_one_vote_and_no_error():
    app = _reviewed("race-same")
    (member,) = _members(1)
    choices = ["approve", "reject"] * 4
    outcomes = _at_once([lambda c=c: services.cast_vote(member, app, c) for c in choices])
    assert outcomes == ["ok"] * 8, outcomes
    votes = list(Vote.objects.filter(application=app, member=member))
    assert len(votes) == 1 and votes[0].choice in ("approve", "reject")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twelve_members_voting_at_the_same_instant_are_all_counted():
    app = _reviewed("race-many", quorum=12)
    members = _members(12)
    outcomes = _at_once([lambda m=m: services.cast_vote(m, app, "approve") for m in members])
    assert outcomes == ["ok"] * 12, outcomes
    assert Vote.objects.filter(application=app).count() == 12
    office = make_user("office")
    decision = services.record_decision(office, Application.objects.get(pk=app.pk), "表决")
    assert (decision.outcome, decision.approve) == ("approve", 12)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_vote_racing_the_decision_is_counted_in_it_or_refused():
    office = make_user("office")
    for round_ in range(6):
        app = _reviewed(f"race-decide-{round_}", quorum=1)
        first, *late = _members(4)
        services.cast_vote(first, app, "approve")
        calls = [lambda a=app: services.record_decision(office, Application.objects.get(pk=a.pk), "表决")]
        calls += [lambda m=m, a=app: services.cast_vote(m, a, "reject") for m in late]
        outcomes = _at_once(calls)
        assert not [o for o in outcomes if o.startswith("error")], outcomes
        assert outcomes[0] == "ok", "the decision is recorded"
        decision = Decision.objects.get(application=app)
        counted = decision.approve + decision.reject + decision.abstain + decision.recused
        assert counted == Vote.objects.filter(application=app).count(), (
            f"round {round_}: {Vote.objects.filter(application=app).count()} votes, {counted} counted"
        )
        refused = [o for o in outcomes[1:] if o != "ok"]
        assert all("only on reviewed applications" in o for o in refused), refused


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_decisions_recorded_at_once_give_one_decision():
    app = _reviewed("race-twice")
    (member,) = _members(1)
    services.cast_vote(member, app, "approve")
    offices = [make_user("office"), make_user("office")]
    outcomes = _at_once(
        [lambda o=o: services.record_decision(o, Application.objects.get(pk=app.pk), "表决") for o in offices]
    )
    assert sorted(outcomes) == sorted(["ok", "Only a reviewed application goes before the committee."]), (
        outcomes
    )
    assert Decision.objects.filter(application=app).count() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_budgets_replaced_from_several_requests_at_once_leave_one_whole_budget_and_no_error():
    import datetime as dt
    from decimal import Decimal

    from django.utils import timezone

    notice = dt.date(timezone.localdate().year + 1, 3, 1)
    call = make_call("race-budget", construction_years=3, notice_starts_on=notice)
    office = make_user("office")
    app = make_application(call, make_organisation(region_code="320000"))
    y = notice.year
    budgets = [
        [
            services.BudgetRow(y, "equipment", "central", Decimal(n)),
            services.BudgetRow(y + 1, "research", "own", Decimal(n)),
        ]
        for n in range(1, 7)
    ]
    outcomes = _at_once(
        [
            lambda rows=rows: services.set_budget_lines(office, Application.objects.get(pk=app.pk), rows)
            for rows in budgets
        ]
    )
    assert outcomes == ["ok"] * 6, outcomes
    app.refresh_from_db()
    amounts = sorted(app.budget_lines.values_list("amount", flat=True))
    assert len(amounts) == 2 and amounts[0] == amounts[1], "the lines of one request, not a mix"
    assert app.budget == amounts[0] * 2
