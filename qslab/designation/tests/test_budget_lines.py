"""The construction plan's budget as lines per year, budget line and source of funds (10k CNY, decimals):
totals per year and source and overall, on the application page and in the API; no negative amount, no
year outside the construction period, all lines or none."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from qslab.designation import services
from qslab.designation.models import Application
from qslab.designation.tests.factories import make_application, make_call
from qslab.designation.tests.test_api_panels import _api

pytestmark = pytest.mark.django_db


@pytest.fixture
def draft(users):
    manager = users["lab_manager"]
    notice = dt.date(timezone.localdate().year + 1, 3, 1)
    call = make_call("budget", construction_years=3, notice_starts_on=notice)
    from qslab.core.testing import make_organisation

    manager.organisation = make_organisation(region_code="320000")
    manager.save(update_fields=["organisation"])
    return make_application(call, manager.organisation, owner=manager)


def test_the_applicant_enters_budget_lines_and_reads_the_totals_on_the_page_and_in_the_api(
    users, clients, draft
):
    y = draft.call.notice_starts_on.year
    page = clients["lab_manager"].post(
        f"/designation/applications/{draft.pk}/budget/",
        {
            "lines": f"{y} | equipment | central | 1200.50 | 质谱仪\n"
            f"{y} | equipment | own | 300\n"
            f"{y + 1} | research | central | 450.25\n"
            f"{y + 3} | operations | enterprise | 49.25"
        },
    )
    assert page.status_code == 302, page.content.decode()
    draft.refresh_from_db()
    assert draft.budget == Decimal("2000.00"), "the application's budget is the total of its lines"
    totals = services.budget_totals(draft)
    assert totals.by_year == [(y, Decimal("1500.50")), (y + 1, Decimal("450.25")), (y + 3, Decimal("49.25"))]
    assert [(c, a) for c, _label, a in totals.by_source] == [
        ("central", Decimal("1650.75")),
        ("own", Decimal("300.00")),
        ("enterprise", Decimal("49.25")),
    ]
    shown = clients["lab_manager"].get(draft.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "质谱仪" in shown and "1650.75" in shown and "2000.00" in shown

    body = _api(users["authority"])("get", f"/applications/{draft.pk}/budget")
    assert body.status_code == 404, "a draft is the applicant's alone"
    api = _api(users["lab_manager"])
    body = api("get", f"/applications/{draft.pk}/budget").json()
    assert (body["first_year"], body["last_year"]) == (y, y + 3)
    assert Decimal(body["total"]) == Decimal("2000.00") and len(body["lines"]) == 4
    replaced = api(
        "put",
        f"/applications/{draft.pk}/budget",
        [{"year": y, "category": "facilities", "source": "local", "amount": "99.99"}],
    )
    assert replaced.status_code == 200, replaced.content
    assert Decimal(replaced.json()["total"]) == Decimal("99.99")
    assert Application.objects.get(pk=draft.pk).budget == Decimal("99.99")


def test_negative_amounts_years_outside_the_period_and_unknown_lines_are_refused_all_at_once(users, draft):
    y = draft.call.notice_starts_on.year
    services.set_budget_lines(
        users["lab_manager"], draft, [services.BudgetRow(y, "equipment", "central", Decimal("10"))]
    )
    with pytest.raises(ValidationError) as exc:
        services.set_budget_lines(
            users["lab_manager"],
            draft,
            [
                services.BudgetRow(y, "equipment", "central", Decimal("-1")),
                services.BudgetRow(y + 4, "research", "own", Decimal("5")),
                services.BudgetRow(y - 1, "travel", "lottery", Decimal("5")),
                services.BudgetRow(y + 1, "research", "own", Decimal("0.001")),
            ],
        )
    text = " ".join(exc.value.messages)
    assert "Line 1: the amount must not be negative" in text
    assert f"Line 2: {y + 4} is outside the construction period ({y}–{y + 3})" in text
    assert f"Line 3: {y - 1} is outside" in text
    assert "unknown budget line “travel”" in text and "unknown source of funds “lottery”" in text
    assert "Line 4: the amount has at most 10 digits before and 2 after" in text
    assert [b.amount for b in draft.budget_lines.all()] == [Decimal("10.00")], "nothing half-written"

    api = _api(users["lab_manager"])
    negative = api(
        "put",
        f"/applications/{draft.pk}/budget",
        [{"year": y, "category": "equipment", "source": "central", "amount": -5}],
    )
    assert negative.status_code == 422 and "must not be negative" in negative.content.decode()
    twice = api(
        "put",
        f"/applications/{draft.pk}/budget",
        [{"year": y, "category": "equipment", "source": "central", "amount": 1}] * 2,
    )
    assert twice.status_code == 422 and "already given" in twice.content.decode()
    edited = api("patch", f"/applications/{draft.pk}", {"budget": 5000})
    assert edited.status_code == 422 and "total of its lines" in edited.content.decode()


def test_only_the_applicant_of_a_draft_or_the_office_changes_the_budget(users, draft):
    y = draft.call.notice_starts_on.year
    row = [{"year": y, "category": "equipment", "source": "central", "amount": 1}]
    assert _api(users["office"])("put", f"/applications/{draft.pk}/budget", row).status_code == 200
    Application.objects.filter(pk=draft.pk).update(status="submitted")
    refused = _api(users["lab_manager"])("put", f"/applications/{draft.pk}/budget", row)
    assert refused.status_code == 403


def test_an_amount_with_a_huge_exponent_is_refused_with_a_message_not_a_server_error(users, clients, draft):
    y = draft.call.notice_starts_on.year
    page = clients["lab_manager"].post(
        f"/designation/applications/{draft.pk}/budget/", {"lines": f"{y} | equipment | central | 1e30"}
    )
    assert page.status_code == 200
    assert "Line 1: the amount has at most 10 digits before and 2 after" in page.content.decode()
    api = _api(users["lab_manager"])
    body = api(
        "put",
        f"/applications/{draft.pk}/budget",
        [{"year": y, "category": "equipment", "source": "central", "amount": "1E+30"}],
    )
    assert body.status_code == 422 and "at most 10 digits" in body.content.decode()
    assert not draft.budget_lines.exists()


def test_lines_whose_total_does_not_fit_the_applications_budget_are_refused(users, draft):
    y = draft.call.notice_starts_on.year
    big = Decimal("6000000000.00")  # each line fits (under 10 digits); their sum does not
    with pytest.raises(ValidationError) as exc:
        services.set_budget_lines(
            users["lab_manager"],
            draft,
            [
                services.BudgetRow(y, "equipment", "central", big),
                services.BudgetRow(y, "research", "own", big),
            ],
        )
    assert "The total (12000000000.00) has more than 10 digits" in " ".join(exc.value.messages)
    assert not draft.budget_lines.exists()
