"""Proficiency-testing rounds: set-up, registration, submissions, scoring and who sees what."""

import base64
import datetime as dt
import re

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.workflow import TransitionRefused
from qslab.methods.proficiency import pt_scores
from qslab.studies import services
from qslab.studies.models import PTResult


def chart_svgs(page: str) -> list[str]:
    """The SVG charts a page shows as ``<img src="data:image/svg+xml;base64,...">`` ({% chart_img %})."""
    return [
        base64.b64decode(b).decode()
        for b in re.findall(r'<img class="chart-img" src="data:image/svg\+xml;base64,([^"]+)"', page)
    ]


def test_organiser_opens_a_ready_round_and_a_participant_lab_manager_cannot(world):
    with pytest.raises(TransitionRefused) as refused:
        services.move(world.other_manager, world.draft, "open")
    assert refused.value.code == TransitionRefused.FORBIDDEN
    services.move(world.users["lab_manager"], world.draft, "open")
    assert world.draft.status == "open"


def test_a_round_without_sigma_pt_cannot_open(world):
    world.measurand.sigma_pt = None
    world.measurand.save()
    with pytest.raises(TransitionRefused) as refused:
        services.move(world.users["lab_manager"], world.draft, "open")
    assert refused.value.code == TransitionRefused.GUARD
    assert "sigma_pt" in str(refused.value)


def test_scoring_needs_a_closed_round(world):
    with pytest.raises(TransitionRefused) as refused:
        services.move(world.users["lab_manager"], world.open, "score")
    assert refused.value.code == TransitionRefused.WRONG_STATE


def test_cancelling_needs_a_reason(world):
    with pytest.raises(TransitionRefused) as refused:
        services.move(world.users["lab_manager"], world.open, "cancel")
    assert refused.value.code == TransitionRefused.REASON_REQUIRED


def test_an_outside_organisation_registers_and_gets_the_next_code(world):
    p = services.register_participant(world.users["client"], world.open2, organisation=world.client_org)
    assert p.code == "P01"
    with pytest.raises(services.Refused) as again:
        services.register_participant(world.users["client"], world.open2, organisation=world.client_org)
    assert again.value.code == "already_registered"


def test_a_user_cannot_register_another_organisation(world):
    with pytest.raises(PermissionDenied):
        services.register_participant(world.users["analyst"], world.open2, organisation=world.client_org)


def test_results_submitted_by_form_are_stored(world, clients):
    m = world.open.measurands.get()
    url = reverse("studies:pt_submit", args=[world.open.pk, world.open_p_org.pk])
    clients["client"].post(url, {f"value_{m.pk}": "3.3", f"u_{m.pk}": "0.1", f"k_{m.pk}": "2"})
    r = PTResult.objects.get(participant=world.open_p_org)
    assert (r.value, r.standard_uncertainty, r.expanded_uncertainty, r.channel) == (3.3, 0.1, 0.2, "form")


def test_late_submission_is_refused_with_the_deadline_named(world):
    after = world.open.deadline + dt.timedelta(days=1)
    with (
        time_machine.travel(dt.datetime.combine(after, dt.time(9)), tick=False),
        pytest.raises(services.Refused) as refused,
    ):
        services.submit_results(
            world.users["client"], world.open_p_org, [{"measurand": "Cu", "value": 3, "u": 0.1}]
        )
    assert refused.value.code == "late"
    assert str(world.open.deadline) in str(refused.value)
    assert not PTResult.objects.filter(participant=world.open_p_org).exists()


def test_late_submission_through_the_api_gets_409(world):
    after = world.open.deadline + dt.timedelta(days=1)
    url = f"/api/studies/pt/rounds/{world.open.pk}/participants/{world.open_p_org.pk}/results"
    from django.test import Client

    with time_machine.travel(dt.datetime.combine(after, dt.time(9)), tick=False):
        response = Client().post(
            url,
            [{"measurand": "Cu", "value": 3, "u": 0.1}],
            content_type="application/json",
            headers={"Authorization": f"Bearer {world.tokens['client']}"},
        )
    assert response.status_code == 409
    assert response.json()["code"] == "late"


