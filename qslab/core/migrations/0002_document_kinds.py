"""Reference data: the kinds of official acts the platform issues, with their number prefixes."""

from django.db import migrations

KINDS = [
    ("notice", "公告", "Public notice", "国质标实公告", "{prefix}〔{year}〕{seq}号", True),
    ("designation", "命名决定", "Designation decision", "国质标实", "{prefix}〔{year}〕{seq}号", True),
    ("rectification", "整改通知", "Rectification order", "国质标实整改", "{prefix}〔{year}〕{seq}号", False),
    ("revocation", "撤销决定", "Revocation decision", "国质标实撤", "{prefix}〔{year}〕{seq}号", True),
    ("spot_check", "抽查结果", "Spot-check result", "国质标实查", "{prefix}〔{year}〕{seq}号", True),
    ("evaluation", "评估报告", "Evaluation report", "国质标实评", "{prefix}〔{year}〕{seq}号", False),
]


def create_kinds(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    for code, name_zh, name_en, prefix, pattern, public in KINDS:
        DocumentKind.objects.get_or_create(
            code=code,
            defaults={"name_zh": name_zh, "name_en": name_en, "prefix": prefix, "pattern": pattern,
                      "public_by_default": public},
        )


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(create_kinds, migrations.RunPython.noop)]
