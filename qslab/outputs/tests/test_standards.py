"""Standards work: a lab records a standard and walks it through the drafting lifecycle; the wrong
person or the wrong state is refused; numbers are parsed and duplicates named."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.models import ChangeRecord
from qslab.core.workflow import TransitionRefused
from qslab.outputs import services
from qslab.outputs.models import Standard
from qslab.outputs.tests.conftest import TO_PUBLISHED, walk


def test_a_lab_manager_takes_a_group_standard_from_proposal_to_publication(world):
    manager = world.users["lab_manager"]
    std = services.record_standard(
        manager,
        world.lab,
        {"title_zh": "智能检测装置校准规范", "title_en": "Calibration", "role": "lead", "level": "group"},
    )
    assert std.stage == "proposal" and std.proposed_on == dt.date.today()
    std = walk(std, manager, *TO_PUBLISHED[:-1])
    assert std.stage == "approved"
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(manager, std, "publish")
    assert exc.value.code == TransitionRefused.GUARD
    assert str(exc.value) == "A standard is published with its number: enter the standard number first."
    services.edit_standard(manager, std, {"number": "t/caqi 77—2026"})
    std = services.move_standard(manager, std, "publish")
    assert (std.stage, std.number, std.level, std.nature, std.issuer) == (
        "published",
        "T/CAQI 77-2026",
        "group",
        "recommended",
        "CAQI",
    )
    assert std.published_on == dt.date.today()
    moves = ChangeRecord.objects.filter(action="transition", object_id=str(std.pk)).order_by("pk")
    assert [m.transition for m in moves] == list(TO_PUBLISHED)
    assert all(m.user_id == manager.pk for m in moves)
    assert std not in services.published_standards(world.lab)  # public once the office has verified it
    services.verify_standard(world.users["office"], std, "verify")
    assert std in services.published_standards(world.lab)


def test_the_number_decides_the_level_and_a_bad_number_is_refused_by_field(world):
    with pytest.raises(ValidationError) as exc:
        services.record_standard(
            world.users["office"], world.lab, {"number": "GB/T 12345", "title_zh": "x", "role": "lead"}
        )
    assert exc.value.message_dict == {"number": ['The year is missing: write it as in "GB/T 12345-2026".']}
    std = services.record_standard(
        world.users["office"],
        world.lab,
        {"number": "GB 4706.1-2005", "title_zh": "x", "role": "participant", "level": "group"},
    )
    assert (std.level, std.nature) == ("national", "mandatory")


def test_a_standard_without_number_needs_a_level_and_a_role(world):
    with pytest.raises(ValidationError) as exc:
        services.record_standard(world.users["office"], world.lab, {"title_zh": "", "role": "boss"})
    assert exc.value.message_dict == {
        "title_zh": ["The Chinese title is required."],
        "role": ["The role must be “lead” or “participant”."],
        "level": ["Choose the level, or enter the standard number."],
    }


def test_the_same_number_twice_in_a_lab_is_refused_with_the_existing_record_named(world):
    office = world.users["office"]
    with pytest.raises(ValidationError) as exc:
        services.record_standard(
            office, world.lab, {"number": "T/CAQI 1-2026", "title_zh": "重复", "role": "participant"}
        )
    assert exc.value.message_dict["number"] == [
        f"This standard is already recorded: “已发布标准” (own, record {world.published.pk})."
    ]


def test_only_one_laboratory_leads_a_standard_but_others_may_join_it(world):
    office = world.users["office"]
    with pytest.raises(ValidationError) as exc:
        services.record_standard(
            office, world.other_lab, {"number": "T/CAQI 1-2026", "title_zh": "x", "role": "lead"}
        )
    assert exc.value.message_dict["role"] == [
        f"Another laboratory already leads this standard: “已发布标准” (own, record {world.published.pk})."
    ]
    joined = services.record_standard(
        office, world.other_lab, {"number": "T/CAQI 1-2026", "title_zh": "x", "role": "participant"}
    )
    assert joined.laboratory == world.other_lab


def test_a_lab_manager_cannot_add_a_standard_to_another_lab(world):
    before = Standard.objects.count()
    with pytest.raises(PermissionDenied):
        services.record_standard(
            world.users["lab_manager"], world.other_lab, {"title_zh": "x", "role": "lead", "level": "group"}
        )
    assert Standard.objects.count() == before


def test_the_create_page_offers_only_the_managers_own_lab(world, clients):
    response = clients["lab_manager"].post(
        "/outputs/standards/new/",
        {"laboratory": world.other_lab.pk, "title_zh": "x", "role": "lead", "level": "group"},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Standard.objects.filter(laboratory=world.other_lab, title_zh="x").exists()


@pytest.mark.parametrize("role", ["client", "expert", "committee", "authority", "analyst"])
def test_roles_other_than_the_labs_manager_and_the_office_may_not_move_a_standard(world, role):
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(world.users[role], world.proposal, "approve_project")
    assert exc.value.code == TransitionRefused.FORBIDDEN
    world.proposal.refresh_from_db()
    assert world.proposal.stage == "proposal"


def test_the_manager_of_another_lab_may_not_move_its_standards(world, manager_of):
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(manager_of(world.other_lab), world.proposal, "approve_project")
    assert exc.value.code == TransitionRefused.FORBIDDEN


def test_a_step_out_of_order_is_refused(world):
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(world.users["lab_manager"], world.proposal, "publish")
    assert exc.value.code == TransitionRefused.WRONG_STATE
    assert str(exc.value) == "“record publication” is not possible while the record is “proposal”."


def test_sending_back_revising_and_withdrawing_need_a_reason(world):
    manager = world.users["lab_manager"]
    std = walk(world.proposal, manager, "approve_project", "start_drafting", "circulate")
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(manager, std, "send_back")
    assert exc.value.code == TransitionRefused.REASON_REQUIRED
    std = services.move_standard(manager, std, "send_back", reason="comments need a new draft")
    assert std.stage == "working_draft"
    with pytest.raises(TransitionRefused):
        services.move_standard(manager, world.published, "revise")
    revised = services.move_standard(
        manager, world.published, "revise", reason="replaced by the 2027 edition"
    )
    assert revised.stage == "revised" and revised.revised_on == dt.date.today()
    with pytest.raises(TransitionRefused) as exc:
        services.move_standard(manager, revised, "withdraw", reason="x")
    assert exc.value.code == TransitionRefused.WRONG_STATE


def test_a_stage_date_may_be_given_but_not_in_the_future_nor_before_the_previous_stage(world):
    office = world.users["office"]
    std = world.proposal
    std.proposed_on = dt.date(2025, 1, 10)
    std.save(update_fields=["proposed_on"])
    std = services.move_standard(office, std, "approve_project", on=dt.date(2025, 3, 1))
    assert std.project_approved_on == dt.date(2025, 3, 1)
    with pytest.raises(ValidationError) as exc:
        services.move_standard(office, std, "start_drafting", on=dt.date(2025, 2, 1))
    assert exc.value.message_dict == {"on": ["The date cannot be before the previous stage (2025-03-01)."]}
    std.refresh_from_db()
    assert std.stage == "project"  # the whole step rolled back
    with pytest.raises(ValidationError):
        services.move_standard(office, std, "start_drafting", on=dt.date.today() + dt.timedelta(days=1))


def test_the_public_sees_published_standards_only(world):
    visible = set(Standard.objects.visible_to(None))
    assert world.published in visible and world.proposal not in visible


def test_a_lab_manager_sees_the_own_labs_work_in_progress_but_not_another_labs(world):
    visible = set(Standard.objects.visible_to(world.users["lab_manager"]))
    assert world.proposal in visible and world.other_proposal not in visible


def test_a_withdrawn_standard_can_no_longer_be_edited_by_the_lab(world):
    manager = world.users["lab_manager"]
    std = services.move_standard(manager, world.proposal, "withdraw", reason="merged into another project")
    with pytest.raises(PermissionDenied):
        services.edit_standard(manager, std, {"title_en": "x"})


def test_the_transition_page_shows_the_refusal_and_changes_nothing(world, clients):
    response = clients["lab_manager"].post(f"/outputs/standards/{world.proposal.pk}/publish/", follow=True)
    assert "is not possible while the record is" in response.content.decode()
    world.proposal.refresh_from_db()
    assert world.proposal.stage == "proposal"


def test_a_supporting_study_is_linked_by_a_loose_reference_and_unlinked(world):
    manager = world.users["lab_manager"]
    study = world.document  # any row stands in for a study of the studies app
    std = services.link_study(manager, world.proposal, study)
    std.refresh_from_db()
    assert std.study == study
    assert services.link_study(manager, std, None).study_id == ""
    with pytest.raises(PermissionDenied):
        services.link_study(manager, world.other_proposal, study)


def test_the_form_checks_the_number_as_it_is_typed(client, db):
    ok = client.get("/outputs/standards/check-number/", {"number": "db11/t 1234-2020"}).content.decode()
    assert "DB11/T 1234-2020: local" in ok
    bad = client.get("/outputs/standards/check-number/", {"number": "GB/T 12345:2026"}).content.decode()
    assert "A Chinese standard number separates the year with a hyphen, not a colon." in bad
