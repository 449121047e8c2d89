"""Statistical process control: Shewhart charts, EWMA, CUSUM, run rules and process capability.

Conventions follow ISO 7870-2 (Shewhart charts) and the R package qcc (Scrucca 2004):

* ``xbar`` (sigma from ``"UWAVE-R"``: mean of ``R_i/d2(n_i)``, or ``"UWAVE-SD"``: mean of
  ``s_i/c4(n_i)``), ``R``, ``S``; ``I`` individuals (``"MR"``: mean moving range / d2(2), or
  ``"SD"``: s/c4(N)) and ``MR``; attributes ``p``, ``np``, ``c``, ``u`` with per-point limits for
  variable sample sizes. Limits are ``center +/- nsigmas * sd`` clipped to the statistic's range.
* Phase I: :func:`control_chart` estimates the centre and sigma from the data (trial limits);
  :func:`phase_one` repeats it, dropping subgroups beyond the limits until none remain.
  Phase II: :meth:`ControlChart.apply` plots new data against the fixed limits.
* :func:`ewma_chart` with the exact time-varying variance (by recursion, also for variable ``n``);
  :func:`cusum_chart` tabular CUSUM (Page) in sigma units, computed in closed form
  ``C_i = S_i - min(0, min_j S_j)`` (Lindley) without a Python loop.
* :func:`run_rules`: Western Electric and Nelson rules vectorised with rolling sums.
* :func:`process_capability`: Cp, Cpk, Cpm (within sigma) and Pp, Ppk (overall SD), with qcc's
  confidence intervals and expected (normal model) and observed fractions outside the specifications.

Constants ``c4``, ``d2``, ``d3`` are computed for any ``n`` (Gamma functions; Gauss-Legendre
integration of the range distribution), not read from a table.

>>> round(float(d2(5)), 6), round(float(d3(5)), 6), round(float(c4(5)), 6)
(2.325929, 0.864082, 0.939986)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy import signal, special, stats

from qslab.methods._validate import MethodInputError, positive
from qslab.results import ResultMixin

__all__ = [
    "CHARTS",
    "Capability",
    "ControlChart",
    "CusumChart",
    "EwmaChart",
    "PhaseOne",
    "c4",
    "control_chart",
    "cusum_chart",
    "d2",
    "d3",
    "ewma_chart",
    "phase_one",
    "process_capability",
    "run_rules",
]

CHARTS = ("xbar", "R", "S", "I", "MR", "p", "np", "c", "u")

# --------------------------------------------------------------------------- constants


def c4(n: int | np.ndarray) -> np.ndarray:
    """``c4(n) = sqrt(2/(n-1)) Gamma(n/2) / Gamma((n-1)/2)``, E[s] = c4 sigma."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(2.0 / (n - 1)) * np.exp(special.gammaln(n / 2) - special.gammaln((n - 1) / 2))
    return np.where(n >= 2, out, np.nan)


_GL_X, _GL_W = np.polynomial.legendre.leggauss(400)


@lru_cache(maxsize=512)
def _range_moments(n: int) -> tuple[float, float]:
    """(E[R], E[R^2]) of the range of ``n`` standard normals by Gauss-Legendre quadrature."""
    # x over [-10, 10]; r over [0, 16]; P(R <= r) = n int phi(x) (Phi(x+r) - Phi(x))^(n-1) dx
    x = 10.0 * _GL_X
    wx = 10.0 * _GL_W
    r = 8.0 * (_GL_X + 1.0)
    wr = 8.0 * _GL_W
    diff = special.ndtr(x[None, :] + r[:, None]) - special.ndtr(x)[None, :]
    cdf = n * np.sum(wx * stats.norm.pdf(x)[None, :] * diff ** (n - 1), axis=1)
    tail = 1.0 - cdf
    return float(np.sum(wr * tail)), float(np.sum(wr * 2 * r * tail))


