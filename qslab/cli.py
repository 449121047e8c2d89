"""The ``qslab`` command: engine subcommands and platform jobs, each with progress where long.

Each engine registers its own subcommands (``register(subparsers)`` in its ``cli`` modules), so the
engines stay usable without Django. Platform jobs (``qslab manage ...``) go through Django.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules that add subcommands. Each exposes ``register(subparsers) -> None`` and sets
# ``func`` on its parsers with ``set_defaults(func=...)``; ``func(args) -> int`` is the exit code.
SUBCOMMAND_MODULES = (
    "qslab.methods.cli_uncertainty",  # qslab uncertainty
    "qslab.methods.cli_stats",  # qslab spc | precision | pt
    "qslab.surveillance.cli_detect",  # qslab detect
    "qslab.surveillance.cli_disproportionality",  # qslab disproportionality
    "qslab.surveillance.cli_store",  # qslab ingest | series
    "qslab.surveillance.cli_trace",  # qslab trace units | events | scope
    "qslab.cli_manage",  # qslab manage (platform jobs through Django)
)


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qslab", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # the engine has no CLI yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"qslab {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
