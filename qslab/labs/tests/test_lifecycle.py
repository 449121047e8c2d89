"""The laboratory lifecycle: who may take each step, from which state, with which reason and document."""

import pytest
from django.core.exceptions import PermissionDenied

from qslab.core.models import ChangeRecord, Deadline, OfficialDocument
from qslab.core.testing import make_user, verified_client
from qslab.core.workflow import TransitionRefused
from qslab.labs import services
from qslab.labs.tests.conftest import make_lab


@pytest.fixture
def office(db):
    return make_user("office")


def test_office_approves_construction_and_a_numbered_public_document_is_issued(office):
    lab = make_lab("alpha", status="proposed")
    services.move_laboratory(office, lab, "approve_construction", "ok")
    assert lab.status == "under_construction"
    doc = OfficialDocument.objects.get(object_id=str(lab.pk), kind__code="lab_construction")
    assert doc.number.startswith("国质标实建〔") and doc.is_public
    assert lab.last_document_id == doc.pk
    record = ChangeRecord.objects.get(object_id=str(lab.pk), action="transition")
    assert (record.from_state, record.to_state, record.user_id) == (
        "proposed",
        "under_construction",
        office.pk,
    )


def test_designation_sets_the_named_date_and_issues_the_designation_decision(office):
    lab = make_lab("beta", status="acceptance")
    services.move_laboratory(office, lab, "designate")
    assert lab.status == "named" and lab.named_on is not None
    assert OfficialDocument.objects.filter(object_id=str(lab.pk), kind__code="designation").exists()


def test_a_lab_manager_may_not_name_their_own_laboratory(manager_of):
    lab = make_lab("gamma", status="acceptance")
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(manager_of(lab), lab, "designate")
    assert refused.value.code == TransitionRefused.FORBIDDEN
    lab.refresh_from_db()
    assert lab.status == "acceptance"


def test_a_lab_manager_requests_acceptance_of_their_own_lab_but_not_of_another(manager_of):
    own, other = make_lab("own1", status="under_construction"), make_lab("oth1", status="under_construction")
    manager = manager_of(own)
    services.move_laboratory(manager, own, "request_acceptance")
    assert own.status == "acceptance"
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(manager, other, "request_acceptance")
    assert refused.value.code == TransitionRefused.FORBIDDEN


def test_a_step_from_the_wrong_state_is_refused(office):
    lab = make_lab("delta", status="proposed")
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(office, lab, "designate")
    assert refused.value.code == TransitionRefused.WRONG_STATE
    assert not OfficialDocument.objects.filter(object_id=str(lab.pk)).exists()


def test_a_rectification_order_needs_a_reason_and_goes_privately_to_the_labs_managers(office, manager_of):
    lab = make_lab("eps")
    manager = manager_of(lab)
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(office, lab, "order_rectification", "  ")
    assert refused.value.code == TransitionRefused.REASON_REQUIRED
    services.move_laboratory(office, lab, "order_rectification", "Calibration records incomplete.")
    doc = OfficialDocument.objects.get(object_id=str(lab.pk), kind__code="rectification")
    assert not doc.is_public
    assert list(doc.recipients.values_list("user_id", flat=True)) == [manager.pk]
    assert OfficialDocument.objects.visible_to(manager).filter(pk=doc.pk).exists()
    assert not OfficialDocument.objects.visible_to(None).filter(pk=doc.pk).exists()
    deadline = Deadline.objects.get(object_id=str(lab.pk), done_at__isnull=True)
    assert deadline.assignee_id == manager.pk


def test_acceptance_is_refused_while_the_record_lacks_a_director(manager_of):
    lab = make_lab("zeta", status="under_construction", director_name="")
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(manager_of(lab), lab, "request_acceptance")
    assert refused.value.code == TransitionRefused.GUARD
    assert "director" in str(refused.value)


def test_merging_needs_the_target_and_issues_the_merger_decision(office):
    lab, into = make_lab("eta"), make_lab("theta")
    with pytest.raises(TransitionRefused) as refused:
        services.move_laboratory(office, lab, "merge", "consolidation")
    assert refused.value.code == TransitionRefused.GUARD
    services.merge_laboratory(office, lab, into, "consolidation")
    assert (lab.status, lab.merged_into_id) == ("merged", into.pk)
    doc = OfficialDocument.objects.get(object_id=str(lab.pk), kind__code="lab_merger")
    assert into.name_zh in doc.title_zh


def test_revoked_is_final(office):
    lab = make_lab("iota", status="suspended")
    services.move_laboratory(office, lab, "revoke", "no improvement")
    assert services.available_actions(lab, office) == []


def test_the_status_cannot_be_edited_even_by_the_office(office):
    lab = make_lab("kappa")
    with pytest.raises(PermissionDenied):
        services.edit_laboratory(office, lab, {"status": "revoked"})


def test_the_transition_page_refuses_a_wrong_role_with_403_and_reports_a_missing_reason(office, manager_of):
    lab = make_lab("lam")
    response = verified_client(manager_of(lab)).post(f"/labs/{lab.pk}/act/revoke/", {"reason": "x"})
    assert response.status_code == 403
    response = verified_client(office).post(f"/labs/{lab.pk}/act/revoke/", {"reason": ""}, follow=True)
    assert "needs a reason" in response.content.decode()
    lab.refresh_from_db()
    assert lab.status == "named"


def test_the_api_answers_409_for_a_wrong_state_and_403_for_a_wrong_role(office, manager_of):
    from qslab.accounts.models import ApiToken

    lab = make_lab("mu", status="proposed")
    _t, office_token = ApiToken.issue(office, "t")
    _t, manager_token = ApiToken.issue(manager_of(lab), "t")
    client = verified_client(None)
    url = f"/api/labs/laboratories/{lab.pk}/transitions/designate"
    r = client.post(
        url, {}, content_type="application/json", headers={"Authorization": f"Bearer {office_token}"}
    )
    assert r.status_code == 409 and r.json()["code"] == "wrong_state"
    r = client.post(
        url, {}, content_type="application/json", headers={"Authorization": f"Bearer {manager_token}"}
    )
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
