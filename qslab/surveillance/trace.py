"""Traceability of serialised durable consumer goods, and the recall scope query.

Two tables live next to the incident records in the analytical store (same DuckDB file or any Ibis
backend): **units** (one row per serialised item, GS1 identity GTIN + serial) and supply-chain
**events** (what happened to a unit, where and at which party). :func:`recall_scope` answers, for a
defect in given batches / serial ranges / production window of one GTIN: which units, which parties
(in particular the distributors and retailers holding units now), which regions, and how many units
are already recalled and remedied (recall effectiveness). Every query is an Ibis expression executed
by the backend, and nothing loops over rows in Python. On DuckDB the affected units go to a
temporary table and the fixed rest of the query is compiled by Ibis once per process (building and
compiling the expressions costs more than running them on a typical scope); other backends run the
same expressions directly.

API (stable; the Django ``recalls`` app calls it)
================================================

Store::

    TraceStore(backend)                      # any connected Ibis backend; creates the two tables
    TraceStore.duckdb(path=":memory:", **kw) # a DuckDB file (same file as AnalyticalStore is fine)
    TraceStore.of(analytical_store)          # same backend as an AnalyticalStore
    store.units() / store.events() -> ibis Table;  store.count_units() / count_events() -> int
    store.ingest_units(data, *, name=None) -> TraceIngestReport
    store.ingest_events(data, *, name=None) -> TraceIngestReport
    store.optimise() -> None                 # rewrite both tables clustered for the scope query
    store.close(); with TraceStore.duckdb(path) as store: ...

``data`` is a CSV or Parquet path, a pyarrow Table/RecordBatch, a pandas DataFrame, or an iterable
of dicts (rows). Columns by name (header), extra columns are an error:

- units: ``gtin`` (required; GTIN-8/12/13/14 with a valid GS1 check digit, checked with
  python-stdnum, stored as 14 digits), ``serial`` (required; 1-20 characters without spaces, GS1
  AI 21), ``model``, ``batch`` (<= 20 characters, GS1 AI 10), ``production_date`` (YYYY-MM-DD),
  ``manufacturer_id``, ``manufacturer_name``. Key ``(gtin, serial)``. Stored also: ``unit_key``
  (int64 surrogate) and ``serial_number`` (int64: the last run of digits of ``serial``, for ranges).
- events: ``gtin``, ``serial`` (the unit, which must be stored already), ``kind`` (one of
  :data:`EVENT_KINDS`), ``party_id`` (required), ``party_name``, ``party_role`` (one of
  :data:`PARTY_ROLES`, required), ``region`` (GB/T 2260 six-digit administrative division code,
  required), ``occurred_at`` (ISO date or date-time; naive values are taken as UTC, offsets are
  converted to UTC). Key ``(unit, kind, party_id, occurred_at)``.

Ingest validates everything first and reports **every** bad value at once
(:class:`qslab.surveillance.ingest.IngestValidationError` with
:class:`~qslab.surveillance.ingest.ValueProblem` items: file, 1-based row, column, value, message);
if any row is rejected nothing is written. Otherwise one ``INSERT ... SELECT`` writes the rows whose
key is not stored yet (re-ingesting the same file adds nothing). A unit key already stored with
different values, and a key repeated in the file with different values, are bad values too.
:class:`qslab.surveillance.ingest.IngestError` means the input cannot be read (missing/unknown
columns, unreadable file).

Scope::

    recall_scope(store, gtin, batches=(), serial_ranges=(), produced_from=None, produced_to=None)
        -> RecallScope
    ScopeCriteria(gtin, batches=(), serial_ranges=(), produced_from=None, produced_to=None)
    scope_units(store, criteria) -> ibis Table     # one row per affected unit (lazy, streamable)
    scope_parties(store, criteria) -> ibis Table   # one row per party (lazy)
    scope_regions(store, criteria) -> ibis Table   # one row per region (lazy)
    export_scope_csv(store, criteria, *, units_path=None, parties_path=None, regions_path=None)
        -> None   # written by the backend (DuckDB COPY), rows never pass through Python
    iter_scope_units(store, criteria, chunk_size=100_000) -> pyarrow.RecordBatchReader

``store`` may be a :class:`TraceStore` or a :class:`~qslab.surveillance.store.AnalyticalStore`.
Criteria combine with AND (each narrows the scope); within one criterion the values are
alternatives: ``batches`` any of these batch/lot codes, ``serial_ranges`` any of these inclusive
``(first, last)`` ranges, ``produced_from``/``produced_to`` an inclusive production-date window.
A serial range given as two serials (``("SN-A000100", "SN-A000250")``) is one series, as
:func:`qslab.recalls.models.validate_serial_range` checks it: both ends are a prefix and a numeric
tail, with the same prefix (case-insensitive) and a tail of the same width; a unit is in it when its
serial is that prefix (any case) followed by exactly that many digits, between the two ends, so
``SN-B000120``, ``SN-A00120`` and ``SN-A000120X`` are not. A range given as two whole numbers
(``(100, 250)``) matches the numeric part of any serial (its last run of digits), whatever the
prefix. Units with no production date are outside any date window. With only ``gtin`` every unit
of the GTIN is in scope.

Where a unit is now: its **last event** (latest ``occurred_at``; at the same instant the later kind
in the order of :data:`EVENT_KINDS` wins, then the later-stored event). After ``manufactured``,
``imported`` or ``distributed`` the unit is *held* by that event's party (in the supply chain);
after ``sold`` it is with a consumer, sold by that party. A unit is *recalled* if it has any
``recalled`` event and *remedied* if it has any ``remedied`` event.

Result fields (frozen dataclasses, ``to_dict()`` gives JSON-ready values)::

    RecallScope
        criteria: ScopeCriteria
        n_units: int                  # units in scope
        n_units_without_events: int
        n_in_supply_chain: int        # last event manufactured/imported/distributed
        n_with_consumers: int         # last event sold
        n_recalled: int               # units with a recalled event
        n_remedied: int               # units with a remedied event
        last_event_counts: dict[str, int]   # units by kind of last event
        batches: dict[str, int]       # units in scope per batch ("" = no batch)
        models: dict[str, int]        # units in scope per model ("" = no model)
        produced_first, produced_last: date | None
        parties: tuple[PartyExposure, ...]   # most units held+sold first
        regions: tuple[RegionExposure, ...]  # most units held+sold first
        .effectiveness -> float | None  # n_remedied / n_units
        .n_outstanding -> int           # n_units - n_remedied
        .holders -> tuple[PartyExposure, ...]  # importers/distributors/retailers holding units now
        .retailers_with_sales -> tuple[PartyExposure, ...]  # retailers that sold units in scope
        .summary() -> str
    PartyExposure: party_id, party_name, role, region, units_handled, units_held, units_sold,
        units_recalled, units_remedied   # name/role/region from the party's latest event in scope
    RegionExposure: region, units_handled, units_held, units_sold, n_parties

Columns of :func:`scope_units`: ``gtin, serial, serial_number, model, batch, production_date,
manufacturer_id, manufacturer_name, status, last_kind, last_at, last_party_id, last_party_name,
last_party_role, last_region, recalled, remedied, n_events``; ``status`` is ``remedied``,
``recalled`` (not yet remedied), ``with_consumer``, ``in_supply_chain`` or ``no_events``.
Columns of :func:`scope_parties` and :func:`scope_regions`: the fields of :class:`PartyExposure`
and :class:`RegionExposure`.

>>> import datetime as dt
>>> store = TraceStore.duckdb()
>>> print(store.ingest_units([
...     {"gtin": "6901234567892", "serial": "SN0001", "batch": "L1", "production_date": "2024-03-01"},
...     {"gtin": "6901234567892", "serial": "SN0002", "batch": "L1", "production_date": "2024-03-01"},
...     {"gtin": "6901234567892", "serial": "SN0003", "batch": "L2", "production_date": "2024-04-01"},
... ]).summary())
units: 3 row(s), 3 inserted
>>> _ = store.ingest_events([
...     {"gtin": "6901234567892", "serial": s, "kind": k, "party_id": p, "party_role": r,
...      "region": g, "occurred_at": t}
...     for s in ("SN0001", "SN0002", "SN0003")
...     for k, p, r, g, t in [("manufactured", "M1", "manufacturer", "440300", "2024-04-02"),
...                           ("distributed", "D1", "distributor", "110105", "2024-04-10")]])
>>> _ = store.ingest_events([{"gtin": "6901234567892", "serial": "SN0002", "kind": "sold",
...     "party_id": "D1", "party_role": "distributor", "region": "110105",
...     "occurred_at": "2024-05-01T10:30:00"}])
>>> scope = recall_scope(store, "06901234567892", batches=["L1"])
>>> scope.n_units, scope.n_in_supply_chain, scope.n_with_consumers
(2, 1, 1)
>>> [(p.party_id, p.units_held, p.units_sold) for p in scope.parties]
[('D1', 1, 1), ('M1', 0, 0)]
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ibis
import ibis.common.exceptions as ibis_exc
import ibis.expr.datatypes as dt_
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from stdnum import ean

from qslab.results import ResultMixin
from qslab.surveillance.ingest import IngestError, IngestValidationError, ValueProblem
from qslab.surveillance.store import AnalyticalStore, StoreError, quiet_backend

UNITS_TABLE = "trace_units"
EVENTS_TABLE = "trace_events"

#: Kinds of supply-chain event, in the order that breaks ties between events at the same instant.
EVENT_KINDS: tuple[str, ...] = ("manufactured", "imported", "distributed", "sold", "recalled", "remedied")
#: Kinds after which the unit is held by the event's party (still in the supply chain).
HOLDING_KINDS: tuple[str, ...] = ("manufactured", "imported", "distributed")
#: Roles a party may have in an event.
PARTY_ROLES: tuple[str, ...] = ("manufacturer", "importer", "distributor", "retailer", "service")
#: Roles whose held units a recall must reach (stop sale, quarantine, return).
HOLDER_ROLES: tuple[str, ...] = ("importer", "distributor", "retailer")

#: GB/T 2260 province-level prefixes (first two digits of a six-digit division code).
GB2260_PROVINCES: frozenset[str] = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42"}
    | {"43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"}
)

UNITS_SCHEMA = ibis.schema(
    {
        "unit_key": "!int64",
        "gtin": "!string",
        "serial": "!string",
        "serial_number": "int64",
        "model": "string",
        "batch": "string",
        "production_date": "date",
        "manufacturer_id": "string",
        "manufacturer_name": "string",
    }
)
EVENTS_SCHEMA = ibis.schema(
    {
        "event_key": "!int64",
        "unit_key": "!int64",
        "kind": "!string",
        "party_id": "!string",
        "party_name": "string",
        "party_role": "!string",
        "region": "!string",
        "occurred_at": "!timestamp",
    }
)

UNIT_COLUMNS: tuple[str, ...] = (
    "gtin",
    "serial",
    "model",
    "batch",
    "production_date",
    "manufacturer_id",
    "manufacturer_name",
)
UNIT_REQUIRED: tuple[str, ...] = ("gtin", "serial")
EVENT_COLUMNS: tuple[str, ...] = (
    "gtin",
    "serial",
    "kind",
    "party_id",
    "party_name",
    "party_role",
    "region",
    "occurred_at",
)
EVENT_REQUIRED: tuple[str, ...] = (
    "gtin",
    "serial",
    "kind",
    "party_id",
    "party_role",
    "region",
    "occurred_at",
)

_SERIAL_RE = re.compile(r"^[!-~\u00a0-\uffff]{1,20}$")  # no whitespace or control characters
_DIGITS_TAIL = r"(\d{1,18})\D*$"


class TraceError(ValueError):
    """Bad arguments to a traceability call (criteria, store); the message names the argument."""


# ------------------------------------------------------------------------------------------------
# identity helpers


def normalise_gtin(value: str) -> str:
    """A GTIN-8/12/13/14 as its 14-digit form, after checking the GS1 check digit (python-stdnum).

    >>> normalise_gtin("6901234567892")
    '06901234567892'
    >>> normalise_gtin("6901234567893")
    Traceback (most recent call last):
    ...
    qslab.surveillance.trace.TraceError: '6901234567893' is not a valid GTIN (GS1 check digit)
    """
    text = str(value).strip()
    if not (text.isdigit() and len(text) in (8, 12, 13, 14) and ean.is_valid(text)):
        raise TraceError(f"{value!r} is not a valid GTIN (GS1 check digit)")
    return text.zfill(14)


def serial_number(serial: str) -> int | None:
    """The numeric part of a serial used by range queries: its last run of digits (at most 18).

    >>> serial_number("SN-000123"), serial_number("A12B0045X"), serial_number("ABC")
    (123, 45, None)
    """
    match = re.search(_DIGITS_TAIL, str(serial))
    return int(match.group(1)) if match else None


def is_gb2260(code: str) -> bool:
    """Whether ``code`` has the form of a GB/T 2260 division code: six digits, a known province prefix.

    >>> is_gb2260("110105"), is_gb2260("990000"), is_gb2260("11010")
    (True, False, False)
    """
    return bool(re.fullmatch(r"\d{6}", code or "")) and code[:2] in GB2260_PROVINCES


# ------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class TraceIngestReport(ResultMixin):
    """What one ingest of units or events did."""

    table: str
    file: str
    n_rows: int
    n_duplicates_in_file: int
    n_inserted: int
    seconds: float

    @property
    def n_already_stored(self) -> int:
        return self.n_rows - self.n_duplicates_in_file - self.n_inserted

    def summary(self) -> str:
        extra = []
        if self.n_duplicates_in_file:
            extra.append(f"{self.n_duplicates_in_file} repeated in the file")
        if self.n_already_stored:
            extra.append(f"{self.n_already_stored} already stored")
        tail = f" ({', '.join(extra)})" if extra else ""
        return f"{self.table}: {self.n_rows} row(s), {self.n_inserted} inserted{tail}"


@dataclass(frozen=True)
class ScopeCriteria(ResultMixin):
    """The defect's identity: one GTIN, optionally narrowed by batches, serial ranges and a date window.

    Validated and normalised when built (GTIN to 14 digits, serial ranges to pairs of serials with
    the prefix upper-cased or pairs of ints, dates to ``date``).

    >>> ScopeCriteria("6901234567892", serial_ranges=[("sn100", "SN199"), (5, 9)]).serial_ranges
    (('SN100', 'SN199'), (5, 9))
    """

    gtin: str
    batches: tuple[str, ...] = ()
    serial_ranges: tuple[tuple[int, int] | tuple[str, str], ...] = ()
    produced_from: dt.date | None = None
    produced_to: dt.date | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "gtin", normalise_gtin(self.gtin))
        if isinstance(self.batches, str):
            raise TraceError("batches must be a list of batch codes, not one string")
        batches = tuple(str(b).strip() for b in self.batches)
        if any(not b for b in batches):
            raise TraceError("batches must not contain an empty code")
        object.__setattr__(self, "batches", tuple(dict.fromkeys(batches)))
        ranges = []
        for item in self.serial_ranges:
            try:
                first, last = item
            except (TypeError, ValueError):
                raise TraceError(f"a serial range is a pair (first, last), got {item!r}") from None
            ranges.append(_serial_range(first, last, item))
        object.__setattr__(self, "serial_ranges", tuple(ranges))
        for name in ("produced_from", "produced_to"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_date(value, name))
        if self.produced_from and self.produced_to and self.produced_from > self.produced_to:
            raise TraceError(f"produced_from {self.produced_from} is after produced_to {self.produced_to}")

    def describe(self) -> str:
        parts = [f"GTIN {self.gtin}"]
        if self.batches:
            parts.append("batch " + ", ".join(self.batches))
        if self.serial_ranges:
            parts.append("serials " + ", ".join(f"{a}-{b}" for a, b in self.serial_ranges))
        if self.produced_from or self.produced_to:
            parts.append(f"produced {self.produced_from or '...'} to {self.produced_to or '...'}")
        return "; ".join(parts)


_RANGE_END_RE = re.compile(r"^(?P<prefix>[^\s]*?)(?P<digits>[0-9]+)$")


def _serial_range(first: Any, last: Any, item: Any) -> tuple[int, int] | tuple[str, str]:
    """One range, normalised: two whole numbers, or two serials of one series (prefix upper-cased)."""
    if any(isinstance(v, bool) for v in (first, last)):
        raise TraceError(f"a serial range end must be a number or a serial, got {item!r}")
    numbers = [isinstance(v, (int, np.integer)) for v in (first, last)]
    if all(numbers):
        a, b = int(first), int(last)
        if a < 0 or b < 0:
            raise TraceError(f"a serial range end must not be negative, got {item!r}")
        if a > b:
            raise TraceError(f"serial range {item!r}: first {a} is after last {b}")
        return (a, b)
    if any(numbers):
        raise TraceError(f"serial range {item!r}: give two serials or two numbers, not one of each")
    (p1, d1), (p2, d2) = _split_range_end(first), _split_range_end(last)
    if p1 != p2:
        raise TraceError(f"serial range {item!r}: different prefixes {p1!r} and {p2!r} (one series a range)")
    if len(d1) != len(d2):
        raise TraceError(f"serial range {item!r}: numeric tails of {len(d1)} and {len(d2)} digits")
    if d1 > d2:  # same width: the text order is the numeric order
        raise TraceError(f"serial range {item!r}: first {first} is after last {last}")
    return (p1 + d1, p2 + d2)


def _split_range_end(value: Any) -> tuple[str, str]:
    match = _RANGE_END_RE.match(str(value).strip())
    if not match:
        raise TraceError(f"serial range end {value!r} must be a serial ending in digits")
    return match["prefix"].upper(), match["digits"]


def _serial_range_predicate(u: ir.Table, rng: tuple[int, int] | tuple[str, str]) -> ir.BooleanValue:
    """Units of one range: numbers match the numeric part; serials match prefix (any case) and width."""
    first, last = rng
    if isinstance(first, int):
        return u.serial_number.between(first, last)
    prefix, d1 = _split_range_end(first)
    d2 = _split_range_end(last)[1]
    shape = u.serial.re_search(f"(?i)^{re.escape(prefix)}[0-9]{{{len(d1)}}}$")
    if len(d1) <= 18:  # the stored numeric part is then the tail: cheap, and in the units' sort order
        return u.serial_number.between(int(d1), int(d2)) & shape
    tail = u.serial.substr(len(prefix))
    return (tail >= d1) & (tail <= d2) & shape


def _as_date(value: Any, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise TraceError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class PartyExposure(ResultMixin):
    """A party that handled units in scope; ``units_held`` are in its hands now, ``units_sold``
    went from it to consumers (their last event is its sale)."""

    party_id: str
    party_name: str
    role: str
    region: str
    units_handled: int
    units_held: int
    units_sold: int
    units_recalled: int
    units_remedied: int

    def summary(self) -> str:
        return (
            f"{self.party_id} {self.party_name} ({self.role}, {self.region}): handled {self.units_handled}, "
            f"holds {self.units_held}, sold {self.units_sold}, recalled {self.units_recalled}, "
            f"remedied {self.units_remedied}"
        )


@dataclass(frozen=True)
class RegionExposure(ResultMixin):
    """A GB/T 2260 region where units in scope were handled, are held, or were sold."""

    region: str
    units_handled: int
    units_held: int
    units_sold: int
    n_parties: int

    def summary(self) -> str:
        return (
            f"{self.region}: handled {self.units_handled}, held {self.units_held}, sold {self.units_sold}, "
            f"{self.n_parties} part(ies)"
        )


@dataclass(frozen=True)
class RecallScope(ResultMixin):
    """Units, parties and regions affected by a defect, and recall progress (see the module doc)."""

    criteria: ScopeCriteria
    n_units: int
    n_units_without_events: int
    n_in_supply_chain: int
    n_with_consumers: int
    n_recalled: int
    n_remedied: int
    last_event_counts: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)
    produced_first: dt.date | None = None
    produced_last: dt.date | None = None
    parties: tuple[PartyExposure, ...] = ()
    regions: tuple[RegionExposure, ...] = ()

    @property
    def effectiveness(self) -> float | None:
        """Share of units in scope already remedied (None when the scope is empty)."""
        return self.n_remedied / self.n_units if self.n_units else None

    @property
    def n_outstanding(self) -> int:
        return self.n_units - self.n_remedied

    @property
    def holders(self) -> tuple[PartyExposure, ...]:
        """Importers, distributors and retailers whose last event put units in scope in their hands."""
        return tuple(p for p in self.parties if p.role in HOLDER_ROLES and p.units_held > 0)

    @property
    def retailers_with_sales(self) -> tuple[PartyExposure, ...]:
        """Retailers (and other parties) whose sales put units in scope with consumers."""
        return tuple(p for p in self.parties if p.units_sold > 0)

    def summary(self) -> str:
        eff = "n/a" if self.effectiveness is None else f"{self.effectiveness:.1%}"
        return (
            f"recall scope ({self.criteria.describe()}): {self.n_units} unit(s); "
            f"{self.n_in_supply_chain} in the supply chain, {self.n_with_consumers} with consumers, "
            f"{self.n_recalled} recalled, {self.n_remedied} remedied (effectiveness {eff}); "
            f"{len(self.parties)} part(ies), {len(self.holders)} holding units; {len(self.regions)} region(s)"
        )


# ------------------------------------------------------------------------------------------------
# input and validation


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[tuple[np.ndarray, str, np.ndarray, np.ndarray]] = []

    def add(self, mask: np.ndarray, rows: np.ndarray, column: str, values: pd.Series, message: str) -> None:
        """Rows where ``mask`` holds; ``{v}`` in ``message`` is replaced by the quoted value."""
        index = np.flatnonzero(mask)
        if not index.size:
            return
        shown = values.to_numpy(dtype=object, na_value=None)[index]
        if "{v}" in message:
            head, tail = message.split("{v}", 1)
            texts = np.array([f"{head}{v!r}{tail}" for v in shown], dtype=object)
        else:
            texts = np.full(index.size, message, dtype=object)
        self.items.append((rows[index], column, shown, texts))

    def add_stored(self, found: Any, column: str, message: str) -> None:
        """Every row of ``found`` (an Arrow table of ``__row__`` and ``column`` that a query of the store
        returned) with the one ``message``."""
        rows = np.asarray(found["__row__"].to_numpy(), dtype=np.int64)
        shown = np.asarray(found[column].to_pylist(), dtype=object)
        self.items.append((rows, column, shown, np.full(rows.size, message, object)))

    def raise_if_any(self, n_rows: int) -> None:
        if not self.items:
            return
        frame = pd.concat(
            [pd.DataFrame({"row": r, "column": c, "value": v, "message": m}) for r, c, v, m in self.items],
            ignore_index=True,
        ).sort_values(["row", "column"], kind="stable")
        problems = [
            ValueProblem(self.file, int(r), str(c), None if v is None else str(v), str(m))
            for r, c, v, m in frame.itertuples(index=False)
        ]
        raise IngestValidationError(self.file, problems, n_rows)


def _read_input(data: Any, name: str | None) -> tuple[pa.Table, str]:
    """Any supported input as an Arrow table of strings, and the name used in error messages."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise IngestError(f"file not found: {path}")
        label = name or path.name
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                table = pq.read_table(path)
            else:
                with pacsv.open_csv(path) as probe:  # the header's columns, all read as text
                    names = probe.schema.names
                table = pacsv.read_csv(
                    path,
                    convert_options=pacsv.ConvertOptions(
                        column_types={c: pa.string() for c in names},
                        strings_can_be_null=True,
                        quoted_strings_can_be_null=True,
                        null_values=[""],
                    ),
                )
        except (pa.ArrowInvalid, OSError) as exc:
            raise IngestError(f"{label}: not a readable file: {exc}") from None
    elif isinstance(data, pa.RecordBatch):
        table, label = pa.Table.from_batches([data]), name or "<rows>"
    elif isinstance(data, pa.Table):
        table, label = data, name or "<rows>"
    elif isinstance(data, pd.DataFrame):
        table, label = pa.Table.from_pandas(data, preserve_index=False), name or "<rows>"
    elif isinstance(data, Iterable) and not isinstance(data, (bytes, Mapping)):
        rows = list(data)
        if any(not isinstance(r, Mapping) for r in rows):
            raise IngestError("rows must be dictionaries of column -> value")
        columns: dict[str, None] = {}
        for r in rows:
            columns.update(dict.fromkeys(r))
        table = pa.table({c: pa.array([_text_value(r.get(c)) for r in rows], pa.string()) for c in columns})
        label = name or "<rows>"
    else:
        raise IngestError(f"cannot read {type(data).__name__}: give a path, Arrow table, DataFrame or rows")
    return _as_strings(table), label


