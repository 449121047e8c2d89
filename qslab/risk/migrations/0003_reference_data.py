"""Reference data: the risk-assessment report's document kind and the EU Safety Gate risk matrix.

The matrix is Table 4 of Decision 2010/15/EU and Implementing Decision (EU) 2019/417 as recalled, not
re-read (shared/reference/product-risk.md marks it unverified; only severity 1 x "> 1/1 000" -> low is
confirmed), so it is shipped with ``verified=False`` and the office can correct it in the admin.
"""

from django.db import migrations

EU_BANDS = [
    {"above": 0.5, "levels": ["high", "serious", "serious", "serious"]},
    {"above": 0.1, "levels": ["medium", "serious", "serious", "serious"]},
    {"above": 0.01, "levels": ["medium", "serious", "serious", "serious"]},
    {"above": 0.001, "levels": ["low", "high", "serious", "serious"]},
    {"above": 0.0001, "levels": ["low", "medium", "high", "serious"]},
    {"above": 0.00001, "levels": ["low", "low", "medium", "high"]},
    {"above": 0.000001, "levels": ["low", "low", "low", "medium"]},
    {"above": 0, "levels": ["low", "low", "low", "low"]},
]


def create(apps, schema_editor):
    DocumentKind = apps.get_model("core", "DocumentKind")
    DocumentKind.objects.get_or_create(
        code="risk_assessment",
        defaults={
            "name_zh": "产品安全风险评估报告",
            "name_en": "Product safety risk assessment report",
            "prefix": "国质标风评",
            "pattern": "{prefix}〔{year}〕{seq}号",
            "public_by_default": False,
        },
    )
    RiskMatrix = apps.get_model("risk", "RiskMatrix")
    RiskMatrix.objects.get_or_create(
        code="eu-safety-gate",
        defaults={
            "name_zh": "欧盟 Safety Gate 风险矩阵（2019/417 表 4，待核实）",
            "name_en": "EU Safety Gate risk matrix (2019/417 Table 4, unverified)",
            "source": (
                "Decision 2010/15/EU and Implementing Decision (EU) 2019/417, Appendix 6, Table 4, as "
                "recalled; only severity 1 x '> 1/1 000' -> low is confirmed (folding-chair example). "
                "Check against the legal text and Delegated Regulation (EU) 2024/3173 Annex II."
            ),
            "verified": False,
            "bands": EU_BANDS,
            "combination": "highest",
            "is_default": True,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("risk", "0002_assessments_alerts"), ("core", "0002_document_kinds")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
