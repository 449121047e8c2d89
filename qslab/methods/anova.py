"""One-way fixed-effects analysis of variance, accurate to the NIST StRD certified values.

The sums of squares are never formed as ``sum(x**2) - n*mean**2`` on raw data (which loses every
digit on data such as NIST SmLs07-09, ``1000000000000.4``). Two stable paths are used:

* **decimal grid** (default): when every value is the nearest double to a decimal number
  ``k / 10**D`` with ``|k| < 2**53`` (true of all data typed or read from a file with at most ~15
  significant digits), the deviations ``k_i - k_ref`` are integers. Group sums and sums of squares
  are then exact integers and the sums of squares exact rationals, rounded once to double at the
  end. The representation error of the input (``1000000000000.4`` is stored as
  ``1000000000000.4000244...``) therefore does not enter the result, which reproduces the NIST
  certified values to all 15 digits. Each input is moved by less than one unit in its last place.
* **two-pass float** (binary data, or ``decimal_grid=False``): data are centred on a first-pass mean,
  group means are taken of the centred data, and the within-group sum of squares of the residuals is
  corrected by the (tiny) residual sums (the corrected two-pass algorithm of Chan, Golub & LeVeque).

Reference: NIST/ITL StRD, ANOVA data sets; Simon & Lesage (1989), Comput. Stat. Data Anal. 8, 325-332.

>>> result = one_way_anova([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
>>> result.df_between, result.df_within
(1, 4)
>>> round(result.f_statistic, 6), round(result.ss_within, 6)
(13.5, 4.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.results import ResultMixin

__all__ = ["OneWayAnova", "one_way_anova"]

_TWO53 = float(2**53)


@dataclass(frozen=True)
class OneWayAnova(ResultMixin):
    """One-way ANOVA table (fixed effects): ``y_ij = mu + tau_i + e_ij``.

    ``group_labels``, ``group_sizes`` and ``group_means`` are aligned. ``method`` says which stable
    path computed the sums of squares (``"decimal-grid exact"`` or ``"two-pass float"``).
    """

    group_labels: tuple[str, ...]
    group_sizes: np.ndarray
    group_means: np.ndarray
    grand_mean: float
    df_between: int
    df_within: int
    df_total: int
    ss_between: float
    ss_within: float
    ss_total: float
    ms_between: float
    ms_within: float
    f_statistic: float
    p_value: float
    r_squared: float
    residual_sd: float
    method: str

    def summary(self) -> str:
        lines = [
            "One-way ANOVA (fixed effects)",
            f"{'source':<10} {'df':>6} {'SS':>16} {'MS':>16} {'F':>12} {'p':>10}",
            f"{'between':<10} {self.df_between:>6} {self.ss_between:>16.9g} {self.ms_between:>16.9g} "
            f"{self.f_statistic:>12.6g} {self.p_value:>10.4g}",
            f"{'within':<10} {self.df_within:>6} {self.ss_within:>16.9g} {self.ms_within:>16.9g}",
            f"{'total':<10} {self.df_total:>6} {self.ss_total:>16.9g}",
            f"R^2 = {self.r_squared:.6g}, residual SD = {self.residual_sd:.6g} ({self.method})",
        ]
        return "\n".join(lines)


def one_way_anova(
    groups: Sequence[Sequence[float] | np.ndarray] | None = None,
    *,
    values: Sequence[float] | np.ndarray | None = None,
    labels: Sequence[object] | np.ndarray | None = None,
    decimal_grid: bool = True,
) -> OneWayAnova:
    """One-way fixed-effects ANOVA of ``groups`` (a list of samples) or of ``values`` with ``labels``.

    Returns degrees of freedom, sums of squares, mean squares, F, its p-value (upper tail of
    F(df_between, df_within)), R^2 = SS_between/SS_total and residual SD = sqrt(MS_within).

    Raises :class:`MethodInputError` for fewer than two groups, an empty group, unequal lengths of
    ``values`` and ``labels``, missing values, or no within-group degree of freedom.
    """
    x, codes, names = _as_grouped(groups, values, labels)
    k = len(names)
    sizes = np.bincount(codes, minlength=k)
    n_total = int(sizes.sum())
    df_between, df_within = k - 1, n_total - k
    if df_within < 1:
        raise MethodInputError("one-way ANOVA needs at least one group with two or more values")

    grid = _decimal_grid(x) if decimal_grid else None
    if grid is not None:
        ss_between, ss_within, means, grand = _exact_sums(grid[0], grid[1], codes, sizes, grid[2])
        method = "decimal-grid exact"
    else:
        ss_between, ss_within, means, grand = _two_pass_sums(x, codes, sizes)
        method = "two-pass float"
    ss_total = ss_between + ss_within
    ms_between = ss_between / df_between
    ms_within = ss_within / df_within
    if ms_within > 0:
        f_stat = ms_between / ms_within
        p_value = float(stats.f.sf(f_stat, df_between, df_within))
    else:
        f_stat = np.inf if ms_between > 0 else np.nan
        p_value = 0.0 if ms_between > 0 else np.nan
    r_squared = ss_between / ss_total if ss_total > 0 else np.nan
    return OneWayAnova(
        group_labels=tuple(names),
        group_sizes=sizes,
        group_means=means,
        grand_mean=grand,
        df_between=df_between,
        df_within=df_within,
        df_total=n_total - 1,
        ss_between=float(ss_between),
        ss_within=float(ss_within),
        ss_total=float(ss_total),
        ms_between=float(ms_between),
        ms_within=float(ms_within),
        f_statistic=float(f_stat),
        p_value=p_value,
        r_squared=float(r_squared),
        residual_sd=float(np.sqrt(ms_within)),
        method=method,
    )


def _as_grouped(groups, values, labels) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if groups is not None:
        if values is not None or labels is not None:
            raise MethodInputError("give either groups or values with labels, not both")
        arrays = []
        for i, g in enumerate(groups):
            a = np.asarray(g, dtype=float).ravel()
            if a.size == 0:
                raise MethodInputError(f"group {i + 1} is empty")
            arrays.append(a)
        if len(arrays) < 2:
            raise MethodInputError(f"one-way ANOVA needs at least two groups, got {len(arrays)}")
        x = np.concatenate(arrays)
        codes = np.repeat(np.arange(len(arrays)), [a.size for a in arrays])
        names = [str(i + 1) for i in range(len(arrays))]
    else:
        if values is None or labels is None:
            raise MethodInputError("give groups, or values together with labels")
        x = np.asarray(values, dtype=float).ravel()
        lab = np.asarray(labels).ravel()
        if x.size != lab.size:
            raise MethodInputError(f"values and labels have unequal lengths ({x.size} and {lab.size})")
        uniq, codes = np.unique(lab, return_inverse=True)
        names = [str(u) for u in uniq]
        if len(names) < 2:
            raise MethodInputError(f"one-way ANOVA needs at least two groups, got {len(names)}")
    if not np.all(np.isfinite(x)):
        raise MethodInputError("values contain a missing or non-finite value")
    return x, codes.astype(np.intp), names


def _decimal_grid(x: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """Integers ``k`` and places ``D`` with ``x == k / 10**D`` exactly in double, if any ``D <= 15``."""
    biggest = float(np.max(np.abs(x)))
    for places in range(16):
        scale = 10.0**places
        if biggest * scale >= _TWO53:
            return None
        k = np.rint(x * scale)
        if np.array_equal(k / scale, x):
            ki = k.astype(np.int64)
            return ki, places, int(ki[0])
    return None


def _exact_sums(k: np.ndarray, places: int, codes: np.ndarray, sizes: np.ndarray, ref: int):
    """Exact SS from integer deviations ``k - ref`` (one rounding at the end)."""
    d = k - ref
    n_total = int(sizes.sum())
    limit = float(np.max(np.abs(d))) if d.size else 0.0
    if limit * limit * n_total >= 2.0**62:  # integer sums of squares could overflow int64
        return _two_pass_sums(k / 10.0**places, codes, sizes)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ds = d[order]
    s1 = np.add.reduceat(ds, starts)
    s2 = np.add.reduceat(ds * ds, starts)
    scale2 = Fraction(10) ** (2 * places)
    ssw = Fraction(0)
    total1 = 0
    for n_i, a, b in zip(sizes.tolist(), s1.tolist(), s2.tolist(), strict=True):
        ssw += Fraction(b) - Fraction(a * a, n_i)
        total1 += a
    total2 = sum(s2.tolist())
    sst = Fraction(total2) - Fraction(total1 * total1, n_total)
    ssb = sst - ssw
    unit = Fraction(10) ** places
    means = np.array(
        [
            float(Fraction(ref) / unit + Fraction(a, n_i) / unit)
            for n_i, a in zip(sizes.tolist(), s1.tolist(), strict=True)
        ]
    )
    grand = float(Fraction(ref) / unit + Fraction(total1, n_total) / unit)
    return float(ssb / scale2), float(ssw / scale2), means, grand


def _two_pass_sums(x: np.ndarray, codes: np.ndarray, sizes: np.ndarray):
    k = sizes.size
    shift = float(np.mean(x))
    d = x - shift
    means_d = np.bincount(codes, weights=d, minlength=k) / sizes
    r = d - means_d[codes]
    r_sums = np.bincount(codes, weights=r, minlength=k)
    ssw = float(np.sum(r * r) - np.sum(r_sums * r_sums / sizes))
    # refine the group means by the residual sums, then the grand mean from them
    means_d = means_d + r_sums / sizes
    grand_d = float(np.sum(sizes * means_d) / sizes.sum())
    dev = means_d - grand_d
    ssb = float(np.sum(sizes * dev * dev))
    return ssb, max(ssw, 0.0), means_d + shift, grand_d + shift
