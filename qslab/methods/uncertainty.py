"""Evaluation of measurement uncertainty by the GUM uncertainty framework (JCGM 100:2008).

Input quantities are labelled estimates with a standard uncertainty and degrees of freedom:

* Type A (JCGM 100 4.2): :func:`type_a` from repeated observations (mean, experimental standard
  deviation of the mean, ``n - 1`` degrees of freedom, or a pooled standard deviation, 4.2.4 and H.1.3.1);
  :func:`pooled_sd` pools several series (4.2.8).
* Type B (JCGM 100 4.3): :func:`normal` (also from an expanded uncertainty and ``k`` or a coverage
  level, 4.3.3 to 4.3.5), :func:`rectangular` (4.3.7), :func:`triangular` (4.3.9), :func:`arcsine`
  (U-shaped), :func:`trapezoidal` (4.3.9), :func:`student_t` (a scaled and shifted t, JCGM 101 6.4.9),
  and :func:`combined` for an input whose uncertainty has several components (as ``d`` in H.1).

:func:`propagate` applies the law of propagation of uncertainty (JCGM 100 5.1.2, 5.2.2 for
correlated inputs, optionally with the second-order terms of the 5.1.2 note) to a model given as a safe
expression string (analytic sensitivity coefficients), a mapping of several outputs, or a Python
callable (sensitivities from a supplied gradient, else numerical central differences, 5.1.3 note 2).
The result carries Welch-Satterthwaite effective degrees of freedom (G.4.1), coverage factor from the
t-distribution (G.3), expanded uncertainty (6.2), the output covariance and correlation, and
:meth:`GUFResult.budget` gives the uncertainty budget table.

GUM H.1 (end-gauge calibration), with the standard uncertainties of Table H.1:

>>> inputs = [
...     normal("l_s", 50_000_623, U=75, k=3, dof=18),
...     combined("d", 215, [student_t("dbar", 0, 5.8, 24), normal("d1", 0, 3.9, dof=5),
...                          normal("d2", 0, 6.7, dof=8)]),
...     rectangular("alpha_s", 11.5e-6, u=1.2e-6),
...     combined("theta", -0.1, [normal("theta_bar", 0, 0.2), arcsine("Delta", 0, half_width=0.5)]),
...     rectangular("delta_alpha", 0, u=0.58e-6, dof=50),
...     rectangular("delta_theta", 0, u=0.029, dof=2),
... ]
>>> r = propagate("l_s + d - l_s*(delta_alpha*theta + alpha_s*delta_theta)", inputs, level=0.99, output="l")
>>> print(f"{r.y:.0f} {r.u_c:.1f} {r.nu_eff:.1f} {r.k:.2f} {r.U:.1f}")
50000838 31.7 16.6 2.92 92.6
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
from scipy import stats

from qslab.methods._validate import MethodInputError, as_1d
from qslab.methods.expression import Expression, parse_model
from qslab.results import ResultMixin

__all__ = [
    "Budget",
    "BudgetRow",
    "GUFResult",
    "InputQuantity",
    "MeasurementModel",
    "OutputEstimate",
    "PooledSD",
    "arcsine",
    "combined",
    "correlation_matrix",
    "coverage_factor",
    "dof_from_relative_uncertainty",
    "format_value",
    "normal",
    "pooled_sd",
    "propagate",
    "rectangular",
    "student_t",
    "trapezoidal",
    "triangular",
    "type_a",
    "u_shaped",
    "welch_satterthwaite",
]

INF = math.inf
DISTRIBUTIONS = ("normal", "t", "rectangular", "triangular", "arcsine", "trapezoidal", "combined")


# ---------------------------------------------------------------------------------------------------
# Input quantities
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputQuantity(ResultMixin):
    """A labelled input estimate ``x`` with standard uncertainty ``u`` and degrees of freedom ``dof``
    (JCGM 100 4.1.4-4.1.6; ``dof = inf`` for an exactly known Type B uncertainty).

    ``distribution`` and ``params`` describe the probability distribution assigned to the input, used
    by the Monte Carlo method (JCGM 101 6.4): ``half_width`` for rectangular, triangular, arcsine and
    trapezoidal (with ``beta``), ``scale`` for ``t``. ``components`` holds the parts of a
    :func:`combined` input. Build one with the constructors of this module rather than directly.
    """

    label: str
    x: float
    u: float
    dof: float = INF
    distribution: str = "normal"
    params: tuple[tuple[str, float], ...] = ()
    components: tuple[InputQuantity, ...] = ()
    kind: str = "B"
    unit: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label:
            raise MethodInputError("an input quantity needs a non-empty label")
        x = float(self.x)
        if not math.isfinite(x):
            raise MethodInputError(f"estimate of {self.label!r} must be a finite number, got {self.x!r}")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "u", _check_u(self.u, self.label))
        object.__setattr__(self, "dof", _check_dof(self.dof, self.label))
        if self.distribution not in DISTRIBUTIONS:
            raise MethodInputError(
                f"distribution of {self.label!r} must be one of {', '.join(DISTRIBUTIONS)}, "
                f"got {self.distribution!r}"
            )

    def param(self, name: str) -> float:
        return dict(self.params)[name]

    def summary(self) -> str:
        dof = "inf" if math.isinf(self.dof) else f"{self.dof:.3g}"
        return (
            f"{self.label} = {self.x:.10g}, u = {self.u:.3g}, dof = {dof} "
            f"({self.distribution}, Type {self.kind})"
        )


def _check_u(value: Any, label: str) -> float:
    try:
        u = float(value)
    except (TypeError, ValueError):
        raise MethodInputError(f"standard uncertainty of {label!r} must be a number, got {value!r}") from None
    if not math.isfinite(u) or u < 0:
        raise MethodInputError(f"standard uncertainty of {label!r} must be a non-negative number, got {u!r}")
    return u


def _check_dof(value: Any, label: str) -> float:
    try:
        dof = float(value)
    except (TypeError, ValueError):
        raise MethodInputError(f"degrees of freedom of {label!r} must be a number, got {value!r}") from None
    if math.isnan(dof) or dof <= 0:
        raise MethodInputError(f"degrees of freedom of {label!r} must be > 0, got {dof!r}")
    return dof


def _check_width(value: Any, what: str, label: str) -> float:
    try:
        width = float(value)
    except (TypeError, ValueError):
        raise MethodInputError(f"{what} of {label!r} must be a number, got {value!r}") from None
    if not math.isfinite(width) or width < 0:
        raise MethodInputError(f"{what} of {label!r} must be a non-negative number, got {width!r}")
    return width


def _one_of(label: str, **given: Any) -> tuple[str, Any]:
    present = [(k, v) for k, v in given.items() if v is not None]
    if len(present) != 1:
        names = " or ".join(given)
        raise MethodInputError(f"give exactly one of {names} for {label!r}")
    return present[0]


@dataclass(frozen=True)
class PooledSD(ResultMixin):
    """Pooled experimental standard deviation ``s_p`` of several series and its degrees of freedom
    (JCGM 100 4.2.8, H.3.6)."""

    sd: float
    dof: int

    def summary(self) -> str:
        return f"pooled s = {self.sd:.4g} with {self.dof} degrees of freedom"


def pooled_sd(groups: Sequence[Sequence[float]]) -> PooledSD:
    """Pool the experimental variances of several series of observations (JCGM 100 4.2.8):
    ``s_p^2 = sum (n_i - 1) s_i^2 / sum (n_i - 1)`` with ``sum (n_i - 1)`` degrees of freedom.

    >>> pooled_sd([[1.0, 2.0, 3.0], [2.0, 4.0]]).summary()
    'pooled s = 1.155 with 3 degrees of freedom'
    """
    if len(groups) == 0:
        raise MethodInputError("groups needs at least one series")
    ss = 0.0
    dof = 0
    for i, group in enumerate(groups):
        values = as_1d(group, f"group {i}")
        if values.size < 2:
            raise MethodInputError(f"group {i} has fewer than two replicates ({values.size})")
        ss += float(np.sum((values - values.mean()) ** 2))
        dof += values.size - 1
    return PooledSD(sd=math.sqrt(ss / dof), dof=dof)


def type_a(
    label: str,
    data: Sequence[float],
    *,
    pooled: PooledSD | None = None,
    pooled_sd: float | None = None,
    pooled_dof: float | None = None,
    unit: str = "",
) -> InputQuantity:
    """Type A evaluation (JCGM 100 4.2): the arithmetic mean of ``n`` observations, the experimental
    standard deviation of the mean ``s/sqrt(n)`` and ``n - 1`` degrees of freedom (4.2.2-4.2.3, 4.2.6).

    With a pooled standard deviation (``pooled`` or ``pooled_sd`` and ``pooled_dof``) the uncertainty is
    ``s_p/sqrt(n)`` with the pooled degrees of freedom (4.2.4, H.1.3.1). The Monte Carlo method samples
    a scaled and shifted t-distribution (JCGM 101 6.4.9).

    >>> q = type_a("V", [10.0, 10.2, 9.9, 10.1])
    >>> round(q.x, 3), round(q.u, 4), q.dof
    (10.05, 0.0645, 3.0)
    """
    values = as_1d(data, f"observations of {label!r}")
    n = values.size
    if pooled is not None:
        if pooled_sd is not None or pooled_dof is not None:
            raise MethodInputError(f"give either pooled or pooled_sd and pooled_dof for {label!r}, not both")
        pooled_sd, pooled_dof = pooled.sd, pooled.dof
    if pooled_sd is not None or pooled_dof is not None:
        if pooled_sd is None or pooled_dof is None:
            raise MethodInputError(f"pooled_sd and pooled_dof go together for {label!r}")
        s = _check_u(pooled_sd, label)
        dof = pooled_dof
    else:
        if n < 2:
            raise MethodInputError(f"observations of {label!r} has fewer than two replicates ({n})")
        s = float(np.std(values, ddof=1))
        dof = n - 1
    u = s / math.sqrt(n)
    return InputQuantity(label, float(values.mean()), u, dof, "t", (("scale", u),), kind="A", unit=unit)


def normal(
    label: str,
    x: float,
    u: float | None = None,
    *,
    U: float | None = None,
    k: float | None = None,
    level: float | None = None,
    dof: float = INF,
    unit: str = "",
) -> InputQuantity:
    """A Gaussian input (JCGM 100 4.3.3-4.3.5, JCGM 101 6.4.7) with standard uncertainty ``u``, or an
    expanded uncertainty ``U`` with its coverage factor ``k`` (``u = U/k``, 4.3.3) or its coverage
    ``level`` (``k`` from the normal distribution, or the t-distribution when ``dof`` is finite, 4.3.4).

    >>> normal("l_s", 50_000_623, U=75, k=3, dof=18).u
    25.0
    >>> round(normal("R", 10.0, U=0.129, level=0.99).u, 4)
    0.0501
    """
    if u is not None:
        if U is not None or k is not None or level is not None:
            raise MethodInputError(f"give u, or U with k or level, for {label!r}, not both")
        return InputQuantity(label, x, u, dof, "normal", unit=unit)
    if U is None:
        raise MethodInputError(f"give u, or U with k or level, for {label!r}")
    U = _check_u(U, label)
    name, value = _one_of(label, k=k, level=level)
    if name == "k":
        factor = float(value)
        if not math.isfinite(factor) or factor <= 0:
            raise MethodInputError(f"coverage factor k of {label!r} must be positive, got {value!r}")
    else:
        factor = coverage_factor(value, dof)
    return InputQuantity(label, x, U / factor, dof, "normal", unit=unit)


def student_t(label: str, x: float, scale: float, dof: float, *, unit: str = "") -> InputQuantity:
    """A scaled and shifted t-distribution ``t_nu(x, scale^2)`` (JCGM 101 6.4.9): the GUM framework uses
    ``u = scale`` with ``dof`` degrees of freedom, as for a Type A mean with ``scale = s/sqrt(n)``."""
    u = _check_u(scale, label)
    return InputQuantity(label, x, u, dof, "t", (("scale", u),), kind="A", unit=unit)


def rectangular(
    label: str,
    x: float | None = None,
    *,
    half_width: float | None = None,
    low: float | None = None,
    high: float | None = None,
    u: float | None = None,
    dof: float = INF,
    unit: str = "",
) -> InputQuantity:
    """A rectangular (uniform) distribution of half-width ``a`` about ``x``, ``u = a/sqrt(3)``
    (JCGM 100 4.3.7, JCGM 101 6.4.2). Give ``half_width`` or ``u`` with ``x``, or ``low`` and ``high``.

    >>> q = rectangular("P", low=0.9998, high=1.0)
    >>> round(q.x, 4), round(q.u, 8)
    (0.9999, 5.774e-05)
    """
    if low is not None or high is not None:
        if low is None or high is None or x is not None or half_width is not None or u is not None:
            raise MethodInputError(f"give low and high, or x with half_width or u, for {label!r}")
        low, high = float(low), float(high)
        if not high >= low:
            raise MethodInputError(f"high of {label!r} must not be below low ({high!r} < {low!r})")
        x, a = (low + high) / 2, (high - low) / 2
    else:
        if x is None:
            raise MethodInputError(f"give low and high, or x with half_width or u, for {label!r}")
        name, value = _one_of(label, half_width=half_width, u=u)
        a = _check_width(value, "half-width" if name == "half_width" else "standard uncertainty", label)
        if name == "u":
            a *= math.sqrt(3.0)
    return InputQuantity(label, x, a / math.sqrt(3.0), dof, "rectangular", (("half_width", a),), unit=unit)


def triangular(
    label: str,
    x: float,
    *,
    half_width: float | None = None,
    u: float | None = None,
    dof: float = INF,
    unit: str = "",
) -> InputQuantity:
    """A symmetric triangular distribution of half-width ``a`` about ``x``, ``u = a/sqrt(6)``
    (JCGM 100 4.3.9, JCGM 101 6.4.5)."""
    name, value = _one_of(label, half_width=half_width, u=u)
    a = _check_width(value, "half-width" if name == "half_width" else "standard uncertainty", label)
    if name == "u":
        a *= math.sqrt(6.0)
    return InputQuantity(label, x, a / math.sqrt(6.0), dof, "triangular", (("half_width", a),), unit=unit)


def arcsine(
    label: str,
    x: float,
    *,
    half_width: float | None = None,
    u: float | None = None,
    dof: float = INF,
    unit: str = "",
) -> InputQuantity:
    """A U-shaped (arcsine) distribution of half-width ``a`` about ``x``, ``u = a/sqrt(2)`` (JCGM 101 6.4.6;
    the cyclic temperature variation of GUM H.1.3.2)."""
    name, value = _one_of(label, half_width=half_width, u=u)
    a = _check_width(value, "half-width" if name == "half_width" else "standard uncertainty", label)
    if name == "u":
        a *= math.sqrt(2.0)
    return InputQuantity(label, x, a / math.sqrt(2.0), dof, "arcsine", (("half_width", a),), unit=unit)


u_shaped = arcsine


def trapezoidal(
    label: str, x: float, *, half_width: float, beta: float, dof: float = INF, unit: str = ""
) -> InputQuantity:
    """A symmetric trapezoidal distribution of half-width ``a`` whose top has half-width ``beta*a``:
    ``u^2 = a^2 (1 + beta^2)/6`` (JCGM 100 4.3.9, JCGM 101 6.4.4). ``beta = 0`` is triangular,
    ``beta = 1`` rectangular."""
    a = _check_width(half_width, "half-width", label)
    beta = float(beta)
    if not 0.0 <= beta <= 1.0:
        raise MethodInputError(f"beta of {label!r} must be between 0 and 1, got {beta!r}")
    u = a * math.sqrt((1 + beta**2) / 6.0)
    return InputQuantity(label, x, u, dof, "trapezoidal", (("half_width", a), ("beta", beta)), unit=unit)


def combined(label: str, x: float, components: Sequence[InputQuantity], *, unit: str = "") -> InputQuantity:
    """An input whose standard uncertainty has several independent components (JCGM 100 H.1.3.2,
    H.1.3.4): ``u^2 = sum u_j^2`` and the degrees of freedom by Welch-Satterthwaite (G.4.1).

    The components' own estimates are ignored (they are deviations about ``x``); the Monte Carlo
    method adds a draw from each component's distribution, centred on zero, to ``x``.

    >>> d = combined("d", 215, [student_t("dbar", 0, 5.8, 24), normal("d1", 0, 3.9, dof=5),
    ...                         normal("d2", 0, 6.7, dof=8)])
    >>> round(d.u, 2), round(d.dof, 1)
    (9.68, 25.4)
    """
    parts = tuple(components)
    if not parts:
        raise MethodInputError(f"components of {label!r} needs at least one component")
    for part in parts:
        if not isinstance(part, InputQuantity):
            raise MethodInputError(f"components of {label!r} must be input quantities")
    us = np.array([p.u for p in parts])
    u = float(np.sqrt(np.sum(us**2)))
    dof = welch_satterthwaite(us, [p.dof for p in parts], u_c=u)
    return InputQuantity(
        label, x, u, dof, "combined", (), parts, kind="A+B" if len(parts) > 1 else parts[0].kind, unit=unit
    )


def dof_from_relative_uncertainty(relative_uncertainty: float) -> float:
    """Degrees of freedom of a Type B standard uncertainty whose relative uncertainty is
    ``Delta u / u`` (JCGM 100 G.4.2, eq. G.3): ``nu ~ (1/2) (Delta u/u)^-2``.

    >>> dof_from_relative_uncertainty(0.1)
    50.0
    """
    r = float(relative_uncertainty)
    if not math.isfinite(r) or r <= 0:
        raise MethodInputError(f"relative uncertainty of u must be positive, got {relative_uncertainty!r}")
    return round(0.5 / r**2, 10)


# ---------------------------------------------------------------------------------------------------
# Degrees of freedom and coverage
# ---------------------------------------------------------------------------------------------------
def welch_satterthwaite(
    contributions: Sequence[float] | np.ndarray, dofs: Sequence[float] | np.ndarray, u_c: float | None = None
) -> float:
    """Effective degrees of freedom (JCGM 100 G.4.1, eq. G.2b):
    ``nu_eff = u_c^4 / sum (u_i(y)^4 / nu_i)`` with ``u_i(y) = |c_i| u(x_i)``.

    ``u_c`` defaults to the root sum of squares of the contributions; terms with infinite ``nu_i``
    add nothing to the denominator, and if all are infinite ``nu_eff`` is infinite.

    >>> round(welch_satterthwaite([0.57, 0.25], [9, math.inf]), 2)
    12.8
    """
    c = np.abs(np.asarray(contributions, dtype=float))
    nu = np.asarray(dofs, dtype=float)
    if c.shape != nu.shape:
        raise MethodInputError(f"contributions and dofs have unequal lengths ({c.size} and {nu.size})")
    if np.any(np.isnan(nu) | (nu <= 0)):
        raise MethodInputError("degrees of freedom must be > 0")
    if u_c is None:
        u_c = float(np.sqrt(np.sum(c**2)))
    finite = np.isfinite(nu) & (c > 0)
    denominator = float(np.sum(c[finite] ** 4 / nu[finite]))
    if denominator == 0.0:
        return INF
    return float(u_c) ** 4 / denominator


def coverage_factor(level: float = 0.95, dof: float = INF, *, truncate: bool = False) -> float:
    """Coverage factor ``k_p = t_p(nu)`` for a coverage probability ``level`` (JCGM 100 G.3.2, 6.3.3):
    the two-sided quantile of Student's t with ``dof`` degrees of freedom, or of the normal
    distribution when ``dof`` is infinite. ``truncate`` takes the next lower integer of ``dof`` first,
    as JCGM 100 G.4.1 allows (and Annex H does).

    >>> round(coverage_factor(0.99, 16.7, truncate=True), 2)
    2.92
    >>> round(coverage_factor(0.95), 3)
    1.96
    """
    p = float(level)
    if not 0.0 < p < 1.0:
        raise MethodInputError(f"coverage level must be between 0 and 1 (exclusive), got {level!r}")
    nu = float(dof)
    if math.isnan(nu) or nu <= 0:
        raise MethodInputError(f"degrees of freedom must be > 0, got {dof!r}")
    if truncate and math.isfinite(nu):
        nu = max(math.floor(nu), 1)
    q = (1.0 + p) / 2.0
    return float(stats.norm.ppf(q)) if math.isinf(nu) else float(stats.t.ppf(q, nu))


def format_value(y: float, u: float, digits: int = 2) -> tuple[str, str]:
    """``y`` and ``u`` as text, ``u`` rounded to ``digits`` significant digits and ``y`` to the same
    decimal place (JCGM 100 7.2.6).

    >>> format_value(50000838.05, 31.7051)
    ('50000838', '32')
    >>> format_value(-0.1494, 0.00412)
    ('-0.1494', '0.0041')
    """
    if not math.isfinite(u) or u <= 0 or not math.isfinite(y):
        return f"{y:.10g}", f"{u:.3g}"
    exponent = math.floor(math.log10(u)) - digits + 1
    if round(u / 10**exponent) >= 10**digits:
        exponent += 1
    decimals = max(-exponent, 0)
    return f"{round(y, -exponent):.{decimals}f}", f"{round(u, -exponent):.{decimals}f}"


def correlation_matrix(
    labels: Sequence[str], correlations: Mapping[tuple[str, str], float] | np.ndarray | None
) -> np.ndarray:
    """The input correlation matrix ``r(x_i, x_j)`` (JCGM 100 5.2.2) from a mapping of label pairs to
    coefficients or a full matrix, checked to be symmetric, within [-1, 1] and positive semi-definite."""
    n = len(labels)
    R = np.eye(n)
    if correlations is None:
        return R
    if isinstance(correlations, Mapping):
        index = {label: i for i, label in enumerate(labels)}
        for pair, value in correlations.items():
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise MethodInputError(f"correlation keys must be pairs of input labels, got {pair!r}")
            a, b = pair
            for name in (a, b):
                if name not in index:
                    raise MethodInputError(f"correlation names unknown input {name!r}")
            if a == b:
                raise MethodInputError(f"correlation of {a!r} with itself is always 1")
            r = float(value)
            if not -1.0 <= r <= 1.0:
                raise MethodInputError(f"correlation of {a!r} and {b!r} must be between -1 and 1, got {r!r}")
            R[index[a], index[b]] = R[index[b], index[a]] = r
    else:
        R = np.array(correlations, dtype=float)
        if R.shape != (n, n):
            raise MethodInputError(f"correlation matrix must be {n} x {n}, got shape {R.shape}")
        if not np.allclose(R, R.T) or not np.allclose(np.diag(R), 1.0) or np.any(np.abs(R) > 1):
            raise MethodInputError(
                "correlation matrix must be symmetric with ones on the diagonal and |r| <= 1"
            )
    if np.linalg.eigvalsh(R).min() < -1e-10:
        raise MethodInputError("correlation matrix is not positive semi-definite")
    return R


# ---------------------------------------------------------------------------------------------------
# Measurement model
# ---------------------------------------------------------------------------------------------------
class MeasurementModel:
    """A measurement model ``Y = f(X)`` with one or several outputs (JCGM 100 4.1.1).

    ``model`` is an expression string, a mapping of output names to expressions (later ones may use
    earlier ones), or a callable taking the inputs as keyword arguments and returning one value, a
    sequence of values (named by ``outputs``) or a mapping of output names to values. Callables must
    accept numpy arrays for the Monte Carlo method. ``gradient``, for a callable, returns the
    sensitivity coefficients at the estimates: a mapping of input labels to values (one output) or an
    array of shape (outputs, inputs).
    """

    def __init__(
        self,
        model: str | Mapping[str, str] | Callable[..., Any],
        input_labels: Sequence[str],
        *,
        output: str = "y",
        outputs: Sequence[str] | None = None,
        gradient: Callable[..., Any] | None = None,
    ) -> None:
        self.input_labels = tuple(input_labels)
        if len(set(self.input_labels)) != len(self.input_labels):
            dupes = sorted({n for n in self.input_labels if self.input_labels.count(n) > 1})
            raise MethodInputError(f"input labels must be unique; repeated: {', '.join(dupes)}")
        self.gradient = gradient
        self.expressions: dict[str, Expression] | None = None
        self.function: Callable[..., Any] | None = None
        if isinstance(model, (str, Mapping)):
            if gradient is not None:
                raise MethodInputError(
                    "gradient is only for callable models; expressions differentiate themselves"
                )
            self.expressions = parse_model(model, self.input_labels, output=output)
            self.output_labels = tuple(self.expressions)
        elif callable(model):
            self.function = model
            self.output_labels = tuple(outputs) if outputs is not None else (output,)
        else:
            raise MethodInputError(
                "model must be an expression string, a mapping of outputs or a callable, "
                f"got {type(model).__name__}"
            )

    @property
    def analytic(self) -> bool:
        return self.expressions is not None or self.gradient is not None

    def evaluate(self, values: Mapping[str, Any]) -> np.ndarray:
        """Outputs for the given input values (floats or equally shaped arrays), stacked on axis 0."""
        if self.expressions is not None:
            parts = [e(values) for e in self.expressions.values()]
            shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()), *(p.shape for p in parts))
            return np.stack([np.broadcast_to(p, shape) for p in parts]).astype(float, copy=False)
        assert self.function is not None
        with np.errstate(all="ignore"):
            raw = self.function(**values)
        if isinstance(raw, Mapping):
            if (
                set(raw) != set(self.output_labels)
                and len(self.output_labels) == 1
                and self.output_labels == ("y",)
            ):
                self.output_labels = tuple(raw)
            missing = [k for k in self.output_labels if k not in raw]
            if missing:
                raise MethodInputError(f"model did not return output {missing[0]!r}")
            raw = [raw[k] for k in self.output_labels]
        if len(self.output_labels) == 1:
            raw = [raw]
        elif not isinstance(raw, (list, tuple)) and np.ndim(raw) == 0:
            raise MethodInputError(
                f"model returned one value but {len(self.output_labels)} outputs are named"
            )
        if len(raw) != len(self.output_labels):
            raise MethodInputError(
                f"model returned {len(raw)} outputs but {len(self.output_labels)} are named"
            )
        arrays = [np.asarray(v, dtype=float) for v in raw]
        shape = np.broadcast_shapes(*(np.shape(v) for v in values.values()), *(a.shape for a in arrays))
        return np.stack([np.broadcast_to(a, shape) for a in arrays])

    # -- derivatives -----------------------------------------------------------------------------
    def jacobian(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Sensitivity coefficients ``c_ij = df_i/dx_j`` at ``x`` (JCGM 100 5.1.3): analytic for
        expressions or with a supplied gradient, else central differences with Richardson
        extrapolation and steps scaled to ``u`` (5.1.3 note 2)."""
        m, n = len(self.output_labels), len(self.input_labels)
        env = dict(zip(self.input_labels, x, strict=True))
        if self.expressions is not None:
            J = np.zeros((m, n))
            for i, expr in enumerate(self.expressions.values()):
                for j, name in enumerate(self.input_labels):
                    if name in expr.names:
                        J[i, j] = float(expr.derivative(name)(env))
            return J + 0.0  # no negative zeros in the budget
        if self.gradient is not None:
            with np.errstate(all="ignore"):
                g = self.gradient(**env)
            if isinstance(g, Mapping):
                unknown = [k for k in g if k not in self.input_labels]
                if unknown:
                    raise MethodInputError(f"gradient names unknown input {unknown[0]!r}")
                g = [[float(g.get(name, 0.0)) for name in self.input_labels]]
            if np.size(g) != m * n:
                raise MethodInputError(
                    f"gradient must give {m} x {n} sensitivity coefficients, got {np.size(g)}"
                )
            J = np.asarray(g, dtype=float).reshape(m, n)
            return J
        steps = _steps(x, u, 0.05)
        J = np.zeros((m, n))
        for j in range(n):
            h = steps[j]

            def central(h: float, j: int = j) -> np.ndarray:
                return (self._at(x, {j: h}) - self._at(x, {j: -h})) / (2 * h)

            J[:, j] = (4 * central(h / 2) - central(h)) / 3
        return J + 0.0

    def _at(self, x: np.ndarray, shifts: Mapping[int, float]) -> np.ndarray:
        point = x.copy()
        for j, h in shifts.items():
            point[j] += h
        return self.evaluate(dict(zip(self.input_labels, point, strict=True)))

    def second_order_variance(self, x: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The higher-order terms of the JCGM 100 5.1.2 note for each output, for independent inputs
        with symmetric distributions: ``sum_i sum_j [ (1/2) (d2f/dxi dxj)^2 + df/dxi d3f/dxi dxj^2 ]
        u^2(x_i) u^2(x_j)``."""
        m, n = len(self.output_labels), len(self.input_labels)
        env = dict(zip(self.input_labels, x, strict=True))
        extra = np.zeros(m)
        if self.expressions is not None:
            for k, expr in enumerate(self.expressions.values()):
                names = [name for name in self.input_labels if name in expr.names]
                uu = {name: u[self.input_labels.index(name)] for name in names}
                first = {name: expr.derivative(name) for name in names}
                for a in names:
                    ca = float(first[a](env))
                    for b in names:
                        second = first[a].derivative(b)
                        term = 0.5 * float(second(env)) ** 2
                        if ca != 0.0:
                            term += ca * float(second.derivative(b)(env))
                        extra[k] += term * uu[a] ** 2 * uu[b] ** 2
            return extra
        steps = _steps(x, u, 0.05)
        f0 = self._at(x, {})
        active = [j for j in range(n) if u[j] > 0]
        first_d = self.jacobian(x, u)

        def d2(i: int, j: int, base: Mapping[int, float]) -> np.ndarray:
            hi, hj = steps[i], steps[j]
            if i == j:
                shifted = dict(base)
                return (
                    self._at(x, _merge(base, {i: hi}))
                    - 2 * self._at(x, shifted)
                    + self._at(x, _merge(base, {i: -hi}))
                ) / hi**2
            return (
                self._at(x, _merge(base, {i: hi, j: hj}))
                - self._at(x, _merge(base, {i: hi, j: -hj}))
                - self._at(x, _merge(base, {i: -hi, j: hj}))
                + self._at(x, _merge(base, {i: -hi, j: -hj}))
            ) / (4 * hi * hj)

        del f0
        for i in active:
            for j in active:
                H = d2(i, j, {})
                hi = steps[i]
                if i == j:
                    T = (
                        self._at(x, {i: 2 * hi})
                        - 2 * self._at(x, {i: hi})
                        + 2 * self._at(x, {i: -hi})
                        - self._at(x, {i: -2 * hi})
                    ) / (2 * hi**3)
                else:
                    T = (d2(j, j, {i: hi}) - d2(j, j, {i: -hi})) / (2 * hi)
                extra += (0.5 * H**2 + first_d[:, i] * T) * u[i] ** 2 * u[j] ** 2
        return extra


def _merge(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


def _steps(x: np.ndarray, u: np.ndarray, fraction: float) -> np.ndarray:
    scale = np.where(u > 0, u, np.maximum(np.abs(x), 1.0) * 1e-3)
    return fraction * scale


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetRow(ResultMixin):
    """One line of an uncertainty budget (JCGM 100 7.2.7, Table H.1): estimate ``x``, standard
    uncertainty ``u``, degrees of freedom, sensitivity coefficient ``c = df/dx``, contribution
    ``u_i(y) = |c| u`` (5.1.3) and its share ``u_i(y)^2 / u_c^2(y)`` of the combined variance.
    ``component_of`` names the input a component row belongs to."""

    label: str
    x: float
    u: float
    dof: float
    distribution: str
    sensitivity: float
    contribution: float
    share: float
    unit: str = ""
    component_of: str = ""

    def summary(self) -> str:
        return f"{self.label}: u_i(y) = {self.contribution:.3g} ({100 * self.share:.1f} %)"


@dataclass(frozen=True)
class Budget(ResultMixin):
    """The uncertainty budget of one output: its rows, ``y``, ``u_c``, ``nu_eff``, ``k`` and ``U``."""

    output: str
    rows: tuple[BudgetRow, ...]
    y: float
    u_c: float
    nu_eff: float
    k: float
    U: float
    level: float
    unit: str = ""
    nu_used: float = math.nan

    def row(self, label: str) -> BudgetRow:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(label)

    def summary(self) -> str:
        headers = ["quantity", "estimate", "u(x)", "dof", "distribution", "sensitivity", "u_i(y)", "share"]
        body = []
        for r in self.rows:
            name = f"  {r.label}" if r.component_of else r.label
            body.append(
                [
                    name,
                    "" if r.component_of else f"{r.x:.10g}",
                    f"{r.u:.4g}",
                    _dof_text(r.dof, 3),
                    r.distribution,
                    f"{r.sensitivity:.4g}",
                    f"{r.contribution:.4g}",
                    f"{100 * r.share:.1f} %",
                ]
            )
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]
        right = {1, 2, 3, 5, 6, 7}

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        out = [f"Uncertainty budget for {self.output}", line(headers), "  ".join("-" * w for w in widths)]
        out += [line(b) for b in body]
        out.append("")
        out.append(
            _result_text(
                self.output,
                self.y,
                self.u_c,
                self.nu_eff,
                self.k,
                self.U,
                self.level,
                self.unit,
                self.nu_used,
            )
        )
        return "\n".join(out)


def _dof_text(dof: float, digits: int = 3) -> str:
    if math.isnan(dof):
        return "undefined"
    return "inf" if math.isinf(dof) else f"{dof:.{digits}g}"


def _result_text(
    label: str,
    y: float,
    u: float,
    dof: float,
    k: float,
    U: float,
    level: float,
    unit: str,
    nu_used: float = math.nan,
) -> str:
    unit_text = f" {unit}" if unit else ""
    used = (
        f" ({nu_used:g} used for k)"
        if math.isfinite(nu_used) and math.isfinite(dof) and nu_used != dof
        else ""
    )
    y_text, u_text = format_value(y, u)
    _, U_text = format_value(y, U) if math.isfinite(U) else ("", "undefined")
    return (
        f"{label} = {y_text}{unit_text}, u_c = {u_text}{unit_text}, nu_eff = {_dof_text(dof, 3)}{used}, "
        f"k = {k:.3g}, U({100 * level:g} %) = {U_text}{unit_text}"
    )


@dataclass(frozen=True)
class OutputEstimate(ResultMixin):
    """An output estimate ``y`` with combined standard uncertainty ``u_c`` (JCGM 100 5.1.2), effective
    degrees of freedom (G.4.1), coverage factor ``k`` and expanded uncertainty ``U = k u_c`` (6.2.1)
    for coverage probability ``level``; ``low`` and ``high`` are ``y -/+ U``."""

    label: str
    y: float
    u_c: float
    nu_eff: float
    k: float
    U: float
    level: float
    unit: str = ""
    nu_used: float = math.nan

    @property
    def low(self) -> float:
        return self.y - self.U

    @property
    def high(self) -> float:
        return self.y + self.U

    def summary(self) -> str:
        return _result_text(
            self.label, self.y, self.u_c, self.nu_eff, self.k, self.U, self.level, self.unit, self.nu_used
        )


class _Estimate(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def y(self) -> float: ...


EstimateT = TypeVar("EstimateT", bound=_Estimate)


class ByOutputLabel(Generic[EstimateT]):
    """For results with one estimate per output: ``output(label)`` finds one (the first by default), and
    ``y`` is the first output's estimate, so single-output callers need not name it."""

    estimates: tuple[EstimateT, ...]

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(e.label for e in self.estimates)

    def output(self, label: str | None = None) -> EstimateT:
        if label is None:
            return self.estimates[0]
        for e in self.estimates:
            if e.label == label:
                return e
        raise MethodInputError(f"unknown output {label!r}; outputs are: {', '.join(self.outputs)}")

    @property
    def y(self) -> float:
        return self.estimates[0].y


@dataclass(frozen=True, eq=False)
class GUFResult(ByOutputLabel[OutputEstimate], ResultMixin):
    """Result of the GUM uncertainty framework for one or several outputs.

    ``sensitivities`` has shape (outputs, inputs); ``covariance`` and ``correlation`` are those of the
    outputs (JCGM 100 5.2, H.2.3; first order), ``input_correlation`` the inputs' correlation matrix.
    ``second_order_variance`` holds the terms of the 5.1.2 note added to each ``u_c^2`` (zeros unless
    requested). The properties ``y``, ``u_c``, ``nu_eff``, ``k``, ``U`` refer to the first output.
    """

    estimates: tuple[OutputEstimate, ...]
    inputs: tuple[InputQuantity, ...]
    sensitivities: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    input_correlation: np.ndarray
    second_order_variance: np.ndarray
    level: float
    analytic_sensitivities: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def u_c(self) -> float:
        return self.estimates[0].u_c

    @property
    def nu_eff(self) -> float:
        return self.estimates[0].nu_eff

    @property
    def k(self) -> float:
        return self.estimates[0].k

    @property
    def U(self) -> float:
        return self.estimates[0].U

    def budget(self, output: str | None = None) -> Budget:
        """The uncertainty budget table of ``output`` (the first by default), with a row per input and
        an indented row per component of a combined input."""
        est = self.output(output)
        i = self.outputs.index(est.label)
        variance = est.u_c**2
        rows: list[BudgetRow] = []
        for j, q in enumerate(self.inputs):
            c = float(self.sensitivities[i, j])
            contribution = abs(c) * q.u
            share = contribution**2 / variance if variance > 0 else 0.0
            rows.append(BudgetRow(q.label, q.x, q.u, q.dof, q.distribution, c, contribution, share, q.unit))
            for part in q.components:
                pc = abs(c) * part.u
                rows.append(
                    BudgetRow(
                        part.label,
                        part.x,
                        part.u,
                        part.dof,
                        part.distribution,
                        c,
                        pc,
                        pc**2 / variance if variance > 0 else 0.0,
                        part.unit,
                        q.label,
                    )
                )
        return Budget(
            est.label, tuple(rows), est.y, est.u_c, est.nu_eff, est.k, est.U, est.level, est.unit, est.nu_used
        )

    def summary(self) -> str:
        parts = [self.budget(label).summary() for label in self.outputs]
        if len(self.outputs) > 1:
            width = max(len(o) for o in self.outputs)
            lines = ["Correlation of the outputs (first order):"]
            for label, row in zip(self.outputs, self.correlation, strict=True):
                lines.append(f"  {label.ljust(width)}  " + "  ".join(f"{r:7.4f}" for r in row))
            parts.append("\n".join(lines))
        if self.second_order_variance.any():
            parts.append("Second-order terms of JCGM 100 5.1.2 note included.")
        parts.extend(self.notes)
        return "\n\n".join(parts) if len(self.outputs) > 1 else "\n".join(parts)


def _as_inputs(inputs: Sequence[InputQuantity] | Mapping[str, InputQuantity]) -> tuple[InputQuantity, ...]:
    items = tuple(inputs.values()) if isinstance(inputs, Mapping) else tuple(inputs)
    if not items:
        raise MethodInputError("inputs needs at least one input quantity")
    for q in items:
        if not isinstance(q, InputQuantity):
            raise MethodInputError(f"inputs must be input quantities, got {type(q).__name__}")
    return items


def propagate(
    model: str | Mapping[str, str] | Callable[..., Any] | MeasurementModel,
    inputs: Sequence[InputQuantity] | Mapping[str, InputQuantity],
    *,
    correlations: Mapping[tuple[str, str], float] | np.ndarray | None = None,
    level: float = 0.95,
    k: float | None = None,
    second_order: bool = False,
    truncate_dof: bool = True,
    output: str = "y",
    outputs: Sequence[str] | None = None,
    gradient: Callable[..., Any] | None = None,
    units: Mapping[str, str] | None = None,
) -> GUFResult:
    """Law of propagation of uncertainty (JCGM 100 5.1.2; 5.2.2 with ``correlations``).

    ``u_c^2(y) = c^T V c`` with ``c_i = df/dx_i`` at the estimates and ``V`` the input covariance;
    several outputs get the covariance ``J V J^T``. ``second_order`` adds the terms of the 5.1.2 note
    (independent, symmetrically distributed inputs only). The effective degrees of freedom follow
    Welch-Satterthwaite (G.4.1), taken with these terms counted as exactly known. Unless a fixed ``k``
    is given, ``k = t_p(nu_eff)`` with ``nu_eff`` truncated to an integer when ``truncate_dof`` (G.4.1,
    as in Annex H). With correlated inputs of finite degrees of freedom G.4.1 does not apply:
    ``nu_eff`` is then NaN and a fixed ``k`` is needed for ``U``.
    """
    items = _as_inputs(inputs)
    labels = [q.label for q in items]
    if isinstance(model, MeasurementModel):
        mm = model
        if tuple(labels) != mm.input_labels:
            raise MethodInputError("the inputs must match the labels the model was built with, in order")
    else:
        mm = MeasurementModel(model, labels, output=output, outputs=outputs, gradient=gradient)
    p = float(level)
    if not 0.0 < p < 1.0:
        raise MethodInputError(f"coverage level must be between 0 and 1 (exclusive), got {level!r}")
    if k is not None and (not math.isfinite(float(k)) or float(k) <= 0):
        raise MethodInputError(f"coverage factor k must be positive, got {k!r}")
    R = correlation_matrix(labels, correlations)
    correlated = not np.allclose(R, np.eye(len(labels)))
    if second_order and correlated:
        raise MethodInputError(
            "second-order terms (JCGM 100 5.1.2 note) assume independent inputs; remove the correlations "
            "or use the Monte Carlo method"
        )
    x = np.array([q.x for q in items])
    u = np.array([q.u for q in items])
    dof = np.array([q.dof for q in items])
    y = mm.evaluate(dict(zip(labels, x, strict=True)))
    if not np.all(np.isfinite(y)):
        bad = mm.output_labels[int(np.argmin(np.isfinite(y)))]
        raise MethodInputError(f"model gives a non-finite value for {bad!r} at the input estimates")
    J = mm.jacobian(x, u)
    if not np.all(np.isfinite(J)):
        raise MethodInputError("a sensitivity coefficient is not finite at the input estimates")
    V = R * np.outer(u, u)
    cov_y = J @ V @ J.T
    extra = mm.second_order_variance(x, u) if second_order else np.zeros(len(mm.output_labels))
    variances = np.diag(cov_y) + extra
    u_c = np.sqrt(np.maximum(variances, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(np.diag(cov_y), 0.0))
        corr_y = cov_y / np.outer(sd, sd)
    corr_y[~np.isfinite(corr_y)] = 0.0
    np.fill_diagonal(corr_y, 1.0)

    notes: list[str] = []
    off = (np.abs(R - np.eye(len(labels))) > 0) & ~(np.isinf(dof)[:, None] & np.isinf(dof)[None, :])
    estimates = []
    unit_of = dict(units or {})
    for i, name in enumerate(mm.output_labels):
        contrib = np.abs(J[i]) * u
        involved = contrib > 0
        if np.any(off & np.outer(involved, involved)):
            nu_eff = math.nan
            notes.append(
                f"nu_eff of {name} is undefined: correlated inputs with finite degrees of freedom "
                "(JCGM 100 G.4.1 assumes independent inputs); give a fixed k"
            )
        else:
            nu_eff = welch_satterthwaite(contrib, dof, u_c=u_c[i])
        nu_used = math.nan
        if k is not None:
            k_i = float(k)
        elif math.isnan(nu_eff):
            k_i = math.nan
        else:
            nu_used = max(math.floor(nu_eff), 1) if truncate_dof and math.isfinite(nu_eff) else nu_eff
            k_i = coverage_factor(p, nu_used)
        estimates.append(
            OutputEstimate(
                name,
                float(y[i]),
                float(u_c[i]),
                float(nu_eff),
                k_i,
                k_i * float(u_c[i]),
                p,
                unit_of.get(name, ""),
                float(nu_used),
            )
        )
    return GUFResult(
        estimates=tuple(estimates),
        inputs=items,
        sensitivities=J,
        covariance=cov_y + np.diag(extra),
        correlation=corr_y,
        input_correlation=R,
        second_order_variance=extra,
        level=p,
        analytic_sensitivities=mm.analytic,
        notes=tuple(notes),
    )
