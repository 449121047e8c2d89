"""The catalogue, lab-manager scoping, service requests with invoices, monthly statements, usage figures
and the demo data."""

import base64
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse

from qslab.core.testing import make_user, verified_client
from qslab.core.workflow import TransitionRefused
from qslab.sharing import services
from qslab.sharing.models import Booking, Invoice, Resource, ServiceRequest
from qslab.sharing.tests.conftest import at, make_lab, make_resource, scope_to


def chart_svgs(page: str) -> list[str]:
    """The SVG charts a page shows as ``<img src="data:image/svg+xml;base64,...">`` ({% chart_img %})."""
    return [
        base64.b64decode(b).decode()
        for b in re.findall(r'<img class="chart-img" src="data:image/svg\+xml;base64,([^"]+)"', page)
    ]


@pytest.fixture
def lab(labs):
    return labs[0]


@pytest.fixture
def manager(lab):
    user = make_user("lab_manager")
    scope_to(user, lab)
    return user


@pytest.fixture
def customer(db):
    return make_user("client")


def test_the_public_search_finds_resources_by_chinese_or_english_name_and_filters_by_kind(lab):
    make_resource(lab, "sem", name_zh="扫描电镜", name_en="Scanning electron microscope")
    make_resource(lab, "db", kind="dataset", name_zh="缺陷数据集", name_en="Defect data set")
    assert [r.code for r in services.search_catalogue(None, q="电镜")] == ["sem"]
    assert [r.code for r in services.search_catalogue(None, q="electron")] == ["sem"]
    assert [r.code for r in services.search_catalogue(None, kind="dataset")] == ["db"]


def test_unpublished_and_retired_resources_stay_out_of_the_public_catalogue(lab, manager):
    make_resource(lab, "draft", published=False)
    make_resource(lab, "old", status="retired")
    make_resource(lab, "sem")
    assert [r.code for r in services.search_catalogue(None)] == ["sem"]
    assert {r.code for r in services.search_catalogue(manager)} == {"draft", "old", "sem"}


def test_the_catalogue_page_lists_what_the_search_finds(lab, client):
    make_resource(lab, "sem", name_en="Scanning electron microscope")
    make_resource(lab, "xrd", name_en="X-ray diffractometer")
    page = client.get(reverse("sharing:catalogue"), {"q": "diffracto"}).content.decode()
    assert "X-ray diffractometer" in page and "Scanning electron microscope" not in page


def test_a_lab_manager_cannot_add_or_change_a_resource_of_another_lab(labs, manager):
    other = make_resource(labs[1], "icp")
    with pytest.raises(PermissionDenied):
        services.save_resource(manager, labs[1], {"code": "new", "name_zh": "新", "name_en": "New"})
    with pytest.raises(PermissionDenied):
        services.save_resource(manager, labs[1], {"name_en": "Renamed"}, resource=other)
    assert not Resource.objects.editable_by(manager).filter(pk=other.pk).exists()
    response = verified_client(manager).post(reverse("sharing:resource_edit", args=[other.pk]), {"code": "x"})
    assert response.status_code == 403


def test_a_lab_manager_adds_a_resource_to_their_lab_and_a_duplicate_code_is_refused(lab, manager):
    data = {"code": "sem", "name_zh": "电镜", "name_en": "SEM"}
    assert services.save_resource(manager, lab, data).lab == lab
    with pytest.raises(ValidationError) as exc:
        services.save_resource(manager, lab, data)
    assert "already has a resource with this code" in str(exc.value)


def test_the_resource_page_shows_the_week_with_my_booking_and_others_anonymised(lab, customer):
    resource = make_resource(lab)
    services.book_resource(customer, resource, at(1, 9), at(1, 10))
    services.book_resource(make_user("client", username="someone_else"), resource, at(1, 11), at(1, 12))
    monday = (at(1, 9).date() - dt.timedelta(days=at(1, 9).weekday())).isoformat()
    page = (
        verified_client(customer)
        .get(reverse("sharing:resource_week", args=[resource.pk]), {"week": monday})
        .content.decode()
    )
    assert "my booking" in page and "booked" in page and "someone_else" not in page


def test_a_client_sees_only_their_own_bookings_and_requests(lab, customer):
    resource = make_resource(lab)
    mine = services.book_resource(customer, resource, at(2, 9), at(2, 10))
    services.book_resource(make_user("client"), resource, at(2, 11), at(2, 12))
    services.request_service(customer, lab, {"title": "My hardness test"})
    services.request_service(make_user("client"), lab, {"title": "Their salt spray"})
    assert list(Booking.objects.visible_to(customer)) == [mine]
    assert [r.title for r in ServiceRequest.objects.visible_to(customer)] == ["My hardness test"]
    page = verified_client(customer).get(reverse("sharing:requests")).content.decode()
    assert "My hardness test" in page and "Their salt spray" not in page


