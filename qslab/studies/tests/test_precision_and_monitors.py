"""Precision experiments (ISO 5725-2), uncertainty budgets, reference materials and SPC monitors."""

import base64
import re

import numpy as np
import pytest
from django.urls import reverse

from qslab.core.models import ChangeRecord, Notification
from qslab.core.workflow import TransitionRefused
from qslab.methods.precision import precision_study
from qslab.studies import services
from qslab.studies.models import Alarm, OutlierDecision, PrecisionValue


def chart_svgs(page: str) -> list[str]:
    """The SVG charts a page shows as ``<img src="data:image/svg+xml;base64,...">`` ({% chart_img %})."""
    return [
        base64.b64decode(b).decode()
        for b in re.findall(r'<img class="chart-img" src="data:image/svg\+xml;base64,([^"]+)"', page)
    ]


def test_precision_import_reports_every_bad_row_and_writes_nothing(world):
    before = PrecisionValue.objects.filter(experiment=world.collecting).count()
    rows = [
        {"level": "Z", "lab": "L1", "replicate": "1", "value": "1"},
        {"level": "A", "lab": "", "replicate": "9", "value": "x"},
    ]
    with pytest.raises(services.Refused) as refused:
        services.import_precision_values(world.users["lab_manager"], world.collecting, rows)
    columns = [(e["row"], e["column"]) for e in refused.value.errors]
    assert columns == [(1, "level"), (2, "lab"), (2, "replicate"), (2, "value")]
    assert PrecisionValue.objects.filter(experiment=world.collecting).count() == before


def test_the_outlying_lab_is_flagged_and_waits_for_a_decision(world):
    flagged = {(d.lab_code, d.test) for d in world.analysed.decisions.all()}
    assert ("L6", "grubbs_single") in flagged or ("L6", "mandel_h") in flagged
    with pytest.raises(TransitionRefused) as refused:
        services.move(world.users["lab_manager"], world.analysed, "report")
    assert refused.value.code == TransitionRefused.GUARD


def test_a_decision_needs_a_reason_and_is_audited(world):
    manager = world.users["lab_manager"]
    with pytest.raises(services.Refused):
        services.decide_outlier(manager, world.decision, "exclude", "  ")
    services.decide_outlier(manager, world.decision, "exclude", "calculation error")
    record = ChangeRecord.objects.filter(object_id=str(world.decision.pk), action="update").first()
    assert record.after["decision"] == "exclude" and record.reason == "calculation error"


