"""Identifiers of research outputs, parsed and validated by small pure functions (no Django models):
standard numbers (GB/T 1.1-2020 clause 8 and the numbering rules of industry, local, group and
international standards), Chinese patent application and grant numbers, and DOIs.

Each parser returns a frozen dataclass or raises :class:`IdentifierError` with one exact sentence
naming what is wrong, so forms, the API and the importer show the same message; the messages are
translated (gettext) into the language of the request.

>>> parse_standard_number("GB/T 12345-2026").level
'national'
>>> parse_standard_number("ISO 5725-2:2019").parts
('2',)
>>> parse_patent_application("201710601862.3").kind
'invention'
"""

from __future__ import annotations

import dataclasses
import re

from django.utils.translation import gettext as _

__all__ = [
    "IdentifierError",
    "PatentApplication",
    "StandardNumber",
    "normalise_doi",
    "parse_patent_application",
    "parse_standard_number",
    "patent_check_digit",
    "validate_patent_grant",
]


class IdentifierError(ValueError):
    """An identifier that does not follow its rules; the message says which rule."""


# Industry standard codes (the two- or three-letter codes assigned to industries by the national
# standardisation administration; list of codes in use).
INDUSTRY_CODES = frozenset(
    [
        "AQ",
        "BB",
        "CB",
        "CH",
        "CJ",
        "CY",
        "DA",
        "DL",
        "DY",
        "DZ",
        "EJ",
        "FZ",
        "GA",
        "GD",
        "GH",
        "GM",
        "GY",
        "HB",
        "HG",
        "HJ",
        "HS",
        "HY",
        "JB",
        "JC",
        "JG",
        "JR",
        "JT",
        "JY",
        "LB",
        "LD",
        "LS",
        "LY",
        "MH",
        "MT",
        "MZ",
        "NB",
        "NY",
        "QB",
        "QC",
        "QJ",
        "QX",
        "RB",
        "SB",
        "SC",
        "SF",
        "SH",
        "SJ",
        "SL",
        "SN",
        "SW",
        "SY",
        "TB",
        "TD",
        "TY",
        "WB",
        "WH",
        "WJ",
        "WM",
        "WS",
        "WW",
        "XB",
        "YB",
        "YC",
        "YD",
        "YS",
        "YY",
        "YZ",
        "ZY",
    ]
)

# GB/T 2260 province-level codes (first two digits), for local standards DBxx.
PROVINCE_CODES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
        "71",
        "81",
        "82",
    ]
)

INTERNATIONAL_CODES = {
    "ISO": "recommended",
    "IEC": "recommended",
    "ISO/IEC": "recommended",
    "ISO/IEC/IEEE": "recommended",
    "ISO/TS": "guidance",
    "ISO/TR": "guidance",
    "ISO/PAS": "guidance",
    "IEC/TS": "guidance",
    "IEC/TR": "guidance",
    "IEC/PAS": "guidance",
}

NATURE_SUFFIX = {"": "mandatory", "T": "recommended", "Z": "guidance"}
MIN_YEAR, MAX_YEAR = 1900, 2099

LEVELS = ("national", "industry", "local", "group", "international")
NATURES = ("mandatory", "recommended", "guidance")

_DASHES = str.maketrans({"—": "-", "–": "-", "－": "-", "／": "/", "：": ":", "．": "."})


@dataclasses.dataclass(frozen=True)
class StandardNumber:
    """A parsed standard number: ``code`` is everything before the serial (``GB/T``, ``DB11/T``,
    ``T/CAQI``, ``ISO/IEC``); ``issuer`` the industry, province or association code where there is one."""

    text: str
    code: str
    level: str
    nature: str
    issuer: str
    serial: str
    parts: tuple[str, ...]
    year: int

    def __str__(self) -> str:
        return self.text


