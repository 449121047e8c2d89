"""The sharing app's world: two laboratories with resources, the role user ``lab_manager`` scoped to the
first, and bookings and service requests of the role user ``client`` and of someone else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from qslab.core.testing import make_organisation, make_user


def make_lab(code: str, region: str = "320000") -> Any:
    from qslab.labs.models import Laboratory

    return Laboratory.objects.create(
        code=code,
        name_zh=f"国家{code}质量标准实验室",
        name_en=f"National {code} Quality Standards Laboratory",
        supporting_institution=make_organisation(region_code=region),
        region_code=region,
        status="named",
    )


def make_resource(lab: Any, code: str = "sem", **extra: Any) -> Any:
    """A resource open around the clock; ``rate_internal`` / ``rate_external`` / ``rate_academic`` (per
    hour) and ``sample_<class>`` (per sample) become its tariffs."""
    from qslab.sharing.models import Resource, Tariff

    defaults = {
        "name_zh": f"扫描电镜{code}",
        "name_en": f"Scanning electron microscope {code}",
        "maker": "Fictional Instruments",
        "model_name": "FX-100",
        "open_weekdays": "0123456",
        "opens_at": dt.time(0, 0),
        "closes_at": dt.time(23, 59),
        "min_notice_hours": 0,
        "max_notice_days": 400,
        "min_duration_minutes": 30,
        "max_duration_minutes": 480,
        "cancel_notice_hours": 0,
        "rate_internal": Decimal("100"),
        "rate_external": Decimal("300"),
    }
    fields = {**defaults, **extra}
    prices = {
        ("internal", "hour"): fields.pop("rate_internal"),
        ("industry", "hour"): fields.pop("rate_external"),
        ("academic", "hour"): fields.pop("rate_academic", None),
        **{(c, "sample"): fields.pop(f"sample_{c}", None) for c in ("internal", "academic", "industry")},
    }
    resource = Resource.objects.create(lab=lab, code=code, **fields)
    for (user_class, unit), price in prices.items():
        if price is not None:
            Tariff.objects.create(resource=resource, user_class=user_class, unit=unit, price=price)
    return resource


def scope_to(user: Any, lab: Any, role: str = "lab_manager") -> None:
    from django.contrib.contenttypes.models import ContentType

    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    ct = ContentType.objects.get_for_model(lab)
    RoleMembership.objects.filter(user=user, role=role).update(scope_type=ct, scope_id=str(lab.pk))
    forget_cached_roles(user)


def at(days: int, hour: int, minute: int = 0) -> dt.datetime:
    """A local time ``days`` from today."""
    date = timezone.localdate() + dt.timedelta(days=days)
    return timezone.make_aware(dt.datetime.combine(date, dt.time(hour, minute)))


def put(model_obj: Any, **fields: Any) -> Any:
    """Set fields of a test fixture row directly (test set-up, not a workflow move)."""
    type(model_obj).objects.filter(pk=model_obj.pk).update(**fields)
    model_obj.refresh_from_db()
    return model_obj


@pytest.fixture
def labs(db: Any) -> Any:
    return make_lab("own"), make_lab("other", "330000")


@pytest.fixture
def world(world: Any) -> Any:
    from qslab.sharing import services
    from qslab.sharing.models import Booking, ServiceRequest

    w = world
    w.lab = make_lab("own")
    w.other_lab = make_lab("other", "330000")
    scope_to(w.users["lab_manager"], w.lab)
    w.resource = make_resource(w.lab, "sem")
    w.approval_resource = make_resource(w.lab, "xrd", requires_approval=True)
    w.other_resource = make_resource(w.other_lab, "icp")
    w.hidden_resource = make_resource(w.lab, "draft", published=False)
    client = w.users["client"]
    w.stranger = make_user("client")
    w.booking = services.book_resource(client, w.resource, at(3, 9), at(3, 10))
    w.requested = services.book_resource(client, w.approval_resource, at(3, 9), at(3, 10))
    w.other_booking = services.book_resource(w.stranger, w.other_resource, at(4, 9), at(4, 10))
    w.request = services.request_service(client, w.lab, {"title": "Tensile test of 5 samples", "samples": 5})
    w.other_request = services.request_service(w.stranger, w.other_lab, {"title": "Salt spray test"})
    manager = w.users["lab_manager"]
    w.accepted = services.request_service(client, w.lab, {"title": "Salt spray", "samples": 2})
    services.quote_request(manager, w.accepted, Decimal("800"))
    services.move_request(client, w.accepted, "accept")
    w.working = services.request_service(client, w.lab, {"title": "Hardness", "samples": 1})
    services.quote_request(manager, w.working, Decimal("300"))
    services.move_request(client, w.working, "accept")
    (w.sample,) = services.receive_samples(manager, w.working, [{"description": "gear"}], "store A")
    services.move_request(manager, w.working, "start")
    assert Booking.objects.count() == 3 and ServiceRequest.objects.count() == 4
    return w
