"""Batched Poisson and negative-binomial GLMs with log link, fitted over many series at once.

The detectors that estimate an in-control mean from a baseline (``glrnb``, ``cusum`` with
``m = "glm"``) fit the same small model to every unit. This module fits all units together: the
design matrix ``x`` (n_obs, p) is shared, the responses ``y`` are (n_obs, n_units), and each IRLS
step solves n_units small p x p systems at once.

The iterations follow R's ``stats::glm.fit`` (IRLS from ``mustart``, convergence when
``|dev - dev_old| / (|dev| + 0.1) < epsilon``) and ``MASS::glm.nb`` (a Poisson start, then
alternating a fixed-theta fit and the Newton estimate of theta of ``MASS::theta.ml`` until the
log-likelihood and theta settle), unit by unit with the same starting values and stopping rules,
so the estimates agree with R to the precision R stops at, not only to the common optimum.
Units that R could not fit (a NaN in the theta iteration, e.g. an all-zero baseline) are marked
``ok = False`` with the reason in ``messages``.

>>> import numpy as np
>>> t = np.arange(1.0, 9.0)
>>> x = np.column_stack([np.ones(8), t])
>>> y = np.array([[1, 2, 2, 4, 5, 7, 9, 12], [3, 3, 2, 4, 3, 3, 4, 2]], dtype=float).T
>>> fit = fit_poisson(x, y)
>>> fit.coef.round(4)
array([[-0.0451,  0.3213],
       [ 1.0986,  0.    ]])
>>> bool(fit.converged.all())
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from qslab.results import ResultMixin

_EPS = float(np.finfo(float).eps)
#: ``glm.control()`` defaults, which ``glm`` and ``glm.nb`` use.
GLM_EPSILON = 1e-8
GLM_MAXIT = 25


@dataclass(frozen=True, eq=False)
class GLMFit(ResultMixin):
    """Coefficients and fitted means of one log-link GLM per unit.

    ``coef`` is (n_units, p), ``fitted`` (n_obs, n_units). ``theta`` is the negative-binomial size
    per unit (``inf`` for Poisson); R's dispersion ``alpha`` is ``1 / theta``. ``ok`` is False where
    the unit could not be fitted; ``messages`` holds (unit index, message) pairs for failures and for
    the warnings R would give (non-convergence, theta iteration limit).
    """

    family: str
    coef: np.ndarray
    fitted: np.ndarray
    theta: np.ndarray
    converged: np.ndarray
    ok: np.ndarray
    messages: tuple[tuple[int, str], ...] = ()

    def predict(self, x_new: np.ndarray, offset: np.ndarray | None = None) -> np.ndarray:
        """Means exp(x_new @ coef + offset) at new rows, shape (len(x_new), n_units)."""
        eta = np.asarray(x_new, dtype=float) @ self.coef.T
        if offset is not None:
            eta = eta + offset
        return np.exp(eta)

    def summary(self) -> str:
        n_units = self.coef.shape[0]
        lines = [f"{self.family} GLM (log link): {n_units} unit(s), {int(self.ok.sum())} fitted"]
        lines += [f"  unit {i + 1}: {msg}" for i, msg in self.messages]
        return "\n".join(lines)


def _dev_resids(family: str, y: np.ndarray, mu: np.ndarray, theta: np.ndarray | None) -> np.ndarray:
    if family == "poisson":
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        return 2.0 * (ylogy - (y - mu))
    assert theta is not None
    return 2.0 * (y * np.log(np.maximum(1.0, y) / mu) - (y + theta) * np.log((y + theta) / (mu + theta)))


def _irls(
    x: np.ndarray,
    y: np.ndarray,
    family: str,
    theta: np.ndarray | None,
    eta: np.ndarray,
    offset: np.ndarray,
    epsilon: float,
    maxit: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """IRLS as ``glm.fit`` does it, for all columns of ``y``; frozen per unit once converged.

    Returns coef (n_units, p), mu (n_obs, n_units), converged and finite flags (n_units,).
    """
    n_units = y.shape[1]
    p = x.shape[1]
    mu = np.maximum(np.exp(eta), _EPS)
    dev_old = _dev_resids(family, y, mu, theta).sum(axis=0)
    coef = np.full((n_units, p), np.nan)
    converged = np.zeros(n_units, dtype=bool)
    finite = np.ones(n_units, dtype=bool)
    active = np.arange(n_units)
    for _ in range(maxit):
        if active.size == 0:
            break
        ya, eta_a, mu_a, off_a = y[:, active], eta[:, active], mu[:, active], offset[:, active]
        th = None if theta is None else theta[active]
        mu_eta = np.maximum(np.exp(eta_a), _EPS)
        var = mu_a if family == "poisson" else mu_a + mu_a**2 / th
        z = (eta_a - off_a) + (ya - mu_a) / mu_eta
        w = mu_eta**2 / var
        xtwx = np.einsum("ip,iu,iq->upq", x, w, x)
        xtwz = np.einsum("ip,iu->up", x, w * z)
        with np.errstate(all="ignore"):
            try:
                new_coef = np.linalg.solve(xtwx, xtwz[..., None])[..., 0]
            except np.linalg.LinAlgError:
                pairs = zip(xtwx, xtwz, strict=True)
                new_coef = np.stack([np.linalg.lstsq(a, b, rcond=None)[0] for a, b in pairs])
            eta_new = x @ new_coef.T + off_a
            mu_new = np.maximum(np.exp(eta_new), _EPS)
            dev = _dev_resids(family, ya, mu_new, th).sum(axis=0)
        bad = ~np.isfinite(dev) | ~np.all(np.isfinite(new_coef), axis=1)
        coef[active] = new_coef
        eta[:, active] = eta_new
        mu[:, active] = mu_new
        done = np.abs(dev - dev_old[active]) / (np.abs(dev) + 0.1) < epsilon
        finite[active[bad]] = False
        converged[active[done & ~bad]] = True
        dev_old[active] = dev
        active = active[~done & ~bad]
    return coef, mu, converged, finite


def _prepare(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None) -> tuple[np.ndarray, ...]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n_obs, p) with n_obs = {y.shape[0]} rows, got shape {x.shape}")
    if np.any(~np.isfinite(y)) or np.any(y < 0):
        raise ValueError("y must hold finite non-negative counts")
    off = np.zeros_like(y) if offset is None else np.broadcast_to(np.asarray(offset, float), y.shape).copy()
    return x, y, off


def fit_poisson(
    x: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    *,
    epsilon: float = GLM_EPSILON,
    maxit: int = GLM_MAXIT,
) -> GLMFit:
    """Poisson GLM, log link, for every column of ``y`` (R ``glm(..., family = poisson())``)."""
    x, y, off = _prepare(x, y, offset)
    eta = np.log(y + 0.1)
    coef, mu, converged, finite = _irls(x, y, "poisson", None, eta, off, epsilon, maxit)
    messages = [(int(i), "glm.fit: algorithm did not converge") for i in np.flatnonzero(~converged & finite)]
    messages += [(int(i), "Poisson fit failed (non-finite deviance)") for i in np.flatnonzero(~finite)]
    return GLMFit(
        "poisson", coef, mu, np.full(y.shape[1], np.inf), converged, finite, tuple(sorted(messages))
    )


def fit_negbin_fixed(
    x: np.ndarray,
    y: np.ndarray,
    theta: float | np.ndarray,
    offset: np.ndarray | None = None,
    *,
    epsilon: float = GLM_EPSILON,
    maxit: int = GLM_MAXIT,
) -> GLMFit:
    """Negative-binomial GLM with known size ``theta`` (R ``glm(..., family = negative.binomial(theta))``)."""
    x, y, off = _prepare(x, y, offset)
    th = np.broadcast_to(np.asarray(theta, dtype=float), (y.shape[1],)).copy()
    eta = np.log(y + (y == 0) / 6.0)
    coef, mu, converged, finite = _irls(x, y, "negbin", th, eta, off, epsilon, maxit)
    messages = [(int(i), "glm.fit: algorithm did not converge") for i in np.flatnonzero(~converged & finite)]
    messages += [(int(i), "negative-binomial fit failed") for i in np.flatnonzero(~finite)]
    return GLMFit("negbin", coef, mu, th, converged, finite, tuple(sorted(messages)))


def theta_ml(
    y: np.ndarray, mu: np.ndarray, limit: int = 10, eps: float = _EPS**0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ML estimate of the negative-binomial size per column, as ``MASS::theta.ml`` iterates it.

    Returns (theta, hit_limit, failed): Newton steps on the score from ``n / sum((y/mu - 1)^2)``,
    at most ``limit - 1`` of them, each unit stopping when the step is below ``eps``.
    """
    n_obs, n_units = y.shape
    with np.errstate(divide="ignore", invalid="ignore"):
        t0 = n_obs / np.sum((y / mu - 1.0) ** 2, axis=0)
    it = np.zeros(n_units, dtype=int)
    failed = np.zeros(n_units, dtype=bool)
    active = np.arange(n_units)
    while active.size:
        it[active] += 1
        # R: while ((it <- it + 1) < limit && abs(del) > eps)
        active = active[it[active] < limit]
        if active.size == 0:
            break
        th = np.abs(t0[active])
        ya, ma = y[:, active], mu[:, active]
        with np.errstate(all="ignore"):
            score = np.sum(
                special.digamma(th + ya)
                - special.digamma(th)
                + np.log(th)
                + 1
                - np.log(th + ma)
                - (ya + th) / (ma + th),
                axis=0,
            )
            info = np.sum(
                -special.polygamma(1, th + ya)
                + special.polygamma(1, th)
                - 1 / th
                + 2 / (ma + th)
                - (ya + th) / (ma + th) ** 2,
                axis=0,
            )
            delta = score / info
        t0[active] = th + delta
        nan = ~np.isfinite(delta)
        failed[active[nan]] = True
        settled = ~nan & (np.abs(delta) <= eps)
        it[active[settled]] += 1  # R increments the counter once more before it tests the step
        active = active[~nan & ~settled]
    hit_limit = it >= limit
    t0 = np.where(t0 < 0, 0.0, t0)
    return t0, hit_limit, failed


