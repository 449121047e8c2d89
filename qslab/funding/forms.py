"""Forms of the funding app. The budget grid is built from the line items × sources."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.core.uploads import TABLES, UploadValidator
from qslab.funding.models import AllocationRun, FundingRules, Grade, Line, Source
from qslab.funding.services import (
    EVIDENCE_KINDS,
    EVIDENCE_MAX_BYTES,
    IMPORT_MAX_BYTES,
    INDICATOR_COLUMNS,
    expert_candidates,
)
from qslab.labs.models import Laboratory


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))


class BudgetCreateForm(forms.Form):
    laboratory = forms.ModelChoiceField(label=_("Laboratory"), queryset=Laboratory.objects.none())
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["laboratory"].queryset = Laboratory.objects.editable_by(user)


def cell_name(line: str, source: str) -> str:
    return f"amt_{line}_{source}"


class BudgetLinesForm(forms.Form):
    """One amount per line item × source (yuan, two decimals; empty means zero)."""

    reason = forms.CharField(
        label=_("Reason for this version"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("required when adjusting an approved budget"),
    )

    def __init__(
        self, *args: Any, initial_amounts: dict[tuple[str, str], Decimal] | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        for line in Line:
            for source in Source:
                self.fields[cell_name(line, source)] = forms.DecimalField(
                    label=f"{line.label} / {source.label}",
                    required=False,
                    min_value=0,
                    max_digits=14,
                    decimal_places=2,
                    initial=(initial_amounts or {}).get((line.value, source.value)),
                    widget=forms.NumberInput(attrs={"step": "0.01", "class": "amount"}),
                )

    def amounts(self) -> dict[tuple[str, str], Decimal]:
        return {
            (line.value, source.value): self.cleaned_data.get(cell_name(line, source)) or Decimal(0)
            for line in Line
            for source in Source
        }

    def grid(self) -> list[tuple[str, list[Any]]]:
        return [(line.label, [self[cell_name(line, source)] for source in Source]) for line in Line]


class TargetsForm(forms.Form):
    text = forms.CharField(
        label=_("Performance targets, one per line"),
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono"}),
        help_text=_(
            "%(cols)s — level2 is one of quantity, quality, timeliness, cost, economic, social, "
            "ecological, sustainability, served; comparator is >=, <= or ="
        )
        % {"cols": ", ".join(INDICATOR_COLUMNS)},
    )


class ImportForm(forms.Form):
    # Checked by content and size before anything parses it.
    file = forms.FileField(
        label=_("CSV or XLSX file"), validators=[UploadValidator(TABLES, max_bytes=IMPORT_MAX_BYTES)]
    )
    dry_run = forms.BooleanField(label=_("Dry run: check only, save nothing"), required=False)


class EvidenceForm(forms.Form):
    file = forms.FileField(
        label=_("Evidence file (PDF, XLSX or image)"),
        validators=[UploadValidator(EVIDENCE_KINDS, max_bytes=EVIDENCE_MAX_BYTES)],
    )
    description = forms.CharField(label=_("Description"), required=False, max_length=300)


class ExpertsForm(forms.Form):
    experts = forms.ModelMultipleChoiceField(
        label=_("Experts reviewing this self-evaluation"),
        queryset=expert_candidates(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )


class FlagAnswerForm(forms.Form):
    cause = forms.CharField(label=_("Cause"), widget=forms.Textarea(attrs={"rows": 3}))
    corrective_action = forms.CharField(
        label=_("Corrective action"), widget=forms.Textarea(attrs={"rows": 3})
    )


class HoldForm(forms.Form):
    hold = forms.BooleanField(label=_("Hold back funding"), required=False)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class MonitoringForm(forms.Form):
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    month = forms.IntegerField(label=_("Data up to month"), min_value=1, max_value=12, required=False)


class AdjustScoreForm(forms.Form):
    score = forms.DecimalField(label=_("Score after review"), min_value=0, max_value=100, decimal_places=2)
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))


class LabGradeForm(forms.Form):
    laboratory = forms.ModelChoiceField(label=_("Laboratory"), queryset=Laboratory.objects.all())
    year = forms.IntegerField(label=_("Year"), min_value=2000, max_value=2100)
    grade = forms.ChoiceField(label=_("Evaluation grade"), choices=Grade.choices)
    open_rectification = forms.BooleanField(label=_("Open rectification"), required=False)


class RulesForm(forms.ModelForm):
    class Meta:
        model = FundingRules
        fields = (
            "year",
            "weight_execution",
            "weight_output",
            "weight_effect",
            "weight_satisfaction",
            "proportional_credit",
            "grade_excellent",
            "grade_good",
            "grade_fair",
            "monitoring_month",
            "monitoring_day",
            "monitoring_data_month",
            "expected_curve",
            "lag_tolerance",
        )

    def clean_expected_curve(self) -> list[Any]:
        curve = self.cleaned_data.get("expected_curve") or []
        if curve and (
            len(curve) != 12
            or any(not isinstance(v, (int, float)) or not 0 <= v <= 100 for v in curve)
            or any(b < a for a, b in itertools.pairwise(curve))
        ):
            raise forms.ValidationError(
                _("Give twelve rising percentages between 0 and 100, or leave it empty.")
            )
        return curve


class AmendmentForm(forms.Form):
    reason = forms.CharField(label=_("Reason for the amendment"), widget=forms.Textarea(attrs={"rows": 2}))
    total = forms.DecimalField(
        label=_("New total (yuan)"),
        required=False,
        min_value=Decimal("0.01"),
        decimal_places=2,
        help_text=_("leave empty to keep the total of the allocation it amends"),
    )


class AllocationRunForm(forms.ModelForm):
    weight_excellent = forms.DecimalField(label=_("weight: excellent"), min_value=0, initial=3)
    weight_good = forms.DecimalField(label=_("weight: good"), min_value=0, initial=2)
    weight_fair = forms.DecimalField(label=_("weight: fair"), min_value=0, initial=1)
    weight_poor = forms.DecimalField(label=_("weight: poor"), min_value=0, initial=0)

    class Meta:
        model = AllocationRun
        fields = (
            "year",
            "title_zh",
            "title_en",
            "total",
            "formula",
            "require_named",
            "min_lab_grade",
            "exclude_open_rectification",
            "min_self_grade",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["formula"].required = False  # left out: tiers by grade, as before formulas existed

    def clean_formula(self) -> str:
        return self.cleaned_data.get("formula") or AllocationRun.Formula.TIERS

    def service_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["grade_weights"] = {g: str(data.pop(f"weight_{g}")) for g in Grade.values}
        return data
