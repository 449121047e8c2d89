"""Project-wide pytest fixtures: where ``../shared`` lives, and Playwright on Debian chromium."""

from __future__ import annotations

import os
import shutil
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
