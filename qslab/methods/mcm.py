"""Propagation of distributions by the Monte Carlo method (JCGM 101:2008, GUM Supplement 1).

:func:`monte_carlo` takes the same models and input quantities as
:func:`qslab.methods.uncertainty.propagate` and draws every input from its assigned distribution
(JCGM 101 6.4: normal, scaled and shifted t, rectangular, triangular, trapezoidal, arcsine; correlated
inputs from a multivariate Gaussian, 6.4.8), evaluates the model once on all trials (vectorised, in
chunks), and summarises the output distribution (7.6), with probabilistically symmetric and shortest
coverage intervals (7.7). The number of trials is fixed or chosen by the adaptive procedure of 7.9,
and the GUM uncertainty framework is validated against the Monte Carlo result as in section 8.

JCGM 101 9.2.2 (additive model, four standard Gaussian inputs):

>>> from qslab.methods.uncertainty import normal
>>> xs = [normal(f"X{i}", 0.0, 1.0) for i in range(1, 5)]
>>> r = monte_carlo("X1 + X2 + X3 + X4", xs, trials=10**6, seed=1)
>>> print(f"{r.u:.2f} [{r.low:.2f}, {r.high:.2f}] validated: {r.validation[0].passed}")
2.00 [-3.92, 3.92] validated: True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qslab.methods._validate import MethodInputError
from qslab.methods.uncertainty import (
    ByOutputLabel,
    GUFResult,
    InputQuantity,
    MeasurementModel,
    _as_inputs,
    correlation_matrix,
    format_value,
    propagate,
)
from qslab.results import ResultMixin, to_plain

__all__ = [
    "GUFValidation",
    "MCMOutput",
    "MCMResult",
    "coverage_interval",
    "monte_carlo",
    "numerical_tolerance",
    "sample_inputs",
    "validate_guf",
]

CHUNK = 2**19


# ---------------------------------------------------------------------------------------------------
# Sampling (JCGM 101 6.4 and Annex C)
# ---------------------------------------------------------------------------------------------------
def _sample_one(q: InputQuantity, size: int, rng: np.random.Generator) -> np.ndarray:
    """Draws of one input about its estimate."""
    kind = q.distribution
    if kind == "normal":  # 6.4.7
        return q.x + q.u * rng.standard_normal(size)
    if kind == "t":  # 6.4.9.7: x + s * t_nu
        scale = q.param("scale")
        if math.isinf(q.dof):
            return q.x + scale * rng.standard_normal(size)
        return q.x + scale * rng.standard_t(q.dof, size)
    if kind == "rectangular":  # 6.4.2.4
        a = q.param("half_width")
        return rng.uniform(q.x - a, q.x + a, size)
    if kind == "triangular":  # 6.4.5.4: a + (b - a)(r1 + r2)/2
        a = q.param("half_width")
        return q.x + a * (rng.random(size) + rng.random(size) - 1.0)
    if kind == "trapezoidal":  # 6.4.4.4: a + (b - a)/2 [(1 + beta) r1 + (1 - beta) r2]
        a, beta = q.param("half_width"), q.param("beta")
        return q.x - a + a * ((1 + beta) * rng.random(size) + (1 - beta) * rng.random(size))
    if kind == "arcsine":  # 6.4.6.4: (a + b)/2 + (b - a)/2 sin(2 pi r)
        a = q.param("half_width")
        return q.x + a * np.sin(2 * np.pi * rng.random(size))
    if kind == "combined":
        total = np.full(size, q.x)
        for part in q.components:
            total += _sample_one(part, size, rng) - part.x
        return total
    raise MethodInputError(f"no sampling rule for distribution {kind!r} of {q.label!r}")  # pragma: no cover


def _gaussian_factor(cov: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L L^T = cov`` (Cholesky, or a symmetric square root when ``cov`` is only
    positive semi-definite, JCGM 101 6.4.8.4)."""
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(cov)
        return v * np.sqrt(np.clip(w, 0.0, None))


