"""The subsidy issued to a laboratory is written into its next year's budget as the central-subsidy
source: a new version of a draft, an adjustment (with the reason) of an approved budget, the first
version of a budget opened later; all versions kept, every step audited, and never twice."""

from decimal import Decimal

import pytest

from qslab.core.models import ChangeRecord, Notification
from qslab.funding import services
from qslab.funding.models import Budget, SubsidyEntry
from qslab.funding.tests.conftest import YEAR, budget_with_lines, manager_of
from qslab.funding.tests.test_allocation import _reviewed, _run

pytestmark = pytest.mark.django_db
D = Decimal


def central(version):
    return {line: a for (line, source), a in version.amounts().items() if source == "central"}


def others(version):
    return {k: a for k, a in version.amounts().items() if k[1] != "central"}


def test_issuing_writes_the_subsidy_into_a_draft_next_year_budget_in_proportion(users):
    lab = _reviewed(users, "a")
    budget = budget_with_lines(lab, users["office"], year=YEAR + 1)  # equipment/central 600000
    services.save_budget_version(
        users["office"],
        budget,
        {**budget.current_version.amounts(), ("travel", "central"): D("300000.00")},
    )
    before = budget.current_version
    services.issue_allocation(users["office"], _run(users, "1000.01"))
    budget.refresh_from_db()
    after = budget.current_version
    assert after.number == before.number + 1 and budget.status == "draft"
    assert central(after) == {"equipment": D("666.67"), "travel": D("333.34")}
    assert sum(central(after).values()) == D("1000.01")
    assert others(after) == others(before), "the other sources are left as they were"
    assert central(before) == {"equipment": D("600000.00"), "travel": D("300000.00")}, "versions are kept"
    assert "central subsidy of 1000.01 yuan" in after.reason and "国质标实资〔" in after.reason
    entry = SubsidyEntry.objects.get()
    assert (entry.budget, entry.version, entry.amount, entry.as_adjustment) == (
        budget,
        after,
        D("1000.01"),
        False,
    )


def test_feeding_again_adds_nothing(users):
    lab = _reviewed(users, "a")
    budget = budget_with_lines(lab, users["office"], year=YEAR + 1)
    services.issue_allocation(users["office"], _run(users, "5000.00"))
    versions = budget.versions.count()
    assert services.feed_subsidy(users["office"], lab, YEAR + 1) == []
    assert budget.versions.count() == versions and SubsidyEntry.objects.count() == 1


def test_an_approved_budget_gets_the_subsidy_as_an_adjustment_with_its_reason(users):
    lab = _reviewed(users, "a")
    budget = budget_with_lines(lab, users["office"], year=YEAR + 1, status="approved")
    approved = budget.approved_version
    manager = manager_of(lab)
    services.issue_allocation(users["office"], _run(users, "2000.00"))
    budget = Budget.objects.get(pk=budget.pk)
    assert budget.status == "draft", "an adjustment is under way"
    assert budget.approved_version == approved, "the approved version stays in force until approved again"
    assert central(budget.current_version) == {"equipment": D("2000.00")}
    assert budget.current_version.reason and budget.current_version.number == approved.number + 1
    audit = ChangeRecord.objects.get(object_id=str(budget.pk), transition="adjust")
    assert (audit.from_state, audit.to_state) == ("approved", "draft")
    assert "central subsidy of 2000.00 yuan" in audit.reason
    assert SubsidyEntry.objects.get().as_adjustment
    assert Notification.objects.filter(recipient=manager, verb="subsidy_entered").exists()


def test_a_submitted_budget_is_returned_to_draft_with_the_reason_and_gets_the_subsidy(users):
    lab = _reviewed(users, "a")
    budget = budget_with_lines(lab, users["office"], year=YEAR + 1, status="submitted")
    services.issue_allocation(users["office"], _run(users, "10.00"))
    budget.refresh_from_db()
    assert budget.status == "draft"
    assert ChangeRecord.objects.filter(object_id=str(budget.pk), transition="return").exists()
    assert central(budget.current_version) == {"equipment": D("10.00")}


def test_a_budget_opened_after_the_issue_starts_with_the_subsidy_on_the_central_source(users):
    lab = _reviewed(users, "a")
    services.issue_allocation(users["office"], _run(users, "3456.78"))
    budget = services.create_budget(manager_of(lab), lab, YEAR + 1)
    first = budget.current_version
    assert first.number == 1 and first.amounts() == {("other", "central"): D("3456.78")}
    assert SubsidyEntry.objects.get().version == first


def test_a_budget_that_already_carries_the_amount_gets_no_new_version(users):
    lab = _reviewed(users, "a")
    budget = services.create_budget(users["office"], lab, YEAR + 1)
    services.save_budget_version(users["office"], budget, {("equipment", "central"): D("800.00")})
    services.issue_allocation(users["office"], _run(users, "800.00"))
    assert budget.versions.count() == 1
    entry = SubsidyEntry.objects.get()
    assert entry.version is None and entry.budget == budget


def test_a_second_allocation_of_the_year_cannot_be_issued_so_the_subsidy_is_not_paid_twice(users):
    from django.core.exceptions import ValidationError

    lab = _reviewed(users, "a")
    budget = services.create_budget(users["office"], lab, YEAR + 1)
    second = services.compute_allocation(users["office"], _run(users, "50.00"))  # a draft made earlier
    first = services.issue_allocation(users["office"], _run(users, "100.00"))
    with pytest.raises(ValidationError) as refused:
        services.issue_allocation(users["office"], second)
    assert first.document.number in " ".join(refused.value.messages)
    from qslab.core.testing import verified_client

    page = verified_client(users["office"]).get(second.get_absolute_url()).content.decode()
    assert "this draft cannot be issued" in page and first.document.number in page
    assert "Issue the allocation document" not in page
    second.refresh_from_db()
    assert second.status == "draft" and second.document is None
    assert services.allocated_subsidy(lab, YEAR + 1) == D("100.00")
    assert central(budget.current_version) == {"other": D("100.00")}
    assert budget.versions.count() == 1 and SubsidyEntry.objects.count() == 1
