"""Bulk import: every row error with its row and column, nothing written unless all rows are good;
dry run; XLSX as well as CSV; lab managers import for their own lab only."""

import pytest

from qslab.labs.xlsx import write_xlsx
from qslab.outputs.imports import ImportFailed, RowError, import_outputs
from qslab.outputs.models import Output

HEADER = "laboratory,kind,title_zh,year,doi,application_number,participants,people"


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_every_row_error_is_reported_and_nothing_is_written(world):
    before = Output.objects.count()
    content = _csv(
        "own,paper,好论文,2026,10.1000/new.1,,,",  # row 2: fine
        "nowhere,paper,,20x6,not-a-doi,,,",  # row 3: four problems
        "own,paper,重复,2026,10.1000/OWN.1,,,",  # row 4: DOI already recorded
        "own,paper,同文件重复,2026,10.1000/new.1,,,",  # row 5: same DOI as row 2
        "own,event,会议,2026,,,many,",  # row 6: participants not a number
        "other,trainee,外单位,2026,,,,张三",  # row 7: another lab
    )
    with pytest.raises(ImportFailed) as exc:
        import_outputs(world.users["lab_manager"], "outputs.csv", content)
    assert exc.value.errors == [
        RowError(3, "laboratory", "no laboratory has the code “nowhere”"),
        RowError(3, "title_zh", "The Chinese title is required."),
        RowError(3, "year", "The year is required, as four digits."),
        RowError(
            3,
            "doi",
            '"not-a-doi" is not a DOI: expected 10.<registrant>/<suffix>, as in "10.1016/j.measurement.2024.114321".',  # noqa: E501
        ),
        RowError(4, "doi", f"This DOI is already recorded: “论文” (own, record {world.verified.pk})."),
        RowError(5, "doi", "the same value is on row 2"),
        RowError(6, "participants", "The number of participants must be a whole number."),
        RowError(7, "laboratory", "you may record outputs only for your own laboratory"),
    ]
    assert Output.objects.count() == before


def test_a_missing_or_unknown_column_is_reported_on_the_header_row(world):
    with pytest.raises(ImportFailed) as exc:
        import_outputs(world.users["office"], "o.csv", b"laboratory,kind,title,year\nown,paper,x,2026\n")
    assert exc.value.errors == [
        RowError(1, "title_zh", "this required column is missing"),
        RowError(1, "title", "unknown column"),
    ]


def test_a_dry_run_checks_and_saves_nothing(world):
    before = Output.objects.count()
    result = import_outputs(
        world.users["lab_manager"], "o.csv", _csv("own,trainee,培训,2026,,,,王五"), dry_run=True
    )
    assert (result.dry_run, result.rows) == (True, 1)
    assert Output.objects.count() == before


def test_good_rows_are_all_saved_as_claims_from_xlsx_too(world):
    content = write_xlsx(
        ["laboratory", "kind", "title_zh", "year", "people", "participants"],
        [["own", "trainee", "培训一", 2026, "王五", ""], ["own", "event", "学术会议", 2026, "", 120]],
    )
    result = import_outputs(world.users["lab_manager"], "o.xlsx", content)
    saved = Output.objects.filter(pk__in=result.created).order_by("pk")
    assert [(o.kind, o.status, o.participants) for o in saved] == [
        ("trainee", "claimed", None),
        ("event", "claimed", 120),
    ]


def test_the_import_page_lists_every_problem(world, clients):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("o.csv", _csv("own,paper,,2026,,,,"))
    response = clients["lab_manager"].post("/outputs/import/", {"file": upload})
    text = response.content.decode()
    assert response.status_code == 200 and "2 problems: nothing was saved" in text
    assert "The Chinese title is required." in text


def test_the_api_import_answers_422_with_the_row_errors(world):
    from django.test import Client

    response = Client().post(
        "/api/outputs/import",
        {"content": "laboratory,kind,title_zh,year\nown,paper,x,2026\n"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.tokens['office']}"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "import_failed"
    assert body["errors"] == [{"row": 2, "column": "doi", "message": "Required for the kind “paper”."}]