def _text_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _as_strings(table: pa.Table) -> pa.Table:
    arrays = []
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            arrays.append(pc.cast(column, pa.string()))
        elif pa.types.is_timestamp(column.type):
            if column.type.tz is not None:
                column = pc.cast(column, pa.timestamp(column.type.unit, "UTC"))
            arrays.append(pc.strftime(column, format="%Y-%m-%dT%H:%M:%S"))
        elif pa.types.is_date(column.type):
            arrays.append(pc.strftime(column, format="%Y-%m-%d"))
        elif pa.types.is_null(column.type):
            arrays.append(pa.chunked_array([pa.nulls(len(column), pa.string())]))
        else:
            arrays.append(pc.cast(column, pa.string()))
    return pa.table(arrays, names=table.column_names)


def _text_column(table: pa.Table, name: str) -> pd.Series:
    """Trimmed text values of a column (missing column or empty value = missing)."""
    n = table.num_rows
    if name not in table.column_names:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    values = pd.Series(table[name].to_numpy(zero_copy_only=False), dtype="string").str.strip()
    return values.mask(values == "")


def _check_columns(table: pa.Table, label: str, allowed: Sequence[str], required: Sequence[str]) -> None:
    unknown = [c for c in table.column_names if c not in allowed]
    if unknown:
        raise IngestError(
            f"{label}: unknown column(s) {', '.join(repr(c) for c in unknown)}; "
            f"allowed are {', '.join(allowed)}"
        )
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise IngestError(f"{label}: required column(s) {', '.join(repr(c) for c in missing)} missing")


