"""Budgets: the submission and approval workflow, adjustments, immutable versions, and who sees what."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from qslab.core.workflow import TransitionRefused
from qslab.funding import services
from qslab.funding.models import Budget, BudgetVersion
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab, manager_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def lab():
    return make_lab("alpha")


def test_lab_manager_submits_own_budget_and_the_office_approves_it(lab, users):
    manager = manager_of(lab)
    budget = budget_with_lines(lab, users["office"])
    services.move_budget(manager, budget, "submit")
    assert budget.status == "submitted"
    services.move_budget(users["office"], budget, "approve")
    assert budget.status == "approved"
    assert budget.approved_version == budget.current_version


def test_lab_manager_may_not_approve_own_budget(lab, users):
    manager = manager_of(lab)
    budget = budget_with_lines(lab, users["office"], status="submitted")
    with pytest.raises(TransitionRefused) as exc:
        services.move_budget(manager, budget, "approve")
    assert exc.value.code == TransitionRefused.FORBIDDEN


def test_manager_of_another_lab_may_not_submit(lab, users):
    stranger = manager_of(make_lab("beta"))
    budget = budget_with_lines(lab, users["office"])
    with pytest.raises(TransitionRefused) as exc:
        services.move_budget(stranger, budget, "submit")
    assert exc.value.code == TransitionRefused.FORBIDDEN


def test_a_draft_cannot_be_approved(lab, users):
    budget = budget_with_lines(lab, users["office"])
    with pytest.raises(TransitionRefused) as exc:
        services.move_budget(users["office"], budget, "approve")
    assert exc.value.code == TransitionRefused.WRONG_STATE


def test_returning_a_budget_needs_a_reason(lab, users):
    budget = budget_with_lines(lab, users["office"], status="submitted")
    with pytest.raises(TransitionRefused) as exc:
        services.move_budget(users["office"], budget, "return")
    assert exc.value.code == TransitionRefused.REASON_REQUIRED
    services.move_budget(users["office"], budget, "return", "personnel too high")
    assert budget.status == "draft"


def test_a_budget_without_lines_cannot_be_submitted(lab, users):
    budget = services.create_budget(users["office"], lab, YEAR)
    with pytest.raises(TransitionRefused) as exc:
        services.move_budget(users["office"], budget, "submit")
    assert exc.value.code == TransitionRefused.GUARD


def test_an_adjustment_keeps_every_version_and_needs_a_reason(lab, users):
    manager = manager_of(lab)
    budget = budget_with_lines(lab, users["office"], status="approved")
    first = budget.approved_version
    first_lines = sorted(first.amounts().items())
    services.move_budget(manager, budget, "adjust", "a second instrument is needed")
    with pytest.raises(ValidationError):
        services.save_budget_version(manager, budget, {("equipment", "central"): Decimal("900000")})
    services.save_budget_version(
        manager, budget, {("equipment", "central"): Decimal("900000")}, "second instrument"
    )
    services.move_budget(manager, budget, "submit")
    services.move_budget(users["office"], budget, "approve")
    budget.refresh_from_db()
    assert [v.number for v in budget.versions.order_by("number")] == [1, 2]
    assert budget.approved_version.number == 2
    assert budget.approved_version.total == Decimal("900000.00")
    first = BudgetVersion.objects.get(pk=first.pk)
    assert sorted(first.amounts().items()) == first_lines
    assert first.total == Decimal("1000000.00")


def test_a_saved_version_cannot_be_changed(lab, users):
    budget = budget_with_lines(lab, users["office"])
    version = budget.current_version
    version.reason = "rewrite history"
    with pytest.raises(ValueError, match="immutable"):
        version.save()


def test_an_approved_budget_cannot_be_edited_without_an_adjustment(lab, users):
    budget = budget_with_lines(lab, users["office"], status="approved")
    with pytest.raises(ValidationError):
        services.save_budget_version(users["office"], budget, {("travel", "local"): Decimal("1")}, "x")


def test_lab_manager_sees_only_own_labs_budgets(lab, users):
    other = make_lab("beta", region="330000")
    own = budget_with_lines(lab, users["office"])
    theirs = budget_with_lines(other, users["office"])
    manager = manager_of(lab)
    assert list(Budget.objects.visible_to(manager)) == [own]
    assert not Budget.objects.editable_by(manager).filter(pk=theirs.pk).exists()


def test_lab_manager_list_page_and_api_show_only_own_budgets(lab, users):
    from qslab.accounts.models import ApiToken
    from qslab.core.testing import verified_client

    other = make_lab("beta", region="330000")
    budget_with_lines(lab, users["office"])
    budget_with_lines(other, users["office"])
    manager = manager_of(lab)
    page = verified_client(manager).get("/funding/").content.decode()
    assert lab.name_zh in page or lab.name_en in page
    assert other.name_en not in page and other.name_zh not in page
    token = ApiToken.issue(manager, "t")[1]
    data = (
        verified_client(None).get("/api/funding/budgets", headers={"Authorization": f"Bearer {token}"}).json()
    )
    assert [b["laboratory_code"] for b in data["items"]] == ["alpha"]


def test_an_authority_sees_budgets_of_its_province_only(lab, users):
    other = make_lab("beta", region="330000")
    own = budget_with_lines(lab, users["office"])
    budget_with_lines(other, users["office"])
    assert list(Budget.objects.visible_to(users["authority"])) == [own]


def test_targets_typed_with_errors_report_every_line_and_column():
    text = "quantity, 标准, std, >=, 3, items, planned, 1\nbogus, , x, >>, abc, , nowhere, -1\n"
    with pytest.raises(services.ImportFailed) as exc:
        services.parse_indicators(text)
    cells = {(e.row, e.column) for e in exc.value.errors}
    assert cells == {
        (2, "level2"),
        (2, "name_zh"),
        (2, "comparator"),
        (2, "target"),
        (2, "basis"),
        (2, "weight"),
    }


def test_targets_form_a_three_level_tree(lab, users):
    budget = budget_with_lines(lab, users["office"])
    levels = {(i.level1, i.level2) for i in budget.indicators.all()}
    assert ("output", "quantity") in levels
    assert ("effect", "social") in levels
    assert ("satisfaction", "served") in levels
