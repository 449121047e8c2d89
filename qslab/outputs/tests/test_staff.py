"""The staff register: the people of a laboratory with their roles, titles, qualifications and dates;
kept by the laboratory's managers, read by the office, committee and authority, never public; counted in
the year's figures."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.core.models import ChangeRecord
from qslab.core.testing import verified_client
from qslab.outputs import services
from qslab.outputs.models import StaffMember


def person(name, role, starts, ends=None):
    return {"name_zh": name, "role": role, "starts_on": starts, "ends_on": ends}


def test_a_lab_manager_keeps_the_register_and_each_change_is_audited(world):
    manager = world.users["lab_manager"]
    member = services.add_staff(
        manager,
        world.lab,
        {
            "name_zh": "李四",
            "name_en": "Li Si",
            "role": "quality_manager",
            "title": "高级工程师",
            "qualifications": "CNAS assessor (2019)\n一级注册计量师",
            "starts_on": dt.date(2021, 5, 1),
        },
    )
    member = services.edit_staff(manager, member, {"title": "正高级工程师", "ends_on": dt.date(2025, 6, 30)})
    assert member.title == "正高级工程师" and not member.on_staff(dt.date(2025, 7, 1))
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(StaffMember)
    changes = ChangeRecord.objects.filter(content_type=ct, object_id=str(member.pk))
    assert changes.count() == 2 and {c.user for c in changes} == {manager}


def test_another_labs_manager_may_neither_add_nor_read_and_the_public_sees_nothing(world):
    manager = world.users["lab_manager"]
    with pytest.raises(PermissionDenied):
        services.add_staff(
            manager,
            world.other_lab,
            {"name_zh": "他人", "role": "engineer", "starts_on": dt.date(2022, 1, 1)},
        )
    assert not StaffMember.objects.visible_to(None).exists()
    assert list(StaffMember.objects.visible_to(world.users["committee"])) == [world.member]
    assert (
        verified_client(world.users["client"]).get(f"/outputs/labs/{world.lab.pk}/staff/").status_code == 404
    )


def test_every_wrong_field_is_named_at_once(world):
    with pytest.raises(ValidationError) as exc:
        services.add_staff(
            world.users["office"],
            world.lab,
            {"name_zh": "", "role": "boss", "starts_on": dt.date(2024, 1, 1), "ends_on": dt.date(2023, 1, 1)},
        )
    assert set(exc.value.message_dict) == {"name_zh", "role", "ends_on"}


def test_the_figures_count_the_staff_at_the_end_of_the_year_by_role(world):
    office = world.users["office"]
    services.add_staff(
        office, world.lab, {"name_zh": "赵六", "role": "engineer", "starts_on": dt.date(2023, 3, 1)}
    )
    services.add_staff(
        office,
        world.lab,
        {
            "name_zh": "钱七",
            "role": "technician",
            "starts_on": dt.date(2022, 3, 1),
            "ends_on": dt.date(2023, 6, 30),
        },
    )
    figures = services.lab_figures(world.lab, 2023)
    assert figures["staff"] == 2 and figures["staff_by_role"]["engineer"] == 1
    assert figures["staff_by_role"]["technician"] == 0 and figures["staff_joined"] == 1
    assert services.lab_figures(world.lab, 2022)["staff"] == 2  # 张三 and 钱七


def test_the_register_page_lists_current_and_former_staff(world):
    manager = world.users["lab_manager"]
    services.add_staff(
        manager,
        world.lab,
        {
            "name_zh": "孙八",
            "role": "postdoc",
            "starts_on": dt.date(2019, 9, 1),
            "ends_on": dt.date(2021, 8, 31),
        },
    )
    page = verified_client(manager).get(f"/outputs/labs/{world.lab.pk}/staff/").content.decode()
    assert "张三" in page and "研究员" in page and "Former staff" in page and "孙八" in page