def test_a_service_request_goes_from_quote_to_a_numbered_invoice_the_client_can_see(lab, manager, customer):
    req = services.request_service(customer, lab, {"title": "Salt spray, 6 panels", "samples": 6})
    with pytest.raises(TransitionRefused):
        services.move_request(customer, req, "accept")
    services.quote_request(manager, req, Decimal("4800"), "GB/T 10125")
    services.move_request(customer, req, "accept")
    services.receive_samples(manager, req, [{"description": "panel 1"}])
    services.move_request(manager, req, "start")
    services.issue_report(manager, req, "无锈蚀", "no corrosion")
    req = services.move_request(manager, req, "invoice")
    assert req.status == "invoiced"
    invoice = Invoice.objects.get(service_request=req)
    assert invoice.total == Decimal("4800.00")
    assert invoice.document.number.startswith("质标共享账")
    assert list(Invoice.objects.visible_to(customer)) == [invoice]
    assert not Invoice.objects.visible_to(make_user("client")).exists()
    export = verified_client(customer).get(reverse("sharing:invoices"), {"format": "csv"}).content.decode()
    assert invoice.document.number in export and "4800.00" in export


def test_a_client_cannot_quote_their_own_request(lab, customer):
    req = services.request_service(customer, lab, {"title": "Hardness"})
    with pytest.raises(PermissionDenied):
        services.quote_request(customer, req, Decimal("1"))


def test_the_monthly_statement_bills_completed_bookings_at_the_industry_rate_once(lab, manager, customer):
    resource = make_resource(lab)
    booking = services.book_resource(customer, resource, at(2, 9), at(2, 11))
    with time_machine.travel(at(2, 9)):
        services.move_booking(customer, booking, "check_in")
    with time_machine.travel(at(2, 11)):
        services.move_booking(customer, booking, "complete")
    day = at(2, 9)
    invoice = services.issue_monthly_statement(manager, lab, customer, day.year, day.month)
    assert invoice.total == Decimal("600.00")  # 2 h x 300 CNY industry
    with pytest.raises(ValidationError) as exc:
        services.issue_monthly_statement(manager, lab, customer, day.year, day.month)
    assert "no completed, uninvoiced bookings" in str(exc.value)


def test_usage_summary_counts_machine_hours_external_share_and_clients(lab, manager, customer):
    resource = make_resource(lab)
    external = services.book_resource(customer, resource, at(2, 9), at(2, 12))
    internal = services.book_resource(manager, resource, at(2, 13), at(2, 14))
    for b in (external, internal):
        with time_machine.travel(b.starts):
            services.move_booking(b.user, b, "check_in")
    summary = services.usage_summary(lab, at(2, 9).year)
    assert summary["machine_hours"] == 4.0
    assert summary["external_hours"] == 3.0
    assert summary["external_share"] == 0.75
    assert summary["clients"] == 2 and summary["external_clients"] == 1
    assert summary["resources"][0]["bookings"] == 2


def test_the_usage_page_draws_the_chart_as_an_svg_image(lab, manager):
    make_resource(lab)
    page = verified_client(manager).get(reverse("sharing:usage", args=[lab.pk])).content.decode()
    (chart,) = chart_svgs(page)
    assert "<svg" in chart and "Machine hours" in chart and 'alt="Machine hours' in page


def test_the_resource_feed_is_an_icalendar_with_one_event_per_booking(lab, customer):
    resource = make_resource(lab)
    services.book_resource(customer, resource, at(2, 9), at(2, 10))
    body = verified_client(None).get(reverse("sharing:resource_ics", args=[resource.pk])).content.decode()
    assert body.startswith("BEGIN:VCALENDAR") and body.count("BEGIN:VEVENT") == 1


def test_the_api_refuses_an_overlapping_booking_with_the_rule_in_the_message(lab, customer):
    from qslab.accounts.models import ApiToken

    resource = make_resource(lab)
    services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))
    token = ApiToken.issue(customer, "t")[1]
    response = verified_client(None).post(
        f"/api/sharing/resources/{resource.pk}/bookings",
        data={"starts": at(2, 9, 30).isoformat(), "ends": at(2, 10, 30).isoformat()},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert "overlaps another booking" in response.json()["detail"] + str(response.json()["errors"])


def test_the_demo_data_loads_twice_without_duplicates(db):
    make_lab("demo-a")
    make_user("office", username="office")
    make_user("client", username="client")
    call_command("load_demo_sharing", stdout=io.StringIO())
    counts = (Resource.objects.count(), Booking.objects.count(), ServiceRequest.objects.count())
    call_command("load_demo_sharing", stdout=io.StringIO())
    assert counts == (Resource.objects.count(), Booking.objects.count(), ServiceRequest.objects.count())
    assert set(Booking.objects.values_list("status", flat=True)) == {
        "requested", "approved", "rejected", "checked_in", "completed", "cancelled", "no_show",
    }  # fmt: skip


def test_a_committee_member_reads_usage_but_is_not_offered_the_statement(lab):
    page = (
        verified_client(make_user("committee")).get(reverse("sharing:usage", args=[lab.pk])).content.decode()
    )
    assert len(chart_svgs(page)) == 1 and reverse("sharing:statement", args=[lab.pk]) not in page