def _gtins(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """14-digit GTINs and a mask of invalid ones (each distinct value checked once with stdnum)."""
    distinct = values.dropna().unique()
    valid = {}
    for v in distinct:
        try:
            valid[v] = normalise_gtin(v)
        except TraceError:
            valid[v] = None
    mapped = values.map(valid).astype("string")
    bad = (values.notna() & mapped.isna()).to_numpy()
    return mapped, bad


def _required(problems: _Problems, values: pd.Series, rows: np.ndarray, column: str) -> np.ndarray:
    missing = values.isna().to_numpy()
    problems.add(missing, rows, column, values, "missing value (required)")
    return missing


def _validate_units(table: pa.Table, label: str) -> tuple[pd.DataFrame, int, _Problems]:
    _check_columns(table, label, UNIT_COLUMNS, UNIT_REQUIRED)
    n = table.num_rows
    rows = np.arange(1, n + 1, dtype=np.int64)
    problems = _Problems(label)
    raw_gtin = _text_column(table, "gtin")
    _required(problems, raw_gtin, rows, "gtin")
    gtin, bad = _gtins(raw_gtin)
    problems.add(bad, rows, "gtin", raw_gtin, "{v} is not a valid GTIN (GS1 check digit)")
    serial = _text_column(table, "serial")
    missing = _required(problems, serial, rows, "serial")
    ok = serial.fillna("").str.match(_SERIAL_RE.pattern).to_numpy(dtype=bool)
    problems.add(
        ~missing & ~ok,
        rows,
        "serial",
        serial,
        "serial {v} must be 1-20 characters without spaces (GS1 AI 21)",
    )
    batch = _text_column(table, "batch")
    problems.add(
        (batch.str.len() > 20).fillna(False).to_numpy(dtype=bool),
        rows,
        "batch",
        batch,
        "batch {v} is longer than 20 characters (GS1 AI 10)",
    )
    raw_date = _text_column(table, "production_date")
    date = pd.to_datetime(raw_date, format="%Y-%m-%d", errors="coerce")
    problems.add(
        (raw_date.notna() & date.isna()).to_numpy(),
        rows,
        "production_date",
        raw_date,
        "{v} is not a date YYYY-MM-DD",
    )
    frame = pd.DataFrame(
        {
            "gtin": gtin,
            "serial": serial,
            "serial_number": serial.str.extract(_DIGITS_TAIL, expand=False).astype("Int64"),
            "model": _text_column(table, "model"),
            "batch": batch,
            "production_date": date.dt.date.astype(object).where(date.notna(), None),
            "manufacturer_id": _text_column(table, "manufacturer_id"),
            "manufacturer_name": _text_column(table, "manufacturer_name"),
            "__row__": rows,
        }
    )
    frame, n_dup = _drop_duplicates(frame, ["gtin", "serial"], problems, "serial", "unit")
    return frame, n_dup, problems


def _validate_events(table: pa.Table, label: str) -> tuple[pd.DataFrame, int, _Problems]:
    _check_columns(table, label, EVENT_COLUMNS, EVENT_REQUIRED)
    n = table.num_rows
    rows = np.arange(1, n + 1, dtype=np.int64)
    problems = _Problems(label)
    raw_gtin = _text_column(table, "gtin")
    _required(problems, raw_gtin, rows, "gtin")
    gtin, bad = _gtins(raw_gtin)
    problems.add(bad, rows, "gtin", raw_gtin, "{v} is not a valid GTIN (GS1 check digit)")
    serial = _text_column(table, "serial")
    _required(problems, serial, rows, "serial")
    kind = _text_column(table, "kind").str.lower()
    missing = _required(problems, kind, rows, "kind")
    problems.add(
        ~missing & ~kind.isin(EVENT_KINDS).to_numpy(dtype=bool),
        rows,
        "kind",
        kind,
        f"kind {{v}} is not one of {', '.join(EVENT_KINDS)}",
    )
    party = _text_column(table, "party_id")
    _required(problems, party, rows, "party_id")
    role = _text_column(table, "party_role").str.lower()
    missing = _required(problems, role, rows, "party_role")
    problems.add(
        ~missing & ~role.isin(PARTY_ROLES).to_numpy(dtype=bool),
        rows,
        "party_role",
        role,
        f"role {{v}} is not one of {', '.join(PARTY_ROLES)}",
    )
    region = _text_column(table, "region")
    missing = _required(problems, region, rows, "region")
    form = region.fillna("").str.fullmatch(r"\d{6}").to_numpy(dtype=bool)
    province = region.fillna("").str[:2].isin(GB2260_PROVINCES).to_numpy(dtype=bool)
    problems.add(
        ~missing & ~(form & province),
        rows,
        "region",
        region,
        "region {v} is not a GB/T 2260 six-digit division code",
    )
    raw_time = _text_column(table, "occurred_at")
    missing = _required(problems, raw_time, rows, "occurred_at")
    when = _parse_timestamps(raw_time)
    problems.add(
        ~missing & when.isna().to_numpy(),
        rows,
        "occurred_at",
        raw_time,
        "{v} is not an ISO date or date-time",
    )
    frame = pd.DataFrame(
        {
            "gtin": gtin,
            "serial": serial,
            "kind": kind,
            "party_id": party,
            "party_name": _text_column(table, "party_name"),
            "party_role": role,
            "region": region,
            "occurred_at": when,
            "__row__": rows,
        }
    )
    frame, n_dup = _drop_duplicates(
        frame, ["gtin", "serial", "kind", "party_id", "occurred_at"], problems, "party_id", "event"
    )
    return frame, n_dup, problems


def _parse_timestamps(values: pd.Series) -> pd.Series:
    """Naive UTC timestamps (microseconds); missing where a value is not ISO 8601."""
    parsed = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us]")
    distinct = pd.unique(values.dropna())  # each distinct text parsed once
    lookup: dict[str, Any] = {}
    for v in distinct:
        try:
            stamp = pd.Timestamp(dt.datetime.fromisoformat(str(v)))
        except ValueError:
            lookup[v] = pd.NaT
            continue
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        lookup[v] = stamp
    if lookup:
        parsed = pd.to_datetime(values.map(lookup), errors="coerce").astype("datetime64[us]")
    return parsed


