"""Reference-material certification: ISO Guide 35:2017 (ISO 33405) with ISO 17034.

* :func:`homogeneity` - between-unit homogeneity by one-way ANOVA (Guide 35 7.7, Annex C):
  ``s_bb = sqrt((MS_between - MS_within)/n0)`` (0 when ``MS_between < MS_within``) and the
  limit of detectable heterogeneity ``u*_bb = sqrt(MS_within/n0) (2/nu_within)^(1/4)``;
  ``u_bb = max(s_bb, u*_bb)``. ``n0`` is the effective replicate number for unequal replicates.
* :func:`stability` - trend by least-squares regression of value on time (Guide 35 8.7): slope, its
  standard error, two-sided t-test, and ``u_lts = |SE(slope)| * shelf_life``.
* :func:`characterisation` - mean of laboratory means and ``u_char = SD/sqrt(p)`` (Guide 35 9).
* :func:`certified_uncertainty` - ``u_CRM = sqrt(u_char^2 + u_bb^2 + u_lts^2 + u_sts^2)``,
  ``U = k u_CRM`` (Guide 35 10).

>>> units = [[10.1, 10.3], [10.2, 10.4], [9.9, 10.1], [10.3, 10.2]]
>>> hom = homogeneity(units)
>>> round(hom.ms_between, 5), round(hom.s_bb, 4)
(0.03458, 0.0957)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from qslab.methods._validate import MethodInputError, as_1d, non_negative, positive, same_length
from qslab.methods.anova import one_way_anova
from qslab.results import ResultMixin

__all__ = [
    "CertifiedValue",
    "Characterisation",
    "Homogeneity",
    "Stability",
    "certified_uncertainty",
    "characterisation",
    "homogeneity",
    "stability",
]


@dataclass(frozen=True)
class Homogeneity(ResultMixin):
    """Between-unit homogeneity (ISO Guide 35 7.7). ``*_relative`` values are divided by the mean of
    unit means."""

    n_units: int
    n_effective: float
    mean_of_unit_means: float
    ms_between: float
    ms_within: float
    df_between: int
    df_within: int
    f_statistic: float
    p_value: float
    s_bb: float
    u_star_bb: float
    u_bb: float
    s_bb_relative: float
    u_star_bb_relative: float
    u_bb_relative: float

    def summary(self) -> str:
        return (
            f"Homogeneity (ISO Guide 35): {self.n_units} units, n0 = {self.n_effective:.4g}, "
            f"MS_between = {self.ms_between:.4g}, MS_within = {self.ms_within:.4g}, p = {self.p_value:.4g}; "
            f"s_bb = {self.s_bb:.4g} ({100 * self.s_bb_relative:.3g} %), u*_bb = {self.u_star_bb:.4g} "
            f"({100 * self.u_star_bb_relative:.3g} %), u_bb = {self.u_bb:.4g}"
        )


def homogeneity(units: Sequence[Sequence[float]]) -> Homogeneity:
    """Homogeneity from replicate results per unit (rows may have different lengths)."""
    rows = [np.asarray(u, dtype=float).ravel() for u in units]
    for i, r in enumerate(rows):
        if r.size < 2:
            raise MethodInputError(f"unit {i + 1} has fewer than two replicates ({r.size})")
    if len(rows) < 2:
        raise MethodInputError(f"the homogeneity study needs at least two units, got {len(rows)}")
    table = one_way_anova(rows)
    sizes = table.group_sizes.astype(float)
    n_total = sizes.sum()
    n0 = float((n_total - np.sum(sizes**2) / n_total) / (len(rows) - 1))
    mean_units = float(np.mean(table.group_means))
    diff = table.ms_between - table.ms_within
    s_bb = float(np.sqrt(diff / n0)) if diff > 0 else 0.0
    u_star = float(np.sqrt(table.ms_within / n0) * (2.0 / table.df_within) ** 0.25)
    u_bb = max(s_bb, u_star)
    return Homogeneity(
        n_units=len(rows),
        n_effective=n0,
        mean_of_unit_means=mean_units,
        ms_between=table.ms_between,
        ms_within=table.ms_within,
        df_between=table.df_between,
        df_within=table.df_within,
        f_statistic=table.f_statistic,
        p_value=table.p_value,
        s_bb=s_bb,
        u_star_bb=u_star,
        u_bb=u_bb,
        s_bb_relative=s_bb / mean_units,
        u_star_bb_relative=u_star / mean_units,
        u_bb_relative=u_bb / mean_units,
    )


@dataclass(frozen=True)
class Stability(ResultMixin):
    """Stability trend (ISO Guide 35 8.7): ``value = intercept + slope * time``."""

    n: int
    slope: float
    intercept: float
    se_slope: float
    t_statistic: float
    p_value: float
    significant: bool
    alpha: float
    residual_sd: float
    time_span: float
    shelf_life: float | None
    u_lts: float | None

    def summary(self) -> str:
        text = (
            f"Stability (ISO Guide 35): slope = {self.slope:.4g} +/- {self.se_slope:.4g} per time unit, "
            f"t = {self.t_statistic:.3f}, p = {self.p_value:.4g} "
            f"({'significant' if self.significant else 'not significant'} at {self.alpha:g})"
        )
        if self.u_lts is not None:
            text += f"; u_lts = {self.u_lts:.4g} over {self.shelf_life:g}"
        return text


def stability(
    time: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    shelf_life: float | None = None,
    alpha: float = 0.05,
) -> Stability:
    """Least-squares trend of ``values`` on ``time`` (centred, so large time origins such as dates in
    days do not cost digits); ``u_lts = |SE(slope)| * shelf_life`` in the same time unit."""
    t = as_1d(time, "time", min_length=3)
    y = as_1d(values, "values", min_length=3)
    same_length("time", t, "values", y)
    tc = t - t.mean()
    sxx = float(np.sum(tc * tc))
    if sxx == 0:
        raise MethodInputError("time has no spread: all measurements at the same time")
    yc = y - y.mean()
    slope = float(np.sum(tc * yc) / sxx)
    resid = yc - slope * tc
    df = t.size - 2
    s = float(np.sqrt(np.sum(resid * resid) / df))
    se = s / np.sqrt(sxx)
    t_stat = slope / se if se > 0 else (np.inf if slope != 0 else np.nan)
    p = float(2 * stats.t.sf(abs(t_stat), df)) if np.isfinite(t_stat) else (0.0 if slope != 0 else np.nan)
    life = None if shelf_life is None else non_negative(shelf_life, "shelf_life")
    return Stability(
        n=int(t.size),
        slope=slope,
        intercept=float(y.mean() - slope * t.mean()),
        se_slope=float(se),
        t_statistic=float(t_stat),
        p_value=p,
        significant=bool(p < alpha),
        alpha=float(alpha),
        residual_sd=s,
        time_span=float(t.max() - t.min()),
        shelf_life=life,
        u_lts=None if life is None else float(abs(se) * life),
    )


@dataclass(frozen=True)
class Characterisation(ResultMixin):
    """Characterisation by an interlaboratory comparison (ISO Guide 35 9.4): mean of lab means."""

    p: int
    value: float
    sd_of_means: float
    u_char: float

    def summary(self) -> str:
        return (
            f"Characterisation: {self.p} labs, mean of means = {self.value:.6g}, u_char = {self.u_char:.4g}"
        )


def characterisation(lab_means: Sequence[float] | np.ndarray) -> Characterisation:
    """``value = mean(lab_means)``, ``u_char = SD(lab_means)/sqrt(p)``."""
    x = as_1d(lab_means, "lab_means", min_length=2)
    sd = float(np.std(x, ddof=1))
    return Characterisation(p=int(x.size), value=float(x.mean()), sd_of_means=sd, u_char=sd / np.sqrt(x.size))


@dataclass(frozen=True)
class CertifiedValue(ResultMixin):
    """Certified value with ``u_CRM`` and ``U = k u_CRM`` (ISO Guide 35 10.2)."""

    value: float
    u_char: float
    u_bb: float
    u_lts: float
    u_sts: float
    u_crm: float
    coverage_factor: float
    expanded_uncertainty: float

    def summary(self) -> str:
        return (
            f"certified value {self.value:.6g} +/- {self.expanded_uncertainty:.3g} "
            f"(k = {self.coverage_factor:g}); u_char = {self.u_char:.3g}, u_bb = {self.u_bb:.3g}, "
            f"u_lts = {self.u_lts:.3g}, u_sts = {self.u_sts:.3g}"
        )


def certified_uncertainty(
    value: float,
    u_char: float,
    u_bb: float = 0.0,
    u_lts: float = 0.0,
    u_sts: float = 0.0,
    coverage_factor: float = 2.0,
) -> CertifiedValue:
    """Combine the uncertainty components of a certified value (all standard uncertainties)."""
    parts = {
        "u_char": non_negative(u_char, "u_char"),
        "u_bb": non_negative(u_bb, "u_bb"),
        "u_lts": non_negative(u_lts, "u_lts"),
        "u_sts": non_negative(u_sts, "u_sts"),
    }
    k = positive(coverage_factor, "coverage_factor")
    u = float(np.sqrt(sum(v * v for v in parts.values())))
    return CertifiedValue(value=float(value), **parts, u_crm=u, coverage_factor=k, expanded_uncertainty=k * u)
