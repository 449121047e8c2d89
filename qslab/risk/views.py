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

from qslab.accounts.roles import Role, has_role
from qslab.core.forms import add_validation_error
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.uploads import download_response
from qslab.core.workflow import TransitionRefused
from qslab.risk import services
from qslab.risk.charts import series_chart_svg
from qslab.risk.forms import (
    AlertForm,
    AlertPhotoForm,
    AlertUpdateForm,
    AssessmentForm,
    IngestForm,
    PatternForm,
    ReassignForm,
    ReportForm,
    ReviewForm,
    ScenarioForm,
    TermForm,
    TransitionForm,
)
from qslab.risk.models import (
    AlertDigest,
    AlertUpdate,
    ConsumerAlert,
    DefectPattern,
    EarlyWarningRun,
    IncidentReport,
    IngestRun,
    RiskAssessment,
    RiskLevel,
    SeriesFamily,
    Signal,
    Term,
    is_risk_staff,
)


def _staff_only(request: HttpRequest) -> None:
    if not is_risk_staff(request.user):
        raise PermissionDenied(_("This page is for risk analysts and the committee office."))


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
            add_validation_error(form, error)
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


def image_response(stored, public: bool = False) -> HttpResponse:  # type: ignore[no-untyped-def]
    """Serve a stored photo safely: inline only when its content is an accepted image (then with its
    real type, nosniff and a sandboxing CSP), otherwise as an attachment (``download_response``)."""
    from qslab.core.uploads import KINDS, harden_download, safe_filename, sniff
    from qslab.risk.models import PHOTO_KINDS

    name = safe_filename(stored.name.rsplit("/", 1)[-1])
    with stored.open("rb") as handle:
        kind = sniff(handle.read(8192))
    if kind not in PHOTO_KINDS:
        response: HttpResponse = download_response(stored, name, "application/octet-stream")
    else:
        response = FileResponse(
            stored.open("rb"), filename=name, as_attachment=False, content_type=KINDS[kind].content_type
        )
        harden_download(response)
    response["Cache-Control"] = "public, max-age=3600" if public else "private, no-store"
    return response


def report_photo(request: HttpRequest, report_id: int) -> HttpResponse:
    """The photo of a report: only for risk staff and its reporter (never public, never a /media/ URL)."""
    item = get_visible_or_404(IncidentReport, request.user, pk=report_id)
    reporter = request.user.is_authenticated and item.reporter_id == request.user.pk
    if not item.photo or not (is_risk_staff(request.user) or reporter):
        raise Http404(_("Not found."))
    return image_response(item.photo)


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
            add_validation_error(form, error)
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
            add_validation_error(form, error)
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
            add_validation_error(form, error)
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
            add_validation_error(form, error)
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
    age = request.GET.get("age", "")
    age_q = services.signal_age_filter(age)
    if age_q is not None:
        qs = qs.filter(age_q)
    if request.GET.get("mine"):
        qs = qs.filter(assignee=request.user)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/signals.html",
        {
            "dashboard": services.open_signal_dashboard(request.user),
            "age": age,
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
            "reassign_form": ReassignForm(signal=item) if item.is_open else None,
            "scores": (item.config or {}).get("scores"),
            "assessments": item.assessments.all(),
            "history": history_of(item),
        },
    )


@login_required
@require_POST
def signal_reassign(request: HttpRequest, signal_id: int) -> HttpResponse:
    item = get_visible_or_404(Signal, request.user, pk=signal_id)
    form = ReassignForm(request.POST, signal=item)
    if form.is_valid():
        try:
            services.reassign_signal(
                request.user, item, form.cleaned_data["assignee"], form.cleaned_data["reason"]
            )
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request, _("Signal assigned to %(user)s.") % {"user": form.cleaned_data["assignee"]}
            )
    else:
        messages.error(request, _("Choose the analyst to assign the signal to."))
    return redirect(item)


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


# -- public statistics -----------------------------------------------------------------------------


