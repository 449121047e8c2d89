from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.accounts.models import Organisation
from qslab.designation import services
from qslab.designation.models import Application, ApplicationFile, Call, CoApplicant, ExpertProfile, Vote
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
            "soft_deadline": DATETIME,
            "hard_deadline": DATETIME,
            "fields": forms.CheckboxSelectMultiple,
        }


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
    file = forms.FileField(label=_("PDF file"))


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ExpertProfileForm(forms.ModelForm):
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