def _drop_duplicates(
    frame: pd.DataFrame, key: list[str], problems: _Problems, column: str, what: str
) -> tuple[pd.DataFrame, int]:
    """Drop rows repeating an earlier row exactly; a key repeated with other values is a bad value."""
    valid_key = frame[key].notna().all(axis=1)
    dup_key = frame.duplicated(subset=key, keep=False) & valid_key
    if not dup_key.any():
        return frame, 0
    content = [c for c in frame.columns if c != "__row__"]
    exact = frame.duplicated(subset=content, keep="first") & valid_key
    kept = frame[~exact]
    conflict = kept.duplicated(subset=key, keep="first") & kept[key].notna().all(axis=1)
    if conflict.any():
        first_row = kept[~kept.duplicated(subset=key, keep="first")].set_index(key)["__row__"]
        bad = kept[conflict]
        firsts = [first_row.loc[tuple(k)] for k in bad[key].itertuples(index=False)]
        problems.items.append(
            (
                bad["__row__"].to_numpy(dtype=np.int64),
                column,
                bad[column].to_numpy(dtype=object, na_value=None),
                np.array([f"{what} repeats row {r} with different values" for r in firsts], dtype=object),
            )
        )
    return kept, int(exact.sum())


# ------------------------------------------------------------------------------------------------
# the store


