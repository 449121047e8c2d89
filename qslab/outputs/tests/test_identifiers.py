"""Standard numbers, patent numbers and DOIs: many valid and invalid examples, with the exact message
each mistake gets."""

import pytest

from qslab.outputs.identifiers import (
    IdentifierError,
    normalise_doi,
    parse_patent_application,
    parse_standard_number,
    patent_check_digit,
    validate_patent_grant,
)

VALID = [
    # text, canonical, level, nature, issuer, serial, parts, year
    ("GB/T 12345-2026", "GB/T 12345-2026", "national", "recommended", "", "12345", (), 2026),
    ("GB 4706.1-2005", "GB 4706.1-2005", "national", "mandatory", "", "4706", ("1",), 2005),
    ("GB/Z 41234-2022", "GB/Z 41234-2022", "national", "guidance", "", "41234", (), 2022),
    ("GB/T 1.1-2020", "GB/T 1.1-2020", "national", "recommended", "", "1", ("1",), 2020),
    ("GB/T 16886.10-2017", "GB/T 16886.10-2017", "national", "recommended", "", "16886", ("10",), 2017),
    ("gb/t 12345—2026", "GB/T 12345-2026", "national", "recommended", "", "12345", (), 2026),
    ("  GB/T   12345-2026 ", "GB/T 12345-2026", "national", "recommended", "", "12345", (), 2026),
    ("JB/T 10000-2020", "JB/T 10000-2020", "industry", "recommended", "JB", "10000", (), 2020),
    ("QB/T 1234-2019", "QB/T 1234-2019", "industry", "recommended", "QB", "1234", (), 2019),
    ("SN/T 1234.5-2020", "SN/T 1234.5-2020", "industry", "recommended", "SN", "1234", ("5",), 2020),
    ("RB/T 214-2017", "RB/T 214-2017", "industry", "recommended", "RB", "214", (), 2017),
    ("YY 0505-2012", "YY 0505-2012", "industry", "mandatory", "YY", "0505", (), 2012),
    ("DB11/T 1234-2020", "DB11/T 1234-2020", "local", "recommended", "11", "1234", (), 2020),
    ("DB32 4001-2021", "DB32 4001-2021", "local", "mandatory", "32", "4001", (), 2021),
    ("DB3201/T 1100-2022", "DB3201/T 1100-2022", "local", "recommended", "3201", "1100", (), 2022),
    ("T/CAQI 123-2022", "T/CAQI 123-2022", "group", "recommended", "CAQI", "123", (), 2022),
    ("t/cesa 1001.2-2023", "T/CESA 1001.2-2023", "group", "recommended", "CESA", "1001", ("2",), 2023),
    ("ISO 5725-2:2019", "ISO 5725-2:2019", "international", "recommended", "", "5725", ("2",), 2019),
    ("ISO/IEC 17025:2017", "ISO/IEC 17025:2017", "international", "recommended", "", "17025", (), 2017),
    (
        "IEC 60335-2-24:2020",
        "IEC 60335-2-24:2020",
        "international",
        "recommended",
        "",
        "60335",
        ("2", "24"),
        2020,
    ),
    ("ISO/TS 21749:2005", "ISO/TS 21749:2005", "international", "guidance", "", "21749", (), 2005),
    (
        "ISO/IEC/IEEE 8802-3:2021",
        "ISO/IEC/IEEE 8802-3:2021",
        "international",
        "recommended",
        "",
        "8802",
        ("3",),
        2021,
    ),
]


@pytest.mark.parametrize(("text", "canonical", "level", "nature", "issuer", "serial", "parts", "year"), VALID)
def test_valid_standard_numbers_are_parsed_into_their_parts(
    text, canonical, level, nature, issuer, serial, parts, year
):
    n = parse_standard_number(text)
    assert (n.text, n.level, n.nature, n.issuer, n.serial, n.parts, n.year) == (
        canonical,
        level,
        nature,
        issuer,
        serial,
        parts,
        year,
    )


