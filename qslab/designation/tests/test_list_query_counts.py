"""The designation lists read only their page: as many queries for 30 rows as for 3."""

import datetime as dt
import itertools

from qslab.core.testing import (
    list_queries_at_two_sizes,
    make_organisation,
    make_user,
    page_queries_at_two_sizes,
)
from qslab.core.tests.test_list_query_counts import _add_documents
from qslab.designation.tests.factories import make_application, make_call, make_expert, on_agenda, seat

_n = itertools.count()


def _call():
    return make_call(f"c{next(_n)}")


def _applications(n, status="submitted"):
    call = _call()
    return [make_application(call, make_organisation(), status=status) for _ in range(n)]


def test_call_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            _call()

    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/designation/calls?limit=1000", add)
    assert few == many


def test_application_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/designation/applications?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, _applications)
    assert few == many


def test_notice_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.core.models import OfficialDocument
    from qslab.designation.models import PublicNotice

    def add(n):
        for app, number in zip(_applications(n, status="in_notice"), _add_documents(n), strict=True):
            PublicNotice.objects.create(
                application=app,
                starts_on=dt.date(2026, 1, 5),
                ends_on=dt.date(2026, 1, 12),
                opened_by=users["office"],
                document=OfficialDocument.objects.get(number=number),
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/designation/notices?limit=1000", add)
    assert few == many


def test_construction_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.designation.models import Construction, Milestone
    from qslab.labs.tests.conftest import make_lab

    def add(n):
        for i, app in enumerate(_applications(n, status="designated")):
            construction = Construction.objects.create(
                status=("building", "acceptance")[i % 2],  # each state's actions have their own guards
                application=app,
                laboratory=make_lab(f"CN{next(_n)}", status="under_construction"),
                starts_on=dt.date(2026, 1, 1),
                ends_on=dt.date(2028, 12, 31),
                next_report_due=dt.date(2026, 7, 1),
            )
            Milestone.objects.create(construction=construction, title="a", due=dt.date(2026, 6, 1))
            Milestone.objects.create(
                construction=construction, title="b", due=dt.date(2026, 3, 1), done_on=dt.date(2026, 2, 1)
            )

    few, many = list_queries_at_two_sizes(clients["office"], "/api/designation/constructions?limit=1000", add)
    assert few == many


def test_construction_list_counts_each_constructions_milestones(clients):
    from qslab.designation.models import Construction, Milestone
    from qslab.labs.tests.conftest import make_lab

    (app,) = _applications(1, status="designated")
    construction = Construction.objects.create(
        application=app,
        laboratory=make_lab("CNX", status="under_construction"),
        starts_on=dt.date(2026, 1, 1),
        ends_on=dt.date(2028, 12, 31),
        next_report_due=dt.date(2026, 7, 1),
    )
    Milestone.objects.create(construction=construction, title="a", due=dt.date(2026, 6, 1))
    Milestone.objects.create(construction=construction, title="b", due=dt.date(2026, 5, 1))
    Milestone.objects.create(
        construction=construction, title="c", due=dt.date(2026, 3, 1), done_on=dt.date(2026, 2, 1)
    )
    (item,) = clients["office"].get("/api/designation/constructions").json()["items"]
    assert (item["milestones_total"], item["milestones_reached"]) == (3, 1)


def test_site_visit_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.designation.models import SiteVisit

    def add(n):
        for app in _applications(n):
            visit = SiteVisit.objects.create(
                application=app,
                visited_on=dt.date(2026, 3, 1),
                findings="ok",
                conclusion="pass",
                recorded_by=users["office"],
            )
            visit.inspectors.set([users["expert"], make_user("expert")])

    few, many = list_queries_at_two_sizes(clients["office"], "/api/designation/site-visits?limit=1000", add)
    assert few == many


def test_review_meeting_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.designation.models import ReviewMeeting

    def add(n):
        for _ in range(n):
            apps = _applications(2)
            meeting = ReviewMeeting.objects.create(
                call=apps[0].call, held_on=dt.date(2026, 3, 1), minutes="heard", recorded_by=users["office"]
            )
            meeting.applications.set(apps)
            meeting.attendees.set([users["expert"], users["committee"]])

    url = "/api/designation/review-meetings?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_committee_term_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            seat(make_user("committee"), organisation=make_organisation())

    url = "/api/designation/committee/terms?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_committee_meeting_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    from qslab.core.models import OfficialDocument
    from qslab.designation.models import CommitteeMeeting, Decision

    def add(n):
        for number in _add_documents(n):
            apps = _applications(2, status="recommended")
            meeting = on_agenda(*apps)
            CommitteeMeeting.objects.filter(pk=meeting.pk).update(
                document=OfficialDocument.objects.get(number=number)
            )
            Decision.objects.create(
                application=apps[0], outcome="approve", meeting=meeting, recorded_by=users["office"]
            )

    url = "/api/designation/committee/meetings?limit=1000"
    few, many = list_queries_at_two_sizes(clients["office"], url, add)
    assert few == many


def test_committee_meeting_list_shows_each_agenda_items_latest_decision(users, clients):
    from qslab.designation.models import Decision

    apps = _applications(2, status="recommended")
    meeting = on_agenda(*apps)
    other = on_agenda(apps[1])
    Decision.objects.create(
        application=apps[0], outcome="defer", meeting=meeting, recorded_by=users["office"]
    )
    Decision.objects.create(
        application=apps[0], outcome="approve", meeting=meeting, recorded_by=users["office"]
    )
    Decision.objects.create(application=apps[1], outcome="reject", meeting=other, recorded_by=users["office"])
    items = {m["id"]: m for m in clients["office"].get("/api/designation/committee/meetings").json()["items"]}
    assert [a["decision"] for a in items[meeting.pk]["agenda"]] == ["approve", None]
    assert [a["decision"] for a in items[other.pk]["agenda"]] == ["reject"]


def test_expert_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        for _ in range(n):
            make_expert()

    few, many = list_queries_at_two_sizes(clients["office"], "/api/designation/experts?limit=1000", add)
    assert few == many


# The designation pages list every row (no pagination); their query counts are pinned all the same.


def test_calls_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        return [_call().title_en for _ in range(n)]

    few, many = page_queries_at_two_sizes(clients["office"], "/designation/", add)
    assert few == many


def test_applications_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        return [a.name_en for a in _applications(n)]

    few, many = page_queries_at_two_sizes(clients["office"], "/designation/applications/", add)
    assert few == many


def test_experts_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    def add(n):
        return [make_expert().name for _ in range(n)]

    few, many = page_queries_at_two_sizes(clients["office"], "/designation/experts/", add)
    assert few == many


def test_constructions_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.designation.models import Construction
    from qslab.labs.tests.conftest import make_lab

    def add(n):
        names = []
        for app in _applications(n, status="designated"):
            lab = make_lab(f"CP{next(_n)}", status="under_construction")
            Construction.objects.create(
                application=app, laboratory=lab, starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2028, 12, 31)
            )
            names.append(lab.name_en)
        return names

    few, many = page_queries_at_two_sizes(clients["office"], "/designation/constructions/", add)
    assert few == many


PINNED_LISTS = {
    "qslab_designation_api_list_calls": test_call_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_designation_api_list_applications": (
        test_application_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
    "qslab_designation_api_list_notices": test_notice_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_designation_api_list_constructions": (
        test_construction_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
    "qslab_designation_api_list_site_visits": test_site_visit_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_designation_api_list_review_meetings": (
        test_review_meeting_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
    "qslab_designation_api_list_committee_terms": (
        test_committee_term_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
    "qslab_designation_api_list_committee_meetings": (
        test_committee_meeting_list_runs_as_many_queries_for_30_rows_as_for_3
    ),
    "qslab_designation_api_list_experts": test_expert_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "designation:calls": test_calls_page_runs_as_many_queries_for_30_rows_as_for_3,
    "designation:applications": test_applications_page_runs_as_many_queries_for_30_rows_as_for_3,
    "designation:experts": test_experts_page_runs_as_many_queries_for_30_rows_as_for_3,
    "designation:constructions": test_constructions_page_runs_as_many_queries_for_30_rows_as_for_3,
}
