"""Who may open each page and API operation of the labs app. The role user ``lab_manager`` manages
``w.lab`` only; the ``authority`` covers Jiangsu (320000), where ``w.lab`` is."""

import pytest

from qslab.core.testing import EVERYONE, SIGNED_IN, Case, check_access, matrix, own_and_other

OFFICE = {"office"}
OWN = {"office", "lab_manager"}
PLANNERS = {"office", "committee", "authority"}

LAB = lambda w: {"lab_id": w.lab.pk}  # noqa: E731
OTHER = lambda w: {"lab_id": w.other_lab.pk}  # noqa: E731
PLAN = lambda w: {"plan_id": w.plan.pk}  # noqa: E731

CASES = [
    Case("labs:directory", EVERYONE),
    Case("labs:directory", EVERYONE, note="search", query="q=国家&field=manufacturing&region=320000"),
    Case("labs:export", EVERYONE, query="format=csv"),
    Case("labs:export", EVERYONE, note="xlsx", query="format=xlsx"),
    Case("labs:feed", EVERYONE),
    Case("labs:detail", EVERYONE, kwargs=LAB),
    Case("labs:create", OFFICE),
    *own_and_other("labs:edit", OFFICE, own=LAB, other=OTHER),
    *own_and_other("labs:team", OFFICE, own=LAB, other=OTHER),
    *own_and_other("labs:figures", OFFICE, own=LAB, other=OTHER),
    *own_and_other(
        "labs:transition",
        OFFICE,
        method="post",
        own_note="request acceptance of own lab",
        note="request acceptance of another lab",
        own=lambda w: {"lab_id": w.lab.pk, "transition": "request_acceptance"},
        other=lambda w: {"lab_id": w.other_lab.pk, "transition": "request_acceptance"},
    ),
    Case("labs:jurisdiction", PLANNERS),
    Case("labs:import", OFFICE),
    Case("labs:taxonomies", EVERYONE),
    Case("labs:term_create", OFFICE, kwargs=lambda w: {"kind": "fields"}),
    Case("labs:term_edit", OFFICE, kwargs=lambda w: {"kind": "fields", "term_id": w.field.pk}),
    Case("labs:plans", PLANNERS),
    Case("labs:plan_create", OFFICE),
    Case("labs:plan", PLANNERS, kwargs=PLAN),
    Case("labs:plan_targets", OFFICE, kwargs=PLAN),
    Case("labs:plan_map", PLANNERS, kwargs=PLAN),
    Case("labs:plan_pdf", PLANNERS, kwargs=PLAN),
    Case("labs:plan_revisions", PLANNERS, kwargs=PLAN),
    # API
    Case("qslab_labs_api_list_labs", EVERYONE, api=True, query="q=国家"),
    Case("qslab_labs_api_get_lab", EVERYONE, api=True, kwargs=LAB),
    Case(
        "qslab_labs_api_create_lab",
        OFFICE,
        method="post",
        api=True,
        data=lambda w: {
            "code": "new-lab",
            "name_zh": "国家新质量标准实验室",
            "name_en": "National New Quality Standards Laboratory",
            "supporting_institution_id": w.partner_org.pk,
            "region_code": "320000",
            "fields": ["robots"],
        },
    ),
    *own_and_other(
        "qslab_labs_api_update_lab",
        OFFICE,
        method="patch",
        api=True,
        own=LAB,
        other=OTHER,
        data={"director_name": "赵六"},
    ),
    Case(
        "qslab_labs_api_move_lab",
        OWN,
        method="post",
        api=True,
        kwargs=lambda w: {"lab_id": w.lab.pk, "transition": "request_acceptance"},
    ),
    Case("qslab_labs_api_lab_history", EVERYONE, api=True, kwargs=LAB),
    Case("qslab_labs_api_list_figures", EVERYONE, api=True, kwargs=LAB),
    Case(
        "qslab_labs_api_put_figures",
        OWN,
        method="put",
        api=True,
        kwargs=lambda w: {"lab_id": w.lab.pk, "year": 2025},
        data={"staff": 12, "patents": 3},
    ),
    Case(
        "qslab_labs_api_put_figures",
        OFFICE,
        method="put",
        api=True,
        note="another lab",
        kwargs=lambda w: {"lab_id": w.other_lab.pk, "year": 2025},
        data={"staff": 12},
    ),
    Case(
        "qslab_labs_api_add_partner",
        OWN,
        method="post",
        api=True,
        kwargs=LAB,
        data=lambda w: {"organisation_id": w.partner_org.pk, "role": "industry"},
    ),
    *own_and_other(
        "qslab_labs_api_delete_partner",
        OFFICE,
        method="delete",
        api=True,
        own=lambda w: {"partner_id": w.partner.pk},
        other=lambda w: {"partner_id": w.other_partner.pk},
    ),
    Case(
        "qslab_labs_api_add_committee_member",
        OWN,
        method="post",
        api=True,
        kwargs=LAB,
        data={"name": "钱七", "position": "member"},
    ),
    *own_and_other(
        "qslab_labs_api_delete_committee_member",
        OFFICE,
        method="delete",
        api=True,
        own=lambda w: {"member_id": w.member.pk},
        other=lambda w: {"member_id": w.other_member.pk},
    ),
    Case("qslab_labs_api_list_terms", EVERYONE, api=True, kwargs=lambda w: {"kind": "fields"}),
    Case(
        "qslab_labs_api_create_term",
        OFFICE,
        method="post",
        api=True,
        kwargs=lambda w: {"kind": "fields"},
        data={"code": "drones", "name_zh": "无人机", "name_en": "Drones", "parent": "manufacturing"},
    ),
    Case(
        "qslab_labs_api_update_term",
        OFFICE,
        method="patch",
        api=True,
        kwargs=lambda w: {"kind": "fields", "term_id": w.field.pk},
        data={"name_en": "Robots"},
    ),
    Case("qslab_labs_api_list_plans", SIGNED_IN, api=True, note="empty list for those who may not see plans"),
    Case(
        "qslab_labs_api_create_plan",
        OFFICE,
        method="post",
        api=True,
        data={
            "code": "p2030",
            "name_zh": "规划2030",
            "name_en": "Plan 2030",
            "start_year": 2025,
            "end_year": 2030,
        },
    ),
    Case("qslab_labs_api_get_plan", PLANNERS, api=True, kwargs=PLAN),
    Case(
        "qslab_labs_api_set_targets",
        OFFICE,
        method="put",
        api=True,
        kwargs=PLAN,
        data={"targets": [{"field": "robots", "region": "320000", "target": 3}], "note": "more"},
    ),
    Case("qslab_labs_api_coverage", PLANNERS, api=True, kwargs=PLAN),
    Case("qslab_labs_api_revisions", PLANNERS, api=True, kwargs=PLAN),
    Case(
        "qslab_labs_api_import_csv",
        OFFICE,
        method="post",
        api=True,
        data={
            "kind": "organisations",
            "csv": "name_zh,name_en,uscc,kind,region_code\n甲,A,913200001BJNQH0CX5,enterprise,320000\n",
            "dry_run": True,
        },
        note="dry run",
    ),
]


@pytest.mark.parametrize(("case", "role"), matrix(CASES))
def test_labs_access(case, role, clients, world):
    check_access(case, role, clients, world)
