"""Portal API: public notices (read by anyone; drafted and moved by the office and committee)."""

import datetime as dt

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from qslab.core.apitools import PUBLIC, ErrorOut, LimitOffsetPagination, PageOf
from qslab.core.permissions import get_visible_or_404
from qslab.portal import services
from qslab.portal.models import Notice

router = Router(tags=["portal"])


class NoticeOut(Schema):
    id: int
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str
    status: str
    document_number: str | None
    created: dt.datetime


class NoticeIn(Schema):
    title_zh: str = Field(..., min_length=1, max_length=300)
    title_en: str = Field(..., min_length=1, max_length=300)
    body_zh: str = ""
    body_en: str = ""


class NoticeTransitionIn(Schema):
    reason: str = ""


def _out(n: Notice) -> NoticeOut:
    return NoticeOut(
        id=n.id,
        title_zh=n.title_zh,
        title_en=n.title_en,
        body_zh=n.body_zh,
        body_en=n.body_en,
        status=n.status,
        document_number=n.document.number if n.document_id else None,
        created=n.created,
    )


@router.get(
    "/notices", response=list[NoticeOut], auth=PUBLIC, summary="Notices I may see (public: published)"
)
@paginate(LimitOffsetPagination)
def notices(request: HttpRequest, status: Notice.Status | None = None):
    qs = Notice.objects.visible_to(request.user).select_related("document")
    if status:
        qs = qs.filter(status=status)
    return PageOf(qs.order_by("-created", "-pk"), _out)


@router.get("/notices/{notice_id}", response={200: NoticeOut, 404: ErrorOut, 401: ErrorOut}, auth=PUBLIC)
def notice(request: HttpRequest, notice_id: int):
    return _out(get_visible_or_404(Notice.objects.select_related("document"), request.user, pk=notice_id))


@router.post(
    "/notices",
    response={201: NoticeOut, 401: ErrorOut, 403: ErrorOut, 422: ErrorOut},
    summary="Draft a notice (committee office)",
)
def create_notice(request: HttpRequest, payload: NoticeIn):
    return Status(201, _out(services.draft_notice(request.user, payload.dict())))


@router.post(
    "/notices/{notice_id}/transitions/{transition}",
    response={200: NoticeOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Take a workflow action: submit, return, publish, withdraw",
)
def move_notice(request: HttpRequest, notice_id: int, transition: str, payload: NoticeTransitionIn):
    item = get_visible_or_404(Notice, request.user, pk=notice_id)
    return _out(services.move_notice(request.user, item, transition, payload.reason))
