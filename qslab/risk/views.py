"""Pages of product risk monitoring: the public report form, review, patterns, intake, signals."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.risk import services
from qslab.risk.charts import series_chart_svg
from qslab.risk.forms import IngestForm, PatternForm, ReportForm, ReviewForm, TermForm, TransitionForm
from qslab.risk.models import (
    DefectPattern,
    EarlyWarningRun,
    IncidentReport,
    IngestRun,
    SeriesFamily,
    Signal,
    Term,
    is_risk_staff,
)


def _staff_only(request: HttpRequest) -> None:
    if not is_risk_staff(request.user):
        raise PermissionDenied(_("This page is for risk analysts and the committee office."))


def _form_errors(form, error: ValidationError) -> None:  # type: ignore[no-untyped-def]
    if hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)


def home(request: HttpRequest) -> HttpResponse:
    staff = is_risk_staff(request.user)
    context = {
        "reports": IncidentReport.objects.visible_to(None).select_related("product_category", "hazard")[:8],
        "patterns": DefectPattern.objects.visible_to(None).select_related("product_category", "hazard")[:8],
        "staff": staff,
    }
    if staff:
        context["open_signals"] = services.open_signals_queue(request.user)[:10]
        context["to_review"] = IncidentReport.objects.visible_to(request.user).filter(
            status__in=[IncidentReport.Status.SUBMITTED, IncidentReport.Status.UNDER_REVIEW]
        )[:10]
    return render(request, "risk/home.html", context)


# -- incident reports ------------------------------------------------------------------------------


def report_new(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = {**form.cleaned_data, "language": get_language()}
        photo = data.pop("photo", None) or None
        try:
            report = services.submit_report(request.user, data, photo)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Thank you. Your report %(ref)s was received; "
                    "an analyst reviews it before anything is published."
                )
                % {"ref": report.reference},
            )
            if request.user.is_authenticated:
                return redirect(report)
            return redirect("risk:home")
    return render(request, "risk/report_form.html", {"form": form})


def reports(request: HttpRequest) -> HttpResponse:
    qs = IncidentReport.objects.visible_to(request.user).select_related("product_category", "hazard")
    status = request.GET.get("status")
    if status in IncidentReport.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/reports.html",
        {"page": page, "statuses": IncidentReport.Status.choices, "status": status},
    )


def report(request: HttpRequest, report_id: int) -> HttpResponse:
    item = get_visible_or_404(
        IncidentReport.objects.select_related(
            "product_category", "hazard", "diagnosis", "body_part", "disposition"
        ),
        request.user,
        pk=report_id,
    )
    staff = is_risk_staff(request.user)
    return render(
        request,
        "risk/report.html",
        {
            "report": item,
            "staff": staff,
            "may_see_details": staff
            or (request.user.is_authenticated and item.reporter_id == request.user.pk),
            "actions": IncidentReport.workflow.available(item, request.user)
            if request.user.is_authenticated
            else [],
            "form": TransitionForm(),
            "history": history_of(item) if staff else [],
            "similar": services.similar_reports(request.user, item) if staff else [],
            "can_edit": IncidentReport.objects.editable_by(request.user).filter(pk=item.pk).exists(),
        },
    )


def report_photo(request: HttpRequest, report_id: int) -> HttpResponse:
    item = get_visible_or_404(IncidentReport, request.user, pk=report_id)
    reporter = request.user.is_authenticated and item.reporter_id == request.user.pk
    if not item.photo or not (is_risk_staff(request.user) or reporter):
        raise Http404(_("Not found."))
    return FileResponse(item.photo.open("rb"), filename=item.photo.name.rsplit("/", 1)[-1])


@login_required
def report_review(request: HttpRequest, report_id: int) -> HttpResponse:
    item = get_editable_or_403(IncidentReport, request.user, pk=report_id)
    form = ReviewForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        services.code_report(request.user, item, form.cleaned_data)
        messages.success(request, _("Saved."))
        return redirect(item)
    return render(request, "risk/review_form.html", {"form": form, "report": item})


def _move(request: HttpRequest, obj, mover) -> HttpResponse:  # type: ignore[no-untyped-def]
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        mover(
            request.user,
            obj,
            request.resolver_match.kwargs["transition"],
            form.cleaned_data.get("reason", ""),
        )
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(obj)


@login_required
@require_POST
def report_transition(request: HttpRequest, report_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(IncidentReport, request.user, pk=report_id)
    return _move(request, item, services.move_report)


# -- defect patterns -------------------------------------------------------------------------------


def patterns(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    hazard = request.GET.get("hazard", "")[:40]
    qs = services.search_patterns(request.user, query, hazard=hazard)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/patterns.html",
        {
            "page": page,
            "q": query,
            "hazard": hazard,
            "hazards": Term.objects.filter(kind=Term.Kind.HAZARD, active=True),
            "staff": is_risk_staff(request.user),
        },
    )


def pattern(request: HttpRequest, pattern_id: int) -> HttpResponse:
    item = get_visible_or_404(
        DefectPattern.objects.select_related("product_category", "hazard"), request.user, pk=pattern_id
    )
    evidence = IncidentReport.objects.visible_to(request.user).filter(patterns=item)
    return render(
        request,
        "risk/pattern.html",
        {
            "pattern": item,
            "evidence": evidence.select_related("product_category"),
            "staff": is_risk_staff(request.user),
            "history": history_of(item) if is_risk_staff(request.user) else [],
        },
    )


@login_required
def pattern_create(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    initial = {}
    cases = request.GET.getlist("case")
    if cases:
        initial["evidence"] = [c for c in cases if c.isdigit()]
    form = PatternForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        evidence = data.pop("evidence")
        try:
            item = services.save_pattern(request.user, data, evidence=evidence)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, _("Pattern saved."))
            return redirect(item)
    return render(request, "risk/pattern_form.html", {"form": form})


@login_required
def pattern_edit(request: HttpRequest, pattern_id: int) -> HttpResponse:
    item = get_editable_or_403(DefectPattern, request.user, pk=pattern_id)
    form = PatternForm(request.POST or None, instance=item, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        evidence = data.pop("evidence")
        try:
            services.save_pattern(request.user, data, pattern=item, evidence=evidence)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, _("Pattern saved."))
            return redirect(item)
    return render(request, "risk/pattern_form.html", {"form": form, "pattern": item})


# -- taxonomies ------------------------------------------------------------------------------------


def terms(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind", Term.Kind.HAZARD)
    if kind not in Term.Kind.values:
        kind = Term.Kind.HAZARD
    qs = Term.objects.visible_to(request.user).filter(kind=kind)
    query = request.GET.get("q", "")[:100].strip()
    if query:
        from django.db.models import Q

        qs = qs.filter(Q(code__iexact=query) | Q(name_en__icontains=query) | Q(name_zh__icontains=query))
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/terms.html",
        {
            "page": page,
            "kind": kind,
            "kinds": Term.Kind.choices,
            "q": query,
            "staff": is_risk_staff(request.user),
        },
    )


@login_required
def term_create(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = TermForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_term(request.user, form.cleaned_data)
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, _("Term added."))
            return redirect(reverse("risk:terms") + f"?kind={form.cleaned_data['kind']}")
    return render(request, "risk/term_form.html", {"form": form})


# -- bulk intake -----------------------------------------------------------------------------------


@login_required
def ingests(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = IngestForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            run = services.start_ingest(request.user, form.cleaned_data["source"], form.cleaned_data["file"])
        except ValidationError as error:
            _form_errors(form, error)
        else:
            messages.success(request, _("The file is being checked and loaded."))
            return redirect(run)
    page = Paginator(IngestRun.objects.visible_to(request.user).select_related("owner"), 25).get_page(
        request.GET.get("page")
    )
    return render(request, "risk/ingests.html", {"form": form, "page": page})


@login_required
def ingest(request: HttpRequest, ingest_id: int) -> HttpResponse:
    run = get_visible_or_404(IngestRun, request.user, pk=ingest_id)
    from qslab.core.models import TaskProgress

    task = (
        TaskProgress.objects.visible_to(request.user).filter(task_id=run.task_id).first()
        if run.task_id
        else None
    )
    return render(request, "risk/ingest.html", {"run": run, "task": task})


# -- early warning and signals ---------------------------------------------------------------------


@login_required
def early_warning(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    return render(
        request,
        "risk/early_warning.html",
        {
            "families": SeriesFamily.objects.visible_to(request.user),
            "runs": EarlyWarningRun.objects.visible_to(request.user).select_related("owner")[:20],
        },
    )


@login_required
@require_POST
def early_warning_run(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    result = services.start_early_warning(request.user)
    return redirect("core:task", task_id=str(result.id))


@login_required
def signals(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    qs = Signal.objects.visible_to(request.user).select_related("family", "assignee")
    status = request.GET.get("status", "open")
    if status == "open":
        qs = qs.filter(status__in=[s.value for s in Signal.OPEN])
    elif status in Signal.Status.values:
        qs = qs.filter(status=status)
    severity = request.GET.get("severity")
    if severity in Signal.Severity.values:
        qs = qs.filter(severity=severity)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/signals.html",
        {
            "page": page,
            "status": status,
            "statuses": Signal.Status.choices,
            "severity": severity,
            "severities": Signal.Severity.choices,
        },
    )


@login_required
def signal(request: HttpRequest, signal_id: int) -> HttpResponse:
    item = get_visible_or_404(Signal.objects.select_related("family", "assignee"), request.user, pk=signal_id)
    return render(
        request,
        "risk/signal.html",
        {
            "signal": item,
            "alarms": item.alarms.all(),
            "actions": Signal.workflow.available(item, request.user),
            "form": TransitionForm(),
            "history": history_of(item),
        },
    )


@login_required
def signal_chart(request: HttpRequest, signal_id: int) -> HttpResponse:
    item = get_visible_or_404(Signal.objects.select_related("family"), request.user, pk=signal_id)
    data = services.series_of_signal(item)
    svg = series_chart_svg(
        data["dates"],
        data["observed"],
        data["threshold_dates"],
        data["threshold"],
        data["alarm_dates"],
        data["alarm_observed"],
        title=item.unit_label or item.unit,
        labels={"observed": _("observed"), "threshold": _("threshold"), "alarm": _("alarm")},
    )
    return HttpResponse(svg, content_type="image/svg+xml")


@login_required
@require_POST
def signal_transition(request: HttpRequest, signal_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Signal, request.user, pk=signal_id)
    return _move(request, item, services.move_signal)
