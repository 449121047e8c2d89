"""Once a laboratory is named, its director, supporting institution and research direction change only
through an approved major-change report: not by the profile service, the edit page or the API, neither
for its manager nor for the office."""

import pytest
from django.core.exceptions import PermissionDenied

from qslab.accounts.models import ApiToken
from qslab.core.testing import make_user, verified_client
from qslab.labs import services
from qslab.labs.tests.conftest import make_lab


@pytest.mark.parametrize("status", ["named", "under_rectification", "suspended"])
def test_the_service_refuses_a_direct_change_of_a_named_labs_director(manager_of, status):
    lab = make_lab("own", status=status)
    office = make_user("office")
    for user in (manager_of(lab), office):
        with pytest.raises(PermissionDenied, match="major-change report"):
            services.edit_laboratory(user, lab, {"director_name": "新主任"})
        with pytest.raises(PermissionDenied, match="major-change report"):
            services.edit_laboratory(user, lab, {"director_title": "教授"})
    services.edit_laboratory(manager_of(lab), lab, {"director_name": "张三", "website": "https://a.example"})
    lab.refresh_from_db()
    assert (lab.director_name, lab.director_title, lab.website) == ("张三", "", "https://a.example")


def test_the_edit_page_has_no_director_fields_and_ignores_posted_ones(manager_of):
    lab = make_lab("own")
    client = verified_client(manager_of(lab))
    page = client.get(f"/labs/{lab.pk}/edit/")
    assert page.status_code == 200
    assert 'name="director_name"' not in page.content.decode()
    assert 'data-governed="director"' in page.content.decode()
    data = {
        "director_name": "偷改主任",
        "director_title": "研究员",
        "contact_email": "new@example.invalid",
        "prefecture_code": "",
    }
    response = client.post(f"/labs/{lab.pk}/edit/", data)
    assert response.status_code == 302
    lab.refresh_from_db()
    assert lab.director_name == "张三" and lab.director_title == ""
    assert lab.contact_email == "new@example.invalid"


def test_the_api_refuses_a_direct_change_of_a_named_labs_director(manager_of):
    lab = make_lab("own")
    _t, token = ApiToken.issue(manager_of(lab), "t")
    r = verified_client(None).patch(
        f"/api/labs/laboratories/{lab.pk}",
        {"director_name": "偷改主任"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    lab.refresh_from_db()
    assert lab.director_name == "张三"


def test_before_naming_the_manager_still_sets_the_director(manager_of):
    lab = make_lab("own", status="under_construction", director_name="")
    services.edit_laboratory(manager_of(lab), lab, {"director_name": "首任主任"})
    lab.refresh_from_db()
    assert lab.director_name == "首任主任"


def test_a_major_change_is_written_only_once_approved(db):
    from qslab.supervision import services as supervision

    lab = make_lab("own")
    office = make_user("office")
    change = supervision.report_major_change(
        office, lab, kind="director", new_value="王五", new_title="教授", reason="换届"
    )
    with pytest.raises(PermissionDenied, match="approved"):
        services.apply_major_change(office, lab, {"director_name": "王五"}, change=change)
    supervision.move_major_change(office, change, "approve")
    lab.refresh_from_db()
    assert (lab.director_name, lab.director_title) == ("王五", "教授")
    with pytest.raises(PermissionDenied):
        services.apply_major_change(
            make_user("lab_manager", scope=lab), lab, {"director_name": "x"}, change=change
        )


@pytest.mark.parametrize("status", ["named", "under_rectification", "suspended"])
def test_the_office_cannot_move_a_named_lab_to_another_institution_or_direction_directly(db, status):
    from qslab.core.testing import make_organisation

    lab = make_lab("own", status=status, direction="机器人")
    office = make_user("office")
    before = lab.supporting_institution
    with pytest.raises(PermissionDenied, match="major-change report"):
        services.edit_laboratory(
            office, lab, {"supporting_institution": make_organisation(region_code="320000")}
        )
    with pytest.raises(PermissionDenied, match="major-change report"):
        services.edit_laboratory(office, lab, {"direction": "别的方向"})
    # the unchanged values (e.g. a whole form posted back) pass; other office fields still change
    services.edit_laboratory(
        office, lab, {"supporting_institution": before, "direction": "机器人", "name_en": "Renamed Lab"}
    )
    lab.refresh_from_db()
    assert (lab.supporting_institution, lab.direction, lab.name_en) == (before, "机器人", "Renamed Lab")


def test_the_offices_edit_page_has_no_institution_or_direction_fields_once_named(db):
    from qslab.core.testing import make_organisation

    lab = make_lab("own", direction="机器人")
    office = make_user("office")
    client = verified_client(office)
    page = client.get(f"/labs/{lab.pk}/edit/").content.decode()
    assert 'name="supporting_institution"' not in page and 'name="direction"' not in page
    assert 'data-governed="direction"' in page and "机器人" in page
    assert 'name="name_en"' in page  # the office still edits the rest
    before = lab.supporting_institution
    other = make_organisation(region_code="320000")
    form = client.get(f"/labs/{lab.pk}/edit/").context["form"]
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, list)}
    data.update(
        {
            "supporting_institution": other.pk,
            "direction": "偷改方向",
            "fields": [f.pk for f in lab.fields.all()],
        }
    )
    client.post(f"/labs/{lab.pk}/edit/", data)
    lab.refresh_from_db()
    assert (lab.supporting_institution, lab.direction) == (before, "机器人")
    # before naming, the office still sets them on the edit page
    draft = make_lab("draft", status="under_construction")
    page = client.get(f"/labs/{draft.pk}/edit/").content.decode()
    assert 'name="supporting_institution"' in page and 'name="direction"' in page


def test_the_api_refuses_a_direct_change_of_a_named_labs_institution(db):
    from qslab.core.testing import make_organisation

    lab = make_lab("own")
    before = lab.supporting_institution
    _t, token = ApiToken.issue(make_user("office"), "t")
    r = verified_client(None).patch(
        f"/api/labs/laboratories/{lab.pk}",
        {"supporting_institution_id": make_organisation(region_code="320000").pk, "direction": "x"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    lab.refresh_from_db()
    assert lab.supporting_institution == before and lab.direction == ""
