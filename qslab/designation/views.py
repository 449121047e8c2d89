"""Pages of the designation app: calls (public), applications, the office's desk (formal check,
assignment, ranking, decision), experts' reviews, committee votes and the public notices."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.models import User
from qslab.accounts.roles import Role, has_role
from qslab.core.forms import add_validation_error
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.ratelimit import RateLimited, check_public_form, rate_limited_page
from qslab.core.services import history_of
from qslab.core.uploads import download_response, harden_download
from qslab.core.workflow import TransitionRefused
from qslab.designation import services
from qslab.designation.forms import (
    AcceptanceRequestForm,
    ApplicationForm,
    BudgetForm,
    CallForm,
    CoApplicantForm,
    CommentForm,
    CommitteeMeetingForm,
    ConsensusForm,
    CriteriaForm,
    DecisionForm,
    DeclarationForm,
    ExpertProfileForm,
    ExpertRegistrationForm,
    FileForm,
    IndustryScopeForm,
    MembershipForm,
    MinutesForm,
    ObjectionForm,
    ObjectionHandleForm,
    ProgressReportForm,
    ReviewMeetingForm,
    SiteVisitForm,
    TargetedForm,
    TemplateForm,
    TransitionForm,
    VetForm,
    VoteReasonForm,
)
from qslab.designation.models import (
    Application,
    ApplicationFile,
    Assignment,
    Call,
    ConflictDeclaration,
    ExpertProfile,
    Objection,
    PublicNotice,
    Review,
)


def _require(user: Any, role: str, message: str) -> None:
    if not has_role(user, role):
        raise PermissionDenied(message)


# ---- calls ----------------------------------------------------------------------------------------


def calls(request: HttpRequest) -> HttpResponse:
    qs = Call.objects.visible_to(request.user).prefetch_related("fields")
    return render(
        request, "designation/calls.html", {"calls": qs, "can_create": has_role(request.user, Role.OFFICE)}
    )


def call(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    user = request.user
    context = {
        "call": item,
        "criteria": item.criteria.all(),
        "actions": Call.workflow.available(item, user) if user.is_authenticated else [],
        "office": has_role(user, Role.OFFICE),
        "meetings": item.review_meetings.all() if has_role(user, Role.OFFICE) else [],
        "templates": [(t, TemplateForm(auto_id=f"t{t.pk}-%s")) for t in item.templates.all()],
        "template_form": TemplateForm(),
        "can_apply": item.is_open and has_role(user, Role.LAB_MANAGER),
        "applications": Application.objects.visible_to(user).filter(call=item)
        if user.is_authenticated
        else [],
    }
    return render(request, "designation/call.html", context)


@login_required
def call_create(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.OFFICE, _("Only the committee office publishes calls."))
    return _call_form(request, None)


@login_required
def call_edit(request: HttpRequest, call_id: int) -> HttpResponse:
    return _call_form(request, get_editable_or_403(Call, request.user, pk=call_id))


def _call_form(request: HttpRequest, item: Call | None) -> HttpResponse:
    form = CallForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_call(
                request.user, form.cleaned_data, Call.objects.get(pk=item.pk) if item else None
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(saved)
    return render(request, "designation/form.html", {"form": form, "title": _("Call"), "back": item})


@login_required
def call_criteria(request: HttpRequest, call_id: int) -> HttpResponse:
    from qslab.designation.models import Stage

    item = get_editable_or_403(Call, request.user, pk=call_id)
    stage = _stage(request.GET.get("stage") or Stage.DESIGNATION)
    initial = "\n".join(
        f"{c.code} | {c.name_zh} | {c.name_en} | {c.weight} | {c.max_score} | "
        + "; ".join(f"{k}={v}" for k, v in c.anchors.items())
        for c in item.criteria.filter(stage=stage)
    )
    form = CriteriaForm(request.POST or None, initial={"lines": initial})
    if request.method == "POST" and form.is_valid():
        rows, errors = services.parse_criteria(form.cleaned_data["lines"])
        for e in errors:
            form.add_error("lines", e)
        if not errors:
            try:
                services.set_criteria(request.user, item, rows, stage)
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(request, _("Criteria saved."))
                return redirect(item)
    return render(
        request,
        "designation/form.html",
        {"form": form, "title": _("Review criteria") + f" · {Stage(stage).label}", "back": item},
    )


@login_required
@require_POST
def call_transition(request: HttpRequest, call_id: int, transition: str) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    try:
        services.move_call(request.user, item, transition, request.POST.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code in (TransitionRefused.FORBIDDEN, TransitionRefused.UNKNOWN):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done."))
    return redirect(item)


# ---- applications ---------------------------------------------------------------------------------


@login_required
def applications(request: HttpRequest) -> HttpResponse:
    qs = Application.objects.visible_to(request.user).select_related("call", "institution")
    status = request.GET.get("status")
    if status:
        qs = qs.filter(status=status)
    return render(request, "designation/applications.html", {"applications": qs})


@login_required
def apply(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    _require(request.user, Role.LAB_MANAGER, _("Applications are made by a supporting institution's user."))
    form = ApplicationForm(
        request.POST or None, initial={"region_code": getattr(request.user.organisation, "region_code", "")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            app = services.start_application(request.user, item, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Application saved as a draft."))
            return redirect(app)
    return render(request, "designation/form.html", {"form": form, "title": _("Apply"), "back": item})


@login_required
def targeted(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    _require(request.user, Role.OFFICE, _("Only the committee office opens a targeted designation."))
    form = TargetedForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            app = services.open_targeted(
                request.user, item, form.cleaned_data["institution"], form.cleaned_data
            )
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Targeted designation opened."))
            return redirect(app)
    return render(
        request, "designation/form.html", {"form": form, "title": _("Targeted designation"), "back": item}
    )


@login_required
def application(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_visible_or_404(
        Application.objects.select_related("call", "institution"), request.user, pk=application_id
    )
    user = request.user
    staff = has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)
    applicant = not staff and Application.objects.editable_by(user).filter(pk=app.pk).exists()
    own = not staff and (
        app.created_by_id == user.pk or (user.organisation_id and user.organisation_id == app.institution_id)
    )
    context = {
        "app": app,
        "actions": services.available_actions(app, user),
        "checklist": services.CHECKLIST,
        "editable": Application.objects.editable_by(user).filter(pk=app.pk).exists(),
        "applicant": applicant,
        "co_form": CoApplicantForm(),
        "file_form": FileForm(),
        "staff": staff,
        "office": has_role(user, Role.OFFICE),
        "committee": has_role(user, Role.COMMITTEE) and app.status == "reviewed",
        "expert": has_role(user, Role.EXPERT),
        "declaration": ConflictDeclaration.objects.filter(application=app, expert=user).first(),
        "declaration_form": DeclarationForm(),
        "vote_form": VoteReasonForm(),
        "member_conflict": services.member_conflict(user, app) if has_role(user, Role.COMMITTEE) else None,
        "agenda_item": services.current_agenda_item(app),
        "moderating": [a for a in app.assignments.filter(expert=user, moderator=True, released=True)],
        "on_panel": app.assignments.filter(expert=user, released=True).exists(),
        "visits": app.site_visits.all() if staff else [],
        "consensus_reports": app.consensus_reports.all() if staff else [],
        "decision_form": DecisionForm(),
        "assignments": app.assignments.select_related("expert") if staff else [],
        "votes": app.votes.select_related("member") if staff else [],
        "decisions": app.decisions.all() if staff else [],
        "summary": services.evaluation_for(user, app) if (staff or own) else None,
        "budget_lines": app.budget_lines.all(),
        "budget_totals": services.budget_totals(app),
        "printable": services.may_print_application(user, app),
        "construction": getattr(app, "construction", None),
        "history": history_of(app) if staff else [],
        "notice": getattr(app, "public_notice", None),
    }
    return render(request, "designation/application.html", context)


def application_pdf_response(user: Any, application_id: int) -> HttpResponse:
    """The whole application as a bilingual PDF download, for whoever may read it (not a conflicted
    expert); 404 for anyone else. The page below and the API both answer with it."""
    app = get_visible_or_404(
        Application.objects.select_related("call", "institution"), user, pk=application_id
    )
    if not services.may_print_application(user, app):
        raise Http404(_("Not found."))
    response = HttpResponse(services.application_pdf(app), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="application-{app.pk}.pdf"'
    return harden_download(response)


@login_required
def application_pdf(request: HttpRequest, application_id: int) -> HttpResponse:
    return application_pdf_response(request.user, application_id)


@login_required
def application_budget(request: HttpRequest, application_id: int) -> HttpResponse:
    """The construction plan's budget as lines per year, budget line and source; all or nothing."""
    app = get_editable_or_403(Application, request.user, pk=application_id)
    initial = "\n".join(
        f"{b.year} | {b.category} | {b.source} | {b.amount}" + (f" | {b.note}" if b.note else "")
        for b in app.budget_lines.all()
    )
    form = BudgetForm(request.POST or None, initial={"lines": initial})
    if request.method == "POST" and form.is_valid():
        rows, errors = services.parse_budget_lines(form.cleaned_data["lines"])
        for e in errors:
            form.add_error("lines", e)
        if not errors:
            try:
                services.set_budget_lines(request.user, app, rows)
            except ValidationError as exc:
                for messages_ in exc.message_dict.values():
                    form.add_error("lines", messages_)
            else:
                messages.success(request, _("Budget saved."))
                return redirect(app)
    first, last = services.budget_years(app.call)
    title = _("Budget of the construction plan (%(first)d–%(last)d)") % {"first": first, "last": last}
    return render(request, "designation/form.html", {"form": form, "title": title, "back": app})


