"""Pages of the outputs app: lists, records with their lifecycle or verification, evidence, import,
figures with the chart, and each laboratory's public achievements."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.models import Attachment
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.uploads import download_response
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import Laboratory
from qslab.outputs import charts, imports, services
from qslab.outputs.forms import (
    EvidenceForm,
    ImportForm,
    OutputForm,
    StaffForm,
    StandardForm,
    TransitionForm,
)
from qslab.outputs.models import Output, OutputKind, StaffMember, Standard, StandardClaim, StandardLevel


def _attachments(obj: Any) -> Any:
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(obj)
    return Attachment.objects.filter(content_type=ct, object_id=str(obj.pk))


def _can_see_history(user: Any, obj: Any) -> bool:
    return (
        has_role(user, Role.OFFICE)
        or has_role(user, Role.COMMITTEE)
        or has_role(user, Role.LAB_MANAGER, scope=obj.laboratory)
    )


def index(request: HttpRequest) -> HttpResponse:
    standards = Standard.objects.visible_to(request.user).select_related("laboratory")
    outputs = Output.objects.visible_to(request.user).select_related("laboratory")
    lab = request.GET.get("lab", "")
    if lab:
        standards = standards.filter(laboratory__code=lab)
        outputs = outputs.filter(laboratory__code=lab)
    kind = request.GET.get("kind", "")
    if kind in OutputKind.values:
        outputs = outputs.filter(kind=kind)
    status = request.GET.get("status", "")
    if status in ("claimed", "verified", "rejected"):
        outputs = outputs.filter(status=status)
    return render(
        request,
        "outputs/index.html",
        {
            "standards": Paginator(standards, 50).get_page(request.GET.get("spage")),
            "outputs": Paginator(outputs, 50).get_page(request.GET.get("page")),
            "kinds": OutputKind.choices,
            "lab": lab,
            "kind": kind,
            "status": status,
            "can_record": services.labs_for(request.user).exists(),
        },
    )


# --------------------------------------------------------------------------------------------------
# Standards
# --------------------------------------------------------------------------------------------------


def number_check(request: HttpRequest) -> HttpResponse:
    """The standard number as parsed, or what is wrong with it (an htmx fragment for the form)."""
    from django.utils.html import format_html

    from qslab.outputs.identifiers import IdentifierError, parse_standard_number

    text = request.GET.get("number", "")[:80]
    if not text.strip():
        return HttpResponse("")
    try:
        n = parse_standard_number(text)
    except IdentifierError as exc:
        return HttpResponse(format_html('<span class="error">{}</span>', str(exc)))
    return HttpResponse(
        format_html(
            '<span class="ok">{}: {} · {} · {}</span>',
            n.text,
            StandardLevel(n.level).label,
            n.nature,
            n.year,
        )
    )


def standard(request: HttpRequest, standard_id: int) -> HttpResponse:
    item = get_visible_or_404(Standard.objects.select_related("laboratory"), request.user, pk=standard_id)
    editable = Standard.objects.editable_by(request.user).filter(pk=item.pk).exists()
    return render(
        request,
        "outputs/standard.html",
        {
            "item": item,
            "actions": Standard.workflow.available(item, request.user)
            if request.user.is_authenticated
            else [],
            "verification_actions": [
                t for t in StandardClaim.workflow.available(item, request.user) if t.name != "amend"
            ]
            if request.user.is_authenticated
            else [],
            "form": TransitionForm(),
            "evidence_form": EvidenceForm() if editable else None,
            "can_edit": editable,
            "history": history_of(item) if _can_see_history(request.user, item) else [],
            "attachments": _attachments(item),
            "dates": [
                (Standard.workflow.state(stage).label, getattr(item, field))
                for stage, field in services.STAGE_DATES.items()
                if getattr(item, field)
            ],
        },
    )


@login_required
def standard_create(request: HttpRequest) -> HttpResponse:
    labs = services.labs_for(request.user)
    if not labs.exists():
        raise PermissionDenied(_("Only the office and laboratory managers record standards."))
    form = StandardForm(request.POST or None, labs=labs, initial={"role": "lead"})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        lab = data.pop("laboratory")
        try:
            item = services.record_standard(request.user, lab, data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Standard recorded."))
            return redirect(item)
    return render(request, "outputs/form.html", {"form": form, "title": _("Record a standard")})


@login_required
def standard_edit(request: HttpRequest, standard_id: int) -> HttpResponse:
    item = get_editable_or_403(Standard, request.user, pk=standard_id)
    form = StandardForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_standard(request.user, item, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(item)
    return render(request, "outputs/form.html", {"form": form, "title": item, "back": item})


@login_required
@require_POST
def standard_transition(request: HttpRequest, standard_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Standard, request.user, pk=standard_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_standard(
            request.user,
            item,
            transition,
            form.cleaned_data.get("reason", ""),
            on=form.cleaned_data.get("on"),
        )
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
@require_POST
def standard_verification(request: HttpRequest, standard_id: int, transition: str) -> HttpResponse:
    """The office verifies or rejects a laboratory's claim of a standard; the lab claims it again."""
    item = get_visible_or_404(Standard, request.user, pk=standard_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.verify_standard(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
@require_POST
def standard_evidence(request: HttpRequest, standard_id: int) -> HttpResponse:
    item = get_editable_or_403(Standard, request.user, pk=standard_id)
    return _evidence(request, item)


def _evidence(request: HttpRequest, item: Any) -> HttpResponse:
    form = EvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        services.add_evidence(request.user, item, form.cleaned_data["file"])
        messages.success(request, _("Evidence attached."))
    else:
        # The file's own problem (wrong type, too large, empty) or, with no file at all, what to do.
        messages.error(request, " ".join(form.errors.get("file", [])) or _("Choose a file to attach."))
    return redirect(item)


def standard_evidence_file(request: HttpRequest, standard_id: int, attachment_id: int) -> HttpResponse:
    """An evidence file of a standard, to whoever may see the standard (never a bare /media/ link)."""
    item = get_visible_or_404(Standard, request.user, pk=standard_id)
    return _evidence_file(item, attachment_id)


def output_evidence_file(request: HttpRequest, output_id: int, attachment_id: int) -> HttpResponse:
    """An evidence file of an output, to whoever may see the output."""
    item = get_visible_or_404(Output, request.user, pk=output_id)
    return _evidence_file(item, attachment_id)


def _evidence_file(item: Any, attachment_id: int) -> HttpResponse:
    attachment = _attachments(item).filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404(_("Not found."))
    return download_response(attachment.file, attachment.name)


# --------------------------------------------------------------------------------------------------
# Other outputs
# --------------------------------------------------------------------------------------------------


def output(request: HttpRequest, output_id: int) -> HttpResponse:
    item = get_visible_or_404(Output.objects.select_related("laboratory"), request.user, pk=output_id)
    editable = Output.objects.editable_by(request.user).filter(pk=item.pk).exists()
    return render(
        request,
        "outputs/output.html",
        {
            "item": item,
            "actions": Output.workflow.available(item, request.user) if request.user.is_authenticated else [],
            "form": TransitionForm(),
            "evidence_form": EvidenceForm() if editable else None,
            "can_edit": editable,
            "history": history_of(item) if _can_see_history(request.user, item) else [],
            "attachments": _attachments(item),
        },
    )


@login_required
def output_create(request: HttpRequest) -> HttpResponse:
    labs = services.labs_for(request.user)
    if not labs.exists():
        raise PermissionDenied(_("Only the office and laboratory managers record outputs."))
    form = OutputForm(
        request.POST or None,
        labs=labs,
        initial={"year": timezone.localdate().year, "kind": request.GET.get("kind", "")},
    )
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        lab = data.pop("laboratory")
        try:
            item = services.record_output(request.user, lab, data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Output recorded; the office will verify it."))
            return redirect(item)
    return render(request, "outputs/form.html", {"form": form, "title": _("Record an output")})


@login_required
def output_edit(request: HttpRequest, output_id: int) -> HttpResponse:
    item = get_editable_or_403(Output, request.user, pk=output_id)
    form = OutputForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_output(request.user, item, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(item)
    return render(request, "outputs/form.html", {"form": form, "title": item, "back": item})


@login_required
@require_POST
def output_transition(request: HttpRequest, output_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Output, request.user, pk=output_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_output(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
@require_POST
def output_evidence(request: HttpRequest, output_id: int) -> HttpResponse:
    item = get_editable_or_403(Output, request.user, pk=output_id)
    return _evidence(request, item)


@login_required
def import_view(request: HttpRequest) -> HttpResponse:
    if not services.labs_for(request.user).exists():
        raise PermissionDenied(_("Only the office and laboratory managers import outputs."))
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[Any] = []
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = imports.import_outputs(
                request.user, upload.name, upload.read(), dry_run=form.cleaned_data["dry_run"]
            )
        except imports.ImportFailed as exc:
            errors = exc.errors
    return render(
        request,
        "outputs/import.html",
        {"form": form, "errors": errors, "result": result, "columns": (*imports.REQUIRED, *imports.OPTIONAL)},
    )


@login_required
def import_standards_view(request: HttpRequest) -> HttpResponse:
    """Bulk import of standards: each row recorded and taken through its lifecycle to its stage."""
    if not services.labs_for(request.user).exists():
        raise PermissionDenied(_("Only the office and laboratory managers import standards."))
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[Any] = []
    result = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = imports.import_standards(
                request.user, upload.name, upload.read(), dry_run=form.cleaned_data["dry_run"]
            )
        except imports.ImportFailed as exc:
            errors = exc.errors
    return render(
        request,
        "outputs/import_standards.html",
        {
            "form": form,
            "errors": errors,
            "result": result,
            "columns": (*imports.STANDARD_REQUIRED, *imports.STANDARD_OPTIONAL),
        },
    )


# --------------------------------------------------------------------------------------------------
# Staff register
# --------------------------------------------------------------------------------------------------


@login_required
def staff(request: HttpRequest, lab_id: int) -> HttpResponse:
    """A laboratory's staff register (current and former), with the form to add a person."""
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    if not services.may_read_figures(request.user, lab):
        raise Http404(_("Not found."))
    can_edit = services.may_record_for(request.user, lab)
    form = StaffForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied(_("You may keep the staff register only of your own laboratory."))
        if form.is_valid():
            try:
                services.add_staff(request.user, lab, form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Added to the staff register."))
                return redirect("outputs:staff", lab_id=lab.pk)
    members = StaffMember.objects.visible_to(request.user).filter(laboratory=lab)
    today = timezone.localdate()
    return render(
        request,
        "outputs/staff.html",
        {
            "lab": lab,
            "current": [m for m in members if m.on_staff(today)],
            "former": [m for m in members if not m.on_staff(today)],
            "form": form,
            "can_edit": can_edit,
        },
    )


@login_required
def staff_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    member = get_editable_or_403(StaffMember.objects.select_related("laboratory"), request.user, pk=member_id)
    form = StaffForm(request.POST or None, instance=member)
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_staff(request.user, member, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(member)
    return render(request, "outputs/form.html", {"form": form, "title": member, "back": member})


# --------------------------------------------------------------------------------------------------
# Figures and achievements
# --------------------------------------------------------------------------------------------------


def chart_labels() -> dict[str, str]:
    return {
        "standards_published": _("Standards published"),
        "patents_granted": _("Patents granted"),
        "patent_applications": _("Patent applications"),
        "papers": _("Papers"),
        "equipment_developed": _("Equipment developed"),
        "methods": _("Test and certification methods"),
        "trainees": _("Trainees"),
        "events": _("Academic events hosted"),
    }


@login_required
def figures(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    if not services.may_read_figures(request.user, lab):
        raise PermissionDenied(_("The figures of a laboratory are for its managers and the authorities."))
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    data = services.lab_figures(lab, year)
    labels = chart_labels()
    return render(
        request,
        "outputs/figures.html",
        {
            "lab": lab,
            "year": year,
            "years": range(timezone.localdate().year, timezone.localdate().year - 6, -1),
            "figures": data,
            "rows": [(labels[k], data[k]) for k in labels],
            "chart": mark_safe(charts.figures_chart(data, labels, title=f"{lab.code} {year}")),  # noqa: S308 - our own SVG
            "levels": [(k, v) for k, v in data["standards_by_stage_and_level"].items()],
            "stage_labels": {s.value: s.label for s in Standard.workflow.states},
            "level_choices": StandardLevel.choices,
        },
    )


def achievements(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    return render(
        request,
        "outputs/achievements.html",
        {
            "lab": lab,
            "standards": services.published_standards(lab),
            "outputs": Output.objects.filter(laboratory=lab, status="verified").order_by("-year", "kind"),
        },
    )
