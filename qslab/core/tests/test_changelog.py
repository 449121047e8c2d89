"""Every change to a change-logged model leaves a record: who, when, which request, why, before/after."""

from django.test import Client

from qslab.accounts.models import Organisation
from qslab.core.context import acting_as
from qslab.core.models import ChangeRecord
from qslab.core.testing import make_organisation, make_user


def _records(obj):
    return ChangeRecord.objects.filter(object_id=str(obj.pk), content_type__model=obj._meta.model_name)


def test_creating_an_object_records_who_created_it_and_its_data(db):
    office = make_user("office")
    with acting_as(office, reason="registration", request_id="req123"):
        org = make_organisation(name_en="Alpha Institute")
    record = _records(org).get()
    assert record.action == "create"
    assert record.user == office and record.user_name == office.username
    assert record.request_id == "req123" and record.reason == "registration"
    assert record.before is None and record.after["name_en"] == "Alpha Institute"


def test_updating_records_before_and_after_and_only_changed_fields(db):
    org = make_organisation(name_en="Old name")
    loaded = Organisation.objects.get(pk=org.pk)
    loaded.name_en = "New name"
    loaded.save()
    record = _records(org).filter(action="update").get()
    assert record.before["name_en"] == "Old name" and record.after["name_en"] == "New name"
    assert record.changed_fields == ["name_en"]


def test_saving_without_changes_writes_no_record(db):
    org = make_organisation()
    loaded = Organisation.objects.get(pk=org.pk)
    loaded.save()
    assert not _records(org).filter(action="update").exists()


def test_deleting_records_the_last_state(db):
    org = Organisation.objects.get(pk=make_organisation(name_en="Gone").pk)
    pk = org.pk
    org.delete()
    record = ChangeRecord.objects.get(object_id=str(pk), action="delete", content_type__model="organisation")
    assert record.before["name_en"] == "Gone" and record.after is None


def test_api_changes_carry_the_request_id_and_the_token_user(db, world):
    from qslab.core.management.commands.load_demo import fake_uscc

    response = Client().post(
        "/api/accounts/organisations",
        data={
            "name_zh": "甲",
            "name_en": "A",
            "uscc": fake_uscc("req-id"),
            "kind": "enterprise",
            "region_code": "110000",
        },
        content_type="application/json",
        headers={"X-Request-ID": "abc123", "Authorization": f"Bearer {world.tokens['office']}"},
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == "abc123"
    record = ChangeRecord.objects.get(request_id="abc123")
    assert record.action == "create" and record.user == world.users["office"]
