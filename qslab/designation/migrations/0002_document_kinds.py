from django.db import migrations

DOCUMENT_KINDS = [
    ("designation_rejection", "形式审查不予受理通知", "Formal-check rejection letter", "国质标实审", False),
]


def load(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    for code, zh, en, prefix, public in DOCUMENT_KINDS:
        DocumentKind.objects.get_or_create(
            code=code,
            defaults={"name_zh": zh, "name_en": en, "prefix": prefix, "pattern": "{prefix}〔{year}〕{seq}号",
                      "public_by_default": public},
        )


class Migration(migrations.Migration):
    dependencies = [("designation", "0001_initial"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
