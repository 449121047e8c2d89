"""Farrington outbreak detectors: ``farrington`` (1996) and ``farringtonFlexible`` (Noufaily 2013).

Farrington, C.P., Andrews, N.J., Beale, A.D. and Catchpole, M.A. (1996). A statistical algorithm for
the early detection of outbreaks of infectious disease. *J. R. Statist. Soc. A* 159(3), 547-563.
Noufaily, A., Enki, D.G., Farrington, P., Garthwaite, P., Andrews, N. and Charlett, A. (2013). An
improved algorithm for outbreak detection in multiple surveillance systems. *Statistics in Medicine*
32(7), 1206-1222.

For every unit and scored time point ``k`` a quasi-Poisson log-linear GLM is fitted to the counts of
the reference periods of the ``b`` previous years (section 3.1 of the 1996 paper: windows of
``+/- w`` periods around ``k - freq*i``; with dates, whole calendar years back, snapped to the same
weekday as R ``surveillance`` does with ``epochAsDate=TRUE``). A linear trend is kept only when
``b >= 3``, its p-value is below the threshold and the prediction does not exceed the largest
baseline count (section 3.2). Past outbreaks are down-weighted by Anscombe residuals (section 3.3).
The upper bound comes from the 2/3-power (or 1/2, or no) transformation of the predictive
distribution (section 3.4) or, with Noufaily's settings, from negative-binomial quantiles
(``nbPlugin``, ``muan``). Noufaily's variant also models the whole past year with a
``noPeriods``-level factor and leaves out the last ``pastWeeksNotIncluded`` periods.

All fits of all units and scored time points are done together (see :mod:`qslab.surveillance.glm`),
reproducing R ``surveillance`` 1.20.3 (``farrington``, i.e. ``algo.farrington`` with
``fitGLM.fast``, and ``farringtonFlexible``) to about 1e-8, including its quirks: the old algorithm
uses a two-sided ``alpha/2`` normal quantile and the dispersion ``phi`` in the prediction standard
error; the flexible one a one-sided quantile and the raw GLM dispersion there, and for ``nbPlugin`` /
``muan`` its score is ``(y - eta0) / (U - eta0)`` with ``eta0`` on the log scale.

>>> import numpy as np
>>> from qslab.surveillance.sts import CountSeries
>>> rng = np.random.default_rng(1)
>>> t = np.arange(260)
>>> y = rng.poisson(10 + 5 * np.sin(2 * np.pi * t / 52)).astype(float)
>>> y[-2] = 40
>>> res = farrington_flexible(CountSeries(y, freq=52), FarringtonFlexibleConfig(b=4, range=range(250, 260)))
>>> res.alarm[:, 0]
array([0., 0., 0., 0., 0., 0., 0., 0., 1., 0.])
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from qslab.surveillance.glm import farrington_fitglm_kernel
from qslab.surveillance.sts import CountSeries, DetectorResult, SeriesError

POWERTRANS = ("2/3", "1/2", "none")
THRESHOLD_METHODS = ("delta", "nbPlugin", "muan")
FARRINGTON_FIT_FUNS = (
    "algo.farrington.fitGLM.fast",
    "algo.farrington.fitGLM",
    "algo.farrington.fitGLM.populationOffset",
)
FLEXIBLE_FIT_FUNS = ("algo.farrington.fitGLM.flexible",)
_EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def _as_range(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    rng = tuple(int(i) for i in np.atleast_1d(np.asarray(list(value) if isinstance(value, range) else value)))
    if not rng:
        raise SeriesError("range must hold at least one time point")
    if min(rng) < 0:
        raise SeriesError("range indexes must be non-negative (0-based rows)")
    if any(b <= a for a, b in itertools.pairwise(rng)):
        raise SeriesError("range must be strictly increasing")
    return rng


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, float)) or int(value) != value:
        raise SeriesError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise SeriesError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_prob(name: str, value: Any, *, upper_inclusive: bool = False) -> float:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = 0 < v < 1 or (upper_inclusive and v == 1)
    if not ok:
        interval = "(0, 1]" if upper_inclusive else "(0, 1)"
        raise SeriesError(f"{name} must be a number in {interval}, got {value!r}")
    return float(value)


def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise SeriesError(f"{name} must be TRUE or FALSE, got {value!r}")
    return bool(value)


def _check_limit54(value: Any) -> tuple[int, int]:
    try:
        cases, periods = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SeriesError(f"limit54 must be two numbers (cases, periods), got {value!r}") from None
    if not (cases >= 0 and periods > 0) or int(cases) != cases or int(periods) != periods:
        raise SeriesError("The limit54 arguments are out of bounds: cases >= 0 and period > 0.")
    return int(cases), int(periods)


def _check_powertrans(value: Any) -> str:
    if value not in POWERTRANS:
        raise SeriesError(f"powertrans must be one of {', '.join(POWERTRANS)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class FarringtonConfig:
    """Settings of R ``farrington`` / ``algo.farrington`` (R control names in brackets).

    ``range`` holds 0-based row indexes of the scored time points (R's 1-based ``range`` minus 1);
    None scores rows ``freq*b - w - 1`` to the end, R's ``algo.farrington`` default. ``b`` years
    back, half window ``w``, ``reweight``, two-sided ``alpha`` (the bound uses ``1 - alpha/2``),
    ``trend``, ``limit54`` = (cases, periods), ``powertrans`` ("2/3", "1/2", "none") and ``fit_fun``
    [fitFun]: ``...fitGLM.fast`` (default; a non-converged fit is used as it is),
    ``...fitGLM`` (a unit whose GLM does not converge gets no result) or
    ``...fitGLM.populationOffset`` (as ``fitGLM`` with ``log(population)`` as offset).
    """

    range: tuple[int, ...] | None = None
    b: int = 5
    w: int = 3
    reweight: bool = True
    alpha: float = 0.05
    trend: bool = True
    limit54: tuple[int, int] = (5, 4)
    powertrans: str = "2/3"
    fit_fun: str = "algo.farrington.fitGLM.fast"

    def __post_init__(self) -> None:
        object.__setattr__(self, "range", _as_range(self.range))
        object.__setattr__(self, "b", _check_int("b", self.b, 1))
        object.__setattr__(self, "w", _check_int("w", self.w, 0))
        object.__setattr__(self, "reweight", _check_bool("reweight", self.reweight))
        object.__setattr__(self, "alpha", _check_prob("alpha", self.alpha))
        object.__setattr__(self, "trend", _check_bool("trend", self.trend))
        object.__setattr__(self, "limit54", _check_limit54(self.limit54))
        object.__setattr__(self, "powertrans", _check_powertrans(self.powertrans))
        if self.fit_fun not in FARRINGTON_FIT_FUNS:
            raise SeriesError(f"fitFun must be one of {', '.join(FARRINGTON_FIT_FUNS)}, got {self.fit_fun!r}")

    R_KEYS = (
        "range",
        "b",
        "w",
        "reweight",
        "verbose",
        "plot",
        "alpha",
        "trend",
        "limit54",
        "powertrans",
        "fitFun",
    )

    @classmethod
    def from_r_control(cls, control: dict[str, Any], freq: int, n_time: int) -> FarringtonConfig:
        """Build from an R control list (as written by ``jsonlite``); ``range`` is 1-based there.

        ``verbose`` and ``plot`` are accepted and ignored; any other unknown key is rejected.
        """
        control = _normalise_control(control)
        kwargs = _common_r_kwargs(control, cls.R_KEYS, n_time, ignored=("verbose", "plot"))
        if "fitFun" in control:
            kwargs["fit_fun"] = _scalar(control["fitFun"])
        return cls(**kwargs)

    def resolved_range(self, freq: int, n_time: int) -> np.ndarray:
        if self.range is not None:
            return np.asarray(self.range, dtype=np.int64)
        return np.arange(max(freq * self.b - self.w - 1, 0), n_time)


@dataclass(frozen=True)
class FarringtonFlexibleConfig:
    """Settings of R ``farringtonFlexible`` (R control names in brackets).

    ``range``: 0-based scored rows (R's 1-based ``range`` minus 1); None scores rows
    ``freq*b + w`` to the end, R's default. ``b``, ``w``, ``reweight``, ``weights_threshold``
    [weightsThreshold], one-sided ``alpha``, ``trend``, ``p_threshold_trend`` [pThresholdTrend],
    ``limit54``, ``powertrans``, ``population_offset`` [populationOffset], ``no_periods``
    [noPeriods], ``past_weeks_not_included`` [pastWeeksNotIncluded; None means ``w``],
    ``threshold_method`` [thresholdMethod: "delta", "nbPlugin", "muan"] and ``glm_warnings``
    [glmWarnings: report non-converged GLMs in the result's warnings]. The defaults are R's, i.e.
    the original Farrington settings; :meth:`noufaily` gives those of Noufaily et al. (2013).
    """

    range: tuple[int, ...] | None = None
    b: int = 5
    w: int = 3
    reweight: bool = True
    weights_threshold: float = 2.58
    alpha: float = 0.05
    trend: bool = True
    p_threshold_trend: float = 0.05
    limit54: tuple[int, int] = (5, 4)
    powertrans: str = "2/3"
    population_offset: bool = False
    no_periods: int = 1
    past_weeks_not_included: int | None = None
    threshold_method: str = "delta"
    glm_warnings: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "range", _as_range(self.range))
        object.__setattr__(self, "b", _check_int("b", self.b, 1))
        object.__setattr__(self, "w", _check_int("w", self.w, 0))
        object.__setattr__(self, "reweight", _check_bool("reweight", self.reweight))
        wt = self.weights_threshold
        if (
            isinstance(wt, bool)
            or not isinstance(wt, (int, float, np.floating))
            or not (wt > 0 and math.isfinite(wt))
        ):
            raise SeriesError(f"weightsThreshold must be a positive number, got {wt!r}")
        object.__setattr__(self, "weights_threshold", float(wt))
        object.__setattr__(self, "alpha", _check_prob("alpha", self.alpha))
        object.__setattr__(self, "trend", _check_bool("trend", self.trend))
        object.__setattr__(
            self,
            "p_threshold_trend",
            _check_prob("pThresholdTrend", self.p_threshold_trend, upper_inclusive=True),
        )
        object.__setattr__(self, "limit54", _check_limit54(self.limit54))
        object.__setattr__(self, "powertrans", _check_powertrans(self.powertrans))
        object.__setattr__(self, "population_offset", _check_bool("populationOffset", self.population_offset))
        object.__setattr__(self, "no_periods", _check_int("noPeriods", self.no_periods, 1))
        if self.past_weeks_not_included is not None:
            object.__setattr__(
                self,
                "past_weeks_not_included",
                _check_int("pastWeeksNotIncluded", self.past_weeks_not_included, 0),
            )
        if self.threshold_method not in THRESHOLD_METHODS:
            raise SeriesError(
                f"thresholdMethod must be one of {', '.join(THRESHOLD_METHODS)}, "
                f"got {self.threshold_method!r}"
            )
        object.__setattr__(self, "glm_warnings", _check_bool("glmWarnings", self.glm_warnings))

    R_KEYS = (
        "range", "b", "w", "reweight", "weightsThreshold", "verbose", "glmWarnings", "alpha", "trend",
        "pThresholdTrend", "limit54", "powertrans", "fitFun", "populationOffset", "noPeriods",
        "pastWeeksNotIncluded", "thresholdMethod",
    )  # fmt: skip

    @classmethod
    def noufaily(cls, **overrides: Any) -> FarringtonFlexibleConfig:
        """Noufaily et al. (2013) settings: 10 periods, 26 weeks left out, threshold 2.58, any trend."""
        base: dict[str, Any] = {
            "no_periods": 10,
            "past_weeks_not_included": 26,
            "weights_threshold": 2.58,
            "p_threshold_trend": 1.0,
            "threshold_method": "nbPlugin",
        }
        return cls(**{**base, **overrides})

    @classmethod
    def from_r_control(cls, control: dict[str, Any], freq: int, n_time: int) -> FarringtonFlexibleConfig:
        """Build from an R control list (as written by ``jsonlite``); ``range`` is 1-based there.

        ``verbose`` is ignored, ``fitFun`` must be R's only choice; unknown keys are rejected.
        """
        control = _normalise_control(control)
        kwargs = _common_r_kwargs(control, cls.R_KEYS, n_time, ignored=("verbose",))
        if "fitFun" in control and _scalar(control["fitFun"]) not in FLEXIBLE_FIT_FUNS:
            raise SeriesError(f"fitFun must be {FLEXIBLE_FIT_FUNS[0]!r}, got {control['fitFun']!r}")
        names = {
            "weightsThreshold": "weights_threshold",
            "pThresholdTrend": "p_threshold_trend",
            "populationOffset": "population_offset",
            "noPeriods": "no_periods",
            "pastWeeksNotIncluded": "past_weeks_not_included",
            "thresholdMethod": "threshold_method",
            "glmWarnings": "glm_warnings",
        }
        for r_name, py_name in names.items():
            if r_name in control:
                kwargs[py_name] = _scalar(control[r_name])
        return cls(**kwargs)

    def resolved_range(self, freq: int, n_time: int) -> np.ndarray:
        if self.range is not None:
            return np.asarray(self.range, dtype=np.int64)
        return np.arange(freq * self.b + self.w, n_time)


def _normalise_control(control: Any) -> dict[str, Any]:
    """Drop keys whose value is R's ``NULL`` (jsonlite writes ``{}``; JSON ``null``): R's default holds."""
    if not isinstance(control, dict):
        raise SeriesError(f"control must be a mapping of R control names, got {type(control).__name__}")
    return {k: v for k, v in control.items() if v is not None and not (isinstance(v, (dict, list)) and not v)}


def _scalar(value: Any) -> Any:
    """jsonlite writes R scalars as length-1 arrays unless ``auto_unbox``; accept both."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def _common_r_kwargs(
    control: dict[str, Any], allowed: Iterable[str], n_time: int, ignored: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(control, dict):
        raise SeriesError(f"control must be a mapping of R control names, got {type(control).__name__}")
    unknown = sorted(set(control) - set(allowed))
    if unknown:
        raise SeriesError(f"unknown control key(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    if control.get("range") is not None:
        rng = control["range"]
        values = np.atleast_1d(np.asarray(rng, dtype=float))
        if values.size == 0 or np.any(values != np.round(values)):
            raise SeriesError(f"range must be 1-based integer time points, got {rng!r}")
        if values.min() < 1 or values.max() > n_time:
            raise SeriesError(
                f"range values must lie within 1..{n_time}, got {int(values.min())}..{int(values.max())}"
            )
        kwargs["range"] = tuple(int(v) - 1 for v in values)
    for key in ("b", "w", "reweight", "alpha", "trend", "powertrans"):
        if key in control:
            kwargs[key] = _scalar(control[key])
    if "limit54" in control:
        kwargs["limit54"] = (
            tuple(control["limit54"]) if isinstance(control["limit54"], list) else control["limit54"]
        )
    for key in ignored:
        control.get(key)
    return kwargs


# ---------------------------------------------------------------------------------------------------
# Reference periods
# ---------------------------------------------------------------------------------------------------


def _shift_calendar(
    dates: np.ndarray, years: np.ndarray | int = 0, months: np.ndarray | int = 0
) -> np.ndarray:
    """Dates moved by whole years/months with R's ``seq.Date`` normalisation (31 Feb -> 3 Mar)."""
    month_index = dates.astype("datetime64[M]")
    day = (dates - month_index.astype("datetime64[D]")).astype(np.int64)
    target = month_index - np.asarray(years, dtype=np.int64) * 12 - np.asarray(months, dtype=np.int64)
    return target.astype("datetime64[D]") + day


def _weekday(dates: np.ndarray) -> np.ndarray:
    """R's ``format(x, "%w")``: 0 = Sunday."""
    return (dates.astype(np.int64) + 4) % 7


def _match_dates(wanted: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """0-based row of each wanted date, -1 where the date is not in the series."""
    pos = np.searchsorted(dates, wanted)
    pos_c = np.minimum(pos, len(dates) - 1)
    return np.where(dates[pos_c] == wanted, pos_c, -1)


def _check_dated(series: CountSeries) -> None:
    if series.dates is not None and series.freq not in (12, 52, 365):
        raise SeriesError(
            f"dates drive reference periods only for freq 12, 52 or 365, got freq {series.freq}"
        )


def _flexible_reference_points(series: CountSeries, ks: np.ndarray, b: int) -> np.ndarray:
    """Rows of ``k`` and its b yearly reference points (shape (len(ks), b+1)), as R's
    ``algo.farrington.referencetimepoints``; -1 where the point is not in the series."""
    i = np.arange(b + 1)
    if series.dates is None:
        ref = ks[:, None] - series.freq * i[None, :]
        return np.where(ref >= 0, ref, -1)
    dates = series.dates
    day = dates[ks][:, None]
    ref = _shift_calendar(np.broadcast_to(day, (len(ks), b + 1)), years=i[None, :])
    if series.freq == 52:
        d = (_weekday(day) - _weekday(ref) + 3) % 7 - 3
        ref = ref + d.astype("timedelta64[D]")
    return _match_dates(ref, dates)


def _farrington_reference_rows(series: CountSeries, ks: np.ndarray, b: int, w: int) -> np.ndarray:
    """Baseline rows of the old algorithm (shape (len(ks), b*(2w+1)), -1 where missing)."""
    years = np.repeat(np.arange(b, 0, -1), 2 * w + 1)
    steps = np.tile(np.arange(-w, w + 1), b)
    if series.dates is None:
        rows = ks[:, None] - series.freq * years[None, :] + steps[None, :]
        return np.where(rows >= 0, rows, -1)
    dates = series.dates
    t0 = dates[ks][:, None]
    ref = _shift_calendar(np.broadcast_to(t0, (len(ks), years.size)), years=years[None, :])
    if series.freq == 52:
        ref = ref + (7 * steps[None, :]).astype("timedelta64[D]")
        d = (_weekday(t0) - _weekday(ref) + 3) % 7 - 3
        ref = ref + d.astype("timedelta64[D]")
    elif series.freq == 12:
        ref = _shift_calendar(ref, months=-steps[None, :])
        ref_day = ref - ref.astype("datetime64[M]").astype("datetime64[D]")
        t0_day = t0 - t0.astype("datetime64[M]").astype("datetime64[D]")
        ref = ref - (ref_day - t0_day)
    else:
        ref = ref + steps[None, :].astype("timedelta64[D]")
    return _match_dates(ref, dates)


def _block_levels(offsets: tuple[int, ...], w: int, p: int, k_rel: int) -> dict[int, int]:
    """R's ``blocks()`` for one pattern: factor level (1..p) of each row, rows relative to ``k``.

    ``offsets`` are the reference rows relative to k (0, -52, -104, ...). R's assignment order and its
    ``a:(a-1)`` behaviour for empty blocks are kept, so the levels match R exactly.
    """
    levels: dict[int, int] = {}

    def assign(lo: int, hi: int, value: int) -> None:
        step = 1 if hi >= lo else -1
        for pos in range(lo, hi + step, step):
            levels[pos] = value

    assign(k_rel - w, k_rel, p)
    for i in range(1, len(offsets)):
        ref_week = offsets[i]
        assign(ref_week - w, ref_week + w, p)
        if p != 1:
            period = offsets[i - 1] - 2 * w - 1 - ref_week
            if period < p - (2 * w + 1):
                raise SeriesError("Number of factors too big!")
            length, rest = divmod(period, p - 1)
            lengths = [length + (1 if j < rest else 0) for j in range(p - 1)]
            cum = np.concatenate([[0], np.cumsum(lengths)])
            for j in range(1, p):
                assign(ref_week + w + 1 + int(cum[j - 1]), ref_week + w + 1 + int(cum[j]) - 1, j)
    return levels


@dataclass(frozen=True)
class _Design:
    rows: np.ndarray  # (n_k, M) 0-based rows, 0 where padded
    valid: np.ndarray  # (n_k, M)
    level: np.ndarray  # (n_k, M) codes 0..p-1 (p-1 = the reference windows)
    t: np.ndarray  # (n_k, M) time relative to k in R's wtime units
    warnings: tuple[str, ...] = ()


def _time_scale(series: CountSeries, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    if series.dates is None:
        return (rows - ks[:, None]).astype(float)
    days = series.dates.astype(np.int64)
    step = float(days[1] - days[0]) if len(days) > 1 else 1.0
    return (days[rows] - days[ks][:, None]) / step


def _flexible_design(series: CountSeries, ks: np.ndarray, cfg: FarringtonFlexibleConfig) -> _Design:
    b, w, p = cfg.b, cfg.w, cfg.no_periods
    pwni = cfg.w if cfg.past_weeks_not_included is None else cfg.past_weeks_not_included
    refs = _flexible_reference_points(series, ks, b)
    missing = np.any(refs < 0, axis=1)
    if np.any(missing):
        k_bad = int(ks[np.argmax(missing)]) + 1
        raise SeriesError(
            f"Some reference time points did not exist at time {k_bad}; decrease 'b' or postpone 'range'."
        )
    rel = refs - ks[:, None]
    patterns, inverse = np.unique(rel, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    per_pattern = []
    for pat in patterns:
        levels = _block_levels(tuple(int(v) for v in pat), w, p, 0)
        pos = np.array(sorted(levels), dtype=np.int64)
        lev = np.array([levels[q] for q in pos], dtype=np.int64)
        keep = pos < -pwni
        per_pattern.append((pos[keep], lev[keep]))
    m = max(len(pos) for pos, _ in per_pattern)
    n_k = len(ks)
    rows = np.zeros((n_k, m), dtype=np.int64)
    valid = np.zeros((n_k, m), dtype=bool)
    level = np.zeros((n_k, m), dtype=np.int64)
    for j, (pos, lev) in enumerate(per_pattern):
        sel = inverse == j
        rows[sel, : len(pos)] = ks[sel, None] + pos[None, :]
        valid[sel, : len(pos)] = True
        level[sel, : len(pos)] = lev - 1
    before = valid & (rows < 0)
    if np.any(before):
        # R drops index 0 (one before the first row) silently and fails on anything earlier
        too_early = np.any(rows[before] < -1)
        if too_early:
            k_bad = int(ks[np.argmax(np.any(before, axis=1))]) + 1
            raise SeriesError(
                f"the baseline window at time {k_bad} starts before the first time point; "
                "decrease 'b' or 'w' or postpone 'range'"
            )
        valid &= rows >= 0
    rows = np.where(valid, rows, 0)
    return _Design(rows=rows, valid=valid, level=level, t=_time_scale(series, rows, ks))


def _farrington_design(series: CountSeries, ks: np.ndarray, cfg: FarringtonConfig) -> _Design:
    rows = _farrington_reference_rows(series, ks, cfg.b, cfg.w)
    valid = rows >= 0
    warnings: tuple[str, ...] = ()
    if not np.all(valid):
        n_bad = int(np.sum(~np.all(valid, axis=1)))
        warnings = (
            f"reference values did not exist for {n_bad} scored time point(s); their baselines are shorter",
        )
    if np.any(np.sum(valid, axis=1) == 0):
        k_bad = int(ks[np.argmax(np.sum(valid, axis=1) == 0)]) + 1
        raise SeriesError(f"no reference values exist for time {k_bad}; decrease 'b' or postpone 'range'")
    rows = np.where(valid, rows, 0)
    t = (rows - ks[:, None]).astype(float)  # old algorithm: wtime is the row index even with dates
    return _Design(rows=rows, valid=valid, level=np.zeros(rows.shape, dtype=np.int64), t=t, warnings=warnings)


# ---------------------------------------------------------------------------------------------------
# Fitting: R's fitGLM functions and the trend rule, for all (time point, unit) fits at once
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Stage:
    """Per fit, what R's model object gives the detector: prediction pieces at the current period."""

    a_now: np.ndarray
    slope: np.ndarray
    s0_now: np.ndarray
    tbar_now: np.ndarray
    sxx: np.ndarray
    dispersion: np.ndarray  # what summary.glm() reports for the final model object
    phi: np.ndarray
    df: np.ndarray
    converged_initial: np.ndarray
    converged: np.ndarray
    trend: np.ndarray
    y_max: np.ndarray

    def take(self, idx: np.ndarray, other: _Stage) -> None:
        for name in self.__dataclass_fields__:
            getattr(self, name)[idx] = getattr(other, name)

    def link_variance(self) -> np.ndarray:
        """Unscaled variance of the linear predictor at the current period (t = 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / self.s0_now + np.where(self.trend, self.tbar_now**2 / self.sxx, 0.0)


@dataclass(frozen=True)
class _Data:
    """The series in the kernel's layout: (n_units, n_time) matrices, derived once."""

    obs: np.ndarray
    ylogy: np.ndarray
    lstart: np.ndarray
    y23: np.ndarray
    offset: np.ndarray
    has_offset: bool

    @classmethod
    def of(cls, series: CountSeries, use_offset: bool) -> _Data:
        obs = np.ascontiguousarray(series.observed.T)
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(obs > 0, obs * np.log(np.where(obs > 0, obs, 1.0)), 0.0)
            lstart = np.log(obs + 0.1)
            y23 = np.cbrt(obs) ** 2
        if use_offset:
            pop = series.population if series.population is not None else np.ones_like(series.observed)
            offset = np.ascontiguousarray(np.log(pop.T))
        else:
            offset = np.zeros((1, 1))
        return cls(obs, ylogy, lstart, y23, offset, use_offset)


def _fit_glm_r(
    data: _Data,
    design: _Design,
    group: np.ndarray,
    unit: np.ndarray,
    trend: np.ndarray,
    n_levels: int,
    reweight: bool,
    threshold: float,
    weights_quirk: bool,
) -> _Stage:
    n = group.shape[0]
    out = _Stage(
        a_now=np.empty(n), slope=np.empty(n), s0_now=np.empty(n), tbar_now=np.empty(n), sxx=np.empty(n),
        dispersion=np.empty(n), phi=np.empty(n), df=np.empty(n, dtype=np.int64),
        converged_initial=np.empty(n, dtype=np.bool_), converged=np.empty(n, dtype=np.bool_),
        trend=np.empty(n, dtype=np.bool_), y_max=np.empty(n),
    )  # fmt: skip
    if n:
        farrington_fitglm_kernel(
            data.obs, data.ylogy, data.lstart, data.y23, data.has_offset, data.offset, design.rows,
            design.valid, design.level, design.t, np.ascontiguousarray(group), np.ascontiguousarray(unit),
            np.ascontiguousarray(trend), n_levels, n_levels - 1, reweight, threshold, weights_quirk, 25, 1e-8,
            out.a_now, out.slope, out.s0_now, out.tbar_now, out.sxx, out.dispersion, out.phi, out.df,
            out.converged_initial, out.converged, out.trend, out.y_max,
        )  # fmt: skip
    return out


@dataclass
class _Prediction:
    eta: np.ndarray
    var_link: np.ndarray  # unscaled x0'(X'WX)^-1 x0
    dispersion: np.ndarray  # summary.glm dispersion of the final model
    phi: np.ndarray
    do_trend: np.ndarray
    slope: np.ndarray
    failed: np.ndarray
    converged: np.ndarray


def _run_models(
    series: CountSeries,
    ks: np.ndarray,
    design: _Design,
    *,
    n_levels: int,
    trend: bool,
    b: int,
    p_threshold: float,
    reweight: bool,
    threshold: float,
    use_offset: bool,
    null_on_failure: bool,
    weights_quirk: bool,
) -> _Prediction:
    n_k, n_units = len(ks), series.n_units
    # fits are ordered (time point, unit); the design rows are shared by all units of a time point
    data = _Data.of(series, use_offset)
    group = np.repeat(np.arange(n_k, dtype=np.int64), n_units)
    unit = np.tile(np.arange(n_units, dtype=np.int64), n_k)
    offset_now = data.offset.T[ks].reshape(-1) if use_offset else np.zeros(n_k * n_units)
    args = (n_levels, reweight, threshold, weights_quirk)
    stage = _fit_glm_r(data, design, group, unit, np.full(n_k * n_units, trend), *args)
    failed = ~stage.converged_initial if null_on_failure else np.zeros(n_k * n_units, dtype=bool)

    # trend rule: significant, at least three years, no extrapolation beyond the largest count
    has_trend = stage.trend & ~failed
    do_trend = np.zeros_like(has_trend)
    if np.any(has_trend):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            se = np.sqrt(stage.dispersion / stage.sxx)
            pval = 2.0 * stats.t.sf(np.abs(stage.slope / se), stage.df)
            mu_now = np.exp(stage.a_now + offset_now)
            do_trend = has_trend & (b >= 3) & (pval < p_threshold) & (mu_now <= stage.y_max)
    refit = np.flatnonzero(has_trend & ~do_trend)
    if refit.size:
        sub = _fit_glm_r(data, design, group[refit], unit[refit], np.zeros(refit.size, dtype=bool), *args)
        if null_on_failure:
            failed[refit] |= ~sub.converged_initial
        stage.take(refit, sub)
    return _Prediction(
        eta=stage.a_now + offset_now,
        var_link=stage.link_variance(),
        dispersion=stage.dispersion,
        phi=stage.phi,
        do_trend=do_trend,
        slope=np.where(do_trend, stage.slope, np.nan),
        failed=failed,
        converged=stage.converged & stage.converged_initial,
    )


# ---------------------------------------------------------------------------------------------------
# Thresholds
# ---------------------------------------------------------------------------------------------------


def _power_bounds(mu0, se_fit, phi, powertrans: str, z: float, y):
    """Upper bound and normal-scale quantities of the transformed predictive distribution
    (``algo.farrington.threshold``); returns (upper, se, exponent)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau = phi + se_fit**2 / mu0
        if powertrans == "none":
            se, e = np.sqrt(mu0 * tau), 1.0
        elif powertrans == "1/2":
            se, e = np.sqrt(0.25 * tau), 0.5
        else:
            se, e = np.sqrt(4.0 / 9.0 * np.cbrt(mu0) * tau), 2.0 / 3.0
        upper = (mu0**e + z * se) ** (1.0 / e)
    return upper, se, e


def _r_discrete_quantile(p: float, mean: np.ndarray, sd: np.ndarray, gamma: np.ndarray, cdf) -> np.ndarray:
    """R's ``qnbinom`` / ``qpois``: the smallest x with F(x) >= p (1 - 64 eps), searched from R's
    Cornish-Fisher start (qnbinom.c, qpois.c), vectorised over all scored points."""
    target = p * (1 - 64 * _EPS)
    z = special.ndtri(p)
    x = np.maximum(np.round(mean + sd * (z + gamma * (z * z - 1) / 6)), 0.0)
    below = cdf(x, np.arange(x.size)) < target
    for _ in range(10_000):  # step up while F(x) < p
        idx = np.flatnonzero(below)
        if idx.size == 0:
            break
        x[idx] += 1
        below[idx] = cdf(x[idx], idx) < target
    for _ in range(10_000):  # then down while F(x - 1) >= p
        idx = np.flatnonzero(x > 0)
        if idx.size == 0:
            break
        lower = cdf(x[idx] - 1, idx) >= target
        if not lower.any():
            break
        x[idx[lower]] -= 1
    return x


def _qnbinom(p: float, size: np.ndarray, prob: np.ndarray) -> np.ndarray:
    q = 1 / prob
    pp = (1 - prob) * q
    sd = np.sqrt(size * pp * q)
    return _r_discrete_quantile(
        p, size * pp, sd, (q + pp) / sd, lambda x, idx: special.betainc(size[idx], x + 1, prob[idx])
    )


def _qpois(p: float, lam: np.ndarray) -> np.ndarray:
    sd = np.sqrt(lam)
    return _r_discrete_quantile(p, lam, sd, 1 / sd, lambda x, idx: special.pdtr(x, lam[idx]))


def _plugin_bounds(mu0q: np.ndarray, phi: np.ndarray, y: np.ndarray, alpha: float):
    """``algo.farrington.threshold.noufaily``: NB(mean mu0q, variance phi*mu0q) quantile and upper tail
    P(Y >= y) when phi > 1, Poisson otherwise; each distribution evaluated only where it applies."""
    upper = np.full(mu0q.shape, np.nan)
    pvalue = np.full(mu0q.shape, np.nan)
    ok = np.isfinite(mu0q) & ~np.isnan(phi)
    nb = ok & (phi > 1)
    po = ok & ~nb
    if np.any(nb):
        size, prob = mu0q[nb] / (phi[nb] - 1), 1 / phi[nb]
        upper[nb] = _qnbinom(1 - alpha, size, prob)
        pvalue[nb] = stats.nbinom.sf(y[nb] - 1, size, prob)
    if np.any(po):
        upper[po] = _qpois(1 - alpha, mu0q[po])
        pvalue[po] = stats.poisson.sf(y[po] - 1, mu0q[po])
    return upper, pvalue


def _limit54(series: CountSeries, ks: np.ndarray, limit54: tuple[int, int]) -> np.ndarray:
    cases, periods = limit54
    csum = np.vstack([np.zeros((1, series.n_units)), np.cumsum(series.observed, axis=0)])
    lo = np.maximum(ks - periods + 1, 0)
    total = csum[ks + 1] - csum[lo]
    with np.errstate(invalid="ignore"):
        return total >= cases


def _unit_warnings(series: CountSeries, ks: np.ndarray, bad: np.ndarray, what: str) -> tuple[str, ...]:
    out = []
    for j in np.flatnonzero(np.any(bad, axis=0)):
        times = ", ".join(str(int(k) + 1) for k in ks[bad[:, j]])
        out.append(f"unit {series.units[j]}: {what} at time {times}")
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# Detectors
# ---------------------------------------------------------------------------------------------------


def _validated_range(series: CountSeries, ks: np.ndarray) -> np.ndarray:
    if ks.size and ks.max() >= series.n_time:
        raise SeriesError(f"range goes beyond the series ({series.n_time} time points)")
    if ks.size == 0:
        raise SeriesError("the series is too short for the baseline: no time point can be scored")
    return ks


def farrington_flexible(
    series: CountSeries, config: FarringtonFlexibleConfig | None = None
) -> DetectorResult:
    """R ``farringtonFlexible``: improved Farrington algorithm (Noufaily et al. 2013, section 3).

    Returns bounds and alarms for the scored rows and R's outputs ``expected``, ``score``,
    ``pvalue``, ``mu0Vector``, ``phiVector``, ``trend`` and ``trendVector``. Fits that fail (no
    convergence with or without trend) give NaN for that unit and time and a warning naming them.
    """
    cfg = config or FarringtonFlexibleConfig()
    _check_dated(series)
    ks = _validated_range(series, cfg.resolved_range(series.freq, series.n_time))
    cfg = dataclasses.replace(cfg, range=tuple(int(k) for k in ks))  # record the rows actually scored
    design = _flexible_design(series, ks, cfg)
    n_k, n_units = len(ks), series.n_units
    pred = _run_models(
        series, ks, design, n_levels=cfg.no_periods, trend=cfg.trend, b=cfg.b,
        p_threshold=cfg.p_threshold_trend, reweight=cfg.reweight, threshold=cfg.weights_threshold,
        use_offset=cfg.population_offset, null_on_failure=True, weights_quirk=True,
    )  # fmt: skip
    shape = (n_k, n_units)
    y = series.observed[ks]
    eta = pred.eta.reshape(shape)
    se_link = np.sqrt(pred.var_link * pred.dispersion).reshape(shape)
    phi = pred.phi.reshape(shape)
    failed = pred.failed.reshape(shape)
    alpha = cfg.alpha
    z = stats.norm.ppf(1 - alpha)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if cfg.threshold_method == "delta":
            fit_resp = np.exp(eta)
            se_resp = se_link * fit_resp
            upper, se, e = _power_bounds(fit_resp, se_resp, phi, cfg.powertrans, z, y)
            pvalue = stats.norm.sf(y**e, loc=fit_resp**e, scale=se)
            score = np.where(np.isnan(upper), np.nan, (y - fit_resp) / (upper - fit_resp))
            expected = fit_resp
            mu0_vector = np.exp(fit_resp + z * se_resp)
        else:
            mu0q = np.exp(eta) if cfg.threshold_method == "nbPlugin" else np.exp(eta + z * se_link)
            upper, pvalue = _plugin_bounds(mu0q, phi, y, alpha)
            inf = ~np.isfinite(mu0q)
            upper = np.where(inf, np.nan, upper)
            pvalue = np.where(inf | np.isnan(phi), np.nan, pvalue)
            score = np.where(np.isnan(upper), np.nan, (y - eta) / (upper - eta))
            expected = np.exp(eta)
            mu0_vector = mu0q
    enough = _limit54(series, ks, cfg.limit54)
    upperbound = np.where(enough & ~failed, upper, np.nan)
    alarm = np.where(enough & (score > 1) & (y != 0), 1.0, 0.0)
    alarm = np.where(failed, np.nan, alarm)
    expected = np.where(enough & ~np.isnan(upper) & ~failed, expected, np.nan)
    do_trend = pred.do_trend.reshape(shape)
    outputs = {
        "expected": expected,
        "score": np.where(failed, np.nan, score),
        "pvalue": np.where(failed, np.nan, pvalue),
        "mu0Vector": np.where(failed, np.nan, mu0_vector),
        "phiVector": np.where(failed, np.nan, phi),
        "trend": np.where(failed, np.nan, do_trend.astype(float)),
        "trendVector": np.where(failed, np.nan, pred.slope.reshape(shape)),
    }
    warnings = list(
        _unit_warnings(
            series, ks, failed, "the model could not converge with nor without time trend, no result"
        )
    )
    if cfg.glm_warnings:
        warnings += _unit_warnings(
            series, ks, ~pred.converged.reshape(shape) & ~failed, "glm.fit: algorithm did not converge"
        )
    return DetectorResult(
        method="farringtonFlexible",
        config=cfg,
        series=series,
        range=ks,
        upperbound=upperbound,
        alarm=alarm,
        outputs=outputs,
        warnings=tuple(warnings),
    )


def farrington(series: CountSeries, config: FarringtonConfig | None = None) -> DetectorResult:
    """R ``farrington`` (``algo.farrington``): the algorithm of Farrington et al. (1996).

    Returns bounds (0 when fewer than ``limit54`` cases) and alarms for the scored rows, with the
    outputs ``expected`` (mu0), ``trend``, ``pd_prob`` (``control$pd[, 1]``: P(Y <= y) under the
    transformed normal predictive distribution) and ``pd_score_unused`` (``control$pd[, 2]``, the
    predictive median). With ``fitFun = "algo.farrington.fitGLM"`` a unit whose GLM does not converge
    at some time point gets no result at all, as in R, and a warning naming it.
    """
    cfg = config or FarringtonConfig()
    _check_dated(series)
    ks = _validated_range(series, cfg.resolved_range(series.freq, series.n_time))
    cfg = dataclasses.replace(cfg, range=tuple(int(k) for k in ks))  # record the rows actually scored
    design = _farrington_design(series, ks, cfg)
    n_k, n_units = len(ks), series.n_units
    pred = _run_models(
        series, ks, design, n_levels=1, trend=cfg.trend, b=cfg.b, p_threshold=0.05,
        reweight=cfg.reweight, threshold=1.0,
        use_offset=cfg.fit_fun == "algo.farrington.fitGLM.populationOffset",
        null_on_failure=cfg.fit_fun != "algo.farrington.fitGLM.fast", weights_quirk=False,
    )  # fmt: skip
    shape = (n_k, n_units)
    y = series.observed[ks]
    z = stats.norm.ppf(1 - cfg.alpha / 2)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        mu0 = np.exp(pred.eta).reshape(shape)
        phi = pred.phi.reshape(shape)
        se_fit = (np.sqrt(pred.var_link * pred.phi) * np.exp(pred.eta)).reshape(shape)
        upper, se, e = _power_bounds(mu0, se_fit, phi, cfg.powertrans, z, y)
        pd_prob = stats.norm.cdf(y**e, loc=mu0**e, scale=se)
        pd_median = (mu0**e) ** (1.0 / e)
        enough = _limit54(series, ks, cfg.limit54)
        score = np.where(enough, (y - mu0) / (upper - mu0), 0.0)
        alarm = np.where(np.isnan(score), np.nan, (score > 1).astype(float))
    upperbound = np.where(enough, upper, 0.0)
    unit_failed = np.any(pred.failed.reshape(shape), axis=0)
    failed = np.broadcast_to(unit_failed, shape)
    nan_if = lambda a: np.where(failed, np.nan, a)  # noqa: E731
    outputs = {
        "expected": nan_if(mu0),
        "trend": nan_if(pred.do_trend.reshape(shape).astype(float)),
        "pd_prob": nan_if(pd_prob),
        "pd_score_unused": nan_if(pd_median),
    }
    warnings = list(design.warnings)
    for j in np.flatnonzero(unit_failed):
        warnings.append(f"unit {series.units[j]}: the GLM did not converge; no result for this unit")
    return DetectorResult(
        method="farrington",
        config=cfg,
        series=series,
        range=ks,
        upperbound=nan_if(upperbound),
        alarm=nan_if(alarm),
        outputs=outputs,
        warnings=tuple(warnings),
    )
