"""Precision of a standard measurement method: ISO 5725-2:2019 (basic method, one-factor design).

A precision experiment has ``q`` levels, ``p`` laboratories and ``n_ij`` replicates per cell; cells
may be missing and replicate numbers may differ (unbalanced designs, ISO 5725-2 7.4.4 general
formulas). For each level :func:`precision_study` returns the cell means and standard deviations,
Mandel's consistency statistics h and k (7.3.1) with their indicator values at the 1 % and 5 % levels,
Cochran's test (7.3.2), Grubbs' single and double tests on the cell means (7.3.4), the
repeatability, between-laboratory and reproducibility standard deviations ``s_r``, ``s_L``, ``s_R``
(7.4.5) and the limits ``r = 2.8 s_r`` and ``R = 2.8 s_R`` (ISO 5725-6 4.1.4).

Test outcomes follow ISO 5725-2 7.3.2.1: a statistic beyond its 5 % critical value but not its 1 %
value is a *straggler*, beyond the 1 % value an *outlier*. Critical values are computed, not looked up:

* Cochran: the exact upper tail of ``C = max s_i^2 / sum s_i^2`` for ``p`` variances on ``n - 1``
  degrees of freedom. ``C`` is the largest component of a symmetric Dirichlet vector; one exceedance
  is a Beta tail (exact when ``C > 1/2``), two use a one-dimensional integral (exact when ``C > 1/3``,
  and used below that while a bound on three exceedances is under 1e-6); otherwise the distribution
  function is the ratio of the ``p``-fold convolution of the
  truncated and untruncated Gamma(``(n-1)/2``) laws at the simplex (exponentially tilted, by FFT).
* Grubbs single: ``G = (p-1)/sqrt(p) sqrt(t^2/(p-2+t^2))``, ``t`` the upper ``alpha/(2p)`` point of
  Student's t with ``p-2`` degrees of freedom (the two-sided construction of ISO 5725-2 Table 5).
* Grubbs double: no closed form exists; the lower critical value of ``s^2_{p-1,p}/s^2_0`` is the
  ``alpha/2`` quantile (two-sided, like the single test: either the two largest or the two smallest)
  of a seeded Monte Carlo simulation of 10^6 statistics (standard error ~3e-4 at 1 %).
* Mandel's h: ``(p-1) t / sqrt(p (t^2 + p - 2))`` with ``t`` the two-sided ``alpha`` point on ``p-2``
  degrees of freedom; Mandel's k: ``sqrt(p / (1 + (p-1)/F))`` with ``F`` the upper ``alpha`` point of
  F(``n-1``, ``(p-1)(n-1)``) (ISO 5725-2 Tables 6 and 7).

>>> import numpy as np
>>> labs = np.repeat(["A", "B", "C", "D"], 2)
>>> values = [10.1, 10.3, 10.0, 10.2, 10.6, 10.4, 10.2, 10.2]
>>> study = precision_study(values, labs)
>>> level = study.levels[0]
>>> round(level.repeatability_sd, 4), round(level.reproducibility_sd, 4)
(0.1225, 0.1936)
>>> round(level.repeatability_limit, 3)
0.343
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import integrate, optimize, special, stats

from qslab.methods._validate import MethodInputError
from qslab.results import ResultMixin

__all__ = [
    "OutlierOutcome",
    "PrecisionLevel",
    "PrecisionStudy",
    "cochran_critical_value",
    "cochran_test",
    "grubbs_critical_value",
    "grubbs_double_critical_value",
    "grubbs_double_test",
    "grubbs_test",
    "mandel_h",
    "mandel_h_indicator",
    "mandel_k",
    "mandel_k_indicator",
    "precision_study",
]

LIMIT_FACTOR = 2.8  # ISO 5725-6 4.1.4: 1.96 * sqrt(2), rounded as the standard does
STRAGGLER_ALPHA = 0.05
OUTLIER_ALPHA = 0.01


def _classify(statistic: float, crit_5: float, crit_1: float, upper: bool = True) -> str:
    if not np.isfinite(statistic):
        return "not tested"
    beyond = (lambda c: statistic > c) if upper else (lambda c: statistic < c)
    if beyond(crit_1):
        return "outlier"
    if beyond(crit_5):
        return "straggler"
    return "correct"


@dataclass(frozen=True)
class OutlierOutcome(ResultMixin):
    """One outlier test: statistic, the laboratory (or laboratories) it points at, critical values at
    5 % and 1 %, and the ISO 5725-2 7.3.2.1 verdict ``correct``, ``straggler``, ``outlier`` or
    ``not tested`` (too few data)."""

    test: str
    statistic: float
    lab: str
    critical_5pct: float
    critical_1pct: float
    verdict: str

    def summary(self) -> str:
        return (
            f"{self.test}: {self.statistic:.4f} at {self.lab or '-'} "
            f"(5 %: {self.critical_5pct:.4f}, 1 %: {self.critical_1pct:.4f}) -> {self.verdict}"
        )


# --------------------------------------------------------------------------- critical values


def grubbs_critical_value(p: int, alpha: float) -> float:
    """Critical value of Grubbs' single-outlier statistic for ``p`` values (ISO 5725-2 Table 5).

    >>> round(grubbs_critical_value(10, 0.05), 3), round(grubbs_critical_value(10, 0.01), 3)
    (2.29, 2.482)
    """
    p = _check_count(p, 3, "p")
    alpha = _check_alpha(alpha)
    t = stats.t.isf(alpha / (2 * p), p - 2)
    return float((p - 1) / np.sqrt(p) * np.sqrt(t * t / (p - 2 + t * t)))


def mandel_h_indicator(p: int, alpha: float) -> float:
    """Indicator value of Mandel's h for ``p`` laboratories (ISO 5725-2 Table 6, 7.3.1)."""
    p = _check_count(p, 3, "p")
    alpha = _check_alpha(alpha)
    t = stats.t.isf(alpha / 2, p - 2)
    return float((p - 1) * t / np.sqrt(p * (t * t + p - 2)))


