"""Pages of the designation app: calls (public), applications, the office's desk (formal check,
assignment, ranking, decision), experts' reviews, committee votes and the public notices."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from qslab.accounts.models import User
from qslab.accounts.roles import Role, has_role
from qslab.core.permissions import get_editable_or_403, get_visible_or_404
from qslab.core.services import history_of
from qslab.core.workflow import TransitionRefused
from qslab.designation import services
from qslab.designation.forms import (
    ApplicationForm,
    CallForm,
    CoApplicantForm,
    CriteriaForm,
    DecisionForm,
    DeclarationForm,
    ExpertProfileForm,
    FileForm,
    ObjectionForm,
    ObjectionHandleForm,
    TargetedForm,
    TransitionForm,
    VoteForm,
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
)


def _add_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


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
            _add_errors(form, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect(saved)
    return render(request, "designation/form.html", {"form": form, "title": _("Call"), "back": item})


@login_required
def call_criteria(request: HttpRequest, call_id: int) -> HttpResponse:
    item = get_editable_or_403(Call, request.user, pk=call_id)
    initial = "\n".join(
        f"{c.code} | {c.name_zh} | {c.name_en} | {c.weight} | {c.max_score} | "
        + "; ".join(f"{k}={v}" for k, v in c.anchors.items())
        for c in item.criteria.all()
    )
    form = CriteriaForm(request.POST or None, initial={"lines": initial})
    if request.method == "POST" and form.is_valid():
        rows, errors = services.parse_criteria(form.cleaned_data["lines"])
        for e in errors:
            form.add_error("lines", e)
        if not errors:
            try:
                services.set_criteria(request.user, item, rows)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, _("Criteria saved."))
                return redirect(item)
    return render(
        request, "designation/form.html", {"form": form, "title": _("Review criteria"), "back": item}
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
            _add_errors(form, exc)
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
            _add_errors(form, exc)
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
        "vote_form": VoteForm(),
        "decision_form": DecisionForm(),
        "assignments": app.assignments.select_related("expert") if staff else [],
        "votes": app.votes.select_related("member") if staff else [],
        "decisions": app.decisions.all() if staff else [],
        "summary": services.evaluation_summary(app) if (staff or own) else [],
        "history": history_of(app) if staff else [],
        "notice": getattr(app, "public_notice", None),
    }
    return render(request, "designation/application.html", context)


@login_required
def application_edit(request: HttpRequest, application_id: int) -> HttpResponse:
    app = get_editable_or_403(Application, request.user, pk=application_id)
    form = ApplicationForm(request.POST or None, instance=app)
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_application(request.user, Application.objects.get(pk=app.pk), form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
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
    else:
        messages.error(request, _("Choose a PDF file and its type."))
    return redirect(app)


@login_required
def attachment(request: HttpRequest, file_id: int) -> FileResponse:
    item = get_visible_or_404(ApplicationFile, request.user, pk=file_id)
    return FileResponse(
        item.file.open("rb"), as_attachment=True, filename=item.name, content_type="application/pdf"
    )


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
    form = VoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a vote."))
        return redirect(app)
    try:
        services.cast_vote(request.user, app, form.cleaned_data["choice"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
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
    item = get_visible_or_404(Call, request.user, pk=call_id)
    _require(request.user, Role.OFFICE, _("Only the committee office assigns experts."))
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "propose":
                _created, result = services.propose_assignment(request.user, item)
                messages.success(request, result.summary())
            elif action == "release":
                n = services.release_assignments(request.user, item)
                messages.success(request, _("%(n)d applications released to the experts.") % {"n": n})
            elif action == "add":
                app = get_visible_or_404(
                    Application, request.user, pk=request.POST.get("application"), call=item
                )
                expert = User.objects.get(pk=request.POST.get("expert"))
                services.add_assignment(request.user, app, expert)
                messages.success(request, _("Expert added."))
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
        return redirect("designation:assignment", call_id=item.pk)
    table = services.conflict_table(item)
    context = {
        "call": item,
        "table": table,
        "assignments": Assignment.objects.filter(application__call=item).select_related(
            "application", "expert"
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
def experts(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.OFFICE, _("The expert directory is kept by the office."))
    qs = (
        ExpertProfile.objects.visible_to(request.user)
        .select_related("organisation")
        .prefetch_related("fields")
    )
    return render(request, "designation/experts.html", {"experts": qs})


@login_required
@require_POST
def expert_vet(request: HttpRequest, profile_id: int) -> HttpResponse:
    profile = get_editable_or_403(ExpertProfile, request.user, pk=profile_id)
    _require(request.user, Role.OFFICE, _("Only the office vets experts."))
    services.save_expert_profile(request.user, {"vetted": request.POST.get("vetted") == "on"}, profile)
    messages.success(request, _("Saved."))
    return redirect("designation:experts")


@login_required
def expert_profile(request: HttpRequest) -> HttpResponse:
    _require(request.user, Role.EXPERT, _("Only experts register in the expert directory."))
    profile = ExpertProfile.objects.filter(user=request.user).first()
    form = ExpertProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_expert_profile(request.user, form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("Profile saved; the office will vet it."))
            return redirect("designation:expert_profile")
    assignments = (
        Assignment.objects.visible_to(request.user).filter(expert=request.user).select_related("application")
    )
    return render(
        request,
        "designation/expert_profile.html",
        {"form": form, "profile": profile, "assignments": assignments},
    )


@login_required
def review(request: HttpRequest, assignment_id: int) -> HttpResponse:
    a = get_visible_or_404(
        Assignment.objects.select_related("application__call"), request.user, pk=assignment_id
    )
    if not has_role(request.user, Role.EXPERT) or a.expert_id != request.user.pk:
        raise PermissionDenied(_("Only the assigned expert writes this review."))
    criteria = list(a.application.call.criteria.all())
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
        if form.is_valid():
            try:
                services.file_objection(
                    request.user, item, form.cleaned_data["contact"], form.cleaned_data["text"]
                )
            except ValidationError as exc:
                _add_errors(form, exc)
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
