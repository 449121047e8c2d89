"""The office verifies the standards a laboratory claims: claimed -> verified, or rejected with a reason
the laboratory sees; every step audited; a change after verification sends the claim back; the public
sees published standards only once verified."""

import pytest
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.core.workflow import TransitionRefused
from qslab.outputs import services
from qslab.outputs.models import Standard
from qslab.outputs.tests.conftest import TO_PUBLISHED, walk


def test_only_the_office_verifies_and_a_rejection_needs_a_reason_the_lab_can_read(world):
    manager, office = world.users["lab_manager"], world.users["office"]
    std = world.unverified
    with pytest.raises(TransitionRefused):
        services.verify_standard(manager, std, "verify")
    with pytest.raises(TransitionRefused, match="needs a reason"):
        services.verify_standard(office, std, "reject")
    std = services.verify_standard(office, std, "reject", "the publication notice is missing")
    assert std.verification == "rejected" and std.verification_note == "the publication notice is missing"
    page = verified_client(manager).get(std.get_absolute_url()).content.decode()
    assert "the publication notice is missing" in page
    std = services.verify_standard(manager, std, "resubmit")
    std = services.verify_standard(office, std, "verify")
    assert (std.verification, std.verified_by) == ("verified", office) and std.verified_on is not None
    steps = ChangeRecord.objects.filter(
        object_id=str(std.pk), transition__in=("reject", "resubmit", "verify")
    )
    assert [(c.transition, c.from_state, c.to_state) for c in steps.order_by("pk")] == [
        ("reject", "claimed", "rejected"),
        ("resubmit", "rejected", "claimed"),
        ("verify", "claimed", "verified"),
    ]


def test_the_public_sees_a_published_standard_once_the_office_has_verified_it(world, clients):
    assert world.unverified not in set(Standard.objects.visible_to(None))
    services.verify_standard(world.users["office"], world.unverified, "verify")
    assert world.unverified in set(Standard.objects.visible_to(None))
    text = clients["anonymous"].get(f"/outputs/labs/{world.lab.pk}/achievements/").content.decode()
    assert "T/CAQI 2-2025" in text


def test_a_change_of_what_was_verified_sends_the_claim_back_to_the_office(world):
    manager, office = world.users["lab_manager"], world.users["office"]
    std = services.record_standard(
        manager, world.lab, {"level": "group", "title_zh": "团体标准", "role": "lead"}
    )
    std = services.verify_standard(office, std, "verify")
    std = services.edit_standard(manager, std, {"notes": "minutes of the kick-off meeting"})
    assert std.verification == "verified"  # notes are not part of the claim
    std = services.edit_standard(manager, std, {"role": "participant"})
    assert std.verification == "claimed"
    amend = ChangeRecord.objects.filter(object_id=str(std.pk), transition="amend").get()
    assert "role" in amend.reason and amend.user == manager
    std = services.verify_standard(office, std, "verify")
    std = walk(std, manager, *TO_PUBLISHED[:-1])
    assert std.verification == "verified"
    services.edit_standard(manager, std, {"number": "T/CAQI 77-2026"})
    std.refresh_from_db()
    std = services.verify_standard(office, std, "verify")
    std = walk(std, manager, "publish")
    assert std.stage == "published" and std.verification == "claimed"


def test_the_figures_count_verified_publications_and_claims_awaiting_verification(world):
    figures = services.lab_figures(world.lab, 2026)
    assert (figures["standards_published"], figures["standards_published_verified"]) == (1, 1)
    figures = services.lab_figures(world.lab, 2025)
    assert (figures["standards_published"], figures["standards_published_verified"]) == (1, 0)
    assert figures["standard_claims_awaiting_verification"] == 2  # the proposal and the unverified one


def test_the_office_verifies_on_the_standards_page(world):
    office = verified_client(world.users["office"])
    url = reverse("outputs:standard_verification", args=[world.unverified.pk, "verify"])
    assert office.post(url).status_code == 302
    world.unverified.refresh_from_db()
    assert world.unverified.verification == "verified"
