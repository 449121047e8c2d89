"""?current=true on the staff register API is a filter (true/false in the query string), not a 422."""

import datetime as dt

from qslab.outputs.models import StaffMember


def _ids(response):
    assert response.status_code == 200, response.content
    body = response.json()
    return {row["id"] for row in (body["items"] if isinstance(body, dict) else body)}


def test_staff_current_true_and_false_return_the_right_rows(world, clients):
    left = StaffMember.objects.create(
        laboratory=world.lab,
        name_zh="已离职",
        role="engineer",
        starts_on=dt.date(2015, 1, 1),
        ends_on=dt.date(2016, 1, 1),
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world.tokens['lab_manager']}"}
    url = f"/api/outputs/labs/{world.lab.pk}/staff"
    current = _ids(clients["anonymous"].get(url + "?current=true", **auth))
    everyone = _ids(clients["anonymous"].get(url + "?current=false", **auth))
    assert left.pk not in current and left.pk in everyone and current <= everyone
