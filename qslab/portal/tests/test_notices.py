"""The office drafts, a committee member approves, the public reads; refusals explain themselves."""

from qslab.portal.models import Notice


def test_office_drafts_a_notice_through_the_form(clients):
    response = clients["office"].post(
        "/notices/new/", {"title_zh": "标题", "title_en": "Title", "body_zh": "正文", "body_en": "Body"}
    )
    notice = Notice.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/notices/{notice.pk}/"
    assert notice.status == "draft"


def test_a_form_error_is_shown_next_to_its_field(clients):
    response = clients["office"].post("/notices/new/", {"title_zh": "", "title_en": "Title"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_title_zh_error"' in html and not Notice.objects.exists()


def test_full_path_from_draft_to_public_with_a_numbered_document(clients, world):
    office, committee = clients["office"], clients["committee"]
    office.post(f"/notices/{world.draft.pk}/submit/")
    committee.post(f"/notices/{world.draft.pk}/publish/")
    world.draft.refresh_from_db()
    assert world.draft.status == "published" and world.draft.document.number
    public = clients["anonymous"].get(f"/notices/{world.draft.pk}/")
    assert public.status_code == 200 and world.draft.document.number in public.content.decode()


def test_a_wrong_state_action_is_refused_with_a_message_and_nothing_changes(clients, world):
    response = clients["committee"].post(f"/notices/{world.draft.pk}/publish/", follow=True)
    world.draft.refresh_from_db()
    assert world.draft.status == "draft"
    assert "not possible while the record is" in response.content.decode()


def test_a_wrong_role_gets_403_and_nothing_changes(clients, world):
    response = clients["expert"].post(f"/notices/{world.published.pk}/withdraw/", {"reason": "no"})
    world.published.refresh_from_db()
    assert response.status_code == 403 and world.published.status == "published"


def test_the_api_refuses_a_wrong_state_transition_with_409_and_the_error_shape(world):
    from django.test import Client

    response = Client().post(
        f"/api/portal/notices/{world.draft.pk}/transitions/publish",
        data={"reason": ""},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.tokens['committee']}"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "wrong_state" and "draft" in response.json()["detail"]


def test_withdrawing_needs_a_reason_and_unpublishes_the_document(clients, world):
    refused = clients["office"].post(f"/notices/{world.published.pk}/withdraw/", {"reason": ""}, follow=True)
    assert "needs a reason" in refused.content.decode()
    clients["office"].post(f"/notices/{world.published.pk}/withdraw/", {"reason": "superseded"})
    world.published.refresh_from_db()
    world.document.refresh_from_db()
    assert world.published.status == "withdrawn" and not world.document.is_public


def test_the_public_sees_only_published_notices(clients, world):
    html = clients["anonymous"].get("/notices/").content.decode()
    assert "Published" in html and "In review" not in html and ">Draft<" not in html


def test_search_finds_public_documents_by_number_but_not_internal_ones(clients, world):
    public = clients["anonymous"].get("/search/", {"q": "测试〔2026〕"}).content.decode()
    assert world.document.number in public and world.private_document.number not in public
    office = clients["office"].get("/search/", {"q": "测试〔2026〕"}).content.decode()
    assert world.private_document.number in office


def test_an_absurd_page_offset_is_refused_with_422_not_a_server_error(client, db):
    response = client.get("/api/portal/notices", {"offset": 10**22})
    assert response.status_code == 422 and response.json()["code"] == "invalid"
