"""The one GTIN check (python-stdnum) used by the risk and recalls apps."""

import pytest
from django.core.exceptions import ValidationError

from qslab.core.validators import clean_gtin, validate_gtin


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("6901234567892", "6901234567892"),  # EAN-13
        (" 4006381333931 ", "4006381333931"),
        ("96385074", "96385074"),  # EAN-8
        ("036000291452", "036000291452"),  # UPC-A
        ("10012345678902", "10012345678902"),  # GTIN-14
        ("", ""),
    ],
)
def test_a_valid_gtin_comes_back_compact(value, expected):
    assert clean_gtin(value) == expected


def test_a_wrong_check_digit_is_refused_with_a_message_that_says_so():
    with pytest.raises(ValidationError) as exc:
        clean_gtin("6901234567893")
    assert "check digit does not match" in exc.value.messages[0]


def test_a_gtin_of_the_wrong_length_says_how_many_digits_it_has():
    with pytest.raises(ValidationError) as exc:
        clean_gtin("123456789")
    assert "8, 12, 13 or 14 digits" in exc.value.messages[0] and "has 9" in exc.value.messages[0]


def test_letters_are_refused_unless_an_isbn_10_is_allowed():
    with pytest.raises(ValidationError):
        clean_gtin("030640615X")
    with pytest.raises(ValidationError):
        clean_gtin("0306406152")  # ten digits: no GTIN has ten
    assert clean_gtin("0-306-40615-2", isbn=True) == "0306406152"
    with pytest.raises(ValidationError, match="check digit"):
        clean_gtin("0306406153", isbn=True)


def test_the_model_validator_and_both_apps_use_the_same_check():
    from qslab.recalls import models as recalls_models
    from qslab.recalls.models import Product
    from qslab.risk.forms import validate_barcode

    assert recalls_models.validate_gtin is validate_gtin
    assert validate_gtin in Product._meta.get_field("gtin").validators
    with pytest.raises(ValidationError, match="check digit"):
        validate_barcode("4006381333932")
    assert validate_gtin("") is None


def test_recalls_and_risk_share_one_risk_level_definition():
    from qslab.recalls.models import Recall
    from qslab.risk.models import RiskLevel

    assert Recall.RiskLevel is RiskLevel
    assert Recall._meta.get_field("risk_level").choices == RiskLevel.choices
