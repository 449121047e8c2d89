"""Pages of the labs app: the public directory and lab pages, the office's registry desk, taxonomies,
layout plans with their coverage, and bulk import."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.syndication.views import Feed
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import modelform_factory
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.forms import add_validation_error
from qslab.core.models import OfficialDocument
from qslab.core.pdf import render_pdf
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.labs import services
from qslab.labs.charts import coverage_map_svg
from qslab.labs.forms import (
    TERM_MODELS,
    CommitteeMemberForm,
    DirectoryFilterForm,
    FiguresForm,
    ImportForm,
    LaboratoryForm,
    PartnerForm,
    PlanForm,
    ProfileForm,
    TargetsForm,
    TransitionForm,
    term_form_class,
)
from qslab.labs.imports import ImportFailed, import_records, read_table
from qslab.labs.models import LIFECYCLE, CommitteeMember, KeyFigures, Laboratory, LayoutPlan, Partner
from qslab.labs.xlsx import write_xlsx

# ---- public directory -----------------------------------------------------------------------------


def _filtered(request: HttpRequest) -> tuple[DirectoryFilterForm, Any]:
    form = DirectoryFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    qs = services.search_directory(
        request.user,
        q=data.get("q", ""),
        field=data.get("field", ""),
        region=data.get("region", ""),
        status=data.get("status", ""),
    )
    return form, qs


def directory(request: HttpRequest) -> HttpResponse:
    form, qs = _filtered(request)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "count": page.paginator.count,  # counted once, for the paginator
        "query": query.urlencode(),
        "can_register": has_role(request.user, Role.OFFICE),
    }
    template = "labs/_directory_results.html" if request.headers.get("HX-Request") else "labs/directory.html"
    return render(request, template, context)


def export(request: HttpRequest) -> HttpResponse:
    _form, qs = _filtered(request)
    header, rows = services.directory_rows(qs)
    stamp = timezone.localdate().isoformat()
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(
            write_xlsx(header, rows, "laboratories"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="laboratories-{stamp}.xlsx"'
        return response
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse("\ufeff" + buf.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="laboratories-{stamp}.csv"'
    return response


class DirectoryFeed(Feed):
    """Atom feed of directory changes: laboratories entered and their lifecycle steps."""

    feed_type = Atom1Feed
    title = gettext_lazy("National quality standards laboratories: directory changes")
    subtitle = gettext_lazy("New laboratories and changes of status")

    def link(self) -> str:
        return reverse("labs:directory")

    def items(self) -> list[services.DirectoryEvent]:
        return services.directory_events(limit=50)

    def item_title(self, item: services.DirectoryEvent) -> str:
        return item.title

    def item_description(self, item: services.DirectoryEvent) -> str:
        return item.title

    def item_link(self, item: services.DirectoryEvent) -> str:
        return item.lab.get_absolute_url() + f"#event-{item.key}"

    def item_pubdate(self, item: services.DirectoryEvent) -> Any:
        return item.time

    def item_guid(self, item: services.DirectoryEvent) -> str:
        return f"qslab-labs-{item.key}"


def detail(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_visible_or_404(
        Laboratory.objects.select_related("supporting_institution", "merged_into"), request.user, pk=lab_id
    )
    editable = Laboratory.objects.editable_by(request.user).filter(pk=lab.pk).exists()
    office = has_role(request.user, Role.OFFICE)
    documents = (
        OfficialDocument.objects.visible_to(request.user)
        .filter(content_type__app_label="labs", content_type__model="laboratory", object_id=str(lab.pk))
        .select_related("kind")
    )
    return render(
        request,
        "labs/detail.html",
        {
            "lab": lab,
            "editable": editable,
            "office": office,
            "actions": services.available_actions(lab, request.user),
            "history": services.status_history(lab, with_reasons=office or editable),
            "documents": documents,
            "figures": lab.figures.all()[:5],
            "partners": lab.partners.select_related("organisation"),
            "committee": lab.committee.all(),
            "form": TransitionForm(),
            "changes": history_of(lab)[:20] if office else [],
        },
    )


@login_required
def lab_create(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office registers laboratories."))
    form = LaboratoryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            lab = services.register_laboratory(request.user, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Laboratory registered."))
            return redirect(lab)
    return render(request, "labs/lab_form.html", {"form": form})


@login_required
def lab_edit(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    base = LaboratoryForm if has_role(request.user, Role.OFFICE) else ProfileForm
    allowed = services.editable_fields(request.user, lab)
    fields = [f for f in base.Meta.fields if f in allowed]
    form_class = modelform_factory(Laboratory, form=base, fields=fields)
    form = form_class(request.POST or None, instance=lab)
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in fields}
        try:
            services.edit_laboratory(request.user, Laboratory.objects.get(pk=lab.pk), data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(lab)
    return render(
        request,
        "labs/lab_form.html",
        {"form": form, "lab": lab, "director_governed": lab.status in services.GOVERNED_STATES},
    )


@login_required
def lab_team(request: HttpRequest, lab_id: int) -> HttpResponse:
    """Partners and committee: add one, or remove one (POST ``action``)."""
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    partner_form = PartnerForm(prefix="p")
    member_form = CommitteeMemberForm(prefix="m")
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "add_partner":
                partner_form = PartnerForm(request.POST, prefix="p")
                if partner_form.is_valid():
                    services.add_partner(request.user, lab, **partner_form.cleaned_data)
                    messages.success(request, _("Partner added."))
                    return redirect("labs:team", lab_id=lab.pk)
            elif action == "add_member":
                member_form = CommitteeMemberForm(request.POST, prefix="m")
                if member_form.is_valid():
                    services.add_committee_member(request.user, lab, member_form.cleaned_data)
                    messages.success(request, _("Committee member added."))
                    return redirect("labs:team", lab_id=lab.pk)
            elif action == "remove_partner":
                partner = get_editable_or_403(
                    Partner, request.user, pk=request.POST.get("id"), laboratory=lab
                )
                services.remove_partner(request.user, partner)
                messages.success(request, _("Partner removed."))
                return redirect("labs:team", lab_id=lab.pk)
            elif action == "remove_member":
                member = get_editable_or_403(
                    CommitteeMember, request.user, pk=request.POST.get("id"), laboratory=lab
                )
                services.remove_committee_member(request.user, member)
                messages.success(request, _("Committee member removed."))
                return redirect("labs:team", lab_id=lab.pk)
            else:
                messages.error(request, _("Unknown action."))
        except ValidationError as exc:
            add_validation_error(partner_form if action == "add_partner" else member_form, exc)
    return render(
        request,
        "labs/team.html",
        {
            "lab": lab,
            "partner_form": partner_form,
            "member_form": member_form,
            "partners": lab.partners.select_related("organisation"),
            "committee": lab.committee.all(),
        },
    )


@login_required
def lab_figures(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_editable_or_403(Laboratory, request.user, pk=lab_id)
    year = request.GET.get("year") or request.POST.get("year") or str(timezone.localdate().year - 1)
    existing = KeyFigures.objects.filter(laboratory=lab, year=year).first() if year.isdigit() else None
    form = FiguresForm(request.POST or None, instance=existing, initial={"year": year})
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in services.FIGURE_FIELDS}
        try:
            services.report_key_figures(request.user, lab, form.cleaned_data["year"], data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Key figures saved."))
            return redirect(lab)
    return render(request, "labs/figures.html", {"lab": lab, "form": form, "figures": lab.figures.all()})


@login_required
@require_POST
def lab_transition(request: HttpRequest, lab_id: int, transition: str) -> HttpResponse:
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    reason = form.cleaned_data.get("reason", "")
    try:
        if transition == "merge" and form.cleaned_data.get("merged_into"):
            services.merge_laboratory(request.user, lab, form.cleaned_data["merged_into"], reason)
        else:
            services.move_laboratory(request.user, lab, transition, reason)
    except TransitionRefused as exc:
        if exc.code in (TransitionRefused.FORBIDDEN, TransitionRefused.UNKNOWN):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    except PermissionDenied:
        raise
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Done."))
    return redirect(lab)


@login_required
def jurisdiction(request: HttpRequest) -> HttpResponse:
    """A competent authority's laboratories (its region); the office and committee see all."""
    if not any(has_role(request.user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY)):
        raise PermissionDenied(_("This list is for competent authorities and the committee office."))
    qs = (
        Laboratory.objects.visible_to(request.user)
        .filter(Laboratory.jurisdiction_q(request.user))
        .select_related("supporting_institution")
    )
    counts = {s.value: 0 for s in LIFECYCLE.states}
    for status in qs.values_list("status", flat=True):
        counts[status] += 1
    return render(
        request,
        "labs/jurisdiction.html",
        {"labs": qs, "counts": [(LIFECYCLE.state(k), v) for k, v in counts.items()]},
    )


