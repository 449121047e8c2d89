"""Who may open each page and API operation of the sharing app. The role user ``lab_manager`` manages
the laboratory ``own`` only; ``client`` owns one booking and one service request; another client owns
the bookings and requests at the laboratory ``other``."""

import pytest

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix, own_and_other
from qslab.sharing.tests.conftest import at

OWN = {"office", "lab_manager"}
OWNER_AND_LAB = {"client", "office", "lab_manager"}
OVERSIGHT = {"office", "committee"}

LAB = lambda w: {"lab_id": w.lab.pk}  # noqa: E731
OTHER_LAB = lambda w: {"lab_id": w.other_lab.pk}  # noqa: E731
RESOURCE = lambda w: {"resource_id": w.resource.pk}  # noqa: E731
OTHER_RESOURCE = lambda w: {"resource_id": w.other_resource.pk}  # noqa: E731


def _booking_form(w):
    return {"starts": at(5, 9).strftime("%Y-%m-%dT%H:%M"), "ends": at(5, 10).strftime("%Y-%m-%dT%H:%M")}


CASES = [
    Case("sharing:catalogue", EVERYONE, note="search", query="q=microscope&kind=instrument"),
    Case("sharing:availability", EVERYONE, query="minutes=90&kind=instrument"),
    Case("sharing:resource", EVERYONE, kwargs=lambda w: {"resource_id": w.resource.pk}),
    Case("sharing:resource", OWN, note="unpublished", kwargs=lambda w: {"resource_id": w.hidden_resource.pk}),
    Case(
        "sharing:resource_week",
        EVERYONE,
        kwargs=lambda w: {"resource_id": w.resource.pk},
        query="week=2026-01-05",
    ),
    Case("sharing:resource_ics", EVERYONE, kwargs=lambda w: {"resource_id": w.resource.pk}),
    *own_and_other("sharing:resource_edit", {"office"}, own=RESOURCE, other=OTHER_RESOURCE, note="other lab"),
    Case(
        "sharing:blackout_create",
        OWN,
        method="post",
        note="save",
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data=lambda w: {"kind": "maintenance", **_booking_form(w), "reason": "calibration"},
    ),
    Case(
        "sharing:qualify",
        OWN,
        method="post",
        note="grant",
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data={"username": "client_user"},
    ),
    Case("sharing:book", SIGNED_IN, kwargs=lambda w: {"resource_id": w.resource.pk}),
    Case(
        "sharing:book",
        SIGNED_IN,
        method="post",
        note="book a free slot",
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data=_booking_form,
    ),
    Case("sharing:tariffs", OWN, kwargs=lambda w: {"resource_id": w.resource.pk}),
    Case(
        "sharing:tariffs",
        OWN,
        method="post",
        note="save",
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data={"hour_industry": "250", "sample_academic": "40"},
    ),
    Case(
        "sharing:tariffs", {"office"}, note="other lab", kwargs=lambda w: {"resource_id": w.other_resource.pk}
    ),
    *own_and_other("sharing:resource_create", {"office"}, own=LAB, other=OTHER_LAB, note="other lab"),
    Case(
        "sharing:request_create",
        SIGNED_IN,
        method="post",
        note="send",
        kwargs=lambda w: {"lab_id": w.lab.pk},
        data={"title": "Hardness test", "samples": "2"},
    ),
    *own_and_other("sharing:usage", OVERSIGHT, own=LAB, other=OTHER_LAB, note="other lab"),
    *own_and_other("sharing:statement", {"office"}, own=LAB, other=OTHER_LAB, note="other lab"),
    Case("sharing:bookings", SIGNED_IN),
    Case("sharing:my_ics", SIGNED_IN),
    Case("sharing:booking", OWNER_AND_LAB, kwargs=lambda w: {"booking_id": w.booking.pk}),
    Case(
        "sharing:booking", {"office"}, note="other lab", kwargs=lambda w: {"booking_id": w.other_booking.pk}
    ),
    Case(
        "sharing:booking_transition",
        {"client"},
        method="post",
        note="cancel own",
        kwargs=lambda w: {"booking_id": w.booking.pk, "transition": "cancel"},
    ),
    Case(
        "sharing:booking_transition",
        OWN,
        method="post",
        note="approve",
        kwargs=lambda w: {"booking_id": w.requested.pk, "transition": "approve"},
    ),
    Case(
        "sharing:booking_transition",
        {"office"},
        method="post",
        note="withdraw at another lab",
        kwargs=lambda w: {"booking_id": w.other_booking.pk, "transition": "withdraw"},
        data={"reason": "instrument broken"},
    ),
    Case("sharing:requests", SIGNED_IN),
    Case("sharing:request", OWNER_AND_LAB, kwargs=lambda w: {"request_id": w.request.pk}),
    Case(
        "sharing:request", {"office"}, note="other lab", kwargs=lambda w: {"request_id": w.other_request.pk}
    ),
    Case(
        "sharing:request_quote",
        OWN,
        method="post",
        kwargs=lambda w: {"request_id": w.request.pk},
        data={"quote_amount": "1200", "quote_note": "5 samples"},
    ),
    Case("sharing:request_receive", OWN, kwargs=lambda w: {"request_id": w.accepted.pk}),
    Case(
        "sharing:request_receive",
        OWN,
        method="post",
        note="record",
        kwargs=lambda w: {"request_id": w.accepted.pk},
        data={
            "samples-TOTAL_FORMS": "1",
            "samples-INITIAL_FORMS": "0",
            "samples-0-description": "panel",
            "samples-0-condition": "intact",
            "location": "store B",
        },
    ),
    Case(
        "sharing:request_custody",
        OWN,
        method="post",
        kwargs=lambda w: {"request_id": w.working.pk},
        data=lambda w: {"sample": w.sample.pk, "action": "transferred", "holder": "analyst Li"},
    ),
    Case("sharing:request_report", OWN, kwargs=lambda w: {"request_id": w.working.pk}),
    Case(
        "sharing:request_report",
        OWN,
        method="post",
        note="save results",
        kwargs=lambda w: {"request_id": w.working.pk},
        data={"results_zh": "硬度 HRC 58", "results_en": "hardness HRC 58", "save": "1"},
    ),
    Case(
        "sharing:request_transition",
        {"client"},
        method="post",
        note="cancel own",
        kwargs=lambda w: {"request_id": w.request.pk, "transition": "cancel"},
    ),
    Case(
        "sharing:request_transition",
        OWN,
        method="post",
        note="decline",
        kwargs=lambda w: {"request_id": w.request.pk, "transition": "decline"},
        data={"reason": "out of scope"},
    ),
    Case("sharing:invoices", SIGNED_IN),
    Case("sharing:invoices", SIGNED_IN, note="CSV export", query="format=csv"),
    # API
    Case("qslab_sharing_api_resources", EVERYONE, api=True, query="q=microscope"),
    Case("qslab_sharing_api_search_availability", EVERYONE, api=True, query="minutes=120&q=sem"),
    Case("qslab_sharing_api_resource", EVERYONE, api=True, kwargs=lambda w: {"resource_id": w.resource.pk}),
    Case(
        "qslab_sharing_api_resource",
        OWN,
        api=True,
        note="unpublished",
        kwargs=lambda w: {"resource_id": w.hidden_resource.pk},
    ),
    Case(
        "qslab_sharing_api_availability", EVERYONE, api=True, kwargs=lambda w: {"resource_id": w.resource.pk}
    ),
    *own_and_other(
        "qslab_sharing_api_create_resource",
        {"office"},
        method="post",
        api=True,
        own=LAB,
        other=OTHER_LAB,
        note="other lab",
        data={"code": "tem", "name_zh": "透射电镜", "name_en": "TEM"},
    ),
    Case(
        "qslab_sharing_api_set_tariffs",
        OWN,
        method="put",
        api=True,
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data={"tariffs": [{"user_class": "academic", "unit": "sample", "price": "40.00"}]},
    ),
    Case(
        "qslab_sharing_api_set_tariffs",
        {"office"},
        method="put",
        api=True,
        note="other lab",
        kwargs=lambda w: {"resource_id": w.other_resource.pk},
        data={"tariffs": [{"user_class": "industry", "unit": "hour", "price": None}]},
    ),
    Case(
        "qslab_sharing_api_price",
        EVERYONE,
        api=True,
        kwargs=lambda w: {"resource_id": w.resource.pk},
        query="samples=3",
    ),
    Case(
        "qslab_sharing_api_price",
        OWN,
        api=True,
        note="unpublished",
        kwargs=lambda w: {"resource_id": w.hidden_resource.pk},
    ),
    Case("qslab_sharing_api_bookings", SIGNED_IN, api=True),
    Case(
        "qslab_sharing_api_create_booking",
        SIGNED_IN,
        method="post",
        api=True,
        kwargs=lambda w: {"resource_id": w.resource.pk},
        data=lambda w: {"starts": at(5, 9).isoformat(), "ends": at(5, 10).isoformat()},
    ),
    Case("qslab_sharing_api_booking", OWNER_AND_LAB, api=True, kwargs=lambda w: {"booking_id": w.booking.pk}),
    Case(
        "qslab_sharing_api_booking",
        {"office"},
        api=True,
        note="other lab",
        kwargs=lambda w: {"booking_id": w.other_booking.pk},
    ),
    Case(
        "qslab_sharing_api_move_booking",
        {"client"},
        method="post",
        api=True,
        note="cancel own",
        kwargs=lambda w: {"booking_id": w.booking.pk, "transition": "cancel"},
        data={},
    ),
    Case(
        "qslab_sharing_api_move_booking",
        OWN,
        method="post",
        api=True,
        note="approve",
        kwargs=lambda w: {"booking_id": w.requested.pk, "transition": "approve"},
        data={},
    ),
    Case("qslab_sharing_api_service_requests", SIGNED_IN, api=True),
    Case(
        "qslab_sharing_api_create_request",
        SIGNED_IN,
        method="post",
        api=True,
        kwargs=lambda w: {"lab_id": w.lab.pk},
        data={"title": "Hardness test", "samples": 2},
    ),
    Case(
        "qslab_sharing_api_service_request",
        OWNER_AND_LAB,
        api=True,
        kwargs=lambda w: {"request_id": w.request.pk},
    ),
    Case(
        "qslab_sharing_api_service_request",
        {"office"},
        api=True,
        note="other lab",
        kwargs=lambda w: {"request_id": w.other_request.pk},
    ),
    Case(
        "qslab_sharing_api_quote_request",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"request_id": w.request.pk},
        data={"amount": "1200.00", "note": "5 samples"},
    ),
    Case(
        "qslab_sharing_api_move_request",
        {"client"},
        method="post",
        api=True,
        note="cancel own",
        kwargs=lambda w: {"request_id": w.request.pk, "transition": "cancel"},
        data={},
    ),
    Case(
        "qslab_sharing_api_move_request",
        OWN,
        method="post",
        api=True,
        note="decline",
        kwargs=lambda w: {"request_id": w.request.pk, "transition": "decline"},
        data={"reason": "out of scope"},
    ),
    Case(
        "qslab_sharing_api_receive_samples",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"request_id": w.accepted.pk},
        data={
            "samples": [
                {"description": "panel", "condition": "packaging_damaged", "condition_note": "box torn"}
            ]
        },
    ),
    Case(
        "qslab_sharing_api_record_custody",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"sample_id": w.sample.pk},
        data={"action": "stored", "location": "cold room 2"},
    ),
    Case(
        "qslab_sharing_api_issue_report",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"request_id": w.working.pk},
        data={"results_zh": "硬度 HRC 58", "results_en": "hardness HRC 58"},
    ),
    Case("qslab_sharing_api_invoices", SIGNED_IN, api=True),
    *own_and_other(
        "qslab_sharing_api_usage", OVERSIGHT, api=True, own=LAB, other=OTHER_LAB, note="other lab"
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_sharing_access(case, role, clients, world):
    check_access(case, role, clients, world)
