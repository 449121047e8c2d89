"""Forms of the recalls app: products and batches, the recall plan, progress reports, uploads, scope
queries and the public search."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from qslab.recalls.models import Batch, Product, ProgressReport, Recall, TraceUpload
from qslab.recalls.services import BATCH_FIELDS


def _terms(kind: str) -> Any:
    from qslab.risk.models import Term

    return Term.objects.filter(kind=kind, active=True).order_by("name_en")


class ProductForm(forms.ModelForm):
    class Meta:
        model = Product
        fields = ("company", "name_zh", "name_en", "brand", "model", "gtin", "category")

    def __init__(self, *args: Any, companies: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].queryset = _terms("product")
        if self.instance.pk:
            del self.fields["company"]
        else:
            self.fields["company"].queryset = companies
            if companies is not None and companies.count() == 1:
                self.fields["company"].initial = companies.first()


class BatchForm(forms.ModelForm):
    class Meta:
        model = Batch
        fields = BATCH_FIELDS
        widgets = {
            "produced_from": forms.DateInput(attrs={"type": "date"}),
            "produced_to": forms.DateInput(attrs={"type": "date"}),
        }


class RecallForm(forms.ModelForm):
    """The recall plan: scope, defect, remedy, timetable, notice; confidential fields last."""

    serial_ranges_text = forms.CharField(
        label=_("Serial ranges in scope"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("one range per line: first - last, e.g. KX-000100 - KX-000199"),
    )

    class Meta:
        model = Recall
        fields = (
            "product",
            "title_zh",
            "title_en",
            "hazard",
            "risk_level",
            "defect_zh",
            "defect_en",
            "batches",
            "units_planned",
            "remedy",
            "remedy_text_zh",
            "remedy_text_en",
            "advice_zh",
            "advice_en",
            "start_date",
            "planned_end",
            "report_every_days",
            "notice_zh",
            "notice_en",
            "investigation",
            "sales_channels",
            "contact_name",
            "contact_phone",
            "office_notes",
            "risk_assessment",
            "alert",
        )
        widgets = {
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "planned_end": forms.DateInput(attrs={"type": "date"}),
            "batches": forms.CheckboxSelectMultiple,
            **{
                f: forms.Textarea(attrs={"rows": 3})
                for f in (
                    "defect_zh",
                    "defect_en",
                    "remedy_text_zh",
                    "remedy_text_en",
                    "advice_zh",
                    "advice_en",
                    "investigation",
                    "sales_channels",
                    "office_notes",
                )
            },
            "notice_zh": forms.Textarea(attrs={"rows": 5}),
            "notice_en": forms.Textarea(attrs={"rows": 5}),
        }

    def __init__(
        self, *args: Any, user: Any = None, products: Any = None, office: bool = False, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.fields["hazard"].queryset = _terms("hazard")
        if self.instance.pk:
            del self.fields["product"]
            self.fields["batches"].queryset = Batch.objects.filter(product=self.instance.product)
            self.fields["serial_ranges_text"].initial = "\n".join(
                f"{a} - {b}" for a, b in (self.instance.serial_ranges or [])
            )
        else:
            self.fields["product"].queryset = products if products is not None else Product.objects.none()
            self.fields["batches"].queryset = Batch.objects.filter(
                product__in=self.fields["product"].queryset
            )
        if not office:
            del self.fields["office_notes"]
        if office:
            from qslab.risk.models import ConsumerAlert, RiskAssessment

            self.fields["risk_assessment"].queryset = RiskAssessment.objects.filter(status="completed")
            self.fields["alert"].queryset = ConsumerAlert.objects.exclude(status="withdrawn")
        else:  # the office links the recall to the risk work (companies cannot see assessments)
            del self.fields["risk_assessment"]
            del self.fields["alert"]

    def clean(self) -> dict[str, Any]:
        from qslab.recalls.services import parse_serial_ranges

        data = super().clean()
        try:
            data["serial_ranges"] = parse_serial_ranges(data.get("serial_ranges_text", ""))
        except ValidationError as error:
            self.add_error("serial_ranges_text", error.message_dict["serial_ranges"])
        start, end = data.get("start_date"), data.get("planned_end")
        if start and end and end < start:
            self.add_error("planned_end", _("The recall cannot end before it starts."))
        return data


class ProgressForm(forms.ModelForm):
    class Meta:
        model = ProgressReport
        fields = (
            "period_end",
            "units_notified",
            "units_remedied",
            "summary_zh",
            "summary_en",
            "notes",
            "is_final",
        )
        widgets = {
            "period_end": forms.DateInput(attrs={"type": "date"}),
            "summary_zh": forms.Textarea(attrs={"rows": 3}),
            "summary_en": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class TraceUploadForm(forms.Form):
    company = forms.ModelChoiceField(label=_("Company"), queryset=None)
    kind = forms.ChoiceField(label=_("Contents"), choices=TraceUpload.Kind.choices)
    file = forms.FileField(
        label=_("File (CSV or XLSX)"),
        help_text=_("UTF-8 CSV (or .csv.gz) or XLSX (first sheet) with a header row; see the documentation"),
    )

    def __init__(self, *args: Any, companies: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = companies
        if companies is not None and companies.count() == 1:
            self.fields["company"].initial = companies.first()

    def clean_file(self) -> Any:
        from qslab.core.uploads import check_upload

        upload = self.cleaned_data["file"]
        name = (upload.name or "").lower()
        if not name.endswith((".csv", ".csv.gz", ".xlsx")):
            raise forms.ValidationError(_("The file must be CSV (.csv or .csv.gz) or XLSX."))
        if upload.size and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The file is larger than 100 MB; load it with the qslab command."))
        if not name.endswith(".gz"):  # by content too: a CSV is text, an .xlsx a spreadsheet
            check_upload(upload, ("xlsx",) if name.endswith(".xlsx") else ("text",), MAX_UPLOAD_BYTES)
        return upload


class ScopeForm(forms.Form):
    """A scope query: batches and/or serial ranges of a product (GTIN)."""

    gtin = forms.CharField(label=_("GTIN"), max_length=20, required=False)
    lots = forms.CharField(
        label=_("Batches or lots"), required=False, help_text=_("separated by commas or spaces")
    )
    serial_ranges_text = forms.CharField(
        label=_("Serial ranges"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("one range per line: first - last"),
    )

    def clean_gtin(self) -> str:
        from qslab.core.validators import clean_gtin

        return clean_gtin(self.cleaned_data.get("gtin") or "")

    def clean(self) -> dict[str, Any]:
        from qslab.recalls.services import parse_serial_ranges

        data = super().clean()
        data["lot_list"] = [p for p in (data.get("lots") or "").replace(",", " ").split() if p][:200]
        try:
            data["serial_ranges"] = parse_serial_ranges(data.get("serial_ranges_text", ""))
        except ValidationError as error:
            self.add_error("serial_ranges_text", error.message_dict["serial_ranges"])
            data["serial_ranges"] = []
        if not data["lot_list"] and not data.get("serial_ranges") and not self.errors:
            raise forms.ValidationError(_("Give at least one batch or one serial range."))
        return data


class SerialLookupForm(forms.Form):
    """Is this unit in a recall? A serial number as printed, and optionally the product's GTIN."""

    serial = forms.CharField(
        label=_("Serial number"), max_length=40, help_text=_("as printed, e.g. SN-A000150")
    )
    gtin = forms.CharField(label=_("GTIN (optional)"), max_length=20, required=False)

    def clean_serial(self) -> str:
        from qslab.recalls.models import split_serial

        value = self.cleaned_data["serial"].strip()
        split_serial(value)
        return value

    def clean_gtin(self) -> str:
        from qslab.core.validators import clean_gtin

        return clean_gtin(self.cleaned_data.get("gtin") or "")


