"""Pages every role shares: the dashboard of one's queue, the inbox, documents, audit log, tasks."""

from __future__ import annotations

import csv
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role, roles_of
from qslab.core import services
from qslab.core.dashboard import overdue_overview, queue_for
from qslab.core.models import ChangeRecord, Notification, OfficialDocument, TaskProgress
from qslab.core.permissions import get_visible_or_404


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    queue = queue_for(request.user)
    return render(
        request,
        "core/dashboard.html",
        {
            "queue": queue,
            "overdue_elsewhere": overdue_overview(request.user),
            "today": today,
            "roles": sorted(roles_of(request.user)),
            "recent_notifications": Notification.objects.visible_to(request.user)[:5],
            "tasks": TaskProgress.objects.visible_to(request.user)[:5],
        },
    )


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    page = Paginator(Notification.objects.visible_to(request.user), 25).get_page(request.GET.get("page"))
    return render(request, "core/inbox.html", {"page": page})


@login_required
@require_POST
def inbox_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    note = services.mark_notification_read(request.user, notification_id)
    if note.link and url_has_allowed_host_and_scheme(note.link, allowed_hosts={request.get_host()}):
        return redirect(note.link)
    return redirect("core:inbox")


@login_required
@require_POST
def inbox_read_all(request: HttpRequest) -> HttpResponse:
    services.mark_all_notifications_read(request.user)
    return redirect("core:inbox")


def document(request: HttpRequest, document_id: int) -> HttpResponse:
    doc = get_visible_or_404(OfficialDocument.objects.select_related("kind"), request.user, pk=document_id)
    can_publish = not doc.is_public and has_role(request.user, Role.OFFICE)
    return render(request, "core/document.html", {"doc": doc, "can_publish": can_publish})


@login_required
@require_POST
def document_publish(request: HttpRequest, document_id: int) -> HttpResponse:
    from django.core.exceptions import ValidationError

    from qslab.core.documents import publish_document

    doc = get_visible_or_404(OfficialDocument, request.user, pk=document_id)
    try:
        publish_document(doc, request.user, request.POST.get("reason", ""))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(
            request, _("Document %(number)s is now public on the portal.") % {"number": doc.number}
        )
    return redirect("core:document", document_id=doc.pk)


def _require_office(request: HttpRequest, what: str) -> None:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(what)


@login_required
def document_kinds(request: HttpRequest) -> HttpResponse:
    """The kinds of official documents: number pattern, and whether they are public when issued (office)."""
    from qslab.core.models import DocumentKind

    _require_office(request, _("Only the committee office manages document kinds."))
    return render(request, "core/document_kinds.html", {"kinds": DocumentKind.objects.order_by("code")})


@login_required
def document_kind_edit(request: HttpRequest, kind_id: int) -> HttpResponse:
    """Edit a kind's names, number prefix and pattern, and whether its documents go on the portal when
    issued (office; audited)."""
    from django.core.exceptions import ValidationError
    from django.shortcuts import get_object_or_404

    from qslab.core.documents import update_document_kind
    from qslab.core.models import DocumentKind

    _require_office(request, _("Only the committee office manages document kinds."))
    kind = get_object_or_404(DocumentKind, pk=kind_id)
    if request.method == "POST":
        try:
            update_document_kind(
                kind,
                request.user,
                reason=request.POST.get("reason", ""),
                name_zh=request.POST.get("name_zh", ""),
                name_en=request.POST.get("name_en", ""),
                prefix=request.POST.get("prefix", ""),
                pattern=request.POST.get("pattern", ""),
                public_by_default=request.POST.get("public_by_default") == "on",
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("Document kind %(code)s saved.") % {"code": kind.code})
            return redirect("core:document_kinds")
    values = request.POST or {
        "name_zh": kind.name_zh,
        "name_en": kind.name_en,
        "prefix": kind.prefix,
        "pattern": kind.pattern,
        "public_by_default": kind.public_by_default,
    }
    return render(
        request,
        "core/document_kind_form.html",
        {"kind": kind, "values": values, "history": services.history_of(kind)},
    )


def document_pdf(request: HttpRequest, document_id: int, language: str) -> HttpResponse:
    doc = get_visible_or_404(OfficialDocument, request.user, pk=document_id)
    if language not in ("en", "zh-hans"):
        raise Http404(_("No such language."))
    stored = doc.pdf_zh if language == "zh-hans" else doc.pdf_en
    filename = f"{doc.kind.code}-{doc.year}-{doc.sequence:04d}-{language}.pdf"
    return FileResponse(
        stored.open("rb"), content_type="application/pdf", as_attachment=True, filename=filename
    )


