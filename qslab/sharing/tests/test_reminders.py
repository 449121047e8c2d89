"""Booking reminders: the daily job tells each booker, the day before, of the bookings that start
tomorrow, once; the scheduler enqueues it with the platform's daily reminders."""

import datetime as dt
import io

import pytest
import time_machine
from django.core.management import call_command

from qslab.core.models import Notification
from qslab.core.testing import make_user
from qslab.sharing import services
from qslab.sharing.tests.conftest import at, make_resource


@pytest.fixture
def resource(labs):
    return make_resource(labs[0], "sem", name_en="Scanning electron microscope", name_zh="扫描电镜")


def reminders_of(user):
    return Notification.objects.filter(recipient=user, verb="reminder")


def test_a_booker_is_reminded_the_day_before_once_and_other_days_bookings_wait(resource):
    client = make_user("client")
    tomorrow = services.book_resource(client, resource, at(1, 9), at(1, 11))
    services.book_resource(client, resource, at(3, 9), at(3, 10))
    with time_machine.travel(at(0, 0, 5), tick=False):
        assert services.send_booking_reminders() == 1
        assert services.send_booking_reminders() == 0
    (note,) = reminders_of(client)
    local = at(1, 9)
    assert f"{local:%Y-%m-%d} 09:00–11:00" in note.text_en and "Scanning electron microscope" in note.text_en
    assert "扫描电镜" in note.text_zh and note.link == tomorrow.get_absolute_url()
    with time_machine.travel(at(2, 0, 5), tick=False):
        assert services.send_booking_reminders() == 1


def test_cancelled_bookings_are_not_reminded_and_requested_ones_say_they_await_approval(labs):
    client = make_user("client")
    plain = make_resource(labs[0], "sem")
    gated = make_resource(labs[0], "xrd", requires_approval=True)
    cancelled = services.book_resource(client, plain, at(1, 9), at(1, 10))
    services.move_booking(client, cancelled, "cancel")
    services.book_resource(client, gated, at(1, 13), at(1, 14))
    with time_machine.travel(at(0, 6), tick=False):
        assert services.send_booking_reminders() == 1
    (note,) = reminders_of(client)
    assert "awaits the laboratory's approval" in note.text_en


def test_the_scheduler_enqueues_the_booking_reminders_with_the_daily_job(resource, settings):
    client = make_user("client")
    services.book_resource(client, resource, at(1, 9), at(1, 10))
    with time_machine.travel(at(0, 7), tick=False):
        call_command("run_scheduler", "--once", stdout=io.StringIO())  # tasks run at once in tests
    assert reminders_of(client).count() == 1


def test_the_command_sends_what_is_due(resource):
    client = make_user("client")
    services.book_resource(client, resource, at(1, 9), at(1, 10))
    out = io.StringIO()
    with time_machine.travel(at(0, 7) + dt.timedelta(minutes=1), tick=False):
        call_command("send_booking_reminders", stdout=out)
    assert "Reminded 1 booking(s)." in out.getvalue()
