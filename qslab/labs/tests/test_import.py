"""Bulk import: every bad row is reported by row and column, and nothing is saved unless all is well."""

import pytest
from django.core.exceptions import PermissionDenied

from qslab.accounts.models import Organisation
from qslab.core.management.commands.load_demo import fake_uscc
from qslab.core.testing import make_user
from qslab.labs.imports import ImportFailed, import_records, read_table
from qslab.labs.models import Laboratory
from qslab.labs.xlsx import write_xlsx


@pytest.fixture
def office(db):
    return make_user("office")


def _csv(text: str) -> list[list[str]]:
    return read_table("f.csv", text.encode())


def test_a_bad_row_is_reported_with_its_row_and_column_and_nothing_is_saved(office):
    org = Organisation.objects.create(
        name_zh="机构", name_en="Org", uscc=fake_uscc("imp-org"), kind="supporting", region_code="320000"
    )
    table = _csv(
        "code,name_zh,name_en,supporting_uscc,region_code,fields\n"
        f"good,国家好质量标准实验室,Good lab,{org.uscc},320000,robots\n"
        f"bad,某实验室,Bad lab,{org.uscc},999999,robots;nothing\n"
        "good,国家重复质量标准实验室,Dup,91000000XXXXXXXXXX,320000,\n"
    )
    with pytest.raises(ImportFailed) as failed:
        import_records(office, "laboratories", table)
    cells = {(e.row, e.column) for e in failed.value.errors}
    assert {(3, "name_zh"), (3, "region_code"), (3, "fields"), (4, "code"), (4, "supporting_uscc")} <= cells
    assert not Laboratory.objects.exists()


def test_missing_and_unknown_columns_are_named(office):
    with pytest.raises(ImportFailed) as failed:
        import_records(office, "organisations", _csv("name_zh,colour\n甲,red\n"))
    assert {(e.row, e.column) for e in failed.value.errors} >= {
        (1, "uscc"),
        (1, "colour"),
        (1, "region_code"),
    }


def test_a_dry_run_checks_everything_and_saves_nothing(office):
    table = _csv(f"name_zh,name_en,uscc,kind,region_code\n甲,A,{fake_uscc('a')},enterprise,320000\n")
    result = import_records(office, "organisations", table, dry_run=True)
    assert result.dry_run and result.created == [fake_uscc("a")]
    assert not Organisation.objects.filter(uscc=fake_uscc("a")).exists()
    import_records(office, "organisations", table)
    assert Organisation.objects.filter(uscc=fake_uscc("a")).exists()


def test_an_xlsx_file_imports_like_a_csv(office):
    content = write_xlsx(
        ["name_zh", "name_en", "uscc", "kind", "region_code"],
        [["乙", "B", fake_uscc("b"), "university", 330000], ["丙", "C", "bad-code", "university", 330000]],
    )
    with pytest.raises(ImportFailed) as failed:
        import_records(office, "organisations", read_table("orgs.xlsx", content))
    assert [(e.row, e.column) for e in failed.value.errors] == [(3, "uscc")]
    assert not Organisation.objects.filter(uscc=fake_uscc("b")).exists()


def test_only_the_office_imports(db):
    with pytest.raises(PermissionDenied):
        import_records(make_user("authority"), "organisations", _csv("name_zh\n甲\n"))


def test_the_import_page_lists_every_problem(office, clients, users):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile(
        "orgs.csv", "name_zh,name_en,uscc,kind,region_code\n甲,A,bad,enterprise,320000\n".encode()
    )
    page = clients["office"].post("/labs/import/", {"kind": "organisations", "file": upload, "dry_run": ""})
    text = page.content.decode()
    assert page.status_code == 200 and 'id="import-errors"' in text and "uscc" in text
