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

from qslab.accounts.models import User
from qslab.accounts.roles import Role, has_role
from qslab.core.permissions import get_visible_or_404
from qslab.core.ratelimit import RateLimited, check_public_form, rate_limited_page
from qslab.core.regions import PROVINCES, region_name
from qslab.core.services import history_of
from qslab.core.uploads import download_response
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import OPERATING, Laboratory
from qslab.labs.xlsx import write_xlsx
from qslab.supervision import charts as charts_mod
from qslab.supervision import figures as figures_mod
from qslab.supervision import services, textforms
from qslab.supervision.models import (
    CONFLICT_RULE_LABELS,
    DEFAULT_GRADES,
    DEFAULT_PROPORTIONS,
    AnnualReport,
    Complaint,
    CorrectiveAction,
    EvaluationCampaign,
    EvaluationEntry,
    EvaluationVisit,
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


def _attachments(obj):  # type: ignore[no-untyped-def]
    """The object's files (served by ``supervision:attachment``, never by a /media/ link)."""
    from qslab.core.models import Attachment

    return Attachment.objects.filter(
        content_type=ContentType.objects.get_for_model(obj), object_id=str(obj.pk)
    ).order_by("pk")


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
    g = request.GET
    rows = services.overview(
        status=g.get("status", ""),
        region=g.get("region", ""),
        risk=g.get("risk", ""),
        attention=g.get("attention") == "1",
        q=g.get("q", "").strip(),
    )
    fmt = g.get("format", "")
    stamp = timezone.localdate().isoformat()
    if fmt == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="supervision-overview-{stamp}.csv"'
        response.write("\ufeff")  # so spreadsheet programs read the Chinese names as UTF-8
        writer = csv.writer(response)
        writer.writerow(services.OVERVIEW_COLUMNS)
        writer.writerows(services.overview_table(rows))
        return response
    if fmt == "xlsx":
        response = HttpResponse(
            write_xlsx(services.OVERVIEW_COLUMNS, services.overview_table(rows), "supervision"),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = f'attachment; filename="supervision-overview-{stamp}.xlsx"'
        return response
    query = g.copy()
    query.pop("format", None)
    return render(
        request,
        "supervision/overview.html",
        {
            "rows": rows,
            "query": query.urlencode(),
            "statuses": [
                (s, Laboratory.workflow.state(s).label) for s in (*OPERATING, "suspended", "revoked")
            ],
            "risks": services.RISK_CLASSES,
            "provinces": [(code, region_name(code)) for code in sorted(PROVINCES)],
            "is_office": has_role(request.user, Role.OFFICE),
        },
    )


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
    """The public spot-check item list; the office also sees the items out of use, and edits them."""
    is_office = has_role(request.user, Role.OFFICE)
    qs = SpotCheckItem.objects.visible_to(request.user)
    return render(
        request,
        "supervision/items.html",
        {"items": qs if is_office else qs.filter(active=True), "is_office": is_office},
    )


ITEM_FIELDS = ("code", "name_zh", "name_en", "legal_basis", "inspecting_body", "content", "method")


@login_required
def item_create(request: HttpRequest) -> HttpResponse:
    _require_office_page(request)
    if request.method == "POST":
        item = _run(
            request, services.create_item, request.user, **{f: request.POST.get(f, "") for f in ITEM_FIELDS}
        )
        if item:
            return redirect("supervision:items")
    return render(request, "supervision/item_form.html", {"item": None, "values": request.POST})


@login_required
def item_edit(request: HttpRequest, item_id: int) -> HttpResponse:
    """Edit an item of the list (office), with an optional reason kept in the change log."""
    from qslab.core.permissions import get_editable_or_403

    item = get_editable_or_403(SpotCheckItem, request.user, pk=item_id)
    if request.method == "POST":
        done = _run(
            request,
            services.update_item,
            request.user,
            item,
            reason=request.POST.get("reason", ""),
            active=request.POST.get("active") == "on",
            **{f: request.POST.get(f, "") for f in ITEM_FIELDS},
        )
        if done:
            return redirect("supervision:items")
        item.refresh_from_db()
    values = request.POST or {f: getattr(item, f) for f in (*ITEM_FIELDS, "active")}
    return render(
        request,
        "supervision/item_form.html",
        {"item": item, "values": values, "history": history_of(item)},
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
            "today_date": timezone.localdate(),
        },
    )


@login_required
@require_POST
def plan_draw(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office draws."))
    after = request.POST.get("after", "")
    _run(
        request,
        services.draw_spot_check,
        request.user,
        p,
        request.POST.get("reason", ""),
        int(after) if after.isdigit() else None,
    )
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
    ids = {i for r in results for c in r.rerun.checks for i in c["inspectors"]}
    names = {u.pk: u.get_full_name() or u.username for u in User.objects.filter(pk__in=ids)}
    labs = dict(
        Laboratory.objects.filter(pk__in={c["lab"] for r in results for c in r.rerun.checks}).values_list(
            "pk", "name_zh"
        )
    )
    rows = [
        (
            r,
            [
                (
                    c["code"],
                    labs.get(c["lab"], ""),
                    c["risk"],
                    [names.get(i, str(i)) for i in c["inspectors"]],
                )
                for c in r.rerun.checks
            ],
        )
        for r in results
    ]
    return render(request, "supervision/verify.html", {"plan": p, "results": rows})


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
    is_office = has_role(request.user, Role.OFFICE)
    can_add = is_office and c.status in ("preparing", "scoring")
    charts = ""
    if c.status == "published" or (c.status == "confirmed" and is_office):
        results = services.campaign_results(c)
        charts = charts_mod.grade_bars_svg(
            results["field"], c.grades, _("Grades by key field")
        ) + charts_mod.grade_bars_svg(results["region"], c.grades, _("Grades by province"))
    return render(
        request,
        "supervision/campaign.html",
        {
            "campaign": c,
            "chart": charts,
            "can_add": can_add,
            "can_refresh": is_office and c.status in ("preparing", "scoring"),
            "labs": Laboratory.objects.filter(status__in=OPERATING).order_by("code") if can_add else [],
            "experts": User.objects.filter(
                role_memberships__role=Role.EXPERT, role_memberships__active=True
            ).distinct()
            if can_add
            else [],
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
    # Whether a visit record exists is told only to those who may read it (the lab: once published).
    has_visit = EvaluationVisit.objects.visible_to(request.user).filter(entry=e).exists()
    return render(
        request,
        "supervision/entry.html",
        {
            "entry": e,
            "scores": services.entry_scores(e) if oversees or e.campaign.status == "published" else {},
            "indicators": e.campaign.indicators.all(),
            "leaves": [i for i in e.campaign.indicators.all() if i.kind == Indicator.Kind.QUALITATIVE],
            "quantitative": services.figure_rows(e) if oversees or e.campaign.status == "published" else [],
            "is_expert": is_expert and e.campaign.status == "scoring",
            "sheet": sheet.scores if sheet else {},
            "is_office": has_role(request.user, Role.OFFICE),
            "show_self_report": oversees
            or e.experts.filter(pk=request.user.pk).exists()
            or has_role(request.user, Role.LAB_MANAGER, scope=e.laboratory),
            "show_visit": services.can_record_visit(request.user, e) or has_visit,
            "has_visit": has_visit,
            "can_self_report": e.campaign.status in ("preparing", "scoring")
            and (
                has_role(request.user, Role.OFFICE)
                or has_role(request.user, Role.LAB_MANAGER, scope=e.laboratory)
            ),
        },
    )


@login_required
@require_POST
def entry_self_report(request: HttpRequest, entry_id: int) -> HttpResponse:
    e = get_visible_or_404(
        EvaluationEntry.objects.select_related("campaign", "laboratory"), request.user, pk=entry_id
    )
    if not (
        has_role(request.user, Role.OFFICE) or has_role(request.user, Role.LAB_MANAGER, scope=e.laboratory)
    ):
        raise PermissionDenied(_("Only the laboratory's manager or the office writes the self-evaluation."))
    _run(request, services.submit_self_report, request.user, e, request.POST.get("self_report", ""))
    return redirect(e)


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
        _run(
            request,
            services.respond_to_order,
            request.user,
            o,
            request.POST.get("response", ""),
            request.FILES.getlist("files"),
        )
        return redirect(o)
    actions = [t for t in RectificationOrder.workflow.available(o, request.user) if t.name != "respond"]
    return render(
        request,
        "supervision/order.html",
        {
            "order": o,
            "files": _attachments(o),
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


@login_required
def suspension(request: HttpRequest, lab_id: int) -> HttpResponse:
    """The office suspends a laboratory or restores a suspended one, with a reason."""
    _require_office_page(request)
    lab = get_visible_or_404(Laboratory.objects.select_related("last_document"), request.user, pk=lab_id)
    if request.method == "POST":
        action = request.POST.get("action", "")
        fn = {"suspend": services.suspend_laboratory, "restore": services.restore_laboratory}.get(action)
        if fn is None:
            messages.error(request, _("Choose suspend or restore."))
        elif _run(request, fn, request.user, lab, request.POST.get("reason", "")):
            return redirect("supervision:suspension", lab_id=lab.pk)
        lab.refresh_from_db()
    return render(
        request,
        "supervision/suspension.html",
        {
            "lab": lab,
            "can_suspend": lab.status in services.SUSPENDABLE,
            "can_restore": lab.status == "suspended",
            "orders": lab.rectification_orders.filter(status__in=services.ORDER_OPEN_STATES),
            "events": services.suspension_history(lab),
        },
    )


def sanctions(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "supervision/sanctions.html",
        {"labs": services.sanctions(), "notifications": services.public_notifications()[:10]},
    )


def notifications(request: HttpRequest) -> HttpResponse:
    """The public notifications (通报) of failing laboratories, each a numbered public document."""
    return render(
        request,
        "supervision/notifications.html",
        {"notifications": services.public_notifications(), "is_office": has_role(request.user, Role.OFFICE)},
    )


@login_required
def notification_create(request: HttpRequest) -> HttpResponse:
    """The office issues a public notification naming one or more laboratories (``?lab=<id>`` preselects)."""
    _require_office_page(request)
    choices = Laboratory.objects.filter(status__in=(*OPERATING, "suspended")).order_by("code")
    picked = [int(v) for v in request.POST.getlist("labs") if v.isdigit()] if request.method == "POST" else []
    if request.method == "GET" and (request.GET.get("lab") or "").isdigit():
        picked = [int(request.GET["lab"])]
    if request.method == "POST":
        item = _run(
            request,
            services.notify_publicly,
            request.user,
            list(choices.filter(pk__in=picked)),
            title_zh=request.POST.get("title_zh", ""),
            title_en=request.POST.get("title_en", ""),
            body_zh=request.POST.get("body_zh", ""),
            body_en=request.POST.get("body_en", ""),
        )
        if item:
            return redirect("supervision:notifications")
    return render(
        request,
        "supervision/notification_form.html",
        {"choices": choices, "picked": picked, "post": request.POST},
    )


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
    ct_action = ContentType.objects.get_for_model(CorrectiveAction)
    action_files: dict[int, list] = {}
    for a in Attachment.objects.filter(
        content_type=ct_action,
        object_id__in=[str(a.pk) for f in findings for a in f.actions.all()],
    ):
        action_files.setdefault(int(a.object_id), []).append(a)
    return render(
        request,
        "supervision/inspection.html",
        {
            "inspection": item,
            "findings": [(f, files.get(f.pk, [])) for f in findings],
            "action_files": action_files,
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


EVIDENCE_MODELS = (Finding, CorrectiveAction, RectificationOrder, EvaluationVisit)


@login_required
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """A file of a finding, corrective action, rectification answer or on-site visit record, to those who
    may see that record."""
    from django.http import Http404

    from qslab.core.models import Attachment

    types = [ContentType.objects.get_for_model(m) for m in EVIDENCE_MODELS]
    item = Attachment.objects.filter(pk=attachment_id, content_type__in=types).first()
    if item is None:
        raise Http404(_("No such file."))
    model = item.content_type.model_class()
    get_visible_or_404(model.objects.all().distinct(), request.user, pk=item.object_id)
    return download_response(item.file, item.name)


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


# ---- creating templates, plans and campaigns (office) --------------------------------------------


def _require_office_page(request: HttpRequest) -> None:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office does this."))


def _int(value: str, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
def template_create(request: HttpRequest) -> HttpResponse:
    _require_office_page(request)
    year = timezone.localdate().year
    if request.method == "POST":
        opens_on, due_on = _date(request.POST.get("opens_on", "")), _date(request.POST.get("due_on", ""))
        if opens_on is None or due_on is None:
            messages.error(request, _("Give the opening and due dates (YYYY-MM-DD)."))
        else:
            try:
                sections = textforms.parse_sections(request.POST.get("sections", ""))
            except ValidationError as exc:
                _errors(request, exc)
            else:
                tpl = _run(
                    request,
                    services.create_template,
                    request.user,
                    year=_int(request.POST.get("year", "")),
                    sections=sections,
                    opens_on=opens_on,
                    due_on=due_on,
                )
                if tpl:
                    return redirect(tpl)
    return render(
        request,
        "supervision/template_form.html",
        {
            "year": year - 1,
            "opens_on": dt.date(year, 1, 1).isoformat(),
            "due_on": dt.date(year, 3, 31).isoformat(),
            "example": textforms.SECTIONS_EXAMPLE,
        },
    )


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    _require_office_page(request)
    items = SpotCheckItem.objects.filter(active=True)
    if request.method == "POST":
        chosen = [i for i in items if str(i.pk) in request.POST.getlist("items")]
        plan_ = _run(
            request,
            services.create_plan,
            request.user,
            year=_int(request.POST.get("year", "")),
            name_zh=request.POST.get("name_zh", ""),
            name_en=request.POST.get("name_en", ""),
            items=chosen,
            proportions={k: request.POST.get(f"p_{k}", "0") or "0" for k in services.RISK_CLASSES},
            inspectors_per_lab=_int(request.POST.get("inspectors_per_lab", "2")),
            publication_days=_int(request.POST.get("publication_days", "20")),
            conflict_rules=request.POST.getlist("conflict_rules"),
            seed_source=request.POST.get("seed_source", ""),
            complaint_months=_int(request.POST.get("complaint_months", "12"), -1),
        )
        if plan_:
            return redirect(plan_)
    return render(
        request,
        "supervision/plan_form.html",
        {
            "items": items,
            "year": timezone.localdate().year,
            "defaults": DEFAULT_PROPORTIONS,
            "rules": list(CONFLICT_RULE_LABELS.items()),
        },
    )


@login_required
@require_POST
def plan_seed(request: HttpRequest, plan_id: int) -> HttpResponse:
    p = get_visible_or_404(SpotCheckPlan, request.user, pk=plan_id)
    _require_office_page(request)
    _run(request, services.set_seed_source, request.user, p, request.POST.get("seed_source", ""))
    return redirect(p)


@login_required
def campaign_create(request: HttpRequest) -> HttpResponse:
    _require_office_page(request)
    if request.method == "POST":
        try:
            indicators = textforms.parse_indicators(request.POST.get("indicators", ""))
            grades = textforms.parse_grades(request.POST.get("grades", ""))
            dates, bad = _timetable_dates(request.POST)
            if bad:
                raise ValidationError(_("Not a date (YYYY-MM-DD): %(f)s.") % {"f": ", ".join(bad)})
        except ValidationError as exc:
            _errors(request, exc)
        else:
            c = _run(
                request,
                services.create_campaign,
                request.user,
                code=request.POST.get("code", "").strip(),
                name_zh=request.POST.get("name_zh", ""),
                name_en=request.POST.get("name_en", ""),
                year=_int(request.POST.get("year", "")),
                indicators=indicators,
                grades=grades,
                period_from=_int(request.POST.get("period_from", ""), 0) or None,
                **dates,
            )
            if c:
                return redirect(c)
    return render(
        request,
        "supervision/campaign_form.html",
        {
            "year": timezone.localdate().year,
            "indicators_example": textforms.INDICATORS_EXAMPLE,
            "sources": [(k, src.label) for k, src in figures_mod.SOURCES.items()],
            "grades_example": textforms.grades_text(DEFAULT_GRADES),
        },
    )


@login_required
@require_POST
def campaign_add(request: HttpRequest, campaign_id: int) -> HttpResponse:
    c = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    _require_office_page(request)
    lab = Laboratory.objects.filter(pk=_int(request.POST.get("laboratory", ""))).first()
    if lab is None:
        messages.error(request, _("Choose a laboratory."))
        return redirect(c)
    experts = list(User.objects.filter(pk__in=[_int(x) for x in request.POST.getlist("experts")]))
    lead = next((u for u in experts if u.pk == _int(request.POST.get("lead_expert", ""))), None)
    _run(request, services.add_to_campaign, request.user, c, lab, experts, lead)
    return redirect(c)


@login_required
@require_POST
def entry_figures(request: HttpRequest, entry_id: int) -> HttpResponse:
    """Recompute one laboratory's quantitative figures (office; they are never typed in)."""
    e = get_visible_or_404(EvaluationEntry.objects.select_related("campaign"), request.user, pk=entry_id)
    _require_office_page(request)
    _run(request, services.compute_figures, request.user, e.campaign, e)
    return redirect(e)


@login_required
@require_POST
def campaign_figures(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """Recompute the quantitative figures of every laboratory of the campaign (office)."""
    c = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    _require_office_page(request)
    _run(request, services.compute_figures, request.user, c)
    return redirect(c)


# ---- campaign timetable and on-site visit records ------------------------------------------------


def _timetable_dates(post) -> tuple[dict[str, dt.date | None], list[str]]:  # type: ignore[no-untyped-def]
    """The phase dates from a form; a date that is not YYYY-MM-DD is named."""
    dates: dict[str, dt.date | None] = {}
    bad: list[str] = []
    for key in services.TIMETABLE_FIELDS:
        raw = (post.get(key) or "").strip()
        dates[key] = _date(raw) if raw else None
        if raw and dates[key] is None:
            bad.append(key)
    return dates, bad


@login_required
@require_POST
def campaign_timetable(request: HttpRequest, campaign_id: int) -> HttpResponse:
    """The office sets the phase dates of a campaign before the grades are confirmed."""
    c = get_visible_or_404(EvaluationCampaign, request.user, pk=campaign_id)
    _require_office_page(request)
    dates, bad = _timetable_dates(request.POST)
    if bad:
        messages.error(request, _("Not a date (YYYY-MM-DD): %(f)s.") % {"f": ", ".join(bad)})
    else:
        _run(request, services.set_timetable, request.user, c, **dates)
    return redirect(c)


@login_required
def entry_visit(request: HttpRequest, entry_id: int) -> HttpResponse:
    """The on-site visit record: the office or the lead expert writes it; the office, the committee and
    the entry's experts read it; the laboratory once the results are published."""
    e = get_visible_or_404(
        EvaluationEntry.objects.select_related("campaign", "laboratory", "lead_expert").distinct(),
        request.user,
        pk=entry_id,
    )
    can_edit = services.can_record_visit(request.user, e)
    visit = EvaluationVisit.objects.visible_to(request.user).filter(entry=e).distinct().first()
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("Only the office or the lead expert records the on-site visit."))
        raw = request.POST.get("visited_on", "")
        recorded = _run(
            request,
            services.record_visit,
            request.user,
            e,
            visited_on=_date(raw),
            place=request.POST.get("place", ""),
            experts=list(e.experts.filter(pk__in=[_int(x) for x in request.POST.getlist("experts")])),
            agenda=request.POST.get("agenda", ""),
            summary=request.POST.get("summary", ""),
            files=request.FILES.getlist("files"),
        )
        if recorded:
            return redirect("supervision:entry_visit", entry_id=e.pk)
    if visit is None and not can_edit:
        from django.http import Http404

        raise Http404(_("No on-site visit record to show."))
    present = set(visit.experts_present.values_list("pk", flat=True)) if visit else set()
    return render(
        request,
        "supervision/visit.html",
        {
            "entry": e,
            "visit": visit,
            "can_edit": can_edit,
            "experts": [(u, u.pk in present) for u in e.experts.all()],
            "files": _attachments(visit) if visit else [],
            "post": request.POST,
        },
    )


# ---- complaints ----------------------------------------------------------------------------------


def complaint_create(request: HttpRequest) -> HttpResponse:
    """The public complaint form: anyone, signed in or not, under a real name with a way to reach them
    (``?lab=<id>`` preselects). The office also records complaints received by other channels."""
    user = request.user
    is_office = has_role(user, Role.OFFICE)
    labs = Laboratory.objects.filter(status__in=services.COMPLAINABLE).order_by("code")
    picked = request.POST.get("laboratory") or request.GET.get("lab") or ""
    if request.method == "POST":
        try:
            check_public_form(request, "complaint")
        except RateLimited as exc:
            return rate_limited_page(request, exc)
        lab = labs.filter(pk=_int(picked)).first()
        raw = request.POST.get("received_on", "").strip() if is_office else ""
        received_on = _date(raw) if raw else None
        if lab is None:
            messages.error(request, _("Choose the laboratory the complaint is about."))
        elif raw and received_on is None:
            # A mistyped date must not become today: the date decides the complaint's risk window.
            messages.error(request, _("Not a date (YYYY-MM-DD): %(f)s.") % {"f": raw})
        else:
            complaint = _run(
                request,
                services.file_complaint,
                user,
                lab,
                name=request.POST.get("name", ""),
                contact=request.POST.get("contact", ""),
                subject=request.POST.get("subject", ""),
                description=request.POST.get("description", ""),
                channel=request.POST.get("channel", "online") if is_office else "online",
                received_on=received_on,
                files=request.FILES.getlist("files"),
            )
            if complaint:
                if is_office or user.is_authenticated:
                    return redirect(complaint)
                return render(request, "supervision/complaint_filed.html", {"complaint": complaint})
    name = request.POST.get("name", "")
    if not name and user.is_authenticated and not is_office:
        name = user.get_full_name()
    return render(
        request,
        "supervision/complaint_form.html",
        {
            "labs": labs,
            "picked": picked,
            "post": request.POST,
            "name": name,
            "is_office": is_office,
            "channels": Complaint.Channel.choices,
            "today": timezone.localdate().isoformat(),
            "max_files": services.COMPLAINT_MAX_FILES,
        },
    )


@login_required
def complaints(request: HttpRequest) -> HttpResponse:
    """The office's complaint list (the committee reads it; anyone else sees the complaints they filed)."""
    qs = Complaint.objects.visible_to(request.user).select_related("laboratory")
    status = request.GET.get("status", "")
    if status:
        qs = qs.filter(status=status)
    return render(
        request,
        "supervision/complaints.html",
        {
            "complaints": qs,
            "status": status,
            "statuses": Complaint.workflow.choices(),
            "oversees": services.oversees(request.user),
        },
    )


@login_required
def complaint(request: HttpRequest, complaint_id: int) -> HttpResponse:
    item = get_visible_or_404(Complaint.objects.select_related("laboratory"), request.user, pk=complaint_id)
    is_office = has_role(request.user, Role.OFFICE)
    shows_identity = services.may_see_complainant(request.user, item)
    return render(
        request,
        "supervision/complaint.html",
        {
            "complaint": item,
            "actions": Complaint.workflow.available(item, request.user),
            # the office only: the history names who acted, and a complainant signed in created it
            "history": history_of(item) if is_office else [],
            "reason": services.complaint_reason(item),
            "shows_identity": shows_identity,
            "files": services.complaint_files(item) if shows_identity else [],
            "is_office": is_office,
        },
    )


@login_required
def complaint_file(request: HttpRequest, complaint_id: int, attachment_id: int) -> HttpResponse:
    """A file sent with a complaint: to the office and the complainant only (it may say who complained)."""
    from django.http import Http404

    item = get_visible_or_404(Complaint, request.user, pk=complaint_id)
    if not services.may_see_complainant(request.user, item):
        raise PermissionDenied(_("Only the committee office and the complainant see the complaint's files."))
    file = services.complaint_files(item).filter(pk=attachment_id).first()
    if file is None:
        raise Http404(_("No such file."))
    return download_response(file.file, file.name)


@login_required
@require_POST
def complaint_transition(request: HttpRequest, complaint_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Complaint, request.user, pk=complaint_id)
    _run(request, services.move_complaint, request.user, item, transition, request.POST.get("reason", ""))
    return redirect(item)
