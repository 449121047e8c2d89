"""Who may open each page and API operation of the funding app. The role user ``lab_manager`` manages
``w.lab`` only; the ``institution`` user is scoped to ``w.lab``'s supporting institution (read only);
the ``authority`` covers Jiangsu (``w.lab``), not Zhejiang (``w.other_lab``)."""

import pytest

from qslab.core.testing import SIGNED_IN, Case, check_access, matrix, own_and_other

OFFICE = {"office"}
OWN = {"office", "lab_manager"}
BOARD = {"office", "committee"}
SEE_OWN = {"office", "committee", "authority", "lab_manager", "institution"}  # read w.lab's money

DRAFT = lambda w: {"budget_id": w.draft.pk}  # noqa: E731
SUBMITTED = lambda w: {"budget_id": w.submitted.pk}  # noqa: E731
APPROVED = lambda w: {"budget_id": w.approved.pk}  # noqa: E731
OTHER = lambda w: {"budget_id": w.other_approved.pk}  # noqa: E731
RUN = lambda w: {"run_id": w.run.pk}  # noqa: E731
FLAG = lambda w: {"flag_id": w.flag.pk}  # noqa: E731
OTHER_FLAG = lambda w: {"flag_id": w.other_flag.pk}  # noqa: E731


def pdf_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    from qslab.funding.tests.conftest import PDF

    return SimpleUploadedFile("minutes.pdf", PDF, content_type="application/pdf")


