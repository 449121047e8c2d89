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

import math
from dataclasses import dataclass

import numba
import numpy as np

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


# ---------------------------------------------------------------------------------------------------
# Per-unit kernels (numba), run over the units in parallel. family: 0 Poisson, 1 negative binomial.


@numba.njit(cache=True, error_model="numpy")
def _digamma(x):
    r = 0.0
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    t = f * (
        -1.0 / 12
        + f
        * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132 + f * (691.0 / 32760 - f / 12)))))
    )
    return r + math.log(x) - 0.5 / x + t


@numba.njit(cache=True, error_model="numpy")
def _trigamma(x):
    r = 0.0
    while x < 10.0:
        r += 1.0 / (x * x)
        x += 1.0
    f = 1.0 / (x * x)
    t = (
        1.0 / x
        + 0.5 * f
        + f
        / x
        * (
            1.0 / 6
            + f
            * (
                -1.0 / 30
                + f * (1.0 / 42 + f * (-1.0 / 30 + f * (5.0 / 66 + f * (-691.0 / 2730 + f * 7.0 / 6))))
            )
        )
    )
    return r + t


@numba.njit(cache=True, error_model="numpy")
def _deviance(family, y, ylogy, eta, mu, theta):
    """Residual deviance, with y log(y / mu) = y log y - y eta (log mu = eta unless mu is clamped).

    ``ylogy`` holds y log y for y > 0 (Poisson) or y log max(1, y) (negative binomial).
    """
    dev = 0.0
    log_eps = math.log(_EPS)
    for i in range(y.shape[0]):
        yi = y[i]
        log_mu = eta[i] if eta[i] > log_eps else log_eps
        if family == 0:
            dev += 2.0 * ((ylogy[i] - yi * log_mu if yi > 0 else 0.0) - (yi - mu[i]))
        else:
            dev += 2.0 * (ylogy[i] - yi * log_mu - (yi + theta) * math.log((yi + theta) / (mu[i] + theta)))
    return dev


@numba.njit(cache=True, error_model="numpy")
def _cholesky_solve(a, b, p):
    """Solve a z = b in place (b <- z) for a symmetric positive-definite p x p ``a``; False if singular."""
    for j in range(p):
        d = a[j, j]
        for k in range(j):
            d -= a[j, k] * a[j, k]
        if not d > 1e-300:
            return False
        d = math.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, p):
            v = a[i, j]
            for k in range(j):
                v -= a[i, k] * a[j, k]
            a[i, j] = v / d
    for i in range(p):
        v = b[i]
        for k in range(i):
            v -= a[i, k] * b[k]
        b[i] = v / a[i, i]
    for i in range(p - 1, -1, -1):
        v = b[i]
        for k in range(i + 1, p):
            v -= a[k, i] * b[k]
        b[i] = v / a[i, i]
    return True


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _weighted_cross(xt, w, wz, a, b):
    """a = X' diag(w) X (lower triangle mirrored) and b = X' wz, with X given transposed (p, n)."""
    p, n = xt.shape
    for j in range(p):
        acc = 0.0
        for i in range(n):
            acc += xt[j, i] * wz[i]
        b[j] = acc
        for k in range(j + 1):
            acc = 0.0
            for i in range(n):
                acc += xt[j, i] * xt[k, i] * w[i]
            a[j, k] = acc
            a[k, j] = acc


@numba.njit(cache=True, error_model="numpy")
def _ylogy(y, family):
    """y log y where y > 0 (Poisson deviance) or y log max(1, y) (negative-binomial deviance)."""
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = y[i] * math.log(y[i]) if y[i] > (0.0 if family == 0 else 1.0) else 0.0
    return out


@numba.njit(cache=True, error_model="numpy")
def _irls_unit(xt, y, ylogy, off, family, theta, eta, mu, coef, epsilon, maxit):
    """``glm.fit`` IRLS for one unit from ``eta``; updates eta, mu, coef. Returns (converged, finite).

    ``xt`` is the design matrix transposed, (p, n); ``ylogy`` is ``_ylogy(y, family)``.
    """
    p, n = xt.shape
    for i in range(n):
        mu[i] = max(math.exp(eta[i]), _EPS)
    dev_old = _deviance(family, y, ylogy, eta, mu, theta)
    a = np.empty((p, p))
    b = np.empty(p)
    w = np.empty(n)
    wz = np.empty(n)
    for _ in range(maxit):
        for i in range(n):
            mu_eta = mu[i]  # both are max(exp(eta), eps) for the log link
            var = mu[i] if family == 0 else mu[i] + mu[i] * mu[i] / theta
            wi = mu_eta * mu_eta / var
            w[i] = wi
            wz[i] = wi * ((eta[i] - off[i]) + (y[i] - mu[i]) / mu_eta)
        _weighted_cross(xt, w, wz, a, b)
        ok = True
        for j in range(p):
            if not math.isfinite(b[j]):
                ok = False
            for k in range(p):
                if not math.isfinite(a[j, k]):
                    ok = False
        if not ok or not _cholesky_solve(a, b, p):
            return False, False
        for j in range(p):
            coef[j] = b[j]
        for i in range(n):
            eta[i] = off[i]
        for j in range(p):
            bj = b[j]
            for i in range(n):
                eta[i] += xt[j, i] * bj
        for i in range(n):
            mu[i] = max(math.exp(eta[i]), _EPS)
        dev = _deviance(family, y, ylogy, eta, mu, theta)
        if not math.isfinite(dev):
            return False, False
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            return True, True
        dev_old = dev
    return False, True


