"""The main user journeys of qslab under load (``make load``; see load/README.md).

Four kinds of users, weighted roughly as a national portal sees them: the public searching the
laboratory directory and reading the portal (most traffic), laboratory managers on their dashboard and
bookings, risk analysts on their signal and report lists, and API clients paging through the lists.
The seeded users and token come from ``manage.py seed_load``.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from locust import HttpUser, between, task

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


class _SignedIn(HttpUser):
    abstract = True
    username = ""

    def on_start(self) -> None:
        self.client.get("/accounts/login/", name="/accounts/login/")
        token = self.client.cookies.get("csrftoken", "")
        with self.client.post(
            "/accounts/login/",
            {"username": self.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
            name="/accounts/login/ (POST)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 302:
                response.success()
            else:
                response.failure(f"sign-in failed for {self.username}: {response.status_code}")


class LabManager(_SignedIn):
    weight = 2
    wait_time = between(1, 3)
    username = "load_lab_manager"

    @task(2)
    def dashboard(self) -> None:
        self.client.get("/work/", name="/work/ (dashboard)")

    @task(2)
    def bookings(self) -> None:
        self.client.get("/sharing/bookings/", name="/sharing/bookings/")

    @task(1)
    def catalogue(self) -> None:
        self.client.get("/sharing/", name="/sharing/ (catalogue)")


class Analyst(_SignedIn):
    weight = 2
    wait_time = between(1, 3)
    username = "load_analyst"

    @task(2)
    def signals(self) -> None:
        self.client.get("/risk/signals/", name="/risk/signals/")

    @task(2)
    def reports(self) -> None:
        self.client.get("/risk/reports/", name="/risk/reports/")

    @task(1)
    def dashboard(self) -> None:
        self.client.get("/work/", name="/work/ (dashboard)")


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