def d2(n: int | np.ndarray) -> np.ndarray:
    """``d2(n) = E[R]/sigma`` for subgroups of ``n`` normal values."""
    arr = np.asarray(n)
    flat = [(_range_moments(int(v))[0] if v >= 2 else np.nan) for v in np.ravel(arr)]
    return np.asarray(flat, dtype=float).reshape(arr.shape)


def d3(n: int | np.ndarray) -> np.ndarray:
    """``d3(n) = SD[R]/sigma`` for subgroups of ``n`` normal values."""
    arr = np.asarray(n)
    out = []
    for v in np.ravel(arr):
        if v < 2:
            out.append(np.nan)
            continue
        m1, m2 = _range_moments(int(v))
        out.append(np.sqrt(m2 - m1 * m1))
    return np.asarray(out, dtype=float).reshape(arr.shape)


# --------------------------------------------------------------------------- run rules

WE_RULES = ("beyond_3sigma", "2_of_3_beyond_2sigma", "4_of_5_beyond_1sigma", "8_same_side")
NELSON_RULES = (
    "beyond_3sigma",
    "9_same_side",
    "6_trending",
    "14_alternating",
    "2_of_3_beyond_2sigma",
    "4_of_5_beyond_1sigma",
    "15_within_1sigma",
    "8_beyond_1sigma_both_sides",
)


def _window_count(flags: np.ndarray, width: int) -> np.ndarray:
    """Number of True in the window of ``width`` ending at each index (shorter at the start)."""
    c = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    idx = np.arange(1, flags.size + 1)
    return c[idx] - c[np.maximum(idx - width, 0)]


def _run_full(flags: np.ndarray, width: int) -> np.ndarray:
    out = _window_count(flags, width) >= width
    out[: width - 1] = False
    return out


def run_rules(z: Sequence[float] | np.ndarray, rules: str = "we") -> dict[str, np.ndarray]:
    """Western Electric (``"we"``) or Nelson (``"nelson"``) rules on standardised values
    ``z = (statistic - center)/sd``. Each rule gives a boolean array flagging the point that completes
    the pattern. Vectorised (cumulative sums), O(N) memory and time; NaN never triggers a rule."""
    z = np.asarray(z, dtype=float)
    if rules not in ("we", "nelson"):
        raise MethodInputError(f"rules must be 'we' or 'nelson', got {rules!r}")
    valid = ~np.isnan(z)
    zz = np.where(valid, z, 0.0)
    up, down = (zz > 0) & valid, (zz < 0) & valid
    out: dict[str, np.ndarray] = {"beyond_3sigma": (np.abs(zz) > 3) & valid}

    def k_of_m(threshold: float, k: int, m: int) -> np.ndarray:
        hi = _window_count((zz > threshold) & valid, m) >= k
        lo = _window_count((zz < -threshold) & valid, m) >= k
        return hi | lo

    if rules == "we":
        out["2_of_3_beyond_2sigma"] = k_of_m(2, 2, 3)
        out["4_of_5_beyond_1sigma"] = k_of_m(1, 4, 5)
        out["8_same_side"] = _run_full(up, 8) | _run_full(down, 8)
        return out
    out["9_same_side"] = _run_full(up, 9) | _run_full(down, 9)
    step = np.diff(zz)
    step_valid = valid[1:] & valid[:-1]
    inc = np.concatenate(([False], (step > 0) & step_valid))
    dec = np.concatenate(([False], (step < 0) & step_valid))
    out["6_trending"] = _run_full(inc, 5) | _run_full(dec, 5)  # 6 points = 5 steps
    sign = np.sign(step)
    alt = np.concatenate(([False, False], (sign[1:] * sign[:-1] < 0) & step_valid[1:] & step_valid[:-1]))
    out["14_alternating"] = _run_full(alt, 12)  # 14 points = 13 steps = 12 sign changes
    out["2_of_3_beyond_2sigma"] = k_of_m(2, 2, 3)
    out["4_of_5_beyond_1sigma"] = k_of_m(1, 4, 5)
    out["15_within_1sigma"] = _run_full((np.abs(zz) < 1) & valid, 15)
    out["8_beyond_1sigma_both_sides"] = _run_full((np.abs(zz) > 1) & valid, 8)
    return out