@numba.njit(cache=True, error_model="numpy")
def _count_table(y):
    """Counts of each value 0..max(y) for integer y (not too large), else an empty table."""
    n = y.shape[0]
    ymax = 0.0
    integer = True
    for i in range(n):
        if y[i] != math.floor(y[i]):
            integer = False
        ymax = max(ymax, y[i])
    if not (integer and ymax <= 4 * n + 100):
        return np.zeros(0)
    counts = np.zeros(int(ymax) + 1)
    for i in range(n):
        counts[int(y[i])] += 1.0
    return counts


@numba.njit(cache=True, error_model="numpy")
def _sum_log1p_ratio(mu, inv_t):
    """sum_i log(1 + mu_i inv_t), one log per run of factors whose product stays far from overflow."""
    total = 0.0
    prod = 1.0
    for i in range(mu.shape[0]):
        f = 1.0 + mu[i] * inv_t
        if f > 1e100:
            total += math.log(f)
            continue
        prod *= f
        if prod > 1e200:
            total += math.log(prod)
            prod = 1.0
    return total + math.log(prod)


@numba.njit(cache=True, error_model="numpy")
def _theta_ml_unit(y, mu, limit, eps, counts):
    """``MASS::theta.ml`` for one unit. Returns (theta, hit_limit, failed).

    ``counts`` is ``_count_table(y)``. The score's sum of log(t0) - log(t0 + mu_i) is taken as
    -log of products of (1 + mu_i / t0): a few logs per step instead of one per observation. The
    rounding differs from R's observation-by-observation sum by about 1e-14; theta is ill-conditioned
    enough (its score is flat) that this moves theta by up to ~1e-8 absolute, the size of glm.nb's
    stopping rule on the theta change, so for a few units in a thousand the alternation stops one
    step earlier or later than R's and theta differs from R's by ~1e-7 relative (R's own rounding
    noise; a regrouped sum in R would do the same).
    """
    n = y.shape[0]
    s = 0.0
    for i in range(n):
        r = y[i] / mu[i] - 1.0
        s += r * r
    t0 = n / s
    # For integer counts, digamma(t0 + y) - digamma(t0) = sum_{j<y} 1/(t0 + j) (and likewise for
    # trigamma): one pass over 0..max(y) per step replaces two special functions per observation.
    use_table = counts.shape[0] > 0
    it = 0
    delta = 1.0
    while True:
        it += 1
        if not (it < limit and abs(delta) > eps):
            break
        t0 = abs(t0)
        score = 0.0
        info = 0.0
        if use_table:
            d = 0.0
            tri = 0.0
            for v in range(1, counts.shape[0]):
                inv = 1.0 / (t0 + (v - 1))
                d += inv
                tri += inv * inv
                if counts[v] > 0:
                    score += counts[v] * d
                    info += counts[v] * tri
        else:
            dg0 = _digamma(t0)
            tg0 = _trigamma(t0)
            for i in range(n):
                score += _digamma(t0 + y[i]) - dg0
                info += tg0 - _trigamma(t0 + y[i])
        # sum log(t0) + 1 - log(t0 + mu) - r and sum -1/t0 + 2 / (mu + t0) - r / (mu + t0)
        inv_t0 = 1.0 / t0
        score_r, info_r = _theta_rational_sums(y, mu, t0)
        score += n - _sum_log1p_ratio(mu, inv_t0) - score_r
        info += info_r - n * inv_t0
        delta = score / info
        t0 = t0 + delta
        if not math.isfinite(delta):
            return np.nan, False, True
    if t0 < 0:
        t0 = 0.0
    return t0, it == limit, False


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _theta_rational_sums(y, mu, t0):
    """sum r_i and sum 2 / (mu_i + t0) - r_i / (mu_i + t0), r_i = (y_i + t0) / (mu_i + t0)."""
    sr = 0.0
    si = 0.0
    for i in range(y.shape[0]):
        inv = 1.0 / (mu[i] + t0)
        r = (y[i] + t0) * inv
        sr += r
        si += 2.0 * inv - r * inv
    return sr, si


