"""``qslab ingest`` and ``qslab series``: load records into the analytical store, and cut series.

``qslab ingest SOURCE FILE [--store PATH] [--mapping MAPPING.yaml]`` loads a file with a ready
mapping (``neiss``, ``fda-enforcement``, ``caers``, ``maude``) or, for ``csv``, the YAML mapping
given. Every rejected value is printed with its row and column (and written to ``--errors-out``),
and nothing is stored; loading the same file again stores nothing new.

``qslab series --store PATH --by COL[,COL] --period week|month [-o OUT.csv]`` writes the
zero-filled series in the layout ``qslab detect`` reads: ``unit,time,observed,date``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_STORE = "qslab.duckdb"
SOURCE_CHOICES = ("neiss", "fda-enforcement", "caers", "maude", "csv")


def _default_store() -> str:
    return os.environ.get("DUCKDB_PATH", DEFAULT_STORE)


def register(subparsers: argparse._SubParsersAction) -> None:
    ingest = subparsers.add_parser(
        "ingest",
        help="load a CSV/Parquet file of incident records into the analytical store",
        description="Validate FILE against a column mapping and append its records to the store.",
    )
    ingest.add_argument(
        "source", choices=SOURCE_CHOICES, metavar="SOURCE", help=f"one of {', '.join(SOURCE_CHOICES)}"
    )
    ingest.add_argument("file", type=Path, metavar="FILE", help="CSV (optionally .gz) or Parquet file")
    ingest.add_argument(
        "--store", default=None, help=f"DuckDB file (default $DUCKDB_PATH or {DEFAULT_STORE})"
    )
    ingest.add_argument("--mapping", type=Path, help="YAML column mapping (required for SOURCE csv)")
    ingest.add_argument("--codes", type=Path, help="NEISS code-table folder (default: FILE's folder/codes)")
    ingest.add_argument("--source-name", help="store the records under this source name instead")
    ingest.add_argument("--errors-out", type=Path, help="write every rejected value to this CSV")
    ingest.add_argument("--no-progress", action="store_true", help="no progress bar")
    ingest.set_defaults(func=run_ingest)

    series = subparsers.add_parser(
        "series",
        help="zero-filled count series by group and period, in qslab detect's input layout",
        description="Aggregate the store's records to counts per group and period (unit,time,observed,date).",
    )
    series.add_argument(
        "--store", default=None, help=f"DuckDB file (default $DUCKDB_PATH or {DEFAULT_STORE})"
    )
    series.add_argument(
        "--by", required=True, help="grouping column(s), comma-separated, e.g. product_code,hazard_code"
    )
    series.add_argument("--period", choices=("week", "month"), default="week")
    series.add_argument("--source", action="append", help="only records of this source (repeatable)")
    series.add_argument(
        "--value", choices=("count", "weight"), default="count", help="records or sum of weights"
    )
    series.add_argument("--start", help="first date YYYY-MM-DD (default: first event)")
    series.add_argument("--end", help="last date YYYY-MM-DD (default: last event)")
    series.add_argument("--all-products", action="store_true", help="count NEISS records under each product")
    series.add_argument("-o", "--output", type=Path, help="output CSV (default: standard output)")
    series.set_defaults(func=run_series)


def _open_store(path: str | None, *, must_exist: bool):
    from qslab.cli import CommandError
    from qslab.surveillance.store import AnalyticalStore, StoreError

    target = path or _default_store()
    if must_exist and not Path(target).is_file():
        raise CommandError(f"store not found: {target}")
    try:
        return AnalyticalStore.duckdb(target)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:  # duckdb.IOException (locked or not a DuckDB file)
        raise CommandError(f"cannot open store {target}: {exc}") from None


def _mapping(args: argparse.Namespace):
    from qslab.cli import CommandError
    from qslab.surveillance import sources
    from qslab.surveillance.ingest import ColumnMapping, MappingError

    try:
        if args.mapping is not None:
            mapping = ColumnMapping.from_yaml(args.mapping)
        elif args.source == "csv":
            raise CommandError("SOURCE csv needs --mapping MAPPING.yaml")
        elif args.source == "neiss":
            codes = args.codes if args.codes is not None else args.file.parent / "codes"
            mapping = sources.neiss_mapping(codes)
        else:
            mapping = sources.SOURCES[args.source]()
        if args.source_name:
            mapping = ColumnMapping(
                source=args.source_name,
                columns=mapping.columns,
                file_format=mapping.file_format,
                delimiter=mapping.delimiter,
                encoding=mapping.encoding,
                null_values=mapping.null_values,
            )
    except MappingError as exc:
        raise CommandError(f"mapping: {exc}") from None
    return mapping


def run_ingest(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.surveillance.ingest import IngestError, IngestValidationError, ingest
    from qslab.surveillance.store import StoreError

    mapping = _mapping(args)
    if not args.file.is_file():
        raise CommandError(f"file not found: {args.file}")
    store = _open_store(args.store, must_exist=False)
    try:
        report = ingest(store, args.file, mapping, progress=not args.no_progress)
    except IngestValidationError as exc:
        if args.errors_out is not None:
            exc.to_frame().to_csv(args.errors_out, index=False)
        shown = len(exc.problems)
        message = str(exc) if shown <= 200 else str(exc) + "\n  (use --errors-out FILE.csv for the full list)"
        raise CommandError(message) from None
    except (IngestError, StoreError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    print(report.summary())
    return 0


def series_frame(series) -> pd.DataFrame:
    """A :class:`CountSeries` in ``qslab detect``'s long layout: unit, time (1..n), observed, date."""
    n_time, n_units = series.observed.shape
    frame = pd.DataFrame(
        {
            "unit": np.repeat(np.asarray(series.units, dtype=object), n_time),
            "time": np.tile(np.arange(1, n_time + 1), n_units),
            "observed": series.observed.T.reshape(-1),
        }
    )
    if series.dates is not None:
        frame["date"] = np.tile(series.dates.astype(str), n_units)
    if series.population is not None:
        frame["population"] = series.population.T.reshape(-1)
    if np.all(np.mod(frame["observed"].to_numpy(), 1) == 0):
        frame["observed"] = frame["observed"].astype(np.int64)
    return frame


def run_series(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.surveillance.aggregate import AggregateError, count_series
    from qslab.surveillance.store import StoreError

    by = [part.strip() for part in args.by.split(",") if part.strip()]
    store = _open_store(args.store, must_exist=True)
    try:
        table = store.records(source=args.source) if args.source else store.table()
        series = count_series(
            table,
            by,
            args.period,
            value=args.value,
            start=args.start,
            end=args.end,
            all_products=args.all_products,
        )
    except (AggregateError, StoreError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    frame = series_frame(series)
    if args.output is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        frame.to_csv(args.output, index=False)
        dates = series.dates if series.dates is not None else ["?"]
        print(
            f"{series.n_units} series x {series.n_time} {args.period}s "
            f"({dates[0]} .. {dates[-1]}) -> {args.output}",
            file=sys.stderr,
        )
    return 0
