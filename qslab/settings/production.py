"""Production settings: secrets and hosts must come from the environment.

Required: ``SECRET_KEY`` (50+ random characters), ``ALLOWED_HOSTS`` (comma-separated host names),
``DATABASE_URL`` (PostgreSQL). Optional: ``DUCKDB_PATH``, ``QSLAB_VAR_DIR`` (media, static, mail),
``SECURE_SSL_REDIRECT`` (``0`` when the proxy already redirects), ``CSRF_TRUSTED_ORIGINS``
(comma-separated ``https://host`` when served under another origin), ``LOG_LEVEL``, ``EMAIL_BACKEND``.
``manage.py check --deploy --settings=qslab.settings.production`` is clean with these set
(``qslab/core/tests/test_security_settings.py``). See README, "Operations".
"""

from __future__ import annotations

import os

from .base import *  # noqa: F403
from .base import LOGGING

DEBUG = False
# Keep database connections open between requests (a new PostgreSQL connection per request costs more than
# most API calls); checked before reuse so a restarted database does not fail the first request.
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
SECRET_KEY = os.environ["SECRET_KEY"]
ALLOWED_HOSTS = os.environ["ALLOWED_HOSTS"].split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# What several gunicorn workers must count together (the public forms' rate limit) goes to a file cache on
# this host, not to each process's memory; with several hosts, add a shared cache (e.g. Redis) to CACHES
# and name it in QSLAB_RATE_LIMIT_CACHE.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "shared": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),  # noqa: F405
    },
}
QSLAB_RATE_LIMIT_CACHE = os.environ.get("QSLAB_RATE_LIMIT_CACHE", "shared")

# Cookies only over HTTPS, never readable from scripts, not sent on cross-site subrequests.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# HTTPS: gunicorn sits behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
# /healthz and /readyz are answered before the redirect and the host check (qslab.core.health).
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = os.environ.get("SECURE_HSTS_PRELOAD", "0") == "1"
# HSTS preload is a commitment for the whole domain; the operator opts in with SECURE_HSTS_PRELOAD=1.
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]  # noqa: F405

WHITENOISE_USE_FINDERS = False
WHITENOISE_AUTOREFRESH = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One JSON object per line on stderr, with the request id (collected by journald or the container).
LOGGING = {
    **LOGGING,
    "root": {
        **LOGGING["root"],
        "handlers": ["console" if os.environ.get("LOG_FORMAT") == "text" else "json"],
    },
    "loggers": {"qslab.request": {"level": os.environ.get("REQUEST_LOG_LEVEL", "INFO")}},
}