@numba.njit(cache=True, error_model="numpy")
def _nb_loglik(th, mu, y, counts, lgamma_y1):
    """The NB log-likelihood of ``MASS::glm.nb`` (its convergence check), regrouped:

    sum lgamma(th + y) - lgamma(th) - lgamma(y + 1) + th log th + y log mu - (th + y) log(th + mu)
    = sum_y [lgamma(th + y) - lgamma(th)] - sum lgamma(y + 1)
      - th sum log(1 + mu / th) - sum_{y > 0} y log(1 + th / mu),
    with the first sum over the distinct counts (``counts`` from ``_count_table``) and
    ``lgamma_y1`` the constant sum of lgamma(y + 1).
    """
    n = y.shape[0]
    total = -lgamma_y1
    if counts.shape[0] > 0:
        lg_th = math.lgamma(th)
        for v in range(1, counts.shape[0]):
            if counts[v] > 0:
                total += counts[v] * (math.lgamma(th + v) - lg_th)
    else:
        for i in range(n):
            total += math.lgamma(th + y[i]) - math.lgamma(th)
    total -= th * _sum_log1p_ratio(mu, 1.0 / th)
    for i in range(n):
        if y[i] > 0:
            total -= y[i] * math.log(1.0 + th / mu[i])
    return total


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _fit_all(xt, y, off, family, theta_in, estimate_theta, epsilon, maxit, coef, fitted, theta_out, flags):
    """Fit every column of y. flags[:, 0] converged, 1 ok, 2 theta iteration limit, 3 alternation limit."""
    n, units = y.shape
    p = xt.shape[0]
    for u in numba.prange(units):
        yu = y[:, u].copy()
        ou = off[:, 0].copy() if off.shape[1] == 1 else off[:, u].copy()
        eta = np.empty(n)
        mu = np.empty(n)
        cu = np.full(p, np.nan)
        if estimate_theta or family == 0:
            for i in range(n):
                eta[i] = math.log(yu[i] + 0.1)
            conv, fin = _irls_unit(xt, yu, _ylogy(yu, 0), ou, 0, 1.0, eta, mu, cu, epsilon, maxit)
            th = np.inf
        else:
            th = theta_in[u]
            for i in range(n):
                eta[i] = math.log(yu[i] + (1.0 / 6.0 if yu[i] == 0 else 0.0))
            conv, fin = _irls_unit(xt, yu, _ylogy(yu, 1), ou, 1, th, eta, mu, cu, epsilon, maxit)
        ok = fin
        hit = False
        alternation = False
        if estimate_theta and ok:
            counts = _count_table(yu)
            ylogy = _ylogy(yu, 1)
            lgamma_y1 = 0.0
            for i in range(n):
                lgamma_y1 += math.lgamma(yu[i] + 1.0)
            th, hit, failed = _theta_ml_unit(yu, mu, maxit, _EPS**0.25, counts)
            ok = not failed
            d1 = math.sqrt(2.0 * max(1, n - p))
            lm = _nb_loglik(th, mu, yu, counts, lgamma_y1)
            lm0 = lm + 2 * d1
            delta = 1.0
            iteration = 0
            mu_new = np.empty(n)
            # theta.ml at the loop's top sees the mu it saw last (R passes the previous fit's mu):
            # on the first pass that is the Poisson fit's, so its result is the one just computed.
            same_mu = True
            th_same, hit_same = th, hit
            while ok:
                iteration += 1
                if not (iteration <= maxit and abs(lm0 - lm) / d1 + abs(delta) > epsilon):
                    break
                for i in range(n):
                    eta[i] = math.log(mu[i])
                conv, fin = _irls_unit(xt, yu, ylogy, ou, 1, th, eta, mu_new, cu, epsilon, maxit)
                t_old = th
                if same_mu:
                    th, hit, failed = th_same, hit_same, False
                    same_mu = False
                else:
                    th, hit, failed = _theta_ml_unit(yu, mu, maxit, _EPS**0.25, counts)  # previous mu
                if failed or not fin:
                    ok = False
                    break
                mu[:] = mu_new
                delta = t_old - th
                lm0 = lm
                lm = _nb_loglik(th, mu, yu, counts, lgamma_y1)
            alternation = iteration > maxit
        if ok:
            coef[u, :] = cu
            fitted[:, u] = mu
            theta_out[u] = th
        else:
            coef[u, :] = np.nan
            fitted[:, u] = np.nan
            theta_out[u] = np.nan
        flags[u, 0] = conv and ok
        flags[u, 1] = ok
        flags[u, 2] = hit and ok
        flags[u, 3] = alternation and ok