@login_required
def application_edit(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_editable_or_403(Application, request.user, pk=application_id)
    form = ApplicationForm(request.POST or None, instance=app)
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_application(request.user, Application.objects.get(pk=app.pk), form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(app)
    return render(request, "designation/form.html", {"form": form, "title": _("Application"), "back": app})


@login_required
@require_POST
def co_applicant(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_editable_or_403(Application, request.user, pk=application_id)
    form = CoApplicantForm(request.POST)
    if form.is_valid():
        try:
            services.add_co_applicant(
                request.user, app, form.cleaned_data["organisation"], form.cleaned_data["role"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Co-applicant added."))
    else:
        messages.error(request, _("Choose an organisation and its role."))
    return redirect(app)


@login_required
@require_POST
def attach(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_editable_or_403(Application, request.user, pk=application_id)
    form = FileForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.attach_file(request.user, app, form.cleaned_data["file"], form.cleaned_data["kind"])
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("File attached."))
    elif form.errors.get("file") and request.FILES.get("file"):
        messages.error(request, " ".join(form.errors["file"]))
    else:
        messages.error(request, _("Choose a PDF file and its type."))
    return redirect(app)


@login_required
def attachment(request: HttpRequest, file_id: int) -> FileResponse:
    item = get_visible_or_404(ApplicationFile, request.user, pk=file_id)
    return download_response(item.file, item.name, content_type="application/pdf")


@login_required
@require_POST
def application_transition(request: HttpRequest, application_id: int, transition: str) -> HttpResponse:
    app = get_visible_or_404(Application, request.user, pk=application_id)
    form = TransitionForm(request.POST)
    form.is_valid()
    checklist = {code: request.POST.get(f"check_{code}") == "on" for code, _label in services.CHECKLIST}
    try:
        services.move_application(
            request.user, app, transition, form.cleaned_data.get("reason", ""), checklist
        )
    except TransitionRefused as exc:
        if exc.code in (TransitionRefused.FORBIDDEN, TransitionRefused.UNKNOWN):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Done."))
    return redirect(app)


@login_required
@require_POST
def declare(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_visible_or_404(Application, request.user, pk=application_id)
    _require(request.user, Role.EXPERT, _("Only experts declare conflicts of interest."))
    form = DeclarationForm(request.POST)
    form.is_valid()
    services.declare_conflict(
        request.user, app, form.cleaned_data.get("conflicted", False), form.cleaned_data.get("note", "")
    )
    messages.success(request, _("Declaration recorded."))
    return redirect("designation:applications") if form.cleaned_data.get("conflicted") else redirect(app)


@login_required
@require_POST
def vote(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_visible_or_404(Application, request.user, pk=application_id)
    _require(request.user, Role.COMMITTEE, _("Only committee members vote."))
    form = VoteReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a vote."))
        return redirect(app)
    try:
        services.cast_vote(
            request.user, app, form.cleaned_data["choice"], form.cleaned_data.get("reason", "")
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("Vote recorded."))
    return redirect(app)


@login_required
@require_POST
def decide(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_visible_or_404(Application, request.user, pk=application_id)
    _require(request.user, Role.OFFICE, _("Only the committee office records the committee's decision."))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The minutes are required."))
        return redirect(app)
    try:
        services.record_decision(request.user, app, form.cleaned_data["minutes"], form.cleaned_data["defer"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except TransitionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Decision recorded."))
    return redirect(app)


# ---- assignment, ranking ---------------------------------------------------------------------------


@login_required
def assignment(request: HttpRequest, call_id: int) -> HttpResponse:
    from qslab.designation.models import Stage

    item = get_visible_or_404(Call, request.user, pk=call_id)
    _require(request.user, Role.OFFICE, _("Only the committee office assigns experts."))
    stage = _stage(request.POST.get("stage") or request.GET.get("stage") or Stage.DESIGNATION)
    back = f"{reverse('designation:assignment', args=[item.pk])}?stage={stage}"
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "propose":
                _created, result = services.propose_assignment(request.user, item, stage)
                messages.success(request, result.summary())
            elif action == "release":
                n = services.release_assignments(request.user, item, stage)
                messages.success(request, _("%(n)d applications released to the experts.") % {"n": n})
            elif action == "add":
                app = get_visible_or_404(
                    Application, request.user, pk=request.POST.get("application"), call=item
                )
                expert = User.objects.get(pk=request.POST.get("expert"))
                services.add_assignment(request.user, app, expert, stage)
                messages.success(request, _("Expert added."))
            elif action == "moderator":
                a = get_visible_or_404(
                    Assignment, request.user, pk=request.POST.get("assignment"), application__call=item
                )
                services.set_moderator(request.user, a)
                messages.success(request, _("Moderator named."))
            elif action == "remove":
                a = get_visible_or_404(
                    Assignment, request.user, pk=request.POST.get("assignment"), application__call=item
                )
                services.remove_assignment(request.user, a)
                messages.success(request, _("Expert removed."))
            else:
                messages.error(request, _("Unknown action."))
        except (ValidationError, User.DoesNotExist, ValueError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect(back)
    table = services.conflict_table(item, stage=stage)
    context = {
        "call": item,
        "table": table,
        "stage": stage,
        "stages": Stage.choices,
        "review_due": services.review_due_date(item, stage),
        "assignments": Assignment.objects.filter(application__call=item, stage=stage).select_related(
            "application", "expert", "review"
        ),
    }
    return render(request, "designation/assignment.html", context)


@login_required
def ranking(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied(_("The ranking is for the office and the committee."))
    return render(
        request,
        "designation/ranking.html",
        {"call": item, "rows": services.ranking(item), "tie_breaks": [_(t) for t in services.TIE_BREAKS]},
    )


# ---- experts and reviews ---------------------------------------------------------------------------


@login_required
def industries(request: HttpRequest) -> HttpResponse:
    """The office's map of industries to key fields, which decides what industry authorities see."""
    from qslab.designation.models import IndustryScope

    user = request.user
    if not any(has_role(user, r) for r in (Role.OFFICE, Role.COMMITTEE, Role.AUTHORITY)):
        raise PermissionDenied(_("The industries are kept by the office for the competent authorities."))
    office = has_role(user, Role.OFFICE)
    return render(
        request,
        "designation/industries.html",
        {
            "scopes": IndustryScope.objects.visible_to(user).prefetch_related("fields"),
            "office": office,
            "unmapped": services.unmapped_industries() if office else [],
        },
    )


@login_required
def industry_create(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.OFFICE, _("Only the committee office maps industries to key fields."))
    return _industry_form(request, None)


@login_required
def industry_edit(request: HttpRequest, scope_id: int) -> HttpResponse:
    from qslab.designation.models import IndustryScope

    return _industry_form(request, get_editable_or_403(IndustryScope, request.user, pk=scope_id))


def _industry_form(request: HttpRequest, item: Any) -> HttpResponse:
    form = IndustryScopeForm(request.POST or None, instance=item)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_industry_scope(request.user, form.cleaned_data, item)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("designation:industries")
    return render(request, "designation/form.html", {"form": form, "title": _("Industry and its key fields")})


@login_required
def experts(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.OFFICE, _("The expert directory is kept by the office."))
    qs = (
        ExpertProfile.objects.visible_to(request.user)
        .select_related("organisation", "user")  # the rows name each expert's user
        .prefetch_related("fields")
    )
    return render(request, "designation/experts.html", {"experts": qs})


@login_required
@require_POST
def expert_vet(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_editable_or_403(ExpertProfile, request.user, pk=profile_id)
    _require(request.user, Role.OFFICE, _("Only the office vets experts."))
    form = VetForm(request.POST)
    form.is_valid()
    approve = bool(form.cleaned_data.get("approve")) or request.POST.get("vetted") == "on"
    try:
        services.vet_expert(request.user, profile, approve, form.cleaned_data.get("reason", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Saved."))
    return redirect("designation:experts")


@login_required
def expert_profile(request: HttpRequest) -> HttpResponse:
    profile = ExpertProfile.objects.filter(user=request.user).first()
    if profile is None or request.method == "POST":
        _require(request.user, Role.EXPERT, _("Only experts register in the expert directory."))
    form = ExpertProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_expert_profile(request.user, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Profile saved; the office will vet it."))
            return redirect("designation:expert_profile")
    assignments = (
        Assignment.objects.visible_to(request.user)
        .filter(expert=request.user)
        .select_related("application", "review")
    )
    return render(
        request,
        "designation/expert_profile.html",
        {
            "form": form,
            "profile": profile,
            "assignments": assignments,
            "perms_expert": has_role(request.user, Role.EXPERT),
        },
    )


@login_required
def review(request: HttpRequest, assignment_id: int) -> HttpResponse:
    a = get_visible_or_404(
        Assignment.objects.select_related("application__call"), request.user, pk=assignment_id
    )
    if not has_role(request.user, Role.EXPERT) or a.expert_id != request.user.pk:
        raise PermissionDenied(_("Only the assigned expert writes this review."))
    criteria = services._criteria(a.application, a.stage)
    existing = getattr(a, "review", None)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        scores = {c.code: request.POST.get(f"score_{c.code}") for c in criteria}
        try:
            services.submit_review(request.user, a, scores, request.POST.get("comments", ""))
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        else:
            messages.success(request, _("Review submitted."))
            return redirect("designation:expert_profile")
    return render(
        request,
        "designation/review.html",
        {"assignment": a, "app": a.application, "criteria": criteria, "review": existing, "errors": errors},
    )


# ---- public notices -------------------------------------------------------------------------------


def notices(request: HttpRequest) -> HttpResponse:
    qs = PublicNotice.objects.visible_to(request.user).select_related("application__institution")
    return render(request, "designation/notices.html", {"notices": qs})


def notice(request: HttpRequest, notice_id: int) -> HttpResponse:
    item = get_visible_or_404(
        PublicNotice.objects.select_related("application__institution"), request.user, pk=notice_id
    )
    form = ObjectionForm(request.POST or None)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?next={request.path}")
        try:
            check_public_form(request, "objection")
        except RateLimited as exc:
            return rate_limited_page(request, exc)
        if form.is_valid():
            try:
                services.file_objection(
                    request.user, item, form.cleaned_data["contact"], form.cleaned_data["text"]
                )
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(request, _("Your objection has been filed; the office will answer it."))
                return redirect(item)
    objections = Objection.objects.visible_to(request.user).filter(notice=item)
    return render(
        request,
        "designation/notice.html",
        {
            "notice": item,
            "app": item.application,
            "form": form,
            "objections": objections,
            "office": has_role(request.user, Role.OFFICE),
            "handle_form": ObjectionHandleForm(),
        },
    )


@login_required
@require_POST
def objection_handle(request: HttpRequest, objection_id: int) -> HttpResponse:
    obj = get_visible_or_404(Objection, request.user, pk=objection_id)
    _require(request.user, Role.OFFICE, _("Only the committee office handles objections."))
    form = ObjectionHandleForm(request.POST)
    if form.is_valid():
        services.handle_objection(
            request.user, obj, form.cleaned_data["upheld"], form.cleaned_data["response"]
        )
        messages.success(request, _("Objection handled."))
    else:
        messages.error(request, _("A reasoned response is required."))
    return redirect(obj.notice)


# ---- panel records: consensus, on-site inspection, meeting review ---------------------------------


def _stage(stage: str) -> str:
    from qslab.designation.models import Stage

    if stage not in Stage.values:
        raise Http404
    return stage


@login_required
def consensus(request: HttpRequest, application_id: int, stage: str) -> HttpResponse:
    from qslab.designation.models import ConsensusReport

    app = get_visible_or_404(Application.objects.select_related("call"), request.user, pk=application_id)
    stage = _stage(stage)
    if not services._is_moderator(request.user, app, stage):
        raise PermissionDenied(_("Only the panel's moderator writes the consensus report."))
    existing = ConsensusReport.objects.filter(application=app, stage=stage).first()
    initial = (
        {k: getattr(existing, k) for k in ("strengths", "weaknesses", "summary", "recommendation")}
        if existing
        else {}
    )
    form = ConsensusForm(request.POST or None, initial=initial)
    criteria = services._criteria(app, stage)
    errors: dict[str, Any] = {}
    if request.method == "POST" and form.is_valid():
        scores = {c.code: request.POST.get(f"score_{c.code}") for c in criteria}
        try:
            services.submit_consensus(request.user, app, stage, scores=scores, **form.cleaned_data)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Consensus report submitted."))
            return redirect("designation:expert_profile")
    reviews = Review.objects.filter(
        assignment__application=app, assignment__stage=stage, submitted_at__isnull=False
    ).order_by("pk")
    return render(
        request,
        "designation/consensus.html",
        {
            "app": app,
            "stage": stage,
            "form": form,
            "criteria": criteria,
            "reviews": reviews,
            "existing": existing,
            "errors": errors,
        },
    )


@login_required
def site_visit(request: HttpRequest, application_id: int, stage: str) -> HttpResponse:
    app = get_visible_or_404(Application, request.user, pk=application_id)
    stage = _stage(stage)
    on_panel = Assignment.objects.filter(
        application=app, stage=stage, expert=request.user, released=True
    ).exists()
    if not (has_role(request.user, Role.OFFICE) or on_panel):
        raise PermissionDenied(_("Only the office or an expert on the panel records an on-site inspection."))
    form = SiteVisitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_site_visit(request.user, app, stage=stage, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("On-site inspection recorded."))
            return redirect(app)
    return render(
        request, "designation/form.html", {"form": form, "title": _("On-site inspection"), "back": app}
    )


@login_required
def review_meeting(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_visible_or_404(Call, request.user, pk=call_id)
    _require(request.user, Role.OFFICE, _("Only the committee office keeps the minutes of a meeting review."))
    form = ReviewMeetingForm(request.POST or None, call=item, initial={"held_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.record_review_meeting(request.user, item, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Minutes of the meeting review saved."))
            return redirect(item)
    return render(
        request, "designation/form.html", {"form": form, "title": _("Meeting review minutes"), "back": item}
    )


# ---- the Review Committee ---------------------------------------------------------------------------


@login_required
def committee(request: HttpRequest) -> HttpResponse:
    from qslab.designation.models import CommitteeMeeting, CommitteeMembership

    if not (has_role(request.user, Role.OFFICE) or has_role(request.user, Role.COMMITTEE)):
        raise PermissionDenied(_("The Review Committee's pages are for the office and the committee."))
    office = has_role(request.user, Role.OFFICE)
    form = MembershipForm(request.POST or None) if office else None
    if request.method == "POST":
        _require(request.user, Role.OFFICE, _("Only the committee office keeps the committee's membership."))
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.appoint_member(
                    request.user,
                    data["user"],
                    term_start=data["term_start"],
                    term_end=data["term_end"],
                    position=data["position"],
                    organisation=data["organisation"],
                )
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(request, _("Term recorded."))
                return redirect("designation:committee")
    return render(
        request,
        "designation/committee.html",
        {
            "members": CommitteeMembership.objects.visible_to(request.user).select_related(
                "user", "organisation"
            ),
            "meetings": CommitteeMeeting.objects.visible_to(request.user),
            "form": form,
            "office": office,
        },
    )


@login_required
def meeting_create(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.OFFICE, _("Only the committee office convenes the committee."))
    form = CommitteeMeetingForm(request.POST or None, initial={"held_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            meeting = services.schedule_meeting(request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(request, _("Meeting scheduled; the members have been told."))
            return redirect(meeting)
    return render(request, "designation/form.html", {"form": form, "title": _("Committee meeting")})


@login_required
def meeting(request: HttpRequest, meeting_id: int) -> HttpResponse:
    from qslab.designation.models import CommitteeMeeting

    item = get_visible_or_404(CommitteeMeeting, request.user, pk=meeting_id)
    form = MinutesForm(request.POST or None, initial={"minutes": item.minutes})
    if request.method == "POST":
        _require(request.user, Role.OFFICE, _("Only the committee office keeps the committee's minutes."))
        if form.is_valid():
            try:
                services.close_meeting(request.user, item, form.cleaned_data["minutes"])
            except ValidationError as exc:
                add_validation_error(form, exc)
            else:
                messages.success(request, _("Meeting closed with its minutes."))
                return redirect(item)
    return render(
        request,
        "designation/meeting.html",
        {
            "meeting": item,
            "agenda": item.agenda.select_related("application"),
            "votes": item.votes.select_related("member", "application"),
            "form": form,
            "office": has_role(request.user, Role.OFFICE),
        },
    )


# ---- expert self-registration -------------------------------------------------------------------------


def expert_register(request: HttpRequest) -> HttpResponse:
    signed_in = request.user.is_authenticated
    if signed_in and ExpertProfile.objects.filter(user=request.user).exists():
        return redirect("designation:expert_profile")
    form = ExpertRegistrationForm(request.POST or None, signed_in=signed_in)
    if request.method == "POST" and form.is_valid():
        try:
            services.register_expert(request.user if signed_in else None, form.cleaned_data)
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            messages.success(
                request, _("Registration received. The office will vet it and tell you by email.")
            )
            return redirect("designation:expert_profile" if signed_in else "accounts:login")
    return render(request, "designation/form.html", {"form": form, "title": _("Register as an expert")})


# ---- construction and acceptance ------------------------------------------------------------------------


@login_required
def constructions(request: HttpRequest) -> HttpResponse:
    from qslab.designation.models import Construction

    qs = Construction.objects.visible_to(request.user).select_related("laboratory", "application")
    return render(request, "designation/constructions.html", {"constructions": qs})


@login_required
def construction(request: HttpRequest, construction_id: int) -> HttpResponse:
    from qslab.designation.models import Construction, Stage

    c = get_visible_or_404(
        Construction.objects.select_related("laboratory", "application__call"),
        request.user,
        pk=construction_id,
    )
    user = request.user
    staff = has_role(user, Role.OFFICE) or has_role(user, Role.COMMITTEE)
    editable = Construction.objects.editable_by(user).filter(pk=c.pk).exists()
    manager = editable and not has_role(user, Role.OFFICE)
    app = c.application
    panel = app.assignments.filter(stage=Stage.ACCEPTANCE).select_related("expert", "review")
    from qslab.core.models import OfficialDocument

    report = app.consensus_reports.filter(stage=Stage.ACCEPTANCE, document__isnull=False).first()
    acceptance_document = (
        OfficialDocument.objects.visible_to(user).filter(pk=report.document_id).first() if report else None
    )
    return render(
        request,
        "designation/construction.html",
        {
            "c": c,
            "app": app,
            "milestones": c.milestones.all(),
            "reports": c.progress_reports.all(),
            "actions": [
                t for t in Construction.workflow.available(c, user) if t.name != "request_acceptance"
            ],
            "can_request": c.status == "building"
            and (manager or has_role(user, Role.OFFICE))
            and any(t.name == "request_acceptance" for t in Construction.workflow.from_state(c.status)),
            "report_form": ProgressReportForm(construction=c) if manager else None,
            "request_form": AcceptanceRequestForm(
                initial={
                    "director_name": c.laboratory.director_name,
                    "contact_email": c.laboratory.contact_email,
                }
            ),
            "comment_form": CommentForm(),
            "office": has_role(user, Role.OFFICE),
            "staff": staff,
            "panel": panel if staff else [],
            "summary": services.evaluation_for(user, app, Stage.ACCEPTANCE) if (staff or manager) else None,
            "visits": app.site_visits.filter(stage=Stage.ACCEPTANCE) if staff else [],
            "history": history_of(c) if staff else [],
            "acceptance_document": acceptance_document,
        },
    )


@login_required
@require_POST
def progress_report(request: HttpRequest, construction_id: int) -> HttpResponse:
    from qslab.designation.models import Construction

    c = get_editable_or_403(Construction, request.user, pk=construction_id)
    form = ProgressReportForm(request.POST, construction=c)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.submit_progress_report(
                request.user,
                c,
                period=data["period"],
                text=data["text"],
                spent=data["spent"],
                milestones_reached=list(data["milestones"]),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Progress report submitted."))
    else:
        messages.error(request, _("Give the period and describe the progress."))
    return redirect(c)


@login_required
@require_POST
def progress_comment(request: HttpRequest, report_id: int) -> HttpResponse:
    from qslab.designation.models import ProgressReport

    report = get_visible_or_404(ProgressReport, request.user, pk=report_id)
    _require(request.user, Role.OFFICE, _("Only the committee office comments on progress reports."))
    form = CommentForm(request.POST)
    if form.is_valid():
        services.comment_progress_report(request.user, report, form.cleaned_data["office_comment"])
        messages.success(request, _("Comment saved."))
    else:
        messages.error(request, _("Write the comment."))
    return redirect(report.construction)


@login_required
@require_POST
def construction_transition(request: HttpRequest, construction_id: int, transition: str) -> HttpResponse:
    from qslab.designation.models import Construction

    c = get_visible_or_404(Construction, request.user, pk=construction_id)
    try:
        if transition == "request_acceptance":
            form = AcceptanceRequestForm(request.POST)
            form.is_valid()
            services.request_acceptance(request.user, c, form.cleaned_data)
        else:
            services.move_construction(request.user, c, transition, request.POST.get("reason", ""))
    except TransitionRefused as exc:
        if exc.code in (TransitionRefused.FORBIDDEN, TransitionRefused.UNKNOWN):
            raise PermissionDenied(str(exc)) from exc
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Done."))
    return redirect(c)


@login_required
@require_POST
def call_template(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_editable_or_403(Call, request.user, pk=call_id)
    form = TemplateForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.add_call_template(
                request.user, item, form.cleaned_data["file"], form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Template published with the call."))
    else:
        _template_form_errors(request, form)
    return redirect(item)


def _template_form_errors(request: HttpRequest, form: Any) -> None:
    errors = [str(e) for field in form.errors.values() for e in field]
    messages.error(request, " ".join(errors) or _("Choose the template file."))


def _office_template(request: HttpRequest, template_id: int) -> Any:
    from qslab.designation.models import CallTemplate

    template = get_visible_or_404(CallTemplate.objects.select_related("call"), request.user, pk=template_id)
    if not Call.objects.editable_by(request.user).filter(pk=template.call_id).exists():
        raise PermissionDenied(_("Only the committee office publishes the call's templates."))
    return template


@login_required
@require_POST
def template_replace(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _office_template(request, template_id)
    form = TemplateForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            services.replace_call_template(
                request.user, template, form.cleaned_data["file"], form.cleaned_data["name"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Template replaced."))
    else:
        _template_form_errors(request, form)
    return redirect(template.call)


@login_required
@require_POST
def template_remove(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _office_template(request, template_id)
    call = template.call
    services.remove_call_template(request.user, template)
    messages.success(request, _("Template removed from the call."))
    return redirect(call)


def template_download(request: HttpRequest, template_id: int) -> FileResponse:
    from qslab.core.uploads import download_response
    from qslab.designation.models import CallTemplate

    item = get_visible_or_404(CallTemplate, request.user, pk=template_id)
    return download_response(item.file, item.file.name.rsplit("/", 1)[-1])
