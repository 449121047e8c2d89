"""Bulk import of standards from CSV or XLSX: each row recorded and taken through its lifecycle to its
stage (every step audited, with the dates given); every row error reported at once with row and column;
nothing saved unless every row is right; dry run."""

import pytest
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.labs.xlsx import write_xlsx
from qslab.outputs.imports import ImportFailed, RowError, import_standards
from qslab.outputs.models import Standard

HEADER = "laboratory,number,title_zh,role,level,stage,proposed_on,project_approved_on,published_on,reason"


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def test_a_published_standard_is_imported_through_each_stage_with_its_dates(world):
    manager = world.users["lab_manager"]
    content = _csv(
        "own,T/CAQI 300-2025,智能仪表评价规范,lead,,published,2024-01-10,2024-03-01,2025-06-30,",
        "own,,在研国家标准,participant,national,project,2025-02-01,2025-04-01,,",
    )
    result = import_standards(manager, "standards.csv", content)
    assert result.rows == 2 and not result.dry_run
    published, project = Standard.objects.filter(pk__in=result.created).order_by("pk")
    assert (published.stage, published.level, published.issuer) == ("published", "group", "CAQI")
    assert str(published.published_on) == "2025-06-30" and str(published.project_approved_on) == "2024-03-01"
    # stages without a date take the date of the next stage given
    assert str(published.working_draft_on) == "2025-06-30"
    assert (project.stage, str(project.proposed_on)) == ("project", "2025-02-01")
    steps = ChangeRecord.objects.filter(object_id=str(published.pk), transition__isnull=False).exclude(
        transition=""
    )
    assert [c.transition for c in steps.order_by("pk")] == [
        "approve_project", "start_drafting", "circulate", "submit_review", "approve", "publish",
    ]  # fmt: skip
    assert published.verification == "claimed"
    assert services_figures(world)["standards_published"] >= 1


def services_figures(world):
    from qslab.outputs import services

    return services.lab_figures(world.lab, 2025)


def test_every_bad_row_is_reported_at_once_and_nothing_is_saved(world):
    before = Standard.objects.count()
    content = _csv(
        "own,T/CAQI 400-2025,好标准,lead,,published,2024-01-10,,2025-01-05,",  # row 2: fine
        "nowhere,GB/T 12345,,boss,,published,2024-13-01,,,",  # row 3
        "own,T/CAQI 400-2025,同号,participant,,proposal,,,,",  # row 4: same number as row 2
        "own,,无号已发布,lead,group,published,,,2025-01-05,",  # row 5: published without a number
        "own,,撤销,lead,group,withdrawn,2024-01-01,2023-12-01,,",  # row 6: no reason; date order
        "own,T/CAQI 1-2026,已有,participant,,proposal,,,,",  # row 7: already recorded by the lab
        "other,,外单位,lead,group,,,,,",  # row 8: another laboratory
    )
    with pytest.raises(ImportFailed) as exc:
        import_standards(world.users["lab_manager"], "standards.csv", content)
    errors = exc.value.errors
    assert RowError(3, "laboratory", "no laboratory has the code “nowhere”") in errors
    assert RowError(3, "proposed_on", "write the date as YYYY-MM-DD") in errors
    assert RowError(3, "title_zh", "The Chinese title is required.") in errors
    assert RowError(3, "number", 'The year is missing: write it as in "GB/T 12345-2026".') in errors
    assert RowError(4, "number", "the same value is on row 2") in errors
    assert RowError(5, "number", "a published standard needs its number") in errors
    assert RowError(6, "reason", "a revised or withdrawn standard needs the reason") in errors
    assert (
        RowError(
            6,
            "project_approved_on",
            "the date is before that of the previous stage (proposed_on, 2024-01-01)",
        )
        in errors
    )
    assert (
        RowError(
            7,
            "number",
            f"This standard is already recorded: “已发布标准” (own, record {world.published.pk}).",
        )
        in errors
    )
    assert RowError(8, "laboratory", "you may record standards only for your own laboratory") in errors
    assert {e.row for e in errors} == {3, 4, 5, 6, 7, 8}
    assert Standard.objects.count() == before


def test_a_dry_run_checks_and_saves_nothing_and_xlsx_reads_like_csv(world):
    content = write_xlsx(
        ["laboratory", "title_zh", "role", "level", "stage", "reason"],
        [["own", "撤销的提案", "lead", "local", "withdrawn", "merged into another project"]],
    )
    before = Standard.objects.count()
    assert import_standards(world.users["office"], "standards.xlsx", content, dry_run=True).rows == 1
    assert Standard.objects.count() == before
    result = import_standards(world.users["office"], "standards.xlsx", content)
    assert Standard.objects.get(pk=result.created[0]).stage == "withdrawn"


def test_the_import_page_lists_the_problems(world):
    client = verified_client(world.users["lab_manager"])
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("s.csv", _csv("own,,,lead,group,,,,,"), "text/csv")
    page = client.post(reverse("outputs:import_standards"), {"file": upload}).content.decode()
    assert "1 problem: nothing was saved" in page and "The Chinese title is required." in page