def mandel_k_indicator(p: int, n: int, alpha: float) -> float:
    """Indicator value of Mandel's k for ``p`` laboratories and ``n`` replicates (ISO 5725-2 Table 6)."""
    p = _check_count(p, 2, "p")
    n = _check_count(n, 2, "n")
    alpha = _check_alpha(alpha)
    f = stats.f.isf(alpha, n - 1, (p - 1) * (n - 1))
    return float(np.sqrt(p / (1 + (p - 1) / f)))


@lru_cache(maxsize=1024)
def cochran_critical_value(p: int, n: int, alpha: float) -> float:
    """Upper ``alpha`` critical value of Cochran's C for ``p`` variances from ``n`` results each.

    Exact evaluation of the distribution (see the module docstring), not the Bonferroni bound.

    >>> round(cochran_critical_value(5, 2, 0.01), 4), round(cochran_critical_value(10, 4, 0.05), 4)
    (0.9279, 0.3733)
    """
    p = _check_count(p, 2, "p")
    n = _check_count(n, 2, "n")
    alpha = _check_alpha(alpha)
    a = (n - 1) / 2.0
    c1 = float(stats.beta.isf(alpha / p, a, (p - 1) * a))  # one exceedance: exact if C > 1/2
    if c1 >= 0.5 or p == 2:
        return c1
    upper = min(1.0, c1 + 1e-3)

    def excess(c: float) -> float:
        return _cochran_tail(c, p, a) - alpha

    return float(optimize.brentq(excess, 1.0 / p + 1e-12, upper, xtol=1e-9))


def _cochran_tail(c: float, p: int, a: float) -> float:
    """P(C > c) for Dirichlet(a, ..., a) with ``p`` components."""
    one = float(p * special.betaincc(a, (p - 1) * a, c))
    if c >= 0.5:
        return one
    b = (p - 2) * a
    log_norm = special.betaln(a, (p - 1) * a)

    def joint(y: float) -> float:
        log_pdf = (a - 1) * np.log(y) + ((p - 1) * a - 1) * np.log1p(-y) - log_norm
        return float(np.exp(log_pdf) * special.betaincc(a, b, c / (1 - y)))

    two, _ = integrate.quad(joint, c, 1 - c, limit=200, epsabs=1e-14)
    pairs = p * (p - 1) / 2 * two
    if c >= 1.0 / 3.0:  # at most two components can exceed c: inclusion-exclusion is exact
        return one - pairs
    # Bonferroni: S1 - S2 <= P <= S1 - S2 + S3, and S3 <= S2 * (p-2)/3 * P(Y3 > c/(1-2c) | ...)
    third = pairs * (p - 2) / 3.0 * float(special.betaincc(a, max(p - 3, 1e-9) * a, c / (1 - 2 * c)))
    if third < 1e-6:
        return one - pairs
    return 1.0 - _cochran_cdf_convolution(c, p, a)


