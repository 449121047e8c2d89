"""The risk lists and pages read only their page: as many queries for 30 rows as for 3."""

import datetime as dt
import itertools

from django.utils import timezone

from qslab.core.testing import list_queries_at_two_sizes, page_queries_at_two_sizes
from qslab.risk.tests.conftest import alert_data, make_report, make_terms

_n = itertools.count(1)


def test_term_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.risk.models import Term

    def add(n):
        for _ in range(n):
            i = next(_n)
            Term.objects.create(
                kind=Term.Kind.HAZARD, code=f"zz-test-{i}", name_zh=f"危害{i}", name_en=f"zz-test hazard {i}"
            )

    url = "/api/risk/terms?kind=hazard&q=zz-test&limit=1000"
    few, many = list_queries_at_two_sizes(clients["anonymous"], url, add)
    assert few == many


def test_terms_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    from qslab.risk.models import Term

    def add(n):
        codes = [f"zz-term-{next(_n):04d}" for _ in range(n)]
        for code in codes:
            Term.objects.create(kind=Term.Kind.HAZARD, code=code, name_zh="危害", name_en="zz hazard")
        return codes

    few, many = page_queries_at_two_sizes(clients["analyst"], "/risk/taxonomies/?kind=hazard&q=zz", add)
    assert few == many


def _add_reports(n, status="published"):
    terms = make_terms()
    references = [f"IRZZ-{next(_n):05d}" for _ in range(n)]
    for reference in references:
        make_report(terms, status=status, reference=reference)
    return references


def test_report_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/risk/reports?limit=1000", _add_reports)
    assert few == many


def test_reports_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/risk/reports/", _add_reports)
    assert few == many


def _add_patterns(n):
    """n public patterns, each with two evidence cases the public may see and one it may not."""
    from qslab.risk.models import DefectPattern

    terms = make_terms()
    titles = []
    for _ in range(n):
        title = f"zz-pattern-{next(_n):04d}"
        pattern = DefectPattern.objects.create(
            title_zh=title,
            title_en=title,
            product_category=terms["kettle"],
            hazard=terms["thermal"],
            is_public=True,
        )
        reports = [make_report(terms, status=s, reference=f"IRZP-{next(_n):05d}") for s in ("published",) * 2]
        reports.append(make_report(terms, status="submitted", reference=f"IRZP-{next(_n):05d}"))
        pattern.evidence.set(reports)
        titles.append(title)
    return titles


def test_pattern_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(
        clients["anonymous"], "/api/risk/patterns?limit=1000", _add_patterns
    )
    assert few == many


def test_pattern_list_shows_each_pattern_the_evidence_its_reader_may_see(clients):
    """The page-level evidence lookup keeps the per-reader filter and the newest-first order."""
    titles = _add_patterns(2)
    body = clients["anonymous"].get("/api/risk/patterns?limit=1000").json()
    by_title = {p["title_en"]: p["evidence"] for p in body["items"]}
    for title in titles:
        assert len(by_title[title]) == 2 and by_title[title] == sorted(by_title[title], reverse=True)
    staff = {
        p["title_en"]: p["evidence"] for p in clients["analyst"].get("/api/risk/patterns").json()["items"]
    }
    assert all(len(staff[title]) == 3 for title in titles)


def test_patterns_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/risk/patterns/", _add_patterns)
    assert few == many


def _add_signals(n):
    from qslab.risk.models import SeriesFamily, Signal

    labels = []
    for _ in range(n):
        i = next(_n)
        family = SeriesFamily.objects.create(
            name=f"family {i}", source="neiss", by="product_code", period="month", method="earsC", control={}
        )
        label = f"zz-signal-{i:04d}"
        Signal.objects.create(
            family=family,
            unit=str(i),
            unit_label=label,
            first_period=dt.date(2021, 11, 1),
            last_period=dt.date(2021, 12, 1),
            observed=30,
            upperbound=20,
            method="earsC",
            config={},
        )
        labels.append(label)
    return labels


def test_signal_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["analyst"], "/api/risk/signals?limit=1000", _add_signals)
    assert few == many


def test_signals_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/risk/signals/", _add_signals)
    assert few == many


def _add_ingests(users, n):
    from qslab.risk.models import IngestRun

    names = [f"zz-ingest-{next(_n):04d}.csv" for _ in range(n)]
    for name in names:
        IngestRun.objects.create(
            source="neiss",
            file_name=name,
            file=f"risk/ingest/{name}",
            owner=users["analyst"],
            status="rejected",
        )
    return names


def test_ingest_list_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    url = "/api/risk/ingests?limit=1000"
    few, many = list_queries_at_two_sizes(clients["analyst"], url, lambda n: _add_ingests(users, n))
    assert few == many


def test_ingests_page_runs_as_many_queries_for_30_rows_as_for_3(users, clients):
    few, many = page_queries_at_two_sizes(
        clients["analyst"], "/risk/intake/", lambda n: _add_ingests(users, n)
    )
    assert few == many