class TraceStore:
    """Units and supply-chain events in an Ibis backend (DuckDB by default)."""

    def __init__(self, backend: ibis.BaseBackend) -> None:
        self.backend = backend
        with quiet_backend():
            self._units = self._ensure(UNITS_TABLE, UNITS_SCHEMA)
            self._events = self._ensure(EVENTS_TABLE, EVENTS_SCHEMA)

    def _ensure(self, name: str, schema: ibis.Schema) -> ir.Table:
        try:
            table = self.backend.table(name)
        except ibis_exc.TableNotFound:
            table = self.backend.create_table(name, schema=schema)
        missing = [c for c in schema if c not in table.columns]
        if missing:
            raise StoreError(f"table {name!r} lacks column(s): {', '.join(missing)}")
        return table

    @classmethod
    def duckdb(cls, path: str | os.PathLike[str] = ":memory:", **kwargs: Any) -> TraceStore:
        """The trace tables in the DuckDB file ``path`` (``":memory:"`` for a throw-away store)."""
        target = str(path)
        if target != ":memory:" and not Path(target).expanduser().resolve().parent.is_dir():
            raise StoreError(f"directory of the store does not exist: {Path(target).parent}")
        return cls(ibis.duckdb.connect(target, **kwargs))

    @classmethod
    def of(cls, store: AnalyticalStore) -> TraceStore:
        """The trace tables in the backend of an incident :class:`AnalyticalStore`."""
        return cls(store.backend)

    def units(self) -> ir.Table:
        return self._units

    def events(self) -> ir.Table:
        return self._events

    def count_units(self) -> int:
        return int(self._units.count().to_pyarrow().as_py())

    def count_events(self) -> int:
        return int(self._events.count().to_pyarrow().as_py())

    def _max_key(self, table: ir.Table, column: str) -> int:
        value = table[column].max().to_pyarrow().as_py()
        return -1 if value is None else int(value)

    # -- ingest ---------------------------------------------------------------------------------
    def ingest_units(self, data: Any, *, name: str | None = None) -> TraceIngestReport:
        """Validate units and store the new ones in one statement (nothing if any row is rejected)."""
        started = time.perf_counter()
        table, label = _read_input(data, name)
        frame, n_dup, problems = _validate_units(table, label)
        problems.raise_if_any(table.num_rows)
        staged = pa.Table.from_pandas(frame, preserve_index=False).cast(
            pa.schema(
                [
                    ("gtin", pa.string()),
                    ("serial", pa.string()),
                    ("serial_number", pa.int64()),
                    ("model", pa.string()),
                    ("batch", pa.string()),
                    ("production_date", pa.date32()),
                    ("manufacturer_id", pa.string()),
                    ("manufacturer_name", pa.string()),
                    ("__row__", pa.int64()),
                ]
            )
        )
        units = self.units()
        if staged.num_rows:
            mem = ibis.memtable(staged)
            compare = ["model", "batch", "production_date", "manufacturer_id", "manufacturer_name"]
            both = mem.inner_join(units, ["gtin", "serial"])
            differs = ibis.or_(*[~both[c].identical_to(both[f"{c}_right"]) for c in compare])
            conflicts = both.filter(differs).select("__row__", "serial").order_by("__row__").to_pyarrow()
            if conflicts.num_rows:
                problems.add_stored(
                    conflicts, "serial", "unit (gtin, serial) is stored already with different values"
                )
                problems.raise_if_any(table.num_rows)
        before = self.count_units()
        if staged.num_rows:
            offset = self._max_key(units, "unit_key") + 1
            new = mem.anti_join(units, ["gtin", "serial"])
            new = new.order_by("__row__").mutate(unit_key=ibis.row_number() + offset)
            with quiet_backend():
                self.backend.insert(UNITS_TABLE, new.select(*UNITS_SCHEMA.names))
        return TraceIngestReport(
            "units", label, table.num_rows, n_dup, self.count_units() - before, time.perf_counter() - started
        )

    def ingest_events(self, data: Any, *, name: str | None = None) -> TraceIngestReport:
        """Validate events (their units must be stored) and store the new ones in one statement."""
        started = time.perf_counter()
        table, label = _read_input(data, name)
        frame, n_dup, problems = _validate_events(table, label)
        staged = pa.Table.from_pandas(frame, preserve_index=False).cast(
            pa.schema(
                [
                    ("gtin", pa.string()),
                    ("serial", pa.string()),
                    ("kind", pa.string()),
                    ("party_id", pa.string()),
                    ("party_name", pa.string()),
                    ("party_role", pa.string()),
                    ("region", pa.string()),
                    ("occurred_at", pa.timestamp("us")),
                    ("__row__", pa.int64()),
                ]
            )
        )
        units = self.units()
        events = self.events()
        mem = ibis.memtable(staged)
        if staged.num_rows:
            known = mem.filter(mem.gtin.notnull(), mem.serial.notnull())
            unknown = known.anti_join(units, ["gtin", "serial"]).select("__row__", "serial")
            unknown = unknown.order_by("__row__").to_pyarrow()
            if unknown.num_rows:
                problems.add_stored(
                    unknown, "serial", "unit (gtin, serial) is not in the store; ingest its units first"
                )
        problems.raise_if_any(table.num_rows)
        if not staged.num_rows:
            return TraceIngestReport("events", label, 0, 0, 0, time.perf_counter() - started)
        keyed = mem.inner_join(units.select("unit_key", "gtin", "serial"), ["gtin", "serial"])
        key = ["unit_key", "kind", "party_id", "occurred_at"]
        compare = ["party_name", "party_role", "region"]
        both = keyed.inner_join(events, key)
        differs = ibis.or_(*[~both[c].identical_to(both[f"{c}_right"]) for c in compare])
        conflicts = both.filter(differs).select("__row__", "party_id").order_by("__row__").to_pyarrow()
        if conflicts.num_rows:
            problems.add_stored(
                conflicts, "party_id", "event is stored already with a different party name, role or region"
            )
            problems.raise_if_any(table.num_rows)
        before = self.count_events()
        offset = self._max_key(events, "event_key") + 1
        new = keyed.anti_join(events, key).order_by("__row__").mutate(event_key=ibis.row_number() + offset)
        with quiet_backend():
            self.backend.insert(EVENTS_TABLE, new.select(*EVENTS_SCHEMA.names))
        return TraceIngestReport(
            "events",
            label,
            table.num_rows,
            n_dup,
            self.count_events() - before,
            time.perf_counter() - started,
        )

    # -- layout ---------------------------------------------------------------------------------
    def optimise(self) -> None:
        """Rewrite the tables clustered for the scope query: units by GTIN, batch and serial number,
        events by unit. Keys do not change. On DuckDB this lets the scan skip row groups (zone maps)."""
        with quiet_backend():
            units = self.units()
            self.backend.create_table(
                UNITS_TABLE,
                units.order_by("gtin", "batch", "serial_number", "unit_key"),
                overwrite=True,
            )
            events = self.events()
            self.backend.create_table(
                EVENTS_TABLE, events.order_by("unit_key", "occurred_at", "event_key"), overwrite=True
            )
            self._units = self.backend.table(UNITS_TABLE)
            self._events = self.backend.table(EVENTS_TABLE)

    def close(self) -> None:
        if str(self.backend.name) == "duckdb":
            self.backend.disconnect()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TraceStore({self.backend.name})"


