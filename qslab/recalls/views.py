"""Pages of traceability and recalls: the company's and office's work pages, the recall scope query
with its exports, and the public safety portal (recall notices, search, statistics, Atom feed).

Public pages render only :attr:`Recall.PUBLIC_FIELDS`; the work pages show the confidential fields
to those :meth:`Recall.confidential_q` admits.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.forms import add_validation_error
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.recalls import services
from qslab.recalls.charts import effectiveness_chart_svg
from qslab.recalls.forms import (
    BatchForm,
    LabReportForm,
    LabTestRequestForm,
    ProducerReportForm,
    ProductForm,
    ProgressForm,
    PublicSearchForm,
    RecallForm,
    ScopeForm,
    SerialLookupForm,
    TraceUploadForm,
    TransitionForm,
)
from qslab.recalls.models import Product, Recall, TraceUpload, is_recall_staff


def _confidential_or_404(request: HttpRequest, recall_id: int) -> Recall:
    """A recall whose confidential side the user may see; 404 otherwise (public pages are elsewhere)."""
    qs = services.confidential_for_user(request.user)
    try:
        return qs.get(pk=recall_id)
    except Recall.DoesNotExist as exc:
        raise Http404(_("Not found.")) from exc


# -- the safety portal (public) --------------------------------------------------------------------


def _risk_links() -> dict[str, str]:
    """Public pages of the risk app, where they exist (consumer alerts, their feed, injury statistics)."""
    from django.urls import NoReverseMatch, reverse

    links = {}
    for key, names in {
        "alerts": ("risk:alerts", "risk:public_alerts"),
        "alerts_feed": ("risk:alerts_feed", "risk:alert_feed", "risk:feed"),
        "injury_statistics": ("risk:statistics",),
    }.items():
        for name in names:
            try:
                links[key] = reverse(name)
                break
            except NoReverseMatch:
                continue
    return links


def safety(request: HttpRequest) -> HttpResponse:
    """The public safety portal: latest recall notices, consumer alerts, statistics, the feeds."""
    return render(
        request,
        "recalls/safety.html",
        {
            "recalls": services.search_public_recalls()[:10],
            "alerts": services.latest_public_alerts(6),
            "links": _risk_links(),
        },
    )


def public_recalls(request: HttpRequest) -> HttpResponse:
    form = PublicSearchForm(request.GET or None)
    qs = services.search_public_recalls()
    if form.is_valid():
        d = form.cleaned_data
        qs = services.search_public_recalls(d["q"], hazard=d["hazard"], remedy=d["remedy"], year=d["year"])
    page = Paginator(qs, 20).get_page(request.GET.get("page"))
    template = "recalls/_public_results.html" if request.htmx else "recalls/public_recalls.html"
    return render(request, template, {"form": form, "page": page})


def serial_lookup(request: HttpRequest) -> HttpResponse:
    """Is my unit recalled? The recalls (and, for the company and staff, the batches) whose serial
    range holds a serial number. Public: anyone sees the published recalls only."""
    form = SerialLookupForm(request.GET or None)
    result = None
    if form.is_valid():
        result = services.lookup_serial(request.user, form.cleaned_data["serial"], form.cleaned_data["gtin"])
    return render(request, "recalls/serial_lookup.html", {"form": form, "result": result})


def public_recall(request: HttpRequest, recall_id: int) -> HttpResponse:
    """The public recall notice: public fields only, whoever asks."""
    recall = services.published_recalls().filter(pk=recall_id).first()
    if recall is None:
        raise Http404(_("Not found."))
    return render(
        request,
        "recalls/public_recall.html",
        {
            "recall": recall,
            "reports": recall.progress_reports.order_by("period_end"),
            "batches": recall.batches.all(),
        },
    )


def statistics(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "recalls/statistics.html",
        {
            "domestic": services.domestic_statistics(),
            "fda": services.fda_statistics(),
            "alerts": services.alert_statistics(),
        },
    )


def recall_chart(request: HttpRequest, recall_id: int) -> HttpResponse:
    """Effectiveness over time (units remedied against units affected), as SVG; public once published."""
    recall = get_visible_or_404(Recall, request.user, pk=recall_id)
    data = services.progress_series(recall)
    svg = effectiveness_chart_svg(
        data["dates"],
        data["remedied"],
        recall.units_affected,
        title=recall.reference,
        labels={
            "remedied": _("units remedied"),
            "affected": _("units affected"),
            "share": _("effectiveness"),
        },
    )
    return HttpResponse(svg, content_type="image/svg+xml")


# -- work pages ------------------------------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    qs = services.confidential_for_user(request.user)
    status = request.GET.get("status", "")
    if status in Recall.Status.values:
        qs = qs.filter(status=status)
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "recalls/home.html",
        {
            "page": page,
            "status": status,
            "statuses": Recall.Status.choices,
            "may_create": services.companies_for(request.user).exists(),
            "due": services.reports_due(request.user)[:20],
            "staff": is_recall_staff(request.user),
        },
    )


@login_required
def recall_create(request: HttpRequest) -> HttpResponse:
    companies = services.companies_for(request.user)
    if not companies.exists():
        raise PermissionDenied(
            _("Only a company (industry client) or the committee office files recall plans.")
        )
    products = Product.objects.editable_by(request.user).filter(company__in=companies)
    form = RecallForm(request.POST or None, products=products, office=has_role(request.user, Role.OFFICE))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        batches = data.pop("batches")
        try:
            recall = services.save_recall(request.user, data, batches=batches)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Recall plan %(ref)s drafted.") % {"ref": recall.reference})
            return redirect(recall)
    return render(request, "recalls/recall_form.html", {"form": form})


@login_required
def recall(request: HttpRequest, recall_id: int) -> HttpResponse:
    item = _confidential_or_404(request, recall_id)
    return render(
        request,
        "recalls/recall.html",
        {
            "recall": item,
            "batches": item.batches.all(),
            "reports": item.progress_reports.select_related("author").order_by("period_end"),
            "actions": Recall.workflow.available(item, request.user),
            "form": TransitionForm(),
            "history": history_of(item),
            "staff": is_recall_staff(request.user),
            # staff: every request for this recall; the company: the delivered reports on its product
            "lab_tests": _lab_requests(request).filter(recall=item),
            "can_edit": Recall.objects.editable_by(request.user).filter(pk=item.pk).exists(),
            "can_report": item.status == Recall.Status.IN_PROGRESS
            and services.may_act_for(request.user, item.company_id),
            "report_deadline": services.progress_deadline(item),
        },
    )


@login_required
def recall_edit(request: HttpRequest, recall_id: int) -> HttpResponse:
    item = get_editable_or_403(services.confidential_for_user(request.user), request.user, pk=recall_id)
    form = RecallForm(request.POST or None, instance=item, office=has_role(request.user, Role.OFFICE))
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        batches = data.pop("batches")
        try:
            services.save_recall(request.user, data, recall=item, batches=batches)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Saved."))
            return redirect(item)
    return render(request, "recalls/recall_form.html", {"form": form, "recall": item})


@login_required
@require_POST
def recall_transition(request: HttpRequest, recall_id: int, transition: str) -> HttpResponse:
    item = _confidential_or_404(request, recall_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_recall(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
def progress_new(request: HttpRequest, recall_id: int) -> HttpResponse:
    item = _confidential_or_404(request, recall_id)
    if not services.may_act_for(request.user, item.company_id):
        raise PermissionDenied(_("Only the responsible company or the committee office reports progress."))
    counted = services.remedied_from_trace(item) if request.method == "GET" else None
    form = ProgressForm(request.POST or None, initial={"units_remedied": counted} if counted else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_progress(request.user, item, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Progress recorded."))
            return redirect(item)
    return render(request, "recalls/progress_form.html", {"form": form, "recall": item, "counted": counted})


@login_required
def recall_scope(request: HttpRequest, recall_id: int) -> HttpResponse:
    """The recall's scope query: affected units, the parties holding them (distributors...) and regions."""
    item = _confidential_or_404(request, recall_id)
    result, error = services.scope_of_recall(item)
    return render(
        request,
        "recalls/scope.html",
        {"recall": item, "result": result, "error": error, **services.scope_context(result)},
    )