# --------------------------------------------------------------------------- Shewhart charts


@dataclass(frozen=True)
class ControlChart(ResultMixin):
    """A Shewhart chart: per-point statistic, centre line and limits (arrays aligned with points).

    ``center_value`` and ``sigma`` are the parameters the limits were built from (for attribute
    charts ``center_value`` is pbar, cbar or ubar and ``sigma`` is None); ``phase`` is ``"I"`` when
    they were estimated from these data and ``"II"`` when given.
    """

    chart: str
    statistics: np.ndarray
    sizes: np.ndarray
    center: np.ndarray
    lcl: np.ndarray
    ucl: np.ndarray
    center_value: float
    sigma: float | None
    nsigmas: float
    std_dev: str
    phase: str
    beyond_limits: np.ndarray
    violations: dict[str, np.ndarray] = field(default_factory=dict)
    rules: str | None = None

    def summary(self) -> str:
        lines = [
            f"{self.chart} chart, phase {self.phase}: {self.statistics.size} points, "
            f"center = {self.center_value:.7g}"
            + (f", sigma = {self.sigma:.7g} ({self.std_dev})" if self.sigma is not None else ""),
        ]
        if np.allclose(self.lcl, self.lcl[0]) and np.allclose(self.ucl, self.ucl[0]):
            lines.append(f"LCL = {self.lcl[0]:.7g}, UCL = {self.ucl[0]:.7g}")
        else:
            lines.append(f"limits vary with sample size: LCL {self.lcl.min():.7g}..{self.lcl.max():.7g}")
        beyond = np.flatnonzero(self.beyond_limits) + 1
        lines.append(f"beyond limits: {', '.join(map(str, beyond)) if beyond.size else 'none'}")
        for rule, flags in self.violations.items():
            hits = np.flatnonzero(flags) + 1
            if hits.size and rule != "beyond_3sigma":
                shown = ", ".join(map(str, hits[:20])) + (" ..." if hits.size > 20 else "")
                lines.append(f"rule {rule}: {shown}")
        return "\n".join(lines)

    def apply(self, data, sizes=None, rules: str | None = None) -> ControlChart:
        """Phase II: the statistics of new ``data`` against these fixed limits."""
        return control_chart(
            self.chart,
            data,
            sizes=sizes,
            center=self.center_value,
            sigma=self.sigma,
            nsigmas=self.nsigmas,
            std_dev=self.std_dev,
            rules=rules if rules is not None else self.rules,
        )


def _subgroups(data) -> np.ndarray:
    """A 2-D float array (subgroups x max size, NaN padded) from a 2-D array or ragged lists."""
    if isinstance(data, np.ndarray) and data.ndim == 2:
        a = data.astype(float)
    else:
        rows = [np.atleast_1d(np.asarray(r, dtype=float)) for r in data]
        if not rows:
            raise MethodInputError("no subgroups given")
        width = max(r.size for r in rows)
        a = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            a[i, : r.size] = r
    if a.ndim != 2 or a.shape[0] == 0:
        raise MethodInputError(f"data must be a table of subgroups, got shape {a.shape}")
    if np.any(np.isinf(a)):
        raise MethodInputError("data contain an infinite value")
    return a


