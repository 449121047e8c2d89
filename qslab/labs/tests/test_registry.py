"""Editing the record: lab managers edit their own lab's profile and figures only; authorities see
their region; the directory finds labs by Chinese or English words."""

import csv
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.accounts.models import ApiToken
from qslab.core.testing import make_organisation, make_user, verified_client
from qslab.labs import services
from qslab.labs.tests.conftest import make_lab
from qslab.labs.xlsx import read_xlsx


def test_a_lab_manager_edits_the_profile_of_their_own_lab(manager_of):
    lab = make_lab("own", status="under_construction")
    services.edit_laboratory(
        manager_of(lab), lab, {"director_name": "新主任", "website": "https://lab.example"}
    )
    lab.refresh_from_db()
    assert lab.director_name == "新主任"


def test_a_lab_manager_cannot_edit_another_lab_by_service_page_or_api(manager_of):
    own, other = make_lab("own"), make_lab("other")
    manager = manager_of(own)
    with pytest.raises(PermissionDenied):
        services.edit_laboratory(manager, other, {"director_name": "x"})
    assert verified_client(manager).post(f"/labs/{other.pk}/edit/", {"director_name": "x"}).status_code == 403
    _t, token = ApiToken.issue(manager, "t")
    r = verified_client(None).patch(
        f"/api/labs/laboratories/{other.pk}",
        {"director_name": "x"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403
    other.refresh_from_db()
    assert other.director_name == "张三"


def test_a_lab_manager_may_not_rename_their_lab_or_change_its_region(manager_of):
    lab = make_lab("own")
    with pytest.raises(PermissionDenied, match="name_zh"):
        services.edit_laboratory(manager_of(lab), lab, {"name_zh": "国家别的质量标准实验室"})


def test_a_lab_manager_reports_yearly_key_figures_for_their_lab_only(manager_of):
    own, other = make_lab("own"), make_lab("other")
    manager = manager_of(own)
    row = services.report_key_figures(manager, own, 2025, {"staff": 30, "patents": 4})
    services.report_key_figures(manager, own, 2025, {"staff": 31})
    row.refresh_from_db()
    assert (row.staff, row.patents) == (31, 4)
    with pytest.raises(PermissionDenied):
        services.report_key_figures(manager, other, 2025, {"staff": 1})


def test_the_chinese_name_must_follow_the_national_naming_pattern(db):
    office = make_user("office")
    with pytest.raises(ValidationError, match="国家XX质量标准实验室"):
        services.register_laboratory(
            office,
            {
                "code": "bad",
                "name_zh": "某某实验室",
                "name_en": "Some lab",
                "supporting_institution": make_organisation(),
                "region_code": "320000",
            },
        )


def test_an_authority_sees_the_labs_of_its_region_in_its_list_and_queue(users, clients):
    from qslab.core.dashboard import queue_for

    js = make_lab("jiangsu-lab", status="under_rectification", region="320000")
    zj = make_lab("zhejiang-lab", status="under_rectification", region="330000")
    page = clients["authority"].get("/labs/jurisdiction/").content.decode()
    assert js.name_en in page and zj.name_en not in page
    labels = [item.label for item in queue_for(users["authority"])]
    assert any(js.name_en in label for label in labels)
    assert not any(zj.name_en in label for label in labels)


def test_the_directory_finds_a_lab_by_a_chinese_keyword_and_filters_by_parent_field(db, client):
    make_lab("robot-lab", name_zh="国家工业机器人质量标准实验室", fields=("robots",))
    make_lab("pv-lab", name_zh="国家光伏组件质量标准实验室", fields=("photovoltaics",), region="330000")
    page = client.get("/labs/", {"q": "机器人"}).content.decode()
    assert "国家工业机器人质量标准实验室" in page and "国家光伏组件质量标准实验室" not in page
    page = client.get("/labs/", {"field": "energy-electronics"}).content.decode()
    assert "国家光伏组件质量标准实验室" in page and "国家工业机器人质量标准实验室" not in page
    page = client.get("/labs/", {"region": "330000"}).content.decode()
    assert "国家光伏组件质量标准实验室" in page and "国家工业机器人质量标准实验室" not in page
    api = client.get("/api/labs/laboratories", {"q": "Quality robot-lab"}).json()
    assert [row["code"] for row in api["items"]] == ["robot-lab"]


def test_the_directory_exports_csv_and_xlsx_with_the_same_rows(db, client):
    make_lab("robot-lab", name_zh="国家工业机器人质量标准实验室")
    text = client.get("/labs/export/", {"format": "csv", "q": "机器人"}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    sheet = read_xlsx(client.get("/labs/export/", {"format": "xlsx", "q": "机器人"}).content)
    assert rows[1][:3] == [
        "robot-lab",
        "国家工业机器人质量标准实验室",
        "National robot-lab Quality Standards Laboratory",
    ]
    assert sheet[:2] == rows[:2]


def test_the_feed_and_the_detail_page_show_the_status_history_without_private_reasons(db, client):
    office = make_user("office")
    lab = make_lab("hist", status="named")
    services.move_laboratory(office, lab, "order_rectification", "secret finding")
    page = client.get(f"/labs/{lab.pk}/").content.decode()
    assert "under rectification" in page and "secret finding" not in page
    feed = client.get("/labs/feed/").content.decode()
    assert "under rectification" in feed and "secret finding" not in feed
    assert verified_client(office).get(f"/labs/{lab.pk}/").content.decode().count("secret finding") >= 1
