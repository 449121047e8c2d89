"""Least-squares straight-line calibration and the uncertainty of predicted values.

:func:`straight_line` fits ``y = a + b (x - x0)`` by ordinary least squares (JCGM 100 H.3: the
variances come from the residual variance ``s^2 = SSR/(n - 2)``) or by weighted least squares with known
standard uncertainties of the responses (ISO/TS 28037:2010 clause 6: the covariance is
``(X^T W X)^-1``, and ``chi^2`` with ``n - 2`` degrees of freedom checks the model). The fit gives the
standard uncertainties of intercept and slope and their correlation (H.3.3-H.3.4).
:meth:`StraightLineFit.predict` gives a response with its uncertainty, including the covariance of
``a`` and ``b`` (H.3.4), and :meth:`StraightLineFit.inverse` the value ``x`` that a new observation (the
mean of ``m`` replicates) indicates, with ``u^2(x) = [u^2(y) + u^2(a) + (x - x0)^2 u^2(b)
+ 2 (x - x0) u(a, b)] / b^2`` (ISO/TS 28037 6.4, ISO 11095 6.4).

GUM H.3 (thermometer calibration):

>>> t = [21.521, 22.012, 22.512, 23.003, 23.507, 23.999, 24.513, 25.002, 25.503, 26.010, 26.511]
>>> b = [-0.171, -0.169, -0.166, -0.159, -0.164, -0.165, -0.156, -0.157, -0.159, -0.161, -0.160]
>>> fit = straight_line(t, b, x0=20.0)
>>> print(f"{fit.intercept:.4f}({fit.u_intercept:.4f}) {fit.slope:.5f}({fit.u_slope:.5f})")
-0.1712(0.0029) 0.00218(0.00067)
>>> print(f"r = {fit.correlation:.2f}")
r = -0.93
>>> p = fit.predict(30.0)
>>> print(f"{p.y:.4f} {p.u:.4f}")
-0.1494 0.0041
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from qslab.methods._validate import MethodInputError, as_1d, same_length
from qslab.methods.uncertainty import coverage_factor, format_value
from qslab.results import ResultMixin

__all__ = ["InversePrediction", "Prediction", "StraightLineFit", "straight_line"]


@dataclass(frozen=True)
class Prediction(ResultMixin):
    """A response ``y = a + b (x - x0)`` predicted by the calibration line with its standard uncertainty
    from the intercept and slope (JCGM 100 H.3.4), and ``dof`` degrees of freedom."""

    x: float
    y: float
    u: float
    dof: float

    def expanded(self, level: float = 0.95) -> float:
        """Expanded uncertainty ``t_p(dof) u`` (JCGM 100 6.2, G.3)."""
        return coverage_factor(level, self.dof) * self.u

    def summary(self) -> str:
        y, u = format_value(self.y, self.u)
        return f"y({self.x:g}) = {y}, u = {u} ({self.dof:g} degrees of freedom)"


@dataclass(frozen=True)
class InversePrediction(ResultMixin):
    """The stimulus ``x`` indicated by a new observation (mean ``y_obs`` of ``replicates`` readings) with
    its standard uncertainty (ISO/TS 28037 6.4, ISO 11095 6.4) and ``dof`` degrees of freedom."""

    y_obs: float
    replicates: int
    x: float
    u: float
    dof: float

    def expanded(self, level: float = 0.95) -> float:
        """Expanded uncertainty ``t_p(dof) u`` (JCGM 100 6.2, G.3)."""
        return coverage_factor(level, self.dof) * self.u

    def summary(self) -> str:
        x, u = format_value(self.x, self.u)
        return (
            f"x = {x}, u = {u} from y = {self.y_obs:g} (mean of {self.replicates}), "
            f"{self.dof:g} degrees of freedom"
        )


@dataclass(frozen=True, eq=False)
class StraightLineFit(ResultMixin):
    """Least-squares line ``y = intercept + slope (x - x0)``.

    ``covariance`` is that of (intercept, slope); ``correlation`` their correlation coefficient;
    ``ssr`` the (weighted, for WLS) sum of squared residuals; ``s`` the residual standard deviation
    ``sqrt(ssr/dof)`` with ``dof = n - 2``. ``weighted`` says whether known uncertainties ``u_y`` were
    used, ``scaled`` whether the covariance was scaled by ``ssr/dof`` (always for OLS).
    """

    intercept: float
    slope: float
    u_intercept: float
    u_slope: float
    covariance: np.ndarray
    correlation: float
    dof: int
    ssr: float
    s: float
    x0: float
    n: int
    weighted: bool
    scaled: bool
    residuals: np.ndarray

    @property
    def chi2_p_value(self) -> float:
        """For WLS with known uncertainties, ``P(chi^2_{n-2} > ssr)`` (ISO/TS 28037 6.2.2 step 6)."""
        return float(stats.chi2.sf(self.ssr, self.dof))

    def predict(self, x: float) -> Prediction:
        """The response at ``x`` and its standard uncertainty
        ``u^2 = u^2(a) + (x - x0)^2 u^2(b) + 2 (x - x0) u(a, b)`` (JCGM 100 H.3.4)."""
        dx = float(x) - self.x0
        g = np.array([1.0, dx])
        u2 = float(g @ self.covariance @ g)
        return Prediction(
            float(x), self.intercept + self.slope * dx, math.sqrt(max(u2, 0.0)), float(self.dof)
        )

    def inverse(
        self,
        y_obs: float | Sequence[float],
        *,
        replicates: int | None = None,
        u_obs: float | None = None,
    ) -> InversePrediction:
        """The stimulus indicated by a new observation: ``x = x0 + (y_obs - a)/b`` (ISO/TS 28037 6.4).

        ``y_obs`` is the mean of ``replicates`` readings, or the readings themselves. The uncertainty of
        one reading is ``u_obs``, by default the residual standard deviation ``s`` of an ordinary fit
        (ISO 11095 6.4); a weighted fit with known uncertainties needs ``u_obs``.
        """
        if np.ndim(y_obs) == 0:
            mean = float(y_obs)  # type: ignore[arg-type]
            m = 1 if replicates is None else replicates
        else:
            readings = as_1d(y_obs, "y_obs")  # type: ignore[arg-type]
            mean = float(readings.mean())
            if replicates is not None and replicates != readings.size:
                raise MethodInputError(
                    f"replicates ({replicates}) does not match the {readings.size} readings given"
                )
            m = readings.size
        if isinstance(m, bool) or int(m) != m or m < 1:
            raise MethodInputError(f"replicates must be a positive integer, got {m!r}")
        if not math.isfinite(mean):
            raise MethodInputError("y_obs must be finite")
        if u_obs is None:
            if self.weighted and not self.scaled:
                raise MethodInputError(
                    "give u_obs, the standard uncertainty of one new reading, for a weighted fit"
                )
            u_obs = self.s
        elif not math.isfinite(float(u_obs)) or float(u_obs) < 0:
            raise MethodInputError(f"u_obs must be a non-negative number, got {u_obs!r}")
        if self.slope == 0:
            raise MethodInputError("the calibration slope is zero; the line cannot be inverted")
        dx = (mean - self.intercept) / self.slope
        g = np.array([1.0, dx])
        u2 = (float(u_obs) ** 2 / m + float(g @ self.covariance @ g)) / self.slope**2
        return InversePrediction(mean, int(m), self.x0 + dx, math.sqrt(max(u2, 0.0)), float(self.dof))

    def summary(self) -> str:
        a, ua = format_value(self.intercept, self.u_intercept)
        b, ub = format_value(self.slope, self.u_slope)
        kind = "weighted" if self.weighted else "ordinary"
        centre = f" (x - {self.x0:g})" if self.x0 else " x"
        lines = [
            f"Straight line y = a + b{centre}, {kind} least squares, n = {self.n}",
            f"a = {a}, u(a) = {ua}",
            f"b = {b}, u(b) = {ub}",
            f"r(a, b) = {self.correlation:.3f}",
            f"sum of squared residuals = {self.ssr:.6g} ({self.dof} degrees of freedom), s = {self.s:.4g}",
        ]
        if self.weighted and not self.scaled:
            lines.append(f"chi-squared check: P(chi2 > {self.ssr:.3g}) = {self.chi2_p_value:.3f}")
        return "\n".join(lines)


def straight_line(
    x: Sequence[float],
    y: Sequence[float],
    *,
    u_y: Sequence[float] | float | None = None,
    x0: float = 0.0,
    scale: bool | None = None,
) -> StraightLineFit:
    """Fit ``y = a + b (x - x0)`` by least squares (JCGM 100 H.3; ISO/TS 28037 clause 6 when ``u_y``).

    Without ``u_y`` the fit is ordinary and the covariance is ``s^2 (X^T X)^-1`` with
    ``s^2 = SSR/(n - 2)``. With ``u_y`` (one value or one per point) the fit is weighted by
    ``1/u_y^2`` and the covariance is ``(X^T W X)^-1``; ``scale=True`` multiplies it by ``chi^2/(n - 2)``
    (relative weights). The x values are taken as exact. A QR factorisation keeps the fit stable.
    """
    xs = as_1d(x, "x", min_length=1)
    ys = as_1d(y, "y", min_length=1)
    same_length("x", xs, "y", ys)
    n = xs.size
    if n < 3:
        raise MethodInputError(
            f"x and y need at least 3 points for a straight line with uncertainty, got {n}"
        )
    if np.ptp(xs) == 0:
        raise MethodInputError("x values are all equal; the slope is undetermined")
    weighted = u_y is not None
    if weighted:
        u_arr = np.asarray(u_y, dtype=float)
        uy = np.broadcast_to(u_arr, ys.shape) if u_arr.ndim == 0 else as_1d(u_arr, "u_y")
        same_length("y", ys, "u_y", uy)
        if not np.all(np.isfinite(uy)) or np.any(uy <= 0):
            raise MethodInputError("u_y must be positive and finite")
        w = 1.0 / uy
    else:
        w = np.ones(n)
    scaled = (not weighted) if scale is None else bool(scale)
    if not weighted and not scaled:
        raise MethodInputError("an ordinary fit takes its variance from the residuals; scale=False needs u_y")
    dx = xs - float(x0)
    A = np.column_stack([w, w * dx])
    q, r = np.linalg.qr(A)
    coef = np.linalg.solve(r, q.T @ (w * ys))
    r_inv = np.linalg.inv(r)
    cov = r_inv @ r_inv.T
    residuals = ys - (coef[0] + coef[1] * dx)
    ssr = float(np.sum((w * residuals) ** 2))
    dof = n - 2
    if scaled:
        cov = cov * ssr / dof
    ua, ub = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    corr = float(cov[0, 1] / (ua * ub)) if ua > 0 and ub > 0 else 0.0
    return StraightLineFit(
        intercept=float(coef[0]),
        slope=float(coef[1]),
        u_intercept=ua,
        u_slope=ub,
        covariance=cov,
        correlation=corr,
        dof=dof,
        ssr=ssr,
        s=math.sqrt(ssr / dof),
        x0=float(x0),
        n=n,
        weighted=weighted,
        scaled=scaled,
        residuals=residuals,
    )
