"""Pages of the funding app: validate, check permission, call one service, render."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.uploads import download_response
from qslab.core.workflow import TransitionRefused
from qslab.funding import forms, reports, services
from qslab.funding.charts import execution_chart_svg, group_bars_svg, stacked_counts_svg
from qslab.funding.models import (
    AllocationRun,
    Budget,
    EvidenceFile,
    FundingRules,
    Grade,
    LabGrade,
    Line,
    MonitoringFlag,
    MonitoringRun,
    SelfEvaluation,
    Source,
)
from qslab.labs.xlsx import write_xlsx


def _office(request: HttpRequest) -> None:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office may do this."))


def _office_or_committee(request: HttpRequest) -> None:
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied(_("Only the committee office and committee members may see this."))


def _errors(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{k}: {m}" if k != "__all__" else m for k, ms in exc.message_dict.items() for m in ms]
    return list(exc.messages)


def _may_see_budgets(request: HttpRequest) -> None:
    if not any(has_role(request.user, r) for r in services.BUDGET_READERS):
        raise PermissionDenied(_("Budgets are shown to the laboratories, their authorities and the office."))


@login_required
def budgets(request: HttpRequest) -> HttpResponse:
    _may_see_budgets(request)
    qs = Budget.objects.visible_to(request.user).select_related("laboratory")
    year = request.GET.get("year", "")
    if year.isdigit():
        qs = qs.filter(year=int(year))
    status = request.GET.get("status", "")
    if status in dict(Budget.workflow.choices()):
        qs = qs.filter(status=status)
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    can_create = has_role(request.user, Role.OFFICE) or has_role(request.user, Role.LAB_MANAGER)
    return render(
        request,
        "funding/budgets.html",
        {
            "page": page,
            "can_create": can_create,
            "is_office": has_role(request.user, Role.OFFICE),
            "statuses": Budget.workflow.choices(),
            "year": year,
        },
    )


@login_required
def budget_create(request: HttpRequest) -> HttpResponse:
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.LAB_MANAGER)):
        raise PermissionDenied(_("Only a laboratory's manager or the office may open a budget."))
    form = forms.BudgetCreateForm(
        request.POST or None, user=request.user, initial={"year": timezone.localdate().year}
    )
    if request.method == "POST" and form.is_valid():
        try:
            budget = services.create_budget(
                request.user, form.cleaned_data["laboratory"], form.cleaned_data["year"]
            )
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Budget opened. Enter its lines and targets."))
            return redirect(budget)
    return render(request, "funding/budget_create.html", {"form": form})


def _grid(version: Any) -> list[tuple[str, list[Decimal], Decimal]]:
    amounts = version.amounts() if version else {}
    rows = []
    for line in Line:
        cells = [amounts.get((line.value, s.value), Decimal(0)) for s in Source]
        rows.append((line.label, cells, sum(cells, Decimal(0))))
    return rows


def _chart(budget: Budget) -> str:
    ex = services.execution_of(budget)
    rules = FundingRules.for_year(budget.year)
    today = timezone.localdate()
    upto = 12 if budget.year < today.year else (today.month if budget.year == today.year else 0)
    lines = {
        str(Line(k).label): [float(r) if r is not None else None for r in v]
        for k, v in ex.line_rates().items()
    }
    return execution_chart_svg(
        [float(r) if r is not None else None for r in ex.rates()],
        [float(rules.expected(m)) for m in range(1, 13)],
        lines,
        title=str(budget),
        labels={"actual": _("whole budget"), "expected": _("expected"), "month": _("month")},
        up_to_month=upto or 12,
    )


@login_required
def budget(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_visible_or_404(Budget.objects.select_related("laboratory"), request.user, pk=budget_id)
    ex = services.execution_of(item)
    editable = Budget.objects.editable_by(request.user).filter(pk=item.pk).exists()
    in_force = item.in_force
    return render(
        request,
        "funding/budget.html",
        {
            "budget": item,
            "editable": editable,
            "is_office": has_role(request.user, Role.OFFICE),
            "actions": Budget.workflow.available(item, request.user),
            "form": forms.TransitionForm(),
            "sources": [s.label for s in Source],
            "grid": _grid(in_force),
            "in_force": in_force,
            "versions": item.versions.prefetch_related("lines")
            .select_related("created_by")
            .order_by("-number"),
            "indicators": item.indicators.all(),
            "execution": ex,
            "line_rates": [(Line(k).label, v) for k, v in ex.line_rates().items()],
            "source_rates": [(Source(k).label, v) for k, v in ex.source_rates().items()],
            "flags": item.flags.all(),
            "evaluation": SelfEvaluation.objects.filter(budget=item).first(),
            "history": history_of(item),
            "expenditures": item.expenditures.order_by("-date", "-pk")[:20],
            "subsidy": services.allocated_subsidy(item.laboratory, item.year),
            "central_in_force": sum(
                (a for (_ln, src), a in (in_force.amounts() if in_force else {}).items() if src == "central"),
                Decimal(0),
            ),
        },
    )


@login_required
def budget_lines(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_editable_or_403(Budget, request.user, pk=budget_id)
    version = item.current_version
    form = forms.BudgetLinesForm(request.POST or None, initial_amounts=version.amounts() if version else {})
    if request.method == "POST" and form.is_valid():
        try:
            services.save_budget_version(request.user, item, form.amounts(), form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("A new version of the budget is saved."))
            return redirect(item)
    return render(
        request,
        "funding/budget_lines.html",
        {
            "budget": item,
            "form": form,
            "sources": [s.label for s in Source],
            "subsidy": services.allocated_subsidy(item.laboratory, item.year),
        },
    )


def _indicator_text(budget: Budget) -> str:
    return "\n".join(
        ", ".join(
            [
                i.level2,
                i.name_zh,
                i.name_en,
                i.comparator,
                f"{i.target.normalize():f}",
                i.unit,
                i.basis,
                f"{i.weight.normalize():f}",
            ]
        )
        for i in budget.indicators.all()
    )


@login_required
def budget_targets(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_editable_or_403(Budget, request.user, pk=budget_id)
    form = forms.TargetsForm(request.POST or None, initial={"text": _indicator_text(item)})
    errors: list[Any] = []
    if request.method == "POST" and form.is_valid():
        try:
            rows = services.parse_indicators(form.cleaned_data["text"])
            services.set_indicators(request.user, item, rows)
        except services.ImportFailed as exc:
            errors = exc.errors
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Performance targets saved."))
            return redirect(item)
    return render(request, "funding/budget_targets.html", {"budget": item, "form": form, "errors": errors})


@login_required
@require_POST
def budget_transition(request: HttpRequest, budget_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Budget, request.user, pk=budget_id)
    form = forms.TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_budget(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
def execution_svg(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_visible_or_404(Budget, request.user, pk=budget_id)
    return HttpResponse(_chart(item), content_type="image/svg+xml")


@login_required
def expenditure_import(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_editable_or_403(Budget, request.user, pk=budget_id)
    form = forms.ImportForm(request.POST or None, request.FILES or None)
    errors: list[Any] = []
    count = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            table = services.read_table(upload.name, upload.read())
            count = services.import_expenditures(
                request.user, item, table, dry_run=form.cleaned_data["dry_run"]
            )
        except services.ImportFailed as exc:
            errors = exc.errors
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            if not form.cleaned_data["dry_run"]:
                messages.success(request, _("%(n)d expenditures imported.") % {"n": count})
                return redirect(item)
    return render(
        request,
        "funding/import.html",
        {"budget": item, "form": form, "errors": errors, "count": count},
    )


@login_required
def flag_answer(request: HttpRequest, flag_id: int) -> HttpResponse:
    flag = get_editable_or_403(MonitoringFlag.objects.select_related("budget"), request.user, pk=flag_id)
    form = forms.FlagAnswerForm(
        request.POST or None, initial={"cause": flag.cause, "corrective_action": flag.corrective_action}
    )
    if request.method == "POST" and form.is_valid():
        services.answer_flag(
            request.user, flag, form.cleaned_data["cause"], form.cleaned_data["corrective_action"]
        )
        messages.success(request, _("Answer recorded."))
        return redirect(flag.budget)
    return render(request, "funding/flag_answer.html", {"flag": flag, "form": form})


@login_required
@require_POST
def flag_hold(request: HttpRequest, flag_id: int) -> HttpResponse:
    _office(request)
    flag = get_visible_or_404(MonitoringFlag.objects.select_related("budget"), request.user, pk=flag_id)
    form = forms.HoldForm(request.POST)
    if form.is_valid():
        services.hold_funding(request.user, flag, form.cleaned_data["hold"], form.cleaned_data["reason"])
        messages.success(request, _("Done."))
    else:
        messages.error(request, _("Give the reason."))
    return redirect(flag.budget)


@login_required
def monitoring(request: HttpRequest) -> HttpResponse:
    _office_or_committee(request)
    year = timezone.localdate().year
    form = forms.MonitoringForm(request.POST or None, initial={"year": year})
    if request.method == "POST":
        _office(request)
        if form.is_valid():
            made = services.run_monitoring(
                request.user, form.cleaned_data["year"], form.cleaned_data["month"]
            )
            messages.success(request, _("%(n)d new flags.") % {"n": len(made)})
            return redirect("funding:monitoring")
    flags = MonitoringFlag.objects.visible_to(request.user).select_related("budget__laboratory")[:300]
    rules = FundingRules.for_year(year)
    return render(
        request,
        "funding/monitoring.html",
        {
            "rules": rules,
            "monitoring_date": rules.monitoring_date(),
            "runs": MonitoringRun.objects.select_related("ran_by")[:10],
            "form": form,
            "flags": flags,
            "is_office": has_role(request.user, Role.OFFICE),
            "hold_form": forms.HoldForm(),
        },
    )


@login_required
def evaluation(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_visible_or_404(Budget.objects.select_related("laboratory"), request.user, pk=budget_id)
    ev = SelfEvaluation.objects.filter(budget=item).first()
    editable = Budget.objects.editable_by(request.user).filter(pk=item.pk).exists()
    if ev is None and editable and item.approved_version_id:
        ev = services.open_evaluation(request.user, item)
    if ev is None:
        return render(request, "funding/evaluation.html", {"budget": item, "evaluation": None})
    indicators = list(item.indicators.all())
    errors: list[str] = []
    if request.method == "POST":
        if not SelfEvaluation.objects.editable_by(request.user).filter(pk=ev.pk).exists():
            raise PermissionDenied(_("You may not change this self-evaluation."))
        actuals: dict[int, Decimal | None] = {}
        for ind in indicators:
            raw = request.POST.get(f"actual_{ind.pk}", "").strip()
            if not raw:
                actuals[ind.pk] = None
                continue
            try:
                value = Decimal(raw)
                if not value.is_finite():
                    raise ArithmeticError
                actuals[ind.pk] = value
            except ArithmeticError:
                errors.append(_("“%(v)s” is not a number (%(name)s)") % {"v": raw, "name": ind.name})
        if not errors:
            try:
                services.record_actuals(request.user, ev, actuals, request.POST.get("summary", ""))
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("funding:evaluation", item.pk)
    preview = services.score_budget(item)
    return render(
        request,
        "funding/evaluation.html",
        {
            "budget": item,
            "evaluation": ev,
            "indicators": indicators,
            "errors": errors,
            "can_edit": ev.status == "draft"
            and SelfEvaluation.objects.editable_by(request.user).filter(pk=ev.pk).exists(),
            "actions": SelfEvaluation.workflow.available(ev, request.user),
            "form": forms.TransitionForm(),
            "adjust_form": forms.AdjustScoreForm() if has_role(request.user, Role.OFFICE) else None,
            "preview": preview,
            "rules": FundingRules.for_year(item.year),
            "history": history_of(ev),
            "evidence": ev.evidence.visible_to(request.user),
            "evidence_form": forms.EvidenceForm() if ev.status == "draft" else None,
            "experts": ev.experts.order_by("username"),
            "experts_form": forms.ExpertsForm(initial={"experts": ev.experts.all()})
            if has_role(request.user, Role.OFFICE)
            else None,
        },
    )


@login_required
@require_POST
def evaluation_transition(request: HttpRequest, budget_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Budget, request.user, pk=budget_id)
    ev = get_visible_or_404(SelfEvaluation, request.user, budget=item)
    form = forms.TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_evaluation(request.user, ev, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect("funding:evaluation", item.pk)


@login_required
@require_POST
def evidence_upload(request: HttpRequest, budget_id: int) -> HttpResponse:
    ev = get_editable_or_403(SelfEvaluation, request.user, budget_id=budget_id)
    form = forms.EvidenceForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.attach_evidence(
                request.user, ev, form.cleaned_data["file"], form.cleaned_data["description"]
            )
        except ValidationError as exc:
            for m in _errors(exc):
                messages.error(request, m)
        else:
            messages.success(request, _("Evidence attached."))
    else:
        for errors in form.errors.values():
            for m in errors:
                messages.error(request, m)
    return redirect("funding:evaluation", budget_id)


@login_required
def evidence(request: HttpRequest, evidence_id: int) -> HttpResponse:
    """One evidence file: for the laboratory's managers, the office and the assigned experts only."""
    item = get_visible_or_404(EvidenceFile, request.user, pk=evidence_id)
    return download_response(item.file, item.name)


