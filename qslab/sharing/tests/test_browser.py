"""In a real browser (Debian chromium): an industry client finds an instrument, books it, is refused an
overlapping slot with a clear message, checks in, and receives a monthly statement."""

import os

import pytest
import time_machine

from qslab.core.testing import make_user
from qslab.sharing import services
from qslab.sharing.tests.conftest import at, make_lab, make_resource, scope_to

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # pytest-django's live_server beside Playwright

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PASSWORD = "correct horse battery staple"


def test_a_client_finds_books_is_refused_an_overlap_checks_in_and_gets_a_statement(live_server, page):
    lab = make_lab("browser")
    resource = make_resource(
        lab, "sem", name_en="Scanning electron microscope", name_zh="扫描电镜", min_notice_hours=0
    )
    manager = make_user("lab_manager")
    scope_to(manager, lab)
    client = make_user("client", username="client_browser")
    services.book_resource(make_user("client"), resource, at(2, 13), at(2, 15))

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(client.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()

    page.goto(f"{live_server.url}/sharing/?q=electron")
    page.get_by_role("link", name="Scanning electron microscope").click()
    page.get_by_role("link", name="Book", exact=True).click()

    def book(starts, ends):
        page.get_by_label("starts").fill(starts.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_label("ends").fill(ends.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name="Book").click()
        page.wait_for_load_state()

    book(at(2, 14), at(2, 16))
    assert "overlaps another booking" in page.get_by_role("alert").first.inner_text()
    book(at(2, 9), at(2, 11))
    assert "Booked." in page.content()
    booking_url = page.url

    with time_machine.travel(at(2, 9, 5), tick=True):
        page.goto(booking_url)
        page.locator("[data-transition=check_in]").click()
        page.wait_for_load_state()
        assert "checked in" in page.content()
        page.locator("[data-transition=complete]").click()
        page.wait_for_load_state()
        assert "completed" in page.content()

    day = at(2, 9)
    invoice = services.issue_monthly_statement(manager, lab, client, day.year, day.month)
    page.goto(f"{live_server.url}/sharing/invoices/")
    assert invoice.document.number in page.content()
