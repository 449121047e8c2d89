"""The analytical store: incident records in the canonical long table, reached through Ibis.

One code path for every backend: :class:`AnalyticalStore` wraps any Ibis backend. By default it is a
DuckDB file on one machine (:meth:`AnalyticalStore.duckdb`); at national scale the same calls run on
Spark (:meth:`AnalyticalStore.spark`, local mode or a cluster session) or any other Ibis backend.
Queries are Ibis expressions built against :data:`~qslab.surveillance.schema.CANONICAL_SCHEMA`;
no SQL is built from strings.

Appending is idempotent by the key ``(source, record_id)``: rows whose key is already stored are
skipped (an anti-join executed by the backend), and the rows of one append are written by one
``INSERT ... SELECT`` statement, so a batch is stored whole or not at all.

>>> store = AnalyticalStore.duckdb()
>>> import pyarrow as pa, datetime as dt
>>> batch = pa.table({"source": ["demo", "demo"], "record_id": ["1", "2"],
...                   "event_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 9)],
...                   "product_code": ["1807", "1842"]})
>>> store.append(batch).n_inserted
2
>>> store.append(batch).n_inserted   # the same records again: nothing new
0
>>> store.records(product_code="1807").count().to_pyarrow().as_py()
1
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ibis
import ibis.common.exceptions as ibis_exc
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qslab.results import ResultMixin
from qslab.surveillance.schema import CANONICAL_SCHEMA, KEY_COLUMNS, arrow_schema

DEFAULT_TABLE = "incidents"

#: Spark settings that work on one machine (see the project's stack notes): loopback only, few shuffle
#: partitions, no UI, UTC session time zone. The warehouse goes to a fresh temporary directory.
SPARK_LOCAL_SETTINGS: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
}


@contextmanager
def quiet_backend() -> Iterator[None]:
    """Silence one known deprecation: Ibis 12.0's DuckDB schema lookup calls duckdb 2.0's deprecated
    ``Relation.fetch_arrow_table()``. Nothing else is filtered."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"fetch_arrow_table\(\) is deprecated", category=DeprecationWarning
        )
        yield


class StoreError(ValueError):
    """The store or a batch offered to it is not usable; the message names the column or key."""


@dataclass(frozen=True)
class AppendResult(ResultMixin):
    """What one :meth:`AnalyticalStore.append` did.

    ``n_offered`` rows were given, ``n_inserted`` were new and written, ``n_skipped`` had a
    ``(source, record_id)`` key already in the store.
    """

    table: str
    n_offered: int
    n_inserted: int

    @property
    def n_skipped(self) -> int:
        return self.n_offered - self.n_inserted

    def summary(self) -> str:
        return (
            f"{self.table}: {self.n_offered} row(s) offered, {self.n_inserted} inserted, "
            f"{self.n_skipped} already stored"
        )


