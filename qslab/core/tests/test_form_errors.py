"""``add_validation_error``: a service's refusal shown on the form that sent the input."""

from django import forms
from django.core.exceptions import ValidationError

from qslab.core.forms import add_validation_error


class _NameForm(forms.Form):
    name = forms.CharField()


def _bound():
    form = _NameForm({"name": "x"})
    assert form.is_valid()
    return form


def test_a_message_for_a_field_of_the_form_stands_on_that_field():
    form = _bound()
    add_validation_error(form, ValidationError({"name": "Taken."}))
    assert form.errors == {"name": ["Taken."]}


def test_a_message_for_a_field_the_form_lacks_stands_above_the_form():
    form = _bound()
    add_validation_error(form, ValidationError({"laboratory": "Not yours."}))
    assert form.non_field_errors() == ["Not yours."]


def test_a_message_without_a_field_stands_above_the_form():
    form = _bound()
    add_validation_error(form, ValidationError(["Too late.", "Closed."]))
    assert form.non_field_errors() == ["Too late.", "Closed."]
