from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.sharing.models import Blackout, CustodyEvent, Resource, Sample, ServiceRequest, Tariff, UserClass
from qslab.sharing.services import RESOURCE_FIELDS

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ResourceForm(forms.ModelForm):
    class Meta:
        model = Resource
        fields = RESOURCE_FIELDS
        widgets = {
            "description_zh": forms.Textarea(attrs={"rows": 3}),
            "description_en": forms.Textarea(attrs={"rows": 3}),
            "capabilities_zh": forms.Textarea(attrs={"rows": 3}),
            "capabilities_en": forms.Textarea(attrs={"rows": 3}),
            "accreditation_scope": forms.Textarea(attrs={"rows": 2}),
            "opens_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "closes_at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def validate_unique(self) -> None:  # the lab is set by the service, which checks the code
        pass


class BookingForm(forms.Form):
    starts = forms.DateTimeField(label=_("starts"), widget=DATETIME)
    ends = forms.DateTimeField(label=_("ends"), widget=DATETIME)
    purpose = forms.CharField(label=_("purpose"), max_length=300, required=False)
    repeat_weeks = forms.IntegerField(
        label=_("repeat weekly for (weeks)"), min_value=1, max_value=26, initial=1, required=False
    )

    def clean(self):  # type: ignore[no-untyped-def]
        data = super().clean()
        if data.get("starts") and data.get("ends") and data["ends"] <= data["starts"]:
            self.add_error("ends", _("The end must be after the start."))
        return data


class BlackoutForm(forms.ModelForm):
    class Meta:
        model = Blackout
        fields = ("kind", "starts", "ends", "reason")
        widgets = {"starts": DATETIME, "ends": DATETIME}


class QualifyForm(forms.Form):
    username = forms.CharField(label=_("user name"), max_length=150)


class ServiceRequestForm(forms.ModelForm):
    class Meta:
        model = ServiceRequest
        fields = ("resource", "title", "details", "samples")
        widgets = {"details": forms.Textarea(attrs={"rows": 4})}

    def __init__(self, *args, lab=None, user=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = Resource.objects.visible_to(user).filter(lab=lab)
        self.fields["samples"].min_value = 1


class QuoteForm(forms.Form):
    quote_amount = forms.DecimalField(
        label=_("quoted price (CNY)"), min_value=0, max_digits=12, decimal_places=2
    )
    quote_note = forms.CharField(
        label=_("quote note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class StatementForm(forms.Form):
    username = forms.CharField(label=_("client's user name"), max_length=150)
    year = forms.IntegerField(label=_("year"), min_value=2000, max_value=2100)
    month = forms.IntegerField(label=_("month"), min_value=1, max_value=12)


class TariffForm(forms.Form):
    """The resource's price list: one price per user class and unit; an empty field means no tariff."""

    def __init__(self, *args, resource=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        current = {(t.user_class, t.unit): t.price for t in resource.tariffs.all()} if resource else {}
        for unit, unit_label in Tariff.Unit.choices:
            for user_class, class_label in UserClass.choices:
                self.fields[f"{unit}_{user_class}"] = forms.DecimalField(
                    label=f"{class_label}, {unit_label} (CNY)",
                    min_value=0,
                    max_digits=10,
                    decimal_places=2,
                    required=False,
                    initial=current.get((user_class, unit)),
                )

    def prices(self) -> dict:
        return {
            (user_class, unit): self.cleaned_data.get(f"{unit}_{user_class}")
            for unit in Tariff.Unit.values
            for user_class in UserClass.values
        }


class SampleReceiptForm(forms.Form):
    """One sample as it arrived."""

    description = forms.CharField(label=_("description"), max_length=300, required=False)
    quantity = forms.CharField(label=_("quantity"), max_length=60, required=False)
    condition = forms.ChoiceField(
        label=_("condition on arrival"), choices=Sample.Condition.choices, initial=Sample.Condition.INTACT
    )
    condition_note = forms.CharField(label=_("condition note"), max_length=300, required=False)


SampleReceiptFormSet = forms.formset_factory(SampleReceiptForm, extra=0, max_num=100)


class ReceiptForm(forms.Form):
    location = forms.CharField(label=_("stored at"), max_length=200, required=False)
    note = forms.CharField(label=_("receipt note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class CustodyForm(forms.Form):
    sample = forms.ModelChoiceField(label=_("sample"), queryset=Sample.objects.none())
    action = forms.ChoiceField(
        label=_("action"),
        choices=[c for c in CustodyEvent.Action.choices if c[0] != CustodyEvent.Action.RECEIVED],
    )
    holder = forms.CharField(label=_("to (person now holding it)"), max_length=150, required=False)
    location = forms.CharField(label=_("location"), max_length=200, required=False)
    note = forms.CharField(label=_("note"), max_length=300, required=False)

    def __init__(self, *args, request=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if request is not None:
            self.fields["sample"].queryset = request.sample_items.filter(
                disposition=Sample.Disposition.IN_CUSTODY
            )


class ResultsForm(forms.Form):
    method = forms.CharField(label=_("test method"), max_length=300, required=False)
    results_zh = forms.CharField(label=_("results (Chinese)"), widget=forms.Textarea(attrs={"rows": 5}))
    results_en = forms.CharField(label=_("results (English)"), widget=forms.Textarea(attrs={"rows": 5}))
