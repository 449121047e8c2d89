"""Accounts API: organisations and personal API tokens."""

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from qslab.accounts import services
from qslab.accounts.models import ApiToken, Organisation
from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, PageOf
from qslab.core.permissions import get_visible_or_404

router = Router(tags=["accounts"])


class OrganisationOut(Schema):
    id: int
    name_zh: str
    name_en: str
    uscc: str
    kind: str
    region_code: str


class OrganisationIn(Schema):
    name_zh: str = Field(..., min_length=1, max_length=200)
    name_en: str = Field(..., min_length=1, max_length=200)
    uscc: str = Field(..., min_length=18, max_length=18)
    kind: Organisation.Kind
    region_code: str = Field(..., pattern=r"^\d{6}$")


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created: dt.datetime
    expires_at: dt.datetime | None
    last_used: dt.datetime | None
    active: bool


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    expires_in_days: int = Field(90, ge=1, le=730)


class TokenCreatedOut(TokenOut):
    secret: str


def _org_out(o: Organisation) -> OrganisationOut:
    return OrganisationOut(
        id=o.id, name_zh=o.name_zh, name_en=o.name_en, uscc=o.uscc, kind=o.kind, region_code=o.region_code
    )


def _token_out(t: ApiToken) -> TokenOut:
    return TokenOut(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created=t.created,
        expires_at=t.expires_at,
        last_used=t.last_used,
        active=t.is_active,
    )


@router.get("/organisations", response=list[OrganisationOut], auth=PUBLIC, summary="Registered organisations")
@paginate(LimitOffsetPagination)
def organisations(request: HttpRequest, kind: Organisation.Kind | None = None, region: str | None = None):
    qs = Organisation.objects.visible_to(request.user)
    if kind:
        qs = qs.filter(kind=kind)
    if region:
        qs = qs.filter(region_code=region)
    return PageOf(qs.order_by("name_en", "pk"), _org_out)


@router.get("/organisations/{org_id}", response={200: OrganisationOut, 404: ErrorOut}, auth=PUBLIC)
def organisation(request: HttpRequest, org_id: int):
    return _org_out(get_visible_or_404(Organisation, request.user, pk=org_id))


@router.post(
    "/organisations",
    response={201: OrganisationOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Register an organisation (committee office)",
)
def create_organisation(request: HttpRequest, payload: OrganisationIn):
    return Status(201, _org_out(services.create_organisation(request.user, payload.dict())))


@router.get("/tokens", response=list[TokenOut], summary="My API tokens")
@paginate(LimitOffsetPagination)
def tokens(request: HttpRequest):
    return PageOf(ApiToken.objects.visible_to(request.user).order_by("-created", "-pk"), _token_out)


@router.post(
    "/tokens",
    response={201: TokenCreatedOut, 401: ErrorOut, 422: ErrorOut},
    summary="Create a token; the secret is shown only in this response",
)
def create_token(request: HttpRequest, payload: TokenIn):
    token, secret = services.issue_api_token(request.user, payload.name, payload.expires_in_days)
    return Status(201, TokenCreatedOut(**_token_out(token).dict(), secret=secret))


@router.post("/tokens/{token_id}/revoke", response={200: TokenOut, 401: ErrorOut, 404: ErrorOut})
def revoke_token(request: HttpRequest, token_id: int):
    return _token_out(services.revoke_api_token(request.user, token_id))