def _year(value: str, example: str) -> int:
    if not value:
        raise IdentifierError(_('The year is missing: write it as in "%(example)s".') % {"example": example})
    if not value.isdigit():
        raise IdentifierError(_('The year "%(value)s" must be digits.') % {"value": value})
    if len(value) != 4:
        raise IdentifierError(_('The year "%(value)s" must have four digits.') % {"value": value})
    year = int(value)
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise IdentifierError(
            _("The year %(year)s is outside %(low)s–%(high)s.")
            % {"year": year, "low": MIN_YEAR, "high": MAX_YEAR}
        )
    return year


def _digits(value: str, what: str, code: str) -> str:
    serial = what == "serial number"
    if not value:
        message = (
            _('The serial number is missing after "%(code)s".')
            if serial
            else _('The part number is missing after "%(code)s".')
        )
        raise IdentifierError(message % {"code": code})
    if not value.isdigit():
        message = (
            _('The serial number "%(value)s" must be digits.')
            if serial
            else _('The part number "%(value)s" must be digits.')
        )
        raise IdentifierError(message % {"value": value})
    return value


def _chinese_nature(code: str, head: str, suffix: list[str]) -> str:
    if len(suffix) > 1:
        raise IdentifierError(
            _('Unknown suffix "/%(suffix)s" after "%(head)s".') % {"suffix": "/".join(suffix), "head": head}
        )
    letter = suffix[0] if suffix else ""
    if letter not in NATURE_SUFFIX:
        raise IdentifierError(
            _(
                'Unknown suffix "/%(suffix)s" after "%(head)s": expected /T (recommended), /Z (guidance) '
                "or nothing (mandatory)."
            )
            % {"suffix": letter, "head": head}
        )
    return NATURE_SUFFIX[letter]