def statistics(request: HttpRequest) -> HttpResponse:
    """National injury estimates (NEISS-style) by product, injury, age group, year or disposition."""
    from qslab.risk import statistics as stats

    dimension = request.GET.get("by", "product")
    if dimension not in stats.DIMENSIONS:
        dimension = "product"
    year_text = request.GET.get("year", "")
    year = int(year_text) if year_text.isdigit() and 1900 < int(year_text) < 2200 else None
    product = request.GET.get("product", "")[:40].strip()
    hazard = request.GET.get("hazard", "")[:40].strip()
    store = services.analytical_store()
    try:
        years = stats.available_years(store)
        table = stats.national_estimate_table(
            dimension, year=year, product=product, hazard=hazard, store=store
        )
    finally:
        store.close()
    title = _("National estimates by %(dimension)s") % {"dimension": stats.DIMENSIONS[dimension]}
    return render(
        request,
        "risk/statistics.html",
        {
            "table": table,
            "rows": table.rows[:100],
            "chart": stats.estimates_chart_svg(table, title=title) if table.rows else "",
            "title": title,
            "dimension": dimension,
            "dimension_label": stats.DIMENSIONS[dimension],
            "dimensions": list(stats.DIMENSIONS.items()),
            "year": year,
            "years": years,
            "product": product,
            "hazard": hazard,
            "products": Term.objects.filter(kind=Term.Kind.PRODUCT, source="neiss", active=True)
            .exclude(name_zh="")
            .order_by("name_en")[:200],
            "product_term": Term.objects.filter(kind=Term.Kind.PRODUCT, code=product).first()
            if product
            else None,
            "hazard_term": Term.objects.filter(kind=Term.Kind.DIAGNOSIS, code=hazard).first()
            if hazard
            else None,
            "diagnoses": Term.objects.filter(kind=Term.Kind.DIAGNOSIS, active=True).order_by("name_en"),
        },
    )


# -- risk assessments ------------------------------------------------------------------------------


@login_required
def assessments(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    qs = RiskAssessment.objects.visible_to(request.user).select_related(
        "product_category", "hazard", "signal"
    )
    status = request.GET.get("status", "")
    if status in RiskAssessment.Status.values:
        qs = qs.filter(status=status)
    level = request.GET.get("level", "")
    if level in RiskLevel.values:
        qs = qs.filter(risk_level=level)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "risk/assessments.html",
        {
            "page": page,
            "status": status,
            "statuses": RiskAssessment.Status.choices,
            "level": level,
            "levels": RiskLevel.choices,
        },
    )


