"""The early-warning job over all series of the store, and the triage of the signals it raises."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from qslab.accounts.models import ApiToken
from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.risk import services
from qslab.risk.models import Alarm, SeriesFamily, Signal

pytestmark = pytest.mark.django_db


@pytest.fixture
def neiss_store(settings, tmp_path, data_dir):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    services.ingest_file(
        data_dir / "neiss" / "neiss_sample_2017_2021_10k.csv.gz", "neiss", data_dir / "neiss" / "codes"
    )
    return settings.DUCKDB_PATH


@pytest.fixture
def family(db):
    return SeriesFamily.objects.create(
        name="NEISS products, monthly",
        source="neiss",
        by="product_code",
        period="month",
        method="earsC",
        control={"method": "C2", "minSigma": 1},
        score_last=6,
        min_total=20,
    )


def test_a_run_over_all_series_stores_each_alarm_once_and_a_rerun_adds_nothing(neiss_store, family):
    first = services.run_early_warning()
    assert first.n_series > 50  # every product with 20+ records, scored together
    assert first.n_alarms > 0 and first.n_new_alarms == first.n_alarms
    assert first.n_new_signals == Signal.objects.count() > 0
    signals, alarms = Signal.objects.count(), Alarm.objects.count()
    second = services.run_early_warning()
    assert (second.n_alarms, second.n_new_alarms, second.n_new_signals) == (first.n_alarms, 0, 0)
    assert (Signal.objects.count(), Alarm.objects.count()) == (signals, alarms)


def test_alarms_on_one_series_are_grouped_in_one_open_signal_with_its_settings(neiss_store, family):
    services.run_early_warning()
    for signal in Signal.objects.all():
        assert (
            Signal.objects.filter(family=family, unit=signal.unit, status__in=["new", "triaged"]).count() == 1
        )
        assert signal.alarms.count() >= 1
        assert signal.first_period <= signal.last_period
        assert signal.config["control"]["method"] == "C2" and signal.method == "earsC"
        assert signal.observed > signal.upperbound


def test_a_new_alarm_after_a_dismissal_opens_a_new_signal(neiss_store, family, users):
    services.run_early_warning()
    signal = Signal.objects.order_by("id").first()
    services.move_signal(users["analyst"], signal, "dismiss", "known seasonal peak")
    signal.alarms.all().delete()  # as if the alarm were new
    run = services.run_early_warning()
    assert run.n_new_signals == 1
    assert Signal.objects.filter(unit=signal.unit, status="new").exists()


def test_the_management_command_runs_the_job(neiss_store, family, capsys):
    call_command("run_early_warning")
    assert "new signal(s)" in capsys.readouterr().out
    assert Signal.objects.exists()


def test_a_family_whose_detector_fails_is_reported_and_the_others_still_run(neiss_store, family):
    SeriesFamily.objects.create(
        name="broken",
        source="neiss",
        by="product_code",
        period="month",
        method="earsC",
        control={"baseline": 1},
    )
    run = services.run_early_warning()
    assert "broken: failed" in run.report
    assert run.n_new_signals > 0


def test_an_analyst_opens_charts_and_triages_a_signal_and_each_step_is_audited(neiss_store, family, users):
    services.run_early_warning()
    signal = Signal.objects.order_by("-severity", "id").first()
    analyst = verified_client(users["analyst"])
    page = analyst.get(signal.get_absolute_url()).content.decode()
    assert reverse("risk:signal_chart", args=[signal.pk]) in page
    chart = analyst.get(reverse("risk:signal_chart", args=[signal.pk]))
    assert chart["Content-Type"] == "image/svg+xml"
    svg = chart.content.decode()
    assert svg.startswith("<svg") and "threshold" in svg and "alarm" in svg

    analyst.post(reverse("risk:signal_transition", args=[signal.pk, "triage"]))
    signal.refresh_from_db()
    assert signal.status == "triaged" and signal.assignee == users["analyst"] and signal.due is not None
    analyst.post(reverse("risk:signal_transition", args=[signal.pk, "escalate"]), {"reason": ""})
    signal.refresh_from_db()
    assert signal.status == "triaged"  # escalation needs a reason
    analyst.post(
        reverse("risk:signal_transition", args=[signal.pk, "escalate"]), {"reason": "cluster of fractures"}
    )
    signal.refresh_from_db()
    assert signal.status == "escalated"
    moves = ChangeRecord.objects.filter(action="transition", object_id=str(signal.pk)).order_by("time", "id")
    assert [(m.to_state, m.reason) for m in moves] == [("triaged", ""), ("escalated", "cluster of fractures")]


def test_a_closed_signal_cannot_be_moved_again_and_other_roles_cannot_triage(family, users):
    import datetime as dt

    signal = Signal.objects.create(
        family=family,
        unit="1807",
        first_period=dt.date(2021, 1, 1),
        last_period=dt.date(2021, 1, 1),
        observed=9,
        upperbound=3,
        method="earsC",
    )
    assert (
        verified_client(users["lab_manager"])
        .post(reverse("risk:signal_transition", args=[signal.pk, "triage"]))
        .status_code
        == 404
    )
    services.move_signal(users["office"], signal, "dismiss", "duplicate")
    _row, token = ApiToken.issue(users["analyst"], "test")
    response = verified_client(users["analyst"]).post(
        f"/api/risk/signals/{signal.pk}/transitions/triage",
        {},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 409


def test_open_signals_and_reports_to_review_are_on_the_analysts_dashboard(family, users, terms):
    import datetime as dt

    from qslab.core import dashboard
    from qslab.risk.queues import risk_queue
    from qslab.risk.tests.conftest import make_report

    assert risk_queue in dashboard._providers

    Signal.objects.create(
        family=family,
        unit="1807",
        unit_label="Floors",
        first_period=dt.date(2021, 1, 1),
        last_period=dt.date(2021, 1, 1),
        observed=9,
        upperbound=3,
        method="earsC",
    )
    report = make_report(terms, users["client"])
    labels = [i.label for i in risk_queue(users["analyst"])]
    assert any("Floors" in label for label in labels)
    assert any(report.reference in label for label in labels)
    assert risk_queue(users["lab_manager"]) == []


@pytest.fixture
def dp_family(db):
    return SeriesFamily.objects.create(
        name="NEISS product x diagnosis disproportionality",
        kind="disproportionality",
        source="neiss",
        by="product_code,hazard_code",
        period="month",
        method="gps",
        control={"statistic": "EB05", "threshold": 2, "min_count": 3},
    )


def test_disproportionality_in_the_job_raises_one_signal_per_pair_with_its_scores_and_a_rerun_adds_nothing(
    neiss_store, dp_family
):
    first = services.run_early_warning()
    assert "product x event pairs" in first.report and first.n_new_signals > 0
    signals = Signal.objects.filter(family=dp_family)
    assert signals.count() == first.n_new_signals
    for signal in signals:
        scores = signal.config["scores"]
        assert scores["EB05"] >= 2 and scores["N"] >= 3 and scores["EBGM"] >= scores["EB05"]
        assert signal.observed == pytest.approx(scores["EB05"], abs=1e-3) and signal.upperbound == 2
        assert signal.config["kind"] == "disproportionality" and "hyperparameters" in signal.config["control"]
        assert signal.alarms.count() == 1
    second = services.run_early_warning()
    assert (second.n_new_alarms, second.n_new_signals) == (0, 0)
    assert Signal.objects.filter(family=dp_family).count() == signals.count()


def test_a_disproportionality_signal_page_shows_the_scores_and_the_pairs_counts(
    neiss_store, dp_family, users
):
    services.run_early_warning()
    signal = Signal.objects.filter(family=dp_family).first()
    analyst = verified_client(users["analyst"])
    page = analyst.get(signal.get_absolute_url()).content.decode()
    assert "EB05" in page and "Disproportionality" in page
    svg = analyst.get(reverse("risk:signal_chart", args=[signal.pk])).content.decode()
    assert svg.startswith("<svg") and "observed" in svg


def test_an_analyst_reassigns_a_signal_to_a_colleague_who_is_told_and_the_change_is_audited(family, users):
    import datetime as dt

    from qslab.core.models import Notification
    from qslab.core.testing import make_user

    colleague = make_user("analyst", username="colleague")
    signal = Signal.objects.create(
        family=family,
        unit="1807",
        unit_label="Floors",
        first_period=dt.date(2021, 1, 1),
        last_period=dt.date(2021, 1, 1),
        observed=9,
        upperbound=3,
        method="earsC",
    )
    analyst = verified_client(users["analyst"])
    analyst.post(reverse("risk:signal_transition", args=[signal.pk, "triage"]))
    response = analyst.post(
        reverse("risk:signal_reassign", args=[signal.pk]), {"assignee": colleague.pk, "reason": "on leave"}
    )
    assert response.status_code == 302
    signal.refresh_from_db()
    assert signal.assignee == colleague
    change = ChangeRecord.objects.filter(object_id=str(signal.pk), action="update").latest("time")
    assert change.reason == "on leave" and change.user_id == users["analyst"].pk
    assert Notification.objects.filter(recipient=colleague, verb="assigned").exists()
    from qslab.core.models import Deadline

    assert Deadline.objects.get(object_id=str(signal.pk), done_at__isnull=True).assignee == colleague
    # only to risk staff, only while open
    verified_client(users["analyst"]).post(
        reverse("risk:signal_reassign", args=[signal.pk]), {"assignee": users["lab_manager"].pk}
    )
    signal.refresh_from_db()
    assert signal.assignee == colleague
    services.move_signal(colleague, signal, "dismiss", "duplicate")
    with pytest.raises(Exception, match="open signal"):
        services.reassign_signal(colleague, signal, users["analyst"])


def test_the_signal_dashboard_counts_open_signals_by_severity_and_age(family, users):
    import datetime as dt

    from django.utils import timezone

    def make(unit, severity, days_old):
        s = Signal.objects.create(
            family=family,
            unit=unit,
            first_period=dt.date(2021, 1, 1),
            last_period=dt.date(2021, 1, 1),
            observed=9,
            upperbound=3,
            method="earsC",
            severity=severity,
        )
        Signal.objects.filter(pk=s.pk).update(created=timezone.now() - dt.timedelta(days=days_old))
        return s

    make("a", "high", 1)
    make("b", "high", 40)
    make("c", "low", 200)
    closed = make("d", "high", 2)
    Signal.objects.filter(pk=closed.pk).update(status="dismissed")
    board = services.open_signal_dashboard(users["analyst"])
    cells = {(row["severity"], c["age"]): c["count"] for row in board["rows"] for c in row["cells"]}
    assert cells[("high", "week")] == 1 and cells[("high", "quarter")] == 1 and cells[("low", "older")] == 1
    assert board["total"] == 3 and board["unassigned"] == 3
    page = verified_client(users["analyst"]).get(
        reverse("risk:signals"), {"severity": "high", "age": "quarter"}
    )
    assert page.status_code == 200 and list(page.context["page"]) == [Signal.objects.get(unit="b")]
