"""GLR-CUSUM detector for Poisson and negative-binomial counts (R ``surveillance::algo.glrnb``).

Höhle, M. and Paul, M. (2008). Count data regression charts for the monitoring of surveillance time
series. *Computational Statistics and Data Analysis* 52(9), 4357-4368. The in-control mean
``mu0_t`` is given or fitted on the baseline (rows before the first scored row) with
``y ~ 1 [+ t] + sum_s cos(2 s pi t / freq) + sin(2 s pi t / freq)``, ``t = 1..range[1]-1``, as R's
``estimateGLRNbHook``: a negative-binomial GLM with ML dispersion (``MASS::glm.nb``) when ``alpha`` is
not given, a Poisson GLM when ``alpha = 0``, a fixed-dispersion NB GLM otherwise. For a change of the
intercept, ``mu1_t = mu0_t exp(kappa)``, the statistic at time n is

    GLR_n = max_{k} sup_{kappa: dir*kappa >= 0} sum_{t=k}^{n} log f(x_t; mu1_t) / f(x_t; mu0_t)

(section 3 of the paper), with the window of ``k`` set by ``M`` and ``Mtilde`` exactly as the C code
of surveillance 1.20.3 does. An alarm is raised at the first n with ``GLR_n >= c.ARL``; the chart then
restarts at n + 1 with ``mu0`` unchanged. With ``ret = "cases"`` the upper bound is the number of
cases at n that would have given an alarm. ``change = "epi"`` is the epidemic chart
``mu1_t = mu0_t + lambda x_{t-1}`` (Held, Hofmann, Höhle and Schmid (2006), *Biostatistics* 7(3),
422-437), as the C code computes it.

>>> import numpy as np
>>> from qslab.surveillance.sts import CountSeries
>>> x = np.array([3, 2, 4, 3, 2, 3, 4, 2, 3, 3, 9, 10, 3, 2], dtype=float)
>>> cfg = GLRNBConfig(range=tuple(range(8, 14)), mu0=np.full(6, 3.0), alpha=0.0)
>>> res = glrnb(CountSeries(x, freq=52), cfg)
>>> res.upperbound[:, 0].round(3)
array([0.   , 0.   , 3.888, 8.901, 0.   , 0.   ])
>>> res.alarm[:, 0]
array([0., 0., 0., 1., 0., 0.])
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numba
import numpy as np

from qslab.surveillance import nbglm
from qslab.surveillance.sts import CountSeries, DetectorResult, SeriesError

CHANGES = ("intercept", "epi")
DIRECTIONS = ("inc", "dec")
RETURNS = ("value", "cases")


@dataclass(frozen=True)
class GLRNBConfig:
    """Settings of ``algo.glrnb`` (R control names in brackets).

    ``range`` holds 0-based row indexes of the scored time points (R ``range`` minus 1); they must be
    consecutive and start after at least one baseline row when ``mu0`` is fitted. ``mu0`` is None
    (fit it) or the in-control means for the scored rows: one value per row, or shape
    (len(range), n_units). ``mu0_harmonics`` and ``mu0_trend`` are R's ``mu0 = list(S=, trend=)``.
    ``alpha`` is the NB dispersion (None: estimated by ``glm.nb``; 0: Poisson). ``c_arl`` [c.ARL],
    ``m_tilde`` [Mtilde], ``m`` [M] (-1: no window), ``change``, ``dir``, ``ret``, ``x_max`` [xMax].
    """

    range: tuple[int, ...]
    c_arl: float = 5.0
    mu0: np.ndarray | None = field(default=None, compare=False)
    mu0_harmonics: int = 1
    mu0_trend: bool = False
    alpha: float | None = None
    m_tilde: int = 1
    m: int = -1
    change: str = "intercept"
    dir: str = "inc"
    ret: str = "value"
    x_max: int = 10000

    def __post_init__(self) -> None:
        rng = tuple(int(i) for i in np.atleast_1d(np.asarray(self.range)).ravel())
        if not rng:
            raise SeriesError("range must hold at least one time point")
        if min(rng) < 0:
            raise SeriesError("range indexes must be non-negative (0-based rows)")
        if any(b - a != 1 for a, b in itertools.pairwise(rng)):
            raise SeriesError("range must be consecutive increasing time points")
        object.__setattr__(self, "range", rng)
        if not (math.isfinite(self.c_arl) and self.c_arl > 0):
            raise SeriesError(f"c.ARL must be a positive number, got {self.c_arl!r}")
        if self.alpha is not None and not (math.isfinite(self.alpha) and self.alpha >= 0):
            raise SeriesError(f"alpha must be a non-negative number or None, got {self.alpha!r}")
        if int(self.m_tilde) != self.m_tilde or self.m_tilde < 1:
            raise SeriesError(f"Mtilde must be a positive integer, got {self.m_tilde!r}")
        if int(self.m) != self.m or not (self.m == -1 or self.m >= self.m_tilde):
            raise SeriesError(f"M must be -1 or an integer >= Mtilde, got {self.m!r}")
        if self.change not in CHANGES:
            raise SeriesError(f"change must be one of {', '.join(CHANGES)}, got {self.change!r}")
        if self.change == "epi" and self.ret == "cases":
            raise SeriesError("ret 'cases' is not available with change 'epi' (R fails there too)")
        if self.dir not in DIRECTIONS:
            raise SeriesError(f"dir must be one of {', '.join(DIRECTIONS)}, got {self.dir!r}")
        if self.ret not in RETURNS:
            raise SeriesError(f"ret must be one of {', '.join(RETURNS)}, got {self.ret!r}")
        if int(self.mu0_harmonics) != self.mu0_harmonics or self.mu0_harmonics < 0:
            raise SeriesError(f"mu0 S must be a non-negative integer, got {self.mu0_harmonics!r}")
        if self.mu0 is not None:
            mu0 = np.asarray(self.mu0, dtype=float)
            if mu0.shape[0] != len(rng) or mu0.ndim > 2:
                raise SeriesError(f"mu0 must have one value per scored time point ({len(rng)})")
            if not np.all(np.isfinite(mu0) & (mu0 > 0)):
                raise SeriesError("mu0 must be positive and finite")
            if self.alpha is None:
                raise SeriesError("alpha must be given when mu0 is given (R cannot estimate it then)")
            object.__setattr__(self, "mu0", mu0)

    @classmethod
    def from_r_control(cls, control: dict | None, freq: int, n_time: int) -> GLRNBConfig:
        """The config for an R ``algo.glrnb`` control list (``range`` 1-based; R defaults for the rest).

        ``mu0`` may be omitted/null (fitted), a list of means for the scored rows, or R's model list
        ``{"S": 1, "trend": false, "refit": false}``; ``refit = true`` and ``theta`` are not supported.
        """
        from qslab.surveillance.detectors.registry import RControl

        known = ("range", "c.ARL", "mu0", "alpha", "Mtilde", "M", "change", "theta", "dir", "ret", "xMax")
        r = RControl(control, "glrnb", known)
        rng = r.range(n_time, required=True)
        if r.has("theta"):
            raise r.error("theta", "is not supported (the LR-CUSUM for a known change); leave it null")
        mu0 = None
        harmonics, trend = 1, False
        if r.has("mu0"):
            value = r.raw("mu0")
            if isinstance(value, dict):
                for key in value:
                    if key not in ("S", "trend", "refit"):
                        raise SeriesError(
                            f"unknown control key 'mu0${key}' for glrnb (known: S, trend, refit)"
                        )
                sub = RControl(value, "glrnb mu0", ("S", "trend", "refit"))
                harmonics = sub.number("S", 1, integer=True, minimum=0)
                trend = sub.boolean("trend", False)
                if sub.boolean("refit", False):
                    raise SeriesError(
                        "control 'mu0$refit' for glrnb: refitting after alarms is not supported"
                    )
            else:
                values = value if isinstance(value, list) else [value]
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                    raise r.error("mu0", "must be null, a list of means or a model list")
                if len(values) not in (1, len(rng)):
                    raise r.error("mu0", f"must hold one mean per scored time point ({len(rng)})")
                mu0 = np.broadcast_to(np.asarray(values, dtype=float), (len(rng),)).copy()
                if not np.all(np.isfinite(mu0) & (mu0 > 0)):
                    raise r.error("mu0", "must be positive means")
        alpha = r.number("alpha", None, minimum=0)
        if mu0 is not None and alpha is None:
            raise SeriesError("control 'alpha' for glrnb must be given when mu0 is given (as R requires)")
        m_tilde = r.number("Mtilde", 1, integer=True, minimum=1)
        m = r.number("M", -1, integer=True)
        if not (m == -1 or m >= m_tilde):
            raise r.error("M", "must be -1 or at least Mtilde")
        change = r.choice("change", "intercept", CHANGES)
        if change == "epi" and r.choice("ret", "value", RETURNS) == "cases":
            raise r.error("ret", "'cases' is not available with change 'epi' (R fails there too)")
        return cls(
            range=rng,
            c_arl=r.number("c.ARL", 5.0, above=0),
            mu0=mu0,
            mu0_harmonics=harmonics,
            mu0_trend=trend,
            alpha=alpha,
            m_tilde=m_tilde,
            m=m,
            change=change,
            dir=r.choice("dir", "inc", DIRECTIONS),
            ret=r.choice("ret", "value", RETURNS),
            x_max=r.number("xMax", 10000, integer=True, minimum=0),
        )


# ---------------------------------------------------------------------------------------------------
# Recursions, one per C routine of surveillance 1.20.3 (glr, glr_window, glr_nb_window), with the
# restart after an alarm done here rather than in an R loop.


@numba.njit(cache=True, error_model="numpy")
def _cfmax0(v):
    # C's fmax(0, v): a NaN argument is ignored.
    if v != v:
        return 0.0
    return v if v > 0.0 else 0.0


@numba.njit(cache=True, error_model="numpy")
def _pois_lr(sumx, summu0, dirn):
    """sup over kappa (dir * kappa >= 0) of the Poisson log LR of a window with these sums (C code).

    Where the ratio sumx / summu0 points against ``dir`` the clipped MLE is 0 and the value is 0,
    which is returned without the log and exp.
    """
    if dirn * (sumx - summu0) <= 0.0 and not (dirn == -1 and sumx == 0.0):
        return 0.0
    kappa = dirn * _cfmax0(dirn * math.log(sumx / summu0)) if summu0 > 0 else 0.0
    return kappa * sumx + (1.0 - math.exp(kappa)) * summu0


@numba.njit(cache=True, error_model="numpy")
def _glr_pois_at(n, x, mu0, lo, dirn, window, m, m_tilde):
    """Poisson GLR statistic at n of the segment starting at ``lo`` (C glr / glr_window)."""
    max_glr = -1e99
    sumx = 0.0
    summu0 = 0.0
    if not window:
        for k in range(n, lo - 1, -1):
            sumx += x[k]
            summu0 += mu0[k]
            s = _pois_lr(sumx, summu0, dirn)
            if s > max_glr:
                max_glr = s
        return max_glr
    for ll in range(n - m_tilde + 1, n + 1):
        sumx += x[ll]
        summu0 += mu0[ll]
    k_low = max(lo, lo + (n - lo) - m)
    for k in range(n - m_tilde, k_low - 1, -1):
        sumx += x[k]
        summu0 += mu0[k]
        s = _pois_lr(sumx, summu0, dirn)
        if s > max_glr:
            max_glr = s
    return max_glr


@numba.njit(cache=True, error_model="numpy")
def _pois_hit(v, n, x, mu0, lo, dirn, window, m, m_tilde, c_arl):
    x[n] = v
    g = _glr_pois_at(n, x, mu0, lo, dirn, window, m, m_tilde)
    # C: while (dir * glr < dir * c.ARL) keep increasing x_n
    return not (dirn * g < dirn * c_arl)


@numba.njit(cache=True, error_model="numpy")
def _pois_cases(n, x, mu0, lo, dirn, window, m, m_tilde, c_arl):
    """Smallest x_n >= 0 that ends C's search loop: statistic >= c.ARL (inc) or <= c.ARL (dec)."""
    old = x[n]
    result = 0.0
    if not _pois_hit(0.0, n, x, mu0, lo, dirn, window, m, m_tilde, c_arl):
        lo_v = 0.0
        hi_v = 1.0
        while not _pois_hit(hi_v, n, x, mu0, lo, dirn, window, m, m_tilde, c_arl):
            lo_v = hi_v
            hi_v *= 2.0
            if hi_v > 1e15:
                break
        if hi_v > 1e15:
            result = np.inf
        else:
            while hi_v - lo_v > 1.0:
                mid = math.floor((lo_v + hi_v) / 2.0)
                if _pois_hit(mid, n, x, mu0, lo, dirn, window, m, m_tilde, c_arl):
                    hi_v = mid
                else:
                    lo_v = mid
            result = hi_v
    x[n] = old
    return result