def ingest_units(
    store: TraceStore | AnalyticalStore, data: Any, *, name: str | None = None
) -> TraceIngestReport:
    """Module-level form of :meth:`TraceStore.ingest_units`."""
    return _trace_store(store).ingest_units(data, name=name)


def ingest_events(
    store: TraceStore | AnalyticalStore, data: Any, *, name: str | None = None
) -> TraceIngestReport:
    """Module-level form of :meth:`TraceStore.ingest_events`."""
    return _trace_store(store).ingest_events(data, name=name)


def _trace_store(store: TraceStore | AnalyticalStore) -> TraceStore:
    if isinstance(store, TraceStore):
        return store
    if isinstance(store, AnalyticalStore):
        return TraceStore.of(store)
    raise TraceError(f"store must be a TraceStore or AnalyticalStore, got {type(store).__name__}")


# ------------------------------------------------------------------------------------------------
# the scope query


def _criteria(criteria: ScopeCriteria | Mapping[str, Any] | str) -> ScopeCriteria:
    if isinstance(criteria, ScopeCriteria):
        return criteria
    if isinstance(criteria, str):
        return ScopeCriteria(criteria)
    if isinstance(criteria, Mapping):
        return ScopeCriteria(**criteria)
    raise TraceError(f"criteria must be ScopeCriteria, a dict or a GTIN, got {type(criteria).__name__}")


def affected_units(
    store: TraceStore | AnalyticalStore, criteria: ScopeCriteria | Mapping[str, Any]
) -> ir.Table:
    """The stored units matching the criteria (all unit columns), as a lazy Ibis expression."""
    crit = _criteria(criteria)
    u = _trace_store(store).units()
    predicates = [u.gtin == crit.gtin]
    if crit.batches:
        predicates.append(u.batch.isin(list(crit.batches)))
    if crit.serial_ranges:
        predicates.append(ibis.or_(*[_serial_range_predicate(u, r) for r in crit.serial_ranges]))
    if crit.produced_from is not None:
        predicates.append(u.production_date >= crit.produced_from)
    if crit.produced_to is not None:
        predicates.append(u.production_date <= crit.produced_to)
    return u.filter(*predicates)


def _scope_events(store: TraceStore, units: ir.Table) -> ir.Table:
    """Events of the given units (a semi-join). On DuckDB the join's dynamic filter on ``unit_key``
    reaches the events scan, so on a clustered events table (:meth:`TraceStore.optimise`) only the
    row groups holding those units are read."""
    return store.events().semi_join(units.select("unit_key"), "unit_key")


def _kind_rank(kind: ir.StringValue) -> ir.IntegerValue:
    return kind.cases(*[(k, i) for i, k in enumerate(EVENT_KINDS)], else_=-1)


_LAST_EVENT = dt_.Struct(
    {
        "kind": "string",
        "occurred_at": "timestamp",
        "party_id": "string",
        "party_name": "string",
        "party_role": "string",
        "region": "string",
    }
)
_EVENT_ORDER = dt_.Struct({"at": "timestamp", "rank": "int8", "key": "int64"})
_PARTY_FACTS = dt_.Struct({"party_name": "string", "party_role": "string", "region": "string"})
_PARTY_ORDER = dt_.Struct({"at": "timestamp", "key": "int64"})


@ibis.udf.agg.builtin(name="arg_max")
def _arg_max_event(value: _LAST_EVENT, key: _EVENT_ORDER) -> _LAST_EVENT:  # type: ignore[valid-type]
    """DuckDB's ``arg_max``: one pass, no sort (Ibis's ``argmax`` compiles to an ordered ``FIRST``)."""


@ibis.udf.agg.builtin(name="arg_max")
def _arg_max_party(value: _PARTY_FACTS, key: _PARTY_ORDER) -> _PARTY_FACTS:  # type: ignore[valid-type]
    """DuckDB's ``arg_max`` for a party's latest name, role and region."""


def _fast_aggregates(table: ir.Table) -> bool:
    try:
        return str(table._find_backend().name) == "duckdb"
    except Exception:  # pragma: no cover - an unbound expression
        return False


