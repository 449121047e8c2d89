"""Pages of open sharing: the public catalogue and calendars, bookings, service requests, usage."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.roles import Role, has_role
from qslab.core.forms import add_validation_error
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.labs.models import Laboratory
from qslab.sharing import forms, services
from qslab.sharing.charts import usage_chart_svg
from qslab.sharing.models import Booking, Invoice, Resource, ServiceRequest, manages_lab


def _lab_or_404(lab_id: int) -> Laboratory:
    return get_visible_or_404(Laboratory, None, pk=lab_id)


def _managed_lab_or_403(user, lab_id: int) -> Laboratory:  # type: ignore[no-untyped-def]
    lab = _lab_or_404(lab_id)
    if not manages_lab(user, lab):
        raise PermissionDenied(_("Only the managers of this laboratory may do this."))
    return lab


def _monday(request: HttpRequest) -> dt.date:
    try:
        day = dt.date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        day = timezone.localdate()
    return day - dt.timedelta(days=day.weekday())


# ---- catalogue -----------------------------------------------------------------------------------


def catalogue(request: HttpRequest) -> HttpResponse:
    g = request.GET
    qs = services.search_catalogue(
        request.user,
        q=g.get("q", "")[:200],
        kind=g.get("kind", ""),
        lab=g.get("lab", "")[:40],
        status=g.get("status", ""),
        region=g.get("region", "")[:6],
    )
    page = Paginator(qs, 25).get_page(g.get("page"))
    managed = Laboratory.objects.editable_by(request.user) if request.user.is_authenticated else []
    return render(
        request,
        "sharing/catalogue.html",
        {
            "page": page,
            "q": g.get("q", ""),
            "kind": g.get("kind", ""),
            "status": g.get("status", ""),
            "kinds": Resource.Kind.choices,
            "statuses": Resource.Status.choices,
            "managed_labs": managed,
        },
    )


def availability(request: HttpRequest) -> HttpResponse:
    """Which bookable resources have a free window of at least N minutes in a week (public)."""
    g = request.GET
    monday = _monday(request)
    try:
        minutes = min(max(int(g.get("minutes", "60")), 15), 24 * 60)
    except ValueError:
        minutes = 60
    found = services.search_availability(
        request.user,
        monday,
        minutes,
        q=g.get("q", "")[:200],
        kind=g.get("kind", ""),
        lab=g.get("lab", "")[:40],
        region=g.get("region", "")[:6],
    )
    page = Paginator(found, 25).get_page(g.get("page"))
    return render(
        request,
        "sharing/availability.html",
        {
            "page": page,
            "count": len(found),
            "week": monday,
            "minutes": minutes,
            "q": g.get("q", ""),
            "kind": g.get("kind", ""),
            "kinds": Resource.Kind.choices,
        },
    )


def _week_context(request: HttpRequest, item: Resource) -> dict:
    monday = _monday(request)
    return {
        "resource": item,
        "days": services.week_of(item, request.user, monday),
        "monday": monday,
        "previous": monday - dt.timedelta(days=7),
        "next": monday + dt.timedelta(days=7),
    }


def _tariff_rows(item: Resource, user) -> list[dict]:  # type: ignore[no-untyped-def]
    """The price list by user class (the academic class falls back on the industry price)."""
    from qslab.sharing.models import Tariff, UserClass

    if not item.tariffs.exists():
        return []
    mine = services.price_quote(user, item).user_class if user.is_authenticated else None
    return [
        {
            "label": label,
            "mine": value == mine,
            "hour": item.price_for(value, Tariff.Unit.HOUR),
            "sample": item.price_for(value, Tariff.Unit.SAMPLE),
        }
        for value, label in UserClass.choices
    ]


def resource(request: HttpRequest, resource_id: int) -> HttpResponse:
    item = get_visible_or_404(
        Resource.objects.select_related("lab").prefetch_related("tariffs"), request.user, pk=resource_id
    )
    can_edit = Resource.objects.editable_by(request.user).filter(pk=item.pk).exists()
    return render(
        request,
        "sharing/resource.html",
        {
            **_week_context(request, item),
            "can_edit": can_edit,
            "blackouts": item.blackouts.filter(ends__gte=timezone.now())[:20],
            "booking_form": forms.BookingForm(),
            "tariffs": _tariff_rows(item, request.user),
        },
    )


@login_required
def tariffs(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The lab manager sets the resource's prices per hour and per sample for each user class."""
    item = get_editable_or_403(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    form = forms.TariffForm(request.POST or None, resource=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.set_tariffs(request.user, item, form.prices())
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Prices saved."))
            return redirect(item)
    return render(
        request,
        "sharing/simple_form.html",
        {"form": form, "title": _("Prices of %(resource)s") % {"resource": item}, "back": item},
    )


def resource_week(request: HttpRequest, resource_id: int) -> HttpResponse:
    """The week calendar alone (htmx swaps it in when the user pages through weeks)."""
    item = get_visible_or_404(Resource, request.user, pk=resource_id)
    return render(request, "sharing/_week.html", _week_context(request, item))


def resource_ics(request: HttpRequest, resource_id: int) -> HttpResponse:
    item = get_visible_or_404(Resource, request.user, pk=resource_id)
    bookings = item.bookings.filter(status__in=("requested", "approved", "checked_in")).select_related(
        "resource"
    )
    body = services.ics_for(bookings, item.name_en)
    return HttpResponse(body, content_type="text/calendar; charset=utf-8")


@login_required
def resource_create(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _managed_lab_or_403(request.user, lab_id)
    form = forms.ResourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.save_resource(request.user, lab, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Resource saved."))
            return redirect(item)
    return render(request, "sharing/resource_form.html", {"form": form, "lab": lab})


@login_required
def resource_edit(request: HttpRequest, resource_id: int) -> HttpResponse:
    item = get_editable_or_403(Resource, request.user, pk=resource_id)
    form = forms.ResourceForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_resource(request.user, item.lab, form.cleaned_data, resource=item)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Resource saved."))
            return redirect(item)
    return render(request, "sharing/resource_form.html", {"form": form, "lab": item.lab, "resource": item})


@login_required
def blackout_create(request: HttpRequest, resource_id: int) -> HttpResponse:
    item = get_editable_or_403(Resource, request.user, pk=resource_id)
    form = forms.BlackoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_blackout(request.user, item, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Blackout saved."))
            return redirect(item)
    return render(
        request, "sharing/simple_form.html", {"form": form, "title": _("Close for a period"), "back": item}
    )


@login_required
def qualify(request: HttpRequest, resource_id: int) -> HttpResponse:
    from qslab.accounts.models import User

    item = get_editable_or_403(Resource, request.user, pk=resource_id)
    form = forms.QualifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        person = User.objects.filter(username=form.cleaned_data["username"]).first()
        if person is None:
            form.add_error("username", _("There is no user with this name."))
        else:
            services.grant_qualification(request.user, item, person)
            messages.success(request, _("%(user)s may now book this resource.") % {"user": person.username})
            return redirect(item)
    return render(
        request, "sharing/simple_form.html", {"form": form, "title": _("Qualify a user"), "back": item}
    )


@login_required
def book(request: HttpRequest, resource_id: int) -> HttpResponse:
    item = get_visible_or_404(Resource.objects.select_related("lab"), request.user, pk=resource_id)
    form = forms.BookingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            booking_row = services.book_resource(
                request.user, item, d["starts"], d["ends"], d["purpose"], d.get("repeat_weeks") or 1
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request,
                _("Booked.")
                if booking_row.status == "approved"
                else _("Requested: the laboratory will approve it."),
            )
            return redirect(booking_row)
    return render(request, "sharing/book.html", {"form": form, "resource": item})


# ---- bookings ------------------------------------------------------------------------------------


@login_required
def bookings(request: HttpRequest) -> HttpResponse:
    qs = Booking.objects.visible_to(request.user).select_related("resource", "resource__lab", "user")
    status = request.GET.get("status", "")
    if status in dict(Booking.workflow.choices()):
        qs = qs.filter(status=status)
    page = Paginator(qs.order_by("-starts"), 30).get_page(request.GET.get("page"))
    return render(
        request,
        "sharing/bookings.html",
        {"page": page, "status": status, "statuses": Booking.workflow.choices()},
    )


@login_required
def my_ics(request: HttpRequest) -> HttpResponse:
    qs = Booking.objects.filter(user=request.user, status__in=("requested", "approved", "checked_in"))
    return HttpResponse(
        services.ics_for(qs.select_related("resource"), "qslab bookings"),
        content_type="text/calendar; charset=utf-8",
    )


@login_required
def booking(request: HttpRequest, booking_id: int) -> HttpResponse:
    item = get_visible_or_404(
        Booking.objects.select_related("resource", "resource__lab", "user"), request.user, pk=booking_id
    )
    return render(
        request,
        "sharing/booking.html",
        {
            "booking": item,
            "actions": Booking.workflow.available(item, request.user),
            "history": history_of(item),
            "form": forms.TransitionForm(),
        },
    )


@login_required
@require_POST
def booking_transition(request: HttpRequest, booking_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Booking, request.user, pk=booking_id)
    form = forms.TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_booking(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


# ---- service requests and billing ----------------------------------------------------------------


@login_required
def requests(request: HttpRequest) -> HttpResponse:
    qs = ServiceRequest.objects.visible_to(request.user).select_related("lab", "client")
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(request, "sharing/requests.html", {"page": page})


@login_required
def request_create(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _lab_or_404(lab_id)
    form = forms.ServiceRequestForm(request.POST or None, lab=lab, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.request_service(request.user, lab, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Request sent to the laboratory."))
            return redirect(item)
    return render(
        request,
        "sharing/simple_form.html",
        {"form": form, "title": _("Request a service from %(lab)s") % {"lab": lab}},
    )


@login_required
def service_request(request: HttpRequest, request_id: int) -> HttpResponse:
    item = get_visible_or_404(
        ServiceRequest.objects.select_related("lab", "client", "resource", "report"),
        request.user,
        pk=request_id,
    )
    with_forms = ("quote", "receive", "deliver")  # these have their own forms below
    actions = [t for t in ServiceRequest.workflow.available(item, request.user) if t.name not in with_forms]
    manager = manages_lab(request.user, item.lab)
    can_quote = item.status == "requested" and manager
    samples = list(item.sample_items.prefetch_related("custody", "custody__by"))
    return render(
        request,
        "sharing/request.html",
        {
            "item": item,
            "actions": actions,
            "can_quote": can_quote,
            "quote_form": forms.QuoteForm(initial={"quote_amount": item.estimate}),
            "history": history_of(item),
            "invoice": Invoice.objects.filter(service_request=item).select_related("document").first(),
            "samples": samples,
            "can_receive": manager and item.status == "accepted",
            "can_report": manager and item.status in ("received", "in_work"),
            "custody_form": forms.CustodyForm(request=item)
            if manager and any(x.disposition == "in_custody" for x in samples)
            else None,
        },
    )


@login_required
def request_receive(request: HttpRequest, request_id: int) -> HttpResponse:
    """The lab records the samples as they arrived: one row per sample, with its condition."""
    item = get_editable_or_403(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    initial = [{"description": f"{item.title} #{i + 1}"} for i in range(min(item.samples, 100))]
    formset = forms.SampleReceiptFormSet(request.POST or None, initial=initial, prefix="samples")
    form = forms.ReceiptForm(request.POST or None)
    errors: list[str] = []
    if request.method == "POST" and formset.is_valid() and form.is_valid():
        rows = [f.cleaned_data for f in formset.forms if f.cleaned_data.get("description")]
        try:
            services.receive_samples(
                request.user, item, rows, form.cleaned_data["location"], form.cleaned_data["note"]
            )
        except ValidationError as exc:
            errors = exc.messages
        except TransitionRefused as exc:
            if exc.code == TransitionRefused.FORBIDDEN:
                raise PermissionDenied(str(exc)) from exc
            errors = [str(exc)]
        else:
            messages.success(request, _("Sample receipt recorded."))
            return redirect(item)
    return render(
        request,
        "sharing/receive.html",
        {"item": item, "formset": formset, "form": form, "errors": errors},
    )


@login_required
@require_POST
def request_custody(request: HttpRequest, request_id: int) -> HttpResponse:
    """Add a link to a sample's chain of custody."""
    item = get_editable_or_403(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    form = forms.CustodyForm(request.POST, request=item)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect(item)
    d = form.cleaned_data
    try:
        services.record_custody(request.user, d["sample"], d["action"], d["holder"], d["location"], d["note"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Custody recorded."))
    return redirect(item)


@login_required
def request_report(request: HttpRequest, request_id: int) -> HttpResponse:
    """The lab writes the results and issues the numbered test report (zh + en PDF)."""
    item = get_editable_or_403(ServiceRequest.objects.select_related("lab"), request.user, pk=request_id)
    form = forms.ResultsForm(
        request.POST or None,
        initial={"method": item.method, "results_zh": item.results_zh, "results_en": item.results_en},
    )
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            if "issue" in request.POST:
                item = services.issue_report(
                    request.user, item, d["results_zh"], d["results_en"], d["method"]
                )
            else:
                services.save_results(request.user, item, d["results_zh"], d["results_en"], d["method"])
        except ValidationError as exc:
            add_validation_error(form, exc)
        except TransitionRefused as exc:
            if exc.code == TransitionRefused.FORBIDDEN:
                raise PermissionDenied(str(exc)) from exc
            form.add_error(None, str(exc))
        else:
            if item.report_id:
                messages.success(
                    request, _("Test report %(number)s issued.") % {"number": item.report.number}
                )
            else:
                messages.success(request, _("Results saved."))
            return redirect(item)
    return render(request, "sharing/report_form.html", {"item": item, "form": form})


@login_required
@require_POST
def request_quote(request: HttpRequest, request_id: int) -> HttpResponse:
    item = get_editable_or_403(ServiceRequest, request.user, pk=request_id)
    form = forms.QuoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter the quoted price as a number of zero or more."))
        return redirect(item)
    try:
        services.quote_request(
            request.user, item, form.cleaned_data["quote_amount"], form.cleaned_data["quote_note"]
        )
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Quote sent."))
    return redirect(item)


@login_required
@require_POST
def request_transition(request: HttpRequest, request_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(ServiceRequest, request.user, pk=request_id)
    form = forms.TransitionForm(request.POST)
    form.is_valid()
    try:
        services.move_request(request.user, item, transition, form.cleaned_data.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code == TransitionRefused.FORBIDDEN:
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


@login_required
def invoices(request: HttpRequest) -> HttpResponse:
    qs = Invoice.objects.visible_to(request.user).select_related("lab", "client", "document")
    if request.GET.get("format") == "csv":
        import csv

        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="invoices.csv"'
        response.write("\ufeff")  # so spreadsheet programs read the Chinese names as UTF-8
        writer = csv.writer(response)
        writer.writerow(["number", "laboratory", "client", "period", "total_cny", "issued"])
        for i in qs:
            writer.writerow(
                [i.document.number, i.lab.code, i.client.username, i.period, i.total, i.created.date()]
            )
        return response
    page = Paginator(qs, 30).get_page(request.GET.get("page"))
    return render(request, "sharing/invoices.html", {"page": page})


@login_required
def statement(request: HttpRequest, lab_id: int) -> HttpResponse:
    """The lab manager issues a client's monthly statement of completed bookings."""
    from qslab.accounts.models import User

    lab = _managed_lab_or_403(request.user, lab_id)
    today = timezone.localdate()
    form = forms.StatementForm(request.POST or None, initial={"year": today.year, "month": today.month})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        client = User.objects.filter(username=d["username"]).first()
        if client is None:
            form.add_error("username", _("There is no user with this name."))
        else:
            try:
                invoice = services.issue_monthly_statement(request.user, lab, client, d["year"], d["month"])
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(
                    request, _("Statement %(number)s issued.") % {"number": invoice.document.number}
                )
                return redirect("sharing:invoices")
    return render(
        request,
        "sharing/simple_form.html",
        {"form": form, "title": _("Monthly statement of %(lab)s") % {"lab": lab}},
    )


# ---- usage ---------------------------------------------------------------------------------------


def may_read_usage(user, lab: Laboratory) -> bool:  # type: ignore[no-untyped-def]
    return manages_lab(user, lab) or has_role(user, Role.COMMITTEE)


@login_required
def usage(request: HttpRequest, lab_id: int) -> HttpResponse:
    lab = _lab_or_404(lab_id)
    if not may_read_usage(request.user, lab):
        raise Http404(_("Not found."))
    try:
        year = int(request.GET.get("year", ""))
    except ValueError:
        year = timezone.localdate().year
    summary = services.usage_summary(lab, year)
    zh = (get_language() or "en").startswith("zh")
    rows = summary["resources"]
    chart = usage_chart_svg(
        [r["name_zh"] if zh else r["name_en"] for r in rows],
        [r["hours"] - r["external_hours"] for r in rows],
        [r["external_hours"] for r in rows],
        title=_("Machine hours %(year)s") % {"year": year},
        legend=(_("internal"), _("external")),
        ylabel=_("hours"),
    )
    return render(
        request,
        "sharing/usage.html",
        {
            "lab": lab,
            "summary": summary,
            "chart": chart,
            "year": year,
            "can_bill": manages_lab(request.user, lab),
        },
    )