@numba.njit(cache=True, error_model="numpy")
def _nb_lnk(kappa, x, mu0, alpha, k, n):
    lnk = 0.0
    ek = math.exp(kappa)
    for i in range(k, n + 1):
        lnk += kappa * x[i] + (x[i] + 1.0 / alpha) * math.log(
            (1.0 + alpha * mu0[i]) / (1.0 + alpha * mu0[i] * ek)
        )
    return lnk


@numba.njit(cache=True, error_model="numpy")
def _glr_nb_at(n, x, mu0, lo, alpha, dirn, m, m_tilde):
    """NB GLR statistic at n of the segment starting at ``lo`` (inner loop of C glr_nb_window).

    The log-likelihood ratio is strictly concave in kappa, so where the score at kappa = 0 points
    against ``dir`` the clipped MLE is 0 and l_{n,k} = 0 exactly; the Newton iteration of the C code
    is skipped there (it would end at a kappa that the clip maps to 0, the start value of the next k).
    """
    kappa_ml = 0.5
    rel = n - lo
    low = lo if m == -1 else lo + max(0, rel - m)
    up = n - (m_tilde - 1)
    score0 = 0.0  # score at kappa = 0 of the window k..n, built from the right
    for i in range(up + 1, n + 1):
        score0 += (x[i] - mu0[i]) / (1.0 + alpha * mu0[i])
    tail = np.empty(up - low + 1)
    for k in range(up, low - 1, -1):
        score0 += (x[k] - mu0[k]) / (1.0 + alpha * mu0[k])
        tail[k - low] = score0
    # First the Newton iterations of the C code, k ascending, each from the previous k's kappa.
    kappas = np.empty(up - low + 1)
    best = -1
    best_bound = -1.0
    max_glr = -1e99
    for k in range(low, up + 1):
        s0 = tail[k - low]
        if dirn * s0 < -1e-9 * (1.0 + abs(s0)):
            kappa_ml = 0.0
            kappas[k - low] = np.nan  # l_{n,k} = 0 exactly
            max_glr = max(max_glr, 0.0)
            continue
        kappa_old = 0.4
        kappa_new = kappa_ml
        it = 0
        while kappa_new > -18 and abs(kappa_new - kappa_old) > 1e-6 and it < 1000:
            it += 1
            kappa_old = kappa_new
            ek = math.exp(kappa_old)
            score, fisher = _nb_score_fisher(ek, x, mu0, alpha, k, n)
            kappa_new = kappa_old + score / (ek * fisher)
        kappa_ml = dirn * _cfmax0(dirn * kappa_new)
        kappas[k - low] = kappa_ml
        if s0 * kappa_ml > best_bound:
            best_bound = s0 * kappa_ml
            best = k
    # Then the maximum of l_{n,k} over k, starting from the k with the largest first bound below.
    # l(kappa) is concave with l(0) = 0 and l'(0) = s0, so l <= s0 * kappa (tangent at 0); and
    # -l'' = sum_i h_i(kappa), each h_i unimodal in kappa, so -l'' >= m = sum_i min(h_i(0), h_i(kappa))
    # between 0 and kappa and l <= s0 * kappa - m kappa^2 / 2 (Taylor). A k whose bound cannot beat
    # the maximum so far is passed over without its logs: the maximum is the same number.
    if best >= 0:
        max_glr = max(max_glr, _nb_lnk(kappas[best - low], x, mu0, alpha, best, n))
    for k in range(low, up + 1):
        kappa = kappas[k - low]
        if k == best or kappa != kappa:
            continue
        bound = tail[k - low] * kappa
        if bound + 1e-9 * abs(bound) + 1e-12 < max_glr:
            continue
        bound -= 0.5 * kappa * kappa * _nb_curvature_floor(math.exp(kappa), x, mu0, alpha, k, n)
        if bound + 1e-9 * abs(bound) + 1e-12 < max_glr:
            continue
        lnk = _nb_lnk(kappa, x, mu0, alpha, k, n)
        if lnk > max_glr:
            max_glr = lnk
    return max_glr


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _nb_curvature_floor(ek, x, mu0, alpha, k, n):
    """sum_i min(h_i(0), h_i(kappa)), h_i = mu_i (alpha x_i + 1) e^kappa / (1 + alpha mu_i e^kappa)^2."""
    total = 0.0
    for i in range(k, n + 1):
        w = mu0[i] * (alpha * x[i] + 1.0)
        d0 = 1.0 + alpha * mu0[i]
        d1 = 1.0 + alpha * mu0[i] * ek
        total += min(w / (d0 * d0), w * ek / (d1 * d1))
    return total


