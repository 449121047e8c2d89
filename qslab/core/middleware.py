"""Request id and acting user for the change log."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from qslab.core import context


class RequestIdMiddleware:
    """Give every request an id (or keep the caller's ``X-Request-ID``) and echo it in the response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if incoming.isalnum() and len(incoming) <= 64 else context.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = context.current_request_id.set(request_id)
        try:
            response = self.get_response(request)
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
