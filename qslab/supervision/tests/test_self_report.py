"""The self-evaluation report of a phased evaluation: the lab's manager writes it on the entry page or by
the API while the campaign is preparing or scoring; experts and the office read it; it closes at
confirmation."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.testing import make_user, verified_client
from qslab.labs.tests.conftest import make_lab
from qslab.supervision import services


def test_the_lab_manager_writes_the_self_evaluation_and_the_expert_reads_it(world):
    manager = verified_client(world.users["lab_manager"])
    page = manager.get(world.entry.get_absolute_url()).content.decode()
    assert 'name="self_report"' in page
    response = manager.post(
        f"/supervision/entries/{world.entry.pk}/self-report/", {"self_report": "自评：全面达标。"}
    )
    assert response.status_code == 302
    world.entry.refresh_from_db()
    assert world.entry.self_report == "自评：全面达标。"
    expert_page = verified_client(world.users["expert"]).get(world.entry.get_absolute_url()).content.decode()
    assert "自评：全面达标。" in expert_page and 'name="self_report"' not in expert_page


def test_only_the_labs_manager_or_the_office_writes_it_and_not_after_confirmation(world):
    stranger = make_user("lab_manager", scope=make_lab("elsewhere", status="named"))
    with pytest.raises(PermissionDenied):
        services.submit_self_report(stranger, world.entry, "x")
    with pytest.raises(PermissionDenied):
        services.submit_self_report(world.users["expert"], world.entry, "x")
    with pytest.raises(ValidationError):
        services.submit_self_report(world.users["lab_manager"], world.entry, "  ")
    type(world.campaign).objects.filter(pk=world.campaign.pk).update(status="confirmed")
    world.entry.refresh_from_db()
    with pytest.raises(ValidationError):
        services.submit_self_report(world.users["lab_manager"], world.entry, "迟交")


def test_outsiders_do_not_see_the_self_evaluation_of_a_published_campaign(world):
    services.submit_self_report(world.users["lab_manager"], world.entry, "内部自评材料")
    type(world.campaign).objects.filter(pk=world.campaign.pk).update(status="published")
    page = verified_client(world.users["client"]).get(world.entry.get_absolute_url())
    assert page.status_code == 200
    assert "内部自评材料" not in page.content.decode()