# ---- taxonomies -----------------------------------------------------------------------------------


def taxonomies(request: HttpRequest) -> HttpResponse:
    lists = {kind: model.objects.visible_to(request.user) for kind, (model, _fields) in TERM_MODELS.items()}
    return render(
        request,
        "labs/taxonomies.html",
        {"lists": lists, "office": has_role(request.user, Role.OFFICE)},
    )


def _term_kind(kind: str) -> Any:
    if kind not in TERM_MODELS:
        raise Http404(_("Not found."))
    return TERM_MODELS[kind][0]


@login_required
def term_create(request: HttpRequest, kind: str) -> HttpResponse:
    model = _term_kind(kind)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office edits the taxonomies."))
    form = term_form_class(kind)(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_term(request.user, model, None, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("labs:taxonomies")
    return render(request, "labs/term_form.html", {"form": form, "kind": kind})


@login_required
def term_edit(request: HttpRequest, kind: str, term_id: int) -> HttpResponse:
    model = _term_kind(kind)
    term = get_editable_or_403(model, request.user, pk=term_id)
    form = term_form_class(kind)(request.POST or None, instance=term)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_term(request.user, model, model.objects.get(pk=term.pk), form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("labs:taxonomies")
    return render(
        request,
        "labs/term_form.html",
        {"form": form, "kind": kind, "term": term, "versions": history_of(term)},
    )


# ---- layout plans ---------------------------------------------------------------------------------


@login_required
def plans(request: HttpRequest) -> HttpResponse:
    qs = LayoutPlan.objects.visible_to(request.user)
    if not any(has_role(request.user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY)):
        raise PermissionDenied(_("Layout plans are for the committee, its office and competent authorities."))
    return render(
        request, "labs/plans.html", {"plans": qs, "can_create": has_role(request.user, Role.OFFICE)}
    )


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office draws up layout plans."))
    form = PlanForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            plan = services.create_plan(request.user, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            return redirect("labs:plan_targets", plan_id=plan.pk)
    return render(request, "labs/plan_form.html", {"form": form})


def _language() -> str:
    return "zh-hans" if (get_language() or "en").startswith("zh") else "en"


@login_required
def plan(request: HttpRequest, plan_id: int) -> HttpResponse:
    item = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    coverage = services.plan_coverage(item)
    fields, regions, cells = coverage.matrix()
    rows = [(f, [cells.get((f.pk, r)) for r in regions]) for f in fields]
    return render(
        request,
        "labs/plan.html",
        {
            "plan": item,
            "coverage": coverage,
            "svg": coverage_map_svg(coverage.by_province(), _language()),
            "regions": regions,
            "rows": rows,
            "editable": LayoutPlan.objects.editable_by(request.user).filter(pk=item.pk).exists(),
        },
    )


@login_required
def plan_map(request: HttpRequest, plan_id: int) -> HttpResponse:
    item = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    svg = coverage_map_svg(services.plan_coverage(item).by_province(), _language(), title=item.name)
    return HttpResponse(svg, content_type="image/svg+xml")


@login_required
def plan_pdf(request: HttpRequest, plan_id: int) -> HttpResponse:
    item = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    coverage = services.plan_coverage(item)
    language = _language()
    pdf = render_pdf(
        "labs/pdf/coverage.html",
        {
            "plan": item,
            "coverage": coverage,
            "svg": coverage_map_svg(coverage.by_province(), language),
            "generated": timezone.localtime(),
        },
        language,
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="coverage-{item.code}-r{item.revision}.pdf"'
    return response


@login_required
def plan_targets(request: HttpRequest, plan_id: int) -> HttpResponse:
    item = get_editable_or_403(LayoutPlan, request.user, pk=plan_id)
    lines = "\n".join(
        ", ".join(
            str(x)
            for x in (
                t.field.code,
                t.region_code,
                t.target,
                t.priority,
                t.industry_chain.code if t.industry_chain_id else "",
            )
        ).rstrip(", ")
        for t in item.targets.select_related("field", "industry_chain")
    )
    form = TargetsForm(request.POST or None, initial={"lines": lines})
    if request.method == "POST" and form.is_valid():
        try:
            services.set_plan_targets(request.user, item, form.rows, form.cleaned_data["note"])
        except ValidationError as exc:
            form.add_error("lines", exc.messages)
        else:
            messages.success(request, _("Targets saved as a new revision."))
            return redirect(item)
    return render(request, "labs/plan_targets.html", {"plan": item, "form": form})


@login_required
def plan_revisions(request: HttpRequest, plan_id: int) -> HttpResponse:
    item = get_visible_or_404(LayoutPlan, request.user, pk=plan_id)
    revisions = list(item.revisions.select_related("created_by"))
    by_number = {r.number: r for r in revisions}
    diffs = [(r, services.diff_revisions(by_number.get(r.number - 1), r)) for r in revisions]
    return render(request, "labs/plan_revisions.html", {"plan": item, "diffs": diffs})


# ---- import ---------------------------------------------------------------------------------------


@login_required
def import_view(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office imports records."))
    form = ImportForm(request.POST or None, request.FILES or None)
    result, errors = None, []
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            table = read_table(upload.name, upload.read())
            result = import_records(
                request.user, form.cleaned_data["kind"], table, form.cleaned_data["dry_run"]
            )
        except ImportFailed as exc:
            errors = exc.errors
        else:
            if not result.dry_run:
                messages.success(request, _("%(n)d records imported.") % {"n": len(result.created)})
    return render(request, "labs/import.html", {"form": form, "result": result, "errors": errors})
