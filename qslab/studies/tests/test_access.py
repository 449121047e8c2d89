"""Who may open each page and call each API operation of the studies app.

The lab manager manages the organising laboratory; the client works for an outside organisation that
takes part in PT rounds (participant P02); the other roles have no part in these studies.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from qslab.core.testing import SIGNED_IN, Case, check_access, matrix

OVERSEE = {"office", "committee", "lab_manager"}
LM = {"lab_manager"}
CLIENT = {"client"}
SEES_P02 = {"office", "committee", "lab_manager", "client"}


def _csv(w):
    m = w.open.measurands.get()
    return {"file": SimpleUploadedFile("r.csv", f"measurand,value,u\n{m.pk},3.3,0.1\n".encode(), "text/csv")}


def _form(w):
    m = w.open.measurands.get()
    return {f"value_{m.pk}": "3.3", f"u_{m.pk}": "0.1", f"k_{m.pk}": "2"}


def _measurand(w):
    return {
        "name_zh": "锌",
        "name_en": "Zn",
        "unit": "mg/kg",
        "assigned_method": "consensus",
        "sigma_method": "fixed",
        "sigma_pt": "0.5",
    }


CASES = [
    Case("studies:index", SIGNED_IN),
    # proficiency testing
    Case("studies:pt_create", LM),
    Case("studies:pt_detail", OVERSEE, note="draft", kwargs=lambda w: {"round_id": w.draft.pk}),
    Case("studies:pt_detail", SIGNED_IN, note="open", kwargs=lambda w: {"round_id": w.open.pk}),
    Case("studies:pt_edit", LM, kwargs=lambda w: {"round_id": w.draft.pk}),
    Case("studies:measurand_add", LM, kwargs=lambda w: {"round_id": w.draft.pk}),
    Case(
        "studies:measurand_add",
        LM,
        method="post",
        note="post",
        kwargs=lambda w: {"round_id": w.draft.pk},
        data=_measurand,
    ),
    Case(
        "studies:measurand_edit",
        LM,
        kwargs=lambda w: {"round_id": w.draft.pk, "measurand_id": w.measurand.pk},
    ),
    Case(
        "studies:pt_transition",
        LM,
        method="post",
        note="open a draft",
        kwargs=lambda w: {"round_id": w.draft.pk, "transition": "open"},
    ),
    Case(
        "studies:pt_register",
        CLIENT,
        method="post",
        kwargs=lambda w: {"round_id": w.open2.pk},
        data={"as_organisation": "on"},
    ),
    Case(
        "studies:pt_participant",
        SEES_P02,
        note="own organisation",
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_org.pk},
    ),
    Case(
        "studies:pt_participant",
        OVERSEE,
        note="another participant",
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_lab.pk},
    ),
    Case(
        "studies:pt_submit",
        CLIENT,
        method="post",
        data=_form,
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_org.pk},
    ),
    Case(
        "studies:pt_upload",
        CLIENT,
        method="post",
        data=_csv,
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_org.pk},
    ),
    Case(
        "studies:pt_report",
        SEES_P02,
        kwargs=lambda w: {"round_id": w.reported.pk, "participant_id": w.reported_p_org.pk},
    ),
    Case("studies:pt_summary", OVERSEE, kwargs=lambda w: {"round_id": w.reported.pk}),
    # precision experiments
    Case("studies:precision_create", LM),
    Case("studies:precision_detail", OVERSEE, kwargs=lambda w: {"study_id": w.analysed.pk}),
    Case("studies:precision_edit", LM, kwargs=lambda w: {"study_id": w.design.pk}),
    Case(
        "studies:precision_data",
        LM,
        method="post",
        kwargs=lambda w: {"study_id": w.collecting.pk},
        data={"data": "level,lab,replicate,value\nA,L1,1,10.1\nA,L1,2,10.2\nA,L2,1,10.0\nA,L2,2,10.3\n"},
    ),
    Case(
        "studies:precision_transition",
        LM,
        method="post",
        kwargs=lambda w: {"study_id": w.collecting.pk, "transition": "analyse"},
    ),
    Case(
        "studies:precision_decide",
        {"lab_manager", "office"},
        method="post",
        kwargs=lambda w: {"study_id": w.analysed.pk, "decision_id": w.decision.pk},
        data={"decision": "exclude", "reason": "calculation error confirmed by the lab"},
    ),
    Case("studies:precision_report", OVERSEE, kwargs=lambda w: {"study_id": w.reported_study.pk}),
    # uncertainty budgets
    Case("studies:budget_create", LM),
    Case("studies:budget_detail", OVERSEE, kwargs=lambda w: {"budget_id": w.budget.pk}),
    Case("studies:budget_revise", LM, kwargs=lambda w: {"budget_id": w.budget.pk}),
    Case(
        "studies:budget_evaluate",
        LM,
        method="post",
        kwargs=lambda w: {"budget_id": w.budget.pk},
        data={"method": "GUF"},
    ),
    Case(
        "studies:budget_copy",
        LM,
        method="post",
        kwargs=lambda w: {"budget_id": w.budget.pk},
        data=lambda w: {"laboratory": w.lab.pk},
    ),
    # reference materials
    Case("studies:rm_create", LM),
    Case("studies:rm_detail", OVERSEE, kwargs=lambda w: {"study_id": w.material.pk}),
    Case("studies:rm_edit", LM, kwargs=lambda w: {"study_id": w.material.pk}),
    Case(
        "studies:rm_transition",
        LM,
        method="post",
        kwargs=lambda w: {"study_id": w.material.pk, "transition": "evaluate"},
    ),
    # monitors and alarms
    Case("studies:monitor_create", LM),
    Case("studies:monitor_detail", OVERSEE, kwargs=lambda w: {"monitor_id": w.monitor.pk}),
    Case("studies:monitor_edit", LM, kwargs=lambda w: {"monitor_id": w.monitor.pk}),
    Case("studies:monitor_chart", OVERSEE, kwargs=lambda w: {"monitor_id": w.monitor.pk}),
    Case(
        "studies:monitor_point",
        LM,
        method="post",
        kwargs=lambda w: {"monitor_id": w.monitor.pk},
        data={"values": "10.05"},
    ),
    Case("studies:monitor_limits", LM, method="post", kwargs=lambda w: {"monitor_id": w.monitor.pk}),
    Case("studies:alarms", SIGNED_IN),
    Case("studies:alarm_detail", OVERSEE, kwargs=lambda w: {"alarm_id": w.alarm.pk}),
    Case(
        "studies:alarm_transition",
        LM,
        method="post",
        kwargs=lambda w: {"alarm_id": w.alarm.pk, "transition": "acknowledge"},
    ),
    # API
    Case("qslab_studies_api_rounds", SIGNED_IN, api=True),
    Case(
        "qslab_studies_api_pt_round",
        OVERSEE,
        api=True,
        note="draft",
        kwargs=lambda w: {"round_id": w.draft.pk},
    ),
    Case(
        "qslab_studies_api_move_round",
        LM,
        api=True,
        method="post",
        kwargs=lambda w: {"round_id": w.draft.pk, "transition": "open"},
        data={"reason": ""},
    ),
    Case(
        "qslab_studies_api_register",
        CLIENT,
        api=True,
        method="post",
        kwargs=lambda w: {"round_id": w.open2.pk},
        data={},
    ),
    Case(
        "qslab_studies_api_results",
        SEES_P02,
        api=True,
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_org.pk},
    ),
    Case(
        "qslab_studies_api_submit",
        CLIENT,
        api=True,
        method="post",
        kwargs=lambda w: {"round_id": w.open.pk, "participant_id": w.open_p_org.pk},
        data=lambda w: [{"measurand": "Cu", "value": 3.3, "u": 0.1}],
    ),
    Case("qslab_studies_api_experiment", OVERSEE, api=True, kwargs=lambda w: {"study_id": w.analysed.pk}),
    Case("qslab_studies_api_budget", OVERSEE, api=True, kwargs=lambda w: {"budget_id": w.budget.pk}),
    Case(
        "qslab_studies_api_evaluate",
        LM,
        api=True,
        method="post",
        kwargs=lambda w: {"budget_id": w.budget.pk},
        data={"method": "GUF"},
    ),
    Case("qslab_studies_api_material", OVERSEE, api=True, kwargs=lambda w: {"study_id": w.material.pk}),
    Case("qslab_studies_api_monitors", SIGNED_IN, api=True),
    Case("qslab_studies_api_points", OVERSEE, api=True, kwargs=lambda w: {"monitor_id": w.monitor.pk}),
    Case(
        "qslab_studies_api_post_points",
        LM,
        api=True,
        method="post",
        kwargs=lambda w: {"monitor_id": w.monitor.pk},
        data={"points": [10.0, 9.9]},
    ),
    Case("qslab_studies_api_alarms", SIGNED_IN, api=True),
    Case(
        "qslab_studies_api_move_alarm",
        LM,
        api=True,
        method="post",
        kwargs=lambda w: {"alarm_id": w.alarm.pk, "transition": "acknowledge"},
        data={"reason": ""},
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_studies_access(case, role, clients, world):
    check_access(case, role, clients, world)
