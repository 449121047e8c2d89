"""qslab.core overrides Django's select widget template, writing each option inline instead of including
one template per option; what it renders must be what Django renders."""

import re

from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer


class _Choices(forms.Form):
    plain = forms.ChoiceField(choices=[("", "all"), ("a", "Alpha & <b>"), ("b", "Beta")], required=False)
    grouped = forms.ChoiceField(
        choices=[("Fruit", [("apple", "苹果"), ("pear", "Pear")]), ("Other", [("x", "X")]), ("z", "Z")]
    )
    several = forms.MultipleChoiceField(choices=[(1, "One"), (2, "Two"), (3, "Three")])
    numbers = forms.TypedChoiceField(choices=[(1, "1"), (2, "2")], coerce=int, disabled=True)


def _normalised(html: str) -> str:
    return re.sub(r">\s+<", "><", html.strip())


def test_the_project_renderer_uses_the_inline_select_template():
    template = get_default_renderer().get_template("django/forms/widgets/select.html")
    assert "qslab" in str(template.origin.name) and "include option.template_name" in template.template.source


def test_selects_render_as_django_renders_them_with_groups_selections_and_escaping(db):
    data = {"plain": "a", "grouped": "pear", "several": ["1", "3"], "numbers": "2"}
    ours = _Choices(data, renderer=get_default_renderer())
    django = _Choices(data, renderer=DjangoTemplates())
    for name in ("plain", "grouped", "several", "numbers"):
        mine, theirs = _normalised(str(ours[name])), _normalised(str(django[name]))
        assert mine == theirs, name
    assert "selected>Alpha &amp; &lt;b&gt;</option>" in _normalised(str(ours["plain"]))
    assert '<optgroup label="Fruit">' in str(ours["grouped"]) and "multiple" in str(ours["several"])
