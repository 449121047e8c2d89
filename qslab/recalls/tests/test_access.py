"""Who may open each recalls page and API operation: the public sees published notices only; the
company sees its own recalls; risk staff see all; the competent authority sees its region's."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.testing import EVERYONE, NOBODY, SIGNED_IN, Case, check_access, matrix

STAFF = {"office", "analyst"}
CONFIDENTIAL = STAFF | {"client", "authority"}  # the company and the authority of its region (Jiangsu)
COMPANY = {"office", "client"}  # the company acts; the office may act for it

CASES = [
    # the public safety portal
    Case("recalls:safety", EVERYONE),
    Case("recalls:public_recalls", EVERYONE, query="q=壶盖"),
    Case(
        "recalls:public_recall",
        EVERYONE,
        note="published",
        kwargs=lambda w: {"recall_id": w.published.pk},
    ),
    Case(
        "recalls:public_recall",
        NOBODY,
        note="draft",
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "recalls:recall_chart",
        EVERYONE,
        note="published",
        kwargs=lambda w: {"recall_id": w.in_progress.pk},
    ),
    Case(
        "recalls:recall_chart",
        CONFIDENTIAL,
        note="draft",
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case("recalls:statistics", EVERYONE),
    Case("recalls:serial_lookup", EVERYONE, query="serial=SN000050"),
    Case("qslab_recalls_api_serial_lookup", EVERYONE, api=True, query="serial=SN000050"),
    Case("recalls:feed", EVERYONE),
    # work pages
    Case("recalls:home", SIGNED_IN),
    Case("recalls:recall_create", COMPANY),
    Case(
        "recalls:recall",
        CONFIDENTIAL,
        note="own draft",
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case("recalls:recall", STAFF, note="other company", kwargs=lambda w: {"recall_id": w.other_draft.pk}),
    Case(
        "recalls:recall",
        CONFIDENTIAL,
        note="published: the full record stays confidential",
        kwargs=lambda w: {"recall_id": w.published.pk},
    ),
    Case(
        "recalls:recall_edit",
        COMPANY,
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "recalls:recall_transition",
        COMPANY,
        method="post",
        note="submit",
        kwargs=lambda w: {"recall_id": w.draft.pk, "transition": "submit"},
    ),
    Case(
        "recalls:recall_transition",
        {"office"},
        method="post",
        note="approve",
        kwargs=lambda w: {"recall_id": w.submitted.pk, "transition": "approve"},
    ),
    Case(
        "recalls:progress_new",
        COMPANY,
        kwargs=lambda w: {"recall_id": w.in_progress.pk},
    ),
    Case(
        "recalls:recall_scope",
        CONFIDENTIAL,
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "recalls:recall_scope_export",
        CONFIDENTIAL,
        kwargs=lambda w: {"recall_id": w.in_progress.pk, "what": "parties", "fmt": "csv"},
    ),
    Case("recalls:scope_query", {"office", "analyst", "authority", "client"}, query="gtin=&lots=L1"),
    Case("recalls:products", SIGNED_IN),
    Case("recalls:product_create", COMPANY),
    Case("recalls:product", CONFIDENTIAL, kwargs=lambda w: {"product_id": w.product.pk}),
    Case("recalls:uploads", SIGNED_IN),
    Case("recalls:upload", CONFIDENTIAL, kwargs=lambda w: {"upload_id": w.upload.pk}),
    # API
    Case("qslab_recalls_api_public_recalls", EVERYONE, api=True, query="q=Kettle"),
    Case(
        "qslab_recalls_api_public_recall",
        EVERYONE,
        api=True,
        note="published",
        kwargs=lambda w: {"recall_id": w.published.pk},
    ),
    Case(
        "qslab_recalls_api_public_recall",
        NOBODY,
        api=True,
        note="draft",
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "qslab_recalls_api_public_progress",
        EVERYONE,
        api=True,
        kwargs=lambda w: {"recall_id": w.in_progress.pk},
    ),
    Case("qslab_recalls_api_recall_statistics", EVERYONE, api=True),
    Case("qslab_recalls_api_products", SIGNED_IN, api=True),
    Case(
        "qslab_recalls_api_create_product",
        COMPANY,
        method="post",
        api=True,
        data=lambda w: {
            "company": w.company.pk,
            "name_zh": "电热水壶",
            "brand": "晨星（测试）",
            "model": "CX-NEW",
            "gtin": "4006381333931",
        },
    ),
    Case(
        "qslab_recalls_api_update_product",
        COMPANY,
        method="patch",
        api=True,
        kwargs=lambda w: {"product_id": w.product.pk},
        data={"name_en": "Electric kettle"},
    ),
    Case(
        "qslab_recalls_api_update_product",
        {"office"},
        method="patch",
        api=True,
        note="other company",
        kwargs=lambda w: {"product_id": w.other_product.pk},
        data={"name_en": "Electric kettle"},
    ),
    Case(
        "qslab_recalls_api_create_batch",
        COMPANY,
        method="post",
        api=True,
        kwargs=lambda w: {"product_id": w.product.pk},
        data={
            "lot": "L9",
            "produced_from": "2025-05-01",
            "produced_to": "2025-05-02",
            "serial_first": "SN-B000001",
            "serial_last": "SN-B000050",
        },
    ),
    Case(
        "qslab_recalls_api_create_batch",
        {"office"},
        method="post",
        api=True,
        note="other company",
        kwargs=lambda w: {"product_id": w.other_product.pk},
        data={"lot": "L9", "produced_from": "2025-05-01", "produced_to": "2025-05-02"},
    ),
    Case(
        "qslab_recalls_api_start_upload",
        COMPANY,
        method="post",
        api=True,
        data=lambda w: {
            "company": str(w.company.pk),
            "kind": "units",
            "file": SimpleUploadedFile(
                "units.csv", f"gtin,serial,batch\n{w.product.gtin},SN000001,L1\n".encode()
            ),
        },
    ),
    Case("qslab_recalls_api_uploads", SIGNED_IN, api=True),
    Case("qslab_recalls_api_upload", CONFIDENTIAL, api=True, kwargs=lambda w: {"upload_id": w.upload.pk}),
    Case(
        "qslab_recalls_api_create_recall",
        COMPANY,
        method="post",
        api=True,
        data=lambda w: {
            "product": w.product.pk,
            "title_zh": "电热水壶召回",
            "batches": ["L1"],
            "serial_ranges": [["SN000017", "SN000023"]],
        },
    ),
    Case(
        "qslab_recalls_api_edit_recall",
        COMPANY,
        method="patch",
        api=True,
        note="own draft",
        kwargs=lambda w: {"recall_id": w.draft.pk},
        data={"title_en": "Kettle lid recall", "batches": ["L1", "L2"]},
    ),
    Case(
        "qslab_recalls_api_edit_recall",
        {"office"},
        method="patch",
        api=True,
        note="submitted: the office only",
        kwargs=lambda w: {"recall_id": w.submitted.pk},
        data={"office_notes": "checked"},
    ),
    Case("recalls:lab_requests", STAFF | {"lab_manager"}),
    Case("recalls:lab_request_create", {"office"}),
    Case(
        "recalls:lab_request",
        STAFF,
        note="another laboratory's managers see nothing",
        kwargs=lambda w: {"request_id": w.lab_request.pk},
    ),
    Case("recalls:lab_request_report", STAFF, kwargs=lambda w: {"request_id": w.lab_request.pk}),
    Case(
        "qslab_recalls_api_create_lab_request",
        {"office"},
        method="post",
        api=True,
        data=lambda w: {
            "laboratory": w.lab_request.laboratory_id,
            "recall": w.in_progress.pk,
            "question": "Latch force",
        },
    ),
    Case("qslab_recalls_api_lab_requests", SIGNED_IN, api=True, note="each sees only its own rows"),
    Case(
        "qslab_recalls_api_lab_request",
        STAFF,
        api=True,
        note="not delivered yet: the company does not see it; no manager of that laboratory here",
        kwargs=lambda w: {"request_id": w.lab_request.pk},
    ),
    Case(
        "qslab_recalls_api_deliver_lab_report",
        NOBODY,
        method="post",
        api=True,
        note="only the laboratory's managers (none in the world; test_lab_requests_api covers them)",
        kwargs=lambda w: {"request_id": w.lab_request.pk},
        data=lambda w: {"file": SimpleUploadedFile("r.pdf", b"%PDF-1.4\n%r\n", "application/pdf")},
    ),
    Case(
        "qslab_recalls_api_lab_request_report",
        STAFF,
        api=True,
        kwargs=lambda w: {"request_id": w.lab_request.pk},
    ),
    Case("recalls:producer_reports", CONFIDENTIAL),
    Case("recalls:producer_report_create", COMPANY),
    Case("recalls:producer_report", CONFIDENTIAL, kwargs=lambda w: {"report_id": w.producer_report.pk}),
    Case(
        "recalls:producer_report_transition",
        COMPANY,
        method="post",
        kwargs=lambda w: {"report_id": w.producer_report.pk, "transition": "report"},
        data={"reason": "reported by telephone and the online form"},
    ),
    Case("qslab_recalls_api_producer_reports", SIGNED_IN, api=True),
    Case(
        "qslab_recalls_api_record_producer_report",
        COMPANY,
        method="post",
        api=True,
        data=lambda w: {
            "company": w.company.pk,
            "rule": "death-or-serious-injury",
            "learned_on": "2026-01-05",
            "description": "a scald",
        },
    ),
    Case(
        "qslab_recalls_api_producer_report",
        CONFIDENTIAL,
        api=True,
        kwargs=lambda w: {"report_id": w.producer_report.pk},
    ),
    Case(
        "qslab_recalls_api_move_producer_report",
        COMPANY,
        method="post",
        api=True,
        kwargs=lambda w: {"report_id": w.producer_report.pk, "transition": "report"},
        data={"reason": "reported"},
    ),
    Case("qslab_recalls_api_recalls", SIGNED_IN, api=True),
    Case(
        "qslab_recalls_api_recall",
        CONFIDENTIAL,
        api=True,
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "qslab_recalls_api_move_recall",
        COMPANY,
        method="post",
        api=True,
        kwargs=lambda w: {"recall_id": w.draft.pk, "transition": "submit"},
        data={},
    ),
    Case(
        "qslab_recalls_api_record_progress",
        COMPANY,
        method="post",
        api=True,
        kwargs=lambda w: {"recall_id": w.in_progress.pk},
        data={"period_end": "2026-01-15", "units_remedied": 20, "summary_en": "more"},
    ),
    Case(
        "qslab_recalls_api_recall_scope",
        CONFIDENTIAL,
        api=True,
        kwargs=lambda w: {"recall_id": w.draft.pk},
    ),
    Case(
        "qslab_recalls_api_recall_scope_units",
        CONFIDENTIAL,
        api=True,
        kwargs=lambda w: {"recall_id": w.draft.pk},
        query="limit=5",
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_recalls_access(case, role, clients, world):
    check_access(case, role, clients, world)
