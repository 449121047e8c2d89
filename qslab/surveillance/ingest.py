"""Ingest of CSV and Parquet files into the analytical store through a declared column mapping.

A :class:`ColumnMapping` says, for each canonical column (:mod:`qslab.surveillance.schema`), where its
values come from in the file (:class:`FieldMap`: a column, several columns joined, or a constant),
how to read them (date format, number range, code table, regular expression, case, replacements),
and whether they are required. The mapping is frozen and validated when built, so a typo in a
mapping fails before any file is read.

:func:`ingest` reads the file in blocks (with a tqdm progress bar), converts every block with
vectorised Arrow/pandas operations, and collects **every** bad value with its file, row and column.
If any row is rejected it raises :class:`IngestValidationError` listing them all and writes nothing;
otherwise it writes the file's records in one statement, skipping keys already in the store, so
re-ingesting the same file adds nothing. Row numbers count data records from 1 (the header is not
a row), which is the spreadsheet row number minus one.

>>> import tempfile, pathlib
>>> from qslab.surveillance.store import AnalyticalStore
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "visits.csv").write_text(
...     "id,day,item,w\\n1,2024-03-04,A,2.5\\n2,2024-03-05,B,1\\n3,2024-03-11,A,4\\n")
>>> mapping = ColumnMapping.from_dict({
...     "source": "clinic",
...     "columns": {"record_id": "id", "event_date": {"column": "day", "required": True},
...                 "product_code": {"column": "item", "codes": {"A": "apples", "B": "bananas"},
...                                  "label_to": "product_label"},
...                 "weight": "w", "region": {"constant": "CN-GD"}}})
>>> store = AnalyticalStore.duckdb()
>>> ingest(store, folder / "visits.csv", mapping, progress=False).n_inserted
3
>>> ingest(store, folder / "visits.csv", mapping, progress=False).n_inserted
0
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml
from tqdm.auto import tqdm

from qslab.results import ResultMixin
from qslab.surveillance.schema import CANONICAL_SCHEMA, SEX_VALUES, arrow_schema, column_kind
from qslab.surveillance.store import AnalyticalStore, conform_batch

_ROW = "__row__"
_FIELD_KEYS = {
    "column",
    "constant",
    "required",
    "date_format",
    "codes",
    "codes_name",
    "codes_file",
    "label_to",
    "pattern",
    "case",
    "replace",
    "fallback",
    "separator",
    "minimum",
    "maximum",
}
_MAPPING_KEYS = {"source", "columns", "format", "delimiter", "encoding", "null_values"}


class MappingError(ValueError):
    """A column mapping is malformed; the message names the canonical column and the key."""


class IngestError(ValueError):
    """The file cannot be read at all (missing file, missing column, unknown format)."""


@dataclass(frozen=True)
class ValueProblem:
    """One rejected value: where it is (file, 1-based data row, file column) and what is wrong."""

    file: str
    row: int
    column: str
    value: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, column {self.column!r}: {self.message}"


class IngestValidationError(ValueError):
    """Rows of a file were rejected; ``problems`` lists every bad value. Nothing was written."""

    def __init__(self, file: str, problems: list[ValueProblem], n_rows: int, shown: int = 200) -> None:
        self.file = file
        self.problems = tuple(problems)
        self.n_rows = n_rows
        rows = len({p.row for p in problems})
        lines = [
            f"{file}: {len(problems)} bad value(s) in {rows} of {n_rows} row(s); nothing was written",
            *(f"  {p}" for p in problems[:shown]),
        ]
        if len(problems) > shown:
            lines.append(f"  ... and {len(problems) - shown} more (see .problems)")
        super().__init__("\n".join(lines))

    def to_frame(self) -> pd.DataFrame:
        """All problems as a table with columns file, row, column, value, message."""
        return pd.DataFrame(
            [(p.file, p.row, p.column, p.value, p.message) for p in self.problems],
            columns=["file", "row", "column", "value", "message"],
        )


@dataclass(frozen=True)
class FieldMap:
    """Where one canonical column's values come from and how they are read.

    Exactly one of ``column`` (a file column, or a tuple of columns joined with ``separator``) and
    ``constant`` is given. Steps, in order: join columns; trim whitespace (empty = missing);
    ``fallback`` column(s) where still missing; ``pattern`` (regular expression, its first group is
    kept; no match = bad value); ``case`` (``lower``/``upper``); ``replace`` (value -> value);
    then, by the column's type, ``date_format`` (strftime, default ``%Y-%m-%d``), numbers with
    ``minimum``/``maximum``, or ``codes`` (allowed codes -> labels; a code outside the table is a
    bad value; ``label_to`` names the canonical column that receives the label).
    ``required`` makes a missing value a bad value.
    """

    column: str | tuple[str, ...] | None = None
    constant: str | float | None = None
    required: bool = False
    date_format: str | None = None
    codes: Mapping[str, str] | None = None
    codes_name: str = "code table"
    label_to: str | None = None
    pattern: str | None = None
    case: str | None = None
    replace: Mapping[str, str] | None = None
    fallback: str | tuple[str, ...] | None = None
    separator: str = "|"
    minimum: float | None = None
    maximum: float | None = None

    def __post_init__(self) -> None:
        for name in ("column", "fallback"):
            value = getattr(self, name)
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, name, value)
            if value is not None and not (
                (isinstance(value, str) and value)
                or (isinstance(value, tuple) and value and all(isinstance(v, str) and v for v in value))
            ):
                raise MappingError(f"{name} must be a column name or a list of column names, got {value!r}")
        if (self.column is None) == (self.constant is None):
            raise MappingError("give exactly one of 'column' and 'constant'")
        if self.codes is not None:
            codes = {str(k): ("" if v is None else str(v)) for k, v in dict(self.codes).items()}
            if not codes:
                raise MappingError("codes must not be empty")
            object.__setattr__(self, "codes", MappingProxyType(codes))
        if self.replace is not None:
            object.__setattr__(
                self, "replace", MappingProxyType({str(k): str(v) for k, v in dict(self.replace).items()})
            )
        if self.case not in (None, "lower", "upper"):
            raise MappingError(f"case must be 'lower' or 'upper', got {self.case!r}")
        if self.pattern is not None:
            try:
                compiled = re.compile(self.pattern)
            except re.error as exc:
                raise MappingError(f"pattern {self.pattern!r} is not a regular expression: {exc}") from None
            if compiled.groups < 1:
                raise MappingError(f"pattern {self.pattern!r} needs a capturing group (the kept value)")
        if not isinstance(self.required, bool):
            raise MappingError(f"required must be true or false, got {self.required!r}")

    @property
    def file_columns(self) -> tuple[str, ...]:
        cols: list[str] = []
        for value in (self.column, self.fallback):
            if isinstance(value, str):
                cols.append(value)
            elif isinstance(value, tuple):
                cols.extend(value)
        return tuple(cols)

    def describe_source(self) -> str:
        if self.column is None:
            return "(constant)"
        return self.column if isinstance(self.column, str) else "+".join(self.column)


@dataclass(frozen=True)
class ColumnMapping:
    """A declared mapping from one file layout to the canonical schema (frozen, validated).

    ``columns`` maps canonical column names to :class:`FieldMap`. ``record_id`` must be mapped;
    ``source`` is not mapped (it is the mapping's ``source``); ``weight`` defaults to 1.
    ``file_format`` is ``csv``, ``parquet`` or None (from the file suffix: ``.parquet``/``.pq`` or CSV,
    optionally gzip-compressed).
    """

    source: str
    columns: Mapping[str, FieldMap]
    file_format: str | None = None
    delimiter: str = ","
    encoding: str = "utf8"
    null_values: tuple[str, ...] = ("",)

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.source):
            raise MappingError(
                f"source must be a short name (letters, digits, '-', '_', '.'), got {self.source!r}"
            )
        columns: dict[str, FieldMap] = {}
        for name, spec in dict(self.columns).items():
            where = f"column {name!r}"
            if name not in CANONICAL_SCHEMA:
                raise MappingError(f"{where}: not in the canonical schema ({', '.join(CANONICAL_SCHEMA)})")
            if name == "source":
                raise MappingError(f"{where}: the source is the mapping's 'source', do not map it")
            if not isinstance(spec, FieldMap):
                raise MappingError(f"{where}: expected a FieldMap, got {type(spec).__name__}")
            kind = column_kind(name)
            if spec.date_format is not None and kind != "date":
                raise MappingError(f"{where}: date_format is only for date columns")
            if (spec.minimum is not None or spec.maximum is not None) and kind != "number":
                raise MappingError(f"{where}: minimum/maximum are only for number columns")
            if spec.codes is not None and kind != "text":
                raise MappingError(f"{where}: codes are only for text columns")
            if spec.label_to is not None:
                if spec.codes is None:
                    raise MappingError(f"{where}: label_to needs codes")
                if spec.label_to not in CANONICAL_SCHEMA or column_kind(spec.label_to) != "text":
                    raise MappingError(
                        f"{where}: label_to {spec.label_to!r} is not a text column of the schema"
                    )
            columns[name] = spec
        if "record_id" not in columns:
            raise MappingError("column 'record_id': must be mapped (it makes re-ingesting idempotent)")
        for name, spec in columns.items():
            if spec.label_to is not None and spec.label_to in columns:
                raise MappingError(f"column {name!r}: label_to {spec.label_to!r} is also mapped directly")
        object.__setattr__(self, "columns", MappingProxyType(columns))
        if self.file_format not in (None, "csv", "parquet"):
            raise MappingError(f"format must be 'csv' or 'parquet', got {self.file_format!r}")
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1:
            raise MappingError(f"delimiter must be one character, got {self.delimiter!r}")
        object.__setattr__(self, "null_values", tuple(str(v) for v in self.null_values))

    @property
    def file_columns(self) -> tuple[str, ...]:
        """File columns the mapping reads, in first-use order."""
        seen: dict[str, None] = {}
        for spec in self.columns.values():
            for col in spec.file_columns:
                seen.setdefault(col)
        return tuple(seen)

    # -- YAML / dict form -----------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None) -> ColumnMapping:
        """Build from the plain form used in YAML files (see the docs page for the layout).

        A column given as a string is the file column. ``codes_file`` (a CSV with ``code,label``,
        relative to ``base_dir``) loads a code table.
        """
        if not isinstance(data, Mapping):
            raise MappingError("a mapping must be a dictionary with 'source' and 'columns'")
        unknown = set(data) - _MAPPING_KEYS
        if unknown:
            raise MappingError(f"unknown key(s) in mapping: {', '.join(sorted(unknown))}")
        if "source" not in data or "columns" not in data:
            raise MappingError("a mapping needs 'source' and 'columns'")
        if not isinstance(data["columns"], Mapping):
            raise MappingError("'columns' must map canonical column names to file columns")
        fields: dict[str, FieldMap] = {}
        for name, spec in data["columns"].items():
            if isinstance(spec, str):
                fields[name] = FieldMap(column=spec)
                continue
            if not isinstance(spec, Mapping):
                raise MappingError(f"column {name!r}: expected a file column name or a dictionary")
            bad = set(spec) - _FIELD_KEYS
            if bad:
                raise MappingError(f"column {name!r}: unknown key(s) {', '.join(sorted(bad))}")
            spec = dict(spec)
            codes_file = spec.pop("codes_file", None)
            if codes_file is not None:
                if "codes" in spec:
                    raise MappingError(f"column {name!r}: give codes or codes_file, not both")
                path = Path(codes_file)
                if not path.is_absolute() and base_dir is not None:
                    path = Path(base_dir) / path
                spec["codes"] = read_code_table(path)
                spec.setdefault("codes_name", path.name)
            try:
                fields[name] = FieldMap(**spec)
            except MappingError as exc:
                raise MappingError(f"column {name!r}: {exc}") from None
        return cls(
            source=data["source"],
            columns=fields,
            file_format=data.get("format"),
            delimiter=data.get("delimiter", ","),
            encoding=data.get("encoding", "utf8"),
            null_values=tuple(data.get("null_values", ("",))),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> ColumnMapping:
        """Read a mapping from a YAML file (``codes_file`` paths are relative to it)."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf8"))
        except FileNotFoundError:
            raise MappingError(f"mapping file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise MappingError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data, base_dir=path.parent)


def read_code_table(
    path: str | Path, code_column: str = "code", label_column: str = "label"
) -> dict[str, str]:
    """A ``code -> label`` table from a CSV file (codes read as strings, e.g. NEISS ``codes/*.csv``)."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={code_column: pa.string(), label_column: pa.string()},
                include_columns=[code_column, label_column],
                strings_can_be_null=False,
            ),
        )
    except FileNotFoundError:
        raise MappingError(f"code table not found: {path}") from None
    except (pa.ArrowInvalid, KeyError) as exc:
        raise MappingError(
            f"code table {path} needs columns {code_column!r} and {label_column!r}: {exc}"
        ) from None
    codes = table[code_column].to_pylist()
    labels = table[label_column].to_pylist()
    return dict(zip((c.strip() for c in codes), (lbl.strip() for lbl in labels), strict=True))


@dataclass(frozen=True)
class IngestReport(ResultMixin):
    """What :func:`ingest` did with one file."""

    source: str
    file: str
    n_rows: int
    n_duplicates_in_file: int
    n_inserted: int
    seconds: float
    problems: tuple[ValueProblem, ...] = field(default=())

    @property
    def n_skipped(self) -> int:
        """Distinct records of the file whose key was already stored."""
        return self.n_rows - self.n_duplicates_in_file - self.n_inserted

    def summary(self) -> str:
        return (
            f"{self.file} -> source {self.source!r}: {self.n_rows} row(s), {self.n_inserted} inserted, "
            f"{self.n_skipped} already stored, {self.n_duplicates_in_file} identical repeat(s) in the file "
            f"({self.seconds:.2f} s)"
        )


# ------------------------------------------------------------------------------------------------
# reading


def _file_format(path: Path, mapping: ColumnMapping) -> str:
    if mapping.file_format is not None:
        return mapping.file_format
    suffixes = [s.lower() for s in path.suffixes]
    return "parquet" if suffixes and suffixes[-1] in (".parquet", ".pq") else "csv"


def iter_blocks(
    path: str | Path, mapping: ColumnMapping, *, block_bytes: int = 8 << 20
) -> Iterator[pa.RecordBatch]:
    """Record batches of the mapped file columns, every value as a string (nulls for empty cells).

    Raises :class:`IngestError` for a missing file or a mapped column the file lacks.
    """
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"file not found: {path}")
    needed = list(mapping.file_columns)
    if _file_format(path, mapping) == "parquet":
        parquet = pq.ParquetFile(path)
        names = parquet.schema_arrow.names
        _check_columns(path, needed, names)
        for batch in parquet.iter_batches(columns=needed, batch_size=262_144):
            yield _as_strings(batch)
        return
    parse = pacsv.ParseOptions(delimiter=mapping.delimiter, newlines_in_values=True)
    read = pacsv.ReadOptions(block_size=1 << 16, encoding=mapping.encoding)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse) as probe:
            names = probe.schema.names
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{path}: not a readable CSV file: {exc}") from None
    _check_columns(path, needed, names)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in needed},
        include_columns=needed,
        null_values=list(mapping.null_values),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    read = pacsv.ReadOptions(block_size=block_bytes, encoding=mapping.encoding)
    try:
        with pacsv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert) as reader:
            yield from reader
    except pa.ArrowInvalid as exc:
        raise IngestError(f"{path}: malformed CSV: {exc}") from None


def _check_columns(path: Path, needed: list[str], names: list[str]) -> None:
    missing = [c for c in needed if c not in names]
    if missing:
        raise IngestError(
            f"{path.name}: column(s) {', '.join(repr(c) for c in missing)} not in the file; "
            f"it has {', '.join(names)}"
        )


def _as_strings(batch: pa.RecordBatch) -> pa.RecordBatch:
    arrays = []
    for column in batch.columns:
        if pa.types.is_string(column.type):
            arrays.append(column)
        elif pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
            arrays.append(pc.strftime(column, format="%Y-%m-%d"))
        else:
            arrays.append(pc.cast(column, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


# ------------------------------------------------------------------------------------------------
# conversion of one block


def _text(batch: pa.RecordBatch, spec_columns: str | tuple[str, ...], separator: str) -> pa.Array:
    if isinstance(spec_columns, str):
        values = batch.column(spec_columns)
    else:
        parts = [pc.fill_null(pc.utf8_trim_whitespace(batch.column(c)), "") for c in spec_columns]
        values = pc.binary_join_element_wise(*parts, separator)
        all_empty = pc.equal(parts[0], "")
        for part in parts[1:]:
            all_empty = pc.and_(all_empty, pc.equal(part, ""))
        values = pc.if_else(all_empty, pa.scalar(None, pa.string()), values)
    values = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


class _Problems:
    """Collects bad values of one block as arrays (vectorised: no loop per row)."""

    def __init__(self, file: str, rows: np.ndarray) -> None:
        self.file = file
        self.rows = rows
        self.frames: list[pd.DataFrame] = []

    def add(self, mask: np.ndarray, column: str, values: pa.Array | None, message: str) -> None:
        """Record the rows where ``mask`` holds; a NUL in ``message`` is replaced by the quoted value."""
        index = np.flatnonzero(np.asarray(mask, dtype=bool))
        if not index.size:
            return
        if values is None:
            shown = np.full(index.size, None, dtype=object)
        else:
            shown = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)[index]
        if "\x00" in message:
            head, tail = message.split("\x00", 1)
            text = pd.Series(shown, dtype="string").fillna("")
            messages: Any = (head + "'" + text + "'" + tail).to_numpy(dtype=object)
        else:
            messages = message
        self.frames.append(
            pd.DataFrame({"row": self.rows[index], "column": column, "value": shown, "message": messages})
        )


def _mask(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def convert_block(
    batch: pa.RecordBatch, mapping: ColumnMapping, *, first_row: int, file: str
) -> tuple[pa.Table, pd.DataFrame]:
    """One block of file rows converted to canonical columns, and a table of its bad values.

    ``first_row`` is the 1-based data-row number of the block's first row. The returned table keeps
    every row (bad values as nulls) plus a ``__row__`` column; callers drop it.
    """
    n = batch.num_rows
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    problems = _Problems(file, rows)
    out: dict[str, pa.Array] = {}
    for name, spec in mapping.columns.items():
        where = spec.describe_source()
        kind = column_kind(name)
        if spec.constant is not None:
            const_type = pa.float64() if kind == "number" else pa.string()
            values = (
                pa.array(np.full(n, spec.constant, dtype=object), type=const_type)
                if n
                else pa.array([], const_type)
            )
            if kind == "date":
                values = pc.cast(values, pa.string())
        else:
            assert spec.column is not None
            values = _text(batch, spec.column, spec.separator)
            if spec.fallback is not None:
                values = pc.coalesce(values, _text(batch, spec.fallback, spec.separator))
        if kind != "number" or spec.constant is None:
            values = pc.cast(values, pa.string())
            raw = values
            if spec.pattern is not None:
                present = _mask(pc.is_valid(values))
                extracted = pd.Series(values.to_numpy(zero_copy_only=False), dtype="string").str.extract(
                    spec.pattern, expand=False
                )
                if isinstance(extracted, pd.DataFrame):
                    extracted = extracted.iloc[:, 0]
                extracted = extracted.str.strip().replace("", pd.NA)
                values = pa.array(extracted.to_numpy(dtype=object, na_value=None), type=pa.string())
                problems.add(
                    present & ~_mask(pc.is_valid(values)),
                    where,
                    raw,
                    f"\x00 does not match pattern {spec.pattern!r}",
                )
            if spec.case == "lower":
                values = pc.utf8_lower(values)
            elif spec.case == "upper":
                values = pc.utf8_upper(values)
            if spec.replace:
                keys = pa.array(list(spec.replace.keys()), pa.string())
                position = pc.index_in(values, value_set=keys)
                replaced = pc.take(pa.array(list(spec.replace.values()), pa.string()), position)
                values = pc.if_else(pc.is_valid(position), replaced, values)
        missing = ~_mask(pc.is_valid(values))
        if spec.required:
            problems.add(missing, where, None, "missing value (required)")
        if kind == "date":
            fmt = spec.date_format or "%Y-%m-%d"
            parsed = pd.to_datetime(
                pd.Series(values.to_numpy(zero_copy_only=False), dtype="string"), format=fmt, errors="coerce"
            )
            bad = ~missing & parsed.isna().to_numpy()
            problems.add(bad, where, values, f"\x00 is not a date in the format {fmt}")
            out[name] = pa.array(parsed.dt.date.to_numpy(dtype=object, na_value=None), type=pa.date32())
        elif kind == "number":
            numbers = pd.to_numeric(
                pd.Series(values.to_numpy(zero_copy_only=False), dtype=object), errors="coerce"
            ).to_numpy(dtype=float)
            bad = ~missing & ~np.isfinite(numbers)
            problems.add(bad, where, values, "\x00 is not a number")
            ok = np.isfinite(numbers)
            if spec.minimum is not None:
                problems.add(
                    ok & (numbers < spec.minimum),
                    where,
                    values,
                    f"\x00 is below the minimum {spec.minimum:g}",
                )
            if spec.maximum is not None:
                problems.add(
                    ok & (numbers > spec.maximum),
                    where,
                    values,
                    f"\x00 is above the maximum {spec.maximum:g}",
                )
            if name == "weight":
                problems.add(ok & (numbers <= 0), where, values, "weight \x00 must be positive")
            out[name] = pa.array(np.where(ok, numbers, np.nan), type=pa.float64(), from_pandas=True)
        else:
            if spec.codes is not None:
                keys = pa.array(list(spec.codes.keys()), pa.string())
                position = pc.index_in(values, value_set=keys)
                bad = ~missing & ~_mask(pc.is_valid(position))
                problems.add(bad, where, values, f"unknown code \x00 (not in {spec.codes_name})")
                if spec.label_to is not None:
                    out[spec.label_to] = pc.take(pa.array(list(spec.codes.values()), pa.string()), position)
            if name == "sex":
                allowed = pc.is_in(values, value_set=pa.array(SEX_VALUES))
                problems.add(
                    ~missing & ~_mask(allowed),
                    where,
                    values,
                    f"sex \x00 is not one of {', '.join(SEX_VALUES)}",
                )
            out[name] = values
    out["source"] = pa.array(np.full(n, mapping.source, dtype=object), pa.string())
    if "weight" not in out:
        out["weight"] = pa.array(np.ones(n), pa.float64())
    schema = arrow_schema()
    table = pa.table({f.name: out[f.name] for f in schema if f.name in out})
    table = table.append_column(_ROW, pa.array(rows))
    frame = pd.concat(problems.frames, ignore_index=True) if problems.frames else _empty_problems()
    return table, frame


def _empty_problems() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series([], dtype=np.int64), "column": [], "value": [], "message": []})


# ------------------------------------------------------------------------------------------------
# whole file


def read_validated(
    path: str | Path, mapping: ColumnMapping, *, progress: bool = True, block_bytes: int = 8 << 20
) -> tuple[pa.Table, int]:
    """The whole file converted to canonical columns, and the number of identical duplicate rows dropped.

    Raises :class:`IngestValidationError` listing every bad value (with file, row and file column)
    when any row is rejected, including rows that repeat a ``record_id`` with different values.
    """
    path = Path(path)
    tables: list[pa.Table] = []
    frames: list[pd.DataFrame] = []
    n_rows = 0
    total = (
        pq.ParquetFile(path).metadata.num_rows
        if _file_format(path, mapping) == "parquet" and path.is_file()
        else None
    )
    with tqdm(
        total=total, unit=" rows", desc=f"reading {path.name}", disable=not progress, leave=False
    ) as bar:
        for batch in iter_blocks(path, mapping, block_bytes=block_bytes):
            table, frame = convert_block(batch, mapping, first_row=n_rows + 1, file=path.name)
            tables.append(table)
            frames.append(frame)
            n_rows += batch.num_rows
            bar.update(batch.num_rows)
    if tables:
        whole = pa.concat_tables(tables)
    else:
        schema = arrow_schema()
        whole = pa.table(
            {f.name: pa.array([], f.type) for f in schema if f.name in (*mapping.columns, "source", "weight")}
        ).append_column(_ROW, pa.array([], pa.int64()))
    problems = pd.concat(frames, ignore_index=True) if frames else _empty_problems()
    whole, n_duplicates, repeated = _drop_identical_duplicates(whole, mapping)
    if len(repeated):
        problems = pd.concat([problems, repeated], ignore_index=True)
    if len(problems):
        problems = problems.sort_values(["row", "column"], kind="stable")
        raise IngestValidationError(
            path.name,
            [
                ValueProblem(path.name, int(r), str(c), None if v is None or v is pd.NA else str(v), str(m))
                for r, c, v, m in problems[["row", "column", "value", "message"]].itertuples(index=False)
            ],
            n_rows,
        )
    return whole.drop_columns([_ROW]), n_duplicates


def _drop_identical_duplicates(table: pa.Table, mapping: ColumnMapping) -> tuple[pa.Table, int, pd.DataFrame]:
    """Drop rows that repeat an earlier row exactly; report rows that repeat a key with other values."""
    if table.num_rows == 0:
        return table, 0, _empty_problems()
    counts = table.group_by("record_id").aggregate([([], "count_all")])
    repeated_keys = counts.filter(pc.greater(counts["count_all"], 1))["record_id"]
    if len(repeated_keys) == 0:
        return table, 0, _empty_problems()
    involved = _mask(pc.is_in(table["record_id"], value_set=repeated_keys))
    subset = table.filter(pa.array(involved)).to_pandas()
    content = [c for c in subset.columns if c != _ROW]
    first = subset.drop_duplicates(subset=content, keep="first")
    drop_rows = np.setdiff1d(subset[_ROW].to_numpy(), first[_ROW].to_numpy())
    conflicts = first[first.duplicated(subset=["record_id"], keep="first")]
    first_row_of_key = first.drop_duplicates(subset=["record_id"], keep="first").set_index("record_id")[_ROW]
    record_col = mapping.columns["record_id"].describe_source()
    repeated = pd.DataFrame(
        {
            "row": conflicts[_ROW].to_numpy(dtype=np.int64),
            "column": record_col,
            "value": conflicts["record_id"].to_numpy(dtype=object),
            "message": (
                "record id '"
                + conflicts["record_id"].astype(str)
                + "' repeats row "
                + conflicts["record_id"].map(first_row_of_key).astype(str)
                + " with different values"
            ).to_numpy(dtype=object),
        }
    )
    keep = ~_mask(pc.is_in(table[_ROW], value_set=pa.array(drop_rows, pa.int64())))
    return table.filter(pa.array(keep)), int(drop_rows.size), repeated


def ingest(
    store: AnalyticalStore,
    path: str | Path,
    mapping: ColumnMapping,
    *,
    progress: bool = True,
    block_bytes: int = 8 << 20,
) -> IngestReport:
    """Validate the whole file against ``mapping`` and append its records to ``store``.

    Nothing is written when any value is rejected (:class:`IngestValidationError` lists every one).
    Otherwise the records are written by one statement; keys already stored are skipped, so running
    it twice on the same file inserts nothing the second time.
    """
    started = time.perf_counter()
    path = Path(path)
    table, n_duplicates = read_validated(path, mapping, progress=progress, block_bytes=block_bytes)
    batch = conform_batch(table)
    with tqdm(total=1, desc=f"writing {path.name}", disable=not progress, leave=False) as bar:
        result = store.append(batch)
        bar.update(1)
    return IngestReport(
        source=mapping.source,
        file=path.name,
        n_rows=table.num_rows + n_duplicates,
        n_duplicates_in_file=n_duplicates,
        n_inserted=result.n_inserted,
        seconds=time.perf_counter() - started,
    )
