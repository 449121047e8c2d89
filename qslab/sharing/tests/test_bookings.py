"""Bookings: every rule of the resource is checked on the server and refused with its own sentence."""

import datetime as dt

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.testing import make_user
from qslab.core.workflow import TransitionRefused
from qslab.sharing import services
from qslab.sharing.models import Blackout, Booking, Standing
from qslab.sharing.tests.conftest import at, make_resource, scope_to


@pytest.fixture
def lab(labs):
    return labs[0]


@pytest.fixture
def client_user(db):
    return make_user("client")


@pytest.fixture
def manager(lab):
    user = make_user("lab_manager")
    scope_to(user, lab)
    return user


def refusal(resource, user, starts, ends):
    with pytest.raises(ValidationError) as exc:
        services.book_resource(user, resource, starts, ends)
    return " ".join(exc.value.messages)


def test_a_booking_inside_every_rule_is_approved_at_once(lab, client_user):
    booking = services.book_resource(client_user, make_resource(lab), at(2, 9), at(2, 11), "SEM of welds")
    assert booking.status == "approved"
    assert booking.user_class == "industry"
    assert booking.amount == 600


def test_a_booking_outside_opening_hours_is_refused(lab, client_user):
    resource = make_resource(lab, opens_at=dt.time(8), closes_at=dt.time(18))
    assert "can be booked only between 08:00 and 18:00" in refusal(
        resource, client_user, at(2, 17), at(2, 19)
    )


def test_a_booking_on_a_closed_weekday_is_refused(lab, client_user):
    day = at(2, 9)
    closed = str((day.weekday() + 1) % 7)
    open_days = "".join(d for d in "0123456" if d != str(day.weekday()) and d != closed) or closed
    resource = make_resource(lab, open_weekdays=open_days)
    assert "can be booked only between" in refusal(resource, client_user, at(2, 9), at(2, 10))


def test_a_booking_with_too_little_notice_is_refused(lab, client_user):
    resource = make_resource(lab, min_notice_hours=72)
    assert "must be booked at least 72 hours ahead" in refusal(resource, client_user, at(1, 9), at(1, 10))


def test_a_booking_too_far_ahead_is_refused(lab, client_user):
    resource = make_resource(lab, max_notice_days=30)
    assert "at most 30 days ahead" in refusal(resource, client_user, at(40, 9), at(40, 10))


def test_a_booking_shorter_than_the_minimum_is_refused(lab, client_user):
    resource = make_resource(lab, min_duration_minutes=60)
    assert "lasts at least 60 minutes" in refusal(resource, client_user, at(2, 9), at(2, 9, 30))


def test_a_booking_longer_than_the_maximum_is_refused(lab, client_user):
    resource = make_resource(lab, max_duration_minutes=120)
    assert "lasts at most 120 minutes" in refusal(resource, client_user, at(2, 9), at(2, 12))


def test_a_booking_ending_before_it_starts_is_refused(lab, client_user):
    assert "The end must be after the start." in refusal(make_resource(lab), client_user, at(2, 10), at(2, 9))


def test_a_booking_during_maintenance_is_refused_with_the_period(lab, client_user):
    resource = make_resource(lab)
    Blackout.objects.create(resource=resource, starts=at(2, 8), ends=at(2, 12), reason="annual calibration")
    message = refusal(resource, client_user, at(2, 9), at(2, 10))
    assert "is unavailable from" in message and "annual calibration" in message


def test_a_resource_under_maintenance_cannot_be_booked(lab, client_user):
    resource = make_resource(lab, status="maintenance")
    assert "is not open for booking (under maintenance)" in refusal(
        resource, client_user, at(2, 9), at(2, 10)
    )


def test_an_unqualified_user_cannot_book_a_gated_resource_until_qualified(lab, client_user, manager):
    resource = make_resource(lab, requires_qualification=True)
    assert "Only users qualified on" in refusal(resource, client_user, at(2, 9), at(2, 10))
    services.grant_qualification(manager, resource, client_user)
    assert services.book_resource(client_user, resource, at(2, 9), at(2, 10)).status == "approved"


def test_an_overlapping_booking_is_refused_with_the_taken_time(lab, client_user):
    resource = make_resource(lab)
    services.book_resource(make_user("client"), resource, at(2, 9), at(2, 11))
    message = refusal(resource, client_user, at(2, 10), at(2, 12))
    assert "overlaps another booking" in message and "choose another time" in message


def test_a_booking_inside_the_buffer_of_another_is_refused(lab, client_user):
    resource = make_resource(lab, buffer_minutes=30)
    services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))
    assert "need a gap of 30 minutes" in refusal(resource, client_user, at(2, 10, 15), at(2, 11))
    assert services.book_resource(client_user, resource, at(2, 10, 30), at(2, 11))


def test_a_resource_with_capacity_two_takes_two_parallel_bookings_and_refuses_the_third(lab, client_user):
    resource = make_resource(lab, capacity=2)
    first = services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))
    second = services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))
    assert {first.slot, second.slot} == {0, 1}
    assert "overlaps another booking" in refusal(resource, client_user, at(2, 9), at(2, 10))


def test_a_cancelled_booking_frees_its_time(lab, client_user):
    resource = make_resource(lab)
    booking = services.book_resource(client_user, resource, at(2, 9), at(2, 10))
    services.move_booking(client_user, booking, "cancel")
    assert services.book_resource(make_user("client"), resource, at(2, 9), at(2, 10))


