"""``qslab manage ...``, ``qslab backup``, ``qslab restore``: platform jobs through Django.

Kept out of ``qslab.cli`` so the engines' commands never import Django.
"""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    manage = subparsers.add_parser("manage", help="run a Django management command of the platform")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    manage.set_defaults(func=_run_manage)

    backup = subparsers.add_parser(
        "backup",
        help="back up the database, the DuckDB analytical store and uploaded files into a new directory",
    )
    backup.add_argument("directory", help="where to write the backup (created; must be empty)")
    backup.set_defaults(func=_run_backup)
    restore = subparsers.add_parser(
        "restore",
        help="replace the database, analytical store and uploaded files with a backup (checked first)",
    )
    restore.add_argument("directory", help="a directory written by `qslab backup`")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--check", action="store_true", help="only verify the backup; change nothing")
    restore.set_defaults(func=_run_restore)


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qslab.settings.base")
    import django

    django.setup()


def _run_backup(args: argparse.Namespace) -> int:
    _setup_django()
    from qslab.cli import CommandError
    from qslab.core.backup import BackupError, backup, describe

    try:
        manifest = backup(args.directory)
    except BackupError as exc:
        raise CommandError(str(exc)) from exc
    print(f"backup written to {args.directory}: {describe(manifest)}")
    return 0


def _run_restore(args: argparse.Namespace) -> int:
    _setup_django()
    from qslab.cli import CommandError
    from qslab.core.backup import BackupError, describe, restore, verify

    try:
        manifest = verify(args.directory)
        if args.check:
            print(f"backup in {args.directory} is intact: {describe(manifest)}")
            return 0
        if not args.yes:
            answer = input(f"Replace ALL data with the backup of {manifest['created_at']}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing changed")
                return 1
        manifest = restore(args.directory)
    except BackupError as exc:
        raise CommandError(f"{exc}\nnothing was changed") from exc
    print(f"restored from {args.directory}: {describe(manifest)}")
    return 0


def _run_manage(args: argparse.Namespace) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qslab.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["qslab manage", *args.args])
    return 0
