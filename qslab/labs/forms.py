from django import forms
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from qslab.core.models import bilingual
from qslab.labs import services
from qslab.labs.models import (
    LIFECYCLE,
    CommitteeMember,
    IndustryChain,
    KeyField,
    KeyFigures,
    Laboratory,
    LayoutPlan,
    Partner,
    Region,
    ResearchPriority,
)


def _website() -> forms.URLField:
    return forms.URLField(label=_("website"), required=False, assume_scheme="https")


class LaboratoryForm(forms.ModelForm):
    """The office's form: the whole record except its status."""

    website = _website()

    class Meta:
        model = Laboratory
        fields = (*services.OFFICE_FIELDS, *services.PROFILE_FIELDS, *services.M2M_FIELDS)
        widgets = {
            "summary_zh": forms.Textarea(attrs={"rows": 4}),
            "summary_en": forms.Textarea(attrs={"rows": 4}),
            "fields": forms.CheckboxSelectMultiple,
            "priorities": forms.CheckboxSelectMultiple,
            "industry_chains": forms.CheckboxSelectMultiple,
        }


class ProfileForm(forms.ModelForm):
    """The lab manager's form: the profile of their own laboratory."""

    website = _website()

    class Meta:
        model = Laboratory
        fields = services.PROFILE_FIELDS
        widgets = {
            "summary_zh": forms.Textarea(attrs={"rows": 4}),
            "summary_en": forms.Textarea(attrs={"rows": 4}),
        }


class FiguresForm(forms.ModelForm):
    class Meta:
        model = KeyFigures
        fields = ("year", *services.FIGURE_FIELDS)


class PartnerForm(forms.ModelForm):
    class Meta:
        model = Partner
        fields = ("organisation", "role")


class CommitteeMemberForm(forms.ModelForm):
    class Meta:
        model = CommitteeMember
        fields = ("name", "affiliation", "title", "position")


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    merged_into = forms.ModelChoiceField(
        label=_("Merged into"),
        queryset=Laboratory.objects.filter(status__in=("named", "under_rectification")),
        required=False,
    )


class DirectoryFilterForm(forms.Form):
    q = forms.CharField(label=_("Keyword (中文 or English)"), required=False, max_length=100)
    field = forms.ChoiceField(label=_("Field"), required=False)
    region = forms.ChoiceField(label=_("Region"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Plain rows, not model objects: this form is on the directory, the most requested page.
        language = get_language()
        terms = ("code", "parent_id", "name_zh", "name_en")
        self.fields["field"].choices = [("", _("all fields"))] + [
            (code, ("— " if parent else "") + bilingual(zh, en, language))
            for code, parent, zh, en in KeyField.objects.filter(active=True).values_list(*terms)
        ]
        self.fields["region"].choices = [("", _("all regions"))] + [
            (code, ("— " if parent else "") + bilingual(zh, en, language))
            for code, parent, zh, en in Region.objects.filter(active=True).values_list(*terms)
        ]
        self.fields["status"].choices = [("", _("all states"))] + [
            (s.value, s.label) for s in LIFECYCLE.states
        ]


TERM_MODELS = {
    "fields": (KeyField, ("code", "name_zh", "name_en", "parent", "order", "active")),
    "priorities": (
        ResearchPriority,
        ("code", "name_zh", "name_en", "description_zh", "description_en", "order", "active"),
    ),
    "chains": (IndustryChain, ("code", "name_zh", "name_en", "order", "active")),
    "regions": (Region, ("code", "name_zh", "name_en", "level", "parent", "active")),
}


def term_form_class(kind: str) -> type[forms.ModelForm]:
    model, fields = TERM_MODELS[kind]
    return forms.modelform_factory(model, fields=fields)


class PlanForm(forms.ModelForm):
    class Meta:
        model = LayoutPlan
        fields = ("code", "name_zh", "name_en", "start_year", "end_year", "notes_zh", "notes_en")
        widgets = {
            "notes_zh": forms.Textarea(attrs={"rows": 3}),
            "notes_en": forms.Textarea(attrs={"rows": 3}),
        }


class TargetsForm(forms.Form):
    lines = forms.CharField(
        label=_("Targets"),
        widget=forms.Textarea(attrs={"rows": 14, "class": "mono"}),
        help_text=_("One per line: field code, region code, target[, priority 1–3[, industry chain code]]."),
    )
    note = forms.CharField(label=_("Why the plan changes"), required=False, max_length=500)

    def clean_lines(self):
        rows, errors = services.parse_target_lines(self.cleaned_data["lines"])
        if errors:
            raise forms.ValidationError(errors)
        self.rows = rows
        return self.cleaned_data["lines"]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(
        label=_("What the file holds"),
        choices=[("organisations", _("organisations")), ("laboratories", _("laboratories"))],
    )
    file = forms.FileField(label=_("CSV or XLSX file"))
    dry_run = forms.BooleanField(label=_("Dry run: check only, save nothing"), required=False, initial=True)