@login_required
def recall_scope_export(request: HttpRequest, recall_id: int, what: str, fmt: str) -> HttpResponse:
    item = _confidential_or_404(request, recall_id)
    if what not in services.EXPORTS or fmt not in ("csv", "xlsx"):
        raise Http404(_("Not found."))
    result, error = services.scope_of_recall(item)
    if result is None:
        raise Http404(error or _("Not found."))
    content, content_type, name = services.export_scope(result, what, fmt, stem=item.reference)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def scope_query(request: HttpRequest) -> HttpResponse:
    """An ad-hoc scope query over the supply-chain records the user may see (before a plan exists)."""
    companies = services.trace_companies(request.user)
    if companies is not None and not companies:
        raise PermissionDenied(_("The scope query is for companies, risk staff and authorities."))
    form = ScopeForm(request.GET or None)
    result, error = None, ""
    if form.is_valid():
        result, error = services.run_scope_query(
            request.user,
            gtin=form.cleaned_data["gtin"],
            lots=form.cleaned_data["lot_list"],
            serial_ranges=form.cleaned_data["serial_ranges"],
        )
        fmt = request.GET.get("export", "")
        what = request.GET.get("what", "units")
        if result is not None and fmt in ("csv", "xlsx") and what in services.EXPORTS:
            content, content_type, name = services.export_scope(result, what, fmt, stem="scope")
            response = HttpResponse(content, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="{name}"'
            return response
    return render(
        request,
        "recalls/scope_query.html",
        {"form": form, "result": result, "error": error, **services.scope_context(result)},
    )


# -- products and supply-chain data ------------------------------------------------------------------


@login_required
def products(request: HttpRequest) -> HttpResponse:
    qs = Product.objects.visible_to(request.user).select_related("company", "category")
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "recalls/products.html",
        {"page": page, "may_create": services.companies_for(request.user).exists()},
    )


