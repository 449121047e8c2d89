"""Ready column mappings for the public data sets the labs start from.

Each function returns a :class:`~qslab.surveillance.ingest.ColumnMapping` for one file layout; the
caller passes the paths (the engine knows no data folder):

- :func:`neiss_mapping` -- CPSC NEISS emergency-department injury records with CPSC's code tables
  (products, diagnoses, dispositions) from a ``codes/`` folder: product x diagnosis (hazard) x
  disposition (severity), statistical weight, stratum and PSU for national estimates.
- :func:`fda_enforcement_mapping` -- FDA drug recall enforcement reports (openFDA): one record per
  recalled product, dated by the weekly report, hazard = the defect phrase that opens the reason
  for recall (with a small synonym table), severity = recall class.
- :func:`caers_mapping` -- FDA CAERS report x product x adverse-event pairs (no dates): the input of
  disproportionality analysis.
- :func:`maude_mapping` -- FDA MAUDE device reports: device x event type (severity) by receipt date.

>>> sorted(SOURCES)
['caers', 'fda-enforcement', 'maude', 'neiss']
>>> maude_mapping().columns["severity"].codes["death"]
'death'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qslab.surveillance.ingest import ColumnMapping, FieldMap, MappingError, read_code_table

#: NEISS sex codes (CPSC format file) to the canonical values.
NEISS_SEX = {"0": "unknown", "1": "male", "2": "female", "3": "other"}

#: NEISS sample-design strata.
NEISS_STRATA = {
    "S": "small hospitals",
    "M": "medium hospitals",
    "L": "large hospitals",
    "V": "very large hospitals",
    "C": "children's hospitals",
}

#: FDA recall classes (health-hazard classification).
FDA_RECALL_CLASSES = {
    "Class I": "reasonable probability of serious adverse health consequences or death",
    "Class II": "temporary or medically reversible adverse health consequences",
    "Class III": "not likely to cause adverse health consequences",
    "Not Yet Classified": "not yet classified",
}

#: Spellings of one defect type in FDA's reasons for recall, folded to one phrase.
FDA_DEFECT_SYNONYMS = {
    "lack of sterility assurance": "lack of assurance of sterility",
    "lack of assurance sterility": "lack of assurance of sterility",
    "non-sterility": "lack of assurance of sterility",
    "cgmp deviation": "cgmp deviations",
    "gmp deviations": "cgmp deviations",
    "lack of processing control": "lack of processing controls",
    "subpotent": "subpotent drug",
    "superpotent": "superpotent drug",
    "failed dissolution specification": "failed dissolution specifications",
}

#: The defect phrase: text before the first ``:`` or ``;``, without a trailing full stop.
FDA_DEFECT_PATTERN = r"^\s*([^:;]*[^:;.\s])"

#: MAUDE event types (``event_type``) as severity codes, least to most severe.
MAUDE_EVENT_TYPES = {
    "no answer provided": "event type not given",
    "other": "other event",
    "malfunction": "device malfunction, no patient harm reported",
    "injury": "serious injury",
    "death": "death",
}


def neiss_mapping(codes_dir: str | Path, *, source: str = "neiss") -> ColumnMapping:
    """Mapping for NEISS record files (CPSC layout with codes, as in the shared NEISS samples).

    ``codes_dir`` holds CPSC's code tables ``products.csv``, ``diagnoses.csv`` and
    ``dispositions.csv`` (``code,label``); every product, diagnosis and disposition code must be in
    them. Product 1 is ``product_code`` (products 2 and 3 go to ``product_code_2``/``_3``; a record
    counts for each of its products in CPSC's estimates). Region is ``US``: NEISS estimates are
    national.
    """
    codes_dir = Path(codes_dir)
    if not codes_dir.is_dir():
        raise MappingError(f"NEISS code folder not found: {codes_dir}")
    products = read_code_table(codes_dir / "products.csv")
    diagnoses = read_code_table(codes_dir / "diagnoses.csv")
    dispositions = read_code_table(codes_dir / "dispositions.csv")

    def product(column: str, label_to: str | None = None) -> FieldMap:
        return FieldMap(column=column, codes=products, codes_name="NEISS products.csv", label_to=label_to)

    return ColumnMapping(
        source=source,
        columns={
            "record_id": FieldMap(column="cpsc_case_number", required=True),
            "event_date": FieldMap(column="treatment_date", required=True),
            "product_code": product("product_1_code", "product_label"),
            "product_code_2": product("product_2_code"),
            "product_code_3": product("product_3_code"),
            "hazard_code": FieldMap(
                column="diagnosis_code",
                required=True,
                codes=diagnoses,
                codes_name="NEISS diagnoses.csv",
                label_to="hazard_label",
            ),
            "severity": FieldMap(
                column="disposition_code",
                required=True,
                codes=dispositions,
                codes_name="NEISS dispositions.csv",
            ),
            "region": FieldMap(constant="US"),
            "age": FieldMap(column="age_years", minimum=0, maximum=130),
            "sex": FieldMap(column="sex_code", replace=NEISS_SEX),
            "stratum": FieldMap(
                column="stratum", required=True, codes=NEISS_STRATA, codes_name="NEISS strata"
            ),
            "psu": FieldMap(column="psu", required=True),
            "weight": FieldMap(column="weight", required=True),
            "narrative": FieldMap(column="narrative"),
        },
    )


def fda_enforcement_mapping(*, source: str = "fda-enforcement") -> ColumnMapping:
    """Mapping for openFDA drug enforcement reports (one row per recalled product).

    ``event_date`` is the weekly Enforcement Report date (``report_date``), the natural axis of a
    weekly recall series. ``hazard_code`` is the defect phrase opening ``reason_for_recall``
    (lower case, :data:`FDA_DEFECT_SYNONYMS` folded); ``severity`` is the recall class;
    ``report_id`` the recall event (one firm action covering several products). The recall number
    identifies a record; the one published row without it is identified by event and product text.
    """
    return ColumnMapping(
        source=source,
        columns={
            "record_id": FieldMap(
                column="recall_number", fallback=("event_id", "product_description"), required=True
            ),
            "report_id": FieldMap(column="event_id", required=True),
            "event_date": FieldMap(column="report_date", required=True),
            "product_code": FieldMap(column="product_type", case="lower"),
            "product_label": FieldMap(column="product_description"),
            "hazard_code": FieldMap(
                column="reason_for_recall",
                pattern=FDA_DEFECT_PATTERN,
                case="lower",
                replace=FDA_DEFECT_SYNONYMS,
            ),
            "severity": FieldMap(
                column="classification",
                required=True,
                codes=FDA_RECALL_CLASSES,
                codes_name="FDA recall classes",
            ),
            "region": FieldMap(column="state", fallback="country"),
            "firm": FieldMap(column="recalling_firm"),
            "narrative": FieldMap(column="reason_for_recall"),
        },
    )


def caers_mapping(*, source: str = "caers") -> ColumnMapping:
    """Mapping for CAERS report x product x adverse-event rows (openEBGM ``caers`` layout).

    A record is one (report, product, MedDRA preferred term) triple; exact repeats in the file are
    dropped at ingest. There is no date per record, so CAERS feeds disproportionality, not series.
    """
    return ColumnMapping(
        source=source,
        columns={
            "record_id": FieldMap(column=("report_id", "product", "adverse_event_pt"), required=True),
            "report_id": FieldMap(column="report_id", required=True),
            "product_code": FieldMap(column="product", required=True),
            "hazard_code": FieldMap(column="adverse_event_pt", required=True),
            "sex": FieldMap(column="sex", case="lower", replace={"not available": "unknown"}),
            "region": FieldMap(constant="US"),
        },
    )


def maude_mapping(*, source: str = "maude") -> ColumnMapping:
    """Mapping for openFDA MAUDE device-event rows: device x event type by date received.

    ``severity`` is the event type in lower case (``malfunction``, ``injury``, ``death``, ...).
    """
    return ColumnMapping(
        source=source,
        columns={
            "record_id": FieldMap(column="report_number", required=True),
            "report_id": FieldMap(column="report_number"),
            "event_date": FieldMap(column="date_received", required=True),
            "product_code": FieldMap(column="device_name", required=True),
            "product_label": FieldMap(column="brand_name"),
            "severity": FieldMap(
                column="event_type",
                required=True,
                case="lower",
                codes=MAUDE_EVENT_TYPES,
                codes_name="MAUDE event types",
            ),
            "firm": FieldMap(column="manufacturer_d_name"),
            "region": FieldMap(column="manufacturer_d_country"),
        },
    )


#: Ready mappings by source name. ``neiss`` needs the code folder: ``SOURCES["neiss"](codes_dir)``.
SOURCES: dict[str, Callable[..., ColumnMapping]] = {
    "neiss": neiss_mapping,
    "fda-enforcement": fda_enforcement_mapping,
    "caers": caers_mapping,
    "maude": maude_mapping,
}
