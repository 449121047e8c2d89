"""Production settings: secure, HttpOnly, SameSite cookies, HSTS, and ``check --deploy`` clean."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

REPO = Path(__file__).resolve().parents[3]
PRODUCTION_ENV = {
    "SECRET_KEY": "test-only-" + "k" * 60,
    "ALLOWED_HOSTS": "qslab.example.org",
    "DATABASE_URL": "postgres://qslab:qslab@127.0.0.1:5432/qslab",
}


@pytest.fixture
def production(monkeypatch):
    for key, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("qslab.settings.production", None)
    try:
        yield importlib.import_module("qslab.settings.production")
    finally:
        sys.modules.pop("qslab.settings.production", None)


def test_production_cookies_are_secure_http_only_and_same_site(production):
    assert production.DEBUG is False
    assert production.SESSION_COOKIE_SECURE and production.CSRF_COOKIE_SECURE
    assert production.LANGUAGE_COOKIE_SECURE
    assert production.SESSION_COOKIE_HTTPONLY and production.CSRF_COOKIE_HTTPONLY
    assert production.SESSION_COOKIE_SAMESITE in ("Lax", "Strict")
    assert production.CSRF_COOKIE_SAMESITE in ("Lax", "Strict")
    assert production.SECURE_HSTS_SECONDS >= 31536000 and production.SECURE_HSTS_INCLUDE_SUBDOMAINS
    assert production.SECURE_SSL_REDIRECT


def test_production_counts_public_form_submissions_in_a_cache_every_worker_shares(production):
    alias = production.QSLAB_RATE_LIMIT_CACHE
    assert production.CACHES[alias]["BACKEND"].endswith("FileBasedCache"), "not per-process memory"


def test_production_refuses_to_start_without_a_secret_key(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("ALLOWED_HOSTS", "qslab.example.org")
    sys.modules.pop("qslab.settings.production", None)
    with pytest.raises(KeyError, match="SECRET_KEY"):
        importlib.import_module("qslab.settings.production")
    sys.modules.pop("qslab.settings.production", None)


def test_the_cookies_a_browser_gets_at_sign_in_carry_the_production_flags(users, production):
    from django.test import Client

    names = (
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SAMESITE",
    )
    with override_settings(**{name: getattr(production, name) for name in names}):
        browser = Client()
        csrf = browser.get(reverse("accounts:login")).cookies["csrftoken"]
        signed_in = browser.post(
            reverse("accounts:login"),
            {"username": users["expert"].username, "password": "correct horse battery staple"},
        )
    assert signed_in.status_code == 302, signed_in.content[:300]
    session = signed_in.cookies["sessionid"]
    for cookie in (session, csrf):
        assert cookie["secure"] is True, cookie
        assert cookie["httponly"] is True, cookie
        assert cookie["samesite"] == "Lax", cookie


def test_manage_check_deploy_is_clean_with_the_documented_environment(tmp_path):
    env = {**os.environ, **PRODUCTION_ENV, "QSLAB_VAR_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set here for the browser tests, never in deployment
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
            "--settings=qslab.settings.production",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
