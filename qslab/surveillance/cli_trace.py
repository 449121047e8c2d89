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
import re
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
        help="inclusive range: whole numbers match the serials' numeric part (1000-1999); serials match "
        "one series, same prefix and digit count as in the app (SN000017000-SN000023999) (repeatable)",
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


#: A serial as the recalls app accepts it: letters, digits and ``- _ . /``, ending in digits, at most 40.
_SERIAL_CHARS = re.compile(r"^[A-Za-z0-9\-_./]+$")
_SERIAL = re.compile(r"^(?P<prefix>.*?)(?P<digits>[0-9]+)$")
_WHOLE_NUMBERS = re.compile(r"^\s*([0-9]+)\s*-\s*([0-9]+)\s*$")
SERIAL_MAX_LENGTH = 40
_EXAMPLE = "e.g. 100-199 (the serials' numeric part) or SN000017000-SN000023999 (one series)"


def _serial_problem(value: str) -> str | None:
    """Why ``value`` is not a serial number as the recalls app accepts it, or None."""
    if not value:
        return "an end is empty"
    if len(value) > SERIAL_MAX_LENGTH:
        return f"{value!r} is longer than {SERIAL_MAX_LENGTH} characters"
    if not _SERIAL_CHARS.match(value):
        return f"{value!r} has a character a serial number cannot have (letters, digits and - _ . / only)"
    if not _SERIAL.match(value):
        return f"a serial number must end in digits: {value!r}"
    return None


def _range_problem(first: str, last: str) -> str | None:
    """Why ``first``..``last`` is not a range of one series (the app's rule), or None."""
    for value in (first, last):
        problem = _serial_problem(value)
        if problem:
            return problem
    a, b = _SERIAL.match(first), _SERIAL.match(last)
    if a["prefix"].upper() != b["prefix"].upper():
        return (
            f"{first!r} and {last!r} have different prefixes ({a['prefix']!r} and {b['prefix']!r}): "
            "a range covers one series"
        )
    if len(a["digits"]) != len(b["digits"]):
        return (
            f"the numbers of {first!r} and {last!r} have {len(a['digits'])} and {len(b['digits'])} digits: "
            "write both with the same number of digits (leading zeros)"
        )
    if int(b["digits"]) < int(a["digits"]):
        return f"the range {first!r} to {last!r} ends before it starts"
    return None


def parse_serial_range(text: str) -> tuple[int, int] | tuple[str, str]:
    """One ``--serials`` value: ``FIRST-LAST`` as whole numbers (the numeric part of any serial, as before)
    or as two serials of one series, checked as the recalls app checks a plan's range (same prefix, any
    case; same number of digits; first <= last). The two ends may also be separated by ``..``, ``~``,
    ``,`` or `` - ``; a prefix may itself hold ``-`` (``SN-A000100-SN-A000250``). Raises ValueError with
    the reason.

    >>> parse_serial_range("100-199"), parse_serial_range("SN000017000-SN000023999")
    ((100, 199), ('SN000017000', 'SN000023999'))
    >>> parse_serial_range("sn-a000100-SN-A000250")
    ('sn-a000100', 'SN-A000250')
    """
    text = (text or "").strip()
    numbers = _WHOLE_NUMBERS.match(text)
    if numbers:
        first, last = int(numbers[1]), int(numbers[2])
        if last < first:
            raise ValueError(f"the range {first}-{last} ends before it starts")
        return (first, last)
    candidates: list[tuple[str, str]] = []
    for sep in ("..", "~", ",", " - "):
        if sep in text:
            first, last = text.split(sep, 1)
            candidates = [(first.strip(), last.strip())]
            break
    else:
        candidates = [(text[:i].strip(), text[i + 1 :].strip()) for i, char in enumerate(text) if char == "-"]
    if not candidates:
        raise ValueError(f"expected FIRST-LAST, {_EXAMPLE}")
    good = [c for c in candidates if _range_problem(*c) is None]
    if len(good) == 1:
        return good[0]
    if len(good) > 1:
        options = " or ".join(f"{a}..{b}" for a, b in good)
        raise ValueError(f"ambiguous: it can be read as {options}; write FIRST..LAST")
    # no reading works: explain the one whose ends are both serials, else the first
    serial_like = [c for c in candidates if not any(_serial_problem(v) for v in c)]
    first, last = (serial_like or candidates)[0]
    problem = _range_problem(first, last)
    if not serial_like and len(candidates) > 1:
        raise ValueError(f"expected FIRST-LAST, {_EXAMPLE}")
    raise ValueError(f"{problem}; expected FIRST-LAST, {_EXAMPLE}")


def _ranges(texts: list[str]) -> list[tuple[int, int] | tuple[str, str]]:
    from qslab.cli import CommandError

    out = []
    for text in texts:
        try:
            out.append(parse_serial_range(text))
        except ValueError as exc:
            raise CommandError(f"--serials {text!r}: {exc}") from None
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
