"""Self-evaluation evidence: PDF, XLSX and image files checked by content and size, served as downloads
only to the laboratory's managers, the office and the experts the office assigned."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.models import Notification
from qslab.core.testing import close_quietly, make_user, verified_client
from qslab.funding import services
from qslab.funding.models import EvidenceFile
from qslab.funding.tests.conftest import PDF, budget_with_lines, make_lab, manager_of
from qslab.labs.xlsx import write_xlsx

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def evaluation(users):
    budget = budget_with_lines(make_lab("ev"), users["office"], status="approved")
    return services.open_evaluation(users["office"], budget)


def upload(name, content, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def post_evidence(client, evaluation, name, content, content_type="application/octet-stream"):
    return client.post(
        f"/funding/{evaluation.budget_id}/evaluation/evidence/",
        {"file": upload(name, content, content_type), "description": "inspection minutes"},
        follow=True,
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("minutes.pdf", PDF),
        ("figures.xlsx", write_xlsx(["a"], [["1"]])),
        ("photo.png", PNG),
    ],
)
def test_the_lab_manager_attaches_pdf_xlsx_and_image_evidence(evaluation, name, content):
    manager = manager_of(evaluation.budget.laboratory)
    response = post_evidence(verified_client(manager), evaluation, name, content)
    assert "Evidence attached." in response.content.decode()
    item = EvidenceFile.objects.get(evaluation=evaluation)
    assert (item.name, item.size, item.uploaded_by) == (name, len(content), manager)
    with item.file.open("rb") as fh:
        assert fh.read() == content


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("report.pdf", b"<html><script>alert(1)</script></html>"),
        ("tool.pdf", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("notes.txt", b"plain text is not evidence"),
    ],
)
def test_a_file_that_is_not_pdf_xlsx_or_an_image_by_its_content_is_refused(evaluation, name, content):
    client = verified_client(manager_of(evaluation.budget.laboratory))
    response = post_evidence(client, evaluation, name, content, "application/pdf")
    assert "is not an accepted type" in response.content.decode()
    assert not EvidenceFile.objects.exists()


def test_a_file_over_the_size_limit_is_refused(evaluation, users, monkeypatch):
    monkeypatch.setattr(services, "EVIDENCE_MAX_BYTES", 20)
    with pytest.raises(ValidationError, match="too large"):
        services.attach_evidence(users["office"], evaluation, upload("big.pdf", PDF))
    assert not EvidenceFile.objects.exists()


def test_no_evidence_is_added_once_the_self_evaluation_is_submitted(evaluation, users):
    services.record_actuals(
        users["office"], evaluation, {i.pk: i.target for i in evaluation.budget.indicators.all()}, ""
    )
    services.move_evaluation(users["office"], evaluation, "submit")
    with pytest.raises(ValidationError):
        services.attach_evidence(users["office"], evaluation, upload("late.pdf", PDF))


def test_another_labs_manager_cannot_attach_evidence(evaluation):
    with pytest.raises(PermissionDenied):
        services.attach_evidence(manager_of(make_lab("x")), evaluation, upload("a.pdf", PDF))


def test_evidence_is_served_as_a_hardened_download_to_the_manager_office_and_assigned_expert(
    evaluation, users
):
    item = services.attach_evidence(users["office"], evaluation, upload("minutes.pdf", PDF))
    expert = make_user("expert")
    services.assign_evaluation_experts(users["office"], evaluation, [expert])
    for reader in (manager_of(evaluation.budget.laboratory), users["office"], expert):
        response = verified_client(reader).get(item.get_absolute_url())
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == PDF
        close_quietly(response)
        assert response["Content-Disposition"].startswith("attachment")
        assert response["X-Content-Type-Options"] == "nosniff"
    assert Notification.objects.filter(recipient=expert, verb="evaluation_review_assigned").exists()
    review_page = verified_client(expert).get("/funding/reviews/").content.decode()
    assert item.get_absolute_url() in review_page


def test_everyone_else_gets_404_even_those_who_see_the_self_evaluation(evaluation, users):
    item = services.attach_evidence(users["office"], evaluation, upload("minutes.pdf", PDF))
    authority = users["authority"]  # Jiangsu: sees the lab's self-evaluation, not its evidence
    assert verified_client(authority).get(f"/funding/{evaluation.budget_id}/evaluation/").status_code == 200
    outsiders = (
        authority,
        users["committee"],
        make_user("expert"),  # not assigned
        manager_of(make_lab("y")),
        users["client"],
    )
    for outsider in outsiders:
        assert verified_client(outsider).get(item.get_absolute_url()).status_code == 404


def test_unassigning_an_expert_takes_the_evidence_away(evaluation, users):
    item = services.attach_evidence(users["office"], evaluation, upload("minutes.pdf", PDF))
    expert = make_user("expert")
    services.assign_evaluation_experts(users["office"], evaluation, [expert])
    services.assign_evaluation_experts(users["office"], evaluation, [])
    assert verified_client(expert).get(item.get_absolute_url()).status_code == 404


def test_only_experts_are_assigned_and_only_by_the_office(evaluation, users):
    with pytest.raises(ValidationError):
        services.assign_evaluation_experts(users["office"], evaluation, [users["client"]])
    with pytest.raises(PermissionDenied):
        services.assign_evaluation_experts(users["committee"], evaluation, [make_user("expert")])


def _put_experts(user, evaluation, experts):
    from qslab.accounts.models import ApiToken

    token = ApiToken.issue(user, "test")[1]
    return verified_client(None).put(
        f"/api/funding/budgets/{evaluation.budget_id}/evaluation/experts",
        {"experts": experts},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_office_assigns_experts_through_the_api_like_the_page(evaluation, users):
    item = services.attach_evidence(users["office"], evaluation, upload("minutes.pdf", PDF))
    expert = make_user("expert")
    response = _put_experts(users["office"], evaluation, [expert.username])
    assert response.status_code == 200 and response.json()["experts"] == [expert.username]
    assert Notification.objects.filter(recipient=expert, verb="evaluation_review_assigned").exists()
    download = verified_client(expert).get(item.get_absolute_url())
    assert download.status_code == 200
    close_quietly(download)
    assert _put_experts(users["office"], evaluation, []).json()["experts"] == []
    assert verified_client(expert).get(item.get_absolute_url()).status_code == 404


def test_the_api_names_unknown_users_and_non_experts_and_refuses_others(evaluation, users):
    unknown = _put_experts(users["office"], evaluation, ["nobody-here"])
    assert unknown.status_code == 422 and "nobody-here" in str(unknown.json()["errors"])
    client = _put_experts(users["office"], evaluation, [users["client"].username])
    assert client.status_code == 422 and "Not experts" in str(client.json()["errors"])
    for role in ("committee", "lab_manager", "expert"):
        assert _put_experts(users[role], evaluation, [users["expert"].username]).status_code == 403
    assert not evaluation.experts.exists()
