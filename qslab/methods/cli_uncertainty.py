"""``qslab uncertainty BUDGET.yaml``: evaluate an uncertainty budget file by GUF or MCM.

Prints the budget table (JCGM 100) and the result, or with ``--method MCM`` also the Monte Carlo
summary and the JCGM 101 section 8 validation of the GUF result; ``--json`` prints everything as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "uncertainty",
        help="evaluate a measurement uncertainty budget (GUM / GUM-S1 Monte Carlo) from a YAML file",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("budget", metavar="BUDGET.yaml", help="budget file: model, inputs, method")
    parser.add_argument(
        "--method", type=str.upper, choices=("GUF", "MCM"), help="GUM uncertainty framework or Monte Carlo"
    )
    parser.add_argument(
        "--trials", type=int, help="number of Monte Carlo trials (default from the file, 10^6)"
    )
    parser.add_argument("--seed", type=int, help="random seed for the Monte Carlo method")
    parser.add_argument(
        "--adaptive", action="store_true", help="choose the number of trials adaptively (JCGM 101 7.9)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from qslab.cli import CommandError
    from qslab.methods._validate import MethodInputError
    from qslab.methods.budgetfile import load_budget
    from qslab.results import json_safe

    if args.trials is not None and args.trials < 2:
        raise CommandError(f"--trials must be at least 2, got {args.trials}")
    if args.seed is not None and args.seed < 0:
        raise CommandError(f"--seed must be non-negative, got {args.seed}")
    try:
        spec = load_budget(args.budget)
        method = args.method or spec.method
        progress = None
        bar = None
        if method == "MCM" and not args.adaptive and not spec.adaptive:
            from tqdm import tqdm

            total = args.trials if args.trials is not None else spec.trials
            bar = tqdm(total=total, unit="trial", unit_scale=True, file=sys.stderr, disable=None, leave=False)
            progress = bar.update
        elif method == "MCM":
            from tqdm import tqdm

            bar = tqdm(unit="trial", unit_scale=True, file=sys.stderr, disable=None, leave=False)
            progress = bar.update
        try:
            result = spec.evaluate(
                method=method,
                trials=args.trials,
                seed=args.seed,
                adaptive=True if args.adaptive else None,
                progress=progress,
            )
        finally:
            if bar is not None:
                bar.close()
    except MethodInputError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(json_safe(result.to_dict()), indent=2))
    else:
        print(result.summary())
    return 0