def _add_assessments(n):
    """n assessments, each from a signal, with two scenarios of two steps each."""
    from qslab.risk.models import RiskAssessment, RiskMatrix, RiskScenario, ScenarioStep, Signal

    terms = make_terms()
    matrix = RiskMatrix.objects.get(code="eu-safety-gate")
    signal_labels = _add_signals(n)
    references = []
    for label in signal_labels:
        reference = f"RAZZ-{next(_n):05d}"
        assessment = RiskAssessment.objects.create(
            reference=reference,
            title_en="Kettle lid",
            product_category=terms["kettle"],
            hazard=terms["thermal"],
            matrix=matrix,
            signal=Signal.objects.get(unit_label=label),
        )
        for position in (1, 2):
            scenario = RiskScenario.objects.create(
                assessment=assessment, position=position, description_en="lid opens", severity=3
            )
            ScenarioStep.objects.create(
                scenario=scenario, position=1, description_en="boils", probability=0.5
            )
            ScenarioStep.objects.create(
                scenario=scenario, position=2, description_en="spills", probability=0.5
            )
        references.append(reference)
    return references


def test_assessment_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/risk/assessments?limit=1000"
    few, many = list_queries_at_two_sizes(clients["analyst"], url, _add_assessments)
    assert few == many


def test_assessment_list_keeps_each_assessments_scenarios_and_steps(clients):
    references = _add_assessments(2)
    items = {a["reference"]: a for a in clients["analyst"].get("/api/risk/assessments").json()["items"]}
    for reference in references:
        scenarios = items[reference]["scenarios"]
        assert [s["position"] for s in scenarios] == [1, 2]
        assert [[st["description_en"] for st in s["steps"]] for s in scenarios] == [["boils", "spills"]] * 2


def test_assessments_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["analyst"], "/risk/assessments/", _add_assessments)
    assert few == many


def _add_alerts(n, updates=True):
    """n published alerts, each with a public and a private update and a photo."""
    from qslab.risk.models import AlertUpdate, ConsumerAlert

    terms = make_terms()
    terms["thermal_hazard"] = terms["thermal"]
    references = []
    for _ in range(n):
        reference = f"CAZZ{next(_n):05d}"
        alert = ConsumerAlert.objects.create(
            reference=reference, status="published", published_at=timezone.now(), **alert_data(terms)
        )
        if updates:
            AlertUpdate.objects.create(alert=alert, date=dt.date(2026, 1, 9), text_en="More batches.")
            AlertUpdate.objects.create(
                alert=alert, date=dt.date(2026, 1, 10), text_en="Internal", is_public=False
            )
        references.append(reference)
    return references


def test_alert_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/risk/alerts?limit=1000", _add_alerts)
    assert few == many


def test_alert_list_shows_only_public_updates(clients):
    _add_alerts(2)
    for alert in clients["anonymous"].get("/api/risk/alerts?limit=1000").json()["items"]:
        assert [u["text_en"] for u in alert["updates"]] == ["More batches."]


def test_staff_alert_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    url = "/api/risk/staff/alerts?limit=1000"
    few, many = list_queries_at_two_sizes(clients["analyst"], url, _add_alerts)
    assert few == many


def test_alerts_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/risk/alerts/", _add_alerts)
    assert few == many


def _add_digests(n):
    from qslab.risk.models import AlertDigest, ConsumerAlert

    alerts = list(ConsumerAlert.objects.filter(reference__in=_add_alerts(2, updates=False)))
    labels = []
    for _ in range(n):
        i = next(_n)
        year, week = 1900 + i // 50, 1 + i % 50
        digest = AlertDigest.objects.create(
            year=year,
            week=week,
            start=dt.date.fromisocalendar(year, week, 1),
            end=dt.date.fromisocalendar(year, week, 7),
        )
        digest.alerts.set(alerts)
        labels.append(digest.get_absolute_url())
    return labels


def test_digest_list_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = list_queries_at_two_sizes(clients["anonymous"], "/api/risk/digests?limit=1000", _add_digests)
    assert few == many


def test_digests_page_runs_as_many_queries_for_30_rows_as_for_3(clients):
    few, many = page_queries_at_two_sizes(clients["anonymous"], "/risk/alerts/weekly/", _add_digests)
    assert few == many


PINNED_LISTS = {
    "qslab_risk_api_terms": test_term_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_reports": test_report_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_patterns": test_pattern_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_signals": test_signal_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_ingests": test_ingest_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_assessments": test_assessment_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_alerts": test_alert_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_staff_alerts": test_staff_alert_list_runs_as_many_queries_for_30_rows_as_for_3,
    "qslab_risk_api_digests": test_digest_list_runs_as_many_queries_for_30_rows_as_for_3,
}
PINNED_PAGES = {
    "risk:terms": test_terms_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:reports": test_reports_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:patterns": test_patterns_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:signals": test_signals_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:ingests": test_ingests_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:assessments": test_assessments_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:alerts": test_alerts_page_runs_as_many_queries_for_30_rows_as_for_3,
    "risk:digests": test_digests_page_runs_as_many_queries_for_30_rows_as_for_3,
}