def test_a_resource_needing_approval_queues_the_booking_for_its_lab_manager(lab, client_user, manager):
    resource = make_resource(lab, requires_approval=True)
    booking = services.book_resource(client_user, resource, at(2, 9), at(2, 10))
    assert booking.status == "requested"
    with pytest.raises(TransitionRefused):
        services.move_booking(client_user, booking, "approve")
    assert services.move_booking(manager, booking, "approve").status == "approved"


def test_the_manager_of_another_lab_cannot_approve(labs, client_user):
    resource = make_resource(labs[0], requires_approval=True)
    booking = services.book_resource(client_user, resource, at(2, 9), at(2, 10))
    outsider = make_user("lab_manager")
    scope_to(outsider, labs[1])
    with pytest.raises(TransitionRefused) as exc:
        services.move_booking(outsider, booking, "approve")
    assert exc.value.code == "forbidden"


def test_a_late_cancellation_is_refused_by_the_policy(lab, client_user):
    resource = make_resource(lab, cancel_notice_hours=48)
    booking = services.book_resource(client_user, resource, at(1, 9), at(1, 10))
    with pytest.raises(TransitionRefused) as exc:
        services.move_booking(client_user, booking, "cancel")
    assert "only up to 48 hours before the start" in str(exc.value)


def test_check_in_opens_shortly_before_the_start_and_the_booking_can_then_be_completed(lab, client_user):
    booking = services.book_resource(client_user, make_resource(lab), at(2, 9), at(2, 10))
    with pytest.raises(TransitionRefused) as exc:
        services.move_booking(client_user, booking, "check_in")
    assert "Check-in opens 15 minutes before the start." in str(exc.value)
    with time_machine.travel(at(2, 8, 50)):
        assert services.move_booking(client_user, booking, "check_in").checked_in_at is not None
    with time_machine.travel(at(2, 10)):
        assert services.move_booking(client_user, booking, "complete").status == "completed"


def test_the_job_releases_bookings_not_checked_in_and_counts_a_violation(lab, client_user):
    booking = services.book_resource(client_user, make_resource(lab), at(2, 9), at(2, 10))
    with time_machine.travel(at(2, 9, 10)):
        assert services.release_no_shows() == 0
    with time_machine.travel(at(2, 9, 20)):
        assert services.release_no_shows() == 1
    booking.refresh_from_db()
    assert booking.status == "no_show"
    assert Standing.objects.get(user=client_user).violations == 1


def test_three_missed_bookings_block_the_user_from_booking_for_a_while(lab, client_user):
    resource = make_resource(lab)
    for day in (2, 3, 4):
        services.book_resource(client_user, resource, at(day, 9), at(day, 10))
    with time_machine.travel(at(4, 12)):
        assert services.release_no_shows() == 3
        assert "You may not book until" in refusal(resource, client_user, at(6, 9), at(6, 10))
    with time_machine.travel(at(40, 8)):
        assert services.book_resource(client_user, resource, at(41, 9), at(41, 10))


def test_nobody_signed_out_can_book(lab):
    from django.contrib.auth.models import AnonymousUser

    with pytest.raises(PermissionDenied):
        services.book_resource(AnonymousUser(), make_resource(lab), at(2, 9), at(2, 10))


def test_an_unpublished_resource_cannot_be_booked_by_a_client(lab, client_user):
    with pytest.raises(PermissionDenied):
        services.book_resource(client_user, make_resource(lab, published=False), at(2, 9), at(2, 10))


def test_the_managers_own_booking_is_internal_and_priced_at_the_internal_rate(lab, manager):
    booking = services.book_resource(manager, make_resource(lab), at(2, 9), at(2, 10))
    assert booking.user_class == Booking.UserClass.INTERNAL
    assert booking.amount == 100


def test_the_background_task_releases_no_shows(lab, client_user):
    from qslab.sharing.tasks import release_no_shows_task

    services.book_resource(client_user, make_resource(lab), at(2, 9), at(2, 10))
    with time_machine.travel(at(2, 10)):
        result = release_no_shows_task.enqueue()
    assert result.return_value == {"released": 1}


def test_a_booking_awaiting_approval_is_in_the_lab_managers_queue_only(labs, client_user, manager):
    booking = services.book_resource(
        client_user, make_resource(labs[0], requires_approval=True), at(2, 9), at(2, 10)
    )
    outsider = make_user("lab_manager")
    scope_to(outsider, labs[1])
    assert [i.url for i in services.queue_items(manager)] == [booking.get_absolute_url()]
    assert services.queue_items(outsider) == []


def test_a_weekly_booking_is_all_or_nothing_and_names_each_week_that_fails(lab, client_user):
    resource = make_resource(lab)
    services.book_resource(make_user("client"), resource, at(16, 9), at(16, 10))
    with pytest.raises(ValidationError) as exc:
        services.book_recurring(client_user, resource, at(2, 9), at(2, 10), repeat_weeks=3)
    assert len(exc.value.messages) == 1 and at(16, 9).strftime("%Y-%m-%d") in exc.value.messages[0]
    assert not Booking.objects.filter(user=client_user).exists()
    made = services.book_recurring(client_user, resource, at(2, 11), at(2, 12), repeat_weeks=3)
    assert [b.starts - made[0].starts for b in made] == [dt.timedelta(weeks=w) for w in range(3)]
