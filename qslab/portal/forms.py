from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.portal.models import Notice
from qslab.portal.services import EDITABLE_FIELDS


class NoticeForm(forms.ModelForm):
    class Meta:
        model = Notice
        fields = EDITABLE_FIELDS
        widgets = {"body_zh": forms.Textarea(attrs={"rows": 8}), "body_en": forms.Textarea(attrs={"rows": 8})}


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