CASES = [
    Case("funding:budgets", SEE_OWN),
    Case("funding:budget_create", OWN),
    Case("funding:budget", SEE_OWN, kwargs=APPROVED),
    Case("funding:budget", BOARD, note="another province's lab", kwargs=OTHER),
    *own_and_other("funding:budget_lines", OFFICE, own=DRAFT, other=SUBMITTED),
    *own_and_other("funding:budget_targets", OFFICE, own=DRAFT, other=SUBMITTED),
    Case(
        "funding:budget_transition",
        OWN,
        method="post",
        note="submit own draft",
        kwargs=lambda w: {"budget_id": w.draft.pk, "transition": "submit"},
    ),
    Case(
        "funding:budget_transition",
        OFFICE,
        method="post",
        note="approve",
        kwargs=lambda w: {"budget_id": w.submitted.pk, "transition": "approve"},
    ),
    Case("funding:execution_svg", SEE_OWN, kwargs=APPROVED),
    Case("funding:execution_svg", BOARD, note="another lab", kwargs=OTHER),
    *own_and_other("funding:expenditure_import", OFFICE, own=APPROVED, other=OTHER),
    Case("funding:evaluation", SEE_OWN, kwargs=APPROVED),
    Case("funding:evaluation", BOARD, note="another lab", kwargs=OTHER),
    Case(
        "funding:evaluation_transition",
        OWN,
        method="post",
        note="submit own",
        kwargs=lambda w: {"budget_id": w.approved.pk, "transition": "submit"},
    ),
    Case(
        "funding:evaluation_transition",
        OFFICE,
        method="post",
        note="accept",
        kwargs=lambda w: {"budget_id": w.other_approved.pk, "transition": "accept"},
    ),
    Case(
        "funding:evaluation_adjust",
        OFFICE,
        method="post",
        kwargs=OTHER,
        data={"score": "85", "reason": "evidence for target 2 is missing"},
    ),
    Case(
        "funding:evidence",
        {"office", "lab_manager", "expert"},
        note="the lab's managers, the office and the assigned expert",
        kwargs=lambda w: {"evidence_id": w.evidence.pk},
    ),
    Case(
        "funding:evidence",
        OFFICE,
        note="another lab, no expert assigned",
        kwargs=lambda w: {"evidence_id": w.other_evidence.pk},
    ),
    *own_and_other(
        "funding:evidence_upload",
        OFFICE,
        method="post",
        own=APPROVED,
        other=OTHER,
        data=lambda w: {"file": pdf_upload()},
    ),
    Case(
        "funding:evaluation_experts",
        OFFICE,
        method="post",
        kwargs=APPROVED,
        data=lambda w: {"experts": [w.users["expert"].pk]},
    ),
    Case("funding:reviews", {"office", "expert"}),
    *own_and_other("funding:flag_answer", OFFICE, own=FLAG, other=OTHER_FLAG),
    Case(
        "funding:flag_hold",
        OFFICE,
        method="post",
        kwargs=FLAG,
        data={"hold": "on", "reason": "no answer"},
    ),
    Case("funding:monitoring", BOARD),
    Case("funding:monitoring", OFFICE, method="post", note="run", data={"year": "2025", "month": "7"}),
    Case("funding:report", SEE_OWN, note="each sees only the budgets they may see"),
    Case("funding:report_export", SEE_OWN, data={"format": "xlsx", "by": "region"}),
    Case("funding:expenditure_export", SEE_OWN, kwargs=APPROVED),
    Case("funding:expenditure_export", BOARD, note="another lab", kwargs=OTHER),
    Case("funding:grades", OFFICE),
    Case("funding:rules", OFFICE),
    Case("funding:allocations", BOARD),
    Case("funding:allocation_create", OFFICE),
    Case("funding:allocation", BOARD, kwargs=RUN),
    Case(
        "funding:allocation_action",
        OFFICE,
        method="post",
        kwargs=lambda w: {"run_id": w.run.pk, "action": "compute"},
    ),
    Case("funding:allocation_pdf", BOARD, kwargs=lambda w: {"run_id": w.issued_run.pk}),
    Case(
        "funding:allocation_amend",
        OFFICE,
        method="post",
        kwargs=lambda w: {"run_id": w.issued_run.pk},
        data={"reason": "appeal upheld"},
    ),
    # API
    Case("qslab_funding_api_list_budgets", SIGNED_IN, api=True, note="filtered to what each may see"),
    Case("qslab_funding_api_get_budget", SEE_OWN, api=True, kwargs=APPROVED),
    Case("qslab_funding_api_get_budget", BOARD, api=True, note="another lab", kwargs=OTHER),
    Case(
        "qslab_funding_api_create_budget",
        OWN,
        method="post",
        api=True,
        data=lambda w: {"laboratory_id": w.lab.pk, "year": 2030},
    ),
    Case(
        "qslab_funding_api_add_version",
        OWN,
        method="post",
        api=True,
        kwargs=DRAFT,
        data={"lines": [{"line": "travel", "source": "local", "amount": "1000.50"}]},
    ),
    Case(
        "qslab_funding_api_set_indicators",
        OWN,
        method="put",
        api=True,
        kwargs=DRAFT,
        data=lambda w: [{"level2": "quantity", "name_zh": "标准数", "comparator": ">=", "target": "3"}],
    ),
    Case(
        "qslab_funding_api_move_budget",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"budget_id": w.draft.pk, "transition": "submit"},
        data={},
    ),
    Case("qslab_funding_api_get_execution", SEE_OWN, api=True, kwargs=APPROVED),
    Case("qslab_funding_api_list_expenditures", SEE_OWN, api=True, kwargs=APPROVED),
    Case(
        "qslab_funding_api_add_expenditure",
        OWN,
        method="post",
        api=True,
        kwargs=APPROVED,
        data={"date": "2025-04-01", "line": "travel", "source": "central", "amount": "12.30"},
    ),
    Case(
        "qslab_funding_api_import_expenditures",
        OWN,
        method="post",
        api=True,
        kwargs=APPROVED,
        data={"csv": "date,line,source,amount\n2025-05-02,materials,supporting,99.00\n"},
    ),
    Case("qslab_funding_api_list_flags", SEE_OWN, api=True, kwargs=APPROVED),
    Case("qslab_funding_api_list_flags", BOARD, api=True, note="another lab", kwargs=OTHER),
    *own_and_other(
        "qslab_funding_api_answer_flag",
        OFFICE,
        method="post",
        api=True,
        own=FLAG,
        other=OTHER_FLAG,
        data={"cause": "late tender", "corrective_action": "tender in September"},
    ),
    Case("qslab_funding_api_get_evaluation", SEE_OWN, api=True, kwargs=APPROVED),
    Case("qslab_funding_api_get_evaluation", BOARD, api=True, note="another lab", kwargs=OTHER),
    Case(
        "qslab_funding_api_put_evaluation",
        OWN,
        method="put",
        api=True,
        kwargs=APPROVED,
        data={"actuals": [], "summary": "on track"},
    ),
    Case(
        "qslab_funding_api_move_evaluation",
        OWN,
        method="post",
        api=True,
        note="submit own",
        kwargs=lambda w: {"budget_id": w.approved.pk, "transition": "submit"},
        data={},
    ),
    Case(
        "qslab_funding_api_move_evaluation",
        OFFICE,
        method="post",
        api=True,
        note="accept",
        kwargs=lambda w: {"budget_id": w.other_approved.pk, "transition": "accept"},
        data={},
    ),
    Case("qslab_funding_api_get_report", SEE_OWN, api=True, query="year=2025&by=region"),
    Case("qslab_funding_api_list_allocations", BOARD, api=True),
    Case("qslab_funding_api_get_allocation", BOARD, api=True, kwargs=RUN),
    Case(
        "qslab_funding_api_list_evidence",
        {"office", "lab_manager", "expert"},
        api=True,
        note="the lab's managers, the office and the assigned expert",
        kwargs=APPROVED,
    ),
    Case("qslab_funding_api_list_evidence", OFFICE, api=True, note="another lab", kwargs=OTHER),
    Case(
        "qslab_funding_api_upload_evidence",
        OWN,
        method="post",
        api=True,
        kwargs=APPROVED,
        data=lambda w: {"file": pdf_upload(), "description": "minutes"},
    ),
    Case(
        "qslab_funding_api_download_evidence",
        {"office", "lab_manager", "expert"},
        api=True,
        kwargs=lambda w: {"evidence_id": w.evidence.pk},
    ),
    Case(
        "qslab_funding_api_download_evidence",
        OFFICE,
        api=True,
        note="another lab, no expert assigned",
        kwargs=lambda w: {"evidence_id": w.other_evidence.pk},
    ),
    Case(
        "qslab_funding_api_assign_evaluation_experts",
        OFFICE,
        method="put",
        api=True,
        kwargs=APPROVED,
        data=lambda w: {"experts": [w.users["expert"].username]},
    ),
    Case(
        "qslab_funding_api_adjust_score",
        OFFICE,
        method="post",
        api=True,
        kwargs=OTHER,
        data={"score": "85", "reason": "evidence for target 2 is missing"},
    ),
    Case(
        "qslab_funding_api_hold_flag",
        OFFICE,
        method="post",
        api=True,
        kwargs=FLAG,
        data={"hold": True, "reason": "no answer"},
    ),
    Case("qslab_funding_api_list_monitoring_runs", BOARD, api=True),
    Case(
        "qslab_funding_api_start_monitoring_run",
        OFFICE,
        method="post",
        api=True,
        data={"year": 2025, "month": 7},
    ),
    Case("qslab_funding_api_get_rules", OFFICE, api=True, kwargs=lambda w: {"year": 2025}),
    Case(
        "qslab_funding_api_put_rules",
        OFFICE,
        method="put",
        api=True,
        kwargs=lambda w: {"year": 2025},
        data={"lag_tolerance": "15"},
    ),
    Case("qslab_funding_api_list_lab_grades", OFFICE, api=True),
    Case(
        "qslab_funding_api_record_lab_grade",
        OFFICE,
        method="post",
        api=True,
        data=lambda w: {"laboratory_id": w.lab.pk, "year": 2024, "grade": "good"},
    ),
    Case(
        "qslab_funding_api_create_allocation",
        OFFICE,
        method="post",
        api=True,
        data={"year": 2024, "title_zh": "补助", "title_en": "Subsidy", "total": "1000.00"},
    ),
    Case("qslab_funding_api_compute_allocation", OFFICE, method="post", api=True, kwargs=RUN),
    Case(
        "qslab_funding_api_issue_allocation",
        OFFICE,
        method="post",
        api=True,
        note="the draft of a year whose allocation is not issued yet",
        kwargs=lambda w: {"run_id": w.draft_run_next_year.pk},
    ),
    Case(
        "qslab_funding_api_amend_allocation",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"run_id": w.issued_run.pk},
        data={"reason": "appeal upheld"},
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_funding_access(case, role, clients, world):
    check_access(case, role, clients, world)
