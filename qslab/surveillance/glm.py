"""Batched IRLS for Poisson and quasi-Poisson GLMs with log link, many small fits at once.

The baselines of the Farrington detectors are tens of thousands of small log-linear GLMs (one per unit
and scored time point). Fitting them one by one, as R does with ``glm()``, costs milliseconds each;
here they are fitted together:

* :func:`fit_poisson_glm` takes stacked design matrices ``X`` of shape (n_fits, n_obs, p) and solves
  every iteration for all fits with batched numpy linear algebra. It is the general path.
* :func:`fit_level_trend_glm` fits the special design the Farrington baselines use, a factor
  (one mean per level, the "seasgroups" of Noufaily et al. 2013, or a single intercept) plus an
  optional linear time trend. Its normal equations are an arrow matrix, solved in closed form per
  fit in a parallel numba loop, so cost is linear in the number of observations.
* :func:`farrington_fitglm_kernel` runs R ``surveillance``'s whole ``fitGLM`` procedure on that design
  for every fit (initial fit, no-trend fallback, Anscombe reweighting and refit; Farrington et al.
  1996, section 3.3); the Farrington detectors call it.

Both follow R's ``glm.fit`` step for step (McCullagh & Nelder 1989, section 2.5): start from
``mu = y + 0.1``; iterate weighted least squares on the working response; stop when
``|dev - dev_old| / (|dev| + 0.1) < epsilon`` (1e-8) or after ``maxit`` (25) iterations; each fit is
frozen at its own convergence. The returned quantities are those R reports: the covariance and hat
values come from the weights of the last iteration, the dispersion is R's ``summary.glm`` estimate
``sum(w * r^2) / df.residual`` (working weights ``w`` of the last iteration, working residuals ``r``
at the final fit; NaN when ``df.residual`` is 0), and ``df.residual`` counts only observations with
positive prior weight.

>>> import numpy as np
>>> X = np.array([[[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]])
>>> fit = fit_poisson_glm(X, np.array([[2.0, 3.0, 6.0, 7.0]]))
>>> bool(fit.converged[0]), round(float(fit.coefficients[0, 1]), 6)
(True, 0.419618)
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from qslab.results import ResultMixin

FAMILIES = ("poisson", "quasipoisson")
# reassociation lets the compiler vectorise the sums; NaN and Inf keep their IEEE meaning
_FASTMATH = {"reassoc", "contract", "arcp", "nsz", "afn"}


class GlmError(ValueError):
    """The GLM inputs are malformed; the message names the argument."""


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise GlmError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")


def _poisson_deviance(y: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum over the last axis of R's ``poisson()$dev.resids``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
    return np.sum(2.0 * weights * (ylogy - (y - mu)), axis=-1)


def anscombe_residuals(y: np.ndarray, mu: np.ndarray, hat: np.ndarray, phi: np.ndarray | float) -> np.ndarray:
    """Standardised Anscombe residuals of a Poisson fit, as ``surveillance::anscombe.residuals``.

    ``3/2 (y^(2/3) mu^(-1/6) - mu^(1/2)) / sqrt(phi (1 - h))`` (Farrington et al. 1996, section 3.3).
    ``phi`` broadcasts against the leading axes (one value per fit).
    """
    phi = np.asarray(phi, dtype=float)
    if phi.ndim == y.ndim - 1:
        phi = phi[..., None]
    raw = 1.5 * (np.cbrt(y) ** 2 * mu ** (-1.0 / 6.0) - np.sqrt(mu))
    return raw / np.sqrt(phi * (1.0 - hat))


@dataclass(frozen=True, eq=False)
class GlmFit(ResultMixin):
    """Result of :func:`fit_poisson_glm` for n_fits stacked GLMs (arrays lead with n_fits).

    ``cov_unscaled`` is ``(X' W X)^-1``; multiply by ``dispersion`` (quasi-Poisson) or 1 (Poisson)
    for the covariance of the coefficients, as R's ``summary.glm``. Masked observations hold NaN in
    ``fitted``, ``hat`` and ``anscombe``. ``anscombe`` is standardised with ``phi = 1``; divide by
    ``sqrt(phi)`` for another dispersion.
    """

    family: str
    coefficients: np.ndarray
    cov_unscaled: np.ndarray
    dispersion: np.ndarray
    df_residual: np.ndarray
    fitted: np.ndarray
    working_weights: np.ndarray
    hat: np.ndarray
    anscombe: np.ndarray
    deviance: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray

    @property
    def std_errors(self) -> np.ndarray:
        """Standard errors of the coefficients (dispersion 1 for ``poisson``)."""
        scale = self.dispersion if self.family == "quasipoisson" else np.ones_like(self.dispersion)
        return np.sqrt(np.diagonal(self.cov_unscaled, axis1=-2, axis2=-1) * scale[:, None])

    def summary(self) -> str:
        n = self.coefficients.shape[0]
        return (
            f"{n} {self.family} GLM fit(s), log link: {int(np.sum(self.converged))} converged, "
            f"median {float(np.median(self.iterations)):.0f} iterations"
        )


def fit_poisson_glm(
    X: np.ndarray,
    y: np.ndarray,
    *,
    offset: np.ndarray | None = None,
    prior_weights: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    family: str = "quasipoisson",
    maxit: int = 25,
    epsilon: float = 1e-8,
) -> GlmFit:
    """Fit n_fits log-link Poisson / quasi-Poisson GLMs with stacked designs, R's IRLS step for step.

    ``X`` has shape (n_fits, n_obs, p) (or (n_obs, p), shared by all fits), ``y``, ``offset``,
    ``prior_weights`` and ``mask`` (True where the observation takes part) have shape
    (n_fits, n_obs). Designs must have full column rank on the unmasked rows.
    """
    _check_family(family)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[None, :]
    X = np.asarray(X, dtype=float)
    if X.ndim == 2:
        X = np.broadcast_to(X, (y.shape[0], *X.shape))
    if X.ndim != 3 or X.shape[:2] != y.shape:
        raise GlmError(f"X must have shape (n_fits, n_obs, p) matching y {y.shape}, got {X.shape}")
    n_fits, _, p = X.shape
    valid = np.ones(y.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    if valid.shape != y.shape:
        raise GlmError(f"mask must have the shape of y {y.shape}, got {valid.shape}")
    valid &= np.isfinite(y)
    if np.any(y[valid] < 0):
        raise GlmError("y must be non-negative counts")
    pw = np.ones(y.shape) if prior_weights is None else np.asarray(prior_weights, dtype=float)
    if pw.shape != y.shape:
        raise GlmError(f"prior_weights must have the shape of y {y.shape}, got {pw.shape}")
    if np.any(pw[valid] < 0):
        raise GlmError("prior_weights must be non-negative")
    off = np.zeros(y.shape) if offset is None else np.asarray(offset, dtype=float)
    if off.shape != y.shape:
        raise GlmError(f"offset must have the shape of y {y.shape}, got {off.shape}")
    pw = np.where(valid, pw, 0.0)
    yv = np.where(valid, y, 0.0)
    off = np.where(valid, off, 0.0)

    mu = yv + 0.1
    eta = np.log(mu)
    dev_old = _poisson_deviance(yv, mu, pw)
    coef = np.zeros((n_fits, p))
    xtwx = np.zeros((n_fits, p, p))
    w_last = np.zeros(y.shape)
    converged = np.zeros(n_fits, dtype=bool)
    iterations = np.zeros(n_fits, dtype=int)
    active = np.ones(n_fits, dtype=bool)
    for it in range(1, maxit + 1):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        Xa, ya, pwa, offa = X[idx], yv[idx], pw[idx], off[idx]
        mua, etaa = mu[idx], eta[idx]
        z = etaa - offa + (ya - mua) / mua
        w = pwa * mua
        Xw = Xa * w[:, :, None]
        A = np.einsum("fop,foq->fpq", Xw, Xa)
        rhs = np.einsum("fop,fo->fp", Xw, z)
        beta = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
        eta_new = np.einsum("fop,fp->fo", Xa, beta) + offa
        mu_new = np.exp(eta_new)
        dev = _poisson_deviance(ya, mu_new, pwa)
        coef[idx], xtwx[idx], w_last[idx] = beta, A, w
        eta[idx], mu[idx] = eta_new, mu_new
        iterations[idx] = it
        done = np.abs(dev - dev_old[idx]) / (np.abs(dev) + 0.1) < epsilon
        converged[idx[done]] = True
        dev_old[idx] = dev
        active[idx[done | ~np.isfinite(dev)]] = False

    cov = np.linalg.inv(xtwx)
    resid = (yv - mu) / mu
    n_ok = np.sum(valid & (pw > 0), axis=1)
    df_residual = n_ok - p
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = np.sum(np.where(w_last > 0, w_last * resid**2, 0.0), axis=1)
        dispersion = np.where(df_residual > 0, pearson / df_residual, np.nan)
        hat = w_last * np.einsum("fop,fpq,foq->fo", X, cov, X)
        ans = anscombe_residuals(yv, mu, hat, 1.0)
    nan = np.nan
    return GlmFit(
        family=family,
        coefficients=coef,
        cov_unscaled=cov,
        dispersion=dispersion if family == "quasipoisson" else np.ones(n_fits),
        df_residual=df_residual,
        fitted=np.where(valid, mu, nan),
        working_weights=np.where(valid, w_last, nan),
        hat=np.where(valid, hat, nan),
        anscombe=np.where(valid, ans, nan),
        deviance=dev_old,
        converged=converged,
        iterations=iterations,
    )


# ---------------------------------------------------------------------------------------------------
# Level (factor) + optional linear trend: closed-form arrow-matrix solves, one numba loop over fits.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LevelTrendFit(ResultMixin):
    """Result of :func:`fit_level_trend_glm`; arrays lead with n_fits.

    The model is ``log mu_i = offset_i + a[level_i] + slope * t_i`` (``slope`` 0 and NaN-free when
    the fit has no trend). ``level_weight[f, l]`` is the sum of the last IRLS weights in level ``l``,
    ``level_tbar`` their weighted mean time and ``sxx`` the pooled within-level weighted sum of squares
    of ``t``: together they give ``(X' W X)^-1`` in closed form (see :meth:`link_variance`).
    ``rank`` counts the levels present plus the trend.
    """

    level_coef: np.ndarray
    slope: np.ndarray
    trend: np.ndarray
    level_weight: np.ndarray
    level_tbar: np.ndarray
    sxx: np.ndarray
    dispersion: np.ndarray
    df_residual: np.ndarray
    rank: np.ndarray
    fitted: np.ndarray
    hat: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray

    def link_variance(self, level: np.ndarray | int, t0: np.ndarray | float) -> np.ndarray:
        """``x0' (X' W X)^-1 x0`` for a new point in ``level`` at time ``t0`` (unscaled)."""
        lev = np.broadcast_to(np.asarray(level), self.slope.shape)
        t0 = np.broadcast_to(np.asarray(t0, dtype=float), self.slope.shape)
        rows = np.arange(self.slope.shape[0])
        s0 = self.level_weight[rows, lev]
        tbar = self.level_tbar[rows, lev]
        with np.errstate(divide="ignore", invalid="ignore"):
            extra = np.where(self.trend, (t0 - tbar) ** 2 / self.sxx, 0.0)
            return 1.0 / s0 + extra

    def predict_link(self, level: np.ndarray | int, t0: np.ndarray | float, offset: np.ndarray | float = 0.0):
        """Linear predictor at a new point (``offset`` added)."""
        lev = np.broadcast_to(np.asarray(level), self.slope.shape)
        rows = np.arange(self.slope.shape[0])
        t0 = np.broadcast_to(np.asarray(t0, dtype=float), self.slope.shape)
        return self.level_coef[rows, lev] + np.where(self.trend, self.slope * t0, 0.0) + offset

    def summary(self) -> str:
        return (
            f"{self.slope.shape[0]} level+trend quasi-Poisson fit(s): "
            f"{int(np.sum(self.converged))} converged, {int(np.sum(self.trend))} with trend"
        )


@numba.njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def irls_level_trend_one(
    y, ylogy, log_start, pw, off, lev, t, n, n_levels, use_trend, maxit, epsilon, a, s0, tbar, w, eta, mu
):
    """One R-exact IRLS fit of ``log mu = off + a[lev] + b t`` on the first ``n`` (compacted) rows.

    Fills ``a`` (level coefficients), ``s0`` / ``tbar`` (weight sums and weighted mean times per level of
    the last iteration), ``w`` (last working weights), ``eta`` and ``mu`` (final linear predictor and
    mean); returns ``(converged, iterations, slope, sxx)``. ``ylogy`` holds ``y log y`` (0 for y = 0) and
    ``log_start`` ``log(y + 0.1)``, R's starting point. Compiled.
    """
    # Each iteration is one pass: the new eta, mu and deviance of observation i and, from them, the
    # weighted sums for the next solve (double-buffered, so that at convergence s0/tbar/w are those of
    # the last solve, as R reports them). mu and 1/mu come from running products over unit steps of t
    # (a few ulp from exp itself), which spares transcendental calls and divisions per observation.
    s1 = np.zeros(n_levels)
    zs = np.zeros(n_levels)
    s0n = np.zeros(n_levels)
    s1n = np.zeros(n_levels)
    zsn = np.zeros(n_levels)
    ea = np.empty(n_levels)
    ia = np.empty(n_levels)
    w_next = np.empty(n)
    any_off = False
    for i in range(n):
        if off[i] != 0.0:
            any_off = True
            break
    expoff = np.empty(n if any_off else 0)
    iexpoff = np.empty(n if any_off else 0)
    if any_off:
        for i in range(n):
            expoff[i] = np.exp(off[i])
            iexpoff[i] = np.exp(-off[i])
    dev_old = 0.0
    s2n = 0.0
    ztn = 0.0
    for i in range(n):
        m = y[i] + 0.1
        mu[i] = m
        e = log_start[i]
        eta[i] = e
        dev_old += 2.0 * pw[i] * (ylogy[i] - y[i] * e - y[i] + m)
        wi = pw[i] * m
        w_next[i] = wi
        zi = e - off[i] + y[i] / m - 1.0
        lv = lev[i]
        ti = t[i]
        s0n[lv] += wi
        s1n[lv] += wi * ti
        zsn[lv] += wi * zi
        s2n += wi * ti * ti
        ztn += wi * ti * zi
    b = 0.0
    sxx = 0.0
    converged = False
    n_iter = 0
    for _ in range(maxit):
        n_iter += 1
        for lv in range(n_levels):
            s0[lv] = s0n[lv]
            s1[lv] = s1n[lv]
            zs[lv] = zsn[lv]
            s0n[lv] = 0.0
            s1n[lv] = 0.0
            zsn[lv] = 0.0
        s2 = s2n
        zt = ztn
        s2n = 0.0
        ztn = 0.0
        for i in range(n):
            w[i] = w_next[i]
        b = 0.0
        sxx = 0.0
        if use_trend:
            sxz = zt
            sxx = s2
            for lv in range(n_levels):
                if s0[lv] > 0:
                    sxx -= s1[lv] * s1[lv] / s0[lv]
                    sxz -= s1[lv] * zs[lv] / s0[lv]
            b = sxz / sxx
        for lv in range(n_levels):
            if s0[lv] > 0:
                tbar[lv] = s1[lv] / s0[lv]
                a[lv] = (zs[lv] - b * s1[lv]) / s0[lv]
                ea[lv] = np.exp(a[lv])
                ia[lv] = 1.0 / ea[lv]
            else:
                tbar[lv] = 0.0
                a[lv] = np.nan
                ea[lv] = 0.0
                ia[lv] = 0.0
        eb = np.exp(b)
        ieb = 1.0 / eb
        cur = 1.0
        icur = 1.0
        dev = 0.0
        for i in range(n):
            ti = t[i]
            if i > 0 and ti - t[i - 1] == 1.0:
                cur *= eb
                icur *= ieb
            else:
                cur = np.exp(b * ti)
                icur = 1.0 / cur
            lv = lev[i]
            oi = off[i]
            e = oi + a[lv] + b * ti
            eta[i] = e
            m = ea[lv] * cur
            im = ia[lv] * icur
            if any_off:
                m *= expoff[i]
                im *= iexpoff[i]
            mu[i] = m
            yi = y[i]
            dev += 2.0 * pw[i] * (ylogy[i] - yi * e - yi + m)
            wi = pw[i] * m
            w_next[i] = wi
            zi = e - oi + yi * im - 1.0
            s0n[lv] += wi
            s1n[lv] += wi * ti
            zsn[lv] += wi * zi
            s2n += wi * ti * ti
            ztn += wi * ti * zi
        crit = abs(dev - dev_old) / (abs(dev) + 0.1)
        dev_old = dev
        if crit < epsilon:
            converged = True
            break
        if not np.isfinite(dev):
            break
    return converged, n_iter, b, sxx


@numba.njit(cache=True, error_model="numpy")
def level_trend_hat_dispersion(y, pw, lev, t, n, n_levels, use_trend, s0, tbar, sxx, w, mu, hat):
    """Hat values (into ``hat``) and ``(pearson, n_ok, rank)`` of a fit by :func:`irls_level_trend_one`."""
    pearson = 0.0
    n_ok = 0
    for i in range(n):
        m = mu[i]
        r = (y[i] - m) / m
        if w[i] > 0:
            pearson += w[i] * r * r
        if pw[i] > 0:
            n_ok += 1
        lv = lev[i]
        h = 1.0 / s0[lv]
        if use_trend:
            dt = t[i] - tbar[lv]
            h += dt * dt / sxx
        hat[i] = w[i] * h
    rank = 0
    for lv in range(n_levels):
        if s0[lv] > 0:
            rank += 1
    if use_trend:
        rank += 1
    return pearson, n_ok, rank


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _level_trend_kernel(
    y,
    valid,
    pw,
    off,
    level,
    tt,
    group,
    trend,
    n_levels,
    maxit,
    epsilon,
    coef,
    slope,
    s0_out,
    tbar_out,
    sxx_out,
    disp,
    dfres,
    rank_out,
    mu_out,
    hat_out,
    conv,
    iters,
):  # pragma: no cover - compiled
    n_fits, n_obs = y.shape
    for f in numba.prange(n_fits):
        g = group[f]
        yc = np.empty(n_obs)
        ylogy = np.empty(n_obs)
        lstart = np.empty(n_obs)
        pwc = np.empty(n_obs)
        offc = np.empty(n_obs)
        levc = np.empty(n_obs, dtype=np.int64)
        tc = np.empty(n_obs)
        pos = np.empty(n_obs, dtype=np.int64)
        n = 0
        for i in range(n_obs):
            if valid[f, i]:
                yi = y[f, i]
                yc[n] = yi
                ylogy[n] = yi * np.log(yi) if yi > 0 else 0.0
                lstart[n] = np.log(yi + 0.1)
                pwc[n] = pw[f, i]
                offc[n] = off[f, i]
                levc[n] = level[g, i]
                tc[n] = tt[g, i]
                pos[n] = i
                n += 1
        a = np.empty(n_levels)
        s0 = np.empty(n_levels)
        tbar = np.empty(n_levels)
        w = np.empty(n)
        eta = np.empty(n)
        mu = np.empty(n)
        hat = np.empty(n)
        converged, n_iter, b, sxx = irls_level_trend_one(
            yc,
            ylogy,
            lstart,
            pwc,
            offc,
            levc,
            tc,
            n,
            n_levels,
            trend[f],
            maxit,
            epsilon,
            a,
            s0,
            tbar,
            w,
            eta,
            mu,
        )
        pearson, n_ok, rk = level_trend_hat_dispersion(
            yc, pwc, levc, tc, n, n_levels, trend[f], s0, tbar, sxx, w, mu, hat
        )
        for i in range(n_obs):
            mu_out[f, i] = np.nan
            hat_out[f, i] = np.nan
        for j in range(n):
            mu_out[f, pos[j]] = mu[j]
            hat_out[f, pos[j]] = hat[j]
        df = n_ok - rk
        disp[f] = pearson / df if df > 0 else np.nan
        dfres[f] = df
        rank_out[f] = rk
        for lv in range(n_levels):
            coef[f, lv] = a[lv]
            s0_out[f, lv] = s0[lv]
            tbar_out[f, lv] = tbar[lv]
        slope[f] = b if trend[f] else np.nan
        sxx_out[f] = sxx
        conv[f] = converged
        iters[f] = n_iter


# ---------------------------------------------------------------------------------------------------
# R surveillance's fitGLM procedure (kept in this module so numba's on-disk cache, which is keyed on
# the source file, is invalidated together with the IRLS core it inlines).
# ---------------------------------------------------------------------------------------------------


@numba.njit(cache=True, error_model="numpy")
def anscombe_weights_one(y23, mu, hat, n, phi, threshold, omega, a, b, lev, t, off):  # pragma: no cover
    """``algo.farrington.assign.weights(anscombe.residuals(m, phi), threshold)`` into ``omega``:
    s^-2 where the standardised Anscombe residual s exceeds the threshold, 1 elsewhere, rescaled so the
    weights average 1 (Farrington et al. 1996, section 3.3). ``y23`` holds ``y^(2/3)``; ``mu^(-1/6)``
    is built from the fit (``a``, ``b``) by the running product :func:`irls_level_trend_one` uses."""
    n_levels = a.shape[0]
    ea6 = np.empty(n_levels)
    for lv in range(n_levels):
        ea6[lv] = np.exp(-a[lv] / 6.0) if np.isfinite(a[lv]) else 0.0
    eb6 = np.exp(-b / 6.0)
    cur = 1.0
    inv_phi = 1.0 / phi
    total = 0.0
    thr2 = threshold * threshold
    for i in range(n):
        ti = t[i]
        if i > 0 and ti - t[i - 1] == 1.0:
            cur *= eb6
        else:
            cur = np.exp(-b * ti / 6.0)
        m16 = ea6[lev[i]] * cur  # mu^(-1/6)
        if off[i] != 0.0:
            m16 *= np.exp(-off[i] / 6.0)
        m = mu[i]
        raw = 1.5 * (y23[i] * m16 - np.sqrt(m))
        s2 = raw * raw * inv_phi / (1.0 - hat[i])  # s^2; s > threshold needs raw > 0
        v = 1.0 / s2 if (raw > 0 and s2 > thr2) else 1.0
        omega[i] = v
        total += v
    gamma = n / total
    for i in range(n):
        omega[i] *= gamma


@numba.njit(cache=True, parallel=True, error_model="numpy")
def farrington_fitglm_kernel(
    obs,
    ylogy_all,
    lstart_all,
    y23_all,
    has_offset,
    off_all,
    rows,
    dvalid,
    level,
    tt,
    group,
    unit,
    trend,
    n_levels,
    level_now,
    reweight,
    threshold,
    weights_quirk,
    maxit,
    epsilon,
    a_now,
    slope,
    s0_now,
    tbar_now,
    sxx_out,
    disp_out,
    phi_out,
    df_out,
    conv_init,
    conv_final,
    trend_used,
    y_max,
):  # pragma: no cover - compiled
    """R's ``fitGLM`` (``.flexible`` or ``.fast``) for every fit: initial fit, no-trend fallback when it
    does not converge, phi = max(dispersion, 1), Anscombe reweighting and refit. ``obs`` and the
    derived matrices are (n_units, n_time); fit ``f`` uses rows ``rows[group[f]]`` of unit ``unit[f]``."""
    n_fits = group.shape[0]
    n_obs = rows.shape[1]
    for f in numba.prange(n_fits):
        g = group[f]
        u = unit[f]
        yc = np.empty(n_obs)
        ylogy = np.empty(n_obs)
        lstart = np.empty(n_obs)
        y23 = np.empty(n_obs)
        ones = np.ones(n_obs)
        offc = np.zeros(n_obs)
        levc = np.empty(n_obs, dtype=np.int64)
        tc = np.empty(n_obs)
        n = 0
        ymax = -np.inf
        for i in range(n_obs):
            if dvalid[g, i]:
                r = rows[g, i]
                yi = obs[u, r]
                if np.isfinite(yi):
                    yc[n] = yi
                    ylogy[n] = ylogy_all[u, r]
                    lstart[n] = lstart_all[u, r]
                    y23[n] = y23_all[u, r]
                    if has_offset:
                        offc[n] = off_all[u, r]
                    levc[n] = level[g, i]
                    tc[n] = tt[g, i]
                    ymax = max(ymax, yi)
                    n += 1
        a = np.empty(n_levels)
        s0 = np.empty(n_levels)
        tbar = np.empty(n_levels)
        w = np.empty(n)
        eta = np.empty(n)
        mu = np.empty(n)
        hat = np.empty(n)
        use_trend = trend[f]
        conv, _, b, sxx = irls_level_trend_one(
            yc,
            ylogy,
            lstart,
            ones,
            offc,
            levc,
            tc,
            n,
            n_levels,
            use_trend,
            maxit,
            epsilon,
            a,
            s0,
            tbar,
            w,
            eta,
            mu,
        )
        if not conv and use_trend:
            use_trend = False
            conv, _, b, sxx = irls_level_trend_one(
                yc,
                ylogy,
                lstart,
                ones,
                offc,
                levc,
                tc,
                n,
                n_levels,
                False,
                maxit,
                epsilon,
                a,
                s0,
                tbar,
                w,
                eta,
                mu,
            )
        pearson, n_ok, rank = level_trend_hat_dispersion(
            yc, ones, levc, tc, n, n_levels, use_trend, s0, tbar, sxx, w, mu, hat
        )
        df = n_ok - rank
        disp = pearson / df if df > 0 else np.nan
        phi = max(disp, 1.0) if not np.isnan(disp) else np.nan
        conv2 = conv
        if reweight:
            omega = np.empty(n)
            anscombe_weights_one(y23, mu, hat, n, phi, threshold, omega, a, b, levc, tc, offc)
            conv2, _, b, sxx = irls_level_trend_one(
                yc,
                ylogy,
                lstart,
                omega,
                offc,
                levc,
                tc,
                n,
                n_levels,
                use_trend,
                maxit,
                epsilon,
                a,
                s0,
                tbar,
                w,
                eta,
                mu,
            )
            pearson, n_ok, rank = level_trend_hat_dispersion(
                yc, omega, levc, tc, n, n_levels, use_trend, s0, tbar, sxx, w, mu, hat
            )
            df = n_ok - rank
            disp = pearson / df if df > 0 else np.nan
            phi = max(disp, 1.0) if not np.isnan(disp) else np.nan
            if weights_quirk:
                # fitGLM.flexible stores omega in model$weights, where summary.glm expects working weights
                total = 0.0
                for i in range(n):
                    r = (yc[i] - mu[i]) / mu[i]
                    total += omega[i] * r * r
                disp = total / df if df > 0 else np.nan
        a_now[f] = a[level_now]
        slope[f] = b if use_trend else np.nan
        s0_now[f] = s0[level_now]
        tbar_now[f] = tbar[level_now]
        sxx_out[f] = sxx
        disp_out[f] = disp
        phi_out[f] = phi
        df_out[f] = df
        conv_init[f] = conv
        conv_final[f] = conv2
        trend_used[f] = use_trend
        y_max[f] = ymax


def fit_level_trend_glm(
    y: np.ndarray,
    level: np.ndarray,
    t: np.ndarray,
    *,
    group: np.ndarray | None = None,
    trend: np.ndarray | bool = True,
    offset: np.ndarray | None = None,
    prior_weights: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    n_levels: int | None = None,
    maxit: int = 25,
    epsilon: float = 1e-8,
) -> LevelTrendFit:
    """Fit ``log mu = offset + a[level] + slope * t`` quasi-Poisson GLMs, R's IRLS step for step.

    ``y``, ``offset``, ``prior_weights`` and ``mask`` have shape (n_fits, n_obs). ``level`` (integer
    codes 0..n_levels-1) and ``t`` have shape (n_groups, n_obs) and are shared by the fits of one
    group (``group[f]`` names the design row of fit ``f``; by default each fit is its own group).
    ``trend`` (scalar or one flag per fit) adds the slope. Levels without observations get a NaN
    coefficient and do not count in the rank, like R's aliased coefficients.

    >>> import numpy as np
    >>> fit = fit_level_trend_glm(np.array([[2.0, 3.0, 6.0, 7.0]]), np.zeros((1, 4), int),
    ...                           np.arange(4.0)[None, :])
    >>> round(float(fit.slope[0]), 6), round(float(fit.dispersion[0]), 6)
    (0.419618, 0.142982)
    """
    y = np.ascontiguousarray(y, dtype=float)
    if y.ndim != 2:
        raise GlmError(f"y must have shape (n_fits, n_obs), got {y.shape}")
    n_fits, n_obs = y.shape
    level = np.ascontiguousarray(level, dtype=np.int64)
    t = np.ascontiguousarray(t, dtype=float)
    if level.ndim != 2 or level.shape[1] != n_obs or t.shape != level.shape:
        raise GlmError(f"level and t must have shape (n_groups, {n_obs}), got {level.shape} and {t.shape}")
    if group is None:
        if level.shape[0] != n_fits:
            raise GlmError("without group, level and t need one row per fit")
        group = np.arange(n_fits)
    group = np.ascontiguousarray(group, dtype=np.int64)
    if group.shape != (n_fits,) or (n_fits and (group.min() < 0 or group.max() >= level.shape[0])):
        raise GlmError("group must hold one design row index per fit")
    if n_levels is None:
        n_levels = int(level.max()) + 1 if level.size else 1
    if level.size and (level.min() < 0 or level.max() >= n_levels):
        raise GlmError(f"level codes must lie in 0..{n_levels - 1}")
    valid = np.isfinite(y) if mask is None else (np.asarray(mask, dtype=bool) & np.isfinite(y))
    if valid.shape != y.shape:
        raise GlmError(f"mask must have the shape of y {y.shape}")
    if np.any(y[valid] < 0):
        raise GlmError("y must be non-negative counts")
    pw = np.ones_like(y) if prior_weights is None else np.ascontiguousarray(prior_weights, dtype=float)
    off = np.zeros_like(y) if offset is None else np.ascontiguousarray(offset, dtype=float)
    if pw.shape != y.shape or off.shape != y.shape:
        raise GlmError(f"offset and prior_weights must have the shape of y {y.shape}")
    trend_arr = np.ascontiguousarray(np.broadcast_to(np.asarray(trend, dtype=bool), (n_fits,)))
    valid = np.ascontiguousarray(valid)

    coef = np.empty((n_fits, n_levels))
    slope = np.empty(n_fits)
    s0 = np.empty((n_fits, n_levels))
    tbar = np.empty((n_fits, n_levels))
    sxx = np.empty(n_fits)
    disp = np.empty(n_fits)
    dfres = np.empty(n_fits, dtype=np.int64)
    rank = np.empty(n_fits, dtype=np.int64)
    mu = np.empty((n_fits, n_obs))
    hat = np.empty((n_fits, n_obs))
    conv = np.empty(n_fits, dtype=np.bool_)
    iters = np.empty(n_fits, dtype=np.int64)
    if n_fits:
        _level_trend_kernel(
            y, valid, pw, off, level, t, group, trend_arr, n_levels, maxit, epsilon,
            coef, slope, s0, tbar, sxx, disp, dfres, rank, mu, hat, conv, iters,
        )  # fmt: skip
    return LevelTrendFit(
        level_coef=coef,
        slope=slope,
        trend=trend_arr,
        level_weight=s0,
        level_tbar=tbar,
        sxx=sxx,
        dispersion=disp,
        df_residual=dfres,
        rank=rank,
        fitted=mu,
        hat=hat,
        converged=conv,
        iterations=iters,
    )