@login_required
def product_create(request: HttpRequest) -> HttpResponse:
    companies = services.companies_for(request.user)
    if not companies.exists():
        raise PermissionDenied(
            _("Only a company (industry client) or the committee office records products.")
        )
    form = ProductForm(request.POST or None, companies=companies)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.save_product(request.user, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Product recorded."))
            return redirect(item)
    return render(request, "recalls/product_form.html", {"form": form})


@login_required
def product(request: HttpRequest, product_id: int) -> HttpResponse:
    item = get_visible_or_404(
        Product.objects.select_related("company", "category"), request.user, pk=product_id
    )
    can_edit = Product.objects.editable_by(request.user).filter(pk=item.pk).exists()
    form = BatchForm(request.POST or None) if can_edit else None
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("You may view this record but not change it."))
        if form.is_valid():
            try:
                services.add_batch(request.user, item, form.cleaned_data)
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.success(request, _("Batch added."))
                return redirect(item)
    return render(
        request,
        "recalls/product.html",
        {
            "product": item,
            "batches": item.batches.all(),
            "recalls": Recall.objects.visible_to(request.user).filter(product=item),
            "form": form,
        },
    )


@login_required
def uploads(request: HttpRequest) -> HttpResponse:
    companies = services.companies_for(request.user)
    form = TraceUploadForm(request.POST or None, request.FILES or None, companies=companies)
    if request.method == "POST":
        if not companies.exists():
            raise PermissionDenied(_("Only a company or the committee office uploads supply-chain records."))
        if form.is_valid():
            d = form.cleaned_data
            try:
                upload = services.start_trace_upload(request.user, d["company"], d["kind"], d["file"])
            except ValidationError as error:
                add_validation_error(form, error)
            else:
                messages.info(request, _("The file is being checked and loaded; this page follows it."))
                return redirect(upload)
    page = Paginator(
        TraceUpload.objects.visible_to(request.user).select_related("company", "owner"), 25
    ).get_page(request.GET.get("page"))
    return render(
        request, "recalls/uploads.html", {"form": form if companies.exists() else None, "page": page}
    )


@login_required
def upload(request: HttpRequest, upload_id: int) -> HttpResponse:
    item = get_visible_or_404(
        TraceUpload.objects.select_related("company", "owner"), request.user, pk=upload_id
    )
    from qslab.core.models import TaskProgress

    task = (
        TaskProgress.objects.visible_to(request.user).filter(task_id=item.task_id).first()
        if item.task_id
        else None
    )
    return render(request, "recalls/upload.html", {"upload": item, "task": task})


# -- the producer's statutory reports ----------------------------------------------------------------


@login_required
def producer_reports(request: HttpRequest) -> HttpResponse:
    """What producers learned of and must report (deaths, serious injuries...), with the due dates."""
    from qslab.recalls.models import ReportingRule

    companies = services.companies_for(request.user)
    qs = services.producer_reports_for(request.user)
    if not (companies.exists() or is_recall_staff(request.user) or has_role(request.user, Role.AUTHORITY)):
        raise PermissionDenied(_("Producers' reports are for companies, risk staff and authorities."))
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "recalls/producer_reports.html",
        {"page": page, "may_create": companies.exists(), "rules": ReportingRule.objects.filter(active=True)},
    )


