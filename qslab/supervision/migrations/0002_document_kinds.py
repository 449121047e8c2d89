"""Reference data: the supervision app's own document kind (public notification, 通报).

Spot-check results, rectification orders, evaluation reports and revocations use kinds of core.
"""

from django.db import migrations

KINDS = [
    ("public_notification", "通报", "Public notification", "国质标实通报", "{prefix}〔{year}〕{seq}号", True),
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
    dependencies = [("supervision", "0001_initial"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(create_kinds, migrations.RunPython.noop)]
