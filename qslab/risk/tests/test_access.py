"""Who may open each risk page and API operation, for reports, patterns and signals in each state."""

import pytest

from qslab.core.testing import EVERYONE, Case, check_access, matrix

STAFF = {"office", "analyst"}
REPORTER = {"office", "analyst", "client"}  # the world's reports are filed by the client user

CASES = [
    Case("risk:home", EVERYONE),
    Case("risk:report_new", EVERYONE),
    Case("risk:reports", EVERYONE),
    Case("risk:report", EVERYONE, note="published", kwargs=lambda w: {"report_id": w.published_report.pk}),
    Case("risk:report", REPORTER, note="submitted", kwargs=lambda w: {"report_id": w.submitted.pk}),
    Case("risk:report_photo", REPORTER, kwargs=lambda w: {"report_id": w.submitted.pk}),
    Case("risk:report_review", STAFF, kwargs=lambda w: {"report_id": w.submitted.pk}),
    Case(
        "risk:report_transition",
        STAFF,
        method="post",
        note="start review",
        kwargs=lambda w: {"report_id": w.submitted.pk, "transition": "review"},
    ),
    Case(
        "risk:report_transition",
        STAFF,
        method="post",
        note="reject with reason",
        kwargs=lambda w: {"report_id": w.under_review.pk, "transition": "reject"},
        data={"reason": "not a consumer product"},
    ),
    Case("risk:patterns", EVERYONE, query="q=壶盖"),
    Case("risk:pattern", EVERYONE, note="public", kwargs=lambda w: {"pattern_id": w.public_pattern.pk}),
    Case("risk:pattern", STAFF, note="draft", kwargs=lambda w: {"pattern_id": w.private_pattern.pk}),
    Case("risk:pattern_create", STAFF),
    Case("risk:pattern_edit", STAFF, kwargs=lambda w: {"pattern_id": w.public_pattern.pk}),
    Case("risk:terms", EVERYONE, query="kind=product"),
    Case("risk:term_create", STAFF),
    Case("risk:ingests", STAFF),
    Case("risk:ingest", STAFF, kwargs=lambda w: {"ingest_id": w.ingest_run.pk}),
    Case("risk:early_warning", STAFF),
    Case("risk:early_warning_run", STAFF, method="post"),
    Case("risk:signals", STAFF),
    Case("risk:signal", STAFF, kwargs=lambda w: {"signal_id": w.signal.pk}),
    Case("risk:signal_chart", STAFF, kwargs=lambda w: {"signal_id": w.signal.pk}),
    Case(
        "risk:signal_transition",
        STAFF,
        method="post",
        note="triage",
        kwargs=lambda w: {"signal_id": w.signal.pk, "transition": "triage"},
    ),
    Case("qslab_risk_api_terms", EVERYONE, api=True),
    Case(
        "qslab_risk_api_create_report",
        EVERYONE,
        method="post",
        api=True,
        data={
            "product_category": "269",
            "brand": "Test",
            "incident_date": "2026-01-05",
            "description": "lid opened",
            "barcode": "4006381333931",
            "consent_publish": True,
        },
    ),
    Case("qslab_risk_api_reports", EVERYONE, api=True),
    Case(
        "qslab_risk_api_report",
        EVERYONE,
        api=True,
        note="published",
        kwargs=lambda w: {"report_id": w.published_report.pk},
    ),
    Case(
        "qslab_risk_api_report",
        REPORTER,
        api=True,
        note="submitted",
        kwargs=lambda w: {"report_id": w.submitted.pk},
    ),
    Case(
        "qslab_risk_api_move_report",
        STAFF,
        method="post",
        api=True,
        kwargs=lambda w: {"report_id": w.submitted.pk, "transition": "review"},
        data={},
    ),
    Case("qslab_risk_api_patterns", EVERYONE, api=True, query="q=壶盖"),
    Case(
        "qslab_risk_api_pattern",
        EVERYONE,
        api=True,
        note="public",
        kwargs=lambda w: {"pattern_id": w.public_pattern.pk},
    ),
    Case(
        "qslab_risk_api_pattern",
        STAFF,
        api=True,
        note="draft",
        kwargs=lambda w: {"pattern_id": w.private_pattern.pk},
    ),
    Case("qslab_risk_api_signals", STAFF, api=True),
    Case("qslab_risk_api_signal", STAFF, api=True, kwargs=lambda w: {"signal_id": w.signal.pk}),
    Case(
        "qslab_risk_api_move_signal",
        STAFF,
        method="post",
        api=True,
        kwargs=lambda w: {"signal_id": w.triaged_signal.pk, "transition": "dismiss"},
        data={"reason": "seasonal"},
    ),
    Case("qslab_risk_api_start_early_warning", STAFF, method="post", api=True, data={}),
    Case("qslab_risk_api_ingests", STAFF, api=True),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_risk_access(case, role, clients, world):
    check_access(case, role, clients, world)
