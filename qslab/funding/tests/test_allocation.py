"""Grade-linked subsidy allocation: eligibility, exact sums by largest remainder, reproducibility."""

import random
from decimal import Decimal

import pytest

from qslab.funding import services
from qslab.funding.models import AllocationRun
from qslab.funding.services import largest_remainder
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab

D = Decimal


@pytest.mark.parametrize("total", ["100.00", "1000000.01", "0.05", "999999.99", "7.00"])
def test_largest_remainder_adds_up_exactly_to_the_total(total):
    weights = [("a", D(3)), ("b", D(2)), ("c", D(2)), ("d", D(1)), ("e", D(1)), ("f", D(1)), ("g", D("0.5"))]
    amounts = largest_remainder(D(total), weights)
    assert sum(amounts.values()) == D(total)
    assert all(v >= 0 for v in amounts.values())


def test_largest_remainder_does_not_depend_on_input_order():
    weights = [(f"lab{i:02d}", D(random.Random(i).choice([1, 2, 3]))) for i in range(30)]
    first = largest_remainder(D("1000000.00"), weights)
    shuffled = list(weights)
    random.Random(7).shuffle(shuffled)
    assert largest_remainder(D("1000000.00"), shuffled) == first


def test_largest_remainder_gives_the_odd_fen_to_the_largest_remainder():
    assert largest_remainder(D("10.00"), [("a", D(1)), ("b", D(2))]) == {"a": D("3.33"), "b": D("6.67")}


def test_a_zero_weight_gets_nothing():
    assert largest_remainder(D("10.00"), [("a", D(0)), ("b", D(1))]) == {"a": D("0.00"), "b": D("10.00")}


def _reviewed(users, code, *, status="named", lab_grade="good", spend="1000000", region="320000", rect=False):
    office = users["office"]
    lab = make_lab(code, status=status, region=region)
    if lab_grade:
        services.record_lab_grade(office, lab, YEAR - 1, lab_grade, open_rectification=rect)
    budget = budget_with_lines(lab, office, status="approved")
    if spend != "0":
        services.record_expenditure(
            office,
            budget,
            {"date": f"{YEAR}-06-01", "line": "equipment", "source": "central", "amount": spend},
        )
    ev = services.open_evaluation(office, budget)
    services.record_actuals(office, ev, {i.pk: i.target for i in budget.indicators.all()}, "")
    services.move_evaluation(office, ev, "submit")
    services.move_evaluation(office, ev, "accept")
    return lab


@pytest.fixture
def field(users):
    labs = {
        "a": _reviewed(users, "a"),
        "b": _reviewed(users, "b", spend="0"),  # nothing spent: 90, still excellent
        "c": _reviewed(users, "c", status="under_rectification"),
        "d": _reviewed(users, "d", lab_grade=""),
        "e": _reviewed(users, "e", lab_grade="poor"),
        "f": _reviewed(users, "f", rect=True),
    }
    return labs


def _run(users, total="1000000.00"):
    return services.create_allocation_run(
        users["office"],
        {
            "year": YEAR,
            "title_zh": "补助",
            "title_en": "Subsidy",
            "total": D(total),
            "grade_weights": {"excellent": "3", "good": "2", "fair": "1", "poor": "0"},
        },
    )


@pytest.mark.django_db
def test_eligibility_excludes_labs_with_reasons_and_the_amounts_add_up(users, field):
    run = services.compute_allocation(users["office"], _run(users, "1000000.01"))
    rows = {a.laboratory.code: a for a in run.allocations.select_related("laboratory")}
    assert {c for c, a in rows.items() if a.eligible} == {"a", "b"}
    assert "open rectification" in rows["c"].reason and "not named" in rows["c"].reason
    assert rows["d"].reason == "no evaluation grade"
    assert "evaluation grade poor" in rows["e"].reason
    assert "open rectification" in rows["f"].reason
    assert sum(a.amount for a in rows.values()) == D("1000000.01")
    assert all(a.amount == 0 for c, a in rows.items() if c not in ("a", "b"))


@pytest.mark.django_db
def test_an_allocation_is_reproducible(users, field):
    run = services.compute_allocation(users["office"], _run(users))
    first = sorted(run.allocations.values_list("laboratory__code", "amount"))
    digest = run.inputs_sha256
    run = services.compute_allocation(users["office"], run)
    assert sorted(run.allocations.values_list("laboratory__code", "amount")) == first
    assert run.inputs_sha256 == digest
    again = services.compute_allocation(users["office"], _run(users))
    assert sorted(again.allocations.values_list("laboratory__code", "amount")) == first


@pytest.mark.django_db
def test_only_the_office_allocates(users, field):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _run({"office": users["committee"]})


