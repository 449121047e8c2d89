"""The recall notice is issued as a numbered public document: its kind, and the link from the recall."""

import django.db.models.deletion
from django.db import migrations, models


def create_kind(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    DocumentKind.objects.get_or_create(
        code="recall_notice",
        defaults={
            "name_zh": "缺陷产品召回公告",
            "name_en": "Recall notice of a defective product",
            "prefix": "国质标召",
            "pattern": "{prefix}〔{year}〕{seq}号",
            "public_by_default": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("recalls", "0001_initial"), ("core", "0002_document_kinds")]

    operations = [
        migrations.AddField(
            model_name="recall",
            name="notice_document",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="core.officialdocument",
                verbose_name="notice document",
            ),
        ),
        migrations.RunPython(create_kind, migrations.RunPython.noop),
    ]
