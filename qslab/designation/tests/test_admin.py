"""The admin pages of the designation app: superusers read every model; a few texts can be corrected
(and the correction is in the change log); nothing is added or deleted there, no workflow field moves, and
no one but a superuser sees the pages."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from qslab.core.models import ChangeRecord
from qslab.core.testing import make_user, verified_client
from qslab.designation import models

pytestmark = pytest.mark.django_db

DESIGNATION_MODELS = [m for m in admin.site._registry if m._meta.app_label == "designation"]


@pytest.fixture
def superuser():
    user = make_user(username="operator")
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return user


def _url(model, view, *args):
    return reverse(f"admin:designation_{model._meta.model_name}_{view}", args=args)


def test_every_designation_model_has_an_admin_page_or_is_shown_inline_on_one():
    concrete = {m for m in models.__dict__.values() if isinstance(m, type) and hasattr(m, "_meta")}
    concrete = {m for m in concrete if m._meta.app_label == "designation" and not m._meta.abstract}
    inline = {i.model for m in DESIGNATION_MODELS for i in admin.site._registry[m].inlines}
    assert concrete <= set(DESIGNATION_MODELS) | inline


def test_a_superuser_reads_every_list_and_record_but_adds_and_deletes_nothing(world, superuser):
    client = verified_client(superuser)
    for model in DESIGNATION_MODELS:
        assert client.get(_url(model, "changelist")).status_code == 200, model
        obj = model.objects.first()
        if obj is not None:
            assert client.get(_url(model, "change", obj.pk)).status_code == 200, model
            assert client.get(_url(model, "delete", obj.pk)).status_code == 403, model
        assert client.get(_url(model, "add")).status_code == 403, model


def test_a_superuser_corrects_a_call_s_title_but_not_its_status(world, superuser):
    call = world.call
    client = verified_client(superuser)
    response = client.post(
        _url(models.Call, "change", call.pk),
        {
            "title_zh": "更正后的申报指南",
            "title_en": call.title_en,
            "description_zh": "",
            "description_en": "",
            "status": "closed",
            "quorum": 99,
            # the inlines' management forms
            **{
                f"{p}-{k}": v
                for p in ("criteria", "templates")
                for k, v in {
                    "TOTAL_FORMS": 0,
                    "INITIAL_FORMS": 0,
                    "MIN_NUM_FORMS": 0,
                    "MAX_NUM_FORMS": 1000,
                }.items()
            },
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    call.refresh_from_db()
    assert (call.title_zh, call.status, call.quorum) == ("更正后的申报指南", "published", 1)
    change = ChangeRecord.objects.filter(content_type__model="call", object_id=str(call.pk)).latest("time")
    assert change.user == superuser and change.after["title_zh"] == "更正后的申报指南"


def test_the_office_and_other_staff_accounts_that_are_not_superusers_see_no_designation_admin(world):
    office = world.users["office"]
    office.is_staff = True
    office.save(update_fields=["is_staff"])
    client = verified_client(office)
    assert client.get(_url(models.Application, "changelist")).status_code == 403
    index = client.get(reverse("admin:index"))
    assert "designation" not in index.content.decode().lower()
