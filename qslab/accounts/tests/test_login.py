"""Sign-in: Argon2 hashes in production settings, lockout after repeated failures, password reset email."""

from django.conf import settings
from django.core import mail
from django.test import Client

from qslab.core.testing import make_user

PASSWORD = "correct horse battery staple"


def test_production_hashes_passwords_with_argon2():
    from qslab.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


def test_a_user_signs_in_with_the_right_password(db):
    user = make_user("client")
    response = Client().post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/work/"


def test_repeated_failures_lock_the_account_even_with_the_right_password(db):
    user = make_user("client")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": user.username, "password": "wrong"})
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429


def test_password_reset_sends_a_link_by_email(db):
    user = make_user("expert")
    response = Client().post("/accounts/password-reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and "/accounts/password-reset/" in mail.outbox[0].body


def test_profile_language_choice_is_saved_and_applied(clients, users):
    response = clients["client"].post(
        "/accounts/profile/",
        {
            "display_name": "C",
            "email": "c@example.invalid",
            "preferred_language": "zh-hans",
            "email_notifications": "on",
        },
    )
    assert response.status_code == 302
    users["client"].refresh_from_db()
    assert users["client"].preferred_language == "zh-hans"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
