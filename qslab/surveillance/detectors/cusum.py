"""Poisson CUSUM on transformed counts (R ``surveillance::algo.cusum``).

Rossi, G., Lampugnani, L. and Marchi, M. (1999). An approximate CUSUM procedure for surveillance of
health events. *Statistics in Medicine* 18, 2111-2122. Each scored count ``x_t`` is standardised with
the in-control mean ``m`` (``standard``: (x - m)/sqrt(m); ``rossi``: (x - 3m + 2 sqrt(x m))/(2 sqrt(m));
``anscombe``: 3/2 (x^(2/3) - m^(2/3)) / m^(1/6); also ``anscombe2nd``, ``pearsonNegBin`` with
dispersion ``alpha`` and ``none``), then

    C_0 = 0,  C_t = max(0, C_{t-1} + z_t - k),  alarm_t = C_t >= h,

without a reset after an alarm, as surveillance 1.20.3 does. ``m`` is the baseline mean (R's
default), a given number, or a Poisson GLM ``y ~ 1 + cos(2 pi t / freq) + sin(2 pi t / freq)`` on the
baseline with ``t`` counted from the start period (``m = "glm"``). The upper bound is the count at t
that would make C_t reach h (rounded up for ``standard``).

>>> import numpy as np
>>> from qslab.surveillance.sts import CountSeries
>>> x = np.array([2, 3, 1, 2, 4, 2, 3, 2, 8, 9, 2, 1], dtype=float)
>>> res = cusum(CountSeries(x), CusumConfig(range=tuple(range(8, 12))))
>>> res.outputs["cusum"][:, 0].round(3)
array([2.61 , 5.869, 4.586, 2.653])
>>> res.alarm[:, 0]
array([1., 1., 1., 1.])
>>> res.upperbound[:, 0]
array([8., 4., 0., 1.])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from qslab.surveillance import nbglm
from qslab.surveillance.sts import CountSeries, DetectorResult, SeriesError

TRANSFORMATIONS = ("standard", "rossi", "anscombe", "anscombe2nd", "pearsonNegBin", "none")


@dataclass(frozen=True)
class CusumConfig:
    """Settings of ``algo.cusum`` (R control names in brackets).

    ``range``: 0-based indexes of the scored rows (R ``range`` minus 1), consecutive. ``k``, ``h``:
    reference value and decision interval. ``m``: None (baseline mean), a number, an array of one value
    per scored row (or (len(range), n_units)), or ``"glm"``. ``trans``: the standardisation.
    ``alpha``: NB dispersion for ``pearsonNegBin`` (R default 0.1).
    """

    range: tuple[int, ...]
    k: float = 1.04
    h: float = 2.26
    m: float | str | np.ndarray | None = field(default=None, compare=False)
    trans: str = "standard"
    alpha: float = 0.1

    def __post_init__(self) -> None:
        rng = tuple(int(i) for i in np.atleast_1d(np.asarray(self.range)).ravel())
        if not rng:
            raise SeriesError("range must hold at least one time point")
        if min(rng) < 0:
            raise SeriesError("range indexes must be non-negative (0-based rows)")
        object.__setattr__(self, "range", rng)
        for name in ("k", "h", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SeriesError(f"{name} must be a finite number, got {value!r}")
        if self.trans not in TRANSFORMATIONS:
            raise SeriesError(f"trans must be one of {', '.join(TRANSFORMATIONS)}, got {self.trans!r}")
        if isinstance(self.m, str):
            if self.m != "glm":
                raise SeriesError(f"m must be a number, 'glm' or None, got {self.m!r}")
        elif self.m is not None:
            m = np.asarray(self.m, dtype=float)
            if m.ndim > 2 or (m.ndim >= 1 and m.shape[0] not in (1, len(rng))):
                raise SeriesError(f"m must be one number or one per scored time point ({len(rng)})")
            if not np.all(np.isfinite(m) & (m > 0)):
                raise SeriesError("m must be positive and finite")
            object.__setattr__(self, "m", m)

    @classmethod
    def from_r_control(cls, control: dict | None, freq: int, n_time: int) -> CusumConfig:
        """The config for an R ``algo.cusum`` control list (``range`` 1-based; R defaults for the rest)."""
        from qslab.surveillance.detectors.registry import RControl

        r = RControl(control, "cusum", ("range", "k", "h", "m", "trans", "alpha"))
        rng = r.range(n_time, required=True)
        m: float | str | np.ndarray | None = None
        if r.has("m"):
            value = r.raw("m")
            value = value[0] if isinstance(value, list) and len(value) == 1 else value
            if isinstance(value, str):
                if value != "glm":
                    raise r.error("m", "must be null, a number, a list of numbers or 'glm'")
                m = "glm"
            else:
                values = value if isinstance(value, list) else [value]
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                    raise r.error("m", "must be null, a number, a list of numbers or 'glm'")
                if len(values) not in (1, len(rng)):
                    raise r.error("m", f"must be one number or one per scored time point ({len(rng)})")
                if not all(math.isfinite(v) and v > 0 for v in values):
                    raise r.error("m", "must be positive")
                m = np.asarray(values, dtype=float)
        return cls(
            range=rng,
            k=r.number("k", 1.04),
            h=r.number("h", 2.26),
            m=m,
            trans=r.choice("trans", "standard", TRANSFORMATIONS),
            alpha=r.number("alpha", 0.1),
        )


@numba.njit(cache=True, error_model="numpy")
def _cusum_path(z, k):
    """C_t = max(0, C_{t-1} + z_t - k) per column; NaN propagates as R's max does."""
    n, units = z.shape
    out = np.empty((n, units))
    for u in range(units):
        c = 0.0
        for t in range(n):
            v = c + (z[t, u] - k)
            c = v if (v != v or v > 0.0) else 0.0
            out[t, u] = c
    return out


