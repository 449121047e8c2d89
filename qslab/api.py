"""The HTTP API: django-ninja at /api/, OpenAPI at /api/openapi.json, docs at /api/docs.

Every app mounts its router here. Authentication is a personal token (``Authorization: Bearer
qsl_...``) or the browser session; both go through the same permission path as the pages. Every error
has one shape: ``{"detail": ..., "code": ..., "errors": [...]}``.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from qslab.core.apitools import AUTH, LinkedNinjaAPI
from qslab.core.ratelimit import RateLimited
from qslab.core.workflow import TransitionRefused

api = LinkedNinjaAPI(
    title="qslab API",
    version="1",
    description=(
        "The platform of the national system of quality standards laboratories. Authenticate with a "
        "personal token (Authorization: Bearer qsl_...) created under Account → API tokens. "
        "Every list is paginated (limit, offset) and every error has the shape ErrorOut."
    ),
    auth=AUTH,
    urls_namespace="api",
)


def _error(
    request: HttpRequest, status: int, detail: str, code: str, errors: list[Any] | None = None
) -> HttpResponse:
    return api.create_response(
        request, {"detail": detail, "code": code, "errors": errors or []}, status=status
    )


@api.exception_handler(NinjaValidationError)
def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    return _error(request, 422, "The request is not valid.", "invalid", exc.errors)


@api.exception_handler(DjangoValidationError)
def _django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return _error(
        request,
        422,
        "The data is not valid.",
        "invalid",
        [{"field": k, "messages": v} for k, v in errors.items()],
    )


@api.exception_handler(OverflowError)
def _too_large(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    """An integer beyond the database's range (SQLite raises before any query): the client's mistake."""
    return _error(request, 422, "A number in the request is too large.", "invalid")


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Authentication required: send a valid API token.", "unauthenticated")


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _error(request, 403, str(exc) or "You may not do this.", "forbidden")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.", "not_found")


@api.exception_handler(TransitionRefused)
def _refused(request: HttpRequest, exc: TransitionRefused) -> HttpResponse:
    status = 403 if exc.code == TransitionRefused.FORBIDDEN else 409
    return _error(request, status, str(exc), exc.code)


@api.exception_handler(RateLimited)
def _rate_limited(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    """A public form submitted too often by one client (see qslab.core.ratelimit): nothing was saved."""
    response = _error(request, 429, str(exc), "rate_limited")
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc), "error")


def _mount() -> None:
    from qslab.accounts.api import router as accounts_router
    from qslab.core.api import router as core_router
    from qslab.designation.api import router as designation_router
    from qslab.funding.api import router as funding_router
    from qslab.labs.api import router as labs_router
    from qslab.outputs.api import router as outputs_router
    from qslab.portal.api import router as portal_router
    from qslab.recalls.api import router as recalls_router
    from qslab.risk.api import router as risk_router
    from qslab.sharing.api import router as sharing_router
    from qslab.studies.api import router as studies_router
    from qslab.supervision.api import router as supervision_router

    api.add_router("/platform/", core_router)
    api.add_router("/accounts/", accounts_router)
    api.add_router("/portal/", portal_router)
    api.add_router("/labs/", labs_router)
    api.add_router("/studies/", studies_router)
    api.add_router("/risk/", risk_router)
    api.add_router("/sharing/", sharing_router)
    api.add_router("/outputs/", outputs_router)
    api.add_router("/designation/", designation_router)
    api.add_router("/supervision/", supervision_router)
    api.add_router("/funding/", funding_router)
    api.add_router("/recalls/", recalls_router)


def _document_standard_errors() -> None:
    """Declare the shared error responses on every operation, so the schema says what clients get."""
    from qslab.core.apitools import ErrorOut

    for bound in api._get_bound_routers():
        for path_view in bound.path_operations.values():
            for operation in path_view.operations:
                for code in (400, 401, 403, 404, 409, 422):
                    if code not in operation.response_models:
                        operation.response_models[code] = operation._create_response_model(ErrorOut)


_mount()
_document_standard_errors()
