"""What every app's API router needs: authentication classes and the one error schema."""

import datetime as dt
import re
from collections.abc import Sequence
from typing import Annotated, Any, overload

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, NinjaAPI, Schema
from ninja import pagination as ninja_pagination
from ninja.errors import AuthenticationError, HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf
from pydantic import BeforeValidator

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


def require_office(request: HttpRequest, message: str = "Only the committee office may do this.") -> None:
    """Refuse (403 with ``message``) anyone but the committee office, for an office-only endpoint.

    Called where the endpoint wants the refusal: first thing, or after the object lookup when a caller
    who cannot see the object should get 404 rather than 403.
    """
    from qslab.accounts.roles import Role, has_role

    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(message)


MAX_OFFSET = 1_000_000


class LimitOffsetPagination(ninja_pagination.LimitOffsetPagination):
    """django-ninja's limit/offset pages with a bounded offset: an absurd offset is a 422, not a 500."""

    class Input(Schema):
        limit: int = Field(100, ge=1, le=1000)
        offset: int = Field(0, ge=0, le=MAX_OFFSET)


class PageOf(Sequence[Any]):
    """A queryset whose rows are converted only when the paginator takes its page.

    A paginated list endpoint returns ``PageOf(qs, to_out)`` rather than ``[to_out(x) for x in qs]``: the
    list comprehension reads and converts every row of the table (100,000 incident reports for a page of
    50); this counts with ``COUNT(*)`` and reads only the rows of the page.

    ``convert_page`` (instead of ``convert``) converts the page's rows together, for a converter that
    fetches what the rows share in one query (``convert_page(list_of_rows) -> list_of_outputs``).
    """

    def __init__(self, queryset: Any, convert: Any = None, *, convert_page: Any = None):
        if (convert is None) == (convert_page is None):
            raise TypeError("PageOf needs exactly one of convert and convert_page")
        self.queryset = queryset
        self.convert = convert if convert is not None else (lambda row: convert_page([row])[0])
        self.convert_page = convert_page or (lambda rows: [self.convert(row) for row in rows])

    def __len__(self) -> int:
        return int(self.queryset.count())

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return list(self.convert_page(list(self.queryset[index])))
        return self.convert(self.queryset[index])


# --------------------------------------------------------------------------------------------------
# OpenAPI links: what a create operation returns feeds the operations on the created object
# --------------------------------------------------------------------------------------------------

_HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def _resolve(schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    ref = body.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        return schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
    return body


def _id_pointer(schema: dict[str, Any], response: dict[str, Any]) -> str | None:
    """Where the created object's id is in the response: ``/id``, or ``/0/id`` for a list of them."""
    body = _resolve(schema, response.get("content", {}).get("application/json", {}).get("schema", {}))
    if "id" in body.get("properties", {}):
        return "$response.body#/id"
    if body.get("type") == "array" and "id" in _resolve(schema, body.get("items", {})).get("properties", {}):
        return "$response.body#/0/id"
    return None


def openapi_links(schema: dict[str, Any]) -> int:
    """Add OpenAPI ``links`` from each create operation to the operations on what it created; return
    how many were added.

    A create is a ``POST`` to a collection path whose 201 response has an ``id``; the operations on the
    created object are those under ``<collection>/{param}`` in the same app, where the collection is the
    same last path segment: ``POST /outputs/standards`` feeds ``GET|PATCH /outputs/standards/{standard_id}``
    and its transitions; ``POST /sharing/resources/{resource_id}/bookings`` (a list: the first booking's
    id) feeds ``/sharing/bookings/{booking_id}/...``. Clients (and schemathesis's stateful tests) follow
    them.

    >>> s = {"paths": {
    ...     "/api/x/items": {"post": {"operationId": "create", "responses": {"201": {"content": {
    ...         "application/json": {"schema": {"properties": {"id": {"type": "integer"}}}}}}}}},
    ...     "/api/x/items/{item_id}": {"get": {"operationId": "get_item", "responses": {}}},
    ...     "/api/y/items/{item_id}": {"get": {"operationId": "other_app", "responses": {}}}}}
    >>> openapi_links(s), s["paths"]["/api/x/items"]["post"]["responses"]["201"]["links"]
    (1, {'get_item': {'operationId': 'get_item', 'parameters': {'item_id': '$response.body#/id'}}})
    """
    paths: dict[str, dict[str, Any]] = schema.get("paths", {})
    added = 0
    for path, methods in paths.items():
        create = methods.get("post")
        if create is None or path.endswith("}"):
            continue
        created = create.get("responses", {}).get("201") or create.get("responses", {}).get(201)
        pointer = _id_pointer(schema, created) if created else None
        if created is None or pointer is None:
            continue
        parts = path.strip("/").split("/")
        app, collection = "/" + "/".join(parts[:2]), parts[-1]
        for other, other_methods in paths.items():
            rest = other[len(app) :].strip("/").split("/") if other.startswith(app + "/") else []
            for i in range(len(rest) - 1):
                if rest[i] == collection and rest[i + 1].startswith("{"):
                    param = rest[i + 1].strip("{}")
                    if any(seg.startswith("{") for seg in rest[:i]):
                        break  # nested under another object's id: not reachable from this response alone
                    for method in _HTTP_METHODS:
                        op = other_methods.get(method)
                        if op is None or "operationId" not in op:
                            continue
                        links = created.setdefault("links", {})
                        links[op["operationId"]] = {
                            "operationId": op["operationId"],
                            "parameters": {param: pointer},
                        }
                        added += 1
                    break
    return added


def honest_path_parameters(schema: dict[str, Any]) -> int:
    """State in the schema what the URL patterns accept in a text path parameter: at least one character
    and no ``/`` (Django's path segments). Without it a client (or schemathesis) may send ``""`` and
    reach no operation at all. Returns how many parameters were constrained.

    >>> s = {"paths": {"/api/x/{item_id}/transitions/{transition}": {"post": {"parameters": [
    ...     {"in": "path", "name": "item_id", "schema": {"type": "integer"}},
    ...     {"in": "path", "name": "transition", "schema": {"type": "string"}}]}}}}
    >>> honest_path_parameters(s), s["paths"]["/api/x/{item_id}/transitions/{transition}"]["post"][
    ...     "parameters"][1]["schema"]
    (1, {'type': 'string', 'minLength': 1, 'pattern': '^[^/]+$'})
    """
    added = 0
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                param_schema = parameter.get("schema", {})
                if parameter.get("in") != "path" or param_schema.get("type") != "string":
                    continue
                if "enum" in param_schema or "format" in param_schema:
                    continue
                param_schema.setdefault("minLength", 1)
                param_schema.setdefault("pattern", "^[^/]+$")
                added += 1
    return added


class LinkedNinjaAPI(NinjaAPI):
    """django-ninja's API whose OpenAPI schema carries the links of :func:`openapi_links` and honest
    path parameters (:func:`honest_path_parameters`), and whose unknown addresses answer JSON."""

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        openapi_links(schema)
        honest_path_parameters(schema)
        return schema

    def _get_urls(self) -> list[Any]:
        """After every operation, one pattern that takes any other address under the API (an empty path
        segment such as ``/api/sharing/requests//transitions/accept``, a mistyped name) and answers the
        API's JSON 404 rather than the site's HTML page."""
        from django.urls import re_path
        from django.views.decorators.csrf import csrf_exempt

        @csrf_exempt
        def no_such_operation(request: HttpRequest, rest: str = "") -> Any:
            return self.create_response(
                request,
                {"detail": "No API operation at this address.", "code": "not_found", "errors": []},
                status=404,
            )

        return [*super()._get_urls(), re_path(r"^(?P<rest>.*)$", no_such_operation, name="no-such-operation")]


def _iso_date_only(value: Any) -> Any:
    """Refuse what pydantic would otherwise take for a date (``0`` is 1970-01-01 to it): the schema says
    ``format: date``, so only ``YYYY-MM-DD`` (or a date object) is a date."""
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("expected a date as YYYY-MM-DD")
    if isinstance(value, int | float):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: A query parameter or field that is a calendar date written ``YYYY-MM-DD`` and nothing else.
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]

# A calendar year as a query filter: bounded, so year -735 is a 422 and not a server error in date().
Year = Annotated[int, Field(ge=1, le=9999)]
