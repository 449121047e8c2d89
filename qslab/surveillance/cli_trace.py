"""``qslab trace``: load serialised units and supply-chain events, and run the recall scope query.

``qslab trace units FILE [--store PATH]`` and ``qslab trace events FILE [--store PATH]`` load a CSV or
Parquet file (columns as in :mod:`qslab.surveillance.trace`); every rejected value is printed with
its row and column (and written to ``--errors-out``) and nothing is stored.

``qslab trace scope --gtin GTIN [--batch B ...] [--serials FIRST-LAST ...] [--produced-from DATE]
[--produced-to DATE] [--units-out U.csv] [--parties-out P.csv] [--regions-out R.csv] [--json]``
prints the scope summary and the parties holding units, and writes the lists as CSV (by DuckDB,
without loading them into Python).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_STORE = "qslab.duckdb"


def _default_store() -> str:
    return os.environ.get("DUCKDB_PATH", DEFAULT_STORE)


def register(subparsers: argparse._SubParsersAction) -> None:
    trace = subparsers.add_parser(
        "trace",
        help="traceability: load units and supply-chain events, recall scope query",
        description="Serialised units, supply-chain events and the recall scope query.",
    )
    commands = trace.add_subparsers(dest="trace_command", metavar="ACTION")
    commands.required = True
    store_help = f"DuckDB file (default $DUCKDB_PATH or {DEFAULT_STORE})"
    for name, what in (("units", "serialised units"), ("events", "supply-chain events")):
        sub = commands.add_parser(name, help=f"load a CSV/Parquet file of {what}")
        sub.add_argument("file", type=Path, metavar="FILE")
        sub.add_argument("--store", default=None, help=store_help)
        sub.add_argument("--errors-out", type=Path, help="write every rejected value to this CSV")
        sub.set_defaults(func=run_ingest, what=name)

    scope = commands.add_parser("scope", help="units, parties and regions affected by a defect")
    scope.add_argument("--store", default=None, help=store_help)
    scope.add_argument("--gtin", required=True, help="GTIN-8/12/13/14 of the product")
    scope.add_argument("--batch", action="append", default=[], help="batch/lot code (repeatable)")
    scope.add_argument(
        "--serials",
        action="append",
        default=[],
        metavar="FIRST-LAST",
        help="inclusive range of the serials' numeric part, e.g. 1000-1999 (repeatable)",
    )
    scope.add_argument("--produced-from", help="first production date YYYY-MM-DD")
    scope.add_argument("--produced-to", help="last production date YYYY-MM-DD")
    scope.add_argument("--units-out", type=Path, help="write the affected units to this CSV")
    scope.add_argument("--parties-out", type=Path, help="write the parties to this CSV")
    scope.add_argument("--regions-out", type=Path, help="write the regions to this CSV")
    scope.add_argument("--json", action="store_true", help="print the whole result as JSON")
    scope.set_defaults(func=run_scope)


def _open(path: str | None, *, must_exist: bool):
    from qslab.cli import CommandError
    from qslab.surveillance.store import StoreError
    from qslab.surveillance.trace import TraceStore

    target = path or _default_store()
    if must_exist and not Path(target).is_file():
        raise CommandError(f"store not found: {target}")
    try:
        return TraceStore.duckdb(target)
    except StoreError as exc:
        raise CommandError(str(exc)) from None
    except Exception as exc:  # duckdb.IOException (locked or not a DuckDB file)
        raise CommandError(f"cannot open store {target}: {exc}") from None


def run_ingest(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.surveillance.ingest import IngestError, IngestValidationError

    if not args.file.is_file():
        raise CommandError(f"file not found: {args.file}")
    store = _open(args.store, must_exist=False)
    try:
        load = store.ingest_units if args.what == "units" else store.ingest_events
        report = load(args.file)
    except IngestValidationError as exc:
        if args.errors_out is not None:
            exc.to_frame().to_csv(args.errors_out, index=False)
        raise CommandError(str(exc)) from None
    except IngestError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    print(report.summary())
    return 0


def _ranges(texts: list[str]) -> list[tuple[int, int]]:
    from qslab.cli import CommandError

    out = []
    for text in texts:
        first, sep, last = text.partition("-")
        if not sep or not first.strip().isdigit() or not last.strip().isdigit():
            raise CommandError(f"--serials {text!r}: expected FIRST-LAST with whole numbers, e.g. 100-199")
        out.append((int(first), int(last)))
    return out


def run_scope(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.results import json_safe
    from qslab.surveillance.trace import TraceError, export_scope_csv, recall_scope

    ranges = _ranges(args.serials)
    store = _open(args.store, must_exist=True)
    try:
        scope = recall_scope(
            store,
            args.gtin,
            batches=args.batch,
            serial_ranges=ranges,
            produced_from=args.produced_from,
            produced_to=args.produced_to,
        )
        export_scope_csv(
            store,
            scope.criteria,
            units_path=args.units_out,
            parties_path=args.parties_out,
            regions_path=args.regions_out,
        )
    except TraceError as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    if args.json:
        print(json.dumps(json_safe(scope.to_dict()), default=str, ensure_ascii=False, indent=1))
        return 0
    print(scope.summary())
    for party in scope.holders:
        print("  holds:", party.summary())
    for party in scope.retailers_with_sales:
        print("  sold: ", party.summary())
    for path in (args.units_out, args.parties_out, args.regions_out):
        if path is not None:
            print(f"-> {path}", file=sys.stderr)
    return 0