INVALID = [
    ("", "The standard number is empty."),
    ("   ", "The standard number is empty."),
    ("GB/T12345-2026", 'Write a space between the prefix and the serial number, as in "GB/T 12345-2026".'),
    ("GB/T 12345 2026", 'Unexpected text after the number: "2026".'),
    (
        "XY/T 1-2020",
        'Unknown prefix "XY/T": expected GB, GB/T or GB/Z, an industry code such as JB/T, a local code such as '  # noqa: E501
        "DB11/T, a group code such as T/CAQI, or ISO/IEC.",
    ),
    (
        "Q/ABC 1-2020",
        'Unknown prefix "Q/ABC": expected GB, GB/T or GB/Z, an industry code such as JB/T, a local code such as '  # noqa: E501
        "DB11/T, a group code such as T/CAQI, or ISO/IEC.",
    ),
    (
        "GB/X 12345-2026",
        'Unknown suffix "/X" after "GB": expected /T (recommended), /Z (guidance) or nothing (mandatory).',
    ),
    ("GB/T/Z 12345-2026", 'Unknown suffix "/T/Z" after "GB".'),
    (
        "JB/Q 10000-2020",
        'Unknown suffix "/Q" after "JB": expected /T (recommended), /Z (guidance) or nothing (mandatory).',
    ),
    ("GB/T 12345", 'The year is missing: write it as in "GB/T 12345-2026".'),
    ("GB/T 12345-", 'The year is missing: write it as in "GB/T 12345-2026".'),
    ("GB/T 12345-05", 'The year "05" must have four digits.'),
    ("GB/T 12345-20a6", 'The year "20a6" must be digits.'),
    ("GB/T 12345-1850", "The year 1850 is outside 1900–2099."),
    ("GB/T 12a45-2026", 'The serial number "12a45" must be digits.'),
    ("GB/T -2026", 'The serial number is missing after "GB/T".'),
    ("GB 4706.x-2005", 'The part number "x" must be digits.'),
    ("GB 4706.-2005", 'The part number is missing after "GB".'),
    ("GB/T 12345:2026", "A Chinese standard number separates the year with a hyphen, not a colon."),
    ("DB99/T 1-2020", 'The province code "99" in "DB99" is not a GB/T 2260 province.'),
    (
        "DB1/T 1-2020",
        'A local standard prefix is DB followed by a two-digit province code (or four digits for a city), not "DB1".',  # noqa: E501
    ),
    ("T 123-2022", 'A group standard needs the association code after "T/", as in "T/CAQI 123-2022".'),
    ("T/ 123-2022", 'A group standard needs the association code after "T/", as in "T/CAQI 123-2022".'),
    (
        "T/1AB 123-2022",
        'The association code "1AB" must be 2 to 12 capital letters or digits, starting with a letter.',
    ),
    ("ISO 5725-2", 'The year is missing: write it as in "ISO 5725-2:2019".'),
    ("ISO 5725-2-2019", "An international standard number separates the year with a colon, not a hyphen."),
    ("ISO 5725-2:19", 'The year "19" must have four digits.'),
    ("ISO 57a5:2019", 'The serial number "57a5" must be digits.'),
    (
        "ISO/XX 1:2019",
        'Unknown international prefix "ISO/XX": expected ISO, IEC, ISO/IEC, ISO/TS, ISO/TR, ISO/PAS, IEC/TS, '
        "IEC/TR or IEC/PAS.",
    ),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_invalid_standard_numbers_are_refused_with_an_exact_message(text, message):
    with pytest.raises(IdentifierError) as exc:
        parse_standard_number(text)
    assert str(exc.value) == message


def test_the_check_digit_follows_the_cnipa_weights():
    assert patent_check_digit("201710601862") == "3"
    # 9*2+5*3+1*4+1*5+5*6+6*7+0*8+8*9 = 186; 186 mod 11 = 10, written X (pre-2004 eight-digit number)
    assert patent_check_digit("95115608") == "X"


@pytest.mark.parametrize(
    ("text", "canonical", "kind", "year"),
    [
        ("201710601862.3", "CN201710601862.3", "invention", 2017),
        ("CN 2017 1 0601862.3", "CN201710601862.3", "invention", 2017),
        ("ZL201710601862.3", "CN201710601862.3", "invention", 2017),
        ("ZL 95115608.X", "CN95115608.X", "invention", 1995),
        (f"CN 2026 2 0123456.{patent_check_digit('202620123456')}", None, "utility_model", 2026),
        (f"2026 3 0123456.{patent_check_digit('202630123456')}", None, "design", 2026),
    ],
)
def test_valid_patent_applications_are_parsed(text, canonical, kind, year):
    app = parse_patent_application(text)
    assert (app.kind, app.year) == (kind, year)
    if canonical:
        assert app.text == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The patent application number is empty."),
        (
            "2017106018623",
            'A patent application number is 12 digits, a dot and a check digit, as in "CN 2026 1 0123456.7".',
        ),
        ("201710601862.4", "The check digit of 201710601862 is 3, not 4."),
        (
            "20171060186.3",
            "A patent application number has 12 digits before the dot (8 before 2004), not 11.",
        ),
        (
            "201750601862.3",
            'The patent type digit "5" must be 1 (invention), 2 (utility model), 3 (design), 8 (PCT invention) '  # noqa: E501
            "or 9 (PCT utility model).",
        ),
    ],
)
def test_invalid_patent_applications_are_refused_with_an_exact_message(text, message):
    with pytest.raises(IdentifierError) as exc:
        parse_patent_application(text)
    assert str(exc.value) == message


