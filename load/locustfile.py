"""The main user journeys of qslab under load (``make load``; see docs/security.md).

Five kinds of users, weighted roughly as a national portal sees them: the public searching the
laboratory directory and reading the portal (most traffic), laboratory managers on their dashboard and
bookings, risk analysts on their signal and report lists, API clients paging through the lists, and
people signing in and out.
The seeded users and token come from ``manage.py seed_load``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import HttpUser, between, events, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "qslab-load-2026")
TOKEN_FILE = Path(os.environ.get("LOAD_TOKEN_FILE", "var/load/load-token.txt"))
SEARCHES = ["负载", "Load", "1", "国家", "Quality", "2"]
REGIONS = ["110000", "310000", "320000", "330000", "440000"]


class Visitor(HttpUser):
    """The public: home page, notices, directory search, public API lists."""

    weight = 5
    wait_time = between(0.5, 2)

    @task(3)
    def search_directory(self) -> None:
        self.client.get(f"/labs/?q={random.choice(SEARCHES)}", name="/labs/?q=")

    @task(2)
    def filter_directory(self) -> None:
        self.client.get(f"/labs/?region={random.choice(REGIONS)}", name="/labs/?region=")

    @task(2)
    def home(self) -> None:
        self.client.get("/", name="/ (portal)")

    @task(1)
    def public_labs_api(self) -> None:
        self.client.get(
            f"/api/labs/laboratories?limit=20&offset={random.randrange(0, 500)}",
            name="/api/labs/laboratories",
        )

    @task(1)
    def public_reports_api(self) -> None:
        self.client.get("/api/risk/reports?limit=20", name="/api/risk/reports (public)")


def _sign_in(client, username: str) -> bool:
    """Sign in as a browser does (form, CSRF cookie, POST); True when the server accepted it."""
    client.get("/accounts/login/", name="/accounts/login/")
    token = client.cookies.get("csrftoken", "")
    with client.post(
        "/accounts/login/",
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        name="/accounts/login/ (POST)",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        if response.status_code == 302:
            response.success()
            return True
        response.failure(f"sign-in failed for {username}: {response.status_code}")
        return False


_SESSIONS: dict[str, str] = {}


@events.test_start.add_listener
def _sign_in_once_per_role(environment, **_kwargs) -> None:  # type: ignore[no-untyped-def]
    """Staff users are already signed in when the measured run starts, as on a working day: each role
    signs in once here (outside the statistics) and its simulated users share that session. Signing in
    itself is measured by ``SigningIn`` below, at the rate people sign in, not all at the same second
    (password hashing is slow on purpose: twenty sign-ins at once held both cores for seconds)."""
    import requests

    for username in {cls.username for cls in (LabManager, Analyst)}:
        session = requests.Session()
        session.get(f"{environment.host}/accounts/login/")
        csrf = session.cookies.get("csrftoken")
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf}
        session.post(f"{environment.host}/accounts/login/", form, allow_redirects=False)
        _SESSIONS[username] = session.cookies.get("sessionid", "")


class _SignedIn(HttpUser):
    abstract = True
    username = ""

    def on_start(self) -> None:
        session = _SESSIONS.get(self.username)
        if session:
            self.client.cookies.set("sessionid", session)
        else:  # started without the test_start hook (e.g. a single class from the command line)
            _sign_in(self.client, self.username)

    def page(self, path: str, name: str) -> None:
        """A staff page; landing on the sign-in form instead counts as a failure, not a fast success."""
        with self.client.get(path, name=name, catch_response=True) as response:
            if "/accounts/login/" in response.url:
                response.failure(f"{self.username} is not signed in")


class LabManager(_SignedIn):
    weight = 2
    wait_time = between(1, 3)
    username = "load_lab_manager"

    @task(2)
    def dashboard(self) -> None:
        self.page("/work/", "/work/ (dashboard)")

    @task(2)
    def bookings(self) -> None:
        self.page("/sharing/bookings/", "/sharing/bookings/")

    @task(1)
    def catalogue(self) -> None:
        self.page("/sharing/", "/sharing/ (catalogue)")


class Analyst(_SignedIn):
    weight = 2
    wait_time = between(1, 3)
    username = "load_analyst"

    @task(2)
    def signals(self) -> None:
        self.page("/risk/signals/", "/risk/signals/")

    @task(2)
    def reports(self) -> None:
        self.page("/risk/reports/", "/risk/reports/")

    @task(1)
    def dashboard(self) -> None:
        self.page("/work/", "/work/ (dashboard)")


class ApiClient(HttpUser):
    """A program with a personal token paging through the lists."""

    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {TOKEN_FILE.read_text().strip()}"

    @task(2)
    def reports(self) -> None:
        offset = random.randrange(0, 5000)
        self.client.get(f"/api/risk/reports?limit=50&offset={offset}", name="/api/risk/reports (token)")

    @task(1)
    def labs(self) -> None:
        self.client.get("/api/labs/laboratories?limit=50", name="/api/labs/laboratories (token)")

    @task(1)
    def resources(self) -> None:
        self.client.get("/api/sharing/resources?limit=50", name="/api/sharing/resources")


class SigningIn(HttpUser):
    """Someone signing in, looking at the dashboard and signing out again: about one sign-in every
    few seconds across the run (with 50 users, about 5 of these: some 20 sign-ins in two minutes)."""

    weight = 1
    wait_time = between(20, 40)

    @task
    def sign_in_and_out(self) -> None:
        if _sign_in(self.client, random.choice((LabManager.username, Analyst.username))):
            self.client.get("/work/", name="/work/ (dashboard)")
            self.client.post(
                "/accounts/logout/",
                {"csrfmiddlewaretoken": self.client.cookies.get("csrftoken", "")},
                name="/accounts/logout/ (POST)",
                allow_redirects=False,
            )
        self.client.cookies.clear()
