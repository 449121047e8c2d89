from __future__ import annotations

import math
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.core.uploads import MB, UploadValidator
from qslab.labs.models import Laboratory
from qslab.studies.models import (
    Monitor,
    PrecisionExperiment,
    PTMeasurand,
    PTRound,
    ReferenceMaterialStudy,
    UncertaintyBudget,
)
from qslab.studies.services import (
    BUDGET_FIELDS,
    EXPERIMENT_FIELDS,
    MEASURAND_FIELDS,
    MONITOR_FIELDS,
    RM_FIELDS,
    ROUND_FIELDS,
)


def _floats(text: str, where: str) -> list[float]:
    out = []
    for part in text.replace(";", ",").replace("\t", ",").replace(" ", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part)
        except ValueError:
            raise forms.ValidationError(
                _("%(where)s: “%(text)s” is not a number."), params={"where": where, "text": part}
            ) from None
        if not math.isfinite(value):
            raise forms.ValidationError(_("%(where)s: numbers must be finite."), params={"where": where})
        out.append(value)
    return out


class NumberListField(forms.CharField):
    """Numbers separated by commas or spaces, stored as a list."""

    widget = forms.Textarea(attrs={"rows": 2})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(f"{v:g}" for v in value)
        return value

    def to_python(self, value: Any) -> list[float]:
        return _floats(super().to_python(value) or "", str(_("list")))


class NumberRowsField(forms.CharField):
    """One line per item (or unit), its replicate results separated by commas or spaces."""

    widget = forms.Textarea(attrs={"rows": 4})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(", ".join(f"{v:g}" for v in row) for row in value)
        return value

    def to_python(self, value: Any) -> list[list[float]]:
        text = super().to_python(value) or ""
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append(_floats(line, str(_("line %(n)d")) % {"n": i}))
        return rows


class LabChoiceMixin:
    """A ``laboratory`` field limited to the labs the user manages."""

    def set_labs(self, labs: Any) -> None:
        self.fields["laboratory"] = forms.ModelChoiceField(
            queryset=labs, label=_("organising laboratory"), empty_label=None
        )
        self.order_fields(["laboratory"])