def test_submission_to_a_closed_round_is_refused(world):
    services.move(world.users["lab_manager"], world.open, "close")
    with pytest.raises(services.Refused) as refused:
        services.submit_results(
            world.users["client"], world.open_p_org, [{"measurand": "Cu", "value": 3, "u": 0.1}]
        )
    assert refused.value.code == "closed"


def test_csv_errors_are_reported_all_at_once_and_nothing_is_written(world, clients):
    text = "measurand,value,u\nZn,3.1,0.1\nCu,abc,0.1\nCu,3.2,-1\n"
    url = reverse("studies:pt_upload", args=[world.open.pk, world.open_p_org.pk])
    response = clients["client"].post(url, {"file": SimpleUploadedFile("r.csv", text.encode())}, follow=True)
    page = response.content.decode()
    assert "row 1, measurand" in page and "unknown measurand" in page
    assert "row 2, value" in page and "is not a number" in page
    assert "row 3, u" in page and "must not be negative" in page
    assert not PTResult.objects.filter(participant=world.open_p_org).exists()


def test_a_valid_csv_is_stored_as_a_file_submission(world, clients):
    url = reverse("studies:pt_upload", args=[world.open.pk, world.open_p_org.pk])
    clients["client"].post(
        url, {"file": SimpleUploadedFile("r.csv", b"measurand,value,u,k\nCu,3.25,0.05,2\n")}
    )
    r = PTResult.objects.get(participant=world.open_p_org)
    assert (r.value, r.channel) == (3.25, "file")


def test_a_participant_cannot_see_another_participants_result_or_report(world, clients):
    client = clients["client"]
    other = world.reported_p_lab
    assert (
        client.get(reverse("studies:pt_participant", args=[world.reported.pk, other.pk])).status_code == 404
    )
    assert client.get(reverse("studies:pt_report", args=[world.reported.pk, other.pk])).status_code == 404
    assert not PTResult.objects.visible_to(world.users["client"]).filter(participant=other).exists()
    page = client.get(reverse("studies:pt_detail", args=[world.reported.pk])).content.decode()
    assert "P02" in page and "P01" not in page and str(world.other_lab.name_en) not in page


def test_a_participant_cannot_submit_for_another(world):
    with pytest.raises(PermissionDenied):
        services.submit_results(
            world.users["client"], world.open_p_lab, [{"measurand": "Cu", "value": 3, "u": 0.1}]
        )


def test_scores_equal_the_engines_on_the_same_data(world):
    results = list(PTResult.objects.filter(participant__round=world.reported).order_by("participant__code"))
    x = [r.value for r in results]
    from qslab.methods.proficiency import algorithm_a

    robust = algorithm_a(x)
    expected = pt_scores(
        x,
        robust.x_star,
        sigma_pt=0.3,
        u_x_pt=robust.u_x_star,
        u_results=[r.standard_uncertainty for r in results],
        expanded_results=[r.expanded_uncertainty for r in results],
    )
    for i, r in enumerate(results):
        assert r.scores["z"] == pytest.approx(float(expected.z[i]), rel=1e-12)
        assert r.scores["zeta"] == pytest.approx(float(expected.zeta[i]), rel=1e-12)
        assert r.scores["e_n"] == pytest.approx(float(expected.e_n[i]), rel=1e-12)
    stored = world.reported.measurands.get().evaluation
    assert stored["engine"]["module"] == "qslab.methods.proficiency.pt_scores"
    assert stored["assigned"]["x_pt"] == pytest.approx(robust.x_star)


def test_the_participant_report_is_a_pdf_with_its_own_code(world, clients):
    response = clients["client"].get(
        reverse("studies:pt_report", args=[world.reported.pk, world.reported_p_org.pk])
    )
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")


def test_the_organiser_summary_has_charts_of_scores_and_results(world, clients):
    page = (
        clients["lab_manager"].get(reverse("studies:pt_summary", args=[world.reported.pk])).content.decode()
    )
    assert len(chart_svgs(page)) >= 3 and "<svg" not in page
    assert "P05" in page
