"""The temporal detectors by their R ``surveillance`` names, and R control lists read as R reads them.

``get_method("glrnb")`` returns the config class and detect function of a method; every config class
has ``from_r_control(control, freq, n_time)`` that takes R's own control names and values (as
``jsonlite::toJSON`` writes them: scalars boxed or not, ``NULL`` as ``{}`` or ``null``), fills omitted
keys with R's defaults and rejects unknown keys and bad values with a message naming the key.

>>> method = get_method("cusum")
>>> method.config_class.from_r_control({"range": [5, 6, 7], "k": 1, "trans": "rossi"}, 52, 7).range
(4, 5, 6)
>>> get_method("cusum").config_class.from_r_control({"kk": 1}, 52, 7)
Traceback (most recent call last):
...
qslab.surveillance.sts.SeriesError: unknown control key 'kk' for cusum (known: alpha, h, k, m, range, trans)
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from qslab.surveillance.sts import SeriesError

METHOD_NAMES = ("farrington", "farringtonFlexible", "glrnb", "cusum", "earsC")

# method -> (module, config class, detect function), imported on first use.
_METHODS = {
    "farrington": ("qslab.surveillance.detectors.farrington", "FarringtonConfig", "farrington"),
    "farringtonFlexible": (
        "qslab.surveillance.detectors.farrington",
        "FarringtonFlexibleConfig",
        "farrington_flexible",
    ),
    "glrnb": ("qslab.surveillance.detectors.glr", "GLRNBConfig", "glrnb"),
    "cusum": ("qslab.surveillance.detectors.cusum", "CusumConfig", "cusum"),
    "earsC": ("qslab.surveillance.detectors.ears", "EarsConfig", "ears_c"),
}


@dataclass(frozen=True)
class Method:
    """One detector: its R name, config class (with ``from_r_control``) and ``detect(series, config)``."""

    name: str
    config_class: Any
    detect: Callable[..., Any]


def get_method(name: str) -> Method:
    """The detector R calls ``name``; raises ``SeriesError`` for an unknown name."""
    if name not in _METHODS:
        raise SeriesError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}")
    module_name, config_name, function_name = _METHODS[name]
    module = importlib.import_module(module_name)
    return Method(name, getattr(module, config_name), getattr(module, function_name))


def _is_null(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == "NA"


def _unbox(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


class RControl:
    """Reads an R control list (a dict from JSON) key by key; each reader names the key in its errors."""

    def __init__(self, control: dict[str, Any] | None, method: str, known: Iterable[str]) -> None:
        if control is None:
            control = {}
        if not isinstance(control, dict):
            raise SeriesError(f"the control for {method} must be a JSON object of R control names")
        known = sorted(known)
        for key in control:
            if key not in known:
                raise SeriesError(f"unknown control key {key!r} for {method} (known: {', '.join(known)})")
        self.control = control
        self.method = method

    def has(self, key: str) -> bool:
        return key in self.control and not _is_null(self.control[key])

    def raw(self, key: str) -> Any:
        return self.control.get(key)

    def error(self, key: str, what: str) -> SeriesError:
        return SeriesError(f"control {key!r} for {self.method}: {what}, got {self.control.get(key)!r}")

    def number(
        self,
        key: str,
        default: float | None,
        *,
        integer: bool = False,
        minimum: float | None = None,
        above: float | None = None,
        maximum: float | None = None,
    ) -> Any:
        if not self.has(key):
            return default
        value = _unbox(self.control[key])
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(key, "must be a number")
        if integer and value != int(value):
            raise self.error(key, "must be an integer")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum:g}")
        if above is not None and not value > above:
            raise self.error(key, f"must be greater than {above:g}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum:g}")
        return int(value) if integer else float(value)

    def boolean(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        value = _unbox(self.control[key])
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        if not self.has(key):
            return default
        value = self.control[key]
        if isinstance(value, list) and list(value) == list(choices):
            return choices[0]  # R's match.arg on the full vector of choices takes the first
        value = _unbox(value)
        if not isinstance(value, str) or value not in choices:
            raise self.error(key, f"must be one of {', '.join(repr(c) for c in choices)}")
        return value

    def range(self, n_time: int, default: tuple[int, ...] | None = None, *, required: bool = False):
        """R's 1-based ``range`` as 0-based row indexes; every index must lie in 1..n_time."""
        if not self.has("range"):
            if required:
                raise SeriesError(f"control 'range' for {self.method} is required (R has no default)")
            return default
        value = self.control["range"]
        values = value if isinstance(value, list) else [value]
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
                raise self.error("range", "must be whole 1-based time indexes")
            if not 1 <= v <= n_time:
                raise SeriesError(
                    f"control 'range' for {self.method}: index {int(v)} is outside 1..{n_time} "
                    "(the series length)"
                )
            out.append(int(v) - 1)
        if not out:
            raise self.error("range", "must not be empty")
        return tuple(out)
