from django import forms
from django.utils.translation import gettext_lazy as _

from qslab.portal.models import Notice


class NoticeForm(forms.ModelForm):
    class Meta:
        model = Notice
        fields = ("title_zh", "title_en", "body_zh", "body_en")
        widgets = {"body_zh": forms.Textarea(attrs={"rows": 8}), "body_en": forms.Textarea(attrs={"rows": 8})}


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