def _last_events(events: ir.Table, *, fast: bool | None = None) -> ir.Table:
    """Per unit: its last event (latest time, then later kind, then later-stored) and whether it was
    ever recalled / remedied, with its number of events. One row per unit that has events."""
    if fast is None:
        fast = _fast_aggregates(events)
    flags = {
        "recalled": (events.kind == "recalled").any(),
        "remedied": (events.kind == "remedied").any(),
        "n_events": events.count(),
    }
    if fast:  # one hash aggregate, no sort
        key = ibis.struct(
            {"at": events.occurred_at, "rank": _kind_rank(events.kind).cast("int8"), "key": events.event_key}
        )
        value = ibis.struct({name: events[name] for name in _LAST_EVENT.names})
        last = events.group_by("unit_key").aggregate(_last=_arg_max_event(value, key), **flags)
        return last.select(
            "unit_key",
            "recalled",
            "remedied",
            "n_events",
            last_kind=last._last["kind"],
            last_at=last._last["occurred_at"],
            last_party_id=last._last["party_id"],
            last_party_name=last._last["party_name"],
            last_party_role=last._last["party_role"],
            last_region=last._last["region"],
        )
    ranked = events.mutate(
        _rank=ibis.row_number().over(
            group_by=events.unit_key,
            order_by=[events.occurred_at.desc(), _kind_rank(events.kind).desc(), events.event_key.desc()],
        )
    )
    last = ranked.filter(ranked._rank == 0).select(
        unit_key="unit_key",
        last_kind="kind",
        last_at="occurred_at",
        last_party_id="party_id",
        last_party_name="party_name",
        last_party_role="party_role",
        last_region="region",
    )
    return events.group_by("unit_key").aggregate(**flags).inner_join(last, "unit_key")


_UNIT_STATUS_COLUMNS = (
    "last_kind",
    "last_at",
    "last_party_id",
    "last_party_name",
    "last_party_role",
    "last_region",
)


def _unit_list(units: ir.Table, events: ir.Table, *, fast: bool | None = None) -> ir.Table:
    """``units`` (any subset of unit columns with ``unit_key``) with status, last event and flags."""
    joined = units.left_join(_last_events(events, fast=fast), "unit_key")
    recalled = joined.recalled.fill_null(False)
    remedied = joined.remedied.fill_null(False)
    status = ibis.cases(
        (remedied, "remedied"),
        (recalled, "recalled"),
        (joined.last_kind == "sold", "with_consumer"),
        (joined.last_kind.isin(list(HOLDING_KINDS)), "in_supply_chain"),
        else_="no_events",
    )
    return joined.select(
        *units.columns,
        status=status,
        **{c: joined[c] for c in _UNIT_STATUS_COLUMNS},
        recalled=recalled,
        remedied=remedied,
        n_events=joined.n_events.fill_null(0),
    )


def _party_list(events: ir.Table, unit_list: ir.Table) -> ir.Table:
    # distinct (party, unit) pairs first, then plain counts: cheaper than COUNT(DISTINCT ...) per party
    pairs = events.group_by("party_id", "unit_key").aggregate(
        recalled=(events.kind == "recalled").any(), remedied=(events.kind == "remedied").any()
    )
    counts = pairs.group_by("party_id").aggregate(
        units_handled=pairs.count(),
        units_recalled=pairs.recalled.cast("int64").sum(),
        units_remedied=pairs.remedied.cast("int64").sum(),
    )
    if _fast_aggregates(events):
        key = ibis.struct({"at": events.occurred_at, "key": events.event_key})
        value = ibis.struct({name: events[name] for name in _PARTY_FACTS.names})
        facts = events.group_by("party_id").aggregate(_facts=_arg_max_party(value, key))
        facts = facts.select(
            "party_id",
            party_name=facts._facts["party_name"],
            role=facts._facts["party_role"],
            region=facts._facts["region"],
        )
    else:
        facts = events.group_by("party_id").aggregate(
            party_name=events.party_name.argmax(events.occurred_at),
            role=events.party_role.argmax(events.occurred_at),
            region=events.region.argmax(events.occurred_at),
        )
    handled = facts.inner_join(counts, "party_id")
    holding = unit_list.last_kind.isin(list(HOLDING_KINDS))
    sold = unit_list.last_kind == "sold"
    now = unit_list.filter(unit_list.last_party_id.notnull()).group_by(party_id=unit_list.last_party_id)
    now = now.aggregate(units_held=holding.sum().cast("int64"), units_sold=sold.sum().cast("int64"))
    joined = handled.left_join(now, "party_id")
    out = joined.select(
        party_id=joined.party_id,
        party_name=joined.party_name.fill_null(""),
        role=joined.role,
        region=joined.region,
        units_handled=joined.units_handled,
        units_held=joined.units_held.fill_null(0),
        units_sold=joined.units_sold.fill_null(0),
        units_recalled=joined.units_recalled,
        units_remedied=joined.units_remedied,
    )
    return out.order_by((out.units_held + out.units_sold).desc(), out.units_handled.desc(), out.party_id)


def _region_list(events: ir.Table, unit_list: ir.Table) -> ir.Table:
    handled = events.group_by("region").aggregate(
        units_handled=events.unit_key.nunique(), n_parties=events.party_id.nunique()
    )
    holding = unit_list.last_kind.isin(list(HOLDING_KINDS))
    sold = unit_list.last_kind == "sold"
    now = unit_list.filter(unit_list.last_region.notnull()).group_by(region=unit_list.last_region)
    now = now.aggregate(units_held=holding.sum().cast("int64"), units_sold=sold.sum().cast("int64"))
    joined = handled.left_join(now, "region")
    out = joined.select(
        region=joined.region,
        units_handled=joined.units_handled,
        units_held=joined.units_held.fill_null(0),
        units_sold=joined.units_sold.fill_null(0),
        n_parties=joined.n_parties,
    )
    return out.order_by((out.units_held + out.units_sold).desc(), out.units_handled.desc(), out.region)


def scope_units(store: TraceStore | AnalyticalStore, criteria: ScopeCriteria | Mapping[str, Any]) -> ir.Table:
    """One row per affected unit with its status and last event (lazy; see the module doc for columns)."""
    trace = _trace_store(store)
    units = affected_units(trace, criteria)
    return (
        _unit_list(units, _scope_events(trace, units))
        .drop("unit_key")
        .order_by("batch", "serial_number", "serial")
    )


def scope_parties(
    store: TraceStore | AnalyticalStore, criteria: ScopeCriteria | Mapping[str, Any]
) -> ir.Table:
    """One row per party that handled affected units (lazy; columns of :class:`PartyExposure`)."""
    trace = _trace_store(store)
    units = affected_units(trace, criteria)
    events = _scope_events(trace, units)
    return _party_list(events, _unit_list(units, events))


def scope_regions(
    store: TraceStore | AnalyticalStore, criteria: ScopeCriteria | Mapping[str, Any]
) -> ir.Table:
    """One row per region where affected units were handled (lazy; columns of :class:`RegionExposure`)."""
    trace = _trace_store(store)
    units = affected_units(trace, criteria)
    events = _scope_events(trace, units)
    return _region_list(events, _unit_list(units, events))


def iter_scope_units(
    store: TraceStore | AnalyticalStore,
    criteria: ScopeCriteria | Mapping[str, Any],
    chunk_size: int = 100_000,
) -> pa.RecordBatchReader:
    """The affected unit list as a stream of Arrow record batches (for a streamed download)."""
    trace = _trace_store(store)
    expr = scope_units(trace, criteria)
    if str(trace.backend.name) == "duckdb":
        # Ibis 12's to_pyarrow_batches calls a method duckdb 2 removed; stream the compiled query.
        # The cursor is separate so the stream does not block the store's own connection.
        cursor = trace.backend.con.cursor()
        return cursor.sql(str(trace.backend.compile(expr))).to_arrow_reader(chunk_size)
    return expr.to_pyarrow_batches(chunk_size=chunk_size)


