"""The figures per laboratory and year that supervision and funding read, the chart, and the public
achievements page."""

import datetime as dt
from decimal import Decimal

from qslab.outputs import services
from qslab.outputs.models import Output, Standard
from qslab.outputs.tests.conftest import TO_PUBLISHED, walk


def _out(lab, **fields):
    return Output.objects.create(laboratory=lab, **{"title_zh": "x", "status": "verified", **fields})


def test_lab_figures_count_standards_by_stage_and_level_and_only_verified_outputs(world):
    lab = world.lab
    Standard.objects.create(
        laboratory=lab,
        title_zh="a",
        role="participant",
        level="national",
        stage="published",
        published_on=dt.date(2026, 5, 1),
    )
    Standard.objects.create(
        laboratory=lab,
        title_zh="b",
        role="lead",
        level="industry",
        stage="published",
        published_on=dt.date(2025, 5, 1),
    )
    Standard.objects.create(
        laboratory=lab,
        title_zh="c",
        role="lead",
        level="local",
        stage="for_comments",
        for_comments_on=dt.date(2026, 2, 1),
    )
    Standard.objects.create(
        laboratory=world.other_lab,
        title_zh="d",
        role="lead",
        level="group",
        stage="published",
        published_on=dt.date(2026, 5, 1),
    )
    _out(lab, kind="patent", year=2025, granted_on=dt.date(2026, 4, 1))  # applied 2025, granted 2026
    _out(lab, kind="patent", year=2026)
    _out(lab, kind="patent", year=2026, status="claimed")  # not verified: not counted
    _out(lab, kind="equipment", year=2026)
    _out(lab, kind="trainee", year=2026, people="王五")
    _out(lab, kind="event", year=2026, participants=80)
    _out(lab, kind="event", year=2026, participants=40)
    _out(lab, kind="transfer", year=2026, value=Decimal("120.50"), counterpart="某公司")
    _out(lab, kind="transfer", year=2026, value=Decimal("30"), status="rejected", counterpart="某公司")
    _out(world.other_lab, kind="paper", year=2026, doi="10.1000/other.1")

    f = services.lab_figures(lab, 2026)

    # world.published (group, lead, 2026-03-01) and "a" (national, participant)
    assert f["standards_published"] == 2
    assert f["standards_published_by_level"] == {
        "national": 1,
        "industry": 0,
        "local": 0,
        "group": 1,
        "international": 0,
    }
    assert f["standards_published_as_lead"] == 1
    assert f["standards_by_stage_and_level"]["for_comments"]["local"] == 1
    assert f["standards_by_stage_and_level"]["for_comments"]["national"] == 0
    assert f["patents_granted"] == 1
    assert f["patent_applications"] == 1
    assert f["papers"] == 1  # world.verified (2026); the other lab's paper is not counted
    assert f["equipment_developed"] == 1  # world.claimed is not verified
    assert (f["trainees"], f["events"], f["event_participants"]) == (1, 2, 120)
    assert f["transfer_value"] == 120.5
    assert f["claims_awaiting_verification"] == 2  # world.claimed and the claimed patent
    assert services.lab_figures(lab, 2025)["standards_published_by_level"]["industry"] == 1


def test_a_group_standard_recorded_from_proposal_to_publication_counts_in_the_years_figures(world):
    manager = world.users["lab_manager"]
    before = services.lab_figures(world.lab, dt.date.today().year)["standards_published_by_level"]["group"]
    std = services.record_standard(
        manager, world.lab, {"title_zh": "团体标准", "role": "lead", "level": "group"}
    )
    std = walk(std, manager, *TO_PUBLISHED[:-1])
    services.edit_standard(manager, std, {"number": "T/CAQI 900-2026"})
    walk(std, manager, "publish")
    figures = services.lab_figures(world.lab, dt.date.today().year)
    assert figures["standards_published_by_level"]["group"] == before + 1


def test_the_figures_page_draws_the_chart_as_svg_with_cjk_fonts(world, clients):
    response = clients["lab_manager"].get(f"/outputs/labs/{world.lab.pk}/figures/?year=2026")
    text = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in text and "Noto Sans CJK SC" in text and "Standards published" in text


def test_the_figures_api_returns_the_same_numbers(world, clients):
    from django.test import Client

    response = Client().get(
        f"/api/outputs/labs/{world.lab.pk}/figures?year=2026",
        headers={"Authorization": f"Bearer {world.tokens['committee']}"},
    )
    assert response.status_code == 200
    assert response.json() == services.lab_figures(world.lab, 2026)


def test_the_public_achievements_page_lists_published_standards_and_verified_outputs_only(world, clients):
    text = clients["anonymous"].get(f"/outputs/labs/{world.lab.pk}/achievements/").content.decode()
    assert "T/CAQI 1-2026" in text and "论文" in text
    assert "提案标准" not in text and "检测装置" not in text