def sample_inputs(
    inputs: Sequence[InputQuantity],
    size: int,
    rng: np.random.Generator,
    correlation: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """``size`` draws of every input (JCGM 101 6.4); inputs correlated through ``correlation`` are drawn
    jointly from a multivariate Gaussian (6.4.8) and must have normal distributions."""
    n = len(inputs)
    R = np.eye(n) if correlation is None else correlation
    linked = np.flatnonzero(np.any(np.abs(R - np.eye(n)) > 0, axis=1))
    out: dict[str, np.ndarray] = {}
    for j, q in enumerate(inputs):
        if j in linked:
            continue
        out[q.label] = _sample_one(q, size, rng)
    if linked.size:
        qs = [inputs[int(j)] for j in linked]
        u = np.array([q.u for q in qs])
        L = _gaussian_factor(R[np.ix_(linked, linked)] * np.outer(u, u))
        z = rng.standard_normal((size, linked.size)) @ L.T
        for col, q in enumerate(qs):
            out[q.label] = q.x + z[:, col]
    return {q.label: out[q.label] for q in inputs}


# ---------------------------------------------------------------------------------------------------
# Summaries of the output distribution (JCGM 101 7.5-7.7, 7.9.2)
# ---------------------------------------------------------------------------------------------------
def coverage_interval(
    sorted_values: np.ndarray, level: float, kind: str = "symmetric"
) -> tuple[float, float]:
    """Coverage interval from sorted Monte Carlo values (JCGM 101 7.7): ``q = pM`` (or the integer
    part of ``pM + 1/2``); the probabilistically symmetric interval is ``[y_(r), y_(r+q)]`` with
    ``r = (M - q)/2`` (or ``(M - q + 1)/2``, 7.7.1); the shortest minimises ``y_(r+q) - y_(r)`` over
    ``r = 1, ..., M - q`` (7.7.2).

    >>> coverage_interval(np.arange(1.0, 101.0), 0.9)
    (5.0, 95.0)
    """
    M = sorted_values.shape[-1]
    pm = level * M
    q = int(pm) if float(pm).is_integer() else int(pm + 0.5)
    q = min(max(q, 1), M - 1)
    if kind == "symmetric":
        r = (M - q) // 2 if (M - q) % 2 == 0 else (M - q + 1) // 2
        r = max(r, 1)
        return float(sorted_values[r - 1]), float(sorted_values[r - 1 + q])
    if kind == "shortest":
        widths = sorted_values[q:] - sorted_values[: M - q]
        r0 = int(np.argmin(widths))
        return float(sorted_values[r0]), float(sorted_values[r0 + q])
    raise MethodInputError(f"interval must be 'symmetric' or 'shortest', got {kind!r}")


def numerical_tolerance(u: float, n_dig: int = 2) -> float:
    """Numerical tolerance of a standard uncertainty (JCGM 101 7.9.2): write ``u = c x 10^l`` with
    ``c`` an ``n_dig``-digit integer; ``delta = 10^l / 2``.

    >>> numerical_tolerance(2.0), numerical_tolerance(0.0291), numerical_tolerance(31.7, 1)
    (0.05, 0.0005, 5.0)
    """
    if not n_dig >= 1:
        raise MethodInputError(f"n_dig must be at least 1, got {n_dig!r}")
    if not math.isfinite(u) or u <= 0:
        raise MethodInputError(f"standard uncertainty must be positive to set a tolerance, got {u!r}")
    exponent = math.floor(math.log10(u)) - n_dig + 1
    if round(u / 10.0**exponent) >= 10**n_dig:
        exponent += 1
    return float(f"{0.5 * 10.0**exponent:.3g}")


# ---------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MCMOutput(ResultMixin):
    """Monte Carlo summary of one output (JCGM 101 7.6-7.7): the mean ``y`` of the model values, their
    standard deviation ``u``, the probabilistically symmetric ``level`` coverage interval ``[low, high]``
    and the shortest one ``[shortest_low, shortest_high]``."""

    label: str
    y: float
    u: float
    low: float
    high: float
    shortest_low: float
    shortest_high: float
    level: float
    unit: str = ""

    def summary(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        y_text, u_text = format_value(self.y, self.u, digits=3)  # as JCGM 101 tables print them
        decimals = len(y_text.split(".")[1]) if "." in y_text else 0

        def fmt(v: float) -> str:
            return f"{v:.{decimals}f}"

        pct = f"{100 * self.level:g} %"
        return (
            f"{self.label} = {y_text}{unit}, u = {u_text}{unit}; {pct} probabilistically symmetric interval "
            f"[{fmt(self.low)}, {fmt(self.high)}]{unit}, shortest [{fmt(self.shortest_low)}, "
            f"{fmt(self.shortest_high)}]{unit}"
        )


@dataclass(frozen=True)
class GUFValidation(ResultMixin):
    """JCGM 101 8.2: the GUM framework interval ``y -/+ U_p`` is validated when both
    ``d_low = |y - U_p - y_low|`` and ``d_high = |y + U_p - y_high|`` are no larger than ``delta``, the
    numerical tolerance of the GUF ``u(y)`` to ``n_dig`` significant digits."""

    output: str
    guf_low: float
    guf_high: float
    mcm_low: float
    mcm_high: float
    d_low: float
    d_high: float
    delta: float
    n_dig: int
    passed: bool

    def summary(self) -> str:
        verdict = "validated" if self.passed else "NOT validated"
        return (
            f"GUF {verdict} for {self.output} (JCGM 101 8.2, n_dig = {self.n_dig}): "
            f"d_low = {self.d_low:.3g}, "
            f"d_high = {self.d_high:.3g}, delta = {self.delta:.3g}"
        )


def validate_guf(
    guf: GUFResult, mcm: MCMResult, *, n_dig: int = 2, interval: str = "symmetric"
) -> tuple[GUFValidation, ...]:
    """Compare the GUM framework with the Monte Carlo result, output by output (JCGM 101 8.2)."""
    checks = []
    for est in guf.estimates:
        out = mcm.output(est.label)
        low, high = (out.low, out.high) if interval == "symmetric" else (out.shortest_low, out.shortest_high)
        if not math.isfinite(est.U) or est.u_c <= 0:
            continue
        delta = numerical_tolerance(est.u_c, n_dig)
        d_low = abs(est.y - est.U - low)
        d_high = abs(est.y + est.U - high)
        checks.append(
            GUFValidation(
                est.label,
                est.y - est.U,
                est.y + est.U,
                low,
                high,
                d_low,
                d_high,
                delta,
                n_dig,
                bool(d_low <= delta and d_high <= delta),
            )
        )
    return tuple(checks)


@dataclass(frozen=True, eq=False)
class MCMResult(ByOutputLabel[MCMOutput], ResultMixin):
    """Result of the Monte Carlo method: one :class:`MCMOutput` per output, the number of ``trials``,
    the ``seed``, whether the adaptive procedure (JCGM 101 7.9) was used and ``converged``, the
    covariance and correlation of the outputs (from the trials), the GUF result and its validation
    (section 8) when computed. ``samples`` (outputs x trials) is kept only on request and is left out
    of :meth:`to_dict`. ``y``, ``u``, ``low``, ``high`` refer to the first output."""

    estimates: tuple[MCMOutput, ...]
    trials: int
    seed: int | None
    adaptive: bool
    converged: bool
    n_dig: int
    interval: str
    covariance: np.ndarray
    correlation: np.ndarray
    guf: GUFResult | None = None
    validation: tuple[GUFValidation, ...] = ()
    notes: tuple[str, ...] = ()
    samples: np.ndarray | None = field(default=None, repr=False)

    @property
    def u(self) -> float:
        return self.estimates[0].u

    @property
    def low(self) -> float:
        return self.estimates[0].low

    @property
    def high(self) -> float:
        return self.estimates[0].high

    def to_dict(self) -> dict[str, Any]:
        plain = {k: v for k, v in vars(self).items() if k != "samples"}
        result = to_plain(plain)
        assert isinstance(result, dict)
        return result

    def summary(self) -> str:
        how = "adaptive (JCGM 101 7.9)" if self.adaptive else "fixed"
        seed = "none" if self.seed is None else str(self.seed)
        lines = [f"Monte Carlo method (JCGM 101): {self.trials} trials, {how}, seed {seed}"]
        if self.adaptive and not self.converged:
            lines.append("WARNING: the adaptive procedure stopped at the trial limit before it stabilised")
        lines += [e.summary() for e in self.estimates]
        if len(self.estimates) > 1:
            lines.append("Correlation of the outputs:")
            width = max(len(o) for o in self.outputs)
            for label, row in zip(self.outputs, self.correlation, strict=True):
                lines.append(f"  {label.ljust(width)}  " + "  ".join(f"{r:7.4f}" for r in row))
        lines += [v.summary() for v in self.validation]
        lines += list(self.notes)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The method
# ---------------------------------------------------------------------------------------------------
def _run(
    mm: MeasurementModel,
    items: tuple[InputQuantity, ...],
    R: np.ndarray,
    trials: int,
    rng: np.random.Generator,
    chunk: int,
    progress: Callable[[int], None] | None,
) -> np.ndarray:
    m = len(mm.output_labels)
    values = np.empty((m, trials))
    done = 0
    while done < trials:
        size = min(chunk, trials - done)
        draws = sample_inputs(items, size, rng, R)
        values[:, done : done + size] = mm.evaluate(draws)
        done += size
        if progress is not None:
            progress(size)
    finite = np.isfinite(values)
    if not finite.all():
        i = int(np.argmin(finite.all(axis=1)))
        count = int((~finite[i]).sum())
        raise MethodInputError(
            f"model gives a non-finite value for {mm.output_labels[i]!r} in {count} of {trials} trials; "
            "the model must be defined over the whole distribution of the inputs (JCGM 101 5.1.1)"
        )
    return values


def _summaries(
    values: np.ndarray, labels: Sequence[str], level: float, units: Mapping[str, str]
) -> list[MCMOutput]:
    out = []
    for i, label in enumerate(labels):
        v = np.sort(values[i])
        low, high = coverage_interval(v, level, "symmetric")
        s_low, s_high = coverage_interval(v, level, "shortest")
        out.append(
            MCMOutput(
                label,
                float(values[i].mean()),
                float(values[i].std(ddof=1)),
                low,
                high,
                s_low,
                s_high,
                level,
                units.get(label, ""),
            )
        )
    return out


def monte_carlo(
    model: str | Mapping[str, str] | Callable[..., Any] | MeasurementModel,
    inputs: Sequence[InputQuantity] | Mapping[str, InputQuantity],
    *,
    correlations: Mapping[tuple[str, str], float] | np.ndarray | None = None,
    level: float = 0.95,
    trials: int = 10**6,
    adaptive: bool = False,
    n_dig: int = 2,
    max_trials: int = 10**8,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    interval: str = "symmetric",
    validate: bool = True,
    keep_samples: bool = False,
    output: str = "y",
    outputs: Sequence[str] | None = None,
    gradient: Callable[..., Any] | None = None,
    units: Mapping[str, str] | None = None,
    chunk_size: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> MCMResult:
    """Propagate the input distributions through the model by Monte Carlo (JCGM 101 5.9, 7).

    With ``adaptive=False`` ``trials`` draws are made (7.2); with ``adaptive=True`` the procedure of
    7.9.4 runs batches of ``max(100/(1 - level), 10^4)`` trials until twice the standard deviation of
    the batch estimates of ``y``, ``u(y)`` and both interval ends is within the numerical tolerance of
    ``u(y)`` to ``n_dig`` significant digits (7.9.2), for every output, or ``max_trials`` is reached.
    ``seed`` (or a numpy ``rng``) makes the run reproducible. With ``validate`` the GUM framework is
    evaluated too and checked against the ``interval`` (``"symmetric"`` or ``"shortest"``) as in 8.2.
    ``progress`` is called with the number of trials done after each chunk.
    """
    items = _as_inputs(inputs)
    labels = [q.label for q in items]
    if isinstance(model, MeasurementModel):
        mm = model
    else:
        mm = MeasurementModel(model, labels, output=output, outputs=outputs, gradient=gradient)
    p = float(level)
    if not 0.0 < p < 1.0:
        raise MethodInputError(f"coverage level must be between 0 and 1 (exclusive), got {level!r}")
    if interval not in ("symmetric", "shortest"):
        raise MethodInputError(f"interval must be 'symmetric' or 'shortest', got {interval!r}")
    if isinstance(trials, bool) or int(trials) != trials or trials < 2:
        raise MethodInputError(f"trials must be an integer of at least 2, got {trials!r}")
    trials = int(trials)
    if not adaptive and trials < 100 / (1 - p):
        raise MethodInputError(
            f"trials must be at least 100/(1 - p) = {math.ceil(100 / (1 - p))} for a {100 * p:g} % interval "
            "(JCGM 101 7.2.2)"
        )
    if int(chunk_size) < 1:
        raise MethodInputError(f"chunk_size must be positive, got {chunk_size!r}")
    R = correlation_matrix(labels, correlations)
    linked = np.any(np.abs(R - np.eye(len(labels))) > 0, axis=1)
    for q, is_linked in zip(items, linked, strict=True):
        if is_linked and q.distribution != "normal":
            raise MethodInputError(
                f"correlated input {q.label!r} must have a normal distribution "
                f"(JCGM 101 6.4.8 draws correlated "
                f"inputs from a multivariate Gaussian), got {q.distribution}"
            )
    if rng is not None and seed is not None:
        raise MethodInputError("give seed or rng, not both")
    generator = rng if rng is not None else np.random.default_rng(seed)
    unit_of = dict(units or {})
    notes: list[str] = []

    guf: GUFResult | None = None
    validation: tuple[GUFValidation, ...] = ()
    if validate:
        try:
            guf = propagate(mm, items, correlations=R, level=p, units=unit_of)
        except MethodInputError as exc:
            notes.append(f"GUF not evaluated: {exc}")

    converged = True
    if not adaptive:
        values = _run(mm, items, R, trials, generator, int(chunk_size), progress)
    else:
        batch = max(math.ceil(100 / (1 - p)), 10**4)
        batches: list[np.ndarray] = []
        stats: list[np.ndarray] = []  # per batch: (outputs, 4) -> y, u, low, high
        total = 0
        converged = False
        while True:
            v = _run(mm, items, R, batch, generator, int(chunk_size), progress)
            batches.append(v)
            total += batch
            per = []
            for i in range(v.shape[0]):
                s = np.sort(v[i])
                lo, hi = coverage_interval(s, p, interval)
                per.append([v[i].mean(), v[i].std(ddof=1), lo, hi])
            stats.append(np.array(per))
            h = len(stats)
            if h >= 2:
                arr = np.stack(stats)  # (h, outputs, 4)
                s_dev = arr.std(axis=0, ddof=1) / math.sqrt(h)
                all_u = np.concatenate(batches, axis=1).std(axis=1, ddof=1)
                if np.all(all_u > 0):
                    deltas = np.array([numerical_tolerance(float(u), n_dig) for u in all_u])
                    if np.all(2 * s_dev <= deltas[:, None]):
                        converged = True
                        break
                else:
                    converged = True
                    break
            if total + batch > max_trials:
                break
        values = np.concatenate(batches, axis=1)
        trials = values.shape[1]
    estimates = _summaries(values, mm.output_labels, p, unit_of)
    if values.shape[0] > 1:
        cov = np.cov(values)
        sd = np.sqrt(np.diag(cov))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd, sd)
        corr[~np.isfinite(corr)] = 0.0
        np.fill_diagonal(corr, 1.0)
    else:
        cov = np.array([[estimates[0].u ** 2]])
        corr = np.ones((1, 1))
    result = MCMResult(
        estimates=tuple(estimates),
        trials=trials,
        seed=seed,
        adaptive=adaptive,
        converged=converged,
        n_dig=n_dig,
        interval=interval,
        covariance=cov,
        correlation=corr,
        guf=guf,
        notes=tuple(notes),
        samples=values if keep_samples else None,
    )
    if guf is not None:
        validation = validate_guf(guf, result, n_dig=n_dig, interval=interval)
        result = MCMResult(**{**vars(result), "validation": validation})
    return result
