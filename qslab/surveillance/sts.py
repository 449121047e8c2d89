"""The monitored-series container every temporal detector takes (after R ``surveillance``'s ``sts``).

One :class:`CountSeries` holds several units (columns) observed on the same time axis, validated on
construction, so a detector can fit all units at once. Detectors return a :class:`DetectorResult`
with ``upperbound`` and ``alarm`` for the scored time points and the validated config recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qslab.results import ResultMixin


class SeriesError(ValueError):
    """A series or detector input is malformed; the message names what is wrong."""


@dataclass(frozen=True, eq=False)
class CountSeries:
    """Counts of ``n_units`` series on one time axis.

    ``observed`` has shape (n_time, n_units). ``freq`` is the number of periods per year (52 weekly,
    12 monthly, ...). ``start`` is (year, period) of the first row, as R's ``start``. ``dates`` (numpy
    ``datetime64[D]``, one per row) makes detectors that use reference weeks step by calendar dates,
    like R's ``epochAsDate=TRUE``. ``population`` (same shape as ``observed``) is an optional
    exposure used as an offset.
    """

    observed: np.ndarray
    freq: int = 52
    start: tuple[int, int] = (2000, 1)
    dates: np.ndarray | None = None
    population: np.ndarray | None = None
    units: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        observed = np.asarray(self.observed, dtype=float)
        if observed.ndim == 1:
            observed = observed[:, None]
        if observed.ndim != 2:
            raise SeriesError(f"observed must be 1- or 2-dimensional, got {observed.ndim} dimensions")
        if observed.shape[0] == 0:
            raise SeriesError("observed has no time points")
        finite = observed[np.isfinite(observed)]
        if np.any(finite < 0):
            raise SeriesError("observed counts must be non-negative")
        object.__setattr__(self, "observed", observed)
        if not isinstance(self.freq, (int, np.integer)) or self.freq < 1:
            raise SeriesError(f"freq must be a positive integer, got {self.freq!r}")
        object.__setattr__(self, "freq", int(self.freq))
        year, period = self.start
        if not (1 <= int(period) <= self.freq):
            raise SeriesError(f"start period {period} is outside 1..{self.freq}")
        object.__setattr__(self, "start", (int(year), int(period)))
        n_time, n_units = observed.shape
        if self.dates is not None:
            dates = np.asarray(self.dates, dtype="datetime64[D]")
            if dates.shape != (n_time,):
                raise SeriesError(
                    f"dates must have one entry per time point ({n_time}), got {dates.shape[0]}"
                )
            if n_time > 1 and np.any(np.diff(dates).astype(int) <= 0):
                raise SeriesError("dates must be strictly increasing")
            object.__setattr__(self, "dates", dates)
        if self.population is not None:
            population = np.asarray(self.population, dtype=float)
            if population.ndim == 1:
                population = np.repeat(population[:, None], n_units, axis=1)
            if population.shape != observed.shape:
                raise SeriesError(
                    f"population must have the shape of observed {observed.shape}, got {population.shape}"
                )
            if np.any(~(population > 0)):
                raise SeriesError("population must be positive")
            object.__setattr__(self, "population", population)
        units = tuple(str(u) for u in self.units) or tuple(f"unit{i + 1}" for i in range(n_units))
        if len(units) != n_units:
            raise SeriesError(f"{len(units)} unit names given for {n_units} series")
        if len(set(units)) != len(units):
            raise SeriesError("unit names must be unique")
        object.__setattr__(self, "units", units)

    @property
    def n_time(self) -> int:
        return int(self.observed.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.observed.shape[1])

    def epoch_year_period(self) -> tuple[np.ndarray, np.ndarray]:
        """Year and period (1..freq) of every row, counted from ``start`` as R does."""
        offset = np.arange(self.n_time) + self.start[1] - 1
        return self.start[0] + offset // self.freq, offset % self.freq + 1


@dataclass(frozen=True, eq=False)
class DetectorResult(ResultMixin):
    """What a detector returns: bounds and alarms for the scored rows, in R ``surveillance``'s terms.

    ``range`` holds 0-based row indexes of the scored time points. ``upperbound`` and ``alarm`` have
    shape (len(range), n_units); ``alarm`` is float with 1.0/0.0 and NaN where R gives NA.
    ``outputs`` holds the method's own arrays of the same shape, named as R names them
    (``expected``, ``score``, ``pvalue``, ``mu0``, ...). ``warnings`` names units that could not be
    fitted; their outputs are NaN and the other units are still scored.
    """

    method: str
    config: Any
    series: CountSeries
    range: np.ndarray
    upperbound: np.ndarray
    alarm: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        n_alarms = int(np.nansum(self.alarm))
        lines = [
            f"{self.method}: {self.series.n_units} unit(s), {len(self.range)} scored time point(s), "
            f"{n_alarms} alarm(s)"
        ]
        for unit_index, unit in enumerate(self.series.units):
            hits = self.range[np.nan_to_num(self.alarm[:, unit_index]) == 1] + 1
            if hits.size:
                lines.append(f"  {unit}: alarms at time {', '.join(str(t) for t in hits)}")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)
