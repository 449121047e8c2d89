"""Series from the store: counts by any grouping and period, and NEISS-style national estimates.

The heavy work runs where the data live: :func:`aggregate_counts` is an Ibis expression (one row per
period and group with the number of records and the sum of their weights) that DuckDB or Spark
executes; only the aggregated rows come back. :func:`count_series` then lays them on the full time
axis (ISO weeks starting Monday, or calendar months) with zeros where nothing was recorded, and
returns the :class:`~qslab.surveillance.sts.CountSeries` every detector takes, one unit per group
(units named by the group values joined with ``|``), with the period start dates attached so
detectors can step by calendar dates (R's ``epochAsDate=TRUE``).

:func:`national_estimates` gives CPSC's NEISS estimates per group: the sum of the statistical
weights, the design-based variance of that total from the strata and PSUs (Taylor linearisation
for a stratified sample of hospitals, as SAS ``SURVEYMEANS``), the CV, a 95 % interval, and CPSC's
rule for unstable estimates (fewer than 20 records, an estimate below 1,200, or a CV above 33 %).

>>> import pyarrow as pa, datetime as dt
>>> from qslab.surveillance.store import AnalyticalStore
>>> store = AnalyticalStore.duckdb()
>>> _ = store.append(pa.table({
...     "source": ["demo"] * 4, "record_id": ["1", "2", "3", "4"],
...     "event_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 3), dt.date(2024, 1, 22), dt.date(2024, 1, 2)],
...     "product_code": ["A", "A", "A", "B"]}))
>>> series = count_series(store.table(), by=["product_code"], period="week")
>>> series.units
('A', 'B')
>>> series.observed.T
array([[2., 0., 0., 1.],
       [1., 0., 0., 0.]])
>>> [str(d) for d in series.dates]
['2024-01-01', '2024-01-08', '2024-01-15', '2024-01-22']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from qslab.results import ResultMixin
from qslab.surveillance.schema import CANONICAL_SCHEMA, GROUPING_COLUMNS
from qslab.surveillance.store import AnalyticalStore
from qslab.surveillance.sts import CountSeries, SeriesError

#: Periods a series can use: Ibis truncation unit and periods per year (the series' ``freq``).
PERIODS: dict[str, tuple[str, int]] = {"week": ("W", 52), "month": ("M", 12)}

#: Separator between group values in a unit name (``"1807|57|US"``).
UNIT_SEPARATOR = "|"

#: Text used in a unit name for a missing group value.
MISSING_KEY = "NA"

PERIOD_COLUMN = "period_start"


class AggregateError(ValueError):
    """A series request is malformed; the message names the argument."""


def _table(source: ir.Table | AnalyticalStore) -> ir.Table:
    return source.table() if isinstance(source, AnalyticalStore) else source


def _check_by(table: ir.Table, by: Sequence[str] | str) -> tuple[str, ...]:
    keys = (by,) if isinstance(by, str) else tuple(by)
    if not keys:
        raise AggregateError("by must name at least one column")
    for key in keys:
        if key not in table.columns:
            raise AggregateError(f"by: unknown column {key!r}; group by one of {', '.join(GROUPING_COLUMNS)}")
        if key in CANONICAL_SCHEMA and key not in GROUPING_COLUMNS:
            raise AggregateError(
                f"by: column {key!r} cannot group a series; use one of {', '.join(GROUPING_COLUMNS)}"
            )
    if len(set(keys)) != len(keys):
        raise AggregateError(f"by: a column is repeated in {', '.join(keys)}")
    return keys


def _check_period(period: str) -> tuple[str, int]:
    if period not in PERIODS:
        raise AggregateError(f"period must be one of {', '.join(PERIODS)}, got {period!r}")
    return PERIODS[period]


def expand_products(table: ir.Table) -> ir.Table:
    """One row per (record, product): NEISS records with 2 or 3 products count for each of them.

    CPSC counts a record in every product group it names, for the estimate and its variance.
    """
    rows = [table]
    for slot in ("product_code_2", "product_code_3"):
        extra = table.filter(table[slot].notnull(), table[slot] != table.product_code.fill_null(""))
        rows.append(extra.mutate(product_code=extra[slot]))
    return ibis.union(*rows, distinct=False)


def aggregate_counts(
    source: ir.Table | AnalyticalStore,
    by: Sequence[str] | str,
    period: str = "week",
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    all_products: bool = False,
    date_column: str = "event_date",
) -> ir.Table:
    """Ibis expression with one row per period and group: ``period_start``, the ``by`` columns,
    ``n`` (records) and ``weight`` (sum of statistical weights). Records without a date are left out.

    ``start``/``end`` keep events on those dates or between them. ``all_products`` counts a record
    under each of its products (see :func:`expand_products`).
    """
    table = _table(source)
    keys = _check_by(table, by)
    unit, _ = _check_period(period)
    if date_column not in table.columns:
        raise AggregateError(f"date_column {date_column!r} is not a column of the table")
    if all_products:
        table = expand_products(table)
    date = table[date_column]
    predicates = [date.notnull()]
    if start is not None:
        predicates.append(date >= start)
    if end is not None:
        predicates.append(date <= end)
    table = table.filter(*predicates)
    table = table.mutate(**{PERIOD_COLUMN: table[date_column].truncate(unit).cast("date")})
    return table.group_by([PERIOD_COLUMN, *keys]).agg(n=table.count(), weight=table.weight.sum())


def period_starts(first: dt.date, last: dt.date, period: str) -> np.ndarray:
    """Start dates (``datetime64[D]``) of all periods from the one holding ``first`` to that of ``last``.

    >>> [str(d) for d in period_starts(dt.date(2024, 1, 31), dt.date(2024, 3, 1), "month")]
    ['2024-01-01', '2024-02-01', '2024-03-01']
    """
    _check_period(period)
    if period == "week":
        a = np.datetime64(first - dt.timedelta(days=first.weekday()), "D")
        b = np.datetime64(last - dt.timedelta(days=last.weekday()), "D")
        return np.arange(a, b + 1, 7, dtype="datetime64[D]")
    a_month = np.datetime64(first.replace(day=1), "M")
    b_month = np.datetime64(last.replace(day=1), "M")
    return np.arange(a_month, b_month + 1, dtype="datetime64[M]").astype("datetime64[D]")


def _time_index(dates: np.ndarray, axis: np.ndarray, period: str) -> np.ndarray:
    if period == "week":
        return ((dates - axis[0]).astype(np.int64)) // 7
    months = dates.astype("datetime64[M]").astype(np.int64)
    return months - axis[0].astype("datetime64[M]").astype(np.int64)


def _start_of(axis: np.ndarray, period: str, freq: int) -> tuple[int, int]:
    first = pd.Timestamp(axis[0]).date()
    if period == "week":
        year, week, _ = first.isocalendar()
        # ISO years with 53 weeks: the series' dates carry the truth; the label is clamped to freq.
        return int(year), min(int(week), freq)
    return first.year, first.month


def _unit_names(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.Series:
    parts = [frame[k].astype("string").fillna(MISSING_KEY) for k in keys]
    name = parts[0]
    for part in parts[1:]:
        name = name + UNIT_SEPARATOR + part
    return name


def _as_date(value: dt.date | str | None, name: str) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise AggregateError(f"{name} must be an ISO date YYYY-MM-DD, got {value!r}") from None


def count_series(
    source: ir.Table | AnalyticalStore,
    by: Sequence[str] | str,
    period: str = "week",
    *,
    value: str = "count",
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    population: pd.DataFrame | ir.Table | None = None,
    all_products: bool = False,
    date_column: str = "event_date",
) -> CountSeries:
    """Zero-filled series of every group, ready for the detectors.

    ``value`` is ``count`` (records) or ``weight`` (sum of statistical weights: NEISS weekly national
    estimates). The time axis runs from the period of ``start`` (default: the first event) to the
    period of ``end`` (default: the last event). ``population`` (a data frame or Ibis table) gives an
    exposure per unit and period: a ``population`` column, any of the ``by`` columns (missing ones
    mean "the same for every value"), and optionally ``period_start`` (date) or ``year``; every unit
    and period must find exactly one value.
    """
    table = _table(source)
    keys = _check_by(table, by)
    _, freq = _check_period(period)
    if value not in ("count", "weight"):
        raise AggregateError(f"value must be 'count' or 'weight', got {value!r}")
    start_date, end_date = _as_date(start, "start"), _as_date(end, "end")
    if start_date is not None and end_date is not None and end_date < start_date:
        raise AggregateError(f"end {end_date} is before start {start_date}")
    expr = aggregate_counts(
        table,
        keys,
        period,
        start=start_date,
        end=end_date,
        all_products=all_products,
        date_column=date_column,
    )
    frame = expr.to_pyarrow().to_pandas()
    if frame.empty and (start_date is None or end_date is None):
        raise AggregateError(
            "no dated records to build a series from (give start and end for an empty series)"
        )
    dates = pd.to_datetime(frame[PERIOD_COLUMN]).to_numpy().astype("datetime64[D]")
    first = start_date or pd.Timestamp(dates.min()).date()
    last = end_date or pd.Timestamp(dates.max()).date()
    axis = period_starts(first, last, period)
    names = _unit_names(frame, keys)
    units, unit_index = np.unique(names.to_numpy(dtype=str), return_inverse=True)
    observed = np.zeros((axis.size, max(units.size, 1)))
    if units.size:
        observed[_time_index(dates, axis, period), unit_index] = frame["n" if value == "count" else "weight"]
    else:
        units = np.array([MISSING_KEY])
    exposure = None
    if population is not None:
        key_frame = frame.assign(_unit=names.to_numpy(dtype=str)).drop_duplicates("_unit").set_index("_unit")
        key_frame = key_frame.loc[units, list(keys)] if units[0] != MISSING_KEY or len(frame) else None
        exposure = _population_grid(population, keys, key_frame, units, axis, period)
    return CountSeries(
        observed=observed,
        freq=freq,
        start=_start_of(axis, period, freq),
        dates=axis,
        population=exposure,
        units=tuple(str(u) for u in units),
    )


def _population_grid(
    population: pd.DataFrame | ir.Table,
    keys: tuple[str, ...],
    key_frame: pd.DataFrame | None,
    units: np.ndarray,
    axis: np.ndarray,
    period: str,
) -> np.ndarray:
    pop = population.to_pyarrow().to_pandas() if isinstance(population, ir.Table) else population.copy()
    if "population" not in pop.columns:
        raise AggregateError("population table needs a 'population' column")
    join = [k for k in keys if k in pop.columns]
    when = [c for c in (PERIOD_COLUMN, "year") if c in pop.columns]
    extra = set(pop.columns) - {"population", *join, *when}
    if extra:
        raise AggregateError(
            f"population table has column(s) that are not group keys: {', '.join(sorted(extra))}"
        )
    if len(when) > 1:
        raise AggregateError("population table: give period_start or year, not both")
    n_time, n_units = axis.size, units.size
    grid = pd.DataFrame(
        {
            "_t": np.repeat(np.arange(n_time), n_units),
            "_u": np.tile(np.arange(n_units), n_time),
            PERIOD_COLUMN: np.repeat(axis, n_units),
        }
    )
    grid["year"] = grid[PERIOD_COLUMN].dt.year
    if key_frame is not None:
        for k in join:
            grid[k] = key_frame[k].to_numpy()[grid["_u"].to_numpy()]
    on = [*join, *when]
    right = pop[[*on, "population"]].copy()
    if PERIOD_COLUMN in when:
        right[PERIOD_COLUMN] = pd.to_datetime(right[PERIOD_COLUMN]).astype(grid[PERIOD_COLUMN].dtype)
    for k in join:
        right[k] = right[k].astype("string")
        grid[k] = grid[k].astype("string")
    if on and right.duplicated(on).any():
        raise AggregateError(f"population table repeats a combination of {', '.join(on) or 'its rows'}")
    if not on:
        if len(right) != 1:
            raise AggregateError("population table without key columns must have exactly one row")
        merged = grid.assign(population=float(right["population"].iloc[0]))
    else:
        merged = grid.merge(right, on=on, how="left", validate="many_to_one")
    missing = merged["population"].isna().to_numpy()
    if missing.any():
        first = int(np.flatnonzero(missing)[0])
        unit = str(units[merged["_u"].iloc[first]])
        raise AggregateError(
            f"population missing for {int(missing.sum())} unit-period(s), "
            f"first unit {unit!r} at {merged[PERIOD_COLUMN].iloc[first].date()!s}"
        )
    values = np.empty((n_time, n_units))
    values[merged["_t"].to_numpy(), merged["_u"].to_numpy()] = merged["population"].to_numpy(dtype=float)
    if np.any(~(values > 0)):
        raise SeriesError("population must be positive")
    return values


# ------------------------------------------------------------------------------------------------
# NEISS national estimates


@dataclass(frozen=True)
class SuppressionRules:
    """When an estimate is flagged unstable (CPSC, as quoted by Injury Epidemiology 2017).

    Flag when the estimate is below ``min_estimate``, rests on fewer than ``min_records`` records,
    or has a coefficient of variation above ``max_cv``. CDC WISQARS uses ``max_cv=0.30``.
    """

    min_estimate: float = 1200.0
    min_records: int = 20
    max_cv: float = 0.33

    def __post_init__(self) -> None:
        if not (self.min_estimate >= 0 and self.min_records >= 0 and self.max_cv > 0):
            raise AggregateError("suppression thresholds must be non-negative (max_cv positive)")


CPSC_RULES = SuppressionRules()


@dataclass(frozen=True)
class NationalEstimates(ResultMixin):
    """Weighted national estimates per group with their design-based precision.

    ``table`` has the ``by`` columns and ``n_records``, ``estimate`` (sum of weights), ``variance``,
    ``se``, ``cv``, ``ci_lower``, ``ci_upper`` (estimate +/- z se) and ``unstable`` (CPSC rules).
    Variance: V = sum over strata h of n_h/(n_h - 1) * sum over PSUs i of (y_hi - ybar_h)^2, with
    y_hi the weighted total of the group in PSU i, over all n_h PSUs of stratum h (those with none
    of the group's records count with y_hi = 0); a stratum with one PSU adds no variance.
    """

    by: tuple[str, ...]
    table: pd.DataFrame
    z: float
    rules: SuppressionRules = field(default=CPSC_RULES)

    def summary(self) -> str:
        lines = [f"national estimates by {', '.join(self.by)}: {len(self.table)} group(s), z = {self.z:g}"]
        for row in self.table.head(20).itertuples(index=False):
            name = UNIT_SEPARATOR.join(str(getattr(row, k)) for k in self.by)
            flag = "  (unstable)" if row.unstable else ""
            lines.append(
                f"  {name}: {row.estimate:,.0f} from {row.n_records} record(s), CV {row.cv:.3f}, "
                f"95% CI {row.ci_lower:,.0f} to {row.ci_upper:,.0f}{flag}"
            )
        if len(self.table) > 20:
            lines.append(f"  ... {len(self.table) - 20} more")
        return "\n".join(lines)


def national_estimates(
    source: ir.Table | AnalyticalStore,
    by: Sequence[str] | str,
    *,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    z: float = 1.96,
    rules: SuppressionRules = CPSC_RULES,
    all_products: bool = False,
) -> NationalEstimates:
    """NEISS-style estimates per group (sum of weights, variance from stratum and PSU, CV, CI, flags).

    ``source`` should hold one sample design (one NEISS source); records need ``stratum`` and ``psu``.
    ``start``/``end`` restrict the event dates (the PSU count per stratum is taken over the same
    dates). Computed in Ibis where the data live.
    """
    table = _table(source)
    keys = _check_by(table, by)
    if not z > 0:
        raise AggregateError(f"z must be positive, got {z!r}")
    start_date, end_date = _as_date(start, "start"), _as_date(end, "end")
    predicates = []
    if start_date is not None:
        predicates.append(table.event_date >= start_date)
    if end_date is not None:
        predicates.append(table.event_date <= end_date)
    if predicates:
        table = table.filter(*predicates)
    design = table.filter(table.stratum.notnull(), table.psu.notnull())
    psus = design.group_by("stratum").agg(n_h=design.psu.nunique())
    rows = expand_products(design) if all_products else design
    per_psu = rows.group_by([*keys, "stratum", "psu"]).agg(y=rows.weight.sum(), n=rows.count())
    per_stratum = per_psu.group_by([*keys, "stratum"]).agg(
        s1=per_psu.y.sum(), s2=(per_psu.y * per_psu.y).sum(), n=per_psu.n.sum()
    )
    joined = per_stratum.join(psus, "stratum")
    n_h = joined.n_h.cast("float64")
    var_h = ibis.ifelse(joined.n_h > 1, n_h / (n_h - 1) * (joined.s2 - joined.s1 * joined.s1 / n_h), 0.0)
    joined = joined.mutate(var_h=var_h)
    totals = joined.group_by(list(keys)).agg(
        n_records=joined.n.sum(), estimate=joined.s1.sum(), variance=joined.var_h.sum()
    )
    frame = totals.order_by(list(keys)).to_pyarrow().to_pandas()
    variance = np.clip(frame["variance"].to_numpy(dtype=float), 0.0, None)  # rounding can give -0
    estimate = frame["estimate"].to_numpy(dtype=float)
    se = np.sqrt(variance)
    with np.errstate(divide="ignore", invalid="ignore"):
        cv = np.where(estimate > 0, se / estimate, np.nan)
    frame = frame.assign(
        n_records=frame["n_records"].astype(np.int64),
        variance=variance,
        se=se,
        cv=cv,
        ci_lower=estimate - z * se,
        ci_upper=estimate + z * se,
    )
    frame["unstable"] = (
        (frame["estimate"] < rules.min_estimate)
        | (frame["n_records"] < rules.min_records)
        | ~(frame["cv"] <= rules.max_cv)
    )
    return NationalEstimates(by=keys, table=frame.reset_index(drop=True), z=float(z), rules=rules)
