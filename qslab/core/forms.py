"""What every app's form views share."""

from typing import Any

from django.core.exceptions import ValidationError


def add_validation_error(form: Any, error: ValidationError) -> None:
    """Show a service's ``ValidationError`` on the form that sent the input: each message on its field
    where the form has that field, the rest (and a message with no field) above the form."""
    if hasattr(error, "error_dict"):
        for field, problems in error.message_dict.items():
            form.add_error(field if field in form.fields else None, problems)
    else:
        form.add_error(None, error.messages)
