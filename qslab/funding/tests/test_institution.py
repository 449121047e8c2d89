"""A supporting institution's staff read the budgets, execution and self-evaluations of the laboratories
their organisation supports, and nothing of other laboratories' money; they change nothing."""

from decimal import Decimal

import pytest

from qslab.core.testing import make_user, verified_client
from qslab.funding.models import SelfEvaluation
from qslab.funding.tests.conftest import YEAR, evidence_file, make_lab, quick_budget
from qslab.funding.tests.test_api_office import Api

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting():
    ours, theirs = make_lab("ours"), make_lab("theirs")
    sister = make_lab("sister")
    sister.supporting_institution = ours.supporting_institution
    sister.save(update_fields=["supporting_institution"])
    budgets = {lab.code: quick_budget(lab, YEAR, "approved", actuals=True) for lab in (ours, theirs, sister)}
    for b in budgets.values():
        ev = SelfEvaluation.objects.create(budget=b, status="reviewed", total=Decimal(88), grade="good")
        evidence_file(ev, f"{b.laboratory.code}.pdf")
    staff = make_user("institution", scope=ours.supporting_institution)
    return staff, budgets


def test_the_institution_reads_the_money_of_the_labs_it_supports_and_no_other(setting):
    staff, budgets = setting
    api = Api(staff)
    listed = {b["laboratory_code"] for b in api.ok("get", "/budgets")["items"]}
    assert listed == {"ours", "sister"}
    for code in ("ours", "sister"):
        bid = budgets[code].pk
        assert api.ok("get", f"/budgets/{bid}")["id"] == bid
        assert api.ok("get", f"/budgets/{bid}/execution")["year"] == YEAR
        assert api.ok("get", f"/budgets/{bid}/evaluation")["grade"] == "good"
    theirs = budgets["theirs"].pk
    for path in (f"/budgets/{theirs}", f"/budgets/{theirs}/execution", f"/budgets/{theirs}/evaluation"):
        assert api("get", path).status_code == 404, path
    report = api.ok("get", f"/reports?year={YEAR}&by=region")
    assert report["total"]["laboratories"] == 2

    client = verified_client(staff)
    page = client.get("/funding/").content.decode()
    assert f'/funding/{budgets["ours"].pk}/"' in page and f'/funding/{theirs}/"' not in page
    assert client.get(f"/funding/{budgets['ours'].pk}/").status_code == 200
    assert client.get(f"/funding/{budgets['ours'].pk}/evaluation/").status_code == 200
    assert client.get(f"/funding/{theirs}/").status_code == 404


def test_the_institution_changes_nothing_and_does_not_read_the_evidence(setting):
    staff, budgets = setting
    api = Api(staff)
    ours = budgets["ours"]
    lines = {"lines": [{"line": "travel", "source": "supporting", "amount": "1.00"}], "reason": "x"}
    assert api("post", f"/budgets/{ours.pk}/versions", lines).status_code == 403
    expense = {"date": f"{YEAR}-04-01", "line": "travel", "source": "supporting", "amount": "1.00"}
    assert api("post", f"/budgets/{ours.pk}/expenditures", expense).status_code == 403
    assert api("post", f"/budgets/{ours.pk}/transitions/adjust", {"reason": "x"}).status_code == 403
    assert api("post", "/budgets", {"laboratory_id": ours.laboratory_id, "year": YEAR + 3}).status_code in (
        403,
        404,
    )
    assert api("get", f"/budgets/{ours.pk}/evaluation/evidence").status_code == 404
    evidence = ours.evaluation.evidence.first()
    assert api.client.get(f"/api/funding/evidence/{evidence.pk}/file", headers=api.headers).status_code == 404
    assert verified_client(staff).get(f"/funding/{ours.pk}/lines/").status_code in (403, 404)
    assert ours.versions.count() == 1 and not ours.expenditures.exists()


def test_an_institution_membership_without_an_organisation_sees_nothing(setting):
    unscoped = make_user("institution")
    assert Api(unscoped).ok("get", "/budgets")["count"] == 0
    page = verified_client(unscoped).get("/funding/")
    assert page.status_code == 200 and f'/funding/{setting[1]["ours"].pk}/"' not in page.content.decode()
