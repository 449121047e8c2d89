"""Every API schema has a name of its own: django-ninja files schemas in the OpenAPI components by class
name, so two apps' ``NoticeOut`` would silently describe one app's responses with the other's shape."""

import collections
import importlib
import pkgutil

from ninja import Schema

import qslab


def test_no_two_api_schemas_share_a_name():
    names = collections.defaultdict(list)
    for module_info in pkgutil.iter_modules(qslab.__path__):
        try:
            module = importlib.import_module(f"qslab.{module_info.name}.api")
        except ModuleNotFoundError:
            continue
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Schema) and value.__module__ == module.__name__:
                names[value.__name__].append(module.__name__)
    clashes = {name: modules for name, modules in names.items() if len(modules) > 1}
    assert not clashes, f"rename these schemas: {clashes}"
