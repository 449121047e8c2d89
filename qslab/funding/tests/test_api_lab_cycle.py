"""Through the API alone a laboratory's system answers the August flags and files the self-evaluation;
the office accepts it. Errors are listed (422) and nothing of another laboratory is reachable."""

from decimal import Decimal

import pytest

from qslab.accounts.models import ApiToken
from qslab.core.testing import verified_client
from qslab.funding import services
from qslab.funding.models import MonitoringFlag, SelfEvaluation
from qslab.funding.tests.conftest import YEAR, budget_with_lines, make_lab, manager_of

pytestmark = pytest.mark.django_db


def api(user):
    token = ApiToken.issue(user, "t")[1]
    client = verified_client(None)
    headers = {"Authorization": f"Bearer {token}"}

    def call(method, path, data=None):
        return getattr(client, method)(
            f"/api/funding{path}", data=data, content_type="application/json", headers=headers
        )

    return call


def test_a_lab_answers_its_flags_and_files_its_self_evaluation_by_api(users):
    lab = make_lab("alpha")
    budget = budget_with_lines(lab, users["office"], status="approved")
    services.run_monitoring(users["office"], YEAR, 7)
    flags = list(MonitoringFlag.objects.filter(budget=budget))
    assert flags, "nothing spent by July: the budget lags"
    lab_api = api(manager_of(lab))

    listed = lab_api("get", f"/budgets/{budget.pk}/flags").json()
    assert sorted(f["id"] for f in listed) == sorted(f.pk for f in flags)
    missing = lab_api(
        "post", f"/flags/{flags[0].pk}/answer", {"cause": "late tender", "corrective_action": ""}
    )
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["corrective_action"]
    for f in flags:
        ok = lab_api(
            "post", f"/flags/{f.pk}/answer", {"cause": "late tender", "corrective_action": "tender now"}
        )
        assert ok.status_code == 200 and ok.json()["answered_at"]
    assert not MonitoringFlag.objects.filter(budget=budget, answered_at__isnull=True).exists()

    assert lab_api("get", f"/budgets/{budget.pk}/evaluation").status_code == 404  # not opened yet
    actuals = [{"indicator_id": i.pk, "actual": str(i.target)} for i in budget.indicators.all()]
    put = lab_api("put", f"/budgets/{budget.pk}/evaluation", {"actuals": actuals, "summary": "all met"})
    assert put.status_code == 200 and put.json()["status"] == "draft"
    assert lab_api("post", f"/budgets/{budget.pk}/evaluation/transitions/accept", {}).status_code == 403
    submitted = lab_api("post", f"/budgets/{budget.pk}/evaluation/transitions/submit", {}).json()
    assert submitted["status"] == "submitted" and Decimal(submitted["total"]) > 0 and submitted["grade"]
    again = lab_api("put", f"/budgets/{budget.pk}/evaluation", {"actuals": [], "summary": "changed"})
    assert again.status_code == 422, "a submitted self-evaluation is not changed"

    accepted = api(users["office"])("post", f"/budgets/{budget.pk}/evaluation/transitions/accept", {})
    assert accepted.status_code == 200 and SelfEvaluation.objects.get(budget=budget).status == "reviewed"


def test_the_api_refuses_another_laboratorys_flags_and_indicators(users):
    own, other = make_lab("alpha"), make_lab("beta", region="330000")
    mine = budget_with_lines(own, users["office"], status="approved")
    theirs = budget_with_lines(other, users["office"], status="approved")
    services.run_monitoring(users["office"], YEAR, 7)
    lab_api = api(manager_of(own))
    their_flag = MonitoringFlag.objects.filter(budget=theirs).first()
    assert lab_api("get", f"/budgets/{theirs.pk}/flags").status_code == 404
    assert lab_api("get", f"/budgets/{theirs.pk}/evaluation").status_code == 404
    answer = {"cause": "x", "corrective_action": "y"}
    assert lab_api("post", f"/flags/{their_flag.pk}/answer", answer).status_code in (403, 404)
    foreign = [{"indicator_id": theirs.indicators.first().pk, "actual": "1"}]
    put = lab_api("put", f"/budgets/{mine.pk}/evaluation", {"actuals": foreign, "summary": ""})
    assert put.status_code == 422
    assert theirs.indicators.first().actual is None
