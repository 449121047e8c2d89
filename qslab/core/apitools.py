"""What every app's API router needs: authentication classes and the one error schema."""

from typing import Any

from django.http import HttpRequest
from ninja import Field, Schema
from ninja import pagination as ninja_pagination
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from qslab.core import context


class ErrorOut(Schema):
    """Every error response: a sentence, a machine code, and the field errors if any."""

    detail: str
    code: str
    errors: list[dict] = []


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` with a personal API token (stored hashed)."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from qslab.accounts.models import ApiToken

        user = ApiToken.authenticate(token)
        if user is not None:
            request.user = user
            context.current_user.set(user)
        return user


class SessionAuth(APIKeyCookie):
    """The browser session, with CSRF; office staff must have passed two-factor."""

    param_name = "sessionid"

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        from django.conf import settings

        from qslab.accounts.roles import roles_of

        user = request.user
        if not user.is_authenticated:
            return None
        if roles_of(user) & set(settings.TWO_FACTOR_REQUIRED_ROLES) and not user.is_verified():
            return None
        return user


class OptionalAuth:
    """Anonymous allowed: sets the user if a token or session is given, else the public view."""

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("bearer "):
            user = TokenAuth().authenticate(request, header[7:].strip())
            if user is None:
                raise AuthenticationError()
            return user
        if request.user.is_authenticated:
            # The session cookie is ambient authority: an unsafe request made with it must carry the CSRF
            # token, as SessionAuth requires (ninja's views are csrf_exempt, so nothing else checks it).
            if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE") and check_csrf(request):
                raise HttpError(403, "CSRF check failed: send the X-CSRFToken header or use an API token.")
            return request.user
        return True


token_auth = TokenAuth()
session_auth = SessionAuth()
AUTH = [token_auth, session_auth]
PUBLIC = OptionalAuth()


MAX_OFFSET = 1_000_000


class LimitOffsetPagination(ninja_pagination.LimitOffsetPagination):
    """django-ninja's limit/offset pages with a bounded offset: an absurd offset is a 422, not a 500."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=1000)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)