def test_grant_numbers_are_checked_for_format_and_kind_code():
    assert validate_patent_grant("CN 112345678 B", "invention") == "CN112345678B"
    assert validate_patent_grant("cn212345678u", "utility_model") == "CN212345678U"
    with pytest.raises(
        IdentifierError, match=r'^The kind code "U" does not fit a granted invention: expected B or C.$'
    ):
        validate_patent_grant("CN 112345678 U", "invention")
    with pytest.raises(IdentifierError, match=r"^A grant number is CN, nine digits and a kind code letter"):
        validate_patent_grant("CN 1123456 B")


@pytest.mark.parametrize(
    ("text", "doi"),
    [
        ("10.1016/j.measurement.2024.114321", "10.1016/j.measurement.2024.114321"),
        ("https://doi.org/10.1088/1681-7575/AB1234", "10.1088/1681-7575/ab1234"),
        ("doi: 10.1007/s00769-023-01550-9", "10.1007/s00769-023-01550-9"),
        ("http://dx.doi.org/10.1000/XYZ(2020)01", "10.1000/xyz(2020)01"),
    ],
)
def test_dois_are_normalised(text, doi):
    assert normalise_doi(text) == doi


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The DOI is empty."),
        (
            "11.1016/abc",
            '"11.1016/abc" is not a DOI: expected 10.<registrant>/<suffix>, as in "10.1016/j.measurement.2024.114321".',  # noqa: E501
        ),
        (
            "10.12/abc",
            '"10.12/abc" is not a DOI: expected 10.<registrant>/<suffix>, as in "10.1016/j.measurement.2024.114321".',  # noqa: E501
        ),
        (
            "10.1016/with space",
            '"10.1016/with space" is not a DOI: expected 10.<registrant>/<suffix>, as in '
            '"10.1016/j.measurement.2024.114321".',
        ),
    ],
)
def test_invalid_dois_are_refused_with_an_exact_message(text, message):
    with pytest.raises(IdentifierError) as exc:
        normalise_doi(text)
    assert str(exc.value) == message
