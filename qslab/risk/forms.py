"""Forms of the risk app: the public report, the analyst's coding, patterns, data intake, taxonomy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.core.validators import clean_gtin
from qslab.risk.models import (
    ConsumerAlert,
    DefectPattern,
    IncidentReport,
    IngestRun,
    RiskAssessment,
    RiskMatrix,
    Term,
    photo_validator,
)
from qslab.risk.services import ALERT_FIELDS, ASSESSMENT_FIELDS, CONSENT_TEXT_EN, PATTERN_FIELDS


def validate_barcode(value: str) -> str:
    """A product barcode as printed: GTIN (EAN/UPC) or ISBN-10, checked by ``qslab.core.validators``."""
    return clean_gtin(value, isbn=True)


def _terms(kind: str) -> Any:
    return Term.objects.filter(kind=kind, active=True).order_by("name_en")


class ReportForm(forms.ModelForm):
    """The public incident report."""

    consent_publish = forms.BooleanField(
        label=_("I agree to the consent statement"), required=True, help_text=CONSENT_TEXT_EN
    )

    class Meta:
        model = IncidentReport
        fields = (
            "product_category",
            "brand",
            "model",
            "batch",
            "barcode",
            "incident_date",
            "hazard",
            "description",
            "injured",
            "diagnosis",
            "body_part",
            "disposition",
            "victim_age",
            "photo",
            "reporter_email",
            "consent_contact",
        )
        widgets = {
            "incident_date": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 6}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, kind in (
            ("product_category", Term.Kind.PRODUCT),
            ("hazard", Term.Kind.HAZARD),
            ("diagnosis", Term.Kind.DIAGNOSIS),
            ("body_part", Term.Kind.BODY_PART),
            ("disposition", Term.Kind.DISPOSITION),
        ):
            self.fields[name].queryset = _terms(kind)
        self.fields["photo"].help_text = _("JPEG, PNG or WebP, at most 5 MB.")

    def clean_barcode(self) -> str:
        return validate_barcode(self.cleaned_data.get("barcode") or "")

    def clean_incident_date(self) -> Any:
        day = self.cleaned_data["incident_date"]
        if day and day > timezone.localdate():
            raise forms.ValidationError(_("The date of the incident cannot be in the future."))
        return day

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("injured") and not data.get("diagnosis"):
            self.add_error("diagnosis", _("Say what the injury was, or untick “someone was injured”."))
        if data.get("consent_contact") and not data.get("reporter_email"):
            self.add_error("reporter_email", _("Give an e-mail address if you agree to be contacted."))
        return data


class ReviewForm(forms.ModelForm):
    """The analyst codes the report and writes what will be published."""

    class Meta:
        model = IncidentReport
        fields = (
            "product_category",
            "hazard",
            "diagnosis",
            "body_part",
            "disposition",
            "public_summary_zh",
            "public_summary_en",
        )
        widgets = {
            "public_summary_zh": forms.Textarea(attrs={"rows": 4}),
            "public_summary_en": forms.Textarea(attrs={"rows": 4}),
        }


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class PatternForm(forms.ModelForm):
    evidence = forms.ModelMultipleChoiceField(
        label=_("Evidence cases"), queryset=IncidentReport.objects.none(), required=False
    )

    class Meta:
        model = DefectPattern
        fields = PATTERN_FIELDS
        widgets = {
            f: forms.Textarea(attrs={"rows": 3})
            for f in (
                "failure_mode",
                "injury_mechanism",
                "scenario",
                "summary_zh",
                "summary_en",
                "evidence_links",
            )
        }

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product_category"].queryset = _terms(Term.Kind.PRODUCT)
        self.fields["hazard"].queryset = _terms(Term.Kind.HAZARD)
        self.fields["evidence"].queryset = IncidentReport.objects.visible_to(user)
        if self.instance.pk:
            self.initial.setdefault("evidence", list(self.instance.evidence.values_list("pk", flat=True)))


class IngestForm(forms.Form):
    source = forms.ChoiceField(label=_("Data source"), choices=IngestRun.Source.choices)
    file = forms.FileField(
        label=_("File"), help_text=_("CSV (.csv or .csv.gz) or Parquet, in the source's layout.")
    )


class TermForm(forms.ModelForm):
    class Meta:
        model = Term
        fields = ("kind", "code", "name_zh", "name_en", "parent", "active")


def risk_staff_users() -> Any:
    from qslab.accounts.models import User
    from qslab.accounts.roles import Role

    return (
        User.objects.filter(
            is_active=True,
            role_memberships__role__in=[Role.ANALYST, Role.OFFICE],
            role_memberships__active=True,
        )
        .distinct()
        .order_by("username")
    )


class ReassignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=None)  # type: ignore[arg-type]
    reason = forms.CharField(label=_("Note"), required=False, max_length=500)

    def __init__(self, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        qs = risk_staff_users()
        if signal is not None and signal.assignee_id:
            qs = qs.exclude(pk=signal.assignee_id)
        self.fields["assignee"].queryset = qs


class _BarcodeMixin:
    def clean_barcode(self) -> str:
        return validate_barcode(self.cleaned_data.get("barcode", ""))


class AssessmentForm(_BarcodeMixin, forms.ModelForm):
    class Meta:
        model = RiskAssessment
        fields = ASSESSMENT_FIELDS
        widgets = {
            "product_description": forms.Textarea(attrs={"rows": 3}),
            "conclusion_zh": forms.Textarea(attrs={"rows": 3}),
            "conclusion_en": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["matrix"].queryset = RiskMatrix.objects.filter(active=True)
        self.fields["product_category"].queryset = Term.objects.filter(kind=Term.Kind.PRODUCT, active=True)
        self.fields["hazard"].queryset = Term.objects.filter(kind=Term.Kind.HAZARD, active=True)
        if not self.instance.pk and not self.initial.get("matrix"):
            default = RiskMatrix.objects.filter(active=True, is_default=True).first()
            if default:
                self.initial["matrix"] = default.pk


class ScenarioForm(forms.Form):
    description_zh = forms.CharField(
        label=_("scenario (Chinese)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    description_en = forms.CharField(
        label=_("scenario (English)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    consumer = forms.CharField(label=_("consumer"), required=False, max_length=200)
    injury = forms.CharField(label=_("injury"), required=False, max_length=200)
    severity = forms.TypedChoiceField(
        label=_("severity of the injury"),
        coerce=int,
        choices=[
            (1, _("1: first aid, fully reversible")),
            (2, _("2: A&E, usually no admission; recovery")),
            (3, _("3: admission; lasting effects")),
            (4, _("4: fatal, or disability over 10 per cent")),
        ],
    )
    steps = forms.CharField(
        label=_("steps to injury"),
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "one step a line: probability | step in Chinese | step in English, "
            "e.g. 1/50 | 握错位置 | grips it in the wrong place"
        ),
    )

    def __init__(self, *args: Any, matrix: RiskMatrix | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = matrix.severity_choices() if matrix is not None else None
        if choices:  # the matrix's reference data says what each severity means
            self.fields["severity"].choices = choices

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("description_zh", "").strip() or data.get("description_en", "").strip()):
            self.add_error("description_en", _("Describe the scenario (Chinese or English)."))
        return data


class AlertForm(_BarcodeMixin, forms.ModelForm):
    class Meta:
        model = ConsumerAlert
        fields = ALERT_FIELDS
        widgets = {
            f: forms.Textarea(attrs={"rows": 3})
            for f in (
                "product_description_zh",
                "product_description_en",
                "hazard_description_zh",
                "hazard_description_en",
                "measures_zh",
                "measures_en",
                "advice_zh",
                "advice_en",
                "operator_contact",
                "supply_chain",
                "information_source",
                "internal_notes",
            )
        }

    CONFIDENTIAL = (
        "operator_name",
        "operator_contact",
        "supply_chain",
        "information_source",
        "internal_notes",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assessment"].queryset = RiskAssessment.objects.exclude(status="withdrawn")
        self.fields["product_category"].queryset = Term.objects.filter(kind=Term.Kind.PRODUCT, active=True)
        self.fields["hazard"].queryset = Term.objects.filter(kind=Term.Kind.HAZARD, active=True)

    def public_fields(self) -> list[Any]:
        return [f for f in self if f.name not in self.CONFIDENTIAL]

    def confidential_fields(self) -> list[Any]:
        return [f for f in self if f.name in self.CONFIDENTIAL]


class AlertPhotoForm(forms.Form):
    image = forms.ImageField(label=_("photo"), validators=[photo_validator])
    caption_zh = forms.CharField(label=_("caption (Chinese)"), required=False, max_length=200)
    caption_en = forms.CharField(label=_("caption (English)"), required=False, max_length=200)


class AlertUpdateForm(forms.Form):
    date = forms.DateField(label=_("date"), initial=timezone.localdate)
    text_zh = forms.CharField(
        label=_("update (Chinese)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    text_en = forms.CharField(
        label=_("update (English)"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    is_public = forms.BooleanField(label=_("public"), required=False, initial=True)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("text_zh", "").strip() or data.get("text_en", "").strip()):
            raise forms.ValidationError(_("Write the update (Chinese or English)."))
        return data