def spark_session(
    app_name: str = "qslab", *, master: str = "local[2]", settings: Mapping[str, str] | None = None
):
    """A local Spark session with :data:`SPARK_LOCAL_SETTINGS` and a warehouse in a temporary directory.

    Sets ``SPARK_LOCAL_IP=127.0.0.1`` unless the environment already sets it, so the driver stays on
    loopback. Returns the active session when one exists (Spark allows one per process).
    """
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(master).appName(app_name)
    conf = {**SPARK_LOCAL_SETTINGS, **(settings or {})}
    conf.setdefault("spark.sql.warehouse.dir", tempfile.mkdtemp(prefix="qslab-spark-warehouse-"))
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def conform_batch(data: pa.Table | pd.DataFrame) -> pa.Table:
    """Columns of ``data`` cast to the canonical types, missing ones filled (``weight`` with 1.0).

    Raises :class:`StoreError` for a column outside the schema, a missing or empty key, a weight
    that is not a positive finite number, or a key repeated within the batch.
    """
    table = pa.Table.from_pandas(data, preserve_index=False) if isinstance(data, pd.DataFrame) else data
    if not isinstance(table, pa.Table):
        raise StoreError(f"a batch must be a pyarrow Table or pandas DataFrame, got {type(data).__name__}")
    unknown = [name for name in table.column_names if name not in CANONICAL_SCHEMA]
    if unknown:
        raise StoreError(f"column(s) not in the canonical schema: {', '.join(unknown)}")
    schema = arrow_schema()
    n = table.num_rows
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table[field.name]
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise StoreError(f"column {field.name!r} cannot be read as {field.type}: {exc}") from exc
        elif field.name == "weight":
            column = pa.chunked_array([pa.array(np.ones(n), pa.float64())])
        else:
            column = pa.chunked_array([pa.nulls(n, field.type)])
        columns.append(column)
    table = pa.Table.from_arrays(columns, schema=schema.with_metadata(None).remove_metadata())
    for key in KEY_COLUMNS:
        column = table[key]
        empty = pc.or_(pc.is_null(column), pc.equal(pc.utf8_length(column), 0))
        if pc.any(empty).as_py():
            raise StoreError(f"key column {key!r} is empty in row(s) {_first_rows(empty)}")
    weight = table["weight"]
    bad_weight = pc.invert(pc.fill_null(pc.and_(pc.is_finite(weight), pc.greater(weight, 0)), False))
    if pc.any(bad_weight).as_py():
        raise StoreError(
            f"column 'weight' must be positive and finite; not so in row(s) {_first_rows(bad_weight)}"
        )
    if n:
        counts = table.group_by(list(KEY_COLUMNS)).aggregate([([], "count_all")])
        repeated = counts.filter(pc.greater(counts["count_all"], 1))
        if repeated.num_rows:
            first = repeated.slice(0, 5).to_pylist()
            shown = "; ".join(f"({r['source']}, {r['record_id']})" for r in first)
            raise StoreError(
                f"{repeated.num_rows} key(s) (source, record_id) repeated within the batch: {shown}"
            )
    return table


def _first_rows(mask: pa.ChunkedArray, limit: int = 10) -> str:
    rows = np.flatnonzero(np.asarray(mask.to_numpy(zero_copy_only=False), dtype=bool)) + 1
    shown = ", ".join(str(r) for r in rows[:limit])
    return shown + (f" and {rows.size - limit} more" if rows.size > limit else "")


