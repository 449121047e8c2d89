"""The public safety portal: published recall notices with search and filters, statistics (including
FDA recalls by class, reason and year), the Atom feed and the public API; confidential fields never
reach any of them."""

import csv
import gzip
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.models import Recall
from qslab.recalls.tests.conftest import PLAN, grant_client, make_company, make_product, make_recall

pytestmark = pytest.mark.django_db

SECRETS = (
    "SECRET-TEST-REPORT-T41",
    "SECRET-CHANNELS",
    "SECRET-CONTACT",
    "SECRET-OFFICE-NOTE",
    "SECRET-PROGRESS",
)


@pytest.fixture
def recalls(settings, tmp_path):
    from qslab.recalls.models import ProgressReport
    from qslab.risk.models import Term

    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    thermal = Term.objects.get_or_create(
        kind="hazard", code="thermal", defaults={"name_en": "Burns", "name_zh": "烫伤"}
    )[0]
    fall = Term.objects.get_or_create(
        kind="hazard", code="fall", defaults={"name_en": "Falls", "name_zh": "跌落"}
    )[0]
    company = make_company()
    kettle = make_recall(
        make_product(company, brand="晨星"),
        "in_progress",
        hazard=thermal,
        title_zh="电热水壶召回",
        title_en="Kettle recall",
        notice_published_at=timezone.now(),
        units_affected=100,
        units_remedied=40,
    )
    ProgressReport.objects.create(
        recall=kettle, period_end=timezone.localdate(), units_remedied=40, notes="SECRET-PROGRESS-NOTE"
    )
    scooter = make_recall(
        make_product(company, "690123450050", brand="乐童", model="LT-1"),
        "public",
        hazard=fall,
        remedy="refund",
        title_zh="滑板车召回",
        title_en="Scooter recall",
        notice_published_at=timezone.now(),
    )
    draft = make_recall(make_product(company, "690123450060", model="D-1"), title_en="Unpublished draft")
    return {"kettle": kettle, "scooter": scooter, "draft": draft, "company": company}


def test_the_public_notice_shows_public_fields_and_no_confidential_one(client, recalls):
    page = client.get(reverse("recalls:public_recall", args=[recalls["kettle"].pk])).content.decode()
    assert "The lid latch releases." in page and "Free replacement lid." in page
    assert "40 of 100 affected units remedied" in page
    for secret in SECRETS:
        assert secret not in page
    assert client.get(reverse("recalls:public_recall", args=[recalls["draft"].pk])).status_code == 404


def test_the_feed_and_the_public_api_hold_no_confidential_field(client, recalls):
    feed = client.get(reverse("recalls:feed")).content.decode()
    assert "Kettle recall" in feed and "Scooter recall" in feed and "Unpublished draft" not in feed
    listed = client.get("/api/recalls/public").content.decode()
    one = client.get(f"/api/recalls/public/{recalls['kettle'].pk}").content.decode()
    progress = client.get(f"/api/recalls/public/{recalls['kettle'].pk}/progress").content.decode()
    for text in (feed, listed, one, progress):
        for secret in SECRETS:
            assert secret not in text
    assert "investigation" not in one and "Unpublished draft" not in listed


def test_the_company_and_the_office_read_the_confidential_record_in_the_api(recalls):
    owner = make_user("client")
    grant_client(owner, recalls["company"])
    from qslab.accounts.models import ApiToken

    token = ApiToken.issue(owner, "t")[1]
    from django.test import Client

    body = Client().get(f"/api/recalls/{recalls['kettle'].pk}", headers={"Authorization": f"Bearer {token}"})
    assert body.status_code == 200 and body.json()["investigation"] == PLAN["investigation"]
    stranger = make_user("client")
    grant_client(stranger, make_company())
    token = ApiToken.issue(stranger, "t")[1]
    refused = Client().get(
        f"/api/recalls/{recalls['kettle'].pk}", headers={"Authorization": f"Bearer {token}"}
    )
    assert refused.status_code == 404, "another company gets the public notice only"
    page = verified_client(stranger).get(reverse("recalls:recall", args=[recalls["kettle"].pk]))
    assert page.status_code == 404


def test_the_public_search_finds_recalls_by_chinese_word_and_filters(client, recalls):
    assert list(services.search_public_recalls("滑板车")) == [recalls["scooter"]]
    assert list(services.search_public_recalls(hazard="thermal")) == [recalls["kettle"]]
    assert list(services.search_public_recalls(remedy="refund")) == [recalls["scooter"]]
    year = timezone.now().year
    assert set(services.search_public_recalls(year=year)) == {recalls["kettle"], recalls["scooter"]}
    assert not services.search_public_recalls(year=year - 5).exists()
    page = client.get(reverse("recalls:public_recalls"), {"q": "晨星"}).content.decode()
    assert "Kettle recall" in page or "电热水壶召回" in page
    assert "Scooter recall" not in page and "滑板车召回" not in page
    results = client.get(
        reverse("recalls:public_recalls"), {"hazard": "fall"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in results.content.decode(), "htmx gets the results only"


def test_the_statistics_count_fda_recalls_by_class_reason_and_year(client, recalls, data_dir, tmp_path):
    from qslab.surveillance.ingest import ingest
    from qslab.surveillance.sources import FDA_RECALL_CLASSES, fda_enforcement_mapping

    path = data_dir / "fda_drug_enforcement" / "drug_enforcement_2012_2023.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        rows = [next(reader) for _ in range(501)]  # the header and the first 500 real recalls
    sample = tmp_path / "fda.csv"
    with sample.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    store = services.analytical_store()
    try:
        ingest(store, sample, fda_enforcement_mapping(), progress=False)
    finally:
        store.close()
    stats = services.fda_statistics()
    assert stats["total"] == 500
    assert sum(r["products"] for r in stats["by_class"]) == 500
    assert {r["label"] for r in stats["by_class"]} <= set(FDA_RECALL_CLASSES)
    assert sum(r["products"] for r in stats["by_year"]) == 500
    assert stats["by_reason"][0]["products"] >= stats["by_reason"][-1]["products"]
    domestic = services.domestic_statistics()
    assert sum(r["n"] for r in domestic["by_year"]) == 2
    page = client.get(reverse("recalls:statistics")).content.decode()
    assert "500" in page and "openFDA" in page
    api = client.get("/api/recalls/statistics").json()
    assert sum(r["products"] for r in api["fda_by_class"]) == 500


def test_the_statistics_page_renders_without_an_analytical_store(client, recalls):
    assert client.get(reverse("recalls:statistics")).status_code == 200
    assert services.fda_statistics()["total"] == 0


def test_the_demo_loads_a_recall_in_progress_and_loading_twice_changes_nothing(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    make_user("office", username="office")
    make_user("client", username="client")  # the demo users of load_demo
    out = io.StringIO()
    call_command("load_demo_recalls", stdout=out)
    first = Recall.objects.count()
    call_command("load_demo_recalls", stdout=out)
    assert Recall.objects.count() == first == 2
    recall = Recall.objects.get(status="in_progress")
    assert recall.units_affected == 240 and recall.units_remedied == 96
    result, _error = services.scope_of_recall(recall)
    assert {p.party_id for p in result.holders} >= {"D-BJ-01", "D-JS-01", "D-GD-01"}