@login_required
@require_POST
def evaluation_experts(request: HttpRequest, budget_id: int) -> HttpResponse:
    _office(request)
    ev = get_visible_or_404(SelfEvaluation, request.user, budget_id=budget_id)
    form = forms.ExpertsForm(request.POST)
    if form.is_valid():
        services.assign_evaluation_experts(request.user, ev, list(form.cleaned_data["experts"]))
        messages.success(request, _("Experts assigned."))
    else:
        messages.error(request, _("Choose experts from the list."))
    return redirect("funding:evaluation", budget_id)


@login_required
def reviews(request: HttpRequest) -> HttpResponse:
    """The self-evaluations an expert is assigned to review, with their evidence."""
    if not (has_role(request.user, Role.EXPERT) or has_role(request.user, Role.OFFICE)):
        raise PermissionDenied(_("This page is for the experts reviewing self-evaluations."))
    assigned = (
        SelfEvaluation.objects.filter(experts=request.user)
        .select_related("budget__laboratory")
        .prefetch_related("evidence")
    )
    return render(request, "funding/reviews.html", {"evaluations": assigned})


@login_required
@require_POST
def evaluation_adjust(request: HttpRequest, budget_id: int) -> HttpResponse:
    _office(request)
    ev = get_visible_or_404(SelfEvaluation, request.user, budget_id=budget_id)
    form = forms.AdjustScoreForm(request.POST)
    if form.is_valid():
        try:
            services.adjust_score(request.user, ev, form.cleaned_data["score"], form.cleaned_data["reason"])
        except ValidationError as exc:
            for m in _errors(exc):
                messages.error(request, m)
        else:
            messages.success(request, _("Score adjusted."))
    else:
        messages.error(request, _("Give a score between 0 and 100 and the reason."))
    return redirect("funding:evaluation", budget_id)


