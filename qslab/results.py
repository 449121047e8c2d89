"""Shared behaviour of the engines' result objects.

Engine results are frozen dataclasses with named fields. This mixin gives them a JSON-ready
``to_dict()`` (numpy arrays and scalars become lists and floats, nested results recurse) so every
result can be stored by the apps or printed by the CLI the same way. It imports nothing from Django.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np


def to_plain(value: Any) -> Any:
    """Convert numpy values, dataclasses and containers to JSON-ready Python values.

    Non-finite floats become ``None`` is *not* done here: callers that need strict JSON decide.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def json_safe(value: Any) -> Any:
    """Like :func:`to_plain` but with NaN and infinities as ``None`` (strict JSON)."""
    plain = to_plain(value)
    return _replace_nonfinite(plain)


def _replace_nonfinite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _replace_nonfinite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_nonfinite(v) for v in value]
    return value


class ResultMixin:
    """Mixin for frozen result dataclasses: ``to_dict()`` and a plain-text ``summary()``."""

    def to_dict(self) -> dict[str, Any]:
        plain = to_plain(self)
        assert isinstance(plain, dict)
        return plain

    def summary(self) -> str:  # pragma: no cover - every result overrides this
        raise NotImplementedError
