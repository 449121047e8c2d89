"""CDC EARS C1, C2 and C3 detectors (R ``surveillance::earsC``).

Hutwagner, L., Thompson, W., Seeman, G. M. and Treadwell, T. (2003). The bioterrorism preparedness
and response Early Aberration Reporting System (EARS). *Journal of Urban Health* 80(2 Suppl 1),
i89-i96; Fricker, R. D., Hegler, B. L. and Dunfee, D. A. (2008), *Statistics in Medicine* 27,
3407-3429. With a baseline of ``b`` periods (default 7), mean ``ybar_t`` and standard deviation
``s_t`` (n - 1 denominator, at least ``minSigma``) of the reference values and ``z = qnorm(1 - alpha)``:

- C1: reference values x_{t-b} .. x_{t-1}; upper bound ybar_t + z s_t;
- C2: reference values x_{t-b-2} .. x_{t-3} (a two-period guard band); upper bound ybar_t + z s_t;
- C3: with C2_t = (x_t - ybar_t) / s_t on the C2 baseline, upper bound
  x_t + s_t (z - max(0, C2_{t-2} - 1) - max(0, C2_{t-1} - 1)), floored at 0 — the count at which the
  sum of the last three C2 excesses over 1 would reach z, as surveillance 1.20.3 computes it.

An alarm is raised where the count exceeds the upper bound. ``alpha`` defaults to 0.001 for C1 and
C2 and 0.025 for C3, as in R.

>>> import numpy as np
>>> from qslab.surveillance.sts import CountSeries
>>> x = np.array([5, 6, 4, 5, 7, 5, 6, 5, 12, 6], dtype=float)
>>> res = ears_c(CountSeries(x), EarsConfig(method="C1"))
>>> res.upperbound[:, 0].round(3)
array([ 8.444,  8.444, 14.6  ])
>>> res.alarm[:, 0]
array([0., 1., 0.])
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from qslab.surveillance.sts import CountSeries, DetectorResult, SeriesError

METHODS = ("C1", "C2", "C3")


@dataclass(frozen=True)
class EarsConfig:
    """Settings of ``earsC`` (R control names): ``method``, ``baseline``, ``minSigma`` (``min_sigma``),
    ``alpha`` (None: 0.001 for C1 and C2, 0.025 for C3) and ``range`` (0-based rows; None: every row
    with a full baseline, as R's default)."""

    method: str = "C1"
    baseline: int = 7
    min_sigma: float = 0.0
    alpha: float | None = None
    range: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise SeriesError(f"method must be one of C1, C2, C3, got {self.method!r}")
        if isinstance(self.baseline, bool) or int(self.baseline) != self.baseline or self.baseline < 3:
            raise SeriesError(f"baseline must be an integer of at least 3, got {self.baseline!r}")
        object.__setattr__(self, "baseline", int(self.baseline))
        if not (math.isfinite(self.min_sigma) and self.min_sigma >= 0):
            raise SeriesError(f"minSigma must be a non-negative number, got {self.min_sigma!r}")
        if self.alpha is not None and not (0 < self.alpha < 1):
            raise SeriesError(f"alpha must lie strictly between 0 and 1, got {self.alpha!r}")
        if self.range is not None:
            rng = tuple(sorted({int(i) for i in np.atleast_1d(np.asarray(self.range)).ravel()}))
            if not rng:
                raise SeriesError("range must hold at least one time point")
            if self.method == "C3" and rng[-1] - rng[0] + 1 != len(rng):
                raise SeriesError("range must be consecutive time points for method C3")
            object.__setattr__(self, "range", rng)

    @classmethod
    def from_r_control(cls, control: dict | None, freq: int, n_time: int) -> EarsConfig:
        """The config for an R ``earsC`` control list (``range`` 1-based; R defaults for the rest)."""
        from qslab.surveillance.detectors.registry import RControl

        r = RControl(control, "earsC", ("range", "method", "baseline", "minSigma", "alpha"))
        method = r.choice("method", "C1", METHODS)
        rng = r.range(n_time)
        if method == "C3" and rng is not None and sorted(set(rng)) != list(range(min(rng), max(rng) + 1)):
            raise r.error("range", "must be consecutive time points for method C3")
        return cls(
            method=method,
            baseline=r.number("baseline", 7, integer=True, minimum=3),
            min_sigma=r.number("minSigma", 0.0, minimum=0),
            alpha=r.number("alpha", None, above=0, maximum=0.999999999),
            range=rng,
        )

    @property
    def effective_alpha(self) -> float:
        if self.alpha is not None:
            return float(self.alpha)
        return 0.025 if self.method == "C3" else 0.001

    @property
    def max_lag(self) -> int:
        return self.baseline + {"C1": 0, "C2": 2, "C3": 4}[self.method]


def _reference_stats(observed: np.ndarray, rows: np.ndarray, first_lag: int, baseline: int):
    """Mean and sd (n - 1) of x_{t - first_lag - baseline + 1} .. x_{t - first_lag} for each row t."""
    lags = np.arange(first_lag, first_lag + baseline)
    ref = observed[rows[:, None] - lags[None, :]]  # (rows, baseline, units)
    return ref.mean(axis=1), ref.std(axis=1, ddof=1)


def ears_c(series: CountSeries, config: EarsConfig) -> DetectorResult:
    """Run ``earsC`` on every unit of ``series`` at once; no method-specific outputs beyond the bound."""
    n_time = series.n_time
    b = config.baseline
    if config.range is None:
        rng = np.arange(config.max_lag, n_time)
        if rng.size == 0:
            raise SeriesError(
                f"the series has {n_time} time points; earsC {config.method} with baseline {b} "
                f"needs more than {config.max_lag}"
            )
    else:
        rng = np.asarray(config.range, dtype=int)
    if rng[0] - config.max_lag < 0:
        raise SeriesError(
            f"the series is too short for the baseline: earsC {config.method} with baseline {b} "
            f"needs {config.max_lag} time points before the first scored one (time {rng[0] + 1})"
        )
    if rng[-1] >= n_time:
        raise SeriesError(f"range goes to time {rng[-1] + 1} but the series has {n_time} time points")
    obs = series.observed
    z = float(stats.norm.ppf(1 - config.effective_alpha))
    ms = config.min_sigma
    with np.errstate(all="ignore"):
        if config.method in ("C1", "C2"):
            mean, sd = _reference_stats(obs, rng, 1 if config.method == "C1" else 3, b)
            upper = mean + z * np.maximum(sd, ms)
        else:
            rows_c2 = np.arange(rng[0] - 2, rng[-1] + 1)
            mean, sd = _reference_stats(obs, rows_c2, 3, b)
            sigma = np.maximum(sd, ms)
            c2 = (obs[rows_c2] - mean) / sigma
            lag2 = np.maximum(0.0, c2[:-2] - 1)
            lag1 = np.maximum(0.0, c2[1:-1] - 1)
            upper = obs[rng] + sigma[2:] * (z - (lag2 + lag1))
            upper = np.maximum(0.0, upper)
        x = obs[rng]
        alarm = np.where(np.isnan(upper) | np.isnan(x), np.nan, (x > upper).astype(float))
    return DetectorResult(
        method="earsC",
        config=config,
        series=series,
        range=rng,
        upperbound=upper,
        alarm=alarm,
        outputs={},
        warnings=(),
    )