@login_required
def grades(request: HttpRequest) -> HttpResponse:
    _office(request)
    form = forms.LabGradeForm(request.POST or None, initial={"year": timezone.localdate().year - 1})
    if request.method == "POST" and form.is_valid():
        services.record_lab_grade(request.user, **form.cleaned_data)
        messages.success(request, _("Grade recorded."))
        return redirect("funding:grades")
    rows = LabGrade.objects.visible_to(request.user).select_related("laboratory")[:500]
    return render(request, "funding/grades.html", {"form": form, "rows": rows})


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    _office(request)
    year = request.GET.get("year", "")
    year = int(year) if year.isdigit() else timezone.localdate().year
    instance = FundingRules.objects.filter(year=year).first() or FundingRules(year=year)
    form = forms.RulesForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        from qslab.core.context import acting_as

        with acting_as(request.user):
            form.save()
        messages.success(request, _("Rules saved."))
        return redirect(f"{request.path}?year={form.instance.year}")
    return render(request, "funding/rules.html", {"form": form, "year": year})


@login_required
def allocations(request: HttpRequest) -> HttpResponse:
    _office_or_committee(request)
    runs = AllocationRun.objects.visible_to(request.user)
    return render(
        request, "funding/allocations.html", {"runs": runs, "is_office": has_role(request.user, Role.OFFICE)}
    )


