"""Who may open each page and API operation of the outputs app. The role user ``lab_manager`` manages
``w.lab`` only; the ``authority`` covers Jiangsu (320000), where ``w.lab`` is; ``w.other_lab`` is in
Zhejiang."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.testing import EVERYONE, Case, check_access, matrix, own_and_other

OFFICE = {"office"}
OWN = {"office", "lab_manager"}
READERS = {"office", "committee", "authority", "lab_manager"}
CENTRAL = {"office", "committee"}

LAB = lambda w: {"lab_id": w.lab.pk}  # noqa: E731
OTHER_LAB = lambda w: {"lab_id": w.other_lab.pk}  # noqa: E731
PROPOSAL = lambda w: {"standard_id": w.proposal.pk}  # noqa: E731
OTHER_PROPOSAL = lambda w: {"standard_id": w.other_proposal.pk}  # noqa: E731
PUBLISHED = lambda w: {"standard_id": w.published.pk}  # noqa: E731
UNVERIFIED = lambda w: {"standard_id": w.unverified.pk}  # noqa: E731
CLAIMED = lambda w: {"output_id": w.claimed.pk}  # noqa: E731
VERIFIED = lambda w: {"output_id": w.verified.pk}  # noqa: E731
OTHER_CLAIMED = lambda w: {"output_id": w.other_claimed.pk}  # noqa: E731


def _file(w):  # type: ignore[no-untyped-def]
    return {"file": SimpleUploadedFile("evidence.pdf", b"%PDF-1.4\n%evidence\n", "application/pdf")}


CSV = "laboratory,kind,title_zh,year\nown,trainee,培训,2026\n"
STANDARDS_CSV = "laboratory,title_zh,role,level\nown,导入的提案,lead,group\n"
CSV_ROW = "laboratory,kind,title_zh,year,people\nown,trainee,培训,2026,王五\n"

CASES = [
    Case("outputs:index", EVERYONE),
    Case("outputs:index", EVERYONE, note="filtered", query="lab=own&kind=paper&status=verified"),
    Case("outputs:standard", EVERYONE, note="published", kwargs=PUBLISHED),
    Case("outputs:standard", READERS, note="proposal", kwargs=PROPOSAL),
    Case("outputs:standard", READERS, note="published, not verified yet", kwargs=UNVERIFIED),
    Case(
        "outputs:standard_verification",
        OFFICE,
        method="post",
        note="verify",
        kwargs=lambda w: {"standard_id": w.unverified.pk, "transition": "verify"},
    ),
    Case(
        "outputs:standard_verification",
        OFFICE,
        method="post",
        note="reject",
        kwargs=lambda w: {"standard_id": w.unverified.pk, "transition": "reject"},
        data={"reason": "no publication notice attached"},
    ),
    Case("outputs:standard", CENTRAL, note="another lab's proposal", kwargs=OTHER_PROPOSAL),
    Case("outputs:number_check", EVERYONE, query="number=GB%2FT%2012345-2026"),
    Case("outputs:standard_create", OWN),
    Case(
        "outputs:standard_create",
        OWN,
        method="post",
        note="own lab",
        data=lambda w: {
            "laboratory": w.lab.pk,
            "number": "GB/T 40001-2026",
            "title_zh": "新标准",
            "role": "lead",
        },
    ),
    *own_and_other("outputs:standard_edit", OFFICE, own=PROPOSAL, other=OTHER_PROPOSAL),
    *own_and_other(
        "outputs:standard_transition",
        OFFICE,
        method="post",
        own_note="approve project",
        own=lambda w: {"standard_id": w.proposal.pk, "transition": "approve_project"},
        other=lambda w: {"standard_id": w.other_proposal.pk, "transition": "approve_project"},
    ),
    *own_and_other(
        "outputs:standard_evidence", OFFICE, method="post", own=PROPOSAL, other=OTHER_PROPOSAL, data=_file
    ),
    Case(
        "outputs:standard_evidence_file",
        EVERYONE,
        note="published",
        kwargs=lambda w: {"standard_id": w.published.pk, "attachment_id": w.published_evidence.pk},
    ),
    Case(
        "outputs:standard_evidence_file",
        READERS,
        note="proposal",
        kwargs=lambda w: {"standard_id": w.proposal.pk, "attachment_id": w.proposal_evidence.pk},
    ),
    Case(
        "outputs:standard_evidence_file",
        (),
        note="a proposal's file asked for under the published standard",
        kwargs=lambda w: {"standard_id": w.published.pk, "attachment_id": w.proposal_evidence.pk},
    ),
    Case("outputs:output", EVERYONE, note="verified", kwargs=VERIFIED),
    Case(
        "outputs:output_evidence_file",
        EVERYONE,
        note="verified",
        kwargs=lambda w: {"output_id": w.verified.pk, "attachment_id": w.verified_evidence.pk},
    ),
    Case(
        "outputs:output_evidence_file",
        READERS,
        note="claimed",
        kwargs=lambda w: {"output_id": w.claimed.pk, "attachment_id": w.claimed_evidence.pk},
    ),
    Case(
        "outputs:output_evidence_file",
        (),
        note="a claim's file asked for under the verified output",
        kwargs=lambda w: {"output_id": w.verified.pk, "attachment_id": w.claimed_evidence.pk},
    ),
    Case("outputs:output", READERS, note="claimed", kwargs=CLAIMED),
    Case("outputs:output", CENTRAL, note="another lab's claim", kwargs=OTHER_CLAIMED),
    Case("outputs:output_create", OWN),
    Case(
        "outputs:output_create",
        OWN,
        method="post",
        note="own lab",
        data=lambda w: {"laboratory": w.lab.pk, "kind": "equipment", "title_zh": "新装置", "year": 2026},
    ),
    Case("outputs:output_edit", OWN, kwargs=CLAIMED),
    Case("outputs:output_edit", OFFICE, note="verified: locked for the lab", kwargs=VERIFIED),
    Case("outputs:output_edit", OFFICE, note="another lab", kwargs=OTHER_CLAIMED),
    Case(
        "outputs:output_transition",
        OFFICE,
        method="post",
        note="verify",
        kwargs=lambda w: {"output_id": w.claimed.pk, "transition": "verify"},
    ),
    Case(
        "outputs:output_transition",
        OWN,
        method="post",
        note="claim again",
        kwargs=lambda w: {"output_id": w.rejected.pk, "transition": "resubmit"},
    ),
    *own_and_other(
        "outputs:output_evidence", OFFICE, method="post", own=CLAIMED, other=OTHER_CLAIMED, data=_file
    ),
    Case("outputs:import", OWN),
    Case("outputs:figures", READERS, kwargs=LAB, query="year=2026"),
    Case("outputs:figures", CENTRAL, note="another lab", kwargs=OTHER_LAB),
    Case("outputs:achievements", EVERYONE, kwargs=LAB),
    # API
    Case("qslab_outputs_api_list_standards", EVERYONE, api=True, query="laboratory=own"),
    Case("qslab_outputs_api_get_standard", EVERYONE, api=True, note="published", kwargs=PUBLISHED),
    Case("qslab_outputs_api_get_standard", READERS, api=True, note="proposal", kwargs=PROPOSAL),
    Case(
        "qslab_outputs_api_create_standard",
        OWN,
        method="post",
        api=True,
        data=lambda w: {
            "laboratory_id": w.lab.pk,
            "number": "GB/T 40002-2026",
            "title_zh": "标准",
            "role": "lead",
        },
    ),
    Case(
        "qslab_outputs_api_create_standard",
        OFFICE,
        method="post",
        api=True,
        note="another lab",
        data=lambda w: {
            "laboratory_id": w.other_lab.pk,
            "title_zh": "标准",
            "role": "lead",
            "level": "group",
        },
    ),
    Case(
        "qslab_outputs_api_update_standard",
        OWN,
        method="patch",
        api=True,
        kwargs=PROPOSAL,
        data={"title_en": "Proposed standard"},
    ),
    Case(
        "qslab_outputs_api_move_standard",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"standard_id": w.proposal.pk, "transition": "approve_project"},
        data={},
    ),
    Case(
        "qslab_outputs_api_verify_standard",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"standard_id": w.unverified.pk, "transition": "verify"},
        data={},
    ),
    Case("outputs:staff", READERS, kwargs=LAB),
    Case("outputs:staff", CENTRAL, note="another lab", kwargs=OTHER_LAB),
    Case(
        "outputs:staff",
        OWN,
        method="post",
        note="add",
        kwargs=LAB,
        data={"name_zh": "李四", "role": "engineer", "employment": "full_time", "starts_on": "2024-03-01"},
    ),
    Case("outputs:staff_edit", OWN, kwargs=lambda w: {"member_id": w.member.pk}),
    Case(
        "outputs:staff_edit",
        OWN,
        method="post",
        note="left",
        kwargs=lambda w: {"member_id": w.member.pk},
        data={
            "name_zh": "张三",
            "role": "researcher",
            "employment": "full_time",
            "starts_on": "2020-01-06",
            "ends_on": "2025-12-31",
        },
    ),
    Case("qslab_outputs_api_list_staff", READERS, api=True, kwargs=LAB),
    Case(
        "qslab_outputs_api_add_staff",
        OWN,
        method="post",
        api=True,
        kwargs=LAB,
        data={"name_zh": "王五", "role": "technician", "starts_on": "2023-09-01"},
    ),
    Case(
        "qslab_outputs_api_update_staff",
        OWN,
        method="patch",
        api=True,
        kwargs=lambda w: {"member_id": w.member.pk},
        data={"title": "正高级工程师", "qualifications": "CNAS assessor (2019)"},
    ),
    Case("outputs:import_standards", OWN),
    Case(
        "outputs:import_standards",
        OWN,
        method="post",
        note="dry run",
        data=lambda w: {
            "file": SimpleUploadedFile("s.csv", STANDARDS_CSV.encode(), "text/csv"),
            "dry_run": "on",
        },
    ),
    Case(
        "qslab_outputs_api_import_standards",
        OWN,
        method="post",
        api=True,
        data={"content": STANDARDS_CSV, "dry_run": True},
    ),
    Case("qslab_outputs_api_check_standard_number", EVERYONE, api=True, query="number=GB%2FT%2012345-2026"),
    Case("qslab_outputs_api_list_outputs", EVERYONE, api=True, query="year=2026"),
    Case("qslab_outputs_api_get_output", EVERYONE, api=True, note="verified", kwargs=VERIFIED),
    Case("qslab_outputs_api_get_output", READERS, api=True, note="claimed", kwargs=CLAIMED),
    Case(
        "qslab_outputs_api_create_output",
        OWN,
        method="post",
        api=True,
        data=lambda w: {"laboratory_id": w.lab.pk, "kind": "equipment", "title_zh": "装置", "year": 2026},
    ),
    Case(
        "qslab_outputs_api_create_output",
        OFFICE,
        method="post",
        api=True,
        note="another lab",
        data=lambda w: {
            "laboratory_id": w.other_lab.pk,
            "kind": "equipment",
            "title_zh": "装置",
            "year": 2026,
        },
    ),
    Case(
        "qslab_outputs_api_update_output",
        OWN,
        method="patch",
        api=True,
        kwargs=CLAIMED,
        data={"title_en": "Rig"},
    ),
    Case(
        "qslab_outputs_api_move_output",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"output_id": w.claimed.pk, "transition": "verify"},
        data={},
    ),
    Case(
        "qslab_outputs_api_import_outputs",
        OWN,
        method="post",
        api=True,
        data={"content": CSV_ROW, "dry_run": True},
    ),
    Case("qslab_outputs_api_lab_figures", READERS, api=True, kwargs=LAB, query="year=2026"),
    Case(
        "qslab_outputs_api_lab_figures",
        CENTRAL,
        api=True,
        note="another lab",
        kwargs=OTHER_LAB,
        query="year=2026",
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_outputs_access(case, role, clients, world):
    check_access(case, role, clients, world)
