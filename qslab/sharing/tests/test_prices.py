"""Prices as data: tariffs per hour and per sample for internal, academic/non-profit and industry users;
the price is computed and fixed on the booking and the service request."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import make_organisation, make_user, verified_client
from qslab.sharing import services
from qslab.sharing.models import Tariff
from qslab.sharing.tests.conftest import at, make_resource, scope_to


@pytest.fixture
def lab(labs):
    return labs[0]


@pytest.fixture
def manager(lab):
    user = make_user("lab_manager")
    scope_to(user, lab)
    return user


def member_of(kind):
    user = make_user("client")
    user.organisation = make_organisation(kind=kind)
    user.save(update_fields=["organisation"])
    return user


def test_a_university_member_books_at_the_academic_rate_and_a_company_at_the_industry_rate(lab):
    resource = make_resource(lab, rate_academic=Decimal("150"))
    academic = services.book_resource(member_of("university"), resource, at(2, 9), at(2, 11))
    industry = services.book_resource(member_of("enterprise"), resource, at(2, 13), at(2, 14, 30))
    assert (academic.user_class, academic.price) == ("academic", Decimal("300.00"))
    assert (industry.user_class, industry.price) == ("industry", Decimal("450.00"))


def test_a_research_institute_pays_the_industry_rate_where_the_lab_set_no_academic_one(lab):
    resource = make_resource(lab)
    booking = services.book_resource(member_of("research"), resource, at(2, 9), at(2, 10))
    assert booking.user_class == "academic" and booking.price == Decimal("300.00")


def test_the_price_is_fixed_when_booked_and_a_later_tariff_change_does_not_alter_it(lab, manager):
    resource = make_resource(lab)
    booking = services.book_resource(make_user("client"), resource, at(2, 9), at(2, 11))
    services.set_tariffs(manager, resource, {("industry", "hour"): Decimal("999")})
    booking.refresh_from_db()
    assert booking.amount == Decimal("600.00")
    later = services.book_resource(make_user("client"), resource, at(3, 9), at(3, 10))
    assert later.amount == Decimal("999.00")


def test_a_service_request_is_priced_per_sample_for_the_clients_class_and_quoted_at_that_price(lab, manager):
    resource = make_resource(lab, sample_industry=Decimal("400"), sample_academic=Decimal("250"))
    company = services.request_service(
        member_of("enterprise"), lab, {"title": "Hardness", "samples": 3, "resource": resource}
    )
    university = services.request_service(
        member_of("university"), lab, {"title": "Hardness", "samples": 3, "resource": resource}
    )
    assert company.estimate == Decimal("1200.00") and university.estimate == Decimal("750.00")
    quoted = services.quote_request(manager, university)
    assert quoted.status == "quoted" and quoted.quote_amount == Decimal("750.00")


def test_a_request_without_a_per_sample_tariff_needs_a_price_typed_in(lab, manager):
    from django.core.exceptions import ValidationError

    req = services.request_service(make_user("client"), lab, {"title": "Advice", "samples": 1})
    assert req.estimate is None
    with pytest.raises(ValidationError, match="no per-sample tariff"):
        services.quote_request(manager, req)
    assert services.quote_request(manager, req, Decimal("80")).quote_amount == Decimal("80.00")


def test_only_the_labs_managers_set_prices_and_each_change_is_audited(lab, labs, manager):
    resource = make_resource(lab)
    other_manager = make_user("lab_manager")
    scope_to(other_manager, labs[1])
    with pytest.raises(PermissionDenied):
        services.set_tariffs(other_manager, resource, {("industry", "hour"): Decimal("1")})
    services.set_tariffs(
        manager, resource, {("academic", "sample"): Decimal("50"), ("internal", "hour"): None}
    )
    assert {(t.user_class, t.unit): t.price for t in resource.tariffs.all()} == {
        ("industry", "hour"): Decimal("300.00"),
        ("academic", "sample"): Decimal("50.00"),
    }
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(Tariff)
    assert ChangeRecord.objects.filter(content_type=ct, user=manager).count() >= 2


def test_the_prices_page_saves_the_price_list_and_the_resource_page_marks_the_users_class(lab, manager):
    resource = make_resource(lab)
    client = verified_client(manager)
    url = reverse("sharing:tariffs", args=[resource.pk])
    response = client.post(url, {"hour_internal": "80", "hour_industry": "300", "sample_industry": "45.5"})
    assert response.status_code == 302
    assert resource.price_for("industry", Tariff.Unit.SAMPLE) == Decimal("45.50")
    assert resource.price_for("internal", Tariff.Unit.HOUR) == Decimal("80.00")
    page = client.get(resource.get_absolute_url()).content.decode()
    assert "45.50 CNY" in page and "your class" in page


def test_the_price_api_tells_a_caller_their_class_and_the_amount_for_a_time(lab):
    resource = make_resource(lab, rate_academic=Decimal("120"))
    user = member_of("university")
    client = verified_client(user)
    response = client.get(
        f"/api/sharing/resources/{resource.pk}/price",
        {"starts": at(2, 9).isoformat(), "ends": at(2, 10, 30).isoformat()},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["user_class"] == "academic" and Decimal(body["amount"]) == Decimal("180.00")