def _standardise(trans: str, x: np.ndarray, m: np.ndarray, alpha: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        if trans == "rossi":
            return (x - 3 * m + 2 * np.sqrt(x * m)) / (2 * np.sqrt(m))
        if trans == "standard":
            return (x - m) / np.sqrt(m)
        if trans == "anscombe":
            return 1.5 * (x ** (2 / 3) - m ** (2 / 3)) / m ** (1 / 6)
        if trans == "anscombe2nd":
            return (x ** (2 / 3) - (m ** (2 / 3) - m ** (-1 / 3) / 9)) / (2 / 3 * m ** (1 / 6))
        if trans == "pearsonNegBin":
            return (x - m) / np.sqrt(m + alpha * m**2)
        return x.copy()


def _upperbound(
    trans: str, m: np.ndarray, c_prev: np.ndarray, c: np.ndarray, h: float, k: float, alpha: float
) -> np.ndarray:
    with np.errstate(all="ignore"):
        if trans == "rossi":
            ub = (
                2 * h * m**0.5
                + 2 * k * m**0.5
                - 2 * c_prev * m**0.5
                + 5 * m
                - 2 * (4 * m**2 + 2 * m**1.5 * h + 2 * m**1.5 * k - 2 * m**1.5 * c_prev) ** 0.5
            )
        elif trans == "standard":
            ub = np.ceil(np.sqrt(m) * (h + k - c_prev) + m)
        elif trans == "anscombe":
            base = 2 / 3 * m ** (1 / 6) * (h + k - c_prev) + m ** (2 / 3)
            ub = np.where(base < 0, 0.0, base**1.5)
        elif trans == "anscombe2nd":
            base = 2 / 3 * m ** (1 / 6) * (h + k - c_prev) + (m ** (2 / 3) - m ** (1 / 3) / 9)
            ub = np.where(base < 0, 0.0, base**1.5)
        elif trans == "pearsonNegBin":
            ub = np.sqrt(m + alpha * m**2) * (h + k - c_prev) + m
        else:
            ub = h - c
    return np.where(np.isnan(ub) | (ub < 0), 0.0, ub)


def cusum(series: CountSeries, config: CusumConfig) -> DetectorResult:
    """Run ``algo.cusum`` on every unit of ``series``; R's ``cusum(sts, control)``.

    Outputs: ``m`` (in-control mean per scored row) and ``cusum`` (C_t).
    """
    rng = np.asarray(config.range, dtype=int)
    if rng[-1] >= series.n_time:
        raise SeriesError(f"range goes to time {rng[-1] + 1} but the series has {series.n_time} time points")
    observed = series.observed
    n_units = series.n_units
    x = observed[rng]
    shape = x.shape
    warnings: list[str] = []
    ok = np.ones(n_units, dtype=bool)
    if config.m is None or isinstance(config.m, str):
        if rng[0] < 1:
            raise SeriesError("range must start after at least one baseline time point to estimate m")
        base = observed[: rng[0]]
        missing = ~np.all(np.isfinite(base), axis=0)
        warnings += [
            f"unit {series.units[i]}: missing counts in the baseline" for i in np.flatnonzero(missing)
        ]
        ok &= ~missing
        if config.m is None:
            m = np.broadcast_to(base.mean(axis=0), shape)
        else:
            t_train = series.start[1] + np.arange(rng[0], dtype=float)
            design = nbglm.harmonic_design(t_train, series.freq)
            if design.shape[1] > base.shape[0]:
                raise SeriesError(f"the baseline has {base.shape[0]} time points, too few for the m glm")
            fit = nbglm.fit_poisson(design, np.where(np.isfinite(base), base, 0.0))
            warnings += [f"unit {series.units[i]}: {msg}" for i, msg in fit.messages if ok[i]]
            ok &= fit.ok
            m = fit.predict(nbglm.harmonic_design(series.start[1] + rng.astype(float), series.freq))
    else:
        m_in = np.asarray(config.m, dtype=float)
        m = np.broadcast_to(m_in[:, None] if m_in.ndim == 1 else m_in, shape)
    m = np.where(ok[None, :], m, np.nan)
    z = _standardise(config.trans, x, m, config.alpha)
    c = _cusum_path(np.ascontiguousarray(z), float(config.k))
    c_prev = np.vstack([np.zeros((1, n_units)), c[:-1]])
    upper = _upperbound(config.trans, m, c_prev, c, config.h, config.k, config.alpha)
    upper = np.where(ok[None, :], upper, np.nan)
    with np.errstate(invalid="ignore"):
        alarm = np.where(np.isnan(c), np.nan, (c >= config.h).astype(float))
    return DetectorResult(
        method="cusum",
        config=config,
        series=series,
        range=rng,
        upperbound=upper,
        alarm=alarm,
        outputs={"m": np.array(m, dtype=float), "cusum": c},
        warnings=tuple(warnings),
    )
