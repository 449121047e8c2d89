"""Consumer alerts: drafted by analysts, approved by the office, published on the portal, in the Atom feed,
the weekly digest and the API, with follow-up updates; confidential fields never leave the office."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from qslab.core.models import Notification
from qslab.core.testing import verified_client
from qslab.core.workflow import TransitionRefused
from qslab.risk import services
from qslab.risk.models import AlertDigest, ConsumerAlert, Term
from qslab.risk.tests.conftest import SECRETS, alert_data, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert_terms(terms):
    return {**terms, "thermal_hazard": terms["thermal"]}


@pytest.fixture
def published(users, alert_terms):
    alert = services.save_alert(users["analyst"], alert_data(alert_terms))
    services.add_alert_photo(
        users["analyst"],
        alert,
        SimpleUploadedFile("k.png", png_bytes(), content_type="image/png"),
        "",
        "The kettle",
    )
    services.move_alert(users["analyst"], alert, "submit")
    return services.move_alert(users["office"], alert, "approve")


def _public_texts(alert):
    anonymous = Client()
    year, week, _d = timezone.localtime(alert.published_at).isocalendar()
    services.build_weekly_digest(year, week)
    return {
        "page": anonymous.get(alert.get_absolute_url()).content.decode(),
        "list": anonymous.get(reverse("risk:alerts"), {"q": "晨星"}).content.decode(),
        "feed": anonymous.get(reverse("risk:alerts_feed")).content.decode(),
        "api list": anonymous.get("/api/risk/alerts").content.decode(),
        "api detail": anonymous.get(f"/api/risk/alerts/{alert.pk}").content.decode(),
        "digest": anonymous.get(reverse("risk:digest", args=[year, week])).content.decode(),
    }


def test_confidential_fields_never_reach_the_public_page_feed_digest_or_api(published, users):
    texts = _public_texts(published)
    for where, text in texts.items():
        assert published.reference in text, where
        for value in SECRETS.values():
            assert value.split()[0] not in text, f"{value} leaked into the {where}"
    assert "Stop using the kettle" in texts["page"] and "The kettle" in texts["page"]
    assert "<feed" in texts["feed"] and "Stop using the kettle" in texts["feed"]
    staff_page = verified_client(users["office"]).get(published.get_absolute_url()).content.decode()
    assert all(value in staff_page for value in SECRETS.values())


def test_a_public_search_does_not_match_a_confidential_value(published):
    assert published.reference in Client().get(reverse("risk:alerts"), {"q": "壶盖"}).content.decode()
    assert (
        published.reference
        not in Client().get(reverse("risk:alerts"), {"q": "SECRET-CHAIN"}).content.decode()
    )
    assert Client().get("/api/risk/alerts", {"q": "warehouse"}).json()["count"] == 0


def test_the_office_approves_an_analysts_alert_and_only_then_is_it_public(users, alert_terms):
    alert = services.save_alert(users["analyst"], alert_data(alert_terms, advice_zh=""))
    assert Client().get(alert.get_absolute_url()).status_code == 404
    with pytest.raises(TransitionRefused, match="advice to consumers"):
        services.move_alert(users["analyst"], alert, "submit")
    alert = services.save_alert(users["analyst"], {"advice_zh": "停止使用。"}, alert=alert)
    services.move_alert(users["analyst"], alert, "submit")
    assert Notification.objects.filter(recipient=users["office"], object_id=str(alert.pk)).exists()
    with pytest.raises(TransitionRefused) as refused:
        services.move_alert(users["analyst"], alert, "approve")
    assert refused.value.code == "forbidden"
    alert = services.move_alert(users["office"], alert, "approve")
    assert alert.status == "published" and alert.published_at and alert.approved_by == users["office"]
    assert Notification.objects.filter(recipient=users["analyst"], object_id=str(alert.pk)).exists()
    assert Client().get(alert.get_absolute_url()).status_code == 200
    assert (
        verified_client(users["analyst"]).get(reverse("risk:alert_edit", args=[alert.pk])).status_code == 403
    )


def test_the_public_list_filters_by_hazard_level_category_and_year(published, alert_terms):
    other = Term.objects.create(kind="hazard", code="electrical", name_en="Electric shock")
    anonymous = Client()
    assert (
        published.reference in anonymous.get(reverse("risk:alerts"), {"hazard": "thermal"}).content.decode()
    )
    assert (
        published.reference
        not in anonymous.get(reverse("risk:alerts"), {"hazard": other.code}).content.decode()
    )
    assert published.reference not in anonymous.get(reverse("risk:alerts"), {"level": "low"}).content.decode()
    assert published.reference in anonymous.get(reverse("risk:alerts"), {"category": "269"}).content.decode()
    year = timezone.localtime(published.published_at).year
    assert (
        published.reference not in anonymous.get(reverse("risk:alerts"), {"year": year - 1}).content.decode()
    )


def test_follow_up_updates_show_on_the_page_and_in_the_feed_and_internal_ones_do_not(published, users):
    services.add_alert_update(users["office"], published, {"text_en": "Batch 2025-12B is affected too."})
    services.add_alert_update(users["office"], published, {"text_en": "Importer phoned.", "is_public": False})
    page = Client().get(published.get_absolute_url()).content.decode()
    feed = Client().get(reverse("risk:alerts_feed")).content.decode()
    assert "Batch 2025-12B is affected too." in page and "Batch 2025-12B is affected too." in feed
    assert "Importer phoned." not in page and "Importer phoned." not in feed
    assert (
        "Importer phoned."
        in verified_client(users["analyst"]).get(published.get_absolute_url()).content.decode()
    )


def test_the_weekly_digest_job_lists_the_weeks_published_alerts(published, users):
    from qslab.risk.tasks import weekly_digest_task

    year, week, _d = timezone.localtime(published.published_at).isocalendar()
    result = weekly_digest_task.enqueue(year=year, week=week)
    assert result.return_value["alerts"] == 1
    digest = AlertDigest.objects.get(year=year, week=week)
    assert list(digest.alerts.all()) == [published]
    page = Client().get(reverse("risk:digests")).content.decode()
    assert digest.get_absolute_url() in page
    services.move_alert(users["office"], published, "withdraw", "wrong product")
    services.build_weekly_digest(year, week)
    assert digest.alerts.count() == 0


def test_an_alert_drafted_from_a_completed_assessment_starts_with_its_product_and_level(users, alert_terms):
    from qslab.risk.models import RiskAssessment, RiskMatrix

    assessment = RiskAssessment.objects.create(
        reference="RA2026-0001",
        title_en="Kettle lid",
        product_category=alert_terms["kettle"],
        hazard=alert_terms["thermal"],
        matrix=RiskMatrix.objects.get(),
        risk_level="serious",
        status="completed",
        brand="晨星",
    )
    form = verified_client(users["analyst"]).get(reverse("risk:alert_create"), {"assessment": assessment.pk})
    initial = form.context["form"].initial
    assert (
        initial["risk_level"] == "serious"
        and initial["brand"] == "晨星"
        and initial["assessment"] == assessment.pk
    )
    assert initial["notification_type"] == "serious"


def test_a_digest_week_runs_from_monday_to_sunday_in_local_time(users, alert_terms):
    import datetime as dt

    def published_at(when):
        alert = services.save_alert(users["analyst"], alert_data(alert_terms))
        ConsumerAlert.objects.filter(pk=alert.pk).update(status="published", published_at=when)
        return alert

    sunday_night = published_at(timezone.make_aware(dt.datetime(2026, 3, 8, 23, 30)))  # ISO week 10
    monday_morning = published_at(timezone.make_aware(dt.datetime(2026, 3, 9, 0, 10)))  # week 11
    assert list(services.build_weekly_digest(2026, 10).alerts.all()) == [sunday_night]
    assert list(services.build_weekly_digest(2026, 11).alerts.all()) == [monday_morning]


def test_the_portal_statistics_count_published_alerts_by_hazard_and_category_in_both_languages(
    users, alert_terms
):
    from qslab.recalls.services import alert_statistics

    terms = alert_terms
    for extra in (
        {},
        {"title_en": "Second kettle"},
        {"hazard": terms["fall"], "product_category": terms["scooter"], "title_en": "Scooter"},
    ):
        alert = services.save_alert(users["analyst"], alert_data(alert_terms, **extra))
        services.move_alert(users["analyst"], alert, "submit")
        services.move_alert(users["office"], alert, "approve")
    services.save_alert(users["analyst"], alert_data(alert_terms, title_en="A draft is not counted"))

    stats = alert_statistics()
    by_hazard = [(r["label"], r["n"]) for r in stats["by_hazard"]]
    assert [n for _label, n in by_hazard] == [2, 1]  # most first, the draft not counted
    assert "Burns and scalds" in by_hazard[0][0] and "Falls" in by_hazard[1][0]
    by_category = [(r["label"], r["n"]) for r in stats["by_category"]]
    assert [n for _label, n in by_category] == [2, 1] and "Scooters" in by_category[1][0]
    api = Client().get("/api/recalls/statistics").json()
    assert sorted(r["n"] for r in api["alerts_by_hazard"]) == [1, 2]
    en = Client().get(reverse("recalls:statistics"), headers={"accept-language": "en"}).content.decode()
    zh = Client().get(reverse("recalls:statistics"), headers={"accept-language": "zh-hans"}).content.decode()
    assert "Consumer alerts by hazard" in en and "Falls" in en
    assert "Consumer alerts by hazard" not in zh and "跌落" in zh
