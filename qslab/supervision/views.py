"""Supervision pages: validate, check permission, call one service, render."""

from __future__ import annotations

import csv
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.permissions import get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import Laboratory
from qslab.supervision import services
from qslab.supervision.models import (
    AnnualReport,
    CorrectiveAction,
    EvaluationCampaign,
    EvaluationEntry,
    Finding,
    Indicator,
    Inspection,
    Inspector,
    MajorChange,
    RectificationOrder,
    ReportTemplate,
    SpotCheck,
    SpotCheckItem,
    SpotCheckPlan,
)


def _errors(request: HttpRequest, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


def _run(request: HttpRequest, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Call a service; refusals by role become 403, other refusals become messages."""
    try:
        result = fn(*args, **kwargs)
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
        return None
    except ValidationError as exc:
        _errors(request, exc)
        return None
    messages.success(request, _("Done."))
    return result or True


def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    return render(
        request,
        "supervision/home.html",
        {
            "reports": AnnualReport.objects.visible_to(user).select_related("laboratory", "template")[:50],
            "plans": SpotCheckPlan.objects.visible_to(user)[:20],
            "campaigns": EvaluationCampaign.objects.visible_to(user)[:20],
            "orders": RectificationOrder.objects.visible_to(user).select_related("laboratory")[:50],
            "templates": ReportTemplate.objects.visible_to(user)[:10],
            "changes": MajorChange.objects.visible_to(user).select_related("laboratory")[:50],
            "inspections": Inspection.objects.visible_to(user).select_related("laboratory").distinct()[:50],
            "my_labs": Laboratory.objects.editable_by(user).exclude(status__in=services.CLOSED_LAB_STATES)
            if has_role(user, Role.LAB_MANAGER)
            else [],
            "is_office": has_role(user, Role.OFFICE),
        },
    )


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied(_("Only the office and the committee see the supervision overview."))
    rows = services.overview(status=request.GET.get("status", ""), region=request.GET.get("region", ""))
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="supervision-overview.csv"'
        writer = csv.writer(response)
        writer.writerow(
            [
                "code",
                "laboratory",
                "status",
                "risk",
                "report",
                "checks",
                "major findings",
                "grade",
                "open orders",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r.lab.code,
                    r.lab.name,
                    r.lab.status,
                    r.risk,
                    r.report,
                    r.checks,
                    r.major_findings,
                    r.grade,
                    r.open_orders,
                ]
            )
        return response
    return render(request, "supervision/overview.html", {"rows": rows})


# ---- annual reports ------------------------------------------------------------------------------


@login_required
def template(request: HttpRequest, template_id: int) -> HttpResponse:
    tpl = get_visible_or_404(ReportTemplate, request.user, pk=template_id)
    if request.method == "POST":
        if not has_role(request.user, Role.OFFICE):
            raise PermissionDenied(_("Only the committee office sends report templates."))
        _run(request, services.open_reporting, request.user, tpl)
        return redirect(tpl)
    reports = AnnualReport.objects.visible_to(request.user).filter(template=tpl).select_related("laboratory")
    return render(request, "supervision/template.html", {"template": tpl, "reports": reports})


@login_required
def report(request: HttpRequest, report_id: int) -> HttpResponse:
    item = get_visible_or_404(
        AnnualReport.objects.select_related("template", "laboratory"), request.user, pk=report_id
    )
    can_edit = AnnualReport.objects.editable_by(request.user).filter(pk=item.pk).exists()
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("You may not edit this report."))
        if _run(request, services.save_report, request.user, item, request.POST.dict()):
            return redirect(item)
    fields = [(f, item.values.get(f["key"], "")) for f in item.template.fields()]
    return render(
        request,
        "supervision/report.html",
        {
            "report": item,
            "fields": fields,
            "can_edit": can_edit,
            "actions": AnnualReport.workflow.available(item, request.user),
            "history": history_of(item),
        },
    )


@login_required
@require_POST
def report_transition(request: HttpRequest, report_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(AnnualReport, request.user, pk=report_id)
    _run(request, services.move_report, request.user, item, transition, request.POST.get("reason", ""))
    return redirect(item)


# ---- spot checks ---------------------------------------------------------------------------------


def items(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "supervision/items.html",
        {"items": SpotCheckItem.objects.visible_to(request.user).filter(active=True)},
    )


def plan(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    checks = (
        SpotCheck.objects.filter(plan=p, draw__superseded=False)
        .select_related("laboratory")
        .prefetch_related("inspectors")
    )
    editable = set(SpotCheck.objects.editable_by(request.user).filter(plan=p).values_list("pk", flat=True))
    return render(
        request,
        "supervision/plan.html",
        {
            "plan": p,
            "checks": checks,
            "editable": editable,
            "draws": p.draws.all(),
            "is_office": has_role(request.user, Role.OFFICE),
            "outcomes": [c for c in SpotCheck.Outcome.choices if c[0]],
            "today": timezone.localdate().isoformat(),
        },
    )


@login_required
@require_POST
def plan_draw(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office draws."))
    _run(request, services.draw_spot_check, request.user, p, request.POST.get("reason", ""))
    return redirect(p)


@login_required
@require_POST
def plan_publish(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office publishes results."))
    _run(request, services.publish_spot_check_results, request.user, p)
    return redirect(p)


def plan_verify(request: HttpRequest, plan_id: int) -> HttpResponse:
    """Anyone who can see the plan re-runs every recorded draw from its seed and inputs."""
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    results = [services.verify_draw(d) for d in p.draws.all()]
    return render(request, "supervision/verify.html", {"plan": p, "results": results})


@login_required
@require_POST
def check_result(request: HttpRequest, check_id: int) -> HttpResponse:
    check = get_visible_or_404(SpotCheck, request.user, pk=check_id)
    try:
        inspected_on = dt.date.fromisoformat(request.POST.get("inspected_on", ""))
    except ValueError:
        messages.error(request, _("Give the date the inspection ended (YYYY-MM-DD)."))
        return redirect(check.plan)
    try:
        services.enter_result(
            request.user,
            check,
            outcome=request.POST.get("outcome", ""),
            findings=request.POST.get("findings", ""),
            inspected_on=inspected_on,
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, _("Result saved."))
    return redirect(check.plan)


# ---- evaluations ---------------------------------------------------------------------------------


def campaign(request: HttpRequest, campaign_id: int) -> HttpResponse:
    c = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    entries = EvaluationEntry.objects.visible_to(request.user).filter(campaign=c).select_related("laboratory")
    return render(
        request,
        "supervision/campaign.html",
        {
            "campaign": c,
            "entries": entries,
            "indicators": c.indicators.all(),
            "actions": EvaluationCampaign.workflow.available(c, request.user)
            if request.user.is_authenticated
            else [],
        },
    )


@login_required
@require_POST
def campaign_transition(request: HttpRequest, campaign_id: int, transition: str) -> HttpResponse:
    c = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    _run(request, services.move_campaign, request.user, c, transition, request.POST.get("reason", ""))
    return redirect(c)


@login_required
def entry(request: HttpRequest, entry_id: int) -> HttpResponse:
    e = get_visible_or_404(
        EvaluationEntry.objects.select_related("campaign", "laboratory"), request.user, pk=entry_id
    )
    is_expert = e.experts.filter(pk=request.user.pk).exists()
    if request.method == "POST":
        if not is_expert:
            raise PermissionDenied(_("Only the assigned experts score this laboratory."))
        scores = {k.removeprefix("score_"): v for k, v in request.POST.items() if k.startswith("score_")}
        _run(request, services.submit_score_sheet, request.user, e, scores, request.POST.get("comment", ""))
        return redirect(e)
    oversees = has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)
    sheet = e.sheets.filter(expert=request.user).first() if is_expert else None
    return render(
        request,
        "supervision/entry.html",
        {
            "entry": e,
            "scores": services.entry_scores(e) if oversees or e.campaign.status == "published" else {},
            "indicators": e.campaign.indicators.all(),
            "leaves": [i for i in e.campaign.indicators.all() if i.kind == Indicator.Kind.QUALITATIVE],
            "is_expert": is_expert and e.campaign.status == "scoring",
            "sheet": sheet.scores if sheet else {},
            "is_office": has_role(request.user, Role.OFFICE),
        },
    )


@login_required
@require_POST
def entry_report(request: HttpRequest, entry_id: int) -> HttpResponse:
    e = get_visible_or_404(EvaluationEntry, request.user, pk=entry_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office issues evaluation reports."))
    _run(request, services.issue_evaluation_report, request.user, e)
    return redirect(e)


# ---- rectification -------------------------------------------------------------------------------


@login_required
def order_create(request: HttpRequest, lab_id: int) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office orders rectification."))
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    source_id = request.POST.get("inspection") or request.GET.get("inspection")
    source = (
        Inspection.objects.filter(pk=source_id, laboratory=lab).first()
        if (source_id or "").isdigit()
        else None
    )
    if request.method == "POST":
        try:
            days = int(request.POST.get("working_days", "60"))
        except ValueError:
            days = 0
        order = _run(
            request,
            services.order_rectification,
            request.user,
            lab,
            grounds=request.POST.get("grounds", ""),
            working_days=days,
            inspection=source,
        )
        if order:
            return redirect(order)
    return render(request, "supervision/order_form.html", {"lab": lab, "inspection": source})


@login_required
def order(request: HttpRequest, order_id: int) -> HttpResponse:
    o = get_visible_or_404(
        RectificationOrder.objects.select_related("laboratory", "document"), request.user, pk=order_id
    )
    can_respond = RectificationOrder.objects.editable_by(request.user).filter(pk=o.pk).exists()
    if request.method == "POST":
        if not can_respond:
            raise PermissionDenied(_("Only the laboratory's manager answers an open order."))
        _run(request, services.respond_to_order, request.user, o, request.POST.get("response", ""))
        return redirect(o)
    actions = [t for t in RectificationOrder.workflow.available(o, request.user) if t.name != "respond"]
    return render(
        request,
        "supervision/order.html",
        {
            "order": o,
            "can_respond": can_respond,
            "actions": actions,
            "history": history_of(o),
            "is_office": has_role(request.user, Role.OFFICE),
        },
    )


@login_required
@require_POST
def order_transition(request: HttpRequest, order_id: int, transition: str) -> HttpResponse:
    o = get_visible_or_404(RectificationOrder, request.user, pk=order_id)
    if transition == "extend":
        if not has_role(request.user, Role.OFFICE):
            raise PermissionDenied(_("Only the committee office extends a deadline."))
        try:
            days = int(request.POST.get("working_days", "0"))
        except ValueError:
            days = 0
        _run(request, services.extend_order, request.user, o, days, request.POST.get("reason", ""))
    else:
        _run(request, services.move_order, request.user, o, transition, request.POST.get("reason", ""))
    return redirect(o)


def sanctions(request: HttpRequest) -> HttpResponse:
    return render(request, "supervision/sanctions.html", {"labs": services.sanctions()})


# ---- major-change reports ------------------------------------------------------------------------


def _organisation(value: str):  # type: ignore[no-untyped-def]
    from qslab.accounts.models import Organisation

    try:
        return Organisation.objects.get(pk=int(value))
    except (TypeError, ValueError, Organisation.DoesNotExist):
        return None


def _organisations():  # type: ignore[no-untyped-def]
    from qslab.accounts.models import Organisation

    return Organisation.objects.order_by("name_zh")[:500]


@login_required
def change_create(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    if not (has_role(request.user, Role.LAB_MANAGER, scope=lab) or has_role(request.user, Role.OFFICE)):
        raise PermissionDenied(_("Only the laboratory's manager or the office reports a major change."))
    if request.method == "POST":
        change = _run(
            request,
            services.report_major_change,
            request.user,
            lab,
            kind=request.POST.get("kind", ""),
            reason=request.POST.get("reason", ""),
            new_value=request.POST.get("new_value", ""),
            new_title=request.POST.get("new_title", ""),
            new_institution=_organisation(request.POST.get("new_institution", "")),
        )
        if change:
            return redirect(change)
    return render(
        request,
        "supervision/change_form.html",
        {"lab": lab, "kinds": MajorChange.Kind.choices, "organisations": _organisations(), "change": None},
    )


@login_required
def change(request: HttpRequest, change_id: int) -> HttpResponse:
    item = get_visible_or_404(MajorChange.objects.select_related("laboratory"), request.user, pk=change_id)
    can_revise = MajorChange.objects.editable_by(request.user).filter(pk=item.pk).exists()
    if request.method == "POST":
        if not can_revise:
            raise PermissionDenied(_("Only the laboratory's manager revises a returned report."))
        if _run(
            request,
            services.revise_major_change,
            request.user,
            item,
            reason=request.POST.get("reason", ""),
            new_value=request.POST.get("new_value", ""),
            new_title=request.POST.get("new_title", ""),
            new_institution=_organisation(request.POST.get("new_institution", "")),
        ):
            return redirect(item)
    actions = [t for t in MajorChange.workflow.available(item, request.user) if t.name != "resubmit"]
    return render(
        request,
        "supervision/change.html",
        {
            "change": item,
            "can_revise": can_revise,
            "organisations": _organisations() if can_revise else [],
            "actions": actions,
            "history": history_of(item),
        },
    )


@login_required
@require_POST
def change_transition(request: HttpRequest, change_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(MajorChange, request.user, pk=change_id)
    _run(request, services.move_major_change, request.user, item, transition, request.POST.get("reason", ""))
    return redirect(item)


# ---- inspections ---------------------------------------------------------------------------------


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


@login_required
def inspection_create(request: HttpRequest, lab_id: int) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office schedules inspections."))
    lab = get_visible_or_404(Laboratory, request.user, pk=lab_id)
    directory = Inspector.objects.filter(active=True).select_related("user")
    if request.method == "POST":
        planned_on = _date(request.POST.get("planned_on", ""))
        if planned_on is None:
            messages.error(request, _("Give the planned date (YYYY-MM-DD)."))
        else:
            chosen = [i.user for i in directory if str(i.user_id) in request.POST.getlist("inspectors")]
            inspection = _run(
                request,
                services.plan_inspection,
                request.user,
                lab,
                kind=request.POST.get("kind", ""),
                cause=request.POST.get("cause", ""),
                planned_on=planned_on,
                inspectors=chosen,
            )
            if inspection:
                return redirect(inspection)
    return render(
        request,
        "supervision/inspection_form.html",
        {
            "lab": lab,
            "kinds": Inspection.Kind.choices,
            "directory": directory,
            "today": timezone.localdate().isoformat(),
        },
    )


@login_required
def inspection(request: HttpRequest, inspection_id: int) -> HttpResponse:
    item = get_visible_or_404(
        Inspection.objects.select_related("laboratory", "spot_check"), request.user, pk=inspection_id
    )
    user = request.user
    editable = Inspection.objects.editable_by(user).filter(pk=item.pk).exists()
    findings = Finding.objects.visible_to(user).filter(inspection=item).prefetch_related("actions")
    respondable = set(
        CorrectiveAction.objects.editable_by(user)
        .filter(finding__inspection=item)
        .values_list("pk", flat=True)
    )
    action_buttons = {
        a.pk: CorrectiveAction.workflow.available(a, user)
        for f in findings
        for a in f.actions.all()
        if a.status == "responded"
    }
    from qslab.core.models import Attachment

    ct_finding = ContentType.objects.get_for_model(Finding)
    attachments = Attachment.objects.filter(
        content_type=ct_finding, object_id__in=[str(f.pk) for f in findings]
    )
    files: dict[int, list] = {}
    for a in attachments:
        files.setdefault(int(a.object_id), []).append(a)
    return render(
        request,
        "supervision/inspection.html",
        {
            "inspection": item,
            "findings": [(f, files.get(f.pk, [])) for f in findings],
            "can_add": editable and item.status == "planned",
            "can_record": item.status == "planned"
            and bool(Inspection.workflow.available(item, user))
            and any(t.name == "record" for t in Inspection.workflow.available(item, user)),
            "is_office": has_role(user, Role.OFFICE),
            "respondable": respondable,
            "action_buttons": action_buttons,
            "actions": [t for t in Inspection.workflow.available(item, user) if t.name != "record"],
            "severities": Finding.Severity.choices,
            "history": history_of(item),
            "today": timezone.localdate().isoformat(),
        },
    )


@login_required
@require_POST
def inspection_finding(request: HttpRequest, inspection_id: int) -> HttpResponse:
    item = get_visible_or_404(Inspection, request.user, pk=inspection_id)
    _run(
        request,
        services.record_finding,
        request.user,
        item,
        severity=request.POST.get("severity", ""),
        description=request.POST.get("description", ""),
        evidence=request.POST.get("evidence", ""),
        files=request.FILES.getlist("files"),
    )
    return redirect(item)


@login_required
@require_POST
def inspection_record(request: HttpRequest, inspection_id: int) -> HttpResponse:
    item = get_visible_or_404(Inspection, request.user, pk=inspection_id)
    conducted_on = _date(request.POST.get("conducted_on", ""))
    if conducted_on is None:
        messages.error(request, _("Give the date the inspection ended (YYYY-MM-DD)."))
        return redirect(item)
    _run(
        request,
        services.record_inspection,
        request.user,
        item,
        conducted_on=conducted_on,
        summary=request.POST.get("summary", ""),
    )
    return redirect(item)


@login_required
@require_POST
def inspection_transition(request: HttpRequest, inspection_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Inspection, request.user, pk=inspection_id)
    _run(request, services.move_inspection, request.user, item, transition, request.POST.get("reason", ""))
    return redirect(item)


@login_required
@require_POST
def finding_request(request: HttpRequest, finding_id: int) -> HttpResponse:
    finding = get_visible_or_404(Finding.objects.select_related("inspection"), request.user, pk=finding_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office requests corrective action."))
    try:
        days = int(request.POST.get("working_days", "20"))
    except ValueError:
        days = 0
    _run(
        request,
        services.request_correction,
        request.user,
        finding,
        text=request.POST.get("request", ""),
        working_days=days,
    )
    return redirect(finding.inspection)


@login_required
@require_POST
def action_respond(request: HttpRequest, action_id: int) -> HttpResponse:
    action = get_visible_or_404(
        CorrectiveAction.objects.select_related("finding__inspection"), request.user, pk=action_id
    )
    if not CorrectiveAction.objects.editable_by(request.user).filter(pk=action.pk).exists():
        raise PermissionDenied(_("Only the laboratory's manager answers an open corrective-action request."))
    _run(
        request,
        services.respond_to_correction,
        request.user,
        action,
        request.POST.get("response", ""),
        request.FILES.getlist("files"),
    )
    return redirect(action.finding.inspection)


@login_required
@require_POST
def action_transition(request: HttpRequest, action_id: int, transition: str) -> HttpResponse:
    action = get_visible_or_404(
        CorrectiveAction.objects.select_related("finding__inspection"), request.user, pk=action_id
    )
    _run(request, services.move_correction, request.user, action, transition, request.POST.get("reason", ""))
    return redirect(action.finding.inspection)


@login_required
@require_POST
def plan_inspections(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office schedules inspections."))
    planned_on = _date(request.POST.get("planned_on", "")) or timezone.localdate()
    _run(request, services.inspections_from_draw, request.user, p, planned_on)
    return redirect(p)
