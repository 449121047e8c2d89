"""A company (or the office for it) changes a product through the API with the checks of the product form:
the GTIN by its check digit (python-stdnum), the category by its code, one product per brand and model;
only the fields sent change; other companies' products are not theirs to change."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from qslab.accounts.models import ApiToken
from qslab.core.testing import make_user
from qslab.recalls.models import Product
from qslab.recalls.tests.conftest import grant_client, gtin, make_company, make_product

pytestmark = pytest.mark.django_db


def _client(user):
    return Client(headers={"Authorization": f"Bearer {ApiToken.issue(user, 'test')[1]}"})


def _patch(client, product, data):
    response = client.patch(
        f"/api/recalls/products/{product.pk}", data=json.dumps(data), content_type="application/json"
    )
    return response.status_code, response.json()


@pytest.fixture
def scene():
    company, other = make_company(), make_company()
    user = make_user("client")
    grant_client(user, company)
    return {
        "company": _client(user),
        "product": make_product(company),
        "twin": make_product(company, "690123450009", model="CX-TWIN"),
        "foreign": make_product(other, "690123450002"),
        "office": _client(make_user("office")),
    }


def test_the_company_changes_only_the_fields_it_sends_and_the_gtin_is_kept_compact(scene):
    product = scene["product"]
    new_gtin = gtin("690123451234")

    status, body = _patch(scene["company"], product, {"name_en": "Electric kettle", "gtin": f" {new_gtin} "})

    assert status == 200, body
    assert (body["name_en"], body["gtin"], body["name_zh"]) == ("Electric kettle", new_gtin, "电热水壶")
    product.refresh_from_db()
    assert (product.name_en, product.gtin, product.brand) == ("Electric kettle", new_gtin, "晨星（测试）")


def test_a_gtin_with_a_wrong_check_digit_is_refused_as_on_the_form_and_nothing_changes(scene):
    product = scene["product"]
    wrong = gtin("690123451234")[:-1] + str((int(gtin("690123451234")[-1]) + 1) % 10)

    status, body = _patch(scene["company"], product, {"gtin": wrong, "name_en": "Changed"})

    assert status == 422
    fields = {e["field"]: e["messages"] for e in body["errors"]}
    assert "check digit" in " ".join(fields["gtin"])
    product.refresh_from_db()
    assert product.name_en == "Kettle" and product.gtin != wrong


def test_a_second_product_with_the_same_brand_and_model_or_an_unknown_category_is_refused(scene):
    status, body = _patch(scene["company"], scene["twin"], {"model": scene["product"].model})
    assert status == 422, body
    status, body = _patch(scene["company"], scene["product"], {"category": "no-such-code"})
    assert status == 422 and body["errors"][0]["field"] == "category"
    scene["twin"].refresh_from_db()
    assert scene["twin"].model == "CX-TWIN"


def test_another_companys_product_is_not_found_and_the_office_may_change_any(scene):
    status, _body = _patch(scene["company"], scene["foreign"], {"name_en": "Mine now"})
    assert status == 404
    status, body = _patch(scene["office"], scene["foreign"], {"name_en": "Corrected by the office"})
    assert status == 200 and body["name_en"] == "Corrected by the office"
    assert Product.objects.get(pk=scene["foreign"].pk).company_id != scene["product"].company_id
