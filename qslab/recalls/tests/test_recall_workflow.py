"""A recall from plan to closure: the company drafts and submits, the office approves and publishes,
the company reports progress, the office closes on the final report; the scope query finds the
distributors holding the affected units and exports them."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import make_user, verified_client
from qslab.core.workflow import TransitionRefused
from qslab.labs.xlsx import read_xlsx
from qslab.recalls import services
from qslab.recalls.models import Recall
from qslab.recalls.tests.conftest import (
    PLAN,
    grant_client,
    load_supply_chain,
    make_company,
    make_product,
    make_recall,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setting(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    company = make_company("320000")
    client = make_user("client")
    grant_client(client, company)
    product = make_product(company)
    return {"company": company, "client": client, "office": make_user("office"), "product": product}


def _draft(s, **extra):
    data = {**PLAN, "product": s["product"], "serial_ranges": [], **extra}
    data.pop("office_notes")
    return services.save_recall(s["client"], data, batches=s["product"].batches.filter(lot="L1"))


def test_an_incomplete_plan_cannot_be_submitted_and_says_what_is_missing(setting):
    recall = _draft(setting, notice_zh="", notice_en="", remedy_text_zh="", remedy_text_en="")
    with pytest.raises(TransitionRefused) as refused:
        services.move_recall(setting["client"], recall, "submit")
    assert refused.value.code == "guard"
    assert "remedy" in str(refused.value) and "notice" in str(refused.value)


def test_another_company_can_neither_see_nor_move_the_recall(setting):
    recall = _draft(setting)
    stranger = make_user("client")
    grant_client(stranger, make_company("320000"))
    assert not services.confidential_for_user(stranger).filter(pk=recall.pk).exists()
    assert not Recall.objects.visible_to(stranger).filter(pk=recall.pk).exists(), "a draft is not public"
    with pytest.raises(TransitionRefused) as refused:
        services.move_recall(stranger, recall, "submit")
    assert refused.value.code == "forbidden"
    with pytest.raises(PermissionDenied):
        services.save_recall(stranger, {**PLAN, "product": setting["product"]})


def test_a_recall_goes_from_plan_to_closure_with_every_step_audited(setting):
    s = setting
    load_supply_chain(s["product"])
    recall = _draft(s)
    services.move_recall(s["client"], recall, "submit")
    recall.refresh_from_db()
    assert recall.units_affected == 10, "the scope query counted the units of lot L1"
    services.move_recall(s["office"], recall, "approve")
    assert not Recall.objects.visible_to(None).filter(pk=recall.pk).exists(), "approved is not yet public"
    services.move_recall(s["office"], recall, "publish")
    recall.refresh_from_db()
    assert recall.notice_published_at is not None
    notice = recall.notice_document
    assert notice.is_public and notice.number.startswith("国质标召〔")
    for pdf in (notice.pdf_zh, notice.pdf_en):
        with pdf.open("rb") as handle:
            assert handle.read(4) == b"%PDF"
    assert Recall.objects.visible_to(None).filter(pk=recall.pk).exists()
    services.move_recall(s["client"], recall, "start")
    with time_machine.travel(dt.datetime(2026, 1, 5, 12, 0), tick=False):
        services.record_progress(
            s["client"], recall, {"period_end": dt.date(2025, 12, 31), "units_remedied": 2}
        )
        with pytest.raises(ValidationError):
            services.record_progress(
                s["client"], recall, {"period_end": dt.date(2026, 1, 2), "units_remedied": 1}
            )  # fewer than before
        with pytest.raises(TransitionRefused) as refused:
            services.move_recall(s["office"], recall, "close", "done")
        assert refused.value.code == "guard", "no final report yet"
        services.record_progress(
            s["client"], recall, {"period_end": dt.date(2026, 1, 4), "units_remedied": 9, "is_final": True}
        )
    recall.refresh_from_db()
    assert recall.effectiveness == pytest.approx(0.9)
    services.move_recall(s["office"], recall, "close", "all reachable units remedied")
    recall.refresh_from_db()
    assert recall.status == "closed" and recall.closed_on is not None
    steps = list(
        ChangeRecord.objects.filter(object_id=str(recall.pk), transition__gt="")
        .order_by("id")
        .values_list("transition", flat=True)
    )
    assert steps == ["submit", "approve", "publish", "start", "close"]
    svg = verified_client(s["client"]).get(reverse("recalls:recall_chart", args=[recall.pk])).content.decode()
    assert svg.startswith("<svg") and "units remedied" in svg


def test_the_scope_query_lists_the_distributors_holding_affected_units_and_their_regions(setting):
    s = setting
    load_supply_chain(s["product"])
    recall = _draft(s)
    result, error = services.scope_of_recall(recall)
    assert not error
    assert (result.n_units, result.n_with_consumers, result.n_remedied) == (10, 1, 2)
    holders = {p.party_id: p.units_held for p in result.holders}
    assert holders == {"D-BJ": 2, "D-JS": 5}, "D-GD holds only lot L2, outside the scope"
    page = (
        verified_client(s["client"]).get(reverse("recalls:recall_scope", args=[recall.pk])).content.decode()
    )
    assert "D-JS name" in page and "Jiangsu" in page and "D-GD" not in page


def test_serial_ranges_narrow_the_scope(setting):
    s = setting
    load_supply_chain(s["product"])
    recall = _draft(s, serial_ranges=[["SN000001", "SN000004"]])
    result, _error = services.scope_of_recall(recall)
    assert result.n_units == 4


def test_the_scope_lists_export_as_csv_and_xlsx(setting):
    s = setting
    load_supply_chain(s["product"])
    recall = _draft(s)
    client = verified_client(s["client"])
    units = client.get(reverse("recalls:recall_scope_export", args=[recall.pk, "units", "csv"]))
    rows = list(csv.DictReader(io.StringIO(units.content.decode("utf-8-sig"))))
    assert len(rows) == 10 and {r["batch"] for r in rows} == {"L1"}
    parties = client.get(reverse("recalls:recall_scope_export", args=[recall.pk, "parties", "xlsx"]))
    table = read_xlsx(parties.content)
    assert table[0][0] == "party_id"
    assert {r[0] for r in table[1:]} >= {"D-BJ", "D-JS", "R-BJ"}
    regions = client.get(reverse("recalls:recall_scope_export", args=[recall.pk, "regions", "csv"]))
    assert "Beijing" in regions.content.decode("utf-8-sig")


def test_the_scope_unit_list_pages_through_the_api_like_the_export(setting):
    from django.test import Client

    from qslab.accounts.models import ApiToken

    s = setting
    load_supply_chain(s["product"])
    recall = _draft(s)
    exported = verified_client(s["client"]).get(
        reverse("recalls:recall_scope_export", args=[recall.pk, "units", "csv"])
    )
    expected = [r["serial"] for r in csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))]
    api = Client(headers={"Authorization": f"Bearer {ApiToken.issue(s['client'], 'test')[1]}"})
    first = api.get(f"/api/recalls/{recall.pk}/scope/units?limit=4").json()
    rest = api.get(f"/api/recalls/{recall.pk}/scope/units?limit=100&offset=4").json()
    assert first["count"] == rest["count"] == len(expected) == 10
    assert [u["serial"] for u in first["items"] + rest["items"]] == expected
    assert {u["batch"] for u in first["items"]} == {"L1"} and "status" in first["items"][0]
    assert api.get(f"/api/recalls/{recall.pk}/scope/units?limit=0").status_code == 422
    other = make_user("client", username="other_company_user")
    grant_client(other, make_company())
    stranger = Client(headers={"Authorization": f"Bearer {ApiToken.issue(other, 'test')[1]}"})
    assert stranger.get(f"/api/recalls/{recall.pk}/scope/units").status_code == 404


def test_a_company_may_query_only_its_own_gtins(setting):
    s = setting
    load_supply_chain(s["product"])
    other = make_product(make_company(), "690123450077")
    result, error = services.run_scope_query(s["client"], gtin=other.gtin, lots=["L1"], serial_ranges=[])
    assert result is None and "your company" in error
    result, error = services.run_scope_query(
        s["client"], gtin=s["product"].gtin, lots=["L1"], serial_ranges=[]
    )
    assert result.n_units == 10


def test_the_office_sees_plans_to_decide_on_its_dashboard(setting):
    from qslab.recalls.queues import recalls_queue

    recall = make_recall(setting["product"], "submitted")
    labels = [item.label for item in recalls_queue(setting["office"])]
    assert any(recall.reference in label for label in labels)
    assert recalls_queue(make_user("expert")) == []
