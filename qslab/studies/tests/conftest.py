"""The studies' world: an organising laboratory managed by ``lab_manager``, another laboratory and an
outside organisation taking part in PT rounds (the ``client`` user belongs to that organisation), and
one study of each kind in the states the access matrix needs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from qslab.core.context import acting_as
from qslab.core.testing import make_organisation, make_user

BUDGET_YAML = """\
title: mass by substitution
model: m_ref + dm
output: m
unit: g
inputs:
  m_ref: {x: 100.0, distribution: normal, u: 0.0005}
  dm: {x: 0.0012, distribution: rectangular, half_width: 0.0003}
mcm: {trials: 20000, seed: 7}
"""


def make_lab(code: str, **fields: Any) -> Any:
    from qslab.labs.models import Laboratory

    org = make_organisation()
    return Laboratory.objects.create(
        code=code,
        name_zh=f"{code}实验室",
        name_en=f"{code} laboratory",
        supporting_institution=org,
        region_code="320000",
        **fields,
    )


def scope_to(user: Any, lab: Any) -> None:
    from qslab.accounts.models import RoleMembership
    from qslab.accounts.roles import forget_cached_roles

    RoleMembership.objects.filter(user=user, role="lab_manager").update(
        scope_type=ContentType.objects.get_for_model(lab), scope_id=str(lab.pk)
    )
    forget_cached_roles(user)


@pytest.fixture
def labs(db: Any) -> Any:
    import types

    return types.SimpleNamespace(organiser=make_lab("org-lab"), other=make_lab("other-lab"))


@pytest.fixture
def users(users: dict[str, Any], labs: Any) -> dict[str, Any]:
    """As everywhere, but the lab manager manages the organising laboratory only and the client works
    for an outside organisation."""
    scope_to(users["lab_manager"], labs.organiser)
    users["client"].organisation = make_organisation(kind="enterprise")
    users["client"].save(update_fields=["organisation"])
    return users


def pt_round(lab: Any, user: Any, code: str, status: str = "draft", deadline: dt.date | None = None) -> Any:
    from qslab.studies.models import PTMeasurand, PTRound

    with acting_as(user):
        rnd = PTRound.objects.create(
            laboratory=lab,
            code=code,
            title_zh="面粉中的铜",
            title_en="Copper in flour",
            deadline=deadline or timezone.localdate() + dt.timedelta(days=10),
            status=status,
        )
        PTMeasurand.objects.create(
            round=rnd, name_zh="铜", name_en="Cu", unit="mg/kg", sigma_method="fixed", sigma_pt=0.3
        )
    return rnd


def participant(rnd: Any, code: str, contact: Any, lab: Any = None, org: Any = None) -> Any:
    from qslab.studies.models import PTParticipant

    return PTParticipant.objects.create(
        round=rnd, code=code, laboratory=lab, organisation=org, contact=contact
    )


def result(p: Any, value: float, u: float = 0.1) -> Any:
    from qslab.studies.models import PTResult

    return PTResult.objects.create(
        participant=p,
        measurand=p.round.measurands.get(),
        value=value,
        standard_uncertainty=u,
        expanded_uncertainty=2 * u,
    )


@pytest.fixture
def world(world: Any, users: dict[str, Any], labs: Any) -> Any:
    from qslab.studies import services
    from qslab.studies.models import Alarm, Monitor, PrecisionExperiment, ReferenceMaterialStudy

    w = world
    manager, client = users["lab_manager"], users["client"]
    w.lab, w.other_lab = labs.organiser, labs.other
    w.other_manager = make_user("lab_manager", scope=labs.other)
    w.client_org = client.organisation

    w.draft = pt_round(w.lab, manager, "pt-draft")
    w.measurand = w.draft.measurands.get()
    w.open = pt_round(w.lab, manager, "pt-open", "open")
    w.open_p_lab = participant(w.open, "P01", w.other_manager, lab=w.other_lab)
    w.open_p_org = participant(w.open, "P02", client, org=w.client_org)
    result(w.open_p_lab, 3.1)
    w.open2 = pt_round(w.lab, manager, "pt-open2", "open")
    w.reported = pt_round(w.lab, manager, "pt-reported", "closed")
    p1 = participant(w.reported, "P01", w.other_manager, lab=w.other_lab)
    p2 = participant(w.reported, "P02", client, org=w.client_org)
    result(p1, 3.0)
    result(p2, 3.2)
    for i, value in enumerate((3.4, 2.9, 3.1), start=3):
        result(participant(w.reported, f"P{i:02d}", None, org=make_organisation(kind="enterprise")), value)
    services.move(manager, w.reported, "score")
    services.move(manager, w.reported, "publish")
    w.reported_p_lab, w.reported_p_org = p1, p2

    def experiment(code: str, status: str) -> Any:
        with acting_as(manager):
            return PrecisionExperiment.objects.create(
                laboratory=w.lab,
                code=code,
                title_zh="精密度",
                title_en="Precision",
                standard_reference="GB/T draft",
                levels=["A"],
                n_labs=6,
                replicates=2,
                status=status,
            )

    def fill(study: Any) -> None:
        rows = []
        for i, (a, b) in enumerate(
            [(10.1, 10.2), (10.0, 10.1), (10.2, 10.3), (10.1, 10.1), (10.2, 10.0), (12.5, 12.6)]
        ):
            rows += [
                {"level": "A", "lab": f"L{i + 1}", "replicate": "1", "value": str(a)},
                {"level": "A", "lab": f"L{i + 1}", "replicate": "2", "value": str(b)},
            ]
        services.import_precision_values(manager, study, rows)

    w.design = experiment("prec-design", "design")
    w.collecting = experiment("prec-collecting", "collecting")
    fill(w.collecting)
    w.analysed = experiment("prec-analysed", "collecting")
    fill(w.analysed)
    services.move(manager, w.analysed, "analyse")
    w.decision = w.analysed.decisions.first()
    w.reported_study = experiment("prec-reported", "collecting")
    fill(w.reported_study)
    services.move(manager, w.reported_study, "analyse")
    for d in w.reported_study.decisions.all():
        services.decide_outlier(manager, d, "exclude", "transcription error confirmed")
    services.move(manager, w.reported_study, "report")

    w.budget = services.create_budget(
        manager, w.lab, {"name_zh": "质量", "name_en": "Mass", "spec": BUDGET_YAML, "method": "GUF"}
    )
    w.material = services.save_reference_material(
        manager,
        w.lab,
        {
            "code": "rm-1",
            "name_zh": "大米粉",
            "name_en": "Rice flour",
            "property_name": "Cd",
            "unit": "mg/kg",
            "characterisation_means": [0.101, 0.099, 0.102, 0.1],
            "homogeneity_data": [[0.1, 0.101], [0.099, 0.1], [0.1, 0.102]],
        },
    )
    w.monitor = services.save_monitor(
        manager,
        w.lab,
        {
            "name_zh": "灰分",
            "name_en": "Ash",
            "characteristic": "ash",
            "unit": "%",
            "chart": Monitor.Chart.I,
            "center": 10.0,
            "sigma": 0.1,
            "rules": "we",
        },
    )
    services.record_points(manager, w.monitor, [10.0, 10.1, 11.0])
    w.alarm = Alarm.objects.get(monitor=w.monitor)
    assert ReferenceMaterialStudy.objects.count() == 1
    return w
