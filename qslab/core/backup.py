"""Backup and restore of the whole platform: relational store, DuckDB analytical file, uploaded media.

A backup is a directory::

    manifest.json          what is in it: format, when, migrations, row counts, SHA-256 of every part
    database.json.gz       every row of every model (Django serialisation, primary keys kept)
    analytics.duckdb       the analytical store (copied under DuckDB's shared lock), if there is one
    media/...              every uploaded or generated file under MEDIA_ROOT

The relational store is dumped with Django's serialiser, primary keys kept, so the same backup restores
into SQLite or PostgreSQL and every reference (foreign keys, generic ``object_id`` strings, scopes)
stays valid. ``restore`` first checks everything (manifest, every hash, the migration state of the
target database) and changes nothing if a check fails; then it empties and reloads the database in one
transaction and swaps the DuckDB file and the media directory into place only after that transaction
committed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = 1
DATABASE = "database.json.gz"
ANALYTICS = "analytics.duckdb"
MEDIA = "media"
MANIFEST = "manifest.json"
CHUNK = 1 << 20


def lossless_json_encoder() -> type[json.JSONEncoder]:
    """Django's JSON encoder cuts times to milliseconds; a backup keeps every microsecond."""
    from django.core.serializers.json import DjangoJSONEncoder

    class LosslessJSONEncoder(DjangoJSONEncoder):
        def default(self, o: Any) -> Any:
            if isinstance(o, dt.datetime | dt.time):
                return o.isoformat()
            return super().default(o)

    return LosslessJSONEncoder


