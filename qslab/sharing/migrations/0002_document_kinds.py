"""Reference data: the invoice of the sharing app is a numbered official document."""

from django.db import migrations


def create_kinds(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    DocumentKind.objects.get_or_create(
        code="sharing_invoice",
        defaults={
            "name_zh": "共享服务账单",
            "name_en": "Shared-service invoice",
            "prefix": "质标共享账",
            "pattern": "{prefix}〔{year}〕{seq}号",
            "public_by_default": False,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("sharing", "0001_initial"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(create_kinds, migrations.RunPython.noop)]