@login_required
def allocation_create(request: HttpRequest) -> HttpResponse:
    _office(request)
    form = forms.AllocationRunForm(request.POST or None, initial={"year": timezone.localdate().year - 1})
    if request.method == "POST" and form.is_valid():
        try:
            run = services.create_allocation_run(request.user, form.service_data())
            services.compute_allocation(request.user, run)
        except ValidationError as exc:
            form.add_error(None, _errors(exc))
        else:
            return redirect(run)
    return render(request, "funding/allocation_form.html", {"form": form})


@login_required
def allocation(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_visible_or_404(AllocationRun, request.user, pk=run_id)
    rows = run.allocations.select_related("laboratory")
    total = sum((a.amount for a in rows), Decimal(0))
    return render(
        request,
        "funding/allocation.html",
        {
            "run": run,
            "rows": rows,
            "sum": total,
            "editable": AllocationRun.objects.editable_by(request.user).filter(pk=run.pk).exists(),
            "issued_of_year": AllocationRun.objects.filter(year=run.year, status=AllocationRun.Status.ISSUED)
            .exclude(pk=run.pk)
            .exclude(pk=run.amends_id or 0)
            .select_related("document")
            .first(),
            "superseded_by": run.superseded_by if run.status == AllocationRun.Status.SUPERSEDED else None,
            "amendments": run.amendments.select_related("document"),
            "amend_form": forms.AmendmentForm()
            if run.status == AllocationRun.Status.ISSUED and has_role(request.user, Role.OFFICE)
            else None,
            "history": history_of(run),
        },
    )


@login_required
@require_POST
def allocation_action(request: HttpRequest, run_id: int, action: str) -> HttpResponse:
    run = get_editable_or_403(AllocationRun, request.user, pk=run_id)
    try:
        if action == "compute":
            services.compute_allocation(request.user, run)
        elif action == "issue":
            services.issue_allocation(request.user, run)
        else:
            messages.error(request, _("Unknown action."))
            return redirect(run)
    except ValidationError as exc:
        for m in _errors(exc):
            messages.error(request, m)
    else:
        messages.success(request, _("Done."))
    return redirect(run)


@login_required
@require_POST
def allocation_amend(request: HttpRequest, run_id: int) -> HttpResponse:
    """Open an amendment of an issued allocation (office): a draft to preview and issue."""
    run = get_editable_or_403(AllocationRun, request.user, pk=run_id)
    form = forms.AmendmentForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for m in errors:
                messages.error(request, m)
        return redirect(run)
    try:
        amendment = services.amend_allocation(
            request.user, run, form.cleaned_data["reason"], form.cleaned_data["total"]
        )
    except ValidationError as exc:
        for m in _errors(exc):
            messages.error(request, m)
        return redirect(run)
    messages.success(request, _("Amendment opened: check the list, then issue it."))
    return redirect(amendment)


@login_required
def allocation_pdf(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_visible_or_404(AllocationRun, request.user, pk=run_id)
    if run.document is None:
        from django.http import Http404

        raise Http404(_("The allocation has not been issued."))
    field = run.document.pdf_zh if (get_language() or "").startswith("zh") else run.document.pdf_en
    return FileResponse(
        field.open("rb"), content_type="application/pdf", filename=f"{run.document.number}.pdf"
    )


# --------------------------------------------------------------------------------------------- reports


def _table_response(name: str, header: Any, rows: list[list[Any]], fmt: str) -> HttpResponse:
    """CSV (UTF-8 with BOM, for spreadsheets) or XLSX download of a header and rows."""
    stamp = timezone.localdate().isoformat()
    if fmt == "xlsx":
        # amounts and rates as spreadsheet numbers (the shortest repr of a 2-decimal value is exact)
        cells = [[float(v) if isinstance(v, Decimal) else v for v in row] for row in rows]
        response = HttpResponse(
            write_xlsx(list(header), cells, name[:31]),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
        return response
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse("\ufeff" + buf.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    return response


def _report_params(request: HttpRequest) -> tuple[int, str]:
    _may_see_budgets(request)
    year = request.GET.get("year", "")
    by = request.GET.get("by", "field")
    return (
        int(year) if year.isdigit() else timezone.localdate().year - 1,
        by if by in reports.GROUPINGS else "field",
    )


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


@login_required
def report(request: HttpRequest) -> HttpResponse:
    year, by = _report_params(request)
    rep = reports.report(request.user, year, by)
    names = [g.name for g in rep.rows]
    charts = []
    if rep.rows:
        charts.append(
            (
                _("Execution, target attainment and mean score"),
                group_bars_svg(
                    names,
                    {
                        _("execution (%)"): [_f(g.execution) for g in rep.rows],
                        _("targets met (%)"): [_f(g.attainment) for g in rep.rows],
                        _("mean score"): [_f(g.mean_score) for g in rep.rows],
                    },
                ),
            )
        )
        charts.append(
            (
                _("Self-evaluation grades"),
                stacked_counts_svg(
                    names,
                    {str(Grade(k).label): [g.grades[k] for g in rep.rows] for k in reports.GRADES},
                    ylabel=_("laboratories"),
                ),
            )
        )
    return render(
        request,
        "funding/report.html",
        {
            "report": rep,
            "year": year,
            "by": by,
            "charts": charts,
            "groupings": [("field", _("key field")), ("region", _("region"))],
            "grade_labels": [Grade(k).label for k in reports.GRADES],
        },
    )


@login_required
def report_export(request: HttpRequest) -> HttpResponse:
    year, by = _report_params(request)
    rep = reports.report(request.user, year, by)
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    if request.GET.get("table") == "budgets":
        return _table_response(f"budgets-{year}", reports.BUDGET_COLUMNS, reports.budget_table(rep), fmt)
    return _table_response(f"budgets-{year}-by-{by}", reports.GROUP_COLUMNS, reports.group_table(rep), fmt)


@login_required
def expenditure_export(request: HttpRequest, budget_id: int) -> HttpResponse:
    item = get_visible_or_404(Budget.objects.select_related("laboratory"), request.user, pk=budget_id)
    rows = [
        [e.date.isoformat(), e.line, e.source, e.amount, e.description, e.reference]
        for e in item.expenditures.order_by("date", "pk")
    ]
    fmt = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    return _table_response(
        f"expenditures-{item.laboratory.code}-{item.year}", services.EXPENDITURE_COLUMNS, rows, fmt
    )