def _cochran_cdf_convolution(c: float, p: int, a: float) -> float:
    """P(C <= c) as the ratio of p-fold convolutions of truncated/untruncated Gamma(a) at 1."""
    m = 2**15 if a < 1 else 2**12
    theta = p * a  # tilt so that the sum of p variables has mean 1
    edges = np.arange(m + 1) / m
    cdf = special.gammainc(a, theta * edges)
    mass = np.diff(cdf)
    trunc = mass.copy()
    j = int(np.floor(c * m))
    trunc[j + 1 :] = 0.0
    if j < m:
        trunc[j] = special.gammainc(a, theta * c) - cdf[j]
    size = 1 << int(np.ceil(np.log2(p * m + 1)))
    rt = np.fft.irfft(np.fft.rfft(trunc, size) ** p, size)
    rf = np.fft.irfft(np.fft.rfft(mass, size) ** p, size)
    idx = m - p / 2  # bin centres: the sum of p centres sits at (index + p/2)/m
    i0 = int(np.floor(idx))
    w = idx - i0
    vt = (1 - w) * rt[i0] + w * rt[i0 + 1]
    vf = (1 - w) * rf[i0] + w * rf[i0 + 1]
    return float(min(1.0, max(0.0, vt / vf)))


@lru_cache(maxsize=256)
def grubbs_double_critical_value(p: int, alpha: float, simulations: int = 500_000) -> float:
    """Lower critical value of Grubbs' double-outlier statistic for ``p`` values (ISO 5725-2 7.3.4.3).

    The ``alpha/2`` quantile of ``s^2_{p-1,p} / s^2_0`` under normality (two-sided, as ISO 5725-2
    Table 5), estimated from a seeded simulation of ``simulations`` samples whose low and high
    statistics are pooled. Deterministic.

    >>> round(grubbs_double_critical_value(10, 0.01), 3), round(grubbs_double_critical_value(10, 0.05), 3)
    (0.115, 0.186)
    """
    p = _check_count(p, 4, "p")
    alpha = _check_alpha(alpha)
    rng = np.random.default_rng(5725 + p)
    pooled = []
    chunk = max(1000, 4_000_000 // p)
    done = 0
    while done < simulations:
        size = min(chunk, simulations - done)
        x = np.sort(rng.standard_normal((size, p)), axis=1)
        lo, hi = _double_grubbs_statistics(x)
        pooled.extend([lo, hi])
        done += size
    return float(np.quantile(np.concatenate(pooled), alpha / 2))


def _double_grubbs_statistics(sorted_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of sorted values -> (G_low, G_high) per ISO 5725-2 7.3.4.3."""
    s0 = np.sum((sorted_x - sorted_x.mean(axis=1, keepdims=True)) ** 2, axis=1)
    rest_hi = sorted_x[:, :-2]
    rest_lo = sorted_x[:, 2:]
    s_hi = np.sum((rest_hi - rest_hi.mean(axis=1, keepdims=True)) ** 2, axis=1)
    s_lo = np.sum((rest_lo - rest_lo.mean(axis=1, keepdims=True)) ** 2, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return s_lo / s0, s_hi / s0


# --------------------------------------------------------------------------- tests on data


def cochran_test(
    sds: Sequence[float] | np.ndarray, n: int, labs: Sequence[str] | None = None
) -> OutlierOutcome:
    """Cochran's test (ISO 5725-2 7.3.2): ``C = s_max^2 / sum s_i^2`` over the cell SDs at one level.

    ``n`` is the number of replicates per cell (the most frequent one if they differ slightly).
    """
    s = np.asarray(sds, dtype=float)
    if s.ndim != 1 or s.size < 2:
        raise MethodInputError("Cochran's test needs the standard deviations of at least two cells")
    if np.any(~np.isfinite(s)) or np.any(s < 0):
        raise MethodInputError("cell standard deviations must be finite and non-negative")
    names = [str(x) for x in labs] if labs is not None else [str(i + 1) for i in range(s.size)]
    total = float(np.sum(s * s))
    i = int(np.argmax(s))
    c = float(s[i] ** 2 / total) if total > 0 else np.nan
    c5 = cochran_critical_value(s.size, int(n), STRAGGLER_ALPHA)
    c1 = cochran_critical_value(s.size, int(n), OUTLIER_ALPHA)
    return OutlierOutcome("Cochran C", c, names[i], c5, c1, _classify(c, c5, c1))


def grubbs_test(
    values: Sequence[float] | np.ndarray, labs: Sequence[str] | None = None
) -> tuple[OutlierOutcome, OutlierOutcome]:
    """Grubbs' single-outlier test on the cell means (ISO 5725-2 7.3.4.1): (low, high) outcomes."""
    x = _finite(values, "values")
    p = x.size
    if p < 3:
        raise MethodInputError(f"Grubbs' test needs at least 3 values, got {p}")
    names = [str(v) for v in labs] if labs is not None else [str(i + 1) for i in range(p)]
    s = float(np.std(x, ddof=1))
    mean = float(np.mean(x))
    lo, hi = int(np.argmin(x)), int(np.argmax(x))
    g_lo = (mean - x[lo]) / s if s > 0 else np.nan
    g_hi = (x[hi] - mean) / s if s > 0 else np.nan
    c5, c1 = grubbs_critical_value(p, STRAGGLER_ALPHA), grubbs_critical_value(p, OUTLIER_ALPHA)
    return (
        OutlierOutcome("Grubbs single low", float(g_lo), names[lo], c5, c1, _classify(g_lo, c5, c1)),
        OutlierOutcome("Grubbs single high", float(g_hi), names[hi], c5, c1, _classify(g_hi, c5, c1)),
    )


def grubbs_double_test(
    values: Sequence[float] | np.ndarray, labs: Sequence[str] | None = None
) -> tuple[OutlierOutcome, OutlierOutcome]:
    """Grubbs' double-outlier test (ISO 5725-2 7.3.4.3): (two lowest, two highest) outcomes.

    Small values of ``G = s^2_{1,2}/s^2_0`` (or ``s^2_{p-1,p}/s^2_0``) are significant.
    """
    x = _finite(values, "values")
    p = x.size
    if p < 4:
        raise MethodInputError(f"Grubbs' double test needs at least 4 values, got {p}")
    names = [str(v) for v in labs] if labs is not None else [str(i + 1) for i in range(p)]
    order = np.argsort(x, kind="stable")
    g_lo, g_hi = _double_grubbs_statistics(x[order][None, :])
    c5, c1 = grubbs_double_critical_value(p, STRAGGLER_ALPHA), grubbs_double_critical_value(p, OUTLIER_ALPHA)
    low_labs = f"{names[order[0]]},{names[order[1]]}"
    high_labs = f"{names[order[-2]]},{names[order[-1]]}"
    glo, ghi = float(g_lo[0]), float(g_hi[0])
    return (
        OutlierOutcome("Grubbs double low", glo, low_labs, c5, c1, _classify(glo, c5, c1, upper=False)),
        OutlierOutcome("Grubbs double high", ghi, high_labs, c5, c1, _classify(ghi, c5, c1, upper=False)),
    )


def mandel_h(cell_means: Sequence[float] | np.ndarray) -> np.ndarray:
    """Mandel's between-laboratory consistency statistic h (ISO 5725-2 7.3.1, formula (6))."""
    y = _finite(cell_means, "cell means")
    if y.size < 2:
        raise MethodInputError("Mandel's h needs at least two cell means")
    dev = y - y.mean()
    s = np.sqrt(np.sum(dev * dev) / (y.size - 1))
    return dev / s if s > 0 else np.full(y.size, np.nan)


def mandel_k(cell_sds: Sequence[float] | np.ndarray) -> np.ndarray:
    """Mandel's within-laboratory consistency statistic k (ISO 5725-2 7.3.1, formula (7))."""
    s = _finite(cell_sds, "cell standard deviations")
    total = np.sum(s * s)
    return s * np.sqrt(s.size / total) if total > 0 else np.full(s.size, np.nan)


# --------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class PrecisionLevel(ResultMixin):
    """ISO 5725-2 results for one level: cells (laboratories) are aligned with ``labs``."""

    level: str
    labs: tuple[str, ...]
    cell_sizes: np.ndarray
    cell_means: np.ndarray
    cell_sds: np.ndarray
    p: int
    n_bar: float
    general_mean: float
    repeatability_sd: float
    between_lab_sd: float
    reproducibility_sd: float
    repeatability_limit: float
    reproducibility_limit: float
    mandel_h: np.ndarray
    mandel_k: np.ndarray
    mandel_h_indicators: dict[str, float]
    mandel_k_indicators: dict[str, float]
    cochran: OutlierOutcome | None
    grubbs_single: tuple[OutlierOutcome, OutlierOutcome] | None
    grubbs_double: tuple[OutlierOutcome, OutlierOutcome] | None

    def summary(self) -> str:
        lines = [f"Level {self.level}: p = {self.p}, mean = {self.general_mean:.6g}"]
        lines.append(f"  {'lab':<12} {'n':>3} {'mean':>12} {'sd':>12} {'h':>8} {'k':>8}")
        for i, lab in enumerate(self.labs):
            lines.append(
                f"  {lab:<12} {int(self.cell_sizes[i]):>3} {self.cell_means[i]:>12.6g} "
                f"{self.cell_sds[i]:>12.6g} {self.mandel_h[i]:>8.3f} {self.mandel_k[i]:>8.3f}"
            )
        h, k = self.mandel_h_indicators, self.mandel_k_indicators
        lines.append(
            f"  h indicators 5 %/1 %: {h.get('5%', np.nan):.3f}/{h.get('1%', np.nan):.3f}; "
            f"k indicators 5 %/1 %: {k.get('5%', np.nan):.3f}/{k.get('1%', np.nan):.3f}"
        )
        for outcome in [self.cochran, *(self.grubbs_single or ()), *(self.grubbs_double or ())]:
            if outcome is not None:
                lines.append("  " + outcome.summary())
        lines.append(
            f"  s_r = {self.repeatability_sd:.6g}, s_L = {self.between_lab_sd:.6g}, "
            f"s_R = {self.reproducibility_sd:.6g}"
        )
        lines.append(f"  r = {self.repeatability_limit:.6g}, R = {self.reproducibility_limit:.6g}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PrecisionStudy(ResultMixin):
    """An ISO 5725-2 precision experiment: one :class:`PrecisionLevel` per level."""

    levels: tuple[PrecisionLevel, ...]

    def summary(self) -> str:
        return "ISO 5725-2 precision experiment\n" + "\n".join(lv.summary() for lv in self.levels)

    def level(self, name: object) -> PrecisionLevel:
        for lv in self.levels:
            if lv.level == str(name):
                return lv
        raise KeyError(name)


def precision_study(
    values: Sequence[float] | np.ndarray,
    labs: Sequence[object] | np.ndarray,
    levels: Sequence[object] | np.ndarray | None = None,
) -> PrecisionStudy:
    """Analyse a precision experiment given in long form (one row per test result).

    ``values``, ``labs`` and (optional) ``levels`` are aligned. Missing values (NaN) are dropped; a
    laboratory without results at a level is a missing cell. Formulas of ISO 5725-2 7.4.4-7.4.5:
    ``s_r^2 = sum (n_i-1) s_i^2 / sum (n_i-1)``, ``s_d^2 = sum n_i (ybar_i - ybar)^2 / (p-1)``,
    ``n_bar = (sum n_i - sum n_i^2 / sum n_i)/(p-1)``, ``s_L^2 = max(0, (s_d^2 - s_r^2)/n_bar)``,
    ``s_R^2 = s_r^2 + s_L^2``.
    """
    x = np.asarray(values, dtype=float).ravel()
    lab = np.asarray(labs).ravel()
    if x.size != lab.size:
        raise MethodInputError(f"values and labs have unequal lengths ({x.size} and {lab.size})")
    lev = np.zeros(x.size, dtype=int) if levels is None else np.asarray(levels).ravel()
    if lev.size != x.size:
        raise MethodInputError(f"values and levels have unequal lengths ({x.size} and {lev.size})")
    if np.any(np.isinf(x)):
        raise MethodInputError("values contain an infinite value")
    keep = ~np.isnan(x)
    x, lab, lev = x[keep], lab[keep], lev[keep]
    if x.size == 0:
        raise MethodInputError("no test results")
    level_names, level_codes = np.unique(lev, return_inverse=True)
    results = []
    for li, name in enumerate(level_names):
        sel = level_codes == li
        results.append(_analyse_level("" if levels is None else str(name), x[sel], lab[sel]))
    return PrecisionStudy(levels=tuple(results))


def _analyse_level(name: str, x: np.ndarray, lab: np.ndarray) -> PrecisionLevel:
    lab_names, codes = np.unique(lab, return_inverse=True)
    p = lab_names.size
    where = f" at level {name}" if name else ""
    if p < 2:
        raise MethodInputError(f"a precision experiment needs at least two laboratories{where}, got {p}")
    sizes = np.bincount(codes, minlength=p)
    means = np.bincount(codes, weights=x, minlength=p) / sizes
    resid = x - means[codes]
    ss = np.bincount(codes, weights=resid * resid, minlength=p)
    with np.errstate(invalid="ignore", divide="ignore"):
        sds = np.where(sizes > 1, np.sqrt(ss / (sizes - 1)), np.nan)
    dof = np.sum(sizes - 1)
    if dof < 1:
        raise MethodInputError(f"fewer than two replicates in every cell{where}: s_r cannot be estimated")
    s_r2 = float(np.sum(ss) / dof)
    n_tot = float(sizes.sum())
    general_mean = float(np.sum(sizes * means) / n_tot)
    s_d2 = float(np.sum(sizes * (means - general_mean) ** 2) / (p - 1))
    n_bar = float((n_tot - np.sum(sizes.astype(float) ** 2) / n_tot) / (p - 1))
    s_l2 = max(0.0, (s_d2 - s_r2) / n_bar)
    s_r, s_l = np.sqrt(s_r2), np.sqrt(s_l2)
    s_rr = float(np.sqrt(s_r2 + s_l2))
    names = [str(v) for v in lab_names]

    h = mandel_h(means)
    replicated = sizes > 1
    k = np.full(p, np.nan)
    k[replicated] = mandel_k(sds[replicated]) if replicated.sum() >= 2 else np.nan
    n_typical = int(np.bincount(sizes[replicated]).argmax()) if replicated.any() else 1
    h_ind = {"5%": mandel_h_indicator(p, 0.05), "1%": mandel_h_indicator(p, 0.01)} if p >= 3 else {}
    k_ind = (
        {
            "5%": mandel_k_indicator(int(replicated.sum()), n_typical, 0.05),
            "1%": mandel_k_indicator(int(replicated.sum()), n_typical, 0.01),
        }
        if replicated.sum() >= 2
        else {}
    )
    cochran = (
        cochran_test(sds[replicated], n_typical, [names[i] for i in np.flatnonzero(replicated)])
        if replicated.sum() >= 2
        else None
    )
    single = grubbs_test(means, names) if p >= 3 else None
    double = grubbs_double_test(means, names) if p >= 4 else None
    return PrecisionLevel(
        level=name,
        labs=tuple(names),
        cell_sizes=sizes,
        cell_means=means,
        cell_sds=sds,
        p=int(p),
        n_bar=n_bar,
        general_mean=general_mean,
        repeatability_sd=float(s_r),
        between_lab_sd=float(s_l),
        reproducibility_sd=s_rr,
        repeatability_limit=float(LIMIT_FACTOR * s_r),
        reproducibility_limit=float(LIMIT_FACTOR * s_rr),
        mandel_h=h,
        mandel_k=k,
        mandel_h_indicators=h_ind,
        mandel_k_indicators=k_ind,
        cochran=cochran,
        grubbs_single=single,
        grubbs_double=double,
    )


def _finite(values, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise MethodInputError(f"{name} contain a missing or non-finite value")
    return x


def _check_count(value: int, minimum: int, name: str) -> int:
    if int(value) != value or value < minimum:
        raise MethodInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0 < alpha < 1:
        raise MethodInputError(f"alpha must be between 0 and 1, got {alpha!r}")
    return alpha