def parse_standard_number(text: str) -> StandardNumber:
    """Parse and validate a standard number; return it with its level, nature, serial, parts and year.

    Chinese numbers: ``<code> <serial>[.<part>...]-<year>`` (``GB 4706.1-2005``, ``GB/T 12345-2026``,
    ``JB/T 10000-2020``, ``DB11/T 1234-2020``, ``T/CAQI 123-2022``); an em dash before the year is
    accepted. International: ``<code> <serial>[-<part>...]:<year>`` (``ISO 5725-2:2019``,
    ``ISO/IEC 17025:2017``, ``IEC 60335-2-24:2020``). The prefix is case-insensitive; the result is
    written in the canonical form.

    >>> parse_standard_number("gb/t 12345—2026").text
    'GB/T 12345-2026'
    >>> parse_standard_number("GB/T 12345")
    Traceback (most recent call last):
    ...
    qslab.outputs.identifiers.IdentifierError: The year is missing: write it as in "GB/T 12345-2026".
    """
    s = " ".join((text or "").translate(_DASHES).split())
    if not s:
        raise IdentifierError(_("The standard number is empty."))
    if " " not in s:
        raise IdentifierError(
            _('Write a space between the prefix and the serial number, as in "GB/T 12345-2026".')
        )
    code, rest = s.split(" ", 1)
    code = code.upper()
    if " " in rest:
        raise IdentifierError(
            _('Unexpected text after the number: "%(text)s".') % {"text": rest.split(" ", 1)[1]}
        )
    segments = code.split("/")
    head = segments[0]

    if head in ("ISO", "IEC"):
        if code not in INTERNATIONAL_CODES:
            raise IdentifierError(
                _(
                    'Unknown international prefix "%(code)s": expected ISO, IEC, ISO/IEC, ISO/TS, ISO/TR, '
                    "ISO/PAS, IEC/TS, IEC/TR or IEC/PAS."
                )
                % {"code": code}
            )
        if ":" not in rest:
            if re.fullmatch(r"[\d.\-]+-\d{4}", rest):
                raise IdentifierError(
                    _("An international standard number separates the year with a colon, not a hyphen.")
                )
            raise IdentifierError(
                _('The year is missing: write it as in "%(example)s".') % {"example": f"{code} 5725-2:2019"}
            )
        body, year_text = rest.rsplit(":", 1)
        serial, *parts = body.split("-")
        _digits(serial, "serial number", code)
        for p in parts:
            _digits(p, "part number", code)
        year = _year(year_text, f"{code} 5725-2:2019")
        canonical = f"{code} {serial}{''.join('-' + p for p in parts)}:{year}"
        return StandardNumber(
            canonical, code, "international", INTERNATIONAL_CODES[code], "", serial, tuple(parts), year
        )

    if head == "T":
        if len(segments) != 2 or not segments[1]:
            raise IdentifierError(
                _('A group standard needs the association code after "T/", as in "T/CAQI 123-2022".')
            )
        issuer = segments[1]
        if not re.fullmatch(r"[A-Z][A-Z0-9]{1,11}", issuer):
            raise IdentifierError(
                _(
                    'The association code "%(issuer)s" must be 2 to 12 capital letters or digits, '
                    "starting with a letter."
                )
                % {"issuer": issuer}
            )
        level, nature = "group", "recommended"
    elif head == "GB":
        level, issuer = "national", ""
        nature = _chinese_nature(code, head, segments[1:])
    elif re.fullmatch(r"DB\d*", head):
        digits = head[2:]
        if len(digits) not in (2, 4):
            raise IdentifierError(
                _(
                    "A local standard prefix is DB followed by a two-digit province code "
                    '(or four digits for a city), not "%(head)s".'
                )
                % {"head": head}
            )
        if digits[:2] not in PROVINCE_CODES:
            raise IdentifierError(
                _('The province code "%(code)s" in "%(head)s" is not a GB/T 2260 province.')
                % {"code": digits[:2], "head": head}
            )
        level, issuer = "local", digits
        nature = _chinese_nature(code, head, segments[1:])
    elif head in INDUSTRY_CODES:
        level, issuer = "industry", head
        nature = _chinese_nature(code, head, segments[1:])
    else:
        raise IdentifierError(
            _(
                'Unknown prefix "%(code)s": expected GB, GB/T or GB/Z, an industry code such as JB/T, '
                "a local code such as DB11/T, a group code such as T/CAQI, or ISO/IEC."
            )
            % {"code": code}
        )

    example = f"{code} 12345-2026"
    if ":" in rest:
        raise IdentifierError(_("A Chinese standard number separates the year with a hyphen, not a colon."))
    if "-" not in rest:
        raise IdentifierError(_('The year is missing: write it as in "%(example)s".') % {"example": example})
    body, year_text = rest.rsplit("-", 1)
    serial, *parts = body.split(".")
    _digits(serial, "serial number", code)
    for p in parts:
        _digits(p, "part number", code)
    year = _year(year_text, example)
    canonical = f"{code} {serial}{''.join('.' + p for p in parts)}-{year}"
    return StandardNumber(canonical, code, level, nature, issuer, serial, tuple(parts), year)


# --------------------------------------------------------------------------------------------------
# Patents (CNIPA application numbers: ZC 0006-2003; 12 digits and a check digit since 2003)
# --------------------------------------------------------------------------------------------------

PATENT_KINDS = {"1": "invention", "2": "utility_model", "3": "design", "8": "invention", "9": "utility_model"}
_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


@dataclasses.dataclass(frozen=True)
class PatentApplication:
    text: str  # canonical: CN202610123456.7
    year: int
    kind: str  # invention, utility_model, design
    pct: bool
    serial: str
    check: str


def patent_check_digit(digits: str) -> str:
    """The check character of an application number: digits times 2,3,...,9,2,3,4,5, sum mod 11;
    10 is written X.

    >>> patent_check_digit("201710601862")
    '3'
    """
    total = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False))
    r = total % 11
    return "X" if r == 10 else str(r)


