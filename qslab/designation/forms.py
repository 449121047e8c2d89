from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.designation import services
from qslab.designation.models import (
    Application,
    ApplicationFile,
    Call,
    CoApplicant,
    ExpertProfile,
    IndustryScope,
    Vote,
)
from qslab.labs.models import KeyField

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class CallForm(forms.ModelForm):
    class Meta:
        model = Call
        fields = (*services.CALL_FIELDS, "fields")
        widgets = {
            "description_zh": forms.Textarea(attrs={"rows": 4}),
            "description_en": forms.Textarea(attrs={"rows": 4}),
            "eligibility_zh": forms.Textarea(attrs={"rows": 3}),
            "eligibility_en": forms.Textarea(attrs={"rows": 3}),
            "opens_on": DATE,
            "recommendation_deadline": DATE,
            "review_due_on": DATE,
            "committee_meeting_on": DATE,
            "notice_starts_on": DATE,
            "soft_deadline": DATETIME,
            "hard_deadline": DATETIME,
            "fields": forms.CheckboxSelectMultiple,
        }


class IndustryScopeForm(forms.ModelForm):
    fields = forms.ModelMultipleChoiceField(
        queryset=KeyField.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        label=_("key fields"),
        required=False,
        help_text=_("a field covers its sub-fields"),
    )

    class Meta:
        model = IndustryScope
        fields = ("industry", "name_zh", "name_en", "fields")


