"""No double booking, even for requests at the same instant: on PostgreSQL, twenty threads ask for the
same slot and exactly one succeeds (the per-resource lock, backed by the exclusion constraint)."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction

from qslab.core.testing import make_user
from qslab.sharing import services
from qslab.sharing.models import Booking
from qslab.sharing.tests.conftest import at, make_lab, make_resource

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="needs PostgreSQL: threads and the exclusion constraint"
    ),
]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_simultaneous_requests_for_one_slot_give_exactly_one_booking():
    resource = make_resource(make_lab("race"))
    users = [make_user("client") for _ in range(20)]
    barrier = threading.Barrier(len(users))
    outcomes: list[str] = []

    def attempt(user):
        try:
            barrier.wait()
            services.book_resource(user, resource, at(2, 9), at(2, 10))
            outcomes.append("booked")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("booked") == 1
    assert Booking.objects.filter(resource=resource).count() == 1
    assert all("overlaps another booking" in o or "just booked" in o for o in outcomes if o != "booked")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_database_itself_refuses_an_overlapping_booking_of_the_same_slot():
    resource = make_resource(make_lab("race2"))
    first = services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))
    with pytest.raises(IntegrityError), transaction.atomic():
        Booking.objects.create(
            resource=resource,
            user=make_user("client"),
            starts=at(2, 9, 30),
            ends=at(2, 11),
            status="approved",
        )
    assert Booking.objects.filter(resource=resource).get() == first