class PublicSearchForm(forms.Form):
    q = forms.CharField(label=_("Search (Chinese or English)"), required=False, max_length=200)
    hazard = forms.ChoiceField(label=_("Hazard"), required=False)
    remedy = forms.ChoiceField(
        label=_("Remedy"), required=False, choices=[("", _("all")), *Recall.Remedy.choices]
    )
    year = forms.IntegerField(label=_("Year of the notice"), required=False, min_value=2000, max_value=2100)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["hazard"].choices = [("", _("all"))] + [(t.code, t.name) for t in _terms("hazard")]


class ProducerReportForm(forms.Form):
    """What the producer learned of, and when: the statutory report falls due from that day."""

    company = forms.ModelChoiceField(label=_("Producer"), queryset=None)
    rule = forms.ModelChoiceField(label=_("What happened"), queryset=None)
    learned_on = forms.DateField(label=_("Learned of it on"), widget=forms.DateInput(attrs={"type": "date"}))
    occurred_on = forms.DateField(
        label=_("Happened on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    product = forms.ModelChoiceField(label=_("Product"), queryset=None, required=False)
    description = forms.CharField(
        label=_("What happened (confidential)"), widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args: Any, companies: Any = None, **kwargs: Any) -> None:
        from qslab.recalls.models import ReportingRule

        super().__init__(*args, **kwargs)
        self.fields["company"].queryset = companies
        if companies is not None and companies.count() == 1:
            self.fields["company"].initial = companies.first()
        self.fields["rule"].queryset = ReportingRule.objects.filter(active=True)
        self.fields["product"].queryset = Product.objects.filter(company__in=companies)


class LabTestRequestForm(forms.Form):
    """The office asks a laboratory to test, for a risk assessment or a recall's defect analysis."""

    laboratory = forms.ModelChoiceField(label=_("Laboratory"), queryset=None)
    assessment = forms.ModelChoiceField(label=_("Risk assessment"), queryset=None, required=False)
    recall = forms.ModelChoiceField(label=_("Recall (defect analysis)"), queryset=None, required=False)
    question = forms.CharField(label=_("What to test"), widget=forms.Textarea(attrs={"rows": 4}))
    due = forms.DateField(
        label=_("Report wanted by"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from qslab.labs.models import Laboratory
        from qslab.risk.models import RiskAssessment

        super().__init__(*args, **kwargs)
        from qslab.recalls.services import TESTING_LAB_STATES

        self.fields["laboratory"].queryset = Laboratory.objects.filter(
            status__in=TESTING_LAB_STATES
        ).order_by("code")
        self.fields["assessment"].queryset = RiskAssessment.objects.exclude(status="withdrawn")
        self.fields["recall"].queryset = Recall.objects.exclude(status="closed")


class LabReportForm(forms.Form):
    report = forms.FileField(label=_("Test report (PDF)"), help_text=_("PDF, at most 20 MB"))
    summary = forms.CharField(label=_("Findings"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