class AnalyticalStore:
    """Canonical incident table in an Ibis backend (DuckDB by default, Spark at scale).

    ``backend`` is any connected Ibis backend; the table ``table_name`` is created with
    :data:`CANONICAL_SCHEMA` when missing and checked for the canonical columns when present.
    """

    def __init__(self, backend: ibis.BaseBackend, table_name: str = DEFAULT_TABLE) -> None:
        if not table_name.isidentifier():
            raise StoreError(f"table name must be an identifier, got {table_name!r}")
        self.backend = backend
        self.table_name = table_name
        self._ensure_table()

    # -- constructors ---------------------------------------------------------------------------
    @classmethod
    def duckdb(
        cls, path: str | os.PathLike[str] = ":memory:", *, table_name: str = DEFAULT_TABLE, **kwargs: Any
    ) -> AnalyticalStore:
        """A store in the DuckDB file ``path`` (created if missing; ``":memory:"`` for a throw-away store).

        Extra keyword arguments go to ``ibis.duckdb.connect`` (e.g. ``read_only=True``, ``threads=2``).
        """
        target = str(path)
        if target != ":memory:":
            parent = Path(target).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"directory of the store does not exist: {parent}")
        return cls(ibis.duckdb.connect(target, **kwargs), table_name=table_name)

    @classmethod
    def spark(cls, session: Any = None, *, table_name: str = DEFAULT_TABLE) -> AnalyticalStore:
        """A store in a Spark session (a local one from :func:`spark_session` when ``session`` is None)."""
        return cls(
            ibis.pyspark.connect(session if session is not None else spark_session()), table_name=table_name
        )

    # -- table ----------------------------------------------------------------------------------
    def _ensure_table(self) -> None:
        with quiet_backend():
            try:
                existing = self.backend.table(self.table_name)
            except ibis_exc.TableNotFound:
                existing = self.backend.create_table(self.table_name, schema=CANONICAL_SCHEMA)
        self._table = existing
        missing = [name for name in CANONICAL_SCHEMA if name not in existing.columns]
        if missing:
            raise StoreError(f"table {self.table_name!r} lacks canonical column(s): {', '.join(missing)}")

    def table(self) -> ir.Table:
        """The canonical table as an Ibis expression (bound by name: it sees every later append)."""
        return self._table

    @property
    def backend_name(self) -> str:
        return str(self.backend.name)

    def append(self, data: pa.Table | pd.DataFrame) -> AppendResult:
        """Add the rows of ``data`` whose ``(source, record_id)`` is not stored yet, in one statement."""
        batch = conform_batch(data)
        before = self.count()
        if batch.num_rows:
            staged = ibis.memtable(batch)
            new_rows = staged.anti_join(self.table(), list(KEY_COLUMNS))
            with quiet_backend():
                self.backend.insert(self.table_name, new_rows)
        return AppendResult(self.table_name, batch.num_rows, self.count() - before)

    # -- queries --------------------------------------------------------------------------------
    def count(self, source: str | None = None) -> int:
        """Number of stored records (of one ``source`` when given)."""
        t = self.table()
        if source is not None:
            t = t.filter(t.source == source)
        return int(t.count().to_pyarrow().as_py())

    def sources(self) -> dict[str, int]:
        """Records per source."""
        t = self.table()
        counts = t.group_by("source").agg(n=t.count()).order_by("source").to_pyarrow()
        return dict(zip(counts["source"].to_pylist(), counts["n"].to_pylist(), strict=True))

    def records(
        self,
        *,
        source: str | Iterable[str] | None = None,
        start: dt.date | str | None = None,
        end: dt.date | str | None = None,
        **equals: str | Iterable[str],
    ) -> ir.Table:
        """The stored records as an Ibis expression, filtered by source, date range and column values.

        ``start``/``end`` bound ``event_date`` (both inclusive). Each keyword ``column=value`` keeps
        rows whose column equals the value (or is in the given collection of values).
        """
        t = self.table()
        predicates = []
        if source is not None:
            predicates.append(_match(t.source, source))
        if start is not None:
            predicates.append(t.event_date >= _as_date(start, "start"))
        if end is not None:
            predicates.append(t.event_date <= _as_date(end, "end"))
        for column, value in equals.items():
            if column not in CANONICAL_SCHEMA:
                raise StoreError(f"unknown column {column!r}; columns are {', '.join(CANONICAL_SCHEMA)}")
            predicates.append(_match(t[column], value))
        return t.filter(*predicates) if predicates else t

    def date_range(self, source: str | None = None) -> tuple[dt.date | None, dt.date | None]:
        """First and last ``event_date`` stored (of one source when given)."""
        t = self.records(source=source)
        row = t.aggregate(first=t.event_date.min(), last=t.event_date.max()).to_pyarrow().to_pylist()[0]
        return row["first"], row["last"]

    def drop(self) -> None:
        """Drop the canonical table (all records) and create it empty again."""
        with quiet_backend():
            self.backend.drop_table(self.table_name, force=True)
        self._ensure_table()

    def close(self) -> None:
        """Release the backend connection (DuckDB file lock); Spark sessions stay up."""
        if self.backend_name == "duckdb":
            self.backend.disconnect()

    def __enter__(self) -> AnalyticalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnalyticalStore({self.backend_name}, table={self.table_name!r})"


def _match(column: ir.Column, value: str | Iterable[str]) -> ir.BooleanValue:
    if isinstance(value, str) or not isinstance(value, Iterable):
        return column == value
    return column.isin(list(value))


def _as_date(value: dt.date | str, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise StoreError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}") from None
