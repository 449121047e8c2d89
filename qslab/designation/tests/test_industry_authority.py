"""A competent authority scoped to an industry (an industry department) sees and recommends only the
open-route applications whose key fields belong to its industry, as the office maps industries to key
fields (``IndustryScope``, office-editable data); a field covers its sub-fields."""

from __future__ import annotations

import pytest

from qslab.core.testing import make_organisation, make_user
from qslab.core.workflow import TransitionRefused
from qslab.designation import services
from qslab.designation.models import Application
from qslab.designation.tests.factories import make_application, make_call
from qslab.designation.tests.test_api_panels import _api
from qslab.labs.models import KeyField

pytestmark = pytest.mark.django_db


def _submitted(call, field_code, region="320000"):
    app = make_application(call, make_organisation(region_code=region), status="submitted")
    app.fields.set(KeyField.objects.filter(code=field_code))
    return app


@pytest.fixture
def industry_world(users):
    services.save_industry_scope(
        users["office"],
        {
            "industry": "Equipment industry",
            "name_zh": "装备工业",
            "name_en": "Equipment",
            "fields": ["manufacturing"],
        },
    )
    call = make_call("industry", recommendation_quota=5)
    robots = _submitted(call, "robots", region="440000")  # a sub-field of manufacturing, another province
    drugs = _submitted(call, "biopharma")
    authority = make_user("authority", industry="equipment industry")  # compared without regard to case
    return call, robots, drugs, authority


def test_an_industry_authority_sees_in_its_queue_only_applications_of_its_industry(users, industry_world):
    _call, robots, drugs, authority = industry_world
    visible = set(Application.objects.visible_to(authority))
    assert robots in visible and drugs not in visible
    queue = [item.url for item in services.queue_items(authority)]
    assert queue == [robots.get_absolute_url()]
    listed = _api(authority)("get", "/applications").json()
    items = listed["items"] if isinstance(listed, dict) else listed
    assert [a["id"] for a in items] == [robots.pk]


def test_an_industry_authority_cannot_recommend_an_application_outside_its_industry(users, industry_world):
    _call, robots, drugs, authority = industry_world
    with pytest.raises(TransitionRefused):
        services.move_application(authority, drugs, "recommend")
    response = _api(authority)("post", f"/applications/{drugs.pk}/transitions/recommend", {})
    assert response.status_code in (403, 404)
    drugs.refresh_from_db()
    assert drugs.status == "submitted"
    assert services.move_application(authority, robots, "recommend").status == "recommended"


def test_an_authority_scoped_to_a_province_and_an_industry_needs_both_nationwide_needs_neither(
    users, industry_world
):
    call, robots, _drugs, _authority = industry_world
    both = make_user("authority", region_code="320000", industry="Equipment industry")
    jiangsu_robots = _submitted(call, "robots", region="320000")
    assert set(Application.objects.visible_to(both)) == {jiangsu_robots}
    with pytest.raises(TransitionRefused):
        services.move_application(both, robots, "recommend")
    nationwide = make_user("authority", region_code="000000")
    assert robots in set(Application.objects.visible_to(nationwide))
    assert services.move_application(nationwide, robots, "recommend").status == "recommended"


def test_an_industry_the_office_has_not_mapped_covers_nothing_and_is_named_to_the_office(
    users, industry_world
):
    _call, robots, _drugs, _authority = industry_world
    stranger = make_user("authority", industry="Textiles")
    assert not Application.objects.visible_to(stranger).exists()
    assert services.unmapped_industries() == ["Textiles"]
    office = _api(users["office"])
    created = office("post", "/industries", {"industry": "textiles", "fields": ["consumer-goods"]})
    assert created.status_code == 201, created.content
    assert services.unmapped_industries() == []
    twice = office("post", "/industries", {"industry": "TEXTILES", "fields": []})
    assert twice.status_code == 422 and "already mapped" in twice.content.decode()
    unknown = office(
        "put", f"/industries/{created.json()['id']}", {"industry": "textiles", "fields": ["nope"]}
    )
    assert unknown.status_code == 422 and "nope" in unknown.content.decode()
    changed = office(
        "put", f"/industries/{created.json()['id']}", {"industry": "textiles", "fields": ["robots"]}
    )
    assert changed.json()["fields"] == ["robots"]
    assert set(Application.objects.visible_to(stranger)) == {robots}, "the office's map decides, not code"
    assert _api(stranger)("post", "/industries", {"industry": "x"}).status_code == 403
