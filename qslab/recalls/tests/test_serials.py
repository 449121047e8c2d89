"""Serial ranges with alphanumeric prefixes (SN-A000100 to SN-A000250): one series, same width, clear
errors; and the serial lookup that finds the recalls and batches whose range holds a serial."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.models import Batch, serial_in_range, split_serial, validate_serial_range
from qslab.recalls.tests.conftest import grant_client, make_company, make_product, make_recall

pytestmark = pytest.mark.django_db


def test_an_alphanumeric_prefix_range_counts_its_serials():
    assert split_serial("SN-A000100") == ("SN-A", 100, 6)
    assert validate_serial_range("SN-A000100", "SN-A000250") == 151
    assert validate_serial_range("sn-a000100", "SN-A000100") == 1  # the prefix ignores case


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        ("SN-A000100", "SN-B000250", "different prefixes (“SN-A” and “SN-B”)"),
        ("SN-A000100", "SN-A00250", "have 6 and 5 digits"),
        ("SN-A000250", "SN-A000100", "ends before it starts"),
        ("SN-A000100", "SN-A", "must end in digits"),
        ("SN A000100", "SN A000200", "a character a serial number cannot have"),
        ("", "SN-A000200", "Give a serial number"),
    ],
)
def test_a_bad_range_is_refused_with_a_message_that_says_why(first, last, says):
    with pytest.raises(ValidationError) as error:
        validate_serial_range(first, last)
    assert says in " ".join(error.value.messages)


def test_membership_needs_the_same_prefix_and_width():
    assert serial_in_range("SN-A000150", "SN-A000100", "SN-A000250")
    assert not serial_in_range("SN-B000150", "SN-A000100", "SN-A000250")
    assert not serial_in_range("SN-A00150", "SN-A000100", "SN-A000250")
    assert not serial_in_range("SN-A000251", "SN-A000100", "SN-A000250")


def test_a_batch_with_a_prefixed_range_is_saved_and_a_mixed_one_is_refused(users):
    company = make_company()
    product = make_product(company)
    user = make_user("client")
    grant_client(user, company)
    batch = services.add_batch(
        user,
        product,
        {
            "lot": "L9",
            "produced_from": dt.date(2025, 5, 1),
            "produced_to": dt.date(2025, 5, 2),
            "quantity": 151,
            "serial_first": "SN-A000100",
            "serial_last": "SN-A000250",
        },
    )
    assert batch.pk
    with pytest.raises(ValidationError) as error:
        services.add_batch(
            user,
            product,
            {
                "lot": "L10",
                "produced_from": dt.date(2025, 5, 1),
                "produced_to": dt.date(2025, 5, 2),
                "serial_first": "SN-A000100",
                "serial_last": "SN-B000250",
            },
        )
    assert "different prefixes" in str(error.value)


@pytest.fixture
def scene():
    company = make_company()
    product = make_product(company)
    Batch.objects.create(
        product=product,
        lot="LA",
        produced_from=dt.date(2025, 6, 1),
        produced_to=dt.date(2025, 6, 2),
        serial_first="SN-A000100",
        serial_last="SN-A000250",
    )
    published = make_recall(product, "public", serial_ranges=[["SN-A000100", "SN-A000250"]])
    published.batches.clear()
    draft = make_recall(product, "draft", serial_ranges=[["SN-A000200", "SN-A000300"]])
    draft.batches.clear()
    by_batch = make_recall(product, "in_progress")  # batch L1: SN000001..SN000100
    owner = make_user("client")
    grant_client(owner, company)
    return {"product": product, "published": published, "draft": draft, "by_batch": by_batch, "owner": owner}


def test_the_public_lookup_finds_the_published_recall_and_not_the_draft(scene):
    found = services.lookup_serial(None, "SN-A000220")
    assert [(r, where) for r, where in found["recalls"]] == [(scene["published"], "SN-A000100 - SN-A000250")]
    assert found["batches"] == []  # batches are the company's
    assert services.lookup_serial(None, "SN-B000220")["recalls"] == []
    assert services.lookup_serial(None, "SN-A00220")["recalls"] == []  # another width: another series


def test_the_company_also_finds_its_draft_and_the_batch(scene):
    found = services.lookup_serial(scene["owner"], "sn-a000220", scene["product"].gtin)
    assert {r for r, _w in found["recalls"]} == {scene["published"], scene["draft"]}
    assert [b.lot for b, _w in found["batches"]] == ["LA"]


def test_a_recall_scoped_by_batch_is_found_through_the_batch_range(scene):
    found = services.lookup_serial(None, "SN000050")
    assert [r for r, _w in found["recalls"]] == [scene["by_batch"]]
    assert found["recalls"][0][1] == "L1: SN000001 - SN000100"


def test_the_lookup_page_and_api_answer_the_public(scene):
    page = Client().get(reverse("recalls:serial_lookup"), {"serial": "SN-A000220"}).content.decode()
    assert scene["published"].reference in page and scene["draft"].reference not in page
    bad = Client().get(reverse("recalls:serial_lookup"), {"serial": "SN A1"}).content.decode()
    assert "cannot have" in bad
    body = Client().get("/api/recalls/serial-lookup", {"serial": "SN-A000220"}).json()
    assert [r["recall"]["reference"] for r in body["recalls"]] == [scene["published"].reference]
    assert "investigation" not in body["recalls"][0]["recall"]
    assert Client().get("/api/recalls/serial-lookup", {"serial": "A-B"}).status_code == 422
    owner = verified_client(scene["owner"]).get(reverse("recalls:serial_lookup"), {"serial": "SN-A000220"})
    assert "LA" in owner.content.decode()


def test_the_engines_scope_selects_exactly_the_serials_the_plan_validation_puts_in_a_range():
    """The analytical store's scope query (``qslab.surveillance.trace``) and ``serial_in_range`` agree
    on random serials of mixed prefixes, case and widths."""
    from qslab.surveillance.tests.test_trace_serial_prefix import GTIN, RANGES, random_units
    from qslab.surveillance.trace import ScopeCriteria, TraceStore, scope_units

    units = random_units(7)
    with TraceStore.duckdb() as store:
        store.ingest_units(units)
        for ranges in RANGES:
            listed = scope_units(store, ScopeCriteria(GTIN, serial_ranges=ranges)).to_pyarrow()
            by_plan = {s for s in units["serial"] if any(serial_in_range(s, a, b) for a, b in ranges)}
            assert set(listed.column("serial").to_pylist()) == by_plan and by_plan, ranges
