"""The designation pages and API say clearly why something is refused."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from qslab.accounts.models import ApiToken
from qslab.core.testing import make_organisation
from qslab.designation.models import Application
from qslab.designation.tests.factories import make_application, make_call, make_expert

pytestmark = pytest.mark.django_db


@pytest.fixture
def applicant(users):
    user = users["lab_manager"]
    user.organisation = make_organisation(region_code="320000")
    user.save(update_fields=["organisation"])
    return user


def test_a_late_submission_through_the_api_is_a_409_naming_the_hard_deadline(client, applicant):
    app = make_application(make_call("late", hard_in_days=-1), applicant.organisation, owner=applicant)
    token = ApiToken.issue(applicant, "t")[1]
    response = client.post(
        f"/api/designation/applications/{app.pk}/transitions/submit",
        data={},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "guard"
    assert "hard deadline" in response.json()["detail"]


def test_a_late_submission_on_the_page_shows_the_reason(clients, applicant):
    app = make_application(make_call("late", hard_in_days=-1), applicant.organisation, owner=applicant)
    url = reverse("designation:application_transition", args=[app.pk, "submit"])
    response = clients["lab_manager"].post(url)
    assert response.status_code == 302
    assert any("hard deadline" in str(m) for m in get_messages(response.wsgi_request))
    assert Application.objects.get(pk=app.pk).status == "draft"


def test_the_office_passes_the_formal_check_by_ticking_every_item_on_the_page(clients, users):
    app = make_application(make_call("check"), make_organisation(region_code="320000"), status="recommended")
    page = clients["office"].get(reverse("designation:application", args=[app.pk]))
    assert b'name="check_eligible"' in page.content
    url = reverse("designation:application_transition", args=[app.pk, "accept"])
    clients["office"].post(url, {"check_eligible": "on"})
    assert Application.objects.get(pk=app.pk).status == "recommended"
    ticks = {f"check_{code}": "on" for code in ("eligible", "complete", "attachments", "recommendation")}
    clients["office"].post(url, ticks)
    assert Application.objects.get(pk=app.pk).status == "accepted"


def test_an_expert_sees_every_score_error_at_once_on_the_review_page(clients, users):
    from qslab.designation.models import Assignment

    app = make_application(make_call("review"), make_organisation(region_code="320000"), status="in_review")
    make_expert(user=users["expert"])
    a = Assignment.objects.create(application=app, expert=users["expert"], released=True)
    response = clients["expert"].post(
        reverse("designation:review", args=[a.pk]), {"score_direction": "9", "score_team": ""}
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "must be between 0 and 5" in text and "Give a score for" in text


def test_an_applicant_gets_404_for_another_institutions_application(clients, applicant):
    other = make_application(make_call("x"), make_organisation(region_code="320000"), status="submitted")
    response = clients["lab_manager"].get(reverse("designation:application", args=[other.pk]))
    assert response.status_code == 404
