"""Per-client limits on the public forms (complaints, objections): a flood of submissions from one client
is refused with 429 before anything is saved.

The count lives in the cache (``QSLAB_RATE_LIMIT_CACHE``, a fixed window of
``QSLAB_PUBLIC_FORM_WINDOW_SECONDS``): with several server processes the cache must be shared by them
(a database or Redis cache), or each process counts on its own. A client is the signed-in account, or
the address of an anonymous one (``REMOTE_ADDR``, or the header named by ``QSLAB_CLIENT_IP_HEADER`` when a
trusted reverse proxy sets it). The office is never limited: it records complaints received by
telephone, letter and in person, many a day.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from qslab.accounts.roles import Role, has_role


class RateLimited(Exception):
    """Too many submissions of a public form from one client in the window; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        minutes = max(1, -(-self.retry_after // 60))
        super().__init__(
            _(
                "Too many submissions from you in a short time. Nothing was saved; please try again in "
                "%(minutes)d minute(s)."
            )
            % {"minutes": minutes}
        )


def client_key(request: HttpRequest) -> str:
    """Who is counted: the account when signed in, else the client's address."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    header = getattr(settings, "QSLAB_CLIENT_IP_HEADER", "")
    address = request.META.get(header, "") if header else ""
    address = address.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "") or "unknown"
    return f"ip:{address}"


def check_public_form(request: HttpRequest, form: str) -> None:
    """Count one submission of the public form ``form`` by this client; raise :class:`RateLimited` past
    ``QSLAB_PUBLIC_FORM_LIMIT`` in the window. Call it before validating or saving anything."""
    if has_role(getattr(request, "user", None), Role.OFFICE):
        return
    limit = settings.QSLAB_PUBLIC_FORM_LIMIT
    window = settings.QSLAB_PUBLIC_FORM_WINDOW_SECONDS
    if limit <= 0 or window <= 0:
        return
    now = int(time.time())
    start = now - now % window
    key = f"qslab:rate:{form}:{client_key(request)}:{start}"
    cache = caches[settings.QSLAB_RATE_LIMIT_CACHE]
    cache.add(key, 0, timeout=window + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start the count again
        cache.set(key, 1, timeout=window + 60)
        count = 1
    if count > limit:
        raise RateLimited(start + window - now)


def rate_limited_page(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """The page a browser gets when refused: the message, status 429 and ``Retry-After``."""
    response = render(request, "core/rate_limited.html", {"message": str(exc)}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
