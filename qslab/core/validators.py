"""Validators of identifiers shared by several apps (checked with python-stdnum).

``clean_gtin`` is the one check of a product barcode (GTIN-8/12/13/14, i.e. EAN-8, UPC-A, EAN-13 and
GTIN-14), used by the risk app (incident reports, assessments, alerts) and the recalls app (products,
scope queries). It returns the compact digits; ``validate_gtin`` is the same check as a model-field
validator.

>>> clean_gtin(" 6901234567892 ")
'6901234567892'
>>> clean_gtin("")
''
>>> clean_gtin("0-306-40615-2", isbn=True)
'0306406152'
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

GTIN_LENGTHS = (8, 12, 13, 14)


def clean_gtin(value: str | None, *, isbn: bool = False) -> str:
    """The compact GTIN of ``value`` ('' when empty), or ValidationError with a message for people.

    ``isbn=True`` also accepts an ISBN-10 (ten characters, the last may be X), as printed on books.
    """
    from stdnum import ean
    from stdnum import isbn as isbn_module
    from stdnum.exceptions import ValidationError as StdnumError

    compact = ean.compact(value or "").replace("-", "")
    if not compact:
        return ""
    is_isbn10 = isbn and len(compact) == 10 and compact[:9].isdigit() and compact[9] in "0123456789Xx"
    if not compact.isdigit() and not is_isbn10:
        message = (
            _("A barcode has only digits (ISBN-10 may end in X).")
            if isbn
            else _("A GTIN has only digits (EAN/UPC); “%(value)s” has other characters.")
        )
        raise ValidationError(message, code="gtin", params={"value": value})
    try:
        if is_isbn10:
            return isbn_module.validate(compact)
        if len(compact) not in GTIN_LENGTHS:
            raise ValidationError(
                _("A GTIN has 8, 12, 13 or 14 digits (EAN/UPC); “%(value)s” has %(n)d."),
                code="gtin",
                params={"value": compact, "n": len(compact)},
            )
        return ean.validate(compact)
    except StdnumError as exc:
        raise ValidationError(
            _("The GTIN %(value)s is not valid: its check digit does not match. Please copy it again."),
            code="gtin",
            params={"value": compact},
        ) from exc


def validate_gtin(value: str) -> None:
    """Model-field validator: an empty value or a GTIN-8/12/13/14 with a correct check digit."""
    clean_gtin(value)


__all__ = ["GTIN_LENGTHS", "clean_gtin", "validate_gtin"]
