"""Forms of the risk app: the public report, the analyst's coding, patterns, data intake, taxonomy."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qslab.risk.models import DefectPattern, IncidentReport, IngestRun, Term
from qslab.risk.services import CONSENT_TEXT_EN

MAX_PHOTO_BYTES = 5 * 1024 * 1024
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}


def validate_barcode(value: str) -> str:
    """A product barcode as printed: EAN-13/EAN-8/UPC-A (GTIN) or ISBN, checked by its check digit."""
    from stdnum import ean, isbn
    from stdnum.exceptions import ValidationError as StdnumError

    compact = ean.compact(value)
    if not compact:
        return ""
    if not compact.isdigit() and not (len(compact) == 10 and compact[:9].isdigit()):
        raise forms.ValidationError(_("A barcode has only digits (ISBN-10 may end in X)."), code="barcode")
    try:
        if len(compact) == 10:
            return isbn.validate(compact)
        if len(compact) not in (8, 12, 13, 14):
            raise forms.ValidationError(
                _("A barcode has 8, 12, 13 or 14 digits (EAN/UPC); this one has %(n)d.")
                % {"n": len(compact)},
                code="barcode",
            )
        return ean.validate(compact)
    except StdnumError as exc:
        raise forms.ValidationError(
            _("The barcode %(code)s is not valid: its check digit does not match. Please copy it again.")
            % {"code": compact},
            code="barcode",
        ) from exc


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

    def clean_photo(self) -> Any:
        photo = self.cleaned_data.get("photo")
        if not photo:
            return photo
        if photo.size > MAX_PHOTO_BYTES:
            raise forms.ValidationError(
                _("The photo is %(mb).1f MB; the limit is 5 MB.") % {"mb": photo.size / 1024 / 1024}
            )
        image = getattr(photo, "image", None)
        if image is not None and (image.format or "").upper() not in PHOTO_FORMATS:
            raise forms.ValidationError(_("The photo must be JPEG, PNG or WebP."))
        return photo

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
        fields = (
            "title_zh",
            "title_en",
            "product_category",
            "hazard",
            "failure_mode",
            "injury_mechanism",
            "scenario",
            "detection_method",
            "summary_zh",
            "summary_en",
            "evidence_links",
            "is_public",
        )
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