def parse_patent_application(text: str) -> PatentApplication:
    """Parse a Chinese patent application number (``CN 2026 1 0123456.7``, ``202610123456.7``,
    ``ZL 97101765.4``), check the kind digit and the check digit.

    >>> parse_patent_application("CN 2017 1 0601862.3").text
    'CN201710601862.3'
    >>> parse_patent_application("201710601862.4")
    Traceback (most recent call last):
    ...
    qslab.outputs.identifiers.IdentifierError: The check digit of 201710601862 is 3, not 4.
    """
    s = re.sub(r"\s+", "", (text or "")).upper()
    if not s:
        raise IdentifierError(_("The patent application number is empty."))
    s = re.sub(r"^(CN|ZL)", "", s)
    m = re.fullmatch(r"(\d+)\.([0-9X])", s)
    if not m:
        raise IdentifierError(
            _(
                "A patent application number is 12 digits, a dot and a check digit, "
                'as in "CN 2026 1 0123456.7".'
            )
        )
    digits, check = m.groups()
    if len(digits) == 12:
        year = int(digits[:4])
        kind_digit, serial = digits[4], digits[5:]
    elif len(digits) == 8:  # before 2004: two-digit year
        year = 1900 + int(digits[:2])
        kind_digit, serial = digits[2], digits[3:]
    else:
        raise IdentifierError(
            _("A patent application number has 12 digits before the dot (8 before 2004), not %(n)s.")
            % {"n": len(digits)}
        )
    if kind_digit not in PATENT_KINDS:
        raise IdentifierError(
            _(
                'The patent type digit "%(digit)s" must be 1 (invention), 2 (utility model), 3 (design), '
                "8 (PCT invention) or 9 (PCT utility model)."
            )
            % {"digit": kind_digit}
        )
    expected = patent_check_digit(digits)
    if check != expected:
        raise IdentifierError(
            _("The check digit of %(digits)s is %(expected)s, not %(check)s.")
            % {"digits": digits, "expected": expected, "check": check}
        )
    return PatentApplication(
        f"CN{digits}.{check}", year, PATENT_KINDS[kind_digit], kind_digit in "89", serial, check
    )


GRANT_KINDS = {"invention": ("B", "C"), "utility_model": ("U", "Y"), "design": ("S", "D")}


def validate_patent_grant(text: str, kind: str = "") -> str:
    """Validate a grant publication number (``CN 112345678 B``) and return it canonical
    (``CN112345678B``); with ``kind``, the kind code must match the type of patent (format only:
    publication numbers carry no check digit).

    >>> validate_patent_grant("CN 112345678 B", "invention")
    'CN112345678B'
    """
    s = re.sub(r"\s+", "", (text or "")).upper()
    if not s:
        raise IdentifierError(_("The grant number is empty."))
    m = re.fullmatch(r"CN(\d{9})([A-Z])\d?", s)
    if not m:
        raise IdentifierError(
            _('A grant number is CN, nine digits and a kind code letter, as in "CN 112345678 B".')
        )
    letter = m.group(2)
    if kind and kind in GRANT_KINDS and letter not in GRANT_KINDS[kind]:
        patent = {
            "invention": _("invention"),
            "utility_model": _("utility model"),
            "design": _("design"),
        }[kind]
        raise IdentifierError(
            _(
                'The kind code "%(letter)s" does not fit a granted %(patent)s: '
                "expected %(first)s or %(second)s."
            )
            % {
                "letter": letter,
                "patent": patent,
                "first": GRANT_KINDS[kind][0],
                "second": GRANT_KINDS[kind][1],
            }
        )
    return s


# --------------------------------------------------------------------------------------------------
# DOI (ISO 26324; the pattern Crossref recommends for modern DOIs)
# --------------------------------------------------------------------------------------------------

_DOI = re.compile(r"10\.\d{4,9}/[-._;()/:a-z0-9<>\[\]]+")


def normalise_doi(text: str) -> str:
    """The DOI without resolver prefix, in lower case (DOIs are case-insensitive).

    >>> normalise_doi("https://doi.org/10.1016/J.Measurement.2024.114321")
    '10.1016/j.measurement.2024.114321'
    """
    s = (text or "").strip()
    s = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", s, flags=re.IGNORECASE).lower()
    if not s:
        raise IdentifierError(_("The DOI is empty."))
    if not _DOI.fullmatch(s):
        raise IdentifierError(
            _(
                '"%(text)s" is not a DOI: expected 10.<registrant>/<suffix>, '
                'as in "10.1016/j.measurement.2024.114321".'
            )
            % {"text": s}
        )
    return s
