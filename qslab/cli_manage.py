"""``qslab manage ...``: the platform's Django management commands from the same entry point.

Kept out of ``qslab.cli`` so the engines' commands never import Django.
"""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    manage = subparsers.add_parser("manage", help="run a Django management command of the platform")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    manage.set_defaults(func=_run_manage)


def _run_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qslab.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["qslab manage", *args.args])
    return 0
