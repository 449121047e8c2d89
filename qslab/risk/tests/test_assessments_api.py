"""Risk assessments and their injury scenarios through the API: created and edited by analysts and the
office only, the level computed by the same service as the pages, every bad value a 422 naming its
field; and the weekly digest read through the API with public fields only."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from qslab.accounts.models import ApiToken
from qslab.risk import services
from qslab.risk.assessment import compute
from qslab.risk.models import RiskAssessment
from qslab.risk.tests.conftest import SECRETS, alert_data

pytestmark = pytest.mark.django_db

CHAIR_STEPS = [
    {"probability": "1", "description_zh": "打开折叠椅", "description_en": "unfolds the chair"},
    {"probability": "1/50", "description_en": "grips it in the wrong place"},
    {"probability": 0.1, "description_en": "finger caught in the hinge"},
    {"probability": "100%", "description_en": "minor pinching"},
]


def _client(user):
    token = ApiToken.issue(user, "test")[1]
    return Client(headers={"Authorization": f"Bearer {token}"})


def _send(client, method, url, data=None):
    if method == "get":
        response = client.get(f"/api/risk{url}")
    else:
        response = getattr(client, method)(
            f"/api/risk{url}", data=json.dumps(data or {}), content_type="application/json"
        )
    return response.status_code, response.json() if response.content else None


def _fields(body):
    return {e["field"]: e["messages"] for e in body["errors"]}


@pytest.fixture
def api(users, terms):
    return {role: _client(users[role]) for role in ("analyst", "office", "client", "lab_manager")}


def test_an_analyst_builds_an_assessment_through_the_api_and_the_level_is_the_services(api):
    status, body = _send(
        api["analyst"],
        "post",
        "/assessments",
        {
            "title_en": "Folding chair",
            "product_category": "269",
            "hazard": "thermal",
            "barcode": "4006381333931",
        },
    )
    assert status == 201, body
    assert body["status"] == "draft" and body["matrix"] == "eu-safety-gate" and body["risk_level"] == ""
    pk = body["id"]
    status, body = _send(
        api["analyst"],
        "post",
        f"/assessments/{pk}/scenarios",
        {"description_en": "Minor pinching of a finger", "severity": 1, "steps": CHAIR_STEPS},
    )
    assert status == 201, body
    (scenario,) = body["scenarios"]
    assert scenario["probability"] == pytest.approx(1 / 500) and scenario["risk_level"] == "low"
    assert body["risk_level"] == "low" and body["deciding_scenario"] == scenario["id"]
    assert [s["description_en"] for s in scenario["steps"]][1] == "grips it in the wrong place"
    assessment = RiskAssessment.objects.get(pk=pk)
    assert compute(assessment)["level"] == body["risk_level"]  # the same computation as the page

    # a second, worse scenario decides (the highest-risk scenario)
    status, body = _send(
        api["office"],
        "post",
        f"/assessments/{pk}/scenarios",
        {
            "description_en": "A child's fingertip is cut off",
            "consumer": "child 3-6",
            "injury": "amputation",
            "severity": 4,
            "steps": [{"probability": "1/20", "description_en": "a child plays with it"}],
        },
    )
    assert status == 201 and body["risk_level"] == "serious"
    second = body["scenarios"][1]["id"]
    assert body["deciding_scenario"] == second

    # replacing the second scenario's steps recomputes the level; removing it brings back the first
    status, body = _send(
        api["analyst"],
        "put",
        f"/assessments/{pk}/scenarios/{second}",
        {
            "description_en": "A child's fingertip is cut off",
            "severity": 4,
            "steps": [{"probability": "1/2000000", "description_en": "a child plays with it"}],
        },
    )
    assert status == 200 and body["scenarios"][1]["risk_level"] == "low"
    status, body = _send(api["analyst"], "delete", f"/assessments/{pk}/scenarios/{second}")
    assert status == 200 and len(body["scenarios"]) == 1 and body["risk_level"] == "low"

    status, body = _send(api["analyst"], "patch", f"/assessments/{pk}", {"conclusion_en": "Low risk."})
    assert status == 200 and body["conclusion_en"] == "Low risk." and body["title_en"] == "Folding chair"
    status, body = _send(api["analyst"], "post", f"/assessments/{pk}/transitions/complete", {})
    assert status == 200 and body["status"] == "completed" and body["document"]

    # a completed assessment is frozen
    status, body = _send(api["analyst"], "patch", f"/assessments/{pk}", {"conclusion_en": "changed"})
    assert status == 403
    status, body = _send(
        api["analyst"],
        "post",
        f"/assessments/{pk}/scenarios",
        {"description_en": "x", "severity": 1, "steps": CHAIR_STEPS},
    )
    assert status == 403


def test_every_bad_value_is_a_422_naming_its_field(api):
    status, body = _send(
        api["analyst"],
        "post",
        "/assessments",
        {"title_en": "x", "hazard": "no-such", "product_category": "nope", "barcode": "4006381333932"},
    )
    assert status == 422
    assert {"hazard", "product_category", "barcode"} <= set(_fields(body))
    status, body = _send(api["analyst"], "post", "/assessments", {"title_en": "x", "matrix": "nope"})
    assert status == 422 and "matrix" in _fields(body)
    status, body = _send(api["analyst"], "post", "/assessments", {"title_en": "x" * 201})
    assert status == 422
    assert RiskAssessment.objects.count() == 0  # nothing half-written

    _, body = _send(api["analyst"], "post", "/assessments", {"title_en": "Kettle"})
    pk = body["id"]
    status, body = _send(
        api["analyst"],
        "post",
        f"/assessments/{pk}/scenarios",
        {
            "description_en": "",
            "severity": 5,
            "steps": [
                {"probability": "1/0.5", "description_en": "a"},
                {"probability": "abc", "description_en": "b"},
                {"probability": "0.5"},
            ],
        },
    )
    assert status == 422
    errors = _fields(body)
    assert set(errors) == {"steps", "severity", "description_en"}
    assert [m.split(":")[0] for m in errors["steps"]] == ["Step 1", "Step 2", "Step 3"]
    status, body = _send(
        api["analyst"],
        "post",
        f"/assessments/{pk}/scenarios",
        {"description_en": "x", "severity": 1, "steps": []},
    )
    assert status == 422 and "steps" in _fields(body)
    status, body = _send(
        api["analyst"],
        "post",
        f"/assessments/{pk}/scenarios",
        {"description_en": "x", "severity": "high", "steps": CHAIR_STEPS},
    )
    assert status == 422 and "severity" in json.dumps(body["errors"])
    assert RiskAssessment.objects.get(pk=pk).scenarios.count() == 0


def test_only_analysts_and_the_office_write_assessments(api):
    for role in ("client", "lab_manager"):
        status, _ = _send(api[role], "post", "/assessments", {"title_en": "x"})
        assert status == 403
    _, body = _send(api["analyst"], "post", "/assessments", {"title_en": "Kettle"})
    for role in ("client", "lab_manager"):
        status, _ = _send(api[role], "patch", f"/assessments/{body['id']}", {"title_en": "y"})
        assert status == 403
        status, _ = _send(
            api[role],
            "post",
            f"/assessments/{body['id']}/scenarios",
            {"description_en": "x", "severity": 1, "steps": CHAIR_STEPS},
        )
        assert status == 403
    assert (
        Client().post("/api/risk/assessments", data="{}", content_type="application/json").status_code == 401
    )


# -- the weekly digest ----------------------------------------------------------------------------------


@pytest.fixture
def digest_week(users, terms):
    alert_terms = {**terms, "thermal_hazard": terms["thermal"]}
    published = services.save_alert(users["analyst"], alert_data(alert_terms))
    services.move_alert(users["analyst"], published, "submit")
    published = services.move_alert(users["office"], published, "approve")
    withdrawn = services.save_alert(users["analyst"], alert_data(alert_terms, title_en="Withdrawn one"))
    services.move_alert(users["analyst"], withdrawn, "submit")
    withdrawn = services.move_alert(users["office"], withdrawn, "approve")
    year, week, _day = timezone.localtime(published.published_at).isocalendar()
    digest = services.build_weekly_digest(year, week)
    services.move_alert(users["office"], withdrawn, "withdraw", "wrong product")
    return {"digest": digest, "published": published, "withdrawn": withdrawn}


def test_the_weekly_digest_is_listed_and_read_through_the_api_with_public_fields_only(digest_week):
    digest, published = digest_week["digest"], digest_week["published"]
    anonymous = Client()
    listing = anonymous.get("/api/risk/digests")
    assert listing.status_code == 200
    (entry,) = listing.json()["items"]
    assert (entry["year"], entry["week"], entry["n_alerts"]) == (digest.year, digest.week, 1)
    assert anonymous.get(f"/api/risk/digests?year={digest.year + 1}").json()["count"] == 0

    response = anonymous.get(f"/api/risk/digests/{digest.year}/{digest.week}")
    assert response.status_code == 200
    body = response.json()
    assert [a["reference"] for a in body["alerts"]] == [published.reference]  # the withdrawn one left
    assert body["alerts"][0]["advice_en"] == "Stop using the kettle and contact the seller."
    texts = [listing.content.decode(), response.content.decode()]
    for field, value in SECRETS.items():
        for text in texts:
            assert field not in text and value.split()[0] not in text
    assert anonymous.get(f"/api/risk/digests/{digest.year}/{(digest.week % 52) + 1}").status_code == 404


def test_staff_read_the_same_public_digest_no_confidential_field_for_anyone(digest_week, users):
    digest = digest_week["digest"]
    text = _client(users["office"]).get(f"/api/risk/digests/{digest.year}/{digest.week}").content.decode()
    assert digest_week["published"].reference in text
    assert not any(value.split()[0] in text for value in SECRETS.values())