def _audit_queryset(request: HttpRequest):  # type: ignore[no-untyped-def]
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("The change log is open to the committee office only."))
    qs = ChangeRecord.objects.visible_to(request.user).select_related("content_type")
    params = request.GET
    if params.get("user"):
        qs = qs.filter(user_name__icontains=params["user"])
    if params.get("action"):
        qs = qs.filter(action=params["action"])
    if params.get("object_type"):
        qs = qs.filter(content_type__model=params["object_type"])
    if params.get("object_id"):
        qs = qs.filter(object_id=params["object_id"])
    if params.get("q"):
        qs = qs.filter(object_repr__icontains=params["q"])
    for key, lookup in (("since", "time__date__gte"), ("until", "time__date__lte")):
        if params.get(key):
            try:
                qs = qs.filter(**{lookup: dt.date.fromisoformat(params[key])})
            except ValueError:
                messages.error(request, _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": params[key]})
    return qs


@login_required
def audit(request: HttpRequest) -> HttpResponse:
    qs = _audit_queryset(request)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    object_types = ContentType.objects.filter(
        pk__in=ChangeRecord.objects.values_list("content_type", flat=True).distinct()
    ).order_by("model")
    return render(
        request,
        "core/audit.html",
        {
            "page": page,
            "actions": ChangeRecord.Action.choices,
            "object_types": object_types,
            "params": request.GET,
        },
    )


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    qs = _audit_queryset(request)
    writer = csv.writer(_Echo())
    header = [
        "time",
        "user",
        "request_id",
        "action",
        "object_type",
        "object_id",
        "object",
        "transition",
        "from",
        "to",
        "reason",
        "changed_fields",
    ]

    def rows():  # type: ignore[no-untyped-def]
        yield "\ufeff" + writer.writerow(header)  # BOM so spreadsheet programs read UTF-8 Chinese
        for c in qs.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    c.time.isoformat(),
                    c.user_name,
                    c.request_id,
                    c.action,
                    c.content_type.model,
                    c.object_id,
                    c.object_repr,
                    c.transition,
                    c.from_state,
                    c.to_state,
                    c.reason,
                    " ".join(c.changed_fields),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="qslab-audit.csv"'
    return response


@login_required
def task_status(request: HttpRequest, task_id: str) -> HttpResponse:
    task = get_visible_or_404(TaskProgress, request.user, task_id=task_id)
    template = "core/_task_status.html" if request.htmx else "core/task.html"  # type: ignore[attr-defined]
    return render(request, template, {"task": task})


@login_required
def tasks(request: HttpRequest) -> HttpResponse:
    return render(request, "core/tasks.html", {"tasks": TaskProgress.objects.visible_to(request.user)[:50]})


def _target(request: HttpRequest, content_type_id: int, object_id: str):  # type: ignore[no-untyped-def]
    """The object behind a generic link, if the user may see it (404 otherwise)."""
    try:
        model = ContentType.objects.get_for_id(content_type_id).model_class()
    except ContentType.DoesNotExist as exc:
        raise Http404(_("Not found.")) from exc
    if model is None or not hasattr(model.objects, "visible_to"):
        raise Http404(_("Not found."))
    return get_visible_or_404(model, request.user, pk=object_id)


def _back(request: HttpRequest, obj) -> HttpResponse:  # type: ignore[no-untyped-def]
    url = obj.get_absolute_url() if hasattr(obj, "get_absolute_url") else ""
    return redirect(url or "core:dashboard")


@login_required
@require_POST
def journal_add(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
    obj = _target(request, content_type_id, object_id)
    try:
        services.write_journal_as(
            request.user, obj, request.POST.get("text", ""), request.POST.get("kind", "info")
        )
    except ValueError as exc:
        messages.error(request, str(exc))
    return _back(request, obj)


@login_required
@require_POST
def watch_toggle(request: HttpRequest, content_type_id: int, object_id: str) -> HttpResponse:
    obj = _target(request, content_type_id, object_id)
    if services.is_watching(obj, request.user):
        services.unwatch(obj, request.user)
        messages.success(request, _("You no longer follow this record."))
    else:
        services.watch(obj, request.user)
        messages.success(request, _("You will be told of changes to this record."))
    return _back(request, obj)


@login_required
@require_POST
def run_reminders(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office runs the reminder job by hand."))
    from qslab.core.tasks import send_reminders_task

    result = send_reminders_task.enqueue(owner_id=request.user.pk)
    return redirect("core:task", task_id=str(result.id))
