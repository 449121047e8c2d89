"""Product identity and supply-chain uploads: GTINs and serial ranges are checked, a file with any bad
value is refused whole with every problem listed, and a company loads only its own products' records."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qslab.core.testing import make_user, verified_client
from qslab.recalls import services
from qslab.recalls.models import Product, TraceUpload, validate_serial_range
from qslab.recalls.tests.conftest import grant_client, gtin, make_company, make_product

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(settings, tmp_path):
    settings.DUCKDB_PATH = tmp_path / "analytics.duckdb"
    return settings.DUCKDB_PATH


@pytest.fixture
def company_user():
    company = make_company()
    user = make_user("client")
    grant_client(user, company)
    return company, user


def _csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _units(code: str, n: int = 3, batch: str = "L1") -> list[dict]:
    return [
        {"gtin": code, "serial": f"SN{i:06d}", "batch": batch, "production_date": "2025-03-02"}
        for i in range(1, n + 1)
    ]


def test_a_product_with_a_wrong_gtin_check_digit_is_refused(company_user):
    company, user = company_user
    body = "690123450001"
    wrong = body + str((int(gtin(body)[-1]) + 1) % 10)
    with pytest.raises(ValidationError) as error:
        services.save_product(
            user, {"company": company, "name_zh": "壶", "brand": "B", "model": "M", "gtin": wrong}
        )
    assert "gtin" in error.value.message_dict
    product = services.save_product(
        user, {"company": company, "name_zh": "壶", "brand": "B", "model": "M", "gtin": " " + gtin(body)}
    )
    assert product.gtin == gtin(body)


def test_a_company_cannot_record_a_product_for_another_company(company_user):
    _company, user = company_user
    other = make_company()
    with pytest.raises(Exception, match="responsible company"):
        services.save_product(user, {"company": other, "name_zh": "壶", "brand": "B", "model": "M"})
    assert not Product.objects.filter(company=other).exists()


def test_serial_ranges_must_belong_to_one_series_and_not_run_backwards():
    assert validate_serial_range("KX-000100", "KX-000199") == 100
    with pytest.raises(ValidationError):
        validate_serial_range("KX-000100", "KY-000199")
    with pytest.raises(ValidationError):
        validate_serial_range("KX-000200", "KX-000100")
    with pytest.raises(ValidationError) as error:
        services.parse_serial_ranges("SN001 - SN009\nno digits\nSN9 - SN1")
    assert len(error.value.message_dict["serial_ranges"]) == 2, "both bad lines are reported at once"


def test_a_batch_cannot_carry_fewer_serials_than_units(company_user):
    company, user = company_user
    product = make_product(company)
    with pytest.raises(ValidationError) as error:
        services.add_batch(
            user,
            product,
            {
                "lot": "L9",
                "produced_from": "2025-01-01",
                "produced_to": "2025-01-02",
                "quantity": 50,
                "serial_first": "SN001",
                "serial_last": "SN010",
            },
        )
    assert "quantity" in error.value.message_dict


def test_uploaded_units_and_events_reach_the_analytical_store(
    store, company_user, django_capture_on_commit_callbacks
):
    company, user = company_user
    product = make_product(company)
    client = verified_client(user)
    with django_capture_on_commit_callbacks(execute=True):  # the background task runs on commit
        response = client.post(
            reverse("recalls:uploads"),
            {
                "company": company.pk,
                "kind": "units",
                "file": SimpleUploadedFile("units.csv", _csv(_units(product.gtin))),
            },
        )
    upload = TraceUpload.objects.get()
    assert response.status_code == 302 and upload.status == "done", upload.message
    assert upload.n_inserted == 3
    events = [
        {
            "gtin": product.gtin,
            "serial": "SN000001",
            "kind": "distributed",
            "party_id": "D1",
            "party_name": "Distributor",
            "party_role": "distributor",
            "region": "320102",
            "occurred_at": "2025-04-01",
        }
    ]
    record = services.upload_trace(user, company, "events", SimpleUploadedFile("events.csv", _csv(events)))
    assert record.status == "done", record.message
    trace = services.trace_store()
    try:
        assert (trace.count_units(), trace.count_events()) == (3, 1)
    finally:
        trace.close()


def test_a_file_with_bad_rows_is_refused_whole_and_every_problem_is_listed(store, company_user, clients):
    company, user = company_user
    product = make_product(company)
    rows = _units(product.gtin, 4)
    rows[1]["production_date"] = "2025-02-30"
    rows[3]["gtin"] = "6901234500019"  # check digit wrong
    record = services.upload_trace(user, company, "units", SimpleUploadedFile("units.csv", _csv(rows)))
    assert record.status == "rejected"
    assert {(p["row"], p["column"]) for p in record.problems} >= {(2, "production_date"), (4, "gtin")}
    trace = services.trace_store()
    try:
        assert trace.count_units() == 0, "nothing was written"
    finally:
        trace.close()
    page = verified_client(user).get(record.get_absolute_url())
    assert "2025-02-30" in page.content.decode()


def test_a_company_cannot_load_records_of_another_companys_product(store, company_user):
    company, user = company_user
    other = make_product(make_company(), "690123450009")
    own = make_product(company)
    rows = _units(own.gtin, 2) + _units(other.gtin, 1)
    record = services.upload_trace(user, company, "units", SimpleUploadedFile("units.csv", _csv(rows)))
    assert record.status == "rejected"
    assert [(p["row"], p["column"]) for p in record.problems] == [(3, "gtin")]
    trace = services.trace_store()
    try:
        assert trace.count_units() == 0
    finally:
        trace.close()
