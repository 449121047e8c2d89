"""The import-linter contract that keeps Django out of the engines names every platform app."""

import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[3]


def test_every_platform_app_is_forbidden_to_the_engines():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(
        c
        for c in config["tool"]["importlinter"]["contracts"]
        if c["source_modules"] == ["qslab.methods", "qslab.surveillance"]
    )
    platform_apps = {a.name for a in apps.get_app_configs() if a.name.startswith("qslab.")}
    assert platform_apps <= set(contract["forbidden_modules"]), platform_apps - set(
        contract["forbidden_modules"]
    )
    assert "django" in contract["forbidden_modules"]
