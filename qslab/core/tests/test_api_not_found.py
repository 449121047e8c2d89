"""An address under /api/ that names no operation answers the API's JSON 404, never the site's HTML page,
and the OpenAPI says what a text path parameter may be (at least one character, no ``/``).

Found by the long schemathesis run: ``POST /api/sharing/requests//transitions/accept`` (an empty path
parameter: negative examples, or a link whose value was missing) reached no URL pattern and got the HTML
404 page, which no operation declares.
"""

import pytest
from django.test import Client

from qslab.api import api

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/sharing/requests//transitions/accept"),
        ("post", "/api/sharing/requests/1/transitions/"),
        ("get", "/api/sharing/requests/"),
        ("get", "/api/no-such-app/things"),
        ("delete", "/api/platform//"),
    ],
)
def test_an_address_with_no_operation_answers_json_404(method, path, world):
    client = Client(headers={"Authorization": f"Bearer {world.tokens['office']}"})
    response = getattr(client, method)(path, content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    body = {"detail": "No API operation at this address.", "code": "not_found", "errors": []}
    assert response.json() == body


def test_anonymous_posts_to_unknown_addresses_get_the_json_404_too(db):
    """Not the CSRF failure page: the catch-all, like every operation, takes no session cookie."""
    response = Client(enforce_csrf_checks=True).post("/api/sharing/requests//transitions/accept", {})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_real_operations_still_answer_as_before(world):
    client = Client(headers={"Authorization": f"Bearer {world.tokens['office']}"})
    assert client.get("/api/platform/deadlines").status_code == 200
    assert client.get("/api/sharing/requests/abc").status_code == 422  # not an integer: validation
    assert client.get("/api/openapi.json").status_code == 200


def test_every_text_path_parameter_in_the_schema_is_non_empty_without_slash():
    schema = api.get_openapi_schema()
    text_params = [
        (path, p["name"], p["schema"])
        for path, methods in schema["paths"].items()
        for op in methods.values()
        for p in op.get("parameters", [])
        if p["in"] == "path" and p["schema"].get("type") == "string" and "enum" not in p["schema"]
    ]
    assert any(name == "transition" for _path, name, _s in text_params)
    loose = [(path, name) for path, name, s in text_params if s.get("minLength", 0) < 1 or "pattern" not in s]
    # (a parameter with an enum, such as a taxonomy kind, is already bounded by it)
    assert not loose, loose
    assert not any("{rest}" in path for path in schema["paths"])  # the catch-all is no operation