def control_chart(
    chart: str,
    data,
    *,
    sizes: Sequence[float] | np.ndarray | None = None,
    center: float | None = None,
    sigma: float | None = None,
    nsigmas: float = 3.0,
    std_dev: str | None = None,
    rules: str | None = None,
) -> ControlChart:
    """Build a Shewhart chart (``chart`` in :data:`CHARTS`).

    Variables charts (``xbar``, ``R``, ``S``) take subgroups (rows; NaN or ragged rows for variable
    sizes); ``I`` and ``MR`` take individual values. Attribute charts take counts with ``sizes``
    (``p``, ``np``: nonconforming items of samples of ``sizes``; ``c``: nonconformities per unit;
    ``u``: nonconformities in ``sizes`` inspection units). Give ``center`` (and ``sigma``) for
    phase II limits; otherwise they are estimated (phase I). ``rules`` (``"we"``/``"nelson"``) adds
    run-rule flags computed on ``(statistic - center)/sd``.
    """
    if chart not in CHARTS:
        raise MethodInputError(f"chart must be one of {', '.join(CHARTS)}, got {chart!r}")
    k = positive(nsigmas, "nsigmas")
    phase = "II" if center is not None else "I"
    if chart in ("xbar", "R", "S"):
        a = _subgroups(data)
        n = np.sum(~np.isnan(a), axis=1)
        if np.any(n == 0):
            raise MethodInputError(f"subgroup {int(np.argmax(n == 0)) + 1} is empty")
        means = np.nanmean(a, axis=1)
        ranges = np.nanmax(a, axis=1) - np.nanmin(a, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            sds = np.sqrt(np.nansum((a - means[:, None]) ** 2, axis=1) / (n - 1))
        method = std_dev or ("UWAVE-SD" if chart == "S" else "UWAVE-R")
        if method not in ("UWAVE-R", "UWAVE-SD"):
            raise MethodInputError(
                f"std_dev must be 'UWAVE-R' or 'UWAVE-SD' for {chart} charts, got {method!r}"
            )
        if sigma is None:
            if phase == "II" and chart == "xbar":
                raise MethodInputError("phase II limits need both center and sigma")
            multi = n > 1
            if not multi.any():
                raise MethodInputError("subgroups need at least two values to estimate sigma")
            if method == "UWAVE-R":
                sigma = float(np.mean(ranges[multi] / d2(n[multi])))
            else:
                sigma = float(np.mean(sds[multi] / c4(n[multi])))
        sigma = positive(sigma, "sigma")
        if chart == "xbar":
            cv = float(np.sum(means * n) / np.sum(n)) if center is None else float(center)
            stat, cen, sd = means, np.full(n.size, cv), sigma / np.sqrt(n)
            lo_bound, hi_bound = -np.inf, np.inf
        elif chart == "R":
            stat, cen, sd = ranges, d2(n) * sigma, d3(n) * sigma
            cv = float(np.mean(cen)) if center is None else float(center)
            lo_bound, hi_bound = 0.0, np.inf
        else:
            stat, cen, sd = sds, c4(n) * sigma, sigma * np.sqrt(1 - c4(n) ** 2)
            cv = float(np.mean(cen)) if center is None else float(center)
            lo_bound, hi_bound = 0.0, np.inf
        sizes_out = n
    elif chart in ("I", "MR"):
        x = np.asarray(data, dtype=float).ravel()
        if x.size < 2:
            raise MethodInputError(f"an individuals chart needs at least two values, got {x.size}")
        if not np.all(np.isfinite(x)):
            raise MethodInputError("data contain a missing or non-finite value")
        mr = np.concatenate(([np.nan], np.abs(np.diff(x))))
        method = std_dev or "MR"
        if method not in ("MR", "SD"):
            raise MethodInputError(f"std_dev must be 'MR' or 'SD' for {chart} charts, got {method!r}")
        if sigma is None:
            by_mr = method == "MR"
            sigma = float(np.nanmean(mr) / d2(2)) if by_mr else float(np.std(x, ddof=1) / c4(x.size))
        sigma = positive(sigma, "sigma")
        sizes_out = np.ones(x.size, dtype=int)
        if chart == "I":
            cv = float(np.mean(x)) if center is None else float(center)
            stat, cen, sd = x, np.full(x.size, cv), np.full(x.size, sigma)
            lo_bound, hi_bound = -np.inf, np.inf
        else:
            stat = mr
            cen = np.full(x.size, float(d2(2)) * sigma)
            sd = np.full(x.size, float(d3(2)) * sigma)
            cv = float(cen[0]) if center is None else float(center)
            lo_bound, hi_bound = 0.0, np.inf
    else:
        counts = np.asarray(data, dtype=float).ravel()
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise MethodInputError("counts must be finite and non-negative")
        if sizes is None:
            if chart in ("p", "np"):
                raise MethodInputError(f"a {chart} chart needs the sample sizes")
            sizes = np.ones(counts.size)
        nn = np.asarray(sizes, dtype=float).ravel()
        if nn.size == 1:
            nn = np.full(counts.size, float(nn[0]))
        if nn.size != counts.size:
            raise MethodInputError(f"counts and sizes have unequal lengths ({counts.size} and {nn.size})")
        if np.any(nn <= 0):
            raise MethodInputError("sample sizes must be positive")
        if chart in ("p", "np") and np.any(counts > nn):
            raise MethodInputError("a count of nonconforming items exceeds its sample size")
        rate = float(np.sum(counts) / np.sum(nn)) if center is None else float(center)
        sigma = None
        method = "binomial" if chart in ("p", "np") else "poisson"
        cv = rate
        if chart == "p":
            stat, cen, sd = counts / nn, np.full(nn.size, rate), np.sqrt(rate * (1 - rate) / nn)
            lo_bound, hi_bound = 0.0, 1.0
        elif chart == "np":
            stat, cen, sd = counts, nn * rate, np.sqrt(nn * rate * (1 - rate))
            lo_bound, hi_bound = 0.0, nn  # type: ignore[assignment]  # per-sample bound
        elif chart == "c":
            stat, cen, sd = counts / nn, np.full(nn.size, rate), np.sqrt(rate / nn)
            lo_bound, hi_bound = 0.0, np.inf
        else:
            stat, cen, sd = counts / nn, np.full(nn.size, rate), np.sqrt(rate / nn)
            lo_bound, hi_bound = 0.0, np.inf
        sizes_out = nn
    lcl = np.maximum(cen - k * sd, lo_bound)
    ucl = np.minimum(cen + k * sd, hi_bound)
    beyond = (stat < lcl) | (stat > ucl)
    beyond &= ~np.isnan(stat)
    violations = {}
    if rules is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (stat - cen) / sd
        violations = run_rules(z * 3.0 / k, rules)
        violations["beyond_3sigma"] = beyond
    return ControlChart(
        chart=chart,
        statistics=np.asarray(stat, dtype=float),
        sizes=np.asarray(sizes_out),
        center=np.asarray(cen, dtype=float),
        lcl=np.asarray(lcl, dtype=float),
        ucl=np.asarray(ucl, dtype=float),
        center_value=cv,
        sigma=sigma,
        nsigmas=k,
        std_dev=method,
        phase=phase,
        beyond_limits=beyond,
        violations=violations,
        rules=rules,
    )


@dataclass(frozen=True)
class PhaseOne(ResultMixin):
    """Iterated phase I: the final chart on the retained points and the points removed per round."""

    chart: ControlChart
    kept: np.ndarray  # boolean mask over the original points
    removed_per_iteration: tuple[tuple[int, ...], ...]  # 1-based point numbers

    def summary(self) -> str:
        rounds = "; ".join(", ".join(map(str, r)) for r in self.removed_per_iteration) or "none"
        return f"Phase I revision, removed: {rounds}\n{self.chart.summary()}"


def phase_one(
    chart: str,
    data,
    *,
    sizes=None,
    nsigmas: float = 3.0,
    std_dev: str | None = None,
    rules: str | None = None,
    max_iterations: int = 20,
) -> PhaseOne:
    """Trial limits, revised after removing out-of-control points (assignable causes), repeated until
    no point of the retained data is beyond the limits (or a run rule fires, when ``rules`` given)."""
    if chart in ("xbar", "R", "S"):
        rows = list(_subgroups(data))
    else:
        rows = list(np.asarray(data, dtype=float).ravel())
    size_arr = None if sizes is None else np.asarray(sizes, dtype=float).ravel()
    keep = np.ones(len(rows), dtype=bool)
    removed: list[tuple[int, ...]] = []
    for _ in range(max_iterations):
        idx = np.flatnonzero(keep)
        sub = np.array([rows[i] for i in idx]) if chart in ("xbar", "R", "S") else np.asarray(rows)[idx]
        result = control_chart(
            chart,
            sub,
            sizes=None if size_arr is None else size_arr[idx],
            nsigmas=nsigmas,
            std_dev=std_dev,
            rules=rules,
        )
        flags = result.beyond_limits.copy()
        for rule_flags in result.violations.values():
            flags |= rule_flags
        if not flags.any():
            return PhaseOne(result, keep, tuple(removed))
        drop = idx[flags]
        removed.append(tuple(int(i) + 1 for i in drop))
        keep[drop] = False
        if keep.sum() < 2:
            raise MethodInputError("phase I removed nearly all points; the process is not in control")
    return PhaseOne(result, keep, tuple(removed))


# --------------------------------------------------------------------------- EWMA and CUSUM


def _means_and_sizes(data, sizes) -> tuple[np.ndarray, np.ndarray]:
    arr = np.asarray(data, dtype=object if not isinstance(data, np.ndarray) else None)
    if (isinstance(data, np.ndarray) and data.ndim == 1) or (arr.ndim == 1 and np.isscalar(arr.flat[0])):
        x = np.asarray(data, dtype=float).ravel()
        n = (
            np.ones(x.size)
            if sizes is None
            else np.broadcast_to(np.asarray(sizes, dtype=float), x.shape).copy()
        )
        return x, n
    a = _subgroups(data)
    n = np.sum(~np.isnan(a), axis=1).astype(float)
    return np.nanmean(a, axis=1), n


@dataclass(frozen=True)
class EwmaChart(ResultMixin):
    """EWMA chart: ``z_i = lambda xbar_i + (1 - lambda) z_{i-1}``, ``z_0 = center``, exact limits."""

    statistics: np.ndarray
    ewma: np.ndarray
    sizes: np.ndarray
    center: float
    sigma: float
    lam: float
    nsigmas: float
    lcl: np.ndarray
    ucl: np.ndarray
    signals: np.ndarray

    def summary(self) -> str:
        hits = np.flatnonzero(self.signals) + 1
        return (
            f"EWMA chart (lambda = {self.lam:g}, L = {self.nsigmas:g}): center = {self.center:.7g}, "
            f"sigma = {self.sigma:.7g}; signals: {', '.join(map(str, hits)) if hits.size else 'none'}"
        )


def ewma_chart(
    data, *, center: float, sigma: float, lam: float = 0.2, nsigmas: float = 3.0, sizes=None
) -> EwmaChart:
    """EWMA of subgroup means (or individual values) with ``Var(z_i) = lambda^2 sigma^2/n_i +
    (1-lambda)^2 Var(z_{i-1})`` (equal to ``sigma^2/n lambda/(2-lambda) (1-(1-lambda)^(2i))`` for
    constant ``n``). Recursions run through :func:`scipy.signal.lfilter`."""
    if not 0 < lam <= 1:
        raise MethodInputError(f"lam must be in (0, 1], got {lam!r}")
    s = positive(sigma, "sigma")
    k = positive(nsigmas, "nsigmas")
    x, n = _means_and_sizes(data, sizes)
    if not np.all(np.isfinite(x)):
        raise MethodInputError("data contain a missing or non-finite value")
    b, a = [lam], [1.0, -(1 - lam)]
    z = signal.lfilter(b, a, x, zi=[(1 - lam) * center])[0]
    var = signal.lfilter([1.0], [1.0, -((1 - lam) ** 2)], lam**2 * s**2 / n)
    half = k * np.sqrt(var)
    lcl, ucl = center - half, center + half
    return EwmaChart(x, z, n, float(center), s, float(lam), k, lcl, ucl, (z < lcl) | (z > ucl))


@dataclass(frozen=True)
class CusumChart(ResultMixin):
    """Tabular CUSUM in sigma units: ``C+_i = max(0, C+_{i-1} + z_i - k)``, ``C-`` likewise."""

    statistics: np.ndarray
    z: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    k: float
    h: float
    signals_upper: np.ndarray
    signals_lower: np.ndarray

    def summary(self) -> str:
        up = np.flatnonzero(self.signals_upper) + 1
        lo = np.flatnonzero(self.signals_lower) + 1
        return (
            f"CUSUM (k = {self.k:g}, h = {self.h:g}): "
            f"upper signals {', '.join(map(str, up[:20])) or 'none'}; "
            f"lower signals {', '.join(map(str, lo[:20])) or 'none'}"
        )


def _lindley(y: np.ndarray, start: float) -> np.ndarray:
    """``C_i = max(0, C_{i-1} + y_i)``, ``C_0 = start``, in closed form."""
    s = np.cumsum(y)
    return s - np.minimum(-float(start), np.minimum.accumulate(s))


def cusum_chart(
    data, *, center: float, sigma: float, k: float = 0.5, h: float = 5.0, sizes=None, headstart: float = 0.0
) -> CusumChart:
    """Tabular CUSUM of standardised subgroup means ``z_i = (xbar_i - center)/(sigma/sqrt(n_i))``
    (ISO 7870-4; qcc's ``se.shift = 2k``, ``decision.interval = h``)."""
    s = positive(sigma, "sigma")
    x, n = _means_and_sizes(data, sizes)
    if not np.all(np.isfinite(x)):
        raise MethodInputError("data contain a missing or non-finite value")
    z = (x - center) / (s / np.sqrt(n))
    upper = _lindley(z - k, headstart)
    lower = _lindley(-z - k, headstart)
    return CusumChart(x, z, upper, lower, float(k), float(h), upper > h, lower > h)


# --------------------------------------------------------------------------- capability


@dataclass(frozen=True)
class Capability(ResultMixin):
    """Process capability (ISO 22514-2): indices, confidence intervals and fractions outside specs."""

    n: int
    center: float
    sigma_within: float
    sigma_overall: float
    lsl: float | None
    usl: float | None
    target: float | None
    cp: float
    cp_l: float
    cp_u: float
    cp_k: float
    cpm: float
    pp: float
    pp_l: float
    pp_u: float
    pp_k: float
    confidence: float
    ci: dict[str, tuple[float, float]]
    expected_below_lsl: float
    expected_above_usl: float
    observed_below_lsl: float
    observed_above_usl: float

    def summary(self) -> str:
        lines = [
            f"Process capability: n = {self.n}, center = {self.center:.7g}, "
            f"sigma within = {self.sigma_within:.7g}, overall = {self.sigma_overall:.7g}",
            f"LSL = {self.lsl}, USL = {self.usl}, target = {self.target}",
        ]
        for name in ("cp", "cp_l", "cp_u", "cp_k", "cpm", "pp", "pp_k"):
            lo, hi = self.ci.get(name, (np.nan, np.nan))
            lines.append(f"{name:<5} {getattr(self, name):>8.4g}   [{lo:.4g}, {hi:.4g}]")
        lines.append(
            f"expected < LSL {100 * self.expected_below_lsl:.3g} %, "
            f"> USL {100 * self.expected_above_usl:.3g} %; "
            f"observed < LSL {100 * self.observed_below_lsl:.3g} %, "
            f"> USL {100 * self.observed_above_usl:.3g} %"
        )
        return "\n".join(lines)


def process_capability(
    data,
    *,
    lsl: float | None = None,
    usl: float | None = None,
    target: float | None = None,
    center: float | None = None,
    sigma: float | None = None,
    confidence: float = 0.95,
) -> Capability:
    """Capability indices from within sigma (``sigma``, e.g. a chart's Rbar/d2; default the overall
    SD) and performance indices Pp, Ppk from the overall SD. ``target`` defaults to the mid-point of
    the specifications. Confidence intervals as qcc: chi-square for Cp and Cpm, normal approximation
    ``index +/- z sqrt(1/(9n) + index^2/(2(n-1)))`` for the one-sided indices and Cpk."""
    x = np.asarray(data, dtype=float).ravel()
    x = x[~np.isnan(x)]
    if x.size < 2:
        raise MethodInputError(f"capability needs at least two values, got {x.size}")
    if lsl is None and usl is None:
        raise MethodInputError("give at least one specification limit (lsl or usl)")
    if lsl is not None and usl is not None and not lsl < usl:
        raise MethodInputError(f"lsl must be below usl, got {lsl} and {usl}")
    n = x.size
    m = float(np.mean(x)) if center is None else float(center)
    s_overall = float(np.std(x, ddof=1))
    s = s_overall if sigma is None else positive(sigma, "sigma")
    if target is None and lsl is not None and usl is not None:
        target = (lsl + usl) / 2
    nan = float("nan")
    cp = (usl - lsl) / (6 * s) if lsl is not None and usl is not None else nan
    cp_l = (m - lsl) / (3 * s) if lsl is not None else nan
    cp_u = (usl - m) / (3 * s) if usl is not None else nan
    cp_k = float(np.nanmin([cp_l, cp_u]))
    off = (m - target) / s if target is not None else 0.0
    cpm = cp / np.sqrt(1 + off**2) if np.isfinite(cp) else nan
    pp = (usl - lsl) / (6 * s_overall) if lsl is not None and usl is not None else nan
    pp_l = (m - lsl) / (3 * s_overall) if lsl is not None else nan
    pp_u = (usl - m) / (3 * s_overall) if usl is not None else nan
    pp_k = float(np.nanmin([pp_l, pp_u]))
    alpha = 1 - confidence
    zq = stats.norm.ppf(1 - alpha / 2)
    chi_lo, chi_hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], n - 1)

    def normal_ci(v: float, z: float = zq) -> tuple[float, float]:
        half = z * np.sqrt(1 / (9 * n) + v**2 / (2 * (n - 1)))
        return (float(v - half), float(v + half))

    # qcc takes z = qnorm(confidence) for the one-sided indices Cp_l and Cp_u, and qnorm(1 - alpha/2) for
    # Cp_k; the published R News (2004) intervals follow exactly that.
    z_one_sided = stats.norm.ppf(confidence)
    ci = {
        "cp": (float(cp * np.sqrt(chi_lo / (n - 1))), float(cp * np.sqrt(chi_hi / (n - 1)))),
        "cp_l": normal_ci(cp_l, z_one_sided),
        "cp_u": normal_ci(cp_u, z_one_sided),
        "cp_k": normal_ci(cp_k),
        "pp": (float(pp * np.sqrt(chi_lo / (n - 1))), float(pp * np.sqrt(chi_hi / (n - 1)))),
        "pp_k": normal_ci(pp_k),
    }
    # qcc's degrees of freedom for the Cpm interval, n(1 + d^2)/(1 + 2 d^2); Boyles (1991) squares the
    # numerator's (1 + d^2). The published qcc figures (pistonrings, target 74.02) follow the former.
    df_m = n * (1 + off**2) / (1 + 2 * off**2)
    cm_lo, cm_hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], df_m)
    ci["cpm"] = (float(cpm * np.sqrt(cm_lo / df_m)), float(cpm * np.sqrt(cm_hi / df_m)))
    return Capability(
        n=n,
        center=m,
        sigma_within=s,
        sigma_overall=s_overall,
        lsl=lsl,
        usl=usl,
        target=target,
        cp=float(cp),
        cp_l=float(cp_l),
        cp_u=float(cp_u),
        cp_k=cp_k,
        cpm=float(cpm),
        pp=float(pp),
        pp_l=float(pp_l),
        pp_u=float(pp_u),
        pp_k=pp_k,
        confidence=confidence,
        ci=ci,
        expected_below_lsl=float(stats.norm.cdf((lsl - m) / s)) if lsl is not None else 0.0,
        expected_above_usl=float(stats.norm.sf((usl - m) / s)) if usl is not None else 0.0,
        observed_below_lsl=float(np.mean(x < lsl)) if lsl is not None else 0.0,
        observed_above_usl=float(np.mean(x > usl)) if usl is not None else 0.0,
    )