@login_required
def assessment_create(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = AssessmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.save_assessment(request.user, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Assessment created; now describe the injury scenarios."))
            return redirect(item)
    return render(request, "risk/assessment_form.html", {"form": form})


@login_required
def assessment(request: HttpRequest, assessment_id: int) -> HttpResponse:
    from qslab.risk.assessment import compute, format_probability, sensitivity

    item = get_visible_or_404(
        RiskAssessment.objects.select_related("product_category", "hazard", "matrix", "signal", "document"),
        request.user,
        pk=assessment_id,
    )
    scenarios = list(item.scenarios.prefetch_related("steps"))
    outcome = compute(item)
    rows = []
    for s in scenarios:
        result = outcome["results"].get(s.pk)
        rows.append(
            {
                "scenario": s,
                "steps": [(st, format_probability(st.probability)) for st in s.steps.all()],
                "probability": format_probability(result.probability) if result else "–",
                "level": result.level if result else "",
                "level_label": RiskLevel(result.level).label if result and result.level else "",
                "deciding": s.pk == outcome["deciding"],
            }
        )
    return render(
        request,
        "risk/assessment.html",
        {
            "assessment": item,
            "scenarios": rows,
            "level": outcome["level"],
            "level_label": RiskLevel(outcome["level"]).label if outcome["level"] else "",
            "sensitivity": sensitivity(item),
            "matrix_rows": [
                {"above": format_probability(b["above"]) if b["above"] else "0", "levels": b["levels"]}
                for b in item.matrix.bands
            ],
            "can_edit": RiskAssessment.objects.editable_by(request.user).filter(pk=item.pk).exists(),
            "actions": RiskAssessment.workflow.available(item, request.user),
            "alerts": item.alerts.all(),
            "may_request_lab": has_role(request.user, Role.OFFICE),
            "history": history_of(item),
        },
    )


@login_required
def assessment_edit(request: HttpRequest, assessment_id: int) -> HttpResponse:
    item = get_editable_or_403(RiskAssessment, request.user, pk=assessment_id)
    form = AssessmentForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_assessment(request.user, form.cleaned_data, assessment=item)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect(item)
    return render(request, "risk/assessment_form.html", {"form": form, "assessment": item})


@login_required
def scenario_create(request: HttpRequest, assessment_id: int) -> HttpResponse:
    item = get_editable_or_403(RiskAssessment, request.user, pk=assessment_id)
    return _scenario_form(request, item, None)


@login_required
def scenario_edit(request: HttpRequest, assessment_id: int, scenario_id: int) -> HttpResponse:
    item = get_editable_or_403(RiskAssessment, request.user, pk=assessment_id)
    scenario = item.scenarios.filter(pk=scenario_id).first()
    if scenario is None:
        raise Http404(_("Not found."))
    return _scenario_form(request, item, scenario)


def _scenario_form(request: HttpRequest, item: RiskAssessment, scenario) -> HttpResponse:  # type: ignore[no-untyped-def]
    initial = {}
    if scenario is not None:
        initial = {
            "description_zh": scenario.description_zh,
            "description_en": scenario.description_en,
            "consumer": scenario.consumer,
            "injury": scenario.injury,
            "severity": scenario.severity,
            "steps": services.steps_as_text(scenario),
        }
    form = ScenarioForm(request.POST or None, initial=initial, matrix=item.matrix)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_scenario(request.user, item, form.cleaned_data, scenario=scenario)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Scenario saved."))
            return redirect(item)
    return render(
        request, "risk/scenario_form.html", {"form": form, "assessment": item, "scenario": scenario}
    )


@login_required
@require_POST
def scenario_delete(request: HttpRequest, assessment_id: int, scenario_id: int) -> HttpResponse:
    item = get_editable_or_403(RiskAssessment, request.user, pk=assessment_id)
    scenario = item.scenarios.filter(pk=scenario_id).first()
    if scenario is None:
        raise Http404(_("Not found."))
    services.delete_scenario(request.user, scenario)
    messages.success(request, _("Scenario removed."))
    return redirect(item)


@login_required
@require_POST
def assessment_transition(request: HttpRequest, assessment_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(RiskAssessment, request.user, pk=assessment_id)
    return _move(request, item, services.move_assessment)


# -- consumer alerts -------------------------------------------------------------------------------


def alerts(request: HttpRequest) -> HttpResponse:
    """Published consumer alerts (staff also see drafts), with search and filters."""
    query = request.GET.get("q", "")[:200]
    hazard = request.GET.get("hazard", "")[:40]
    level = request.GET.get("level", "")[:16]
    category = request.GET.get("category", "")[:40]
    year_text = request.GET.get("year", "")
    year = int(year_text) if year_text.isdigit() and 1900 < int(year_text) < 2200 else None
    staff = is_risk_staff(request.user)
    status = request.GET.get("status", "") if staff else ""
    qs = services.search_alerts(request.user, query, hazard, level, category, year, status)
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    template = "risk/_alert_results.html" if request.headers.get("HX-Request") else "risk/alerts.html"
    return render(
        request,
        template,
        {
            "page": page,
            "q": query,
            "hazard": hazard,
            "level": level,
            "category": category,
            "year": year,
            "status": status,
            "staff": staff,
            "hazards": Term.objects.filter(kind=Term.Kind.HAZARD, active=True),
            "levels": RiskLevel.choices,
            "statuses": ConsumerAlert.Status.choices,
            "categories": Term.objects.filter(
                pk__in=ConsumerAlert.objects.visible_to(request.user).values("product_category")
            ),
            "years": sorted(
                {
                    d.year
                    for d in ConsumerAlert.objects.visible_to(request.user).dates("published_at", "year")
                },
                reverse=True,
            ),
        },
    )


def alert(request: HttpRequest, alert_id: int) -> HttpResponse:
    item = get_visible_or_404(
        ConsumerAlert.objects.select_related("hazard", "product_category", "assessment"),
        request.user,
        pk=alert_id,
    )
    staff = is_risk_staff(request.user)
    return render(
        request,
        "risk/alert.html",
        {
            "alert": item,
            "staff": staff,
            "photos": item.photos.all(),
            "updates": AlertUpdate.objects.visible_to(request.user).filter(alert=item),
            "actions": ConsumerAlert.workflow.available(item, request.user) if staff else [],
            "can_edit": ConsumerAlert.objects.editable_by(request.user).filter(pk=item.pk).exists(),
            "photo_form": AlertPhotoForm() if staff else None,
            "update_form": AlertUpdateForm() if staff and item.is_public else None,
            "history": history_of(item) if staff else [],
        },
    )


def alert_photo(request: HttpRequest, alert_id: int, photo_id: int) -> HttpResponse:
    item = get_visible_or_404(ConsumerAlert, request.user, pk=alert_id)
    photo = item.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404(_("Not found."))
    return image_response(photo.image, public=item.is_public)


@login_required
def alert_create(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    initial = {}
    source = request.GET.get("assessment", "")
    if source.isdigit():
        base = RiskAssessment.objects.visible_to(request.user).filter(pk=int(source)).first()
        if base is not None:
            initial = services.alert_initial_from_assessment(base)
    form = AlertForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.save_alert(request.user, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Alert drafted."))
            return redirect(item)
    return render(request, "risk/alert_form.html", {"form": form})


@login_required
def alert_edit(request: HttpRequest, alert_id: int) -> HttpResponse:
    item = get_editable_or_403(ConsumerAlert, request.user, pk=alert_id)
    form = AlertForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_alert(request.user, form.cleaned_data, alert=item)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect(item)
    return render(request, "risk/alert_form.html", {"form": form, "alert": item})


@login_required
@require_POST
def alert_photo_add(request: HttpRequest, alert_id: int) -> HttpResponse:
    item = get_editable_or_403(ConsumerAlert, request.user, pk=alert_id)
    form = AlertPhotoForm(request.POST, request.FILES)
    if form.is_valid():
        services.add_alert_photo(
            request.user,
            item,
            form.cleaned_data["image"],
            form.cleaned_data["caption_zh"],
            form.cleaned_data["caption_en"],
        )
        messages.success(request, _("Photo added."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(item)


@login_required
@require_POST
def alert_photo_delete(request: HttpRequest, alert_id: int, photo_id: int) -> HttpResponse:
    item = get_editable_or_403(ConsumerAlert, request.user, pk=alert_id)
    photo = item.photos.filter(pk=photo_id).first()
    if photo is None:
        raise Http404(_("Not found."))
    services.delete_alert_photo(request.user, photo)
    return redirect(item)


@login_required
@require_POST
def alert_transition(request: HttpRequest, alert_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(ConsumerAlert, request.user, pk=alert_id)
    return _move(request, item, services.move_alert)


@login_required
@require_POST
def alert_update_add(request: HttpRequest, alert_id: int) -> HttpResponse:
    _staff_only(request)
    item = get_visible_or_404(ConsumerAlert, request.user, pk=alert_id)
    form = AlertUpdateForm(request.POST)
    if form.is_valid():
        try:
            services.add_alert_update(request.user, item, form.cleaned_data)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Update added."))
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect(item)


def digests(request: HttpRequest) -> HttpResponse:
    from django.db.models import Count

    digests = (
        AlertDigest.objects.visible_to(request.user)
        .annotate(n_alerts=Count("alerts"))  # counted with the page, not one query per row
        .order_by(*AlertDigest._meta.ordering)  # a grouped query drops the model's default order
    )
    page = Paginator(digests, 26).get_page(request.GET.get("page"))
    return render(request, "risk/digests.html", {"page": page, "staff": is_risk_staff(request.user)})


def digest(request: HttpRequest, year: int, week: int) -> HttpResponse:
    item = get_visible_or_404(AlertDigest, request.user, year=year, week=week)
    alerts = item.alerts.filter(status=ConsumerAlert.Status.PUBLISHED).select_related(
        "hazard", "product_category"
    )
    return render(request, "risk/digest.html", {"digest": item, "alerts": alerts})


@login_required
@require_POST
def digest_build(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    result = services.start_weekly_digest(request.user)
    return redirect("core:task", task_id=str(result.id))
