"""The office publishes an issued, non-public document on the portal, with a reason; audited, once."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from qslab.core.documents import publish_document
from qslab.core.models import ChangeRecord, OfficialDocument


def _public_numbers(client):
    return client.get(reverse("portal:documents")).content.decode()


def test_the_public_sees_a_document_only_after_the_office_publishes_it(world, users, clients):
    doc = world.private_document
    assert doc.number not in _public_numbers(clients["anonymous"])
    assert clients["anonymous"].get(reverse("core:document", args=[doc.pk])).status_code == 404

    response = clients["office"].post(
        reverse("core:document_publish", args=[doc.pk]), {"reason": "the committee decided to publish"}
    )
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.is_public and doc.published_at is not None
    assert doc.number in _public_numbers(clients["anonymous"])
    assert clients["anonymous"].get(reverse("core:document", args=[doc.pk])).status_code == 200
    record = ChangeRecord.objects.get(object_id=str(doc.pk), action=ChangeRecord.Action.UPDATE)
    assert record.user == users["office"] and record.reason == "the committee decided to publish"
    assert record.before == {"is_public": False, "published_at": None}
    assert record.after["is_public"] is True


def test_publishing_needs_a_reason_and_happens_once(world, users):
    doc = world.private_document
    with pytest.raises(ValidationError, match="why"):
        publish_document(doc, users["office"], "  ")
    assert not OfficialDocument.objects.get(pk=doc.pk).is_public
    publish_document(doc, users["office"], "policy")
    with pytest.raises(ValidationError, match="already public"):
        publish_document(doc, users["office"], "again")
    assert ChangeRecord.objects.filter(object_id=str(doc.pk), action="update").count() == 1


@pytest.mark.parametrize("role", ["committee", "lab_manager", "analyst", "expert"])
def test_only_the_office_publishes(world, users, role):
    with pytest.raises(PermissionDenied):
        publish_document(world.private_document, users[role], "I think so")
    assert not OfficialDocument.objects.get(pk=world.private_document.pk).is_public


def test_api_publishes_with_a_reason_and_refuses_twice_and_others(world, clients):
    doc = world.private_document
    url = f"/api/platform/documents/{doc.pk}/publish"
    office = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['office']}"}
    committee = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['committee']}"}
    lab = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['lab_manager']}"}
    assert (
        clients["anonymous"]
        .post(url, {"reason": "x"}, content_type="application/json", **committee)
        .status_code
        == 403
    )
    assert (
        clients["anonymous"].post(url, {"reason": "x"}, content_type="application/json", **lab).status_code
        == 404
    )
    missing = clients["anonymous"].post(url, {}, content_type="application/json", **office)
    assert missing.status_code == 422
    ok = clients["anonymous"].post(url, {"reason": "policy"}, content_type="application/json", **office)
    assert ok.status_code == 200 and ok.json()["is_public"] is True
    again = clients["anonymous"].post(url, {"reason": "policy"}, content_type="application/json", **office)
    assert again.status_code == 422 and "already public" in str(again.json()["errors"])
    # now anyone reads it through the API too
    assert clients["anonymous"].get(f"/api/platform/documents/{doc.pk}", **lab).status_code == 200


def test_the_publish_form_shows_for_the_office_on_a_non_public_document_only(world, clients):
    page = clients["office"].get(reverse("core:document", args=[world.private_document.pk])).content.decode()
    assert 'id="publish-document"' in page
    public = clients["office"].get(reverse("core:document", args=[world.document.pk])).content.decode()
    assert 'id="publish-document"' not in public
    committee = clients["committee"].get(reverse("core:document", args=[world.private_document.pk]))
    assert 'id="publish-document"' not in committee.content.decode()
