"""CSRF everywhere: a POST without the token is refused by every page of every app, and by the API when
the browser session (not a token) authenticates it.

The URLs are generated from the URLconf (each pattern filled with placeholder arguments: the CSRF check
runs before the view, so the objects need not exist), so a new page is covered without being listed.
"""

from __future__ import annotations

import uuid

from django.http import HttpResponseForbidden
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, converters, get_resolver, reverse

from qslab.core.testing import api_operations, totp_device

MARKER = "csrf-refused"


def csrf_failure(request, reason=""):
    """The CSRF failure view for these tests: a 403 the test can tell apart from a permission refusal."""
    response = HttpResponseForbidden(MARKER)
    response["X-Test-CSRF"] = MARKER
    return response


_PLACEHOLDER = {
    converters.IntConverter: 1,
    converters.StringConverter: "x",
    converters.SlugConverter: "x",
    converters.PathConverter: "x",
    converters.UUIDConverter: uuid.UUID(int=1),
}


def site_urls() -> dict[str, str]:
    """Every named page of the site (outside admin and API) with placeholder arguments: name -> path."""
    out: dict[str, str] = {}

    def walk(patterns, namespace="", converters_so_far=None):
        for p in patterns:
            convs = {**(converters_so_far or {}), **getattr(p.pattern, "converters", {})}
            if isinstance(p, URLResolver):
                if p.namespace in ("admin", "api") or str(p.pattern).startswith(("api/", "admin/", "i18n/")):
                    continue
                walk(p.url_patterns, f"{namespace}{p.namespace}:" if p.namespace else namespace, convs)
            elif isinstance(p, URLPattern) and p.name:
                kwargs = {k: _PLACEHOLDER.get(type(c), "x") for k, c in convs.items()}
                try:
                    out[f"{namespace}{p.name}"] = reverse(f"{namespace}{p.name}", kwargs=kwargs)
                except Exception:  # noqa: S112 - a custom converter refused the placeholder
                    continue

    walk(get_resolver().url_patterns)
    return out


def _signed_in_strict_client(user) -> Client:
    from django_otp import DEVICE_ID_SESSION_KEY

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()
    return client


@override_settings(CSRF_FAILURE_VIEW="qslab.core.tests.test_security_csrf.csrf_failure")
def test_a_post_without_the_csrf_token_is_refused_by_every_page(users):
    urls = site_urls()
    apps = {name.split(":")[0] for name in urls}
    assert len(urls) > 50 and len(apps) >= 8, sorted(apps)
    client = _signed_in_strict_client(users["office"])
    accepted = []
    for name, url in sorted(urls.items()):
        response = client.post(url, {"text": "x", "reason": "x"})
        if response.get("X-Test-CSRF") != MARKER:
            accepted.append(f"{name} {url} -> {response.status_code}")
    assert not accepted, "POST without a CSRF token was not refused:\n" + "\n".join(accepted)


@override_settings(CSRF_FAILURE_VIEW="qslab.core.tests.test_security_csrf.csrf_failure")
def test_the_same_post_with_the_token_passes_the_csrf_check(users):
    client = _signed_in_strict_client(users["office"])
    client.get(reverse("core:dashboard"))  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("core:inbox_read_all"), {}, headers={"X-CSRFToken": token})
    assert response.get("X-Test-CSRF") != MARKER
    assert response.status_code in (200, 302)


def test_the_sign_in_form_refuses_a_post_without_the_token(db):
    response = Client(enforce_csrf_checks=True).post(
        reverse("accounts:login"), {"username": "x", "password": "y"}
    )
    assert response.status_code == 403


def test_every_unsafe_api_operation_refuses_a_session_without_the_csrf_token(users):
    """With only the session cookie (no API token), no write operation goes through without the token."""
    client = _signed_in_strict_client(users["office"])
    accepted = []
    checked = 0
    for path, method, op in api_operations():
        if method == "get":
            continue
        filled = path
        while "{" in filled:
            start, end = filled.index("{"), filled.index("}")
            filled = filled[:start] + "1" + filled[end + 1 :]
        response = getattr(client, method)("/api" + filled, data="{}", content_type="application/json")
        checked += 1
        if response.status_code < 400 or response.status_code == 422:
            accepted.append(f"{op} {method.upper()} /api{filled} -> {response.status_code}")
    assert checked > 10
    assert not accepted, "write operations that accepted a session without CSRF:\n" + "\n".join(accepted)