def export_scope_csv(
    store: TraceStore | AnalyticalStore,
    criteria: ScopeCriteria | Mapping[str, Any],
    *,
    units_path: str | os.PathLike[str] | None = None,
    parties_path: str | os.PathLike[str] | None = None,
    regions_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write the unit, party and/or region lists as CSV files with a header, by the backend."""
    trace = _trace_store(store)
    crit = _criteria(criteria)
    with quiet_backend():
        if units_path is not None:
            trace.backend.to_csv(scope_units(trace, crit), units_path)
        if parties_path is not None:
            trace.backend.to_csv(scope_parties(trace, crit), parties_path)
        if regions_path is not None:
            trace.backend.to_csv(scope_regions(trace, crit), regions_path)


def recall_scope(
    store: TraceStore | AnalyticalStore,
    gtin: str,
    batches: Iterable[str] = (),
    serial_ranges: Iterable[tuple[int, int] | tuple[str, str]] = (),
    produced_from: dt.date | str | None = None,
    produced_to: dt.date | str | None = None,
) -> RecallScope:
    """Units, parties and regions affected by a defect of ``gtin`` in the given batches / serial
    ranges / production window, with recall progress (see the module doc for the semantics)."""
    crit = ScopeCriteria(
        gtin,
        batches=tuple(batches),
        serial_ranges=tuple(serial_ranges),
        produced_from=produced_from,
        produced_to=produced_to,
    )
    trace = _trace_store(store)
    with quiet_backend():
        if str(trace.backend.name) == "duckdb":
            return _recall_scope_duckdb(trace, crit)
        return _recall_scope_portable(trace, crit)


def _recall_scope_portable(trace: TraceStore, crit: ScopeCriteria) -> RecallScope:
    """The scope query as Ibis expressions on any backend (the per-unit status table cached)."""
    units = affected_units(trace, crit)
    events = _scope_events(trace, units)
    unit_list = _unit_list(units.select(*_SLIM_UNIT_COLUMNS), events).cache()
    try:
        return _result(
            crit,
            _grouped(unit_list).to_pyarrow(),
            _party_list(events, unit_list).to_pyarrow(),
            _region_list(events, unit_list).to_pyarrow(),
        )
    finally:
        unit_list.release()


_SLIM_UNIT_COLUMNS = ("unit_key", "batch", "model", "production_date")
# Constant names of the scope query's temporary tables (the DROP statements spell them out in full).
_SCOPE_UNITS = "_trace_scope_units"
_SCOPE_STATUS = "_trace_scope_status"
#: Ibis-compiled SQL of the fixed part of the scope query, per DuckDB catalog (compiled once: building
#: and compiling the Ibis expressions costs more than running them on a typical scope).
_COMPILED: dict[tuple[str, str], tuple[str, pa.Schema]] = {}


def _compiled(trace: TraceStore, name: str, build: Any) -> tuple[str, pa.Schema]:
    """SQL and Arrow schema of an expression (DuckDB returns e.g. sums as decimals; Ibis casts them)."""
    key = (str(trace.backend.current_catalog), name)
    if key not in _COMPILED:
        expr = build()
        _COMPILED[key] = (str(trace.backend.compile(expr)), expr.schema().to_pyarrow())
    return _COMPILED[key]


def _fetch(con: Any, compiled: tuple[str, pa.Schema]) -> pa.Table:
    sql, schema = compiled
    return con.sql(sql).to_arrow_table().cast(schema)


def _recall_scope_duckdb(trace: TraceStore, crit: ScopeCriteria) -> RecallScope:
    """The same query as the portable path, on DuckDB: the affected units go to a temporary table, and
    the rest runs as SQL compiled once by Ibis from the same expressions (only the small unit filter
    is compiled per call)."""
    backend = trace.backend
    con = backend.con
    units_sql = str(backend.compile(affected_units(trace, crit).select(*_SLIM_UNIT_COLUMNS)))
    # DDL takes no bound parameters. The table name is a module constant and the query text is what Ibis
    # compiled from the criteria (its literals quoted by Ibis/sqlglot); no raw user text is pasted.
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCOPE_UNITS} AS {units_sql}")  # sql-format: ok (Ibis SQL)
    try:

        def status() -> ir.Table:
            units = backend.table(_SCOPE_UNITS)
            return _unit_list(units, _scope_events(trace, units))

        status_sql = _compiled(trace, "status", status)[0]
        # As above: constant table name, SQL compiled by Ibis from fixed expressions over the temp table.
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_SCOPE_STATUS} AS {status_sql}")  # sql-format: ok (Ibis)

        def parts() -> tuple[ir.Table, ir.Table]:
            units = backend.table(_SCOPE_UNITS)
            return _scope_events(trace, units), backend.table(_SCOPE_STATUS)

        grouped = _fetch(con, _compiled(trace, "grouped", lambda: _grouped(parts()[1])))
        parties = _fetch(con, _compiled(trace, "parties", lambda: _party_list(*parts())))
        regions = _fetch(con, _compiled(trace, "regions", lambda: _region_list(*parts())))
    finally:
        con.execute("DROP TABLE IF EXISTS _trace_scope_status")
        con.execute("DROP TABLE IF EXISTS _trace_scope_units")
    return _result(crit, grouped, parties, regions)


def _grouped(ul: ir.Table) -> ir.Table:
    """One small grouped table that gives every count (at most kinds x batches x models x 4 rows)."""
    return ul.group_by(
        last_kind=ul.last_kind.fill_null(""),
        batch=ul.batch.fill_null(""),
        model=ul.model.fill_null(""),
        recalled=ul.recalled,
        remedied=ul.remedied,
    ).aggregate(n=ul.count(), first=ul.production_date.min(), last=ul.production_date.max())


def _result(
    crit: ScopeCriteria, grouped_table: pa.Table, parties: pa.Table, regions: pa.Table
) -> RecallScope:
    grouped = grouped_table.to_pandas()
    n = grouped["n"]
    kind = grouped["last_kind"]
    firsts, lasts = grouped["first"].dropna(), grouped["last"].dropna()
    last_counts = n.groupby(kind).sum()
    return RecallScope(
        criteria=crit,
        n_units=int(n.sum()),
        n_units_without_events=int(n[kind == ""].sum()),
        n_in_supply_chain=int(n[kind.isin(HOLDING_KINDS)].sum()),
        n_with_consumers=int(n[kind == "sold"].sum()),
        n_recalled=int(n[grouped["recalled"].astype(bool)].sum()),
        n_remedied=int(n[grouped["remedied"].astype(bool)].sum()),
        last_event_counts={k: int(last_counts[k]) for k in EVENT_KINDS if k in last_counts.index},
        batches={str(k): int(v) for k, v in n.groupby(grouped["batch"]).sum().sort_index().items()},
        models={str(k): int(v) for k, v in n.groupby(grouped["model"]).sum().sort_index().items()},
        produced_first=_as_plain_date(min(firsts)) if len(firsts) else None,
        produced_last=_as_plain_date(max(lasts)) if len(lasts) else None,
        parties=tuple(PartyExposure(**row) for row in parties.to_pylist()),
        regions=tuple(RegionExposure(**row) for row in regions.to_pylist()),
    )


def _as_plain_date(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value
