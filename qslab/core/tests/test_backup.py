"""``qslab backup`` / ``qslab restore``: a round trip loses nothing; a damaged backup changes nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from django.apps import apps
from django.core import serializers

from qslab.cli import main
from qslab.core.backup import DATABASE, MANIFEST, BackupError, backup, lossless_json_encoder, restore, verify


@pytest.fixture
def stores(settings, tmp_path):
    """Media and the DuckDB file in this test's own directory (restore swaps them)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DUCKDB_PATH = tmp_path / "duck" / "analytics.duckdb"
    settings.DUCKDB_PATH.parent.mkdir()
    con = duckdb.connect(str(settings.DUCKDB_PATH))
    con.execute("CREATE TABLE incidents (id INTEGER, product VARCHAR, treated DATE)")
    con.execute("INSERT INTO incidents VALUES (1, '电热水壶', DATE '2026-01-05')")
    con.execute("INSERT INTO incidents VALUES (2, 'toy', DATE '2026-02-01')")
    con.close()
    return settings


def snapshot() -> dict[str, list]:
    """Every row of every model, as the serialiser sees it (automatic m2m tables by content, not id)."""
    out = {}
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        rows = model._default_manager.order_by("pk")
        if model._meta.auto_created:
            columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
            out[model._meta.label] = sorted(rows.values_list(*columns))
        else:
            # to the microsecond: Django's own encoder would hide times cut to the millisecond
            text = serializers.serialize("json", rows, cls=lossless_json_encoder())
            out[model._meta.label] = json.loads(text)
    return out


def media_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def duck_rows(path: Path) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT * FROM incidents ORDER BY id").fetchall()
    finally:
        con.close()


def _damage_everything(world, stores):
    from qslab.portal.models import Notice

    Notice.objects.filter(pk=world.draft.pk).delete()
    world.in_review.title_en = "changed after the backup"
    world.in_review.save()
    from qslab.core.testing import make_user

    make_user("expert", username="arrived_later")
    (Path(stores.MEDIA_ROOT) / "stray.txt").write_text("added after the backup")
    Path(world.document.pdf_en.path).write_bytes(b"%PDF-1.4 overwritten")
    con = duckdb.connect(str(stores.DUCKDB_PATH))
    con.execute("DELETE FROM incidents")
    con.close()


def test_a_backup_restores_every_row_file_and_analytical_record_exactly(stores, world, tmp_path):
    before_rows, before_media = snapshot(), media_hashes(Path(stores.MEDIA_ROOT))
    before_duck = duck_rows(stores.DUCKDB_PATH)
    assert sum(len(v) for v in before_rows.values()) > 100 and len(before_media) >= 4

    manifest = backup(tmp_path / "bk")
    assert manifest["row_counts"]["portal.Notice"] == 3
    assert {"database.json.gz", "analytics.duckdb"} <= set(manifest["parts"])
    assert sum(1 for name in manifest["parts"] if name.startswith("media/")) == len(before_media)

    _damage_everything(world, stores)
    assert snapshot() != before_rows

    restore(tmp_path / "bk")
    after = snapshot()
    lost = {label for label in before_rows if before_rows[label] != after.get(label)}
    first = {
        label: next(
            ((b, a) for b, a in zip(before_rows[label], after.get(label, []), strict=False) if b != a),
            (len(before_rows[label]), len(after.get(label, []))),
        )
        for label in lost
    }
    assert not lost, f"models that did not round-trip (first difference): {first}"
    assert media_hashes(Path(stores.MEDIA_ROOT)) == before_media
    assert duck_rows(stores.DUCKDB_PATH) == before_duck


def test_after_a_restore_new_rows_get_fresh_ids(stores, world, tmp_path):
    from qslab.portal.models import Notice

    backup(tmp_path / "bk")
    restore(tmp_path / "bk")
    fresh = Notice.objects.create(title_zh="新", title_en="New", body_zh="正文", body_en="Body")
    assert fresh.pk > max(n.pk for n in Notice.objects.exclude(pk=fresh.pk))


def _refused_without_change(directory: Path, stores, match: str) -> None:
    rows, media = snapshot(), media_hashes(Path(stores.MEDIA_ROOT))
    duck = duck_rows(stores.DUCKDB_PATH)
    with pytest.raises(BackupError, match=match):
        restore(directory)
    assert snapshot() == rows
    assert media_hashes(Path(stores.MEDIA_ROOT)) == media
    assert duck_rows(stores.DUCKDB_PATH) == duck


def test_a_corrupted_part_is_refused_and_nothing_changes(stores, world, tmp_path):
    backup(tmp_path / "bk")
    _damage_everything(world, stores)
    dump = tmp_path / "bk" / DATABASE
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    _refused_without_change(tmp_path / "bk", stores, "SHA-256 does not match")


def test_a_missing_or_added_file_is_refused(stores, world, tmp_path):
    backup(tmp_path / "bk")
    pdf = next((tmp_path / "bk" / "media").rglob("*.pdf"))
    pdf.unlink()
    (tmp_path / "bk" / "media" / "smuggled.html").write_text("<script></script>")
    with pytest.raises(BackupError) as caught:
        verify(tmp_path / "bk")
    assert "missing" in str(caught.value) and "smuggled.html: not in the manifest" in str(caught.value)


def test_a_backup_of_other_migrations_is_refused_and_nothing_changes(stores, world, tmp_path):
    backup(tmp_path / "bk")
    path = tmp_path / "bk" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["migrations"].append("portal.9999_from_the_future")
    path.write_text(json.dumps(manifest))
    _refused_without_change(tmp_path / "bk", stores, "other migrations")


def test_a_dump_that_hashes_right_but_cannot_load_is_refused_and_nothing_changes(stores, world, tmp_path):
    backup(tmp_path / "bk")
    _damage_everything(world, stores)
    dump = tmp_path / "bk" / DATABASE
    with gzip.open(dump, "wt") as fh:
        fh.write('[{"model": "portal.nosuchmodel", "pk": 1, "fields": {}}]')
    path = tmp_path / "bk" / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["parts"][DATABASE]["sha256"] = hashlib.sha256(dump.read_bytes()).hexdigest()
    path.write_text(json.dumps(manifest))
    _refused_without_change(tmp_path / "bk", stores, "cannot be read")


def test_the_command_line_backs_up_checks_and_refuses(stores, world, tmp_path, capsys):
    assert main(["backup", str(tmp_path / "bk")]) == 0
    assert "backup written" in capsys.readouterr().out
    assert main(["backup", str(tmp_path / "bk")]) == 2  # not empty: refused
    assert main(["restore", "--check", str(tmp_path / "bk")]) == 0
    assert "intact" in capsys.readouterr().out
    (tmp_path / "bk" / DATABASE).write_bytes(b"garbage")
    assert main(["restore", "--yes", str(tmp_path / "bk")]) == 2
    assert "nothing was changed" in capsys.readouterr().err
