"""Expenditures by import: all rows or none, every problem reported with its row and column."""

from decimal import Decimal

import pytest

from qslab.core.testing import verified_client
from qslab.funding import services
from qslab.funding.models import Expenditure
from qslab.funding.tests.conftest import budget_with_lines, make_lab, manager_of
from qslab.labs.xlsx import write_xlsx

pytestmark = pytest.mark.django_db

BAD = (
    "date,line,source,amount,description\n"
    "2025-02-01,equipment,central,100.00,ok\n"
    "2025-13-01,rockets,central,10,bad date and line\n"
    "2024-05-01,travel,lottery,-5,wrong year source and amount\n"
    "2025-06-01,travel,local,1.234,three decimals\n"
)


@pytest.fixture
def budget(users):
    return budget_with_lines(make_lab("alpha"), users["office"], status="approved")


def test_every_row_error_is_reported_and_nothing_is_written(budget, users):
    table = services.read_table("x.csv", BAD.encode())
    with pytest.raises(services.ImportFailed) as exc:
        services.import_expenditures(users["office"], budget, table)
    cells = [(e.row, e.column) for e in exc.value.errors]
    assert cells == [(3, "date"), (3, "line"), (4, "date"), (4, "source"), (4, "amount"), (5, "amount")]
    assert not Expenditure.objects.filter(budget=budget).exists()


def test_missing_and_unknown_columns_name_the_column(budget, users):
    table = [["date", "line", "colour"], ["2025-01-01", "travel", "red"]]
    with pytest.raises(services.ImportFailed) as exc:
        services.import_expenditures(users["office"], budget, table)
    cells = {(e.row, e.column) for e in exc.value.errors}
    assert {(1, "source"), (1, "amount"), (1, "colour")} <= cells


def test_a_valid_csv_is_imported_whole(budget, users):
    csv = 'date,line,source,amount\n2025-02-01,equipment,central,100.00\n2025-03-01,travel,local,"1,000.50"\n'
    n = services.import_expenditures(users["office"], budget, services.read_table("x.csv", csv.encode()))
    assert n == 2
    assert sum(e.amount for e in budget.expenditures.all()) == Decimal("1100.50")


def test_a_dry_run_saves_nothing(budget, users):
    csv = "date,line,source,amount\n2025-02-01,equipment,central,100.00\n"
    assert (
        services.import_expenditures(
            users["office"], budget, services.read_table("x.csv", csv.encode()), True
        )
        == 1
    )
    assert not budget.expenditures.exists()


def test_an_xlsx_file_is_read_with_the_labs_reader(budget, users):
    content = write_xlsx(
        ["date", "line", "source", "amount"], [["2025-04-01", "testing", "service", "250.00"]]
    )
    services.import_expenditures(users["office"], budget, services.read_table("x.xlsx", content))
    assert budget.expenditures.get().amount == Decimal("250.00")


def test_the_import_page_lists_every_problem_and_saves_nothing(budget):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = verified_client(manager_of(budget.laboratory))
    response = client.post(
        f"/funding/{budget.pk}/import/", {"file": SimpleUploadedFile("x.csv", BAD.encode(), "text/csv")}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "import-errors" in body and body.count("<tr><td>") >= 6
    assert not budget.expenditures.exists()


def test_the_api_import_answers_422_with_all_errors(budget, users):
    from qslab.accounts.models import ApiToken

    token = ApiToken.issue(users["office"], "t")[1]
    response = verified_client(None).post(
        f"/api/funding/budgets/{budget.pk}/expenditures/import",
        data={"csv": BAD},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 6
    assert not budget.expenditures.exists()


def test_execution_rate_is_computed_by_month_line_and_source(budget, users):
    for date, line, source, amount in (
        ("2025-01-15", "equipment", "central", "300000"),
        ("2025-03-15", "equipment", "central", "150000"),
        ("2025-03-20", "materials", "supporting", "50000"),
    ):
        services.record_expenditure(
            users["office"], budget, {"date": date, "line": line, "source": source, "amount": amount}
        )
    ex = services.execution_of(budget)
    assert ex.rates()[0] == Decimal("30.00")
    assert ex.rates()[2] == Decimal("50.00")
    assert ex.line_rates()["equipment"][2] == Decimal("75.00")
    assert ex.source_rates()["supporting"][2] == Decimal("25.00")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("x.csv", b"<html><script>alert(1)</script></html>"),
        ("x.xlsx", b"MZ\x90\x00\x03\x00\x00\x00"),
        ("x.csv", b"%PDF-1.4\n"),
    ],
)
def test_the_import_form_refuses_a_file_that_is_not_csv_or_xlsx_by_content_before_parsing(
    budget, name, content, monkeypatch
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    monkeypatch.setattr(services, "read_table", lambda *a: pytest.fail("parsed an unchecked file"))
    client = verified_client(manager_of(budget.laboratory))
    response = client.post(f"/funding/{budget.pk}/import/", {"file": SimpleUploadedFile(name, content)})
    assert response.status_code == 200
    assert "is not an accepted type" in response.content.decode()
    assert not budget.expenditures.exists()


def test_the_import_form_refuses_a_file_over_the_size_limit(budget, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from qslab.funding.forms import ImportForm

    monkeypatch.setattr(ImportForm.base_fields["file"].validators[0], "max_bytes", 40)
    csv = "date,line,source,amount\n2025-02-01,equipment,central,100.00\n"
    client = verified_client(manager_of(budget.laboratory))
    response = client.post(
        f"/funding/{budget.pk}/import/", {"file": SimpleUploadedFile("x.csv", csv.encode())}
    )
    assert "too large" in response.content.decode()
    assert not budget.expenditures.exists()


def test_the_api_import_refuses_oversized_text(budget, users, monkeypatch):
    from qslab.accounts.models import ApiToken

    monkeypatch.setattr(services, "IMPORT_MAX_BYTES", 40)
    token = ApiToken.issue(users["office"], "t")[1]
    response = verified_client(None).post(
        f"/api/funding/budgets/{budget.pk}/expenditures/import",
        data={"csv": "date,line,source,amount\n2025-02-01,equipment,central,100.00\n"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_file"
    assert not budget.expenditures.exists()
