"""Platform API: who am I, inbox, deadlines, official documents, audit log, task status, calendar."""

import datetime as dt
import re
from typing import Annotated

from django.http import FileResponse, HttpRequest
from django.utils import timezone
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import BeforeValidator

from qslab.accounts.roles import roles_of
from qslab.core import calendar
from qslab.core.apitools import ErrorOut, LimitOffsetPagination, PageOf, require_office
from qslab.core.models import (
    ChangeRecord,
    Deadline,
    DocumentKind,
    Notification,
    OfficialDocument,
    TaskProgress,
)
from qslab.core.permissions import get_visible_or_404

router = Router(tags=["platform"])


def _iso_date_only(value: object) -> object:
    """Accept dates only as ISO text (pydantic would also read numbers as Unix times)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("expected a date as YYYY-MM-DD")
    if isinstance(value, (int, float)):
        raise ValueError("expected a date as YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_only)]


class MeOut(Schema):
    username: str
    display_name: str
    roles: list[str]
    organisation: str | None
    preferred_language: str


class NotificationOut(Schema):
    id: int
    time: dt.datetime
    verb: str
    text: str
    link: str
    read: bool


class DeadlineOut(Schema):
    id: int
    label: str
    due: dt.date
    overdue: bool
    done: bool


class DocumentOut(Schema):
    id: int
    number: str
    kind: str
    title_zh: str
    title_en: str
    issued_at: dt.datetime
    is_public: bool
    sha256_zh: str
    sha256_en: str


class ChangeOut(Schema):
    id: int
    time: dt.datetime
    user: str
    request_id: str
    action: str
    object_type: str
    object_id: str
    object: str
    transition: str
    from_state: str
    to_state: str
    reason: str
    before: dict | None
    after: dict | None


class ChangeFilter(FilterSchema):
    user: Annotated[str | None, FilterLookup("user_name")] = None
    action: Annotated[str | None, FilterLookup("action")] = None
    object_type: Annotated[str | None, FilterLookup("content_type__model")] = None
    object_id: Annotated[str | None, FilterLookup("object_id")] = None
    request_id: Annotated[str | None, FilterLookup("request_id")] = None
    since: Annotated[IsoDate | None, FilterLookup("time__date__gte")] = None
    until: Annotated[IsoDate | None, FilterLookup("time__date__lte")] = None


class TaskOut(Schema):
    task_id: str
    label: str
    status: str
    done: int
    total: int
    percent: int
    message: str


class WorkingDayOut(Schema):
    start: dt.date
    days: int
    due: dt.date


@router.get("/me", response={200: MeOut, 401: ErrorOut}, summary="The authenticated user and their roles")
def me(request: HttpRequest) -> MeOut:
    user = request.user
    return MeOut(
        username=user.get_username(),
        display_name=str(user),
        roles=sorted(roles_of(user)),
        organisation=str(user.organisation) if user.organisation_id else None,
        preferred_language=user.preferred_language,
    )


@router.get("/notifications", response=list[NotificationOut], summary="My inbox, newest first")
@paginate(LimitOffsetPagination)
def notifications(request: HttpRequest, unread: bool = False) -> PageOf:
    qs = Notification.objects.visible_to(request.user)
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return PageOf(
        qs.order_by("-time", "-id"),
        lambda n: NotificationOut(
            id=n.id, time=n.time, verb=n.verb, text=n.text, link=n.link, read=n.read_at is not None
        ),
    )


@router.post(
    "/notifications/{notification_id}/read",
    response={200: NotificationOut, 404: ErrorOut, 401: ErrorOut},
    summary="Mark one notification read",
)
def mark_read(request: HttpRequest, notification_id: int) -> NotificationOut:
    from qslab.core.services import mark_notification_read

    n = mark_notification_read(request.user, notification_id)
    return NotificationOut(id=n.id, time=n.time, verb=n.verb, text=n.text, link=n.link, read=True)


@router.get("/deadlines", response=list[DeadlineOut], summary="What waits for me, overdue first")
@paginate(LimitOffsetPagination)
def deadlines(request: HttpRequest, include_done: bool = False) -> PageOf:
    qs = Deadline.objects.visible_to(request.user)
    if not include_done:
        qs = qs.filter(done_at__isnull=True)
    return PageOf(
        qs.order_by("due", "id"),
        lambda d: DeadlineOut(
            id=d.id, label=d.label, due=d.due, overdue=d.is_overdue, done=d.done_at is not None
        ),
    )


def _document_out(d: OfficialDocument) -> DocumentOut:
    return DocumentOut(
        id=d.id,
        number=d.number,
        kind=d.kind.code,
        title_zh=d.title_zh,
        title_en=d.title_en,
        issued_at=d.issued_at,
        is_public=d.is_public,
        sha256_zh=d.sha256_zh,
        sha256_en=d.sha256_en,
    )


@router.get("/documents", response=list[DocumentOut], summary="Official documents I may see")
@paginate(LimitOffsetPagination)
def documents(request: HttpRequest, kind: str | None = None, year: int | None = None) -> PageOf:
    qs = OfficialDocument.objects.visible_to(request.user).select_related("kind")
    if kind:
        qs = qs.filter(kind__code=kind)
    if year:
        qs = qs.filter(year=year)
    return PageOf(qs.order_by("-issued_at", "-id"), _document_out)


@router.get("/documents/{document_id}", response={200: DocumentOut, 404: ErrorOut, 401: ErrorOut})
def document(request: HttpRequest, document_id: int) -> DocumentOut:
    return _document_out(
        get_visible_or_404(OfficialDocument.objects.select_related("kind"), request.user, pk=document_id)
    )


class DocumentPublishIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, description="why the office publishes it")


@router.post(
    "/documents/{document_id}/publish",
    response={200: DocumentOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Publish an issued, non-public document on the portal (committee office, with a reason)",
)
def document_publish(request: HttpRequest, document_id: int, payload: DocumentPublishIn) -> DocumentOut:
    from qslab.core.documents import publish_document

    doc = get_visible_or_404(OfficialDocument.objects.select_related("kind"), request.user, pk=document_id)
    return _document_out(publish_document(doc, request.user, payload.reason))


class DocumentKindOut(Schema):
    id: int
    code: str
    name_zh: str
    name_en: str
    prefix: str
    pattern: str
    public_by_default: bool


class DocumentKindPatch(Schema):
    name_zh: str | None = Field(None, max_length=120)
    name_en: str | None = Field(None, max_length=120)
    prefix: str | None = Field(None, max_length=40)
    pattern: str | None = Field(None, max_length=80)
    public_by_default: bool | None = None
    reason: str = Field("", max_length=2000, description="kept in the change log")


def _kind_out(k: DocumentKind) -> DocumentKindOut:
    return DocumentKindOut(
        id=k.pk,
        code=k.code,
        name_zh=k.name_zh,
        name_en=k.name_en,
        prefix=k.prefix,
        pattern=k.pattern,
        public_by_default=k.public_by_default,
    )


@router.get(
    "/document-kinds",
    response={200: list[DocumentKindOut], 401: ErrorOut, 403: ErrorOut},
    summary="Kinds of official documents, their number pattern and whether public when issued (office)",
)
@paginate(LimitOffsetPagination)
def document_kinds(request: HttpRequest) -> PageOf:
    require_office(request, "Only the committee office manages document kinds.")
    return PageOf(DocumentKind.objects.order_by("code"), _kind_out)


@router.patch(
    "/document-kinds/{kind_id}",
    response={200: DocumentKindOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Change a kind's names, number prefix and pattern, or whether its documents are public when "
    "issued (office; audited, with the reason)",
)
def update_document_kind(request: HttpRequest, kind_id: int, payload: DocumentKindPatch) -> DocumentKindOut:
    from django.shortcuts import get_object_or_404

    from qslab.core.documents import update_document_kind as update

    require_office(request, "Only the committee office manages document kinds.")
    kind = get_object_or_404(DocumentKind, pk=kind_id)
    changes = payload.dict(exclude_unset=True, exclude_none=True)
    reason = changes.pop("reason", "")
    return _kind_out(update(kind, request.user, reason=reason, **changes))


@router.get(
    "/documents/{document_id}/pdf",
    response={200: None, 404: ErrorOut, 401: ErrorOut},
    summary="The stored PDF (language en or zh-hans)",
    openapi_extra={"responses": {200: {"description": "PDF", "content": {"application/pdf": {}}}}},
)
def document_pdf(
    request: HttpRequest, document_id: int, lang: str = Query("zh-hans", pattern="^(en|zh-hans)$")
):
    doc = get_visible_or_404(OfficialDocument, request.user, pk=document_id)
    stored = doc.pdf_zh if lang == "zh-hans" else doc.pdf_en
    return FileResponse(
        stored.open("rb"), content_type="application/pdf", filename=f"{doc.year}-{doc.sequence}-{lang}.pdf"
    )


@router.get(
    "/audit",
    response={200: list[ChangeOut], 403: ErrorOut, 401: ErrorOut},
    summary="The change log (committee office only)",
)
@paginate(LimitOffsetPagination)
def audit(request: HttpRequest, filters: Query[ChangeFilter]) -> PageOf:
    require_office(request, "The change log is open to the committee office only.")
    qs = filters.filter(ChangeRecord.objects.visible_to(request.user).select_related("content_type"))
    return PageOf(
        qs.order_by("-time", "-id"),
        lambda c: ChangeOut(
            id=c.id,
            time=c.time,
            user=c.user_name,
            request_id=c.request_id,
            action=c.action,
            object_type=c.content_type.model,
            object_id=c.object_id,
            object=c.object_repr,
            transition=c.transition,
            from_state=c.from_state,
            to_state=c.to_state,
            reason=c.reason,
            before=c.before,
            after=c.after,
        ),
    )


@router.get(
    "/tasks/{task_id}", response={200: TaskOut, 404: ErrorOut, 401: ErrorOut}, summary="Progress of a task"
)
def task_status(request: HttpRequest, task_id: str) -> TaskOut:
    t = get_visible_or_404(TaskProgress, request.user, task_id=task_id)
    return TaskOut(
        task_id=t.task_id,
        label=t.label,
        status=t.status,
        done=t.done,
        total=t.total,
        percent=t.percent,
        message=t.message,
    )


@router.get("/calendar/due-date", response=WorkingDayOut, auth=None, summary="Add working days to a date")
def due_date(
    request: HttpRequest,
    days: int = Query(..., ge=0, le=3650),
    start: dt.date | None = None,
) -> WorkingDayOut:
    start = start or timezone.localdate()
    return WorkingDayOut(start=start, days=days, due=calendar.add_days(start, days, working=True))
