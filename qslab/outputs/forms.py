from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.core.uploads import TABLES, UploadValidator
from qslab.labs.models import Laboratory
from qslab.outputs.models import Output, StaffMember, Standard
from qslab.outputs.services import EVIDENCE_KINDS, EVIDENCE_MAX_BYTES, IMPORT_MAX_BYTES, STAFF_FIELDS


class _LabChoice(forms.ModelForm):
    """Adds the laboratory choice, limited to the labs the user may record for, when creating."""

    laboratory = forms.ModelChoiceField(label=_("Laboratory"), queryset=Laboratory.objects.none())

    def __init__(self, *args, labs=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if labs is None:
            del self.fields["laboratory"]
        else:
            self.fields["laboratory"].queryset = labs
            if labs.count() == 1:
                self.fields["laboratory"].initial = labs.first()

    def _post_clean(self) -> None:
        """The services check everything (identifiers, duplicates with the existing record named)."""


class StandardForm(_LabChoice):
    class Meta:
        model = Standard
        fields = (
            "laboratory",
            "number",
            "project_number",
            "level",
            "title_zh",
            "title_en",
            "role",
            "implemented_on",
            "notes",
        )
        widgets = {
            "implemented_on": forms.DateInput(attrs={"type": "date"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {"level": _("Taken from the number when there is one.")}

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        from django.urls import reverse

        super().__init__(*args, **kwargs)
        self.fields["level"].required = False
        self.fields["number"].widget.attrs.update(
            {
                "hx-get": reverse("outputs:number_check"),
                "hx-trigger": "keyup changed delay:400ms, change",
                "hx-target": "#number-check",
                "aria-describedby": "number-check",
            }
        )


class OutputForm(_LabChoice):
    class Meta:
        model = Output
        fields = (
            "laboratory",
            "kind",
            "title_zh",
            "title_en",
            "year",
            "date",
            "people",
            "description",
            "doi",
            "journal",
            "application_number",
            "grant_number",
            "granted_on",
            "value",
            "participants",
            "counterpart",
            "policy_question",
            "impact_assessment",
        )
        widgets = {
            "date": forms.DateInput(attrs={"type": "date"}),
            "granted_on": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
            "policy_question": forms.Textarea(attrs={"rows": 2}),
            "impact_assessment": forms.Textarea(attrs={"rows": 2}),
        }


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    on = forms.DateField(label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class EvidenceForm(forms.Form):
    file = forms.FileField(
        label=_("Evidence file"),
        help_text=_("PDF, image, Word or Excel file, at most 20 MB."),
        validators=[UploadValidator(EVIDENCE_KINDS, max_bytes=EVIDENCE_MAX_BYTES)],
    )


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV or XLSX file"),
        help_text=_("CSV (UTF-8) or XLSX, at most 10 MB."),
        validators=[UploadValidator(TABLES, max_bytes=IMPORT_MAX_BYTES)],
    )
    dry_run = forms.BooleanField(label=_("Dry run: check only, save nothing"), required=False)


class YearForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=1949, max_value=2100)


class StaffForm(forms.ModelForm):
    class Meta:
        model = StaffMember
        fields = STAFF_FIELDS
        widgets = {
            "starts_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "ends_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "qualifications": forms.Textarea(attrs={"rows": 3}),
            "notes": forms.Textarea(attrs={"rows": 2}),
        }

    def _post_clean(self) -> None:
        """The service checks the entry (dates, role) and saves it."""
