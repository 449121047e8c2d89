"""``qslab disproportionality``: PRR, ROR, BCPNN IC and GPS/EBGM scores of a product x event report table.

INPUT.csv is long, one row per report id x product x event (other columns are ignored). OUTPUT.csv has
one row per reported pair, sorted by product then event, with the columns
``product,event,N,E,PRR,PRR_LB95,ROR,ROR_LB95,ROR_UB95,IC,IC025,EBGM,EB05,EB95`` written at full
precision (Python's shortest round-tripping float text); a value that is undefined (e.g. a ROR with an
empty cell) is left empty. ``--hyper-out`` writes the fitted GPS hyperparameters as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OUTPUT_COLUMNS = (
    "product", "event", "N", "E", "PRR", "PRR_LB95", "ROR", "ROR_LB95", "ROR_UB95",
    "IC", "IC025", "EBGM", "EB05", "EB95",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "disproportionality",
        help="PRR, ROR, BCPNN IC and GPS/EBGM scores of product x event pairs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT.csv", help="long table: one row per report x product x event")
    parser.add_argument(
        "-o", "--output", metavar="OUTPUT.csv", required=True, help="where to write the scores"
    )
    parser.add_argument("--id", required=True, metavar="COL", help="column holding the report id")
    parser.add_argument("--product", required=True, metavar="COL", help="column holding the product")
    parser.add_argument("--event", required=True, metavar="COL", help="column holding the event")
    parser.add_argument(
        "--strata",
        metavar="COL",
        action="append",
        default=None,
        help="stratify the expected counts by this column (repeat, or separate by commas, for several)",
    )
    parser.add_argument(
        "--margins",
        choices=("reports", "pairs"),
        default="reports",
        help="margins from distinct report ids (openEBGM, default) or from sums of the pair table (PhViD)",
    )
    parser.add_argument(
        "--hyper",
        choices=("exact", "squashed"),
        default="exact",
        help="fit the GPS prior on all pairs (default) or on openEBGM autoSquash superpoints",
    )
    parser.add_argument(
        "--zeroes",
        action="store_true",
        help="include the never-reported cells in the GPS likelihood instead of truncating it at zero",
    )
    parser.add_argument("--hyper-out", metavar="HYPER.json", help="write the GPS hyperparameters here")
    parser.set_defaults(func=run)


def _strata(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    names = [name.strip() for value in values for name in value.split(",")]
    return [name for name in names if name] or None


def run(args: argparse.Namespace) -> int:
    import pandas as pd
    from tqdm import tqdm

    from qslab.cli import CommandError
    from qslab.surveillance.disproportionality import DisproportionalityError, disproportionality

    path = Path(args.input)
    if not path.is_file():
        raise CommandError(f"input file not found: {path}")
    strata = _strata(args.strata)
    wanted = [args.id, args.product, args.event, *(strata or [])]
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CommandError(f"cannot read {path} as CSV: {exc}") from exc
    missing = [c for c in dict.fromkeys(wanted) if c not in frame.columns]
    if missing:
        raise CommandError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(columns present: {', '.join(map(str, frame.columns))})"
        )
    if len(frame) == 0:
        raise CommandError(f"{path}: no data rows")
    for col in dict.fromkeys(wanted):
        values = frame[col].str.strip()
        empty = (values == "").to_numpy()
        if empty.any():
            first = int(empty.nonzero()[0][0])
            raise CommandError(
                f"{path}: row {first + 2}: empty value in column {col!r} "
                f"({int(empty.sum())} row{'s' if empty.sum() > 1 else ''} in all; row 1 is the header)"
            )
        frame[col] = values

    stages = {"counted": "fitting the GPS prior", "fitted": "scoring pairs", "scored": "done"}
    with tqdm(total=3, desc="counting pairs", file=sys.stderr, disable=None, leave=False) as bar:

        def advance(name: str) -> None:
            bar.set_description(stages[name])
            bar.update(1)

        try:
            result = disproportionality(
                frame,
                id=args.id,
                product=args.product,
                event=args.event,
                strata=strata,
                margins=args.margins,
                hyper=args.hyper,
                zeroes=args.zeroes,
                progress=advance,
            )
        except DisproportionalityError as exc:
            raise CommandError(f"{path}: {exc}") from exc

    table = result.table()[list(OUTPUT_COLUMNS)]
    # pandas writes floats with repr (shortest text that round-trips) and NaN as an empty field
    table.to_csv(args.output, index=False, na_rep="")
    if not result.hyper.converged:
        print(
            "qslab disproportionality: warning: no two starting points of the GPS hyperparameter fit reached "
            "the same optimum; EBGM, EB05 and EB95 may be unreliable",
            file=sys.stderr,
        )
    if args.hyper_out:
        hyper = result.hyper
        payload = {
            "alpha1": hyper.alpha1,
            "beta1": hyper.beta1,
            "alpha2": hyper.alpha2,
            "beta2": hyper.beta2,
            "P": hyper.P,
            "loglik": hyper.loglik,
            "converged": hyper.converged,
            "data": hyper.data,
            "truncated": hyper.truncated,
            "n_points": hyper.n_points,
            "search": hyper.search,
            "n_starts_agreeing": hyper.n_starts_agreeing,
            "n_passed_over": hyper.n_passed_over,
            "margins": result.margins,
            "strata": list(result.strata),
            "n_pairs": int(result.N.size),
            "n_total": result.n_total,
        }
        Path(args.hyper_out).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0
