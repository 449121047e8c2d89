"""The suite's own hygiene (root ``conftest.py``): a test run after a transactional one finds the migrated
reference data, and no test leaves another language active.

The four tests run in this order (pytest-django runs database tests, then transactional ones in file
order, then tests that declare no database): the first flushes every table as transactional tests do; the
second is transactional *without* ``serialized_rollback`` (like a ``live_server`` test), so nothing but the
root conftest's restore puts the data back for it; the third loads the data itself after a test
without ``serialized_rollback``; the fourth opens the database itself after them.
"""

from __future__ import annotations

import pytest
from django.utils import translation

REFERENCE = (
    ("core", "DocumentKind"),  # document kinds (core and each app's numbered documents)
    ("risk", "RiskMatrix"),  # the risk matrix with its severities
    ("labs", "KeyField"),  # the key-field taxonomy
    ("labs", "Region"),  # GB/T 2260 regions
)


def _reference_counts() -> dict[str, int]:
    from django.apps import apps

    return {f"{app}.{model}": apps.get_model(app, model).objects.count() for app, model in REFERENCE}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_1_a_transactional_test_flushes_every_table_when_it_ends(request):
    counts = _reference_counts()
    assert all(counts.values()), counts  # the migrations' data, reloaded for this test
    request.config.stash.setdefault(_SEEN, counts)


@pytest.mark.django_db(transaction=True)
def test_2_a_transactional_test_without_serialized_rollback_still_finds_the_reference_data(request):
    assert _reference_counts() == request.config.stash[_SEEN]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_2b_a_transactional_test_with_serialized_rollback_after_one_without_loads_its_data(request):
    """The flush that ended test 2 ran ``post_migrate``; its content types must not clash with the ones
    this test loads (they did on PostgreSQL)."""
    assert _reference_counts() == request.config.stash[_SEEN]


def test_3_a_test_opening_the_database_after_them_finds_it_too(request, django_db_blocker):
    with django_db_blocker.unblock():
        counts = _reference_counts()
    assert all(counts.values()), counts
    # (``make test`` runs the two above in its serial pass, without this one: then there is nothing to
    # compare with)
    assert counts == request.config.stash.get(_SEEN, counts)


def test_a_chinese_request_does_not_leave_chinese_active_for_the_next_test(client, db):
    client.get("/", headers={"accept-language": "zh-hans"})
    assert translation.get_language() == "zh-hans"  # the middleware left it active in this thread


def test_the_next_test_starts_in_the_default_language(settings):
    assert translation.get_language() == settings.LANGUAGE_CODE


_SEEN = pytest.StashKey[dict]()
