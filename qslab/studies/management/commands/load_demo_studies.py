"""Demo studies (fictional): a PT round with participants and scores, a precision experiment with a
flagged cell, an uncertainty budget, and an SPC monitor with a signal. Idempotent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

BUDGET = """\
title: mass concentration of lead by ICP-MS
model: c_meas * V / m * f_rec
output: w_Pb
unit: mg/kg
inputs:
  c_meas: {x: 12.4, distribution: normal, u: 0.15}
  V: {x: 0.050, distribution: triangular, half_width: 0.0001}
  m: {x: 0.5012, distribution: normal, u: 0.0002}
  f_rec: {x: 1.0, distribution: rectangular, half_width: 0.03}
mcm: {trials: 100000, seed: 11}
"""


class Command(BaseCommand):
    help = "Load fictional demo studies (PT round, precision experiment, budget, SPC monitor)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        from qslab.accounts.models import Organisation, RoleMembership, User
        from qslab.core.management.commands.load_demo import fake_uscc
        from qslab.labs.models import Laboratory
        from qslab.studies import services
        from qslab.studies.models import Monitor, PrecisionExperiment, PTMeasurand, PTRound

        if PTRound.objects.filter(code="demo-pt-2026-cu").exists():
            self.stdout.write("demo studies already loaded")
            return

        def org(key: str, zh: str, en: str, kind: str = "supporting") -> Organisation:
            o, _ = Organisation.objects.get_or_create(
                uscc=fake_uscc(f"studies-{key}"),
                defaults={"name_zh": zh, "name_en": en, "kind": kind, "region_code": "320000"},
            )
            return o

        def lab(code: str, zh: str, en: str) -> Laboratory:
            found = Laboratory.objects.filter(code=code).first()
            if found:
                return found
            return Laboratory.objects.create(
                code=code,
                name_zh=zh,
                name_en=en,
                region_code="320000",
                supporting_institution=org(code, f"{zh}依托单位", f"{en} host institute"),
            )

        def manager(username: str, laboratory: Laboratory) -> User:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@example.invalid", "preferred_language": "zh-hans"},
            )
            if created:
                user.set_password("demo-password-123")
                user.save()
            RoleMembership.objects.get_or_create(
                user=user,
                role="lab_manager",
                scope_type=ContentType.objects.get_for_model(Laboratory),
                scope_id=str(laboratory.pk),
            )
            return user

        organiser_lab = lab(
            "demo-grain",
            "国家粮食质量标准实验室（示例）",
            "National grain quality standards laboratory (demo)",
        )
        organiser = manager("demo_grain_manager", organiser_lab)
        rnd = services.create_round(
            organiser,
            organiser_lab,
            {
                "code": "demo-pt-2026-cu",
                "title_zh": "小麦粉中铜含量能力验证",
                "title_en": "Copper in wheat flour",
                "items_prepared": 20,
                "deadline": timezone.localdate() + dt.timedelta(days=14),
            },
        )
        services.save_measurand(
            organiser,
            rnd,
            {
                "name_zh": "铜",
                "name_en": "Cu",
                "unit": "mg/kg",
                "assigned_method": PTMeasurand.AssignedMethod.CONSENSUS,
                "sigma_method": PTMeasurand.SigmaMethod.FIXED,
                "sigma_pt": 0.35,
                "homogeneity_data": [[3.21, 3.18], [3.25, 3.22], [3.19, 3.24], [3.2, 3.23], [3.26, 3.2]],
                "stability_before": [3.21, 3.2, 3.23],
                "stability_after": [3.19, 3.22, 3.2],
            },
        )
        services.move(organiser, rnd, "open")
        values = [(3.1, 0.12), (3.4, 0.15), (2.9, 0.1), (3.25, 0.08), (4.6, 0.2), (3.05, 0.1)]
        for i, (value, u) in enumerate(values, start=1):
            participant_lab = lab(
                f"demo-participant-{i}", f"示例参加实验室{i}", f"Demo participant laboratory {i}"
            )
            user = manager(f"demo_participant_{i}", participant_lab)
            p = services.register_participant(user, rnd, laboratory=participant_lab)
            services.submit_results(user, p, [{"measurand": "Cu", "value": value, "u": u}], "form")
        services.move(organiser, rnd, "close")
        services.move(organiser, rnd, "score")
        services.move(organiser, rnd, "publish")

        study = services.create_experiment(
            organiser,
            organiser_lab,
            {
                "code": "demo-prec-moisture",
                "title_zh": "粮食水分测定方法精密度试验",
                "title_en": "Moisture in grain: precision experiment",
                "standard_reference": "GB/T XXXXX-202X (draft)",
                "unit": "g/100g",
                "levels": ["low", "high"],
                "n_labs": 8,
                "replicates": 2,
            },
        )
        services.move(organiser, study, "collect")
        rows = []
        data = {
            "low": [
                (11.2, 11.3),
                (11.1, 11.2),
                (11.3, 11.3),
                (11.2, 11.1),
                (11.4, 11.3),
                (11.2, 11.2),
                (12.4, 12.5),
                (11.3, 11.2),
            ],
            "high": [
                (14.6, 14.7),
                (14.5, 14.6),
                (14.7, 14.6),
                (14.6, 14.6),
                (14.8, 14.7),
                (14.5, 14.7),
                (14.7, 14.6),
                (14.6, 14.5),
            ],
        }
        for level, cells in data.items():
            for i, (a, b) in enumerate(cells, start=1):
                rows += [
                    {"level": level, "lab": f"L{i}", "replicate": "1", "value": str(a)},
                    {"level": level, "lab": f"L{i}", "replicate": "2", "value": str(b)},
                ]
        services.import_precision_values(organiser, study, rows)
        services.move(organiser, study, "analyse")

        budget = services.create_budget(
            organiser,
            organiser_lab,
            {
                "name_zh": "ICP-MS 测定铅",
                "name_en": "Lead by ICP-MS",
                "spec": BUDGET,
                "method": "GUF",
                "is_template": True,
            },
        )
        services.evaluate_budget(organiser, budget, "GUF")

        monitor = services.save_monitor(
            organiser,
            organiser_lab,
            {
                "name_zh": "面粉灰分",
                "name_en": "Ash in flour",
                "characteristic": "ash content",
                "unit": "%",
                "chart": Monitor.Chart.I,
                "rules": "we",
                "phase_one_points": 20,
                "lsl": 0.5,
                "usl": 0.8,
            },
        )
        baseline = [
            0.64,
            0.66,
            0.65,
            0.63,
            0.67,
            0.65,
            0.64,
            0.66,
            0.65,
            0.64,
            0.66,
            0.65,
            0.63,
            0.65,
            0.66,
            0.64,
            0.65,
            0.67,
            0.64,
            0.65,
        ]
        services.record_points(organiser, monitor, baseline, "api")
        services.record_points(organiser, monitor, [0.65, 0.66, 0.74], "api")
        assert PrecisionExperiment.objects.filter(code="demo-prec-moisture").exists()
        self.stdout.write(self.style.SUCCESS("demo studies loaded"))