def _nb_loglik(th: np.ndarray, mu: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.sum(
            special.gammaln(th + y)
            - special.gammaln(th)
            - special.gammaln(y + 1)
            + th * np.log(th)
            + y * np.log(mu + (y == 0))
            - (th + y) * np.log(th + mu),
            axis=0,
        )


def fit_negbin(
    x: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    *,
    epsilon: float = GLM_EPSILON,
    maxit: int = GLM_MAXIT,
) -> GLMFit:
    """Negative-binomial GLM with theta estimated by ML, iterated as ``MASS::glm.nb`` does."""
    x, y, off = _prepare(x, y, offset)
    n_obs, n_units = y.shape
    messages: list[tuple[int, str]] = []
    pois = fit_poisson(x, y, off, epsilon=epsilon, maxit=maxit)
    coef = pois.coef.copy()
    mu = pois.fitted.copy()
    ok = pois.ok.copy()
    converged = pois.converged.copy()
    th, hit, failed = theta_ml(y, mu, limit=maxit)
    theta_warn = hit.copy()
    ok &= ~failed
    d1 = np.sqrt(2.0 * max(1, n_obs - x.shape[1]))
    lm = _nb_loglik(th, mu, y)
    lm0 = lm + 2 * d1
    delta = np.ones(n_units)
    iteration = np.zeros(n_units, dtype=int)
    active = np.flatnonzero(ok)
    while active.size:
        iteration[active] += 1
        keep = (iteration[active] <= maxit) & (
            np.abs(lm0[active] - lm[active]) / d1 + np.abs(delta[active]) > epsilon
        )
        active = active[keep]
        if active.size == 0:
            break
        eta = np.log(mu[:, active])
        c, m, conv, fin = _irls(x, y[:, active], "negbin", th[active], eta, off[:, active], epsilon, maxit)
        t_old = th[active]
        t_new, hit, failed = theta_ml(y[:, active], mu[:, active], limit=maxit)  # R uses the previous mu
        theta_warn[active] = hit
        coef[active] = c
        mu[:, active] = m
        converged[active] = conv
        th[active] = t_new
        delta[active] = t_old - t_new
        lm0[active] = lm[active]
        lm[active] = _nb_loglik(t_new, m, y[:, active])
        bad = failed | ~fin
        ok[active[bad]] = False
        active = active[~bad]
    for i in np.flatnonzero(~ok):
        messages.append((int(i), "negative-binomial fit failed (theta could not be estimated)"))
    for i in np.flatnonzero(ok & theta_warn):
        messages.append((int(i), "theta.ml: iteration limit reached"))
    for i in np.flatnonzero(ok & (iteration > maxit)):
        messages.append((int(i), "glm.nb: alternation limit reached"))
    for i in np.flatnonzero(ok & ~converged):
        messages.append((int(i), "glm.fit: algorithm did not converge"))
    coef[~ok] = np.nan
    mu[:, ~ok] = np.nan
    th[~ok] = np.nan
    return GLMFit("negbin", coef, mu, th, converged & ok, ok, tuple(sorted(messages)))


def harmonic_design(t: np.ndarray, freq: int, harmonics: int = 1, trend: bool = False) -> np.ndarray:
    """Columns 1, [t,] cos(2 s pi t / freq), sin(2 s pi t / freq) for s = 1..harmonics, as R orders them."""
    t = np.asarray(t, dtype=float)
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t)
    for s in range(1, harmonics + 1):
        cols += [np.cos(2 * s * np.pi / freq * t), np.sin(2 * s * np.pi / freq * t)]
    return np.column_stack(cols)