@login_required
def producer_report_create(request: HttpRequest) -> HttpResponse:
    companies = services.companies_for(request.user)
    if not companies.exists():
        raise PermissionDenied(_("Only a company (industry client) or the committee office records this."))
    form = ProducerReportForm(request.POST or None, companies=companies)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.record_producer_report(request.user, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request, _("Recorded; the report is due on %(due)s.") % {"due": item.due.isoformat()}
            )
            return redirect(item)
    return render(request, "recalls/producer_report_form.html", {"form": form})


@login_required
def producer_report(request: HttpRequest, report_id: int) -> HttpResponse:
    from qslab.recalls.models import ProducerReport

    item = get_visible_or_404(services.producer_reports_for(request.user), request.user, pk=report_id)
    return render(
        request,
        "recalls/producer_report.html",
        {
            "report": item,
            "actions": ProducerReport.workflow.available(item, request.user),
            "form": TransitionForm(),
            "deadline": services.producer_report_deadline(item),
            "history": history_of(item),
        },
    )


@login_required
@require_POST
def producer_report_transition(request: HttpRequest, report_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(services.producer_reports_for(request.user), request.user, pk=report_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_producer_report(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


# -- laboratory testing (the office requests; the laboratory's managers deliver the report) ---------


def _lab_requests(request: HttpRequest):  # type: ignore[no-untyped-def]
    from qslab.recalls.models import LabTestRequest

    return LabTestRequest.objects.visible_to(request.user).select_related(
        "laboratory", "assessment", "recall", "requested_by"
    )


@login_required
def lab_requests(request: HttpRequest) -> HttpResponse:
    if not (is_recall_staff(request.user) or has_role(request.user, Role.LAB_MANAGER)):
        raise PermissionDenied(_("Laboratory test requests are for risk staff and laboratory managers."))
    page = Paginator(_lab_requests(request), 25).get_page(request.GET.get("page"))
    return render(
        request,
        "recalls/lab_requests.html",
        {"page": page, "may_request": has_role(request.user, Role.OFFICE)},
    )


@login_required
def lab_request_create(request: HttpRequest) -> HttpResponse:
    if not has_role(request.user, Role.OFFICE):
        raise PermissionDenied(_("Only the committee office requests laboratory testing."))
    initial = {k: request.GET[k] for k in ("assessment", "recall") if request.GET.get(k, "").isdigit()}
    form = LabTestRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.request_lab_test(request.user, form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, _("Testing requested; the laboratory's managers are told."))
            return redirect(item)
    return render(request, "recalls/lab_request_form.html", {"form": form})


@login_required
def lab_request(request: HttpRequest, request_id: int) -> HttpResponse:
    from qslab.recalls.models import LabTestRequest

    item = get_visible_or_404(_lab_requests(request), request.user, pk=request_id)
    may_deliver = LabTestRequest.objects.editable_by(request.user).filter(pk=item.pk).exists()
    form = LabReportForm(request.POST or None, request.FILES or None) if may_deliver else None
    if request.method == "POST":
        if not may_deliver:
            try:
                services.check_may_deliver(request.user, item)
            except TransitionRefused as refused:  # already delivered: say so, with 409 Conflict
                messages.error(request, str(refused))
                context = {"item": item, "form": None, "history": history_of(item)}
                return render(request, "recalls/lab_request.html", context, status=409)
            raise PermissionDenied(_("Only the managers of this laboratory deliver its report."))
        if form.is_valid():
            try:
                services.deliver_lab_report(
                    request.user, item, form.cleaned_data["report"], form.cleaned_data["summary"]
                )
            except ValidationError as error:
                form.add_error("report", error.messages)
            except TransitionRefused as refused:  # delivered by another manager meanwhile: 409 Conflict
                messages.error(request, str(refused))
                item.refresh_from_db()
                context = {"item": item, "form": None, "history": history_of(item)}
                return render(request, "recalls/lab_request.html", context, status=409)
            else:
                messages.success(request, _("Report delivered."))
                return redirect(item)
    return render(
        request,
        "recalls/lab_request.html",
        {"item": item, "form": form, "history": history_of(item)},
    )


@login_required
def lab_request_report(request: HttpRequest, request_id: int) -> HttpResponse:
    """The test report, through this checked view only (never a /media/ link)."""
    from qslab.core.uploads import download_response

    item = get_visible_or_404(_lab_requests(request), request.user, pk=request_id)
    if not item.report:
        raise Http404(_("Not found."))
    return download_response(item.report, item.report_name or "report.pdf", "application/pdf")
