"""Reference data: the test report of a service request is a numbered official document."""

from django.db import migrations


def create_kind(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    DocumentKind.objects.get_or_create(
        code="sharing_test_report",
        defaults={
            "name_zh": "共享服务检测报告",
            "name_en": "Shared-service test report",
            "prefix": "质标共享检",
            "pattern": "{prefix}〔{year}〕{seq}号",
            "public_by_default": False,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("sharing", "0004_samples_and_reports")]
    operations = [migrations.RunPython(create_kind, migrations.RunPython.noop)]
