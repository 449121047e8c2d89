"""Project-wide pytest fixtures: where ``../shared`` lives, and Playwright on Debian chromium."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent
SHARED_DIR = Path(os.environ.get("QSLAB_SHARED_DIR", REPO_ROOT.parent / "shared"))
REFERENCE_DIR = SHARED_DIR / "reference"
DATA_DIR = SHARED_DIR / "data"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The published reference vectors (tests read them; engine code never does)."""
    if not REFERENCE_DIR.is_dir():
        pytest.fail(f"reference vectors not found at {REFERENCE_DIR}; set QSLAB_SHARED_DIR")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Real public data sets shipped beside the repository."""
    if not DATA_DIR.is_dir():
        pytest.fail(f"shared data not found at {DATA_DIR}; set QSLAB_SHARED_DIR")
    return DATA_DIR


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian package 'chromium' is not installed (.ci/run installs it)")
    return {**browser_type_launch_args, "executable_path": exe, "args": CHROMIUM_ARGS}


ENGINE_PATHS = ("qslab/methods/", "qslab/surveillance/", "docs/methods/", "docs/surveillance/", "bench/")


def pytest_collection_modifyitems(config, items):
    """Mark the engines' tests ``engine`` (they never touch the relational database) and transactional
    tests ``serial`` (``make test`` runs those in one process after the parallel run: with xdist workers
    the migrated reference data was not restored between them). ``QSLAB_SKIP_ENGINES=1`` leaves the
    engines out, for the second pass on PostgreSQL."""
    skip_engines = os.environ.get("QSLAB_SKIP_ENGINES") == "1"
    kept, dropped = [], []
    for item in items:
        path = item.path.relative_to(REPO_ROOT).as_posix() if item.path.is_relative_to(REPO_ROOT) else ""
        if path.startswith(ENGINE_PATHS):
            item.add_marker(pytest.mark.engine)
            if skip_engines:
                dropped.append(item)
                continue
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction"):
            item.add_marker(pytest.mark.serial)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# ------------------------------------------------------------------------------------------------
# Test hygiene: what one test changes must not leak into the next one run in the same process.


def _is_transactional(item: pytest.Item) -> bool:
    """As pytest-django decides: a ``django_db(transaction=True)`` marker, or a fixture that needs it."""
    marker = item.get_closest_marker("django_db")
    if marker is not None and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")):
        return True
    fixtures = getattr(item, "fixturenames", ())
    return any(name in fixtures for name in ("transactional_db", "live_server", "django_db_reset_sequences"))


def _restores_itself(item: pytest.Item | None) -> bool:
    """A transactional test with ``serialized_rollback`` reloads the migrated data when it starts."""
    if item is None or not _is_transactional(item):
        return False
    marker = item.get_closest_marker("django_db")
    return bool(marker is not None and marker.kwargs.get("serialized_rollback")) or (
        "django_db_serialized_rollback" in getattr(item, "fixturenames", ())
    )


def restore_migrated_data(config: pytest.Config, *, reload: bool = True) -> list[str]:
    """Put the test database back as the migrations left it; returns the aliases restored.

    A transactional test ends by flushing every table, so the rows the data migrations wrote (document
    kinds, the risk matrix, taxonomies, content types...) are gone for whatever runs next. The contents
    Django serialized when it created the test database (``serialized_rollback`` needs them; every
    transactional test here asks for it, so they exist) are loaded again after a flush that does not run
    ``post_migrate`` (its content types would clash with the serialized ones). With ``reload=False`` the
    tables are only emptied, for a next test that loads the contents itself.
    """
    from django.core.management import call_command
    from django.db import connections
    from pytest_django.plugin import blocking_manager_key

    restored = []
    with config.stash[blocking_manager_key].unblock():
        for alias in connections:
            connection = connections[alias]
            contents = getattr(connection, "_test_serialized_contents", None)
            if not contents:
                continue
            call_command("flush", verbosity=0, interactive=False, database=alias, inhibit_post_migrate=True)
            if reload:
                connection.creation.deserialize_db_from_string(contents)
            restored.append(alias)
    return restored


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """After a transactional test (its teardown flushed the tables), load the migrated reference data
    again, so a test run after it in the same process — a transactional test without
    ``serialized_rollback``, a test that opens the database itself, ``make test``'s serial pass — finds
    the data every fresh test database has. When the next test reloads it itself, the tables only need
    to be empty: a test without ``serialized_rollback`` ends with a flush that runs ``post_migrate``,
    whose new content types (new ids on PostgreSQL, whose sequences go on counting) would clash with the
    serialized ones the next test loads."""
    result = yield
    if item.config.pluginmanager.has_plugin("django") and _is_transactional(item) and nextitem is not None:
        if not _restores_itself(nextitem):
            restore_migrated_data(item.config)
        elif not _restores_itself(item):
            restore_migrated_data(item.config, reload=False)
    return result


@pytest.fixture(autouse=True)
def _empty_cache():  # type: ignore[no-untyped-def]
    """Counts kept in the cache (the public forms' rate limits) start from nothing in every test."""
    if "django" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.core.cache import caches

            for cache in caches.all():
                cache.clear()
    yield


@pytest.fixture(autouse=True)
def _reset_language():  # type: ignore[no-untyped-def]
    """A request in Chinese (LocaleMiddleware) leaves Chinese active in the thread: every test ends with
    the default language active again, so the next one does not depend on which ran before it."""
    yield
    if "django" in sys.modules:
        from django.conf import settings

        if settings.configured:
            from django.utils import translation

            translation.deactivate()