def test_a_lab_that_does_not_organise_the_study_cannot_decide(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.decide_outlier(world.other_manager, world.decision, "retain", "looks fine")


def test_estimates_leave_out_excluded_cells_and_equal_the_engine(world):
    study = world.reported_study
    excluded = set(study.decisions.filter(decision="exclude").values_list("lab_code", flat=True))
    values = [v for v in study.values.all() if v.lab_code not in excluded]
    expected = precision_study(
        [v.value for v in values], [v.lab_code for v in values], [v.level for v in values]
    )
    stored = study.estimates["result"]["levels"][0]
    assert stored["repeatability_sd"] == pytest.approx(expected.levels[0].repeatability_sd, rel=1e-12)
    assert stored["reproducibility_sd"] == pytest.approx(expected.levels[0].reproducibility_sd, rel=1e-12)
    assert "L6" not in stored["labs"]


def test_the_precision_report_is_a_pdf(world, clients):
    response = clients["lab_manager"].get(reverse("studies:precision_report", args=[world.reported_study.pk]))
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_a_budget_is_evaluated_by_guf_and_mcm_and_stored_with_its_settings(world):
    manager = world.users["lab_manager"]
    services.evaluate_budget(manager, world.budget, "GUF")
    guf = world.budget.result["result"]["guf"]["outputs"][0]
    assert guf["y"] == pytest.approx(100.0012)
    assert guf["u_c"] == pytest.approx(np.hypot(0.0005, 0.0003 / np.sqrt(3)))
    services.evaluate_budget(manager, world.budget, "MCM")
    assert world.budget.result["engine"]["config"] == {"method": "MCM", "trials": 20000, "seed": 7}
    assert world.budget.result["result"]["mcm"]["outputs"][0]["u"] == pytest.approx(guf["u_c"], rel=0.05)


def test_a_revision_is_a_new_version_and_the_old_one_is_frozen(world):
    manager = world.users["lab_manager"]
    new = services.revise_budget(
        manager, world.budget, {"spec": world.budget.spec.replace("0.0005", "0.0006")}
    )
    world.budget.refresh_from_db()
    assert (new.version, new.previous_id, world.budget.is_current) == (2, world.budget.pk, False)
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.evaluate_budget(manager, world.budget)


def test_a_malformed_budget_is_refused_naming_the_key(world):
    with pytest.raises(services.Refused) as refused:
        services.create_budget(
            world.users["lab_manager"],
            world.lab,
            {"name_zh": "x", "name_en": "x", "spec": "model: a\ninputs:\n  a: {x: 1, u: -1}\n"},
        )
    assert "inputs.a" in str(refused.value)


def test_a_reference_material_is_certified_with_a_numbered_certificate(world):
    manager = world.users["lab_manager"]
    services.move(manager, world.material, "evaluate")
    assert world.material.result["certified"]["value"] == pytest.approx(np.mean([0.101, 0.099, 0.102, 0.1]))
    services.move(manager, world.material, "certify")
    assert world.material.certificate.number.startswith("国质标实RM")


def test_a_point_beyond_the_limits_raises_an_alarm_and_tells_the_lab_manager(world):
    manager = world.users["lab_manager"]
    points = services.record_points(manager, world.monitor, [9.0])
    assert "beyond_3sigma" in points[0].signals
    alarm = Alarm.objects.get(point=points[0])
    assert alarm.status == "open"
    assert Notification.objects.filter(recipient=manager, verb="spc_alarm").exists()


def test_run_rules_signal_without_a_point_beyond_the_limits(world):
    points = services.record_points(world.users["lab_manager"], world.monitor, [10.25, 10.25, 10.25])
    assert any("2_of_3_beyond_2sigma" in p.signals for p in points)


def test_the_alarm_appears_in_the_triage_queue_and_the_live_chart(world, clients):
    client = clients["lab_manager"]
    assert str(world.alarm.point.seq) in client.get(reverse("studies:alarms")).content.decode()
    live = client.get(reverse("studies:monitor_chart", args=[world.monitor.pk])).content.decode()
    (chart,) = chart_svgs(live)
    assert "<svg" in chart and "beyond_3sigma" in live


def test_an_alarm_is_closed_only_after_cause_and_action_are_recorded(world):
    manager = world.users["lab_manager"]
    services.move(manager, world.alarm, "acknowledge")
    with pytest.raises(TransitionRefused) as refused:
        services.move(manager, world.alarm, "action")
    assert refused.value.code == TransitionRefused.GUARD
    services.explain_alarm(manager, world.alarm, "worn sieve", "sieve replaced")
    services.move(manager, world.alarm, "action")
    services.move(manager, world.alarm, "close")
    assert world.alarm.status == "closed"


def test_another_labs_manager_cannot_post_to_the_monitor(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.record_points(world.other_manager, world.monitor, [10.0])


def test_malformed_points_are_refused_all_at_once(world):
    with pytest.raises(services.Refused) as refused:
        services.record_points(world.users["lab_manager"], world.monitor, [10.0, "x", [1, 2]])
    assert [e["row"] for e in refused.value.errors] == [2, 3]
    assert world.monitor.points.count() == 3


def test_phase_one_limits_are_set_once_enough_points_arrive(world):
    manager = world.users["lab_manager"]
    m = services.save_monitor(
        manager,
        world.lab,
        {
            "name_zh": "水分",
            "name_en": "Moisture",
            "characteristic": "moisture",
            "chart": "I",
            "phase_one_points": 5,
        },
    )
    services.record_points(manager, m, [5.0, 5.1, 4.9, 5.05, 4.95])
    m.refresh_from_db()
    assert m.center == pytest.approx(5.0) and m.sigma > 0
    assert m.limits["engine"]["module"] == "qslab.methods.spc.phase_one"


def test_outlier_decision_rows_are_visible_only_through_the_study(world):
    assert not OutlierDecision.objects.visible_to(world.users["client"]).exists()
    assert OutlierDecision.objects.visible_to(world.users["committee"]).exists()


def test_an_xbar_monitor_evaluates_each_subgroup_mean_and_refuses_a_short_subgroup(world):
    manager = world.users["lab_manager"]
    m = services.save_monitor(
        manager,
        world.lab,
        {
            "name_zh": "直径",
            "name_en": "Diameter",
            "characteristic": "diameter",
            "unit": "mm",
            "chart": "xbar",
            "subgroup_size": 4,
            "center": 20.0,
            "sigma": 0.2,
            "rules": "we",
        },
    )
    ok = services.record_points(manager, m, [[20.1, 19.9, 20.0, 20.05], [19.95, 20.0, 20.1, 19.9]])
    assert [p.signals for p in ok] == [[], []]
    # a subgroup mean of 20.35 is beyond 20 + 3 * 0.2 / sqrt(4) = 20.3, though no single value is
    # beyond the limits of individuals (20.6)
    (beyond,) = services.record_points(manager, m, [[20.3, 20.4, 20.35, 20.35]])
    assert beyond.statistic == pytest.approx(20.35)
    assert "beyond_3sigma" in beyond.signals
    assert Alarm.objects.filter(monitor=m, point=beyond).exists()
    with pytest.raises(services.Refused) as refused:
        services.record_points(manager, m, [[20.0, 20.1, 19.9]])
    assert "expected 4 values per point, got 3" in str(refused.value.errors)
    assert m.points.count() == 3


def test_capability_is_computed_on_demand_against_the_specification_limits(world, clients):
    manager = world.users["lab_manager"]
    m = services.save_monitor(
        manager,
        world.lab,
        {
            "name_zh": "厚度",
            "name_en": "Thickness",
            "characteristic": "thickness",
            "chart": "I",
            "center": 5.0,
            "sigma": 0.05,
            "lsl": 4.7,
            "usl": 5.3,
        },
    )
    values = list(5.0 + 0.05 * np.random.default_rng(3).standard_normal(40))
    services.record_points(manager, m, values)
    result = services.capability(m)
    assert result.cp == pytest.approx(0.6 / (6 * 0.05))
    url = reverse("studies:monitor_detail", args=[m.pk])
    assert "Compute capability" in clients["lab_manager"].get(url).content.decode()
    page = clients["lab_manager"].get(url + "?capability=1").content.decode()
    assert "Compute capability" not in page and result.summary().splitlines()[0] in page
