"""Amending an issued allocation: a new numbered document referencing the original, which is kept and
marked superseded; the amounts add up to the (same or newly declared) total; next year's budgets follow
the amendment; every step is audited."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.models import ChangeRecord
from qslab.funding import services
from qslab.funding.models import AllocationRun, Budget, SubsidyEntry
from qslab.funding.tests.conftest import YEAR, budget_with_lines
from qslab.funding.tests.test_allocation import _reviewed, _run

pytestmark = pytest.mark.django_db
D = Decimal


def _central(budget):
    version = Budget.objects.get(pk=budget.pk).current_version
    return sum((a for (line, src), a in version.amounts().items() if src == "central"), D(0))


@pytest.fixture
def issued(users):
    a, b = _reviewed(users, "a"), _reviewed(users, "b")
    next_a = budget_with_lines(a, users["office"], year=YEAR + 1)
    next_b = budget_with_lines(b, users["office"], year=YEAR + 1)
    run = services.issue_allocation(users["office"], _run(users, "1000.01"))
    assert _central(next_a) == D("500.01") and _central(next_b) == D("500.00")
    return run, a, b, next_a, next_b


def test_an_amendment_after_an_upheld_error_supersedes_the_original_and_next_years_budgets_follow(
    users, issued
):
    run, a, b, next_a, next_b = issued
    office = users["office"]
    # the error upheld: lab b's evaluation grade was recorded wrongly and is in fact "poor"
    services.record_lab_grade(office, b, YEAR - 1, "poor")
    amendment = services.amend_allocation(office, run, "grade of b recorded in error (appeal 3)")
    assert amendment.status == "draft" and amendment.amends == run and amendment.total == run.total
    run.refresh_from_db()
    assert run.status == "issued", "opening an amendment changes nothing yet"
    assert services.allocated_subsidy(b, YEAR + 1) == D("500.00")

    amended = services.issue_allocation(office, amendment)
    run.refresh_from_db()
    assert run.status == "superseded" and run.superseded_by == amended
    assert run.document is not None and run.allocations.get(laboratory=b).amount == D("500.00")
    assert amended.document.number != run.document.number
    assert run.document.number in amended.document.body_zh and "appeal 3" in amended.document.body_en
    amounts = dict(amended.allocations.values_list("laboratory__code", "amount"))
    assert amounts == {"a": D("1000.01"), "b": D("0.00")} and sum(amounts.values()) == run.total
    assert services.allocated_subsidy(a, YEAR + 1) == D("1000.01")
    assert services.allocated_subsidy(b, YEAR + 1) == D("0.00")
    assert _central(next_a) == D("1000.01")
    assert _central(next_b) == D("0"), "the budget of b no longer carries the subsidy taken back"
    assert SubsidyEntry.objects.filter(budget=next_b).count() == 2
    reasons = ChangeRecord.objects.filter(object_id=str(run.pk)).values_list("reason", flat=True)
    assert "grade of b recorded in error (appeal 3)" in list(reasons)
    # feeding again writes nothing
    versions = next_a.versions.count()
    services.feed_subsidy(office, a, YEAR + 1)
    assert next_a.versions.count() == versions


def test_an_amendment_may_declare_a_new_total_and_still_adds_up_exactly(users, issued):
    run = issued[0]
    amendment = services.amend_allocation(users["office"], run, "supplementary budget", D("1500.03"))
    assert sum(a.amount for a in amendment.allocations.all()) == D("1500.03")
    services.issue_allocation(users["office"], amendment)
    assert services.allocated_subsidy(issued[1], YEAR + 1) + services.allocated_subsidy(
        issued[2], YEAR + 1
    ) == D("1500.03")
    assert _central(issued[3]) + _central(issued[4]) == D("1500.03")


def test_an_amendment_needs_a_reason_an_issued_original_and_the_office(users, issued):
    run = issued[0]
    with pytest.raises(ValidationError) as no_reason:
        services.amend_allocation(users["office"], run, "  ")
    assert "reason" in no_reason.value.message_dict
    with pytest.raises(PermissionDenied):
        services.amend_allocation(users["committee"], run, "why not")
    draft = services.create_allocation_run(
        users["office"], {"year": YEAR + 1, "title_zh": "补", "title_en": "S", "total": D("1.00")}
    )
    with pytest.raises(ValidationError):
        services.amend_allocation(users["office"], draft, "a draft is simply recomputed")
    with pytest.raises(ValidationError):
        services.amend_allocation(users["office"], run, "a negative total", D("-5"))


def test_of_two_amendments_opened_on_one_allocation_only_the_first_issued_takes_effect(users, issued):
    run = issued[0]
    first = services.amend_allocation(users["office"], run, "appeal 1")
    second = services.amend_allocation(users["office"], run, "appeal 2")
    services.issue_allocation(users["office"], first)
    with pytest.raises(ValidationError) as refused:
        services.issue_allocation(users["office"], second)
    assert "no longer in force" in " ".join(refused.value.messages)
    assert AllocationRun.objects.filter(year=YEAR, status="issued").get() == first
    with pytest.raises(ValidationError):
        services.amend_allocation(users["office"], run, "the superseded one cannot be amended")
    again = services.amend_allocation(users["office"], first, "an amendment can itself be amended")
    services.issue_allocation(users["office"], again)
    assert list(AllocationRun.objects.filter(year=YEAR).values_list("status", flat=True).order_by("pk")) == [
        "superseded",
        "superseded",
        "draft",
        "issued",
    ]


def test_the_office_opens_an_amendment_from_the_allocation_page(users, issued):
    from qslab.core.testing import verified_client

    run = issued[0]
    client = verified_client(users["office"])
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Open an amendment" in page
    response = client.post(f"/funding/allocations/{run.pk}/amend/", {"reason": "appeal upheld", "total": ""})
    amendment = AllocationRun.objects.get(amends=run)
    assert response.status_code == 302 and response["Location"] == amendment.get_absolute_url()
    draft_page = client.get(amendment.get_absolute_url()).content.decode()
    assert "Issue the allocation document" in draft_page and "appeal upheld" in draft_page
    amendment = services.issue_allocation(users["office"], amendment)
    old_page = client.get(run.get_absolute_url()).content.decode()
    assert "Superseded by the amendment" in old_page and amendment.document.number in old_page
    assert "Open an amendment" not in old_page
