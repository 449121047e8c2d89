"""Pages of the studies app: validate, fetch through the permission path, call one service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role, scoped_ids
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import Laboratory
from qslab.studies import reports, services
from qslab.studies.forms import (
    AlarmForm,
    BudgetForm,
    CopyBudgetForm,
    CsvFileForm,
    DecisionForm,
    ExperimentForm,
    MeasurandForm,
    MonitorForm,
    PointForm,
    PrecisionDataForm,
    ReasonForm,
    ReferenceMaterialForm,
    RegisterForm,
    ResultsForm,
    RoundForm,
    UploadForm,
)
from qslab.studies.models import (
    Alarm,
    Monitor,
    OutlierDecision,
    PrecisionExperiment,
    PTMeasurand,
    PTParticipant,
    PTResult,
    PTRound,
    ReferenceMaterialStudy,
    UncertaintyBudget,
    is_overseer,
    manages,
)
from qslab.studies.services import Refused


def managed_labs(user: Any) -> Any:
    """Laboratories the user manages (all for an unscoped lab manager, none for others)."""
    if not has_role(user, Role.LAB_MANAGER):
        return Laboratory.objects.none()
    ids = scoped_ids(user, Role.LAB_MANAGER, Laboratory)
    return Laboratory.objects.all() if ids is None else Laboratory.objects.filter(pk__in=ids)


def _need_labs(user: Any) -> Any:
    labs = managed_labs(user)
    if not labs.exists():
        raise PermissionDenied(_("Only laboratory managers run studies."))
    return labs


def _refusal(request: HttpRequest, exc: Refused) -> None:
    messages.error(request, str(exc))
    for line in exc.lines():
        messages.error(request, line)


def _transition(request: HttpRequest, obj: Any, transition: str) -> HttpResponse:
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        services.move(request.user, obj, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Done."))
    return redirect(obj)


def _history(user: Any, obj: Any) -> Any:
    return history_of(obj) if (is_overseer(user) or manages(user, getattr(obj, "laboratory", None))) else []


@login_required
def index(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "studies/index.html",
        {
            "rounds": PTRound.objects.visible_to(user).select_related("laboratory")[:50],
            "experiments": PrecisionExperiment.objects.visible_to(user).select_related("laboratory")[:50],
            "budgets": UncertaintyBudget.objects.visible_to(user).filter(is_current=True)[:50],
            "materials": ReferenceMaterialStudy.objects.visible_to(user)[:50],
            "monitors": Monitor.objects.visible_to(user).select_related("laboratory")[:50],
            "open_alarms": Alarm.objects.visible_to(user).exclude(status="closed").count(),
            "my_participations": PTParticipant.objects.visible_to(user)
            .filter(services_q_own(user))
            .select_related("round"),
            "can_organise": managed_labs(user).exists(),
        },
    )


def services_q_own(user: Any) -> Any:
    from qslab.studies.models import _participant_q

    return _participant_q(user)


# --------------------------------------------------------------------------- PT rounds


@login_required
def pt_create(request: HttpRequest) -> HttpResponse:
    labs = _need_labs(request.user)
    form = RoundForm(request.POST or None)
    form.set_labs(labs)
    if request.method == "POST" and form.is_valid():
        rnd = services.create_round(request.user, form.cleaned_data["laboratory"], form.cleaned_data)
        messages.success(request, _("Round created. Add its measurands, then open it."))
        return redirect(rnd)
    return render(request, "studies/form.html", {"form": form, "title": _("New proficiency-testing round")})


@login_required
def pt_edit(request: HttpRequest, round_id: int) -> HttpResponse:
    rnd = get_editable_or_403(PTRound, request.user, pk=round_id)
    form = RoundForm(request.POST or None, instance=rnd)
    del form.fields["code"]
    if request.method == "POST" and form.is_valid():
        services.edit_round(request.user, rnd, form.cleaned_data)
        messages.success(request, _("Saved."))
        return redirect(rnd)
    return render(request, "studies/form.html", {"form": form, "title": rnd.title, "back": rnd})


@login_required
def pt_detail(request: HttpRequest, round_id: int) -> HttpResponse:
    user = request.user
    rnd = get_visible_or_404(PTRound.objects.select_related("laboratory"), user, pk=round_id)
    organiser = manages(user, rnd.laboratory) or is_overseer(user)
    own = list(PTParticipant.objects.filter(round=rnd).filter(services_q_own(user)))
    participants = list(rnd.participants.select_related("laboratory", "organisation")) if organiser else own
    register = None
    if rnd.status == PTRound.Status.OPEN and not manages(user, rnd.laboratory):
        register = RegisterForm()
        register.fields["laboratory"].queryset = managed_labs(user).exclude(pk=rnd.laboratory_id)
    return render(
        request,
        "studies/pt_detail.html",
        {
            "round": rnd,
            "measurands": rnd.measurands.all(),
            "participants": participants,
            "own": own,
            "organiser": organiser,
            "can_edit": manages(user, rnd.laboratory) and rnd.status in ("draft", "open"),
            "actions": PTRound.workflow.available(rnd, user),
            "register": register,
            "can_register_org": bool(getattr(user, "organisation_id", None)),
            "history": _history(user, rnd),
        },
    )


@login_required
def measurand_add(request: HttpRequest, round_id: int, measurand_id: int | None = None) -> HttpResponse:
    rnd = get_editable_or_403(PTRound, request.user, pk=round_id)
    measurand = (
        get_editable_or_403(PTMeasurand.objects.filter(round=rnd), request.user, pk=measurand_id)
        if measurand_id
        else None
    )
    form = MeasurandForm(request.POST or None, instance=measurand)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_measurand(request.user, rnd, form.cleaned_data, measurand)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Measurand saved."))
        return redirect(rnd)
    return render(request, "studies/form.html", {"form": form, "title": _("Measurand"), "back": rnd})


@login_required
@require_POST
def pt_transition(request: HttpRequest, round_id: int, transition: str) -> HttpResponse:
    return _transition(request, get_visible_or_404(PTRound, request.user, pk=round_id), transition)


@login_required
@require_POST
def pt_register(request: HttpRequest, round_id: int) -> HttpResponse:
    rnd = get_visible_or_404(PTRound, request.user, pk=round_id)
    form = RegisterForm(request.POST)
    form.fields["laboratory"].queryset = managed_labs(request.user)
    if not form.is_valid():
        for e in form.errors.values():
            messages.error(request, " ".join(e))
        return redirect(rnd)
    try:
        if form.cleaned_data.get("laboratory"):
            p = services.register_participant(request.user, rnd, laboratory=form.cleaned_data["laboratory"])
        else:
            p = services.register_participant(request.user, rnd, organisation=request.user.organisation)
    except Refused as exc:
        _refusal(request, exc)
        return redirect(rnd)
    messages.success(request, _("Registered as participant %(code)s.") % {"code": p.code})
    return redirect(p)


def _participant(request: HttpRequest, round_id: int, participant_id: int) -> PTParticipant:
    return get_visible_or_404(
        PTParticipant.objects.select_related("round", "round__laboratory", "laboratory", "organisation"),
        request.user,
        pk=participant_id,
        round_id=round_id,
    )


@login_required
def pt_participant(request: HttpRequest, round_id: int, participant_id: int) -> HttpResponse:
    p = _participant(request, round_id, participant_id)
    rnd = p.round
    measurands = list(rnd.measurands.all())
    results = {r.measurand_id: r for r in PTResult.objects.visible_to(request.user).filter(participant=p)}
    speaks = p.spoken_for_by(request.user)
    form = upload = None
    if speaks and rnd.accepts_results():
        initial = {}
        for m in measurands:
            if m.pk in results:
                r = results[m.pk]
                initial.update(
                    {f"value_{m.pk}": r.value, f"u_{m.pk}": r.standard_uncertainty, f"k_{m.pk}": 2}
                )
        form = ResultsForm(initial=initial, measurands=measurands)
        upload = UploadForm()
    rows = [(m, results.get(m.pk)) for m in measurands]
    charts_out = []
    if rnd.status in ("scored", "reported") and (
        speaks or manages(request.user, rnd.laboratory) or is_overseer(request.user)
    ):
        charts_out = reports.participant_charts(p, measurands, results)
    return render(
        request,
        "studies/pt_participant.html",
        {
            "p": p,
            "round": rnd,
            "rows": rows,
            "form": form,
            "upload": upload,
            "charts": charts_out,
            "report_ready": rnd.status == "reported" or (rnd.status == "scored" and not speaks),
        },
    )


def _submit(request: HttpRequest, p: PTParticipant, rows: list[dict[str, Any]], channel: str) -> HttpResponse:
    try:
        saved = services.submit_results(request.user, p, rows, channel)
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("%(n)d results saved.") % {"n": len(saved)})
    return redirect(p)


@login_required
@require_POST
def pt_submit(request: HttpRequest, round_id: int, participant_id: int) -> HttpResponse:
    p = _participant(request, round_id, participant_id)
    if not p.spoken_for_by(request.user):
        raise PermissionDenied(_("You do not speak for this participant."))
    form = ResultsForm(request.POST, measurands=list(p.round.measurands.all()))
    if not form.is_valid():
        for field, errors in form.errors.items():
            messages.error(
                request, f"{form.fields[field].label if field in form.fields else ''}: {' '.join(errors)}"
            )
        return redirect(p)
    return _submit(request, p, form.rows(), "form")


@login_required
@require_POST
def pt_upload(request: HttpRequest, round_id: int, participant_id: int) -> HttpResponse:
    p = _participant(request, round_id, participant_id)
    if not p.spoken_for_by(request.user):
        raise PermissionDenied(_("You do not speak for this participant."))
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("file", [])) or _("Choose a CSV file."))
        return redirect(p)
    try:
        rows = services.parse_results_csv(p.round, form.cleaned_data["file"])
    except Refused as exc:
        _refusal(request, exc)
        return redirect(p)
    return _submit(request, p, rows, "file")


@login_required
def pt_report(request: HttpRequest, round_id: int, participant_id: int) -> HttpResponse:
    """The participant's bilingual report (PDF): its own code, results and scores only."""
    p = _participant(request, round_id, participant_id)
    speaks = p.spoken_for_by(request.user)
    not_published = p.round.status not in ("scored", "reported") or (speaks and p.round.status != "reported")
    organiser_preview = manages(request.user, p.round.laboratory) and p.round.status == "scored"
    if not_published and not organiser_preview:
        raise Http404(_("The report is not published yet."))
    pdf = reports.participant_report_pdf(p)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{p.round.code}-{p.code}.pdf"'
    return response