@pytest.mark.django_db
def test_issuing_an_allocation_numbers_a_document_and_freezes_the_list(users):
    _reviewed(users, "a")
    run = services.issue_allocation(users["office"], _run(users, "500000.00"))
    assert run.status == AllocationRun.Status.ISSUED
    assert run.document.number.startswith("国质标实资〔")
    assert run.document.pdf_zh.size > 0 and run.document.pdf_en.size > 0
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.compute_allocation(users["office"], run)


@pytest.mark.django_db
def test_an_issued_allocation_shows_on_the_next_years_budget_against_its_central_subsidy(users):
    from qslab.core.testing import verified_client

    lab = _reviewed(users, "a")
    assert services.allocated_subsidy(lab, YEAR + 1) is None
    draft = services.compute_allocation(users["office"], _run(users, "1234.56"))
    assert services.allocated_subsidy(lab, YEAR + 1) is None, "a draft allocation feeds nothing"
    services.issue_allocation(users["office"], draft)
    assert services.allocated_subsidy(lab, YEAR + 1) == D("1234.56")
    next_year = budget_with_lines(lab, users["office"], year=YEAR + 1)
    page = verified_client(users["office"]).get(next_year.get_absolute_url()).content.decode()
    assert "Subsidy allocated on the 2025 evaluation: 1234.56 yuan" in page
    assert "central subsidy in this budget: 600000.00 yuan" in page and "They differ." in page
    lines = verified_client(users["office"]).get(f"/funding/{next_year.pk}/lines/").content.decode()
    assert "It is written into this budget on the central subsidy source" in lines


@pytest.mark.django_db
def test_no_new_allocation_run_for_a_year_whose_allocation_is_issued_but_the_next_year_is_open(users):
    from django.core.exceptions import ValidationError

    from qslab.core.testing import verified_client

    _reviewed(users, "a")
    issued = services.issue_allocation(users["office"], _run(users, "500.00"))
    with pytest.raises(ValidationError) as refused:
        _run(users, "100.00")
    assert "would pay the subsidy twice" in " ".join(refused.value.messages)
    assert AllocationRun.objects.filter(year=YEAR).count() == 1
    page = verified_client(users["office"]).post(
        "/funding/allocations/new/",
        {
            "year": YEAR,
            "title_zh": "补助二",
            "title_en": "Second subsidy",
            "total": "100.00",
            "weight_excellent": "3",
            "weight_good": "2",
            "weight_fair": "1",
            "weight_poor": "0",
            "require_named": "on",
            "min_lab_grade": "fair",
            "exclude_open_rectification": "on",
            "min_self_grade": "fair",
        },
    )
    assert page.status_code == 200 and issued.document.number in page.content.decode()
    assert AllocationRun.objects.filter(year=YEAR).count() == 1
    other_year = services.create_allocation_run(
        users["office"],
        {"year": YEAR + 1, "title_zh": "补助", "title_en": "Subsidy", "total": D("1.00")},
    )
    assert other_year.status == "draft"


@pytest.mark.django_db
def test_the_database_refuses_a_second_issued_allocation_of_a_year(users):
    from django.db import IntegrityError, transaction

    _reviewed(users, "a")
    services.issue_allocation(users["office"], _run(users, "500.00"))
    AllocationRun.objects.filter(year=YEAR).update(status="draft")
    second = _run(users, "100.00")
    AllocationRun.objects.filter(pk__lt=second.pk, year=YEAR).update(status="issued")
    with pytest.raises(IntegrityError), transaction.atomic():
        AllocationRun.objects.filter(pk=second.pk).update(status="issued")


@pytest.mark.django_db
def test_funding_held_back_on_a_monitoring_flag_bars_the_subsidy_until_the_office_releases_it(users):
    from qslab.funding.models import Budget, MonitoringFlag

    held, other = _reviewed(users, "a"), _reviewed(users, "b")
    flag = MonitoringFlag.objects.create(
        budget=Budget.objects.get(laboratory=held, year=YEAR),
        month=7,
        kind="execution",
        subject="whole budget",
        expected=D("58.33"),
        actual=D("10.00"),
    )
    services.hold_funding(users["office"], flag, True, "no corrective action")
    run = services.compute_allocation(users["office"], _run(users, "1000.00"))
    rows = {a.laboratory: a for a in run.allocations.all()}
    assert not rows[held].eligible and rows[held].amount == 0
    assert "held back" in rows[held].reason
    assert rows[other].amount == D("1000.00")
    services.hold_funding(users["office"], flag, False, "corrective action taken")
    run = services.compute_allocation(users["office"], run)
    rows = {a.laboratory: a for a in run.allocations.all()}
    assert rows[held].eligible and rows[held].amount == rows[other].amount == D("500.00")