def _fit(x, y, offset, family: str, theta, estimate: bool, epsilon: float, maxit: int) -> GLMFit:
    x, y, off = _prepare(x, y, offset)
    n_obs, n_units = y.shape
    coef = np.empty((n_units, x.shape[1]))
    fitted = np.empty((n_obs, n_units))
    theta_out = np.empty(n_units)
    flags = np.zeros((n_units, 4), dtype=np.bool_)
    theta_in = np.broadcast_to(np.asarray(1.0 if theta is None else theta, dtype=float), (n_units,)).copy()
    code = 0 if family == "poisson" else 1
    _fit_all(
        np.ascontiguousarray(x.T),
        y,
        off,
        code,
        theta_in,
        estimate,
        epsilon,
        maxit,
        coef,
        fitted,
        theta_out,
        flags,
    )
    converged, ok, hit, alternation = flags.T
    what = "Poisson" if family == "poisson" else "negative-binomial"
    messages = [
        (int(i), f"{what} fit failed" + (" (theta could not be estimated)" if estimate else ""))
        for i in np.flatnonzero(~ok)
    ]
    messages += [(int(i), "theta.ml: iteration limit reached") for i in np.flatnonzero(hit)]
    messages += [(int(i), "glm.nb: alternation limit reached") for i in np.flatnonzero(alternation)]
    messages += [(int(i), "glm.fit: algorithm did not converge") for i in np.flatnonzero(ok & ~converged)]
    if family == "poisson":
        theta_out = np.where(ok, np.inf, np.nan)
    return GLMFit(family, coef, fitted, theta_out, converged, ok, tuple(sorted(messages)))


def _prepare(x: np.ndarray, y: np.ndarray, offset: np.ndarray | None) -> tuple[np.ndarray, ...]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n_obs, p) with n_obs = {y.shape[0]} rows, got shape {x.shape}")
    if np.any(~np.isfinite(y)) or np.any(y < 0):
        raise ValueError("y must hold finite non-negative counts")
    off = np.zeros((y.shape[0], 1)) if offset is None else np.broadcast_to(np.asarray(offset, float), y.shape)
    return x, np.ascontiguousarray(y), np.ascontiguousarray(off, dtype=float)


def fit_poisson(
    x: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    *,
    epsilon: float = GLM_EPSILON,
    maxit: int = GLM_MAXIT,
) -> GLMFit:
    """Poisson GLM, log link, for every column of ``y`` (R ``glm(..., family = poisson())``)."""
    return _fit(x, y, offset, "poisson", None, False, epsilon, maxit)


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
    return _fit(x, y, offset, "negbin", theta, False, epsilon, maxit)


def fit_negbin(
    x: np.ndarray,
    y: np.ndarray,
    offset: np.ndarray | None = None,
    *,
    epsilon: float = GLM_EPSILON,
    maxit: int = GLM_MAXIT,
) -> GLMFit:
    """Negative-binomial GLM with theta estimated by ML, iterated as ``MASS::glm.nb`` does."""
    return _fit(x, y, offset, "negbin", None, True, epsilon, maxit)


def theta_ml(
    y: np.ndarray, mu: np.ndarray, limit: int = 10, eps: float = _EPS**0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ML estimate of the negative-binomial size per column, as ``MASS::theta.ml`` iterates it.

    Returns (theta, hit_limit, failed): Newton steps on the score from ``n / sum((y/mu - 1)^2)``,
    at most ``limit - 1`` of them, each unit stopping when the step is below ``eps``.
    """
    y = np.asarray(y, dtype=float)
    mu = np.asarray(mu, dtype=float)
    out = []
    for u in range(y.shape[1]):
        yu = np.ascontiguousarray(y[:, u])
        out.append(_theta_ml_unit(yu, np.ascontiguousarray(mu[:, u]), limit, eps, _count_table(yu)))
    return (
        np.array([o[0] for o in out]),
        np.array([o[1] for o in out], dtype=bool),
        np.array([o[2] for o in out], dtype=bool),
    )


def harmonic_design(t: np.ndarray, freq: int, harmonics: int = 1, trend: bool = False) -> np.ndarray:
    """Columns 1, [t,] cos(2 s pi t / freq), sin(2 s pi t / freq) for s = 1..harmonics, as R orders them."""
    t = np.asarray(t, dtype=float)
    cols = [np.ones_like(t)]
    if trend:
        cols.append(t)
    for s in range(1, harmonics + 1):
        cols += [np.cos(2 * s * np.pi / freq * t), np.sin(2 * s * np.pi / freq * t)]
    return np.column_stack(cols)
