"""Settings for development (``make run``): SQLite and a DuckDB file under ``var/``.

Everything that differs between machines comes from the environment: ``DATABASE_URL``,
``DUCKDB_PATH``, ``SECRET_KEY``, ``SPARK_MASTER``. Production hardening is in ``production.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("QSLAB_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-key-change-me-in-production")
DEBUG = os.environ.get("DEBUG", "1") == "1"
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_filters",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "django_tasks",
    "django_tasks_db",
    "qslab.core",
    "qslab.accounts",
    "qslab.portal",
    "qslab.labs",
    "qslab.studies",
    "qslab.risk",
    "qslab.sharing",
    "qslab.outputs",
    "qslab.designation",
    "qslab.supervision",
    "qslab.funding",
    "qslab.recalls",
    "django.forms",  # last: its widget templates, behind qslab.core's faster select (FORM_RENDERER below)
]

MIDDLEWARE = [
    # /healthz and /readyz answer first: no host check, HTTPS redirect, session or user lookup.
    "qslab.core.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "qslab.core.middleware.RequestIdMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "qslab.accounts.middleware.RequireTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "qslab.core.middleware.ApiDocsCspMiddleware",
    "qslab.core.middleware.CurrentUserMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "qslab.urls"
WSGI_APPLICATION = "qslab.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "qslab" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qslab.core.context_processors.platform",
            ],
        },
    },
]

# Form widgets render through the project's template engine, so qslab/core/templates can override one.
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'qslab.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Wait for the writer rather than failing at once when the worker and the server both write.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DUCKDB_PATH = Path(os.environ.get("DUCKDB_PATH", VAR_DIR / "analytics.duckdb"))
# CPSC NEISS code tables used when analysts upload NEISS files (the shipped example beside the repo).
RISK_NEISS_CODES_DIR = Path(
    os.environ.get("RISK_NEISS_CODES_DIR", BASE_DIR.parent / "shared" / "data" / "neiss" / "codes")
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 1  # hours
# Lock a username from one address: an attacker cannot lock the real user out from elsewhere.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:dashboard"
LOGOUT_REDIRECT_URL = "portal:home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "qslab" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Development and tests serve static files straight from the apps; production runs collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATICFILES_DIRS = [BASE_DIR / "qslab" / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = "qslab <no-reply@qslab.invalid>"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Stale-task recovery (qslab.core.tasks.recover_stale_tasks, a frequent scheduled job): a task RUNNING with
# no progress heartbeat (its TaskProgress row, or its start) for longer than the lease has lost its worker.
# A task listed as restartable (idempotent: running it twice does no harm) is queued again, at most
# QSLAB_TASK_MAX_ATTEMPTS runs in all; any other is marked failed with the reason. Both are audited.
QSLAB_TASK_LEASE_SECONDS = int(os.environ.get("QSLAB_TASK_LEASE_SECONDS", "1800"))
QSLAB_TASK_MAX_ATTEMPTS = int(os.environ.get("QSLAB_TASK_MAX_ATTEMPTS", "3"))
QSLAB_RESTARTABLE_TASKS = (
    "qslab.core.tasks.send_reminders_task",  # reminds and marks each deadline once
    "qslab.risk.tasks.ingest_task",  # all or nothing; records already stored are not stored twice
    "qslab.risk.tasks.weekly_digest_task",  # one digest per ISO week
    "qslab.funding.tasks.scheduled_monitoring_task",  # runs once a year, later runs do nothing
    "qslab.sharing.tasks.release_no_shows_task",  # releases what is still unreleased
    "qslab.sharing.tasks.send_booking_reminders_task",  # once per booking
)

# Public forms (complaints, objections to public notices): at most QSLAB_PUBLIC_FORM_LIMIT submissions per
# client (account, or address when anonymous) per window, counted in the cache named below (shared by all
# server processes in production, e.g. a database cache); the office is not limited. See qslab.core.ratelimit.
QSLAB_PUBLIC_FORM_LIMIT = int(os.environ.get("QSLAB_PUBLIC_FORM_LIMIT", "5"))
QSLAB_PUBLIC_FORM_WINDOW_SECONDS = int(os.environ.get("QSLAB_PUBLIC_FORM_WINDOW_SECONDS", "3600"))
QSLAB_RATE_LIMIT_CACHE = os.environ.get("QSLAB_RATE_LIMIT_CACHE", "default")
# The request header with the client's address when a trusted reverse proxy sets it (e.g. HTTP_X_REAL_IP);
# empty: REMOTE_ADDR.
QSLAB_CLIENT_IP_HEADER = os.environ.get("QSLAB_CLIENT_IP_HEADER", "")

# API lists: bounded pages (an offset past any real table is refused with 422, not a database overflow).
NINJA_PAGINATION_MAX_LIMIT = 1000
NINJA_PAGINATION_MAX_OFFSET = 1_000_000

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],
        # No 'unsafe-inline' anywhere: no inline scripts, event handlers, <style> or style attributes in
        # templates (qslab/core/tests/test_security_headers.py checks them). Only /api/docs (Swagger UI)
        # gets inline styles, from qslab.core.middleware.ApiDocsCspMiddleware.
        "style-src": [SELF],
        "script-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # pages and htmx send the token from the page (base.html hx-headers), never JS
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# /readyz: a task waiting longer than this (seconds) means the worker is down or behind (a warning).
HEALTH_WORKER_MAX_WAIT = int(os.environ.get("HEALTH_WORKER_MAX_WAIT", "600"))
HEALTH_SCHEDULER_MAX_SILENCE = int(os.environ.get("HEALTH_SCHEDULER_MAX_SILENCE", "1800"))

OTP_TOTP_ISSUER = "qslab"
# Roles whose members must pass a TOTP check before any page other than the two-factor set-up.
TWO_FACTOR_REQUIRED_ROLES = ("office", "committee")

# Document numbers: pattern per kind; {year}, {seq} and {prefix} are filled in. Office can override
# per kind in the DocumentKind table; this is the default for new kinds.
DOCUMENT_NUMBER_DEFAULT_PATTERN = "{prefix}〔{year}〕{seq}号"

# Logs carry the request id (X-Request-ID) of their request. LOG_FORMAT=json gives one JSON object per line
# (production's default); qslab.request logs one line per request (method, path, status, duration).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "qslab.core.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "qslab.core.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": "text"},
        "json": {"class": "logging.StreamHandler", "filters": ["request_id"], "formatter": "json"},
    },
    "root": {
        "handlers": ["json" if os.environ.get("LOG_FORMAT") == "json" else "console"],
        "level": os.environ.get("LOG_LEVEL", "WARNING"),
    },
    "loggers": {"qslab.request": {"level": os.environ.get("REQUEST_LOG_LEVEL", "WARNING")}},
}