class BackupError(Exception):
    """The backup cannot be made or restored; nothing was changed."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _migrations() -> list[str]:
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(connection)
    return sorted(f"{app}.{name}" for app, name in recorder.applied_migrations())


def _models(include_auto_created: bool = False) -> list[Any]:
    """Every stored model. Automatic many-to-many tables are saved with their owner (as dumpdata does)."""
    from django.apps import apps

    return [
        m
        for m in apps.get_models(include_auto_created=include_auto_created)
        if m._meta.managed and not m._meta.proxy
    ]


def _row_counts() -> dict[str, int]:
    return {m._meta.label: m._default_manager.using("default").count() for m in _models(True)}


def _dump_database(target: Path) -> None:
    from django.core import serializers

    with gzip.open(target, "wt", encoding="utf-8") as fh:
        fh.write("[")
        first = True
        for model in _models():
            batch: list[Any] = []
            rows = model._default_manager.using("default").order_by("pk").iterator(chunk_size=2000)
            for obj in rows:
                batch.append(obj)
                if len(batch) == 2000:
                    first = _write_batch(fh, serializers, batch, first)
                    batch = []
            if batch:
                first = _write_batch(fh, serializers, batch, first)
        fh.write("]\n")


def _write_batch(fh: Any, serializers: Any, batch: list[Any], first: bool) -> bool:
    text = serializers.serialize("json", batch, ensure_ascii=False, cls=lossless_json_encoder())
    text = text.strip()[1:-1].strip()
    if text:
        fh.write(("" if first else ",\n") + text)
        return False
    return first


def _copy_analytics(target: Path) -> bool:
    from django.conf import settings

    source = Path(settings.DUCKDB_PATH)
    if not source.exists():
        return False
    import duckdb

    # A read-only connection takes DuckDB's shared lock: no writer can change the file while it is copied.
    con = duckdb.connect(str(source), read_only=True)
    try:
        shutil.copyfile(source, target)
        wal = source.with_name(source.name + ".wal")
        if wal.exists():
            shutil.copyfile(wal, target.with_name(target.name + ".wal"))
    finally:
        con.close()
    return True


def _media_files(root: Path) -> Iterable[Path]:
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield path


def backup(directory: str | Path) -> dict[str, Any]:
    """Write a complete backup into ``directory`` (created; must be empty) and return its manifest."""
    from django.conf import settings
    from django.db import connection, transaction

    out = Path(directory)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    parts: dict[str, dict[str, Any]] = {}
    # One consistent view of the database: counts and rows read in the same transaction.
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql" and outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        counts = _row_counts()
        _dump_database(out / DATABASE)
        migrations = _migrations()
    parts[DATABASE] = {"sha256": sha256_file(out / DATABASE), "bytes": (out / DATABASE).stat().st_size}
    if _copy_analytics(out / ANALYTICS):
        for name in (ANALYTICS, ANALYTICS + ".wal"):
            if (out / name).exists():
                parts[name] = {"sha256": sha256_file(out / name), "bytes": (out / name).stat().st_size}
    media_root = Path(settings.MEDIA_ROOT)
    for path in _media_files(media_root):
        relative = path.relative_to(media_root).as_posix()
        target = out / MEDIA / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        parts[f"{MEDIA}/{relative}"] = {"sha256": sha256_file(target), "bytes": target.stat().st_size}
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database_vendor": connection.vendor,
        "migrations": migrations,
        "row_counts": counts,
        "parts": parts,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
    return manifest


def verify(directory: str | Path) -> dict[str, Any]:
    """The manifest, after checking that every part is present, unchanged, and nothing was added."""
    root = Path(directory)
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"{root} has no {MANIFEST}: not a qslab backup") from exc
    except json.JSONDecodeError as exc:
        raise BackupError(f"{MANIFEST} is not valid JSON: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"backup format {manifest.get('format')!r}; this qslab reads format {FORMAT}")
    parts = manifest.get("parts", {})
    if DATABASE not in parts:
        raise BackupError(f"the manifest lists no {DATABASE}")
    problems = []
    for name, meta in parts.items():
        path = root / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            problems.append(f"{name}: a path outside the backup")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != meta["sha256"]:
            problems.append(f"{name}: SHA-256 does not match the manifest (corrupted or changed)")
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    problems += [f"{name}: not in the manifest" for name in sorted(present - set(parts))]
    if problems:
        raise BackupError("the backup does not match its manifest:\n  " + "\n  ".join(problems))
    return manifest


def _read_objects(path: Path) -> list[Any]:
    from django.core import serializers

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return list(serializers.deserialize("json", fh, ignorenonexistent=False))


def restore(directory: str | Path) -> dict[str, Any]:
    """Replace the database, the DuckDB file and the media with the backup in ``directory``.

    Refuses (``BackupError``), changing nothing, if the backup is incomplete, altered or made with a
    different set of migrations than the target database has.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    root = Path(directory)
    manifest = verify(root)
    if manifest["migrations"] != _migrations():
        ours, theirs = set(_migrations()), set(manifest["migrations"])
        raise BackupError(
            "the backup was made with other migrations than this database has "
            f"(only in the backup: {sorted(theirs - ours)[:5]}, only here: {sorted(ours - theirs)[:5]}); "
            "migrate to the same version first"
        )
    try:
        objects = _read_objects(root / DATABASE)
    except Exception as exc:  # a part that hashes right but does not parse: refuse before changing anything
        raise BackupError(f"{DATABASE} cannot be read: {exc}") from exc

    media_root = Path(settings.MEDIA_ROOT)
    duck = Path(settings.DUCKDB_PATH)
    # Stage the files beside their destinations first (same file system, so the swap is a rename).
    media_root.parent.mkdir(parents=True, exist_ok=True)
    staged_media = Path(tempfile.mkdtemp(prefix=".restore-media-", dir=media_root.parent))
    duck.parent.mkdir(parents=True, exist_ok=True)
    staged_duck = Path(tempfile.mkdtemp(prefix=".restore-duckdb-", dir=duck.parent))
    try:
        for name in manifest["parts"]:
            if name.startswith(MEDIA + "/"):
                target = staged_media / name[len(MEDIA) + 1 :]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / name, target)
        for name in (ANALYTICS, ANALYTICS + ".wal"):
            if name in manifest["parts"]:
                shutil.copy2(root / name, staged_duck / name)

        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Fire deferred constraint checks of rows written earlier in this transaction: TRUNCATE
                # refuses a table with pending trigger events. Deferred again for loading in any order.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
            with connection.constraint_checks_disabled():
                for obj in objects:
                    obj.save()
            connection.check_constraints()
            _reset_sequences(connection)
            counts = _row_counts()
            if counts != manifest["row_counts"]:
                expected = manifest["row_counts"]
                diff = {k: (counts.get(k), v) for k, v in expected.items() if counts.get(k) != v}
                raise BackupError(f"row counts after loading differ from the manifest: {diff}")
    except BaseException:
        shutil.rmtree(staged_media, ignore_errors=True)
        shutil.rmtree(staged_duck, ignore_errors=True)
        raise

    # The database is committed: swap the files in.
    _swap_dir(staged_media, media_root)
    for name, final in ((ANALYTICS, duck), (ANALYTICS + ".wal", duck.with_name(duck.name + ".wal"))):
        if (staged_duck / name).exists():
            os.replace(staged_duck / name, final)
        elif name == ANALYTICS + ".wal" or ANALYTICS not in manifest["parts"]:
            final.unlink(missing_ok=True)
    shutil.rmtree(staged_duck, ignore_errors=True)
    return manifest


def _swap_dir(staged: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}-replaced-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(staged, final)
    shutil.rmtree(old, ignore_errors=True)


def _reset_sequences(connection: Any) -> None:
    from django.core.management.color import no_style

    statements = connection.ops.sequence_reset_sql(no_style(), _models(True))
    if statements:
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


def describe(manifest: dict[str, Any]) -> str:
    rows = sum(manifest["row_counts"].values())
    media = sum(1 for name in manifest["parts"] if name.startswith(MEDIA + "/"))
    size = sum(p["bytes"] for p in manifest["parts"].values())
    return (
        f"{rows} rows in {sum(1 for v in manifest['row_counts'].values() if v)} tables, "
        f"analytical store {'included' if ANALYTICS in manifest['parts'] else 'absent'}, "
        f"{media} media files, {size / 1e6:.1f} MB"
    )