class BudgetForm(forms.Form):
    lines = forms.CharField(
        label=_("budget lines"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_(
            "One per line: year | budget line | source of funds | amount in 10k CNY | note. Budget lines: "
            "equipment, facilities, research, personnel, operations, other. Sources: central, local, own, "
            "enterprise, other."
        ),
    )


class CriteriaForm(forms.Form):
    lines = forms.CharField(
        label=_("criteria"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_(
            "One per line: code | 中文名 | English name | weight | highest score | 0=anchor; 5=anchor"
        ),
    )


class ApplicationForm(forms.ModelForm):
    fields = forms.ModelMultipleChoiceField(
        queryset=KeyField.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        label=_("key fields"),
        required=False,
    )

    class Meta:
        model = Application
        fields = (*services.APPLICATION_FIELDS, "fields")
        widgets = {
            f: forms.Textarea(attrs={"rows": 4})
            for f in ("directions", "team", "resources", "construction_plan")
        }


class TargetedForm(ApplicationForm):
    institution = forms.ModelChoiceField(
        queryset=Organisation.objects.all(), label=_("supporting institution")
    )

    class Meta(ApplicationForm.Meta):
        fields = ("institution", *ApplicationForm.Meta.fields)


class CoApplicantForm(forms.Form):
    organisation = forms.ModelChoiceField(queryset=Organisation.objects.all(), label=_("organisation"))
    role = forms.ChoiceField(choices=CoApplicant.Role.choices, label=_("role"))


class FileForm(forms.Form):
    kind = forms.ChoiceField(choices=ApplicationFile.Kind.choices, label=_("type"))
    file = forms.FileField(
        label=_("PDF file"),
        validators=[services.attachment_validator()],
        help_text=_("PDF only, at most 20 MB"),
    )


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ExpertProfileForm(forms.ModelForm):
    former_affiliations_text = forms.CharField(
        label=_("former affiliations"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: organisation (USCC or name) | until year"),
    )
    collaborations_text = forms.CharField(
        label=_("recent collaborations (joint projects, papers, contracts)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One per line: organisation (USCC or name) | until year"),
    )

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.pk:
            self.fields["former_affiliations_text"].initial = services.format_affiliations(
                self.instance.former_affiliations or []
            )
            self.fields["collaborations_text"].initial = services.format_affiliations(
                self.instance.collaborations or []
            )

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        for field, label in (
            ("former_affiliations", _("former affiliations")),
            ("collaborations", _("recent collaborations")),
        ):
            rows, errors = services.parse_affiliations(data.get(f"{field}_text") or "", str(label))
            for e in errors:
                self.add_error(f"{field}_text", e)
            data[field] = rows
        return data

    class Meta:
        model = ExpertProfile
        fields = ("name", "title", "organisation", "region_code", "fields")
        widgets = {"fields": forms.CheckboxSelectMultiple}


class DeclarationForm(forms.Form):
    conflicted = forms.BooleanField(
        label=_("I have a conflict of interest with this application"), required=False
    )
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class VoteForm(forms.Form):
    choice = forms.ChoiceField(choices=Vote.Choice.choices, label=_("vote"))


class DecisionForm(forms.Form):
    minutes = forms.CharField(label=_("minutes"), widget=forms.Textarea(attrs={"rows": 4}))
    defer = forms.BooleanField(label=_("the committee defers the decision"), required=False)


class ObjectionForm(forms.Form):
    contact = forms.CharField(label=_("real name and contact"), max_length=200)
    text = forms.CharField(label=_("objection"), widget=forms.Textarea(attrs={"rows": 4}))


class ObjectionHandleForm(forms.Form):
    upheld = forms.BooleanField(label=_("uphold the objection"), required=False)
    response = forms.CharField(label=_("reasoned response"), widget=forms.Textarea(attrs={"rows": 3}))


class VoteReasonForm(VoteForm):
    reason = forms.CharField(label=_("reason for a recusal"), required=False, max_length=300)


class VetForm(forms.Form):
    approve = forms.BooleanField(label=_("admit to the expert directory"), required=False)
    reason = forms.CharField(label=_("reason (required when not admitting)"), required=False)


def _users_with_role(role: str):  # type: ignore[no-untyped-def]
    from qslab.accounts.models import User

    return User.objects.filter(role_memberships__role=role, role_memberships__active=True).distinct()


class ExpertRegistrationForm(forms.Form):
    username = forms.CharField(label=_("user name"), max_length=150, required=False)
    email = forms.EmailField(label=_("email"), required=False)
    password = forms.CharField(label=_("password"), widget=forms.PasswordInput, required=False)
    name = forms.CharField(label=_("name"), max_length=100)
    title = forms.CharField(label=_("title"), max_length=100, required=False)
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.all(), label=_("current organisation"), required=False
    )
    region_code = forms.ChoiceField(label=_("region"), required=False)
    fields = forms.ModelMultipleChoiceField(
        queryset=KeyField.objects.filter(active=True),
        widget=forms.CheckboxSelectMultiple,
        label=_("expertise"),
    )

    def __init__(self, *args, signed_in: bool = False, **kwargs):  # type: ignore[no-untyped-def]
        from qslab.core.regions import region_choices

        super().__init__(*args, **kwargs)
        self.fields["region_code"].choices = [("", "—"), *region_choices()]
        if signed_in:
            for f in ("username", "email", "password"):
                del self.fields[f]
        else:
            for f in ("username", "email", "password"):
                self.fields[f].required = True


class ConsensusForm(forms.Form):
    strengths = forms.CharField(
        label=_("strengths"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    weaknesses = forms.CharField(
        label=_("weaknesses"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    summary = forms.CharField(label=_("summary for the applicant"), widget=forms.Textarea(attrs={"rows": 4}))
    recommendation = forms.ChoiceField(label=_("recommendation"), choices=[])

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from qslab.designation.models import ConsensusReport

        super().__init__(*args, **kwargs)
        self.fields["recommendation"].choices = ConsensusReport.Recommendation.choices


class SiteVisitForm(forms.Form):
    visited_on = forms.DateField(label=_("visited on"), widget=DATE)
    inspectors = forms.ModelMultipleChoiceField(
        queryset=None, label=_("inspectors"), required=False, widget=forms.CheckboxSelectMultiple
    )
    findings = forms.CharField(label=_("findings"), widget=forms.Textarea(attrs={"rows": 5}))
    conclusion = forms.ChoiceField(label=_("conclusion"), choices=[])

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from qslab.designation.models import SiteVisit

        super().__init__(*args, **kwargs)
        self.fields["inspectors"].queryset = _users_with_role("expert")
        self.fields["conclusion"].choices = SiteVisit.Conclusion.choices


class ReviewMeetingForm(forms.Form):
    stage = forms.ChoiceField(label=_("review stage"), choices=[])
    held_on = forms.DateField(label=_("held on"), widget=DATE)
    location = forms.CharField(label=_("place or video link"), required=False, max_length=200)
    applications = forms.ModelMultipleChoiceField(
        queryset=Application.objects.none(),
        label=_("applications heard"),
        widget=forms.CheckboxSelectMultiple,
    )
    attendees = forms.ModelMultipleChoiceField(
        queryset=None, label=_("experts present"), widget=forms.CheckboxSelectMultiple, required=False
    )
    minutes = forms.CharField(label=_("minutes"), widget=forms.Textarea(attrs={"rows": 6}))

    def __init__(self, *args, call=None, **kwargs):  # type: ignore[no-untyped-def]
        from qslab.designation.models import Stage

        super().__init__(*args, **kwargs)
        self.fields["stage"].choices = Stage.choices
        self.fields["attendees"].queryset = _users_with_role("expert")
        if call is not None:
            self.fields["applications"].queryset = call.applications.exclude(
                status__in=("draft", "submitted", "declined", "rejected", "withdrawn")
            )


class MembershipForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None, label=_("member"))
    position = forms.ChoiceField(label=_("position"), choices=[])
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.all(), label=_("organisation"), required=False
    )
    term_start = forms.DateField(label=_("term starts"), widget=DATE)
    term_end = forms.DateField(label=_("term ends"), widget=DATE)

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from qslab.designation.models import CommitteeMembership

        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _users_with_role("committee")
        self.fields["position"].choices = CommitteeMembership.Position.choices


class CommitteeMeetingForm(forms.Form):
    title = forms.CharField(label=_("title"), max_length=200)
    held_on = forms.DateField(label=_("held on"), widget=DATE)
    location = forms.CharField(label=_("place or video link"), required=False, max_length=200)
    applications = forms.ModelMultipleChoiceField(
        queryset=Application.objects.filter(status__in=("reviewed", "deferred")),
        label=_("agenda"),
        widget=forms.CheckboxSelectMultiple,
    )


class MinutesForm(forms.Form):
    minutes = forms.CharField(label=_("minutes"), widget=forms.Textarea(attrs={"rows": 6}))


class ProgressReportForm(forms.Form):
    period = forms.CharField(label=_("period"), max_length=20, help_text=_("e.g. 2027 or 2027-H1"))
    text = forms.CharField(label=_("progress"), widget=forms.Textarea(attrs={"rows": 5}))
    spent = forms.DecimalField(
        label=_("budget spent (10k CNY)"), required=False, max_digits=12, decimal_places=2
    )
    milestones = forms.ModelMultipleChoiceField(
        queryset=None, label=_("milestones reached"), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, construction=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["milestones"].queryset = (
            construction.milestones.filter(done_on__isnull=True) if construction is not None else None
        )


class CommentForm(forms.Form):
    office_comment = forms.CharField(label=_("comment"), widget=forms.Textarea(attrs={"rows": 2}))


class AcceptanceRequestForm(forms.Form):
    director_name = forms.CharField(label=_("director"), max_length=100)
    contact_email = forms.EmailField(label=_("contact email"))


class TemplateForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=200, required=False)
    file = forms.FileField(
        label=_("template file"),
        validators=[services.template_validator()],
        help_text=_("PDF, Word or Excel, at most 20 MB"),
    )
