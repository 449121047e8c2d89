"""The access matrix covers every URL pattern and every API operation: none can be forgotten."""

import importlib
import pkgutil

import qslab
from qslab.core.testing import api_operations, url_names


def _declared_targets() -> set[str]:
    targets = set()
    for module in pkgutil.iter_modules(qslab.__path__):
        try:
            access = importlib.import_module(f"qslab.{module.name}.tests.test_access")
        except ModuleNotFoundError:
            continue
        targets |= {case.target for case in access.CASES}
    return targets


def test_every_url_pattern_has_declared_access():
    missing = url_names() - _declared_targets()
    assert not missing, f"URL patterns without an access declaration: {sorted(missing)}"


def test_every_api_operation_has_declared_access():
    missing = {op for _path, _method, op in api_operations()} - _declared_targets()
    assert not missing, f"API operations without an access declaration: {sorted(missing)}"
