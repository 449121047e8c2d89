"""Demo data of the funding app on the labs demo's laboratories (it creates no laboratory): last year's
approved budgets with expenditures and self-evaluations (the demo ``labmanager``'s still to submit),
evaluation grades, a draft subsidy allocation, and this year's budgets with July monitoring flags.
Idempotent: a laboratory's budget of a year is made once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

LINES = {
    ("equipment", "central"): Decimal("1200000.00"),
    ("equipment", "supporting"): Decimal("300000.00"),
    ("materials", "supporting"): Decimal("250000.00"),
    ("testing", "service"): Decimal("180000.00"),
    ("personnel", "supporting"): Decimal("400000.00"),
    ("travel", "local"): Decimal("60000.00"),
    ("cooperation", "partners"): Decimal("150000.00"),
}
TARGETS = (
    "quantity, 新制修订标准数, standards drafted or revised, >=, 5, items, planned, 2\n"
    "quantity, 标准验证项目数, standard verification projects, >=, 8, items, planned, 1\n"
    "quality, 能力验证满意率, proficiency-testing satisfactory rate, >=, 95, %, industry, 1\n"
    "timeliness, 检测报告按期出具率, on-time test reports, >=, 98, %, historical, 1\n"
    "cost, 单项检测平均成本, average cost per test, <=, 900, yuan, historical, 1\n"
    "economic, 服务收入, service income, >=, 180, 10k yuan, planned, 1\n"
    "social, 服务企业数, firms served, >=, 60, firms, planned, 1\n"
    "sustainability, 培养骨干人才, key staff trained, >=, 6, persons, planned, 1\n"
    "served, 服务对象满意度, satisfaction of those served, >=, 90, %, planned, 1\n"
)
GRADES = ["excellent", "good", "good", "fair", "excellent", "poor"]


class Command(BaseCommand):
    help = "Load fictional budgets, evaluations and a subsidy allocation (needs load_demo_labs first)."

    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.accounts.models import RoleMembership, User
        from qslab.core.context import acting_as
        from qslab.funding import services
        from qslab.funding.models import AllocationRun, Budget, LabGrade
        from qslab.labs.models import Laboratory

        office = User.objects.filter(username="office").first()
        if office is None:
            self.stderr.write("No demo user 'office': run load_demo first.")
            return
        labmanager = User.objects.filter(username="labmanager").first()
        own = None
        if labmanager is not None:
            m = RoleMembership.objects.filter(user=labmanager, role="lab_manager", scope_id__gt="").first()
            own = Laboratory.objects.filter(pk=m.scope_id).first() if m else None
        labs = list(Laboratory.objects.filter(code__startswith="demo-", status="named").order_by("code")[:6])
        if own is not None and own not in labs:
            labs = [own, *labs[:5]]
        if not labs:
            self.stderr.write("No named demo laboratories: run load_demo_labs first.")
            return
        year = timezone.localdate().year
        last = year - 1
        made = 0
        with transaction.atomic(), acting_as(office, "demo data"):
            for n, lab in enumerate(labs):
                if not LabGrade.objects.filter(laboratory=lab, year=last).exists():  # e.g. from supervision
                    services.record_lab_grade(office, lab, last, GRADES[n % len(GRADES)], source="demo")
                if not Budget.objects.filter(laboratory=lab, year=last).exists():
                    made += 1
                    budget = self._approved(services, office, lab, last, scale=Decimal(1) - Decimal(n) / 20)
                    self._spend(services, office, budget, 12, share=Decimal("0.97") - Decimal(n) / 25)
                    ev = services.open_evaluation(office, budget)
                    actuals = {
                        i.pk: (i.target if (k + n) % 4 else i.target * Decimal("0.8"))
                        for k, i in enumerate(budget.indicators.all())
                    }
                    services.record_actuals(
                        office, ev, actuals, "演示：证据材料见附件。Demo: evidence attached."
                    )
                    if lab != own:
                        services.move_evaluation(office, ev, "submit")
                        services.move_evaluation(office, ev, "accept")
                if n < 3 and not Budget.objects.filter(laboratory=lab, year=year).exists():
                    budget = self._approved(services, office, lab, year)
                    self._spend(services, office, budget, 7, share=Decimal("0.55") - Decimal(n) / 10)
            if own is not None and not Budget.objects.filter(laboratory=own, year=year + 1).exists():
                services.create_budget(office, own, year + 1)
            if not AllocationRun.objects.filter(year=last).exists():
                run = services.create_allocation_run(
                    office,
                    {
                        "year": last,
                        "title_zh": f"{last}年度质量标准实验室补助资金分配（演示）",
                        "title_en": f"Subsidy allocation for {last} (demo)",
                        "total": Decimal("5000000.00"),
                        "grade_weights": {"excellent": "3", "good": "2", "fair": "1", "poor": "0"},
                    },
                )
                services.compute_allocation(office, run)
            services.run_monitoring(office, year, 7)
        self.stdout.write(f"funding demo: {made} budgets of {last} loaded")

    @staticmethod
    def _approved(services: Any, office: Any, lab: Any, year: int, scale: Decimal = Decimal(1)) -> Any:
        budget = services.create_budget(office, lab, year)
        services.save_budget_version(
            office, budget, {k: (v * scale).quantize(Decimal("0.01")) for k, v in LINES.items()}
        )
        services.set_indicators(office, budget, services.parse_indicators(TARGETS))
        services.move_budget(office, budget, "submit")
        services.move_budget(office, budget, "approve")
        return budget

    @staticmethod
    def _spend(services: Any, office: Any, budget: Any, months: int, share: Decimal) -> None:
        """Spend ``share`` of each line, evenly over the first ``months`` months (last line lags)."""
        rows = [["date", "line", "source", "amount", "description"]]
        for k, ln in enumerate(budget.approved_version.lines.all()):
            lag = Decimal("0.4") if k == len(LINES) - 1 else Decimal(1)
            per_month = (ln.amount * share * lag / months).quantize(Decimal("0.01"))
            if per_month <= 0:
                continue
            for m in range(1, months + 1):
                rows.append(
                    [dt.date(budget.year, m, 15).isoformat(), ln.line, ln.source, str(per_month), "演示支出"]
                )
        services.import_expenditures(office, budget, rows)
