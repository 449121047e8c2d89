"""Input checks shared by the methods engine, with the exact messages users see."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class MethodInputError(ValueError):
    """Bad input to a method; the message names the argument and what is wrong with it."""


def as_1d(values: Sequence[float] | np.ndarray, name: str, min_length: int = 1) -> np.ndarray:
    """A finite 1-D float array with at least ``min_length`` values."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise MethodInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    if array.size < min_length:
        raise MethodInputError(f"{name} needs at least {min_length} values, got {array.size}")
    if not np.all(np.isfinite(array)):
        raise MethodInputError(f"{name} contains a missing or non-finite value")
    return array


def non_negative(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise MethodInputError(f"{name} must be a non-negative number, got {value!r}")
    return value


def positive(value: float, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise MethodInputError(f"{name} must be positive, got {value!r}")
    return value


def same_length(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise MethodInputError(f"{name_a} and {name_b} have unequal lengths ({len(a)} and {len(b)})")


def degrees_of_freedom(value: float, name: str = "degrees of freedom") -> float:
    """Degrees of freedom must be > 0; ``inf`` is allowed (a Type B input known exactly)."""
    value = float(value)
    if np.isnan(value) or value <= 0:
        raise MethodInputError(f"{name} must be > 0, got {value!r}")
    return value
