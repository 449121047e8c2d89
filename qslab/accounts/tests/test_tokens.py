"""Personal API tokens: stored hashed, shown once, refused when revoked or expired."""

import datetime as dt

from django.test import Client
from django.utils import timezone

from qslab.accounts.models import ApiToken
from qslab.accounts.services import issue_api_token


def _me(secret):
    return Client().get("/api/platform/me", headers={"Authorization": f"Bearer {secret}"})


def test_a_token_is_stored_only_as_a_hash(users):
    token, secret = issue_api_token(users["analyst"], "notebook")
    assert secret not in token.key_hash and len(token.key_hash) == 64
    assert not ApiToken.objects.filter(key_hash=secret).exists()
    response = _me(secret)
    assert response.status_code == 200 and response.json()["roles"] == ["analyst"]


def test_revoked_and_expired_tokens_are_refused_with_the_error_shape(users):
    token, secret = issue_api_token(users["analyst"], "old")
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now())
    response = _me(secret)
    assert response.status_code == 401
    assert (
        set(response.json()) == {"detail", "code", "errors"} and response.json()["code"] == "unauthenticated"
    )
    token2, secret2 = issue_api_token(users["analyst"], "short")
    ApiToken.objects.filter(pk=token2.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert _me(secret2).status_code == 401


def test_a_tampered_secret_is_refused(users):
    _token, secret = issue_api_token(users["expert"], "x")
    assert _me(secret[:-1] + ("A" if secret[-1] != "A" else "B")).status_code == 401


def test_token_page_shows_the_secret_once(clients):
    response = clients["expert"].post("/accounts/tokens/", {"name": "laptop", "expires_in_days": 30})
    assert response.status_code == 200 and "qsl_" in response.content.decode()
    again = clients["expert"].get("/accounts/tokens/")
    assert (
        "qsl_" not in again.content.decode().split('id="new-token"')[0]
        or 'id="new-token"' not in again.content.decode()
    )


def test_a_user_cannot_revoke_another_users_token(users, clients):
    token, _secret = issue_api_token(users["expert"], "mine")
    response = clients["client"].post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_last_used_is_recorded_at_first_use_and_then_at_most_once_a_minute(users):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    token, secret = issue_api_token(users["analyst"], "sensor")
    assert token.last_used is None
    assert _me(secret).status_code == 200
    first = ApiToken.objects.get(pk=token.pk).last_used
    assert first is not None
    with CaptureQueriesContext(connection) as ctx:  # a second later: the row is not written again
        assert _me(secret).status_code == 200
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "apitoken" in q["sql"]]
    assert ApiToken.objects.get(pk=token.pk).last_used == first
    old = timezone.now() - dt.timedelta(seconds=61)  # more than a minute ago: recorded again
    ApiToken.objects.filter(pk=token.pk).update(last_used=old)
    assert _me(secret).status_code == 200
    assert ApiToken.objects.get(pk=token.pk).last_used > old + dt.timedelta(seconds=60)
