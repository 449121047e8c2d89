"""The canonical long schema of the analytical store: one row per incident or report record.

Every source (NEISS injury records, FDA recall enforcement reports, CAERS adverse-event pairs, MAUDE
device reports, any CSV or Parquet file) is mapped onto these columns by a declared
:class:`qslab.surveillance.ingest.ColumnMapping`, so one aggregation and one set of detectors serve
all of them. The key of a row is ``(source, record_id)``: re-ingesting a record with a key already in
the store adds nothing.

============== ========= ==========================================================================
column         type      meaning
============== ========= ==========================================================================
source         string    name of the data source (``neiss``, ``fda-enforcement``, ...); part of the key
record_id      string    identifier of the record within its source; part of the key
report_id      string    report or event that groups several records (CAERS report, FDA recall event)
event_date     date      date of the incident, treatment, report or receipt (drives the time axis)
product_code   string    product code (NEISS product code, device name, product name)
product_label  string    human-readable product text
product_code_2 string    second product involved (NEISS ``product_2``), empty when none
product_code_3 string    third product involved (NEISS ``product_3``, from 2019), empty when none
hazard_code    string    hazard, diagnosis, defect or adverse-event code
hazard_label   string    human-readable hazard text
region         string    geography (country, state, province); ``US`` for national NEISS records
severity       string    severity or outcome code (NEISS disposition, FDA recall class, MAUDE event type)
firm           string    manufacturer or recalling firm
age            float64   age in years
sex            string    ``male``, ``female``, ``other`` or ``unknown``
stratum        string    sample-design stratum (NEISS ``S``, ``M``, ``L``, ``V``, ``C``)
psu            string    primary sampling unit (NEISS hospital)
weight         float64   statistical weight: records it represents (1 for unweighted sources)
narrative      string    free text (NEISS narrative, FDA reason for recall)
============== ========= ==========================================================================

The NEISS weight and design columns follow CPSC's estimation method (national estimate = sum of
``weight``; variance from ``stratum`` and ``psu``), see :mod:`qslab.surveillance.aggregate`.

>>> CANONICAL_SCHEMA["weight"]
Float64(nullable=False)
>>> KEY_COLUMNS
('source', 'record_id')
"""

from __future__ import annotations

import ibis
import ibis.expr.schema as sch

#: Columns of the canonical long table, in order, with their Ibis types (``!`` = not null).
CANONICAL_SCHEMA: sch.Schema = ibis.schema(
    {
        "source": "!string",
        "record_id": "!string",
        "report_id": "string",
        "event_date": "date",
        "product_code": "string",
        "product_label": "string",
        "product_code_2": "string",
        "product_code_3": "string",
        "hazard_code": "string",
        "hazard_label": "string",
        "region": "string",
        "severity": "string",
        "firm": "string",
        "age": "float64",
        "sex": "string",
        "stratum": "string",
        "psu": "string",
        "weight": "!float64",
        "narrative": "string",
    }
)

#: The identity of a record: ``(source, record_id)`` is unique in the store.
KEY_COLUMNS: tuple[str, str] = ("source", "record_id")

#: Columns a mapping must always fill (``weight`` defaults to 1 when a mapping leaves it out).
REQUIRED_COLUMNS: tuple[str, ...] = ("source", "record_id", "weight")

#: Columns that may be used as grouping keys of a series.
GROUPING_COLUMNS: tuple[str, ...] = (
    "source",
    "report_id",
    "product_code",
    "product_code_2",
    "product_code_3",
    "hazard_code",
    "region",
    "severity",
    "firm",
    "sex",
    "stratum",
    "psu",
)

#: Values the ``sex`` column may take after mapping.
SEX_VALUES: tuple[str, ...] = ("male", "female", "other", "unknown")


def column_kind(name: str) -> str:
    """``"date"``, ``"number"`` or ``"text"``: how an ingest mapping parses values for column ``name``.

    >>> column_kind("event_date"), column_kind("age"), column_kind("region")
    ('date', 'number', 'text')
    """
    dtype = CANONICAL_SCHEMA[name]
    if dtype.is_date():
        return "date"
    if dtype.is_numeric():
        return "number"
    return "text"


def arrow_schema():
    """The canonical schema as a ``pyarrow.Schema`` (for building record batches)."""
    return CANONICAL_SCHEMA.to_pyarrow()
