"""Parser and validation messages follow the reader's language: English, or Chinese (gettext)."""

import pytest
from django.utils import translation

from qslab.outputs.identifiers import (
    IdentifierError,
    normalise_doi,
    parse_patent_application,
    parse_standard_number,
)


def message(func, text, language):
    with translation.override(language), pytest.raises(IdentifierError) as exc:
        func(text)
    return str(exc.value)


def test_a_wrong_standard_number_is_explained_in_english_or_chinese():
    assert message(parse_standard_number, "GB/T 12345", "en") == (
        'The year is missing: write it as in "GB/T 12345-2026".'
    )
    assert (
        message(parse_standard_number, "GB/T 12345", "zh-hans")
        == "缺少年份：请按“GB/T 12345-2026”的格式书写。"
    )
    assert message(parse_standard_number, "DB99/T 1-2020", "zh-hans") == (
        "“DB99”中的省级代码“99”不是 GB/T 2260 中的省份。"
    )


def test_patent_and_doi_messages_are_translated_too():
    assert message(parse_patent_application, "201710601862.4", "zh-hans") == (
        "201710601862 的校验位应为 3，而不是 4。"
    )
    assert message(normalise_doi, "", "zh-hans") == "DOI 为空。"
