"""Reference data: the official act the funding app issues (the subsidy allocation)."""

from django.db import migrations

KINDS = [
    ("subsidy_allocation", "补助资金分配通知", "Subsidy allocation", "国质标实资", "{prefix}〔{year}〕{seq}号", False),
]


def create_kinds(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    for code, name_zh, name_en, prefix, pattern, public in KINDS:
        DocumentKind.objects.get_or_create(
            code=code,
            defaults={
                "name_zh": name_zh,
                "name_en": name_en,
                "prefix": prefix,
                "pattern": pattern,
                "public_by_default": public,
            },
        )


class Migration(migrations.Migration):
    dependencies = [("funding", "0001_initial"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(create_kinds, migrations.RunPython.noop)]