@numba.njit(cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _nb_score_fisher(ek, x, mu0, alpha, k, n):
    """Score and Fisher information (over exp(kappa)) of the NB chart's window k..n at exp(kappa)."""
    score = 0.0
    fisher = 0.0
    for i in range(k, n + 1):
        inv = 1.0 / (1.0 + alpha * ek * mu0[i])
        score += (x[i] - ek * mu0[i]) * inv
        fisher += mu0[i] * (alpha * x[i] + 1.0) * inv * inv
    return score, fisher


@numba.njit(cache=True, error_model="numpy")
def _epi_pois_at(n, x, mu0, lo, m, m_tilde):
    """Poisson epidemic-chart GLR at n (C glr_epi_window): mu1_t = mu0_t + lambda x_{t-1}.

    x_{t-1} of the first row of a segment is 0 at the start and the alarm count after a restart,
    which is x at the row before, as R passes it.
    """
    max_glr = -1e99
    lambda_ml = 0.5
    rel = n - lo
    low = lo if m == -1 else lo + max(0, rel - m)
    up = n - (m_tilde - 1)
    for k in range(low, up + 1):
        phi_old = 2.0
        phi_new = math.log(lambda_ml)
        it = 0
        while phi_new > -18 and abs(math.exp(phi_new) - math.exp(phi_old)) > 1e-6 and it < 1000:
            it += 1
            phi_old = phi_new
            e = math.exp(phi_old)
            s = 0.0
            f = 0.0
            for i in range(k, n + 1):
                xm1 = x[i - 1] if i > 0 else 0.0
                d = e * xm1 + mu0[i]
                s += x[i] * xm1 / d - xm1
                f += x[i] * xm1 * xm1 / (d * d)
            score = e * s
            phi_new = phi_old + score / (-score + math.exp(2.0 * phi_old) * f)
        lambda_ml = math.exp(phi_new)
        lnk = 0.0
        for i in range(k, n + 1):
            xm1 = x[i - 1] if i > 0 else 0.0
            lnk += x[i] * math.log(lambda_ml * xm1 / mu0[i] + 1.0) - lambda_ml * xm1
        if lnk > max_glr:
            max_glr = lnk
    return max_glr


@numba.njit(cache=True, error_model="numpy")
def _epi_nb_at(n, x, mu0, lo, alpha, m, m_tilde):
    """NB epidemic-chart GLR at n as C glr_nbgeneral_window computes it: theta from the Newton
    iteration of the intercept chart (unclipped), l_{n,k} from the epidemic model."""
    max_glr = -1e99
    theta_ml = 0.5
    rel = n - lo
    low = lo if m == -1 else lo + max(0, rel - m)
    up = n - (m_tilde - 1)
    for k in range(low, up + 1):
        theta_old = 0.4
        theta_new = theta_ml
        it = 0
        while theta_new > -18 and abs(theta_new - theta_old) > 1e-6 and it < 1000:
            it += 1
            theta_old = theta_new
            ek = math.exp(theta_old)
            score = 0.0
            fisher = 0.0
            for i in range(k, n + 1):
                d = 1.0 + alpha * ek * mu0[i]
                score += (x[i] - ek * mu0[i]) / d
                fisher += mu0[i] * (alpha * x[i] + 1.0) / (d * d)
            theta_new = theta_old + score / (ek * fisher)
        theta_ml = theta_new
        et = math.exp(theta_ml)
        lnk = 0.0
        for i in range(k, n + 1):
            xm1 = x[i - 1] if i > 0 else 0.0
            mu1 = mu0[i] + et * xm1
            lnk += x[i] * (
                math.log(mu1) - math.log(mu0[i]) + math.log(1 + alpha * mu0[i]) - math.log(1 + alpha * mu1)
            ) + 1 / alpha * (math.log(1 + alpha * mu0[i]) - math.log(1 + alpha * mu1))
        if lnk > max_glr:
            max_glr = lnk
    return max_glr


@numba.njit(cache=True, error_model="numpy")
def _run_unit(x, mu0, alpha, dirn, m, m_tilde, c_arl, ret_cases, x_max, epi, upper, alarm):
    """One unit over the scored rows with restarts; fills ``upper`` and ``alarm`` (length len(x))."""
    length = x.shape[0]
    window = m > 0
    lo = 0
    while lo < length:
        if alpha == 0.0 and not epi:
            n0 = lo + m_tilde if window else lo + max(m_tilde - 1, 0)
        else:
            n0 = lo + max(m_tilde - 1, 0)
        for i in range(lo, min(n0, length)):
            upper[i] = 0.0
        stop = -1
        for n in range(n0, length):
            if epi:
                if alpha == 0.0:
                    g = _epi_pois_at(n, x, mu0, lo, m, m_tilde)
                else:
                    g = _epi_nb_at(n, x, mu0, lo, alpha, m, m_tilde)
            elif alpha == 0.0:
                g = _glr_pois_at(n, x, mu0, lo, dirn, window, m, m_tilde)
            else:
                g = _glr_nb_at(n, x, mu0, lo, alpha, dirn, m, m_tilde)
            if ret_cases:
                if alpha == 0.0:
                    upper[n] = _pois_cases(n, x, mu0, lo, dirn, window, m, m_tilde, c_arl)
                else:
                    upper[n] = _nb_cases(n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl, g, x_max)
            else:
                upper[n] = g
            # the Poisson epidemic chart of the C code signals at > c.ARL, all others at >=
            if (g > c_arl) if (epi and alpha == 0.0) else (g >= c_arl):
                stop = n
                break
        if stop < 0:
            break
        alarm[stop] = 1.0
        lo = stop + 1


@numba.njit(cache=True, error_model="numpy")
def _nb_alarm_with(v, n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl):
    x[n] = v
    return _glr_nb_at(n, x, mu0, lo, alpha, dirn, m, m_tilde) >= c_arl


@numba.njit(cache=True, error_model="numpy")
def _nb_cases(n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl, g, x_max):
    """R's brute-force search for the NB chart (it steps x_n by one and reruns the chart).

    Without an alarm at n: the first x_n above the observed one (up to xMax + 1) with an alarm,
    1e99 if none or if x_n is 0 (R's loop does not start then). With an alarm: one more than the
    first x_n below the observed one without an alarm, NaN if there is none. The statistic is
    monotone in x_n in the direction of ``dir``; a galloping search from the observed value (steps
    1, 2, 4, ...) then bisection finds R's answer without visiting the far values where the Newton
    iteration of the C code breaks down.
    """
    old = x[n]
    if old > x_max or old < 1.0:
        return np.nan if g >= c_arl else 1e99
    result = 0.0
    if g >= c_arl:
        # step down: find the largest v < old without alarm
        near = old  # known alarm
        step = 1.0
        far = -1.0
        while True:
            v = max(old - step, 0.0)
            if not _nb_alarm_with(v, n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl):
                far = v
                break
            near = v
            if v == 0.0:
                break
            step *= 2.0
        if far < 0:
            result = np.nan
        else:
            while near - far > 1.0:
                mid = math.floor((near + far) / 2.0)
                if _nb_alarm_with(mid, n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl):
                    near = mid
                else:
                    far = mid
            result = near
    else:
        top = float(x_max) + 1.0
        near = old  # known without alarm
        step = 1.0
        far = -1.0
        while True:
            v = min(old + step, top)
            if _nb_alarm_with(v, n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl):
                far = v
                break
            near = v
            if v == top:
                break
            step *= 2.0
        if far < 0:
            result = 1e99
        else:
            while far - near > 1.0:
                mid = math.floor((near + far) / 2.0)
                if _nb_alarm_with(mid, n, x, mu0, lo, alpha, dirn, m, m_tilde, c_arl):
                    far = mid
                else:
                    near = mid
            result = far
    x[n] = old
    return result


@numba.njit(cache=True, error_model="numpy", parallel=True)
def _run_all(x, mu0, alpha, ok, dirn, m, m_tilde, c_arl, ret_cases, x_max, epi, upper, alarm):
    for u in numba.prange(x.shape[1]):
        if not ok[u]:
            continue
        xu = x[:, u].copy()
        mu = mu0[:, u].copy()
        up = np.zeros(x.shape[0])
        al = np.zeros(x.shape[0])
        _run_unit(xu, mu, alpha[u], dirn, m, m_tilde, c_arl, ret_cases, x_max, epi, up, al)
        upper[:, u] = up
        alarm[:, u] = al


def glr_statistic(
    x: np.ndarray,
    mu0: np.ndarray,
    alpha: np.ndarray | float,
    *,
    c_arl: float = 5.0,
    m_tilde: int = 1,
    m: int = -1,
    dir: str = "inc",
    ret: str = "value",
    x_max: int = 10000,
    change: str = "intercept",
) -> tuple[np.ndarray, np.ndarray]:
    """The GLR-CUSUM with restarts for given counts and in-control means, all units at once.

    ``x`` and ``mu0`` are (n_scored, n_units); ``alpha`` per unit (0 = Poisson). Returns
    (upperbound, alarm) as R's ``algo.glrnb`` (statistic or cases, negatives and NA set to 0).
    """
    x = np.ascontiguousarray(np.floor(np.asarray(x, dtype=float)))
    mu0 = np.ascontiguousarray(np.broadcast_to(np.asarray(mu0, dtype=float), x.shape))
    alpha_arr = np.broadcast_to(np.asarray(alpha, dtype=float), (x.shape[1],)).copy()
    ok = np.isfinite(alpha_arr) & np.all(np.isfinite(mu0), axis=0) & np.all(np.isfinite(x), axis=0)
    upper = np.full(x.shape, np.nan)
    alarm = np.full(x.shape, np.nan)
    _run_all(
        x,
        mu0,
        alpha_arr,
        ok,
        1 if dir == "inc" else -1,
        int(m),
        int(m_tilde),
        float(c_arl),
        ret == "cases",
        int(x_max),
        change == "epi",
        upper,
        alarm,
    )
    fixed = np.where(np.isnan(upper) | (upper < 0), 0.0, upper)
    upper = np.where(ok[None, :], fixed, np.nan)
    return upper, alarm


def glrnb(series: CountSeries, config: GLRNBConfig) -> DetectorResult:
    """Run ``algo.glrnb`` on every unit of ``series``; R's ``glrnb(sts, control)``.

    Outputs: ``mu0`` (in-control mean per scored row) and ``alpha`` (dispersion used, 0 = Poisson).
    Units whose baseline model cannot be fitted get NaN outputs and a warning naming them.
    """
    rng = np.asarray(config.range, dtype=int)
    if rng[-1] >= series.n_time:
        raise SeriesError(f"range goes to time {rng[-1] + 1} but the series has {series.n_time} time points")
    n_units = series.n_units
    observed = series.observed
    x = observed[rng]
    warnings: list[str] = []
    used = observed[: rng[-1] + 1] if config.mu0 is None else x
    ok = np.all(np.isfinite(used), axis=0)
    warnings += [f"unit {series.units[i]}: missing counts; not scored" for i in np.flatnonzero(~ok)]
    if config.mu0 is None:
        if rng[0] < 1:
            raise SeriesError("range must start after at least one baseline time point to fit mu0")
        base = observed[: rng[0]]
        t_train = np.arange(1, rng[0] + 1, dtype=float)
        design = nbglm.harmonic_design(t_train, series.freq, config.mu0_harmonics, config.mu0_trend)
        if design.shape[1] > base.shape[0]:
            raise SeriesError(
                f"the baseline has {base.shape[0]} time points, fewer than the {design.shape[1]} "
                "coefficients of the mu0 model"
            )
        new_design = nbglm.harmonic_design(rng + 1.0, series.freq, config.mu0_harmonics, config.mu0_trend)
        y = np.where(np.isfinite(base), base, 0.0)
        if config.alpha is None:
            fit = nbglm.fit_negbin(design, y)
            alpha = 1.0 / fit.theta
        elif config.alpha == 0:
            fit = nbglm.fit_poisson(design, y)
            alpha = np.zeros(n_units)
        else:
            fit = nbglm.fit_negbin_fixed(design, y, 1.0 / config.alpha)
            alpha = np.full(n_units, float(config.alpha))
        warnings += [f"unit {series.units[i]}: {msg}" for i, msg in fit.messages if ok[i]]
        ok &= fit.ok
        mu0 = fit.predict(new_design)
    else:
        mu0 = np.asarray(config.mu0, dtype=float)
        mu0 = np.repeat(mu0[:, None], n_units, axis=1) if mu0.ndim == 1 else mu0
        if mu0.shape != x.shape:
            raise SeriesError(f"mu0 must have shape {x.shape}, got {mu0.shape}")
        alpha = np.full(n_units, float(config.alpha))  # type: ignore[arg-type]
    mu0 = np.where(ok[None, :], mu0, np.nan)
    alpha = np.where(ok, alpha, np.nan)
    upper, alarm = glr_statistic(
        np.where(ok[None, :], x, 0.0),
        mu0,
        alpha,
        c_arl=config.c_arl,
        m_tilde=config.m_tilde,
        m=config.m,
        dir=config.dir,
        ret=config.ret,
        x_max=config.x_max,
        change=config.change,
    )
    return DetectorResult(
        method="glrnb",
        config=config,
        series=series,
        range=rng,
        upperbound=upper,
        alarm=alarm,
        outputs={"mu0": mu0, "alpha": np.broadcast_to(alpha, x.shape).copy()},
        warnings=tuple(warnings),
    )
