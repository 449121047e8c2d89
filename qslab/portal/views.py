"""The public site: home, notices, documents, search; and the office's notice desk."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.models import OfficialDocument
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.portal import services
from qslab.portal.forms import NoticeForm, TransitionForm
from qslab.portal.models import Notice


def home(request: HttpRequest) -> HttpResponse:
    notices = Notice.objects.visible_to(None).filter(status=Notice.Status.PUBLISHED)[:6]
    documents = OfficialDocument.objects.visible_to(None).select_related("kind")[:6]
    return render(request, "portal/home.html", {"notices": notices, "documents": documents})


def notices(request: HttpRequest) -> HttpResponse:
    qs = Notice.objects.visible_to(request.user).select_related("document")  # the list shows its number
    status = request.GET.get("status")
    if status in Notice.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "portal/notices.html",
        {"page": page, "can_draft": has_role(request.user, Role.OFFICE), "statuses": Notice.Status.choices},
    )


def documents(request: HttpRequest) -> HttpResponse:
    qs = OfficialDocument.objects.visible_to(request.user).select_related("kind")
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(request, "portal/documents.html", {"page": page})


def notice(request: HttpRequest, notice_id: int) -> HttpResponse:
    item = get_visible_or_404(Notice, request.user, pk=notice_id)
    actions = Notice.workflow.available(item, request.user) if request.user.is_authenticated else []
    history = (
        history_of(item)
        if has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)
        else []
    )
    return render(
        request,
        "portal/notice.html",
        {
            "notice": item,
            "actions": actions,
            "history": history,
            "form": TransitionForm(),
            "can_edit": Notice.objects.editable_by(request.user).filter(pk=item.pk).exists(),
        },
    )


@login_required
def notice_create(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office drafts notices."))
    form = NoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        item = services.draft_notice(request.user, form.cleaned_data)
        messages.success(request, _("Draft saved."))
        return redirect(item)
    return render(request, "portal/notice_form.html", {"form": form})


@login_required
def notice_edit(request: HttpRequest, notice_id: int) -> HttpResponse:
    item = get_editable_or_403(Notice, request.user, pk=notice_id)
    form = NoticeForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        services.edit_notice(request.user, item, form.cleaned_data)
        messages.success(request, _("Draft saved."))
        return redirect(item)
    return render(request, "portal/notice_form.html", {"form": form, "notice": item})


@login_required
@require_POST
def notice_transition(request: HttpRequest, notice_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Notice, request.user, pk=notice_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_notice(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    results = services.search_public(request.user, query)
    return render(request, "portal/search.html", {"q": query, **results})
