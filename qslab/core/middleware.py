"""Request id and acting user for the change log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from qslab.core import context

request_log = logging.getLogger("qslab.request")


class RequestIdMiddleware:
    """Give every request an id (or keep the caller's ``X-Request-ID``) and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = context.current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            if request_log.isEnabledFor(logging.INFO):
                user = getattr(request, "user", None)
                request_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "user_id": getattr(user, "pk", None),
                    },
                )
        finally:
            context.current_request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class CurrentUserMiddleware:
    """Expose the authenticated user to the change log for the duration of the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user if request.user.is_authenticated else None
        token = context.current_user.set(user)
        try:
            return self.get_response(request)
        finally:
            context.current_user.reset(token)


class ApiDocsCspMiddleware:
    """Relax ``style-src`` for the Swagger UI page only (its bundle injects inline styles).

    Every other response keeps the strict policy (no ``'unsafe-inline'``). Placed after
    ``csp.middleware.CSPMiddleware`` in ``MIDDLEWARE`` so it marks the response before the policy is built.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info == "/api/docs":
            response._csp_update = {"style-src": ["'unsafe-inline'"]}  # type: ignore[attr-defined]
        return response