@login_required
def pt_summary(request: HttpRequest, round_id: int) -> HttpResponse:
    rnd = get_visible_or_404(PTRound, request.user, pk=round_id)
    if not (manages(request.user, rnd.laboratory) or is_overseer(request.user)):
        raise PermissionDenied(_("The round summary is for the organiser."))
    if request.GET.get("format") == "pdf":
        response = HttpResponse(reports.round_summary_pdf(rnd), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{rnd.code}-summary.pdf"'
        return response
    return render(request, "studies/pt_summary.html", {"round": rnd, "sections": reports.round_sections(rnd)})


# --------------------------------------------------------------------------- precision experiments


@login_required
def precision_create(request: HttpRequest) -> HttpResponse:
    labs = _need_labs(request.user)
    form = ExperimentForm(request.POST or None)
    form.set_labs(labs)
    if request.method == "POST" and form.is_valid():
        study = services.create_experiment(request.user, form.cleaned_data["laboratory"], form.cleaned_data)
        return redirect(study)
    return render(request, "studies/form.html", {"form": form, "title": _("New precision experiment")})


@login_required
def precision_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    user = request.user
    study = get_visible_or_404(PrecisionExperiment.objects.select_related("laboratory"), user, pk=study_id)
    can_decide = study.status == "analysed" and (
        manages(user, study.laboratory) or has_role(user, Role.OFFICE)
    )
    return render(
        request,
        "studies/precision_detail.html",
        {
            "study": study,
            "actions": PrecisionExperiment.workflow.available(study, user),
            "can_edit": manages(user, study.laboratory),
            "data_form": PrecisionDataForm()
            if study.status == "collecting" and manages(user, study.laboratory)
            else None,
            "design_form": None,
            "values": study.values.all()[:500],
            "decisions": study.decisions.select_related("decided_by"),
            "decision_form": DecisionForm() if can_decide else None,
            "charts": reports.mandel_charts(study),
            "history": _history(user, study),
        },
    )


@login_required
def precision_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_editable_or_403(PrecisionExperiment, request.user, pk=study_id)
    form = ExperimentForm(request.POST or None, instance=study)
    del form.fields["code"]
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_experiment(request.user, study, form.cleaned_data)
        except Refused as exc:
            _refusal(request, exc)
        return redirect(study)
    return render(request, "studies/form.html", {"form": form, "title": study.title, "back": study})


@login_required
@require_POST
def precision_data(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_editable_or_403(PrecisionExperiment, request.user, pk=study_id)
    form = PrecisionDataForm(request.POST, request.FILES)
    if not form.is_valid():
        problems = [*form.errors.get("file", []), *form.non_field_errors()]
        messages.error(request, " ".join(problems) or _("Paste the results or choose a file."))
        return redirect(study)
    try:
        _header, rows = services.read_csv(form.cleaned_data.get("file") or form.cleaned_data["data"])
        n = services.import_precision_values(request.user, study, rows)
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("%(n)d test results saved.") % {"n": n})
    return redirect(study)


@login_required
@require_POST
def precision_transition(request: HttpRequest, study_id: int, transition: str) -> HttpResponse:
    return _transition(
        request, get_visible_or_404(PrecisionExperiment, request.user, pk=study_id), transition
    )


@login_required
@require_POST
def precision_decide(request: HttpRequest, study_id: int, decision_id: int) -> HttpResponse:
    decision = get_visible_or_404(OutlierDecision, request.user, pk=decision_id, experiment_id=study_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a decision and give its technical reason."))
        return redirect(decision.experiment)
    try:
        services.decide_outlier(
            request.user, decision, form.cleaned_data["decision"], form.cleaned_data["reason"]
        )
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Decision recorded."))
    return redirect(decision.experiment)


@login_required
def precision_report(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_visible_or_404(PrecisionExperiment, request.user, pk=study_id)
    if study.status != "reported":
        raise Http404(_("The report exists once the precision estimates are made."))
    response = HttpResponse(reports.precision_report_pdf(study), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{study.code}-precision.pdf"'
    return response


# --------------------------------------------------------------------------- uncertainty budgets


@login_required
def budget_create(request: HttpRequest) -> HttpResponse:
    labs = _need_labs(request.user)
    form = BudgetForm(request.POST or None)
    form.set_labs(labs)
    if request.method == "POST" and form.is_valid():
        budget = services.create_budget(request.user, form.cleaned_data["laboratory"], form.cleaned_data)
        return redirect(budget)
    return render(
        request, "studies/form.html", {"form": form, "title": _("New uncertainty budget"), "mono": True}
    )


@login_required
def budget_detail(request: HttpRequest, budget_id: int) -> HttpResponse:
    user = request.user
    budget = get_visible_or_404(UncertaintyBudget.objects.select_related("laboratory"), user, pk=budget_id)
    copy_form = None
    labs = managed_labs(user)
    if labs.exists():
        copy_form = CopyBudgetForm()
        copy_form.set_labs(labs)
    versions = []
    cursor = budget
    while cursor is not None and len(versions) < 50:
        versions.append(cursor)
        cursor = cursor.previous
    return render(
        request,
        "studies/budget_detail.html",
        {
            "budget": budget,
            "can_edit": UncertaintyBudget.objects.editable_by(user).filter(pk=budget.pk).exists(),
            "copy_form": copy_form,
            "budgets": reports.budget_tables(budget),
            "versions": versions,
            "history": _history(user, budget),
        },
    )


@login_required
def budget_revise(request: HttpRequest, budget_id: int) -> HttpResponse:
    budget = get_editable_or_403(UncertaintyBudget, request.user, pk=budget_id)
    form = BudgetForm(request.POST or None, instance=budget)
    if request.method == "POST" and form.is_valid():
        new = services.revise_budget(request.user, budget, form.cleaned_data)
        messages.success(request, _("Version %(v)d saved.") % {"v": new.version})
        return redirect(new)
    return render(request, "studies/form.html", {"form": form, "title": budget, "back": budget, "mono": True})


@login_required
@require_POST
def budget_evaluate(request: HttpRequest, budget_id: int) -> HttpResponse:
    budget = get_editable_or_403(UncertaintyBudget, request.user, pk=budget_id)
    method = request.POST.get("method") or budget.method
    try:
        services.evaluate_budget(request.user, budget, method if method in ("GUF", "MCM") else None)
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Evaluated."))
    return redirect(budget)


@login_required
@require_POST
def budget_copy(request: HttpRequest, budget_id: int) -> HttpResponse:
    budget = get_visible_or_404(UncertaintyBudget, request.user, pk=budget_id)
    form = CopyBudgetForm(request.POST)
    form.set_labs(_need_labs(request.user))
    if not form.is_valid():
        messages.error(request, _("Choose one of your laboratories."))
        return redirect(budget)
    new = services.copy_budget(request.user, budget, form.cleaned_data["laboratory"])
    messages.success(request, _("Copied."))
    return redirect(new)


# --------------------------------------------------------------------------- reference materials


@login_required
def rm_create(request: HttpRequest) -> HttpResponse:
    labs = _need_labs(request.user)
    form = ReferenceMaterialForm(request.POST or None)
    form.set_labs(labs)
    if request.method == "POST" and form.is_valid():
        study = services.save_reference_material(
            request.user, form.cleaned_data["laboratory"], form.cleaned_data
        )
        return redirect(study)
    return render(request, "studies/form.html", {"form": form, "title": _("New reference-material study")})


@login_required
def rm_edit(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_editable_or_403(ReferenceMaterialStudy, request.user, pk=study_id)
    form = ReferenceMaterialForm(request.POST or None, instance=study)
    del form.fields["code"]
    if request.method == "POST" and form.is_valid():
        services.save_reference_material(request.user, study.laboratory, form.cleaned_data, study)
        return redirect(study)
    return render(request, "studies/form.html", {"form": form, "title": study, "back": study})


@login_required
def rm_detail(request: HttpRequest, study_id: int) -> HttpResponse:
    study = get_visible_or_404(
        ReferenceMaterialStudy.objects.select_related("laboratory"), request.user, pk=study_id
    )
    return render(
        request,
        "studies/rm_detail.html",
        {
            "study": study,
            "actions": ReferenceMaterialStudy.workflow.available(study, request.user),
            "can_edit": ReferenceMaterialStudy.objects.editable_by(request.user).filter(pk=study.pk).exists(),
            "history": _history(request.user, study),
        },
    )


@login_required
@require_POST
def rm_transition(request: HttpRequest, study_id: int, transition: str) -> HttpResponse:
    return _transition(
        request, get_visible_or_404(ReferenceMaterialStudy, request.user, pk=study_id), transition
    )


# --------------------------------------------------------------------------- monitors and alarms


@login_required
def monitor_create(request: HttpRequest) -> HttpResponse:
    labs = _need_labs(request.user)
    form = MonitorForm(request.POST or None)
    form.set_labs(labs)
    if request.method == "POST" and form.is_valid():
        monitor = services.save_monitor(request.user, form.cleaned_data["laboratory"], form.cleaned_data)
        return redirect(monitor)
    return render(request, "studies/form.html", {"form": form, "title": _("New quality monitor")})


@login_required
def monitor_edit(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = get_editable_or_403(Monitor, request.user, pk=monitor_id)
    form = MonitorForm(request.POST or None, instance=monitor)
    if request.method == "POST" and form.is_valid():
        services.save_monitor(request.user, monitor.laboratory, form.cleaned_data, monitor)
        return redirect(monitor)
    return render(request, "studies/form.html", {"form": form, "title": monitor, "back": monitor})


def _monitor_context(request: HttpRequest, monitor: Monitor) -> dict[str, Any]:
    return {
        "monitor": monitor,
        "chart": reports.monitor_chart(monitor),
        "alarms": monitor.alarms.exclude(status="closed").select_related("point")[:20],
        "point_count": monitor.points.count(),
    }


@login_required
def monitor_detail(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = get_visible_or_404(
        Monitor.objects.select_related("laboratory", "client"), request.user, pk=monitor_id
    )
    can_post = manages(request.user, monitor.laboratory)
    return render(
        request,
        "studies/monitor_detail.html",
        {
            **_monitor_context(request, monitor),
            "can_post": can_post,
            "point_form": PointForm() if can_post else None,
            "upload": UploadForm() if can_post else None,
            "capability": services.capability(monitor) if request.GET.get("capability") else None,
        },
    )


@login_required
def monitor_chart(request: HttpRequest, monitor_id: int) -> HttpResponse:
    """The live part of the monitor page (htmx polls it)."""
    monitor = get_visible_or_404(Monitor, request.user, pk=monitor_id)
    return render(request, "studies/_monitor_live.html", _monitor_context(request, monitor))


@login_required
@require_POST
def monitor_point(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = get_editable_or_403(Monitor, request.user, pk=monitor_id)
    points: list[Any]
    if request.FILES.get("file"):
        upload_form = CsvFileForm(request.POST, request.FILES)
        if not upload_form.is_valid():
            messages.error(request, " ".join(upload_form.errors.get("file", [])))
            return redirect(monitor)
        try:
            _header, rows = services.read_csv(upload_form.cleaned_data["file"])
            points = [[v for k, v in sorted(r.items()) if k.startswith("x") or k == "value"] for r in rows]
        except Refused as exc:
            _refusal(request, exc)
            return redirect(monitor)
        source = "file"
    else:
        form = PointForm(request.POST)
        if not form.is_valid():
            messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
            return redirect(monitor)
        points = [form.cleaned_data["values"]]
        source = "form"
    try:
        rows = services.record_points(request.user, monitor, points, source)
    except Refused as exc:
        _refusal(request, exc)
    else:
        signalled = [p for p in rows if p.signals]
        if signalled:
            messages.warning(request, _("Signal: %(rules)s.") % {"rules": ", ".join(signalled[-1].signals)})
        else:
            messages.success(request, _("%(n)d points recorded.") % {"n": len(rows)})
    if request.headers.get("HX-Request"):
        return render(request, "studies/_monitor_live.html", _monitor_context(request, monitor))
    return redirect(monitor)


@login_required
@require_POST
def monitor_limits(request: HttpRequest, monitor_id: int) -> HttpResponse:
    monitor = get_editable_or_403(Monitor, request.user, pk=monitor_id)
    try:
        services.set_limits(request.user, monitor)
    except Refused as exc:
        _refusal(request, exc)
    else:
        messages.success(request, _("Phase I limits set."))
    return redirect(monitor)


@login_required
def alarms(request: HttpRequest) -> HttpResponse:
    qs = Alarm.objects.visible_to(request.user).select_related("monitor", "point")
    status = request.GET.get("status", "active")
    if status == "active":
        qs = qs.exclude(status="closed")
    elif status in ("open", "acknowledged", "actioned", "closed"):
        qs = qs.filter(status=status)
    return render(request, "studies/alarms.html", {"alarms": qs[:200], "status": status})


@login_required
def alarm_detail(request: HttpRequest, alarm_id: int) -> HttpResponse:
    alarm = get_visible_or_404(Alarm.objects.select_related("monitor", "point"), request.user, pk=alarm_id)
    editable = Alarm.objects.editable_by(request.user).filter(pk=alarm.pk).exists()
    form = AlarmForm(
        request.POST or None, initial={"cause": alarm.cause, "corrective_action": alarm.corrective_action}
    )
    if request.method == "POST":
        if not editable:
            raise PermissionDenied(_("Only a manager of the monitor's laboratory may work on its alarms."))
        if form.is_valid():
            services.explain_alarm(
                request.user, alarm, form.cleaned_data["cause"], form.cleaned_data["corrective_action"]
            )
            messages.success(request, _("Saved."))
            return redirect(alarm)
    return render(
        request,
        "studies/alarm_detail.html",
        {
            "alarm": alarm,
            "form": form if editable else None,
            "actions": Alarm.workflow.available(alarm, request.user),
            "history": history_of(alarm) if editable or is_overseer(request.user) else [],
        },
    )


@login_required
@require_POST
def alarm_transition(request: HttpRequest, alarm_id: int, transition: str) -> HttpResponse:
    return _transition(request, get_visible_or_404(Alarm, request.user, pk=alarm_id), transition)
