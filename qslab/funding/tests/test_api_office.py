"""Through the API alone the committee office does its whole part of the budget year: it sets the
rules, runs the in-year monitoring, holds back funding on a flag, reads the evidence, adjusts a score
with a reason, records the evaluation grades, and computes, previews, issues and amends the subsidy
allocation, whose amounts add up to the total to the fen. The laboratories use the API too."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.accounts.models import ApiToken
from qslab.core.testing import verified_client
from qslab.funding.models import AllocationRun, Budget
from qslab.funding.tests.conftest import INDICATORS, PDF, YEAR, make_lab, manager_of

pytestmark = pytest.mark.django_db
D = Decimal


class Api:
    def __init__(self, user):
        self.client = verified_client(None)
        self.headers = {"Authorization": f"Bearer {ApiToken.issue(user, 't')[1]}"}

    def __call__(self, method, path, data=None):
        return getattr(self.client, method)(
            f"/api/funding{path}", data=data, content_type="application/json", headers=self.headers
        )

    def upload(self, path, data):
        return self.client.post(f"/api/funding{path}", data=data, headers=self.headers)

    def ok(self, method, path, data=None, status=200):
        response = self(method, path, data)
        assert response.status_code == status, (path, response.status_code, response.content[:500])
        return response.json()


def _indicators():
    rows = []
    for line in INDICATORS.strip().splitlines():
        level2, name_zh, name_en, comparator, target, unit, basis, weight = (
            c.strip() for c in line.split(",")
        )
        rows.append(
            {
                "level2": level2,
                "name_zh": name_zh,
                "name_en": name_en,
                "comparator": comparator,
                "target": target,
                "unit": unit,
                "basis": basis,
                "weight": weight,
            }
        )
    return rows


def _lab_files_its_budget(lab_api, office, lab, spend):
    budget = lab_api.ok("post", "/budgets", {"laboratory_id": lab.pk, "year": YEAR}, status=201)
    bid = budget["id"]
    lines = [
        {"line": "equipment", "source": "central", "amount": "600000.00"},
        {"line": "materials", "source": "supporting", "amount": "400000.00"},
    ]
    lab_api.ok("post", f"/budgets/{bid}/versions", {"lines": lines}, status=201)
    lab_api.ok("put", f"/budgets/{bid}/indicators", _indicators())
    lab_api.ok("post", f"/budgets/{bid}/transitions/submit", {})
    office.ok("post", f"/budgets/{bid}/transitions/approve", {})
    if spend:
        expense = {"date": f"{YEAR}-03-01", "line": "equipment", "source": "central", "amount": spend}
        lab_api.ok("post", f"/budgets/{bid}/expenditures", expense, status=201)
    return bid


def test_the_office_runs_the_subsidy_year_by_api_alone_and_the_amounts_add_up_exactly(users):
    office = Api(users["office"])
    labs = {code: make_lab(code) for code in ("a", "b", "c")}
    lab_apis = {code: Api(manager_of(lab)) for code, lab in labs.items()}

    # the rules of the year: a stricter lag tolerance; every problem of a bad request is listed
    bad = office("put", f"/rules/{YEAR}", {"expected_curve": [1, 2, 3], "grade_good": "95"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"expected_curve", "grade_fair"}
    assert office.ok("get", f"/rules/{YEAR}")["saved"] is False
    rules = office.ok("put", f"/rules/{YEAR}", {"lag_tolerance": "5", "weight_execution": "10"})
    assert rules["saved"] and D(rules["lag_tolerance"]) == 5
    assert D(office.ok("get", f"/rules/{YEAR}")["lag_tolerance"]) == 5

    spend = {"a": "900000.00", "b": "500000.00", "c": None}
    budgets = {c: _lab_files_its_budget(lab_apis[c], office, labs[c], spend[c]) for c in labs}

    # the in-year monitoring, started by the office: c spent nothing by July and is flagged
    started = office.ok("post", "/monitoring/runs", {"year": YEAR, "month": 7}, status=201)
    assert started["run"]["new_flags"] == len(started["flags"]) > 0
    flagged = {f["budget_id"] for f in started["flags"]}
    assert budgets["c"] in flagged
    assert [r["id"] for r in office.ok("get", f"/monitoring/runs?year={YEAR}")["items"]] == [
        started["run"]["id"]
    ]
    again = office.ok("post", "/monitoring/runs", {"year": YEAR, "month": 7}, status=201)
    assert again["flags"] == [], "a second run of the month raises nothing twice"

    c_flag = next(f for f in started["flags"] if f["budget_id"] == budgets["c"])
    assert office("post", f"/flags/{c_flag['id']}/hold", {"hold": True, "reason": ""}).status_code == 422
    held = office.ok("post", f"/flags/{c_flag['id']}/hold", {"hold": True, "reason": "no tender yet"})
    assert held["hold_funding"] is True and held["hold_reason"] == "no tender yet"
    assert (
        lab_apis["c"]("post", f"/flags/{c_flag['id']}/hold", {"hold": False, "reason": "x"}).status_code
        == 403
    )

    # year end: each laboratory files its self-evaluation with evidence and submits it
    for code, lab_api in lab_apis.items():
        bid = budgets[code]
        indicators = lab_api.ok("get", f"/budgets/{bid}")["indicators"]
        actuals = [
            {"indicator_id": i["id"], "actual": i["target"] if code != "b" else str(D(i["target"]) / 2)}
            for i in indicators
        ]
        lab_api.ok("put", f"/budgets/{bid}/evaluation", {"actuals": actuals, "summary": "done"})
        upload = lab_api.upload(
            f"/budgets/{bid}/evaluation/evidence",
            {"file": SimpleUploadedFile(f"{code}.pdf", PDF), "description": "minutes"},
        )
        assert upload.status_code == 201, upload.content
        lab_api.ok("post", f"/budgets/{bid}/evaluation/transitions/submit", {})
    not_pdf = lab_apis["a"].upload(
        f"/budgets/{budgets['a']}/evaluation/evidence", {"file": SimpleUploadedFile("x.pdf", b"<html>")}
    )
    assert not_pdf.status_code in (403, 422), "a submitted self-evaluation takes no file, nor a fake PDF"

    # the office reads the evidence through the checked download
    files = office.ok("get", f"/budgets/{budgets['a']}/evaluation/evidence")
    assert [f["name"] for f in files] == ["a.pdf"]
    download = office.client.get(files[0]["url"], headers=office.headers)
    assert download.status_code == 200 and b"".join(download.streaming_content) == PDF
    assert "attachment" in download["Content-Disposition"]
    assert lab_apis["b"]("get", f"/budgets/{budgets['a']}/evaluation/evidence").status_code == 404
    assert lab_apis["b"].client.get(files[0]["url"], headers=lab_apis["b"].headers).status_code == 404

    # the office adjusts b's score with a reason, then accepts every self-evaluation
    no_reason = office("post", f"/budgets/{budgets['b']}/evaluation/adjust", {"score": "81", "reason": " "})
    assert no_reason.status_code == 422
    adjusted = office.ok(
        "post", f"/budgets/{budgets['b']}/evaluation/adjust", {"score": "81.5", "reason": "evidence found"}
    )
    assert D(adjusted["adjusted_total"]) == D("81.50") and adjusted["grade"] == "good"
    for bid in budgets.values():
        office.ok("post", f"/budgets/{bid}/evaluation/transitions/accept", {})
    for lab in labs.values():
        office.ok("post", "/grades", {"laboratory_id": lab.pk, "year": YEAR, "grade": "good"})
    assert office.ok("get", f"/grades?year={YEAR}")["count"] == 3

    # the allocation: created and computed (the preview), recomputed the same, issued
    total = "1000000.01"
    draft = office.ok(
        "post",
        "/allocations",
        {"year": YEAR, "title_zh": "补助", "title_en": "Subsidy", "total": total, "formula": "score"},
        status=201,
    )
    assert draft["status"] == "draft" and draft["formula"] == "score"
    rows = {a["laboratory_code"]: a for a in draft["allocations"]}
    assert not rows["c"]["eligible"] and "held back" in rows["c"]["reason"]
    assert sum(D(a["amount"]) for a in draft["allocations"]) == D(total)
    assert D(rows["a"]["amount"]) > D(rows["b"]["amount"]) > 0
    preview = office.ok("post", f"/allocations/{draft['id']}/compute")
    assert (
        preview["allocations"] == draft["allocations"] and preview["inputs_sha256"] == draft["inputs_sha256"]
    )
    assert Api(users["committee"])("post", f"/allocations/{draft['id']}/issue").status_code == 403
    issued = office.ok("post", f"/allocations/{draft['id']}/issue")
    assert issued["status"] == "issued" and issued["document_number"].startswith("国质标实资〔")
    assert sum(D(a["amount"]) for a in issued["allocations"]) == D(total)
    assert (
        office(
            "post",
            "/allocations",
            {**{k: draft[k] for k in ("year", "title_zh", "title_en")}, "total": "5.00"},
        ).status_code
        == 422
    ), "no second allocation"

    # releasing c's hold after an upheld appeal, then amending the allocation with a new declared total
    office.ok("post", f"/flags/{c_flag['id']}/hold", {"hold": False, "reason": "appeal upheld"})
    assert office("post", f"/allocations/{draft['id']}/amend", {"reason": ""}).status_code == 422
    amendment = office.ok(
        "post",
        f"/allocations/{draft['id']}/amend",
        {"reason": "appeal of c upheld", "total": "1200000.00"},
        status=201,
    )
    assert amendment["amends_id"] == draft["id"] and amendment["status"] == "draft"
    assert sum(D(a["amount"]) for a in amendment["allocations"]) == D("1200000.00")
    amended = office.ok("post", f"/allocations/{amendment['id']}/issue")
    assert amended["document_number"] != issued["document_number"]
    original = office.ok("get", f"/allocations/{draft['id']}")
    assert original["status"] == "superseded" and original["superseded_by_id"] == amendment["id"]
    assert original["document_number"] == issued["document_number"], "the original is kept"
    assert AllocationRun.objects.filter(year=YEAR, status="issued").count() == 1
    assert not Budget.objects.filter(year=YEAR + 1).exists()


@pytest.mark.parametrize("total", ["6.4e178", "1e30", "1000000000000"])
def test_an_allocation_total_too_large_for_the_books_is_refused_with_a_sentence_not_a_server_error(
    users, total
):
    office = Api(users["office"])
    response = office(
        "post", "/allocations", {"year": YEAR, "title_zh": "补助", "title_en": "Subsidy", "total": total}
    )
    assert response.status_code == 422, response.content[:300]
    assert "too large" in response.content.decode()
    assert not AllocationRun.objects.exists()


def test_the_largest_amount_the_books_hold_is_accepted():
    from qslab.funding.services import parse_money

    assert parse_money("999999999999.99") == D("999999999999.99")
    with pytest.raises(ValueError, match="too large"):
        parse_money("1000000000000.00")