class RoundForm(LabChoiceMixin, forms.ModelForm):
    class Meta:
        model = PTRound
        fields = ROUND_FIELDS
        widgets = {
            "deadline": forms.DateInput(attrs={"type": "date"}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }


class MeasurandForm(forms.ModelForm):
    homogeneity_data = NumberRowsField(
        label=_("homogeneity data"), help_text=_("One line per PT item with its replicate results.")
    )
    stability_before = NumberListField(label=_("stability: results before"))
    stability_after = NumberListField(label=_("stability: results after"))

    class Meta:
        model = PTMeasurand
        fields = MEASURAND_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("sigma_pt") is not None and data["sigma_pt"] <= 0:
            self.add_error("sigma_pt", _("sigma_pt must be greater than zero."))
        if data.get("assigned_uncertainty") is not None and data["assigned_uncertainty"] < 0:
            self.add_error("assigned_uncertainty", _("An uncertainty cannot be negative."))
        rows = data.get("homogeneity_data") or []
        if rows and (len(rows) < 2 or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2):
            self.add_error(
                "homogeneity_data",
                _("Give at least two items, each with the same number (two or more) of replicates."),
            )
        return data


class RegisterForm(forms.Form):
    laboratory = forms.ModelChoiceField(
        queryset=Laboratory.objects.none(), required=False, label=_("register my laboratory")
    )
    as_organisation = forms.BooleanField(required=False, label=_("register my organisation instead"))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("laboratory") and not data.get("as_organisation"):
            raise forms.ValidationError(_("Choose a laboratory, or register your organisation."))
        return data


class ResultsForm(forms.Form):
    """One value, standard uncertainty and coverage factor per measurand of the round."""

    def __init__(self, *args: Any, measurands: list[PTMeasurand], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.measurands = measurands
        for m in measurands:
            self.fields[f"value_{m.pk}"] = forms.FloatField(label=f"{m.name} ({m.unit}): " + str(_("result")))
            self.fields[f"u_{m.pk}"] = forms.FloatField(
                label=f"{m.name}: " + str(_("standard uncertainty u")), min_value=0
            )
            self.fields[f"k_{m.pk}"] = forms.FloatField(
                label=f"{m.name}: " + str(_("coverage factor k")), initial=2, min_value=0.1
            )

    def rows(self) -> list[dict[str, Any]]:
        d = self.cleaned_data
        return [
            {"measurand": str(m.pk), "value": d[f"value_{m.pk}"], "u": d[f"u_{m.pk}"], "k": d[f"k_{m.pk}"]}
            for m in self.measurands
        ]


#: Uploaded result files are CSV text (checked by content, not name) read whole: at most 10 MB.
CSV_KINDS = ("text",)
CSV_MAX_BYTES = 10 * MB


def csv_file_field(label: str, required: bool = True) -> forms.FileField:
    return forms.FileField(
        label=label,
        required=required,
        help_text=_("CSV (UTF-8), at most 10 MB."),
        validators=[UploadValidator(CSV_KINDS, max_bytes=CSV_MAX_BYTES)],
    )


class UploadForm(forms.Form):
    file = csv_file_field(_("CSV file"))


class CsvFileForm(forms.Form):
    """A CSV file posted beside other fields (the SPC monitor's points)."""

    file = csv_file_field(_("CSV file"))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ExperimentForm(LabChoiceMixin, forms.ModelForm):
    levels = forms.CharField(label=_("levels"), help_text=_("Names of the levels, separated by commas."))

    class Meta:
        model = PrecisionExperiment
        fields = EXPERIMENT_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["levels"] = ", ".join(self.instance.levels)

    def clean_levels(self) -> list[str]:
        names = [s.strip() for s in self.cleaned_data["levels"].split(",") if s.strip()]
        if not names:
            raise forms.ValidationError(_("Give at least one level."))
        if len(set(names)) != len(names):
            raise forms.ValidationError(_("Each level needs a different name."))
        return names


class PrecisionDataForm(forms.Form):
    data = forms.CharField(
        label=_("test results (CSV: level,lab,replicate,value)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10}),
    )
    file = csv_file_field(_("or a CSV file"), required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("data") and not data.get("file"):
            raise forms.ValidationError(_("Paste the results or choose a file."))
        return data


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("decision"), choices=[("retain", _("retain")), ("exclude", _("exclude from the estimates"))]
    )
    reason = forms.CharField(label=_("technical reason"), widget=forms.Textarea(attrs={"rows": 2}))


class BudgetForm(LabChoiceMixin, forms.ModelForm):
    class Meta:
        model = UncertaintyBudget
        fields = BUDGET_FIELDS
        widgets = {"spec": forms.Textarea(attrs={"rows": 18, "class": "mono"})}

    def clean_spec(self) -> str:
        from qslab.studies.services import Refused, parse_spec

        text = self.cleaned_data["spec"]
        try:
            parse_spec(text)
        except Refused as exc:
            raise forms.ValidationError(str(exc)) from None
        return text


class CopyBudgetForm(LabChoiceMixin, forms.Form):
    pass


class ReferenceMaterialForm(LabChoiceMixin, forms.ModelForm):
    homogeneity_data = NumberRowsField(label=_("homogeneity: one line per unit"))
    stability_times = NumberListField(label=_("stability: times"))
    stability_values = NumberListField(label=_("stability: values"))
    characterisation_means = NumberListField(label=_("characterisation: laboratory means"), required=True)

    class Meta:
        model = ReferenceMaterialStudy
        fields = RM_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if len(data.get("stability_times") or []) != len(data.get("stability_values") or []):
            self.add_error("stability_values", _("Give one value per time."))
        return data


class MonitorForm(LabChoiceMixin, forms.ModelForm):
    class Meta:
        model = Monitor
        fields = MONITOR_FIELDS

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("center") is None) != (data.get("sigma") is None):
            self.add_error("sigma", _("Give both the centre line and sigma, or neither (phase I sets them)."))
        if data.get("sigma") is not None and data["sigma"] <= 0:
            self.add_error("sigma", _("sigma must be greater than zero."))
        if data.get("chart") == Monitor.Chart.XBAR and (data.get("subgroup_size") or 0) < 2:
            self.add_error("subgroup_size", _("An X-bar chart needs subgroups of two or more."))
        if data.get("lsl") is not None and data.get("usl") is not None and data["lsl"] >= data["usl"]:
            self.add_error("usl", _("The upper specification limit must be above the lower."))
        return data


class PointForm(forms.Form):
    values = forms.CharField(
        label=_("measurement(s)"), help_text=_("One value, or the subgroup's values separated by commas.")
    )

    def clean_values(self) -> list[float]:
        return _floats(self.cleaned_data["values"], str(_("values")))


class AlarmForm(forms.Form):
    cause = forms.CharField(label=_("assignable cause"), widget=forms.Textarea(attrs={"rows": 2}))
    corrective_action = forms.CharField(
        label=_("corrective action"), widget=forms.Textarea(attrs={"rows": 2})
    )
