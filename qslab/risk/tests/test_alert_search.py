"""Consumer-alert search is full text (SQLite FTS5 / PostgreSQL, as patterns and reports), over public
fields only, best match first; drafts are found by staff only."""

from __future__ import annotations

import pytest

from qslab.risk import services
from qslab.risk.tests.conftest import SECRETS, alert_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def alerts(users, terms):
    t = {**terms, "thermal_hazard": terms["thermal"]}
    analyst, office = users["analyst"], users["office"]

    def publish(**extra):
        alert = services.save_alert(analyst, alert_data(t, **extra))
        services.move_alert(analyst, alert, "submit")
        return services.move_alert(office, alert, "approve")

    kettle = publish()
    heater = publish(
        title_zh="暖风机过热起火",
        title_en="Fan heater overheats and catches fire",
        product_name_zh="暖风机",
        product_name_en="Fan heater",
        hazard_description_en="The thermostat fails; the housing overheats and the heater catches fire.",
        hazard_description_zh="温控器失效，外壳过热起火。",
        brand="暖阳",
    )
    draft = services.save_alert(analyst, alert_data(t, title_en="Draft about toasters", title_zh="烤面包机"))
    return {"kettle": kettle, "heater": heater, "draft": draft}


def test_words_in_either_language_find_the_alert_and_every_word_must_match(alerts):
    assert list(services.search_alerts(None, "thermostat")) == [alerts["heater"]]
    assert list(services.search_alerts(None, "温控器失效")) == [alerts["heater"]]
    assert list(services.search_alerts(None, "heater 起火")) == [alerts["heater"]]
    assert list(services.search_alerts(None, "开水")) == [alerts["kettle"]]  # two characters
    assert list(services.search_alerts(None, "thermostat 开水")) == []


def test_the_best_match_comes_first(alerts, users, terms):
    # the heater names the fire in its title and its hazard; a later alert only once, in its advice
    later = services.save_alert(
        users["analyst"],
        alert_data(
            {**terms, "thermal_hazard": terms["thermal"]},
            title_en="Kettle base",
            advice_en="Keep away from fire sources.",
        ),
    )
    found = list(services.search_alerts(users["analyst"], "fire"))
    assert [a.reference for a in found] == [alerts["heater"].reference, later.reference]


def test_confidential_fields_are_never_searched_not_even_by_staff(alerts, users):
    for value in SECRETS.values():
        word = value.split()[0]
        assert list(services.search_alerts(None, word)) == []
        assert list(services.search_alerts(users["office"], word)) == []


def test_drafts_are_found_by_staff_only(alerts, users):
    assert list(services.search_alerts(None, "toasters")) == []
    assert list(services.search_alerts(users["client"], "烤面包机")) == []
    assert list(services.search_alerts(users["analyst"], "toasters")) == [alerts["draft"]]


def test_a_public_follow_up_is_searchable_and_an_edit_reindexes(alerts, users):
    services.add_alert_update(users["analyst"], alerts["kettle"], {"text_en": "Batch 2026-02Z added."})
    services.add_alert_update(
        users["analyst"], alerts["kettle"], {"text_en": "internalonly remark", "is_public": False}
    )
    assert list(services.search_alerts(None, "2026-02Z")) == [alerts["kettle"]]
    assert list(services.search_alerts(users["office"], "internalonly")) == []
    services.save_alert(users["analyst"], {"title_en": "Toaster crumb tray ignites"}, alerts["draft"])
    assert list(services.search_alerts(users["analyst"], "crumb")) == [alerts["draft"]]


def test_the_page_and_the_api_use_the_full_text_search(alerts, client):
    page = client.get("/risk/alerts/", {"q": "thermostat"}).content.decode()
    assert alerts["heater"].reference in page and alerts["kettle"].reference not in page
    api = client.get("/api/risk/alerts", {"q": "温控器"}).json()
    assert [a["reference"] for a in api["items"]] == [alerts["heater"].reference]
