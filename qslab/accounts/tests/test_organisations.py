"""Organisations are validated: Unified Social Credit Code checksum and GB/T 2260 region."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from qslab.accounts.services import create_organisation
from qslab.core.management.commands.load_demo import fake_uscc


def _data(**kw):
    return {
        "name_zh": "某研究院",
        "name_en": "Some Institute",
        "uscc": fake_uscc("org"),
        "kind": "research",
        "region_code": "440000",
        **kw,
    }


def test_office_registers_an_organisation(users):
    org = create_organisation(users["office"], _data())
    assert org.pk and org.region_label == "Guangdong"


def test_a_bad_check_character_is_refused_naming_the_code(users):
    good = fake_uscc("org")
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(ValidationError) as err:
        create_organisation(users["office"], _data(uscc=bad))
    assert "uscc" in err.value.message_dict and bad in err.value.message_dict["uscc"][0]


def test_an_unknown_region_is_refused(users):
    with pytest.raises(ValidationError) as err:
        create_organisation(users["office"], _data(region_code="990000"))
    assert "region_code" in err.value.message_dict


def test_only_the_office_registers_organisations(users):
    with pytest.raises(PermissionDenied):
        create_organisation(users["authority"], _data())


def test_api_reports_all_field_errors_at_once(world):
    from django.test import Client

    response = Client().post(
        "/api/accounts/organisations",
        data={
            "name_zh": "x",
            "name_en": "y",
            "uscc": "91320000ABCDEFGHIJ",
            "kind": "research",
            "region_code": "990000",
        },
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.tokens['office']}"},
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"uscc", "region_code"} <= fields
