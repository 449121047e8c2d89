"""Farrington detectors against R ``surveillance`` 1.20.3: the shared reference runs and live R runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qslab.surveillance.detectors.farrington import (
    FarringtonConfig,
    FarringtonFlexibleConfig,
    _flexible_reference_points,
    farrington,
    farrington_flexible,
)
from qslab.surveillance.sts import CountSeries, SeriesError

REFERENCE_FILES = [
    "farringtonFlexible_campyDE_noufaily.json",
    "farringtonFlexible_campyDE_noufaily_delta.json",
    "farringtonFlexible_campyDE_noufaily_muan.json",
    "farringtonFlexible_campyDE_orig.json",
    "farringtonFlexible_salmonella_agona_noufaily.json",
    "farringtonFlexible_salmonella_agona_noufaily_delta.json",
    "farringtonFlexible_salmonella_agona_noufaily_muan.json",
    "farringtonFlexible_salmonella_agona_orig.json",
    "farrington_campyDE_orig.json",
    "farrington_salmonella_agona_orig.json",
]


def _arr(values) -> np.ndarray:
    """R output as floats: JSON null (NA, NaN or Inf in R) becomes NaN."""
    return np.array([np.nan if v is None else float(v) for v in values])


def _finite_or_nan(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def _run(method: str, series: CountSeries, control: dict):
    if method == "farrington":
        return farrington(series, FarringtonConfig.from_r_control(control, series.freq, series.n_time))
    control = {k: v for k, v in control.items() if k != "fitFun"}
    return farrington_flexible(
        series, FarringtonFlexibleConfig.from_r_control(control, series.freq, series.n_time)
    )


def _assert_matches_r(result, unit: int, r_out: dict, method: str, threshold_method: str, label: str) -> None:
    """The README's tolerances: GLM quantities 1e-6 relative; alarms equal unless the score is within
    1e-6 of 1; negative-binomial plug-in bounds (integer quantiles) may differ by 1 at ties."""
    y = result.series.observed[result.range, unit]
    ours_upper = _finite_or_nan(result.upperbound[:, unit])
    r_upper = _arr(r_out["upperbound"])
    np.testing.assert_array_equal(np.isnan(ours_upper), np.isnan(r_upper), err_msg=f"{label}: upperbound NA")
    integer_bound = method == "farringtonFlexible" and threshold_method != "delta"
    if integer_bound:
        np.testing.assert_allclose(ours_upper, r_upper, atol=1.0, rtol=0, err_msg=f"{label}: upperbound")
    else:
        np.testing.assert_allclose(ours_upper, r_upper, rtol=1e-6, atol=1e-12, err_msg=f"{label}: upperbound")
    for name, values in r_out.items():
        if name in ("upperbound", "alarm", "name", "observed"):
            continue
        ours = _finite_or_nan(result.outputs[name][:, unit])
        ref = _arr(values)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{label}: {name} NA pattern")
        if integer_bound and name in ("score",):
            continue  # follows the integer bound
        np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-12, err_msg=f"{label}: {name}")
    if "score" in result.outputs:
        score = result.outputs["score"][:, unit]
    else:
        mu0 = result.outputs["expected"][:, unit]
        with np.errstate(divide="ignore", invalid="ignore"):
            score = (y - mu0) / (r_upper - mu0)
    r_alarm = _arr(r_out["alarm"])
    ours_alarm = result.alarm[:, unit]
    borderline = np.abs(score - 1) <= 1e-6
    if integer_bound:
        borderline |= ours_upper != r_upper
    differ = (ours_alarm != r_alarm) & ~(np.isnan(ours_alarm) & np.isnan(r_alarm))
    assert not np.any(differ & ~borderline), (
        f"{label}: alarms differ at {np.flatnonzero(differ & ~borderline)}"
    )


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_farrington_detectors_reproduce_the_shared_r_surveillance_runs(reference_dir: Path, name: str):
    ref = json.loads((reference_dir / "surveillance" / name).read_text())
    inp = ref["input"]
    observed = np.array([u["observed"] for u in inp["units"]], dtype=float).T
    dates = np.array(inp["date"], dtype="datetime64[D]") if inp["epochAsDate"] else None
    series = CountSeries(observed, freq=inp["freq"], start=tuple(inp["start"]), dates=dates)
    result = _run(ref["method"], series, dict(ref["control"]))
    np.testing.assert_array_equal(result.range + 1, ref["range"])
    threshold_method = ref.get("control_effective", {}).get("thresholdMethod", "delta")
    for j, unit_out in enumerate(ref["units"]):
        _assert_matches_r(result, j, unit_out, ref["method"], threshold_method, name)


# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


def test_flexible_defaults_are_r_s_defaults():
    cfg = FarringtonFlexibleConfig()
    assert (cfg.b, cfg.w, cfg.reweight, cfg.weights_threshold, cfg.alpha) == (5, 3, True, 2.58, 0.05)
    assert (cfg.trend, cfg.p_threshold_trend, cfg.limit54, cfg.powertrans) == (True, 0.05, (5, 4), "2/3")
    assert (cfg.population_offset, cfg.no_periods, cfg.past_weeks_not_included) == (False, 1, None)
    assert (cfg.threshold_method, cfg.glm_warnings) == ("delta", True)
    np.testing.assert_array_equal(cfg.resolved_range(52, 300)[[0, -1]], [263, 299])  # R: (52*5+3+1):n
    result = farrington_flexible(CountSeries(np.arange(300.0) % 7, freq=52), cfg)
    assert result.config.range == tuple(range(263, 300))  # the result records the rows it scored
    old = FarringtonConfig()
    assert (old.b, old.w, old.alpha, old.fit_fun) == (5, 3, 0.05, "algo.farrington.fitGLM.fast")
    np.testing.assert_array_equal(old.resolved_range(52, 300)[[0, -1]], [256, 299])  # R: (52*5-3):n


def test_r_control_lists_are_read_with_one_based_range_and_scalars_in_arrays():
    control = {
        "range": [300, 301, 302],
        "b": [4],
        "noPeriods": 10,
        "pastWeeksNotIncluded": 26,
        "thresholdMethod": "muan",
        "limit54": [3, 2],
        "verbose": False,
        "fitFun": "algo.farrington.fitGLM.flexible",
        "glmWarnings": False,
    }
    cfg = FarringtonFlexibleConfig.from_r_control(control, 52, 320)
    assert cfg.range == (299, 300, 301)
    assert (cfg.b, cfg.no_periods, cfg.past_weeks_not_included, cfg.threshold_method) == (4, 10, 26, "muan")
    assert cfg.limit54 == (3, 2)
    assert cfg.glm_warnings is False
    # R's NULL (jsonlite writes {} or null) keeps R's default
    null = FarringtonFlexibleConfig.from_r_control({"range": {}, "pastWeeksNotIncluded": None}, 52, 320)
    assert null.range is None and null.past_weeks_not_included is None


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"window": 3}, "unknown control key(s): window"),
        ({"thresholdMethod": "exact"}, "thresholdMethod must be one of delta, nbPlugin, muan, got 'exact'"),
        ({"powertrans": "1/3"}, "powertrans must be one of 2/3, 1/2, none, got '1/3'"),
        ({"alpha": 1.5}, "alpha must be a number in (0, 1), got 1.5"),
        ({"b": 0}, "b must be an integer >= 1, got 0"),
        ({"limit54": [-1, 4]}, "The limit54 arguments are out of bounds: cases >= 0 and period > 0."),
        ({"range": [0, 1]}, "range values must lie within 1..100, got 0..1"),
        ({"fitFun": "algo.farrington.fitGLM"}, "fitFun must be 'algo.farrington.fitGLM.flexible', got "
         "'algo.farrington.fitGLM'"),
        ({"reweight": "yes"}, "reweight must be TRUE or FALSE, got 'yes'"),
        ({"pThresholdTrend": 0}, "pThresholdTrend must be a number in (0, 1], got 0"),
    ],
)  # fmt: skip
def test_bad_flexible_controls_are_rejected_with_exact_messages(control, message):
    with pytest.raises(SeriesError) as err:
        FarringtonFlexibleConfig.from_r_control(control, 52, 100)
    assert str(err.value) == message


def test_old_farrington_rejects_flexible_only_keys_and_unknown_fit_functions():
    with pytest.raises(SeriesError, match=r"unknown control key\(s\): noPeriods, thresholdMethod"):
        FarringtonConfig.from_r_control({"noPeriods": 10, "thresholdMethod": "delta"}, 52, 100)
    with pytest.raises(SeriesError, match="fitFun must be one of"):
        FarringtonConfig(fit_fun="glm")


def test_a_series_too_short_for_the_baseline_names_the_time_point():
    series = CountSeries(np.ones(100), freq=52)
    with pytest.raises(SeriesError, match="Some reference time points did not exist at time 90"):
        farrington_flexible(series, FarringtonFlexibleConfig(range=(89,)))
    with pytest.raises(SeriesError, match="no time point can be scored"):
        farrington_flexible(series, FarringtonFlexibleConfig())


def test_dated_reference_weeks_step_calendar_years_and_snap_to_the_weekday():
    # 2004-02-29 is a Sunday; one year back is 2003-03-01 (R's seq.Date normalisation, a Saturday),
    # snapped to the nearest Sunday 2003-03-02
    dates = np.arange(np.datetime64("2001-01-07"), np.datetime64("2005-01-01"), 7)
    k = int(np.flatnonzero(dates == np.datetime64("2004-02-29"))[0])
    series = CountSeries(np.ones(len(dates)), freq=52, dates=dates)
    refs = _flexible_reference_points(series, np.array([k]), 3)[0]
    np.testing.assert_array_equal(
        dates[refs], np.array(["2004-02-29", "2003-03-02", "2002-03-03", "2001-03-04"], dtype="datetime64[D]")
    )


# ---------------------------------------------------------------------------------------------------
# Units that cannot be fitted
# ---------------------------------------------------------------------------------------------------


def _seasonal_counts(seed: int, n: int, units: int, scale: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)[:, None]
    base = scale * rng.uniform(0.5, 2.0, units)[None, :]
    mu = base * np.exp(0.6 * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 6, units)[None, :]))
    return rng.negative_binomial(5, 5 / (5 + mu)).astype(float)


def test_a_unit_that_cannot_be_fitted_gets_nan_and_a_warning_while_the_others_are_scored():
    counts = _seasonal_counts(5, 312, 3)
    counts[:, 1] = 0.0  # Noufaily's 237-row all-zero baseline does not converge in 25 IRLS steps in R
    series = CountSeries(counts, freq=52, units=("north", "empty", "south"))
    result = farrington_flexible(series, FarringtonFlexibleConfig.noufaily(range=tuple(range(300, 312))))
    assert np.isnan(result.upperbound[:, 1]).all()
    assert np.isnan(result.alarm[:, 1]).all()
    assert np.isnan(result.outputs["expected"][:, 1]).all()
    assert np.isfinite(result.upperbound[:, [0, 2]]).all()
    assert not np.isnan(result.alarm[:, [0, 2]]).any()
    assert result.warnings == (
        "unit empty: the model could not converge with nor without time trend, no result at time "
        "301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312",
    )
    assert "unit empty" in result.summary()


def test_fitting_units_together_equals_fitting_them_one_by_one():
    counts = _seasonal_counts(6, 312, 4)
    series = CountSeries(counts, freq=52)
    cfg = FarringtonFlexibleConfig.noufaily(range=tuple(range(290, 312)), threshold_method="muan")
    together = farrington_flexible(series, cfg)
    for j in range(4):
        alone = farrington_flexible(CountSeries(counts[:, j], freq=52), cfg)
        np.testing.assert_array_equal(together.upperbound[:, j], alone.upperbound[:, 0])
        np.testing.assert_allclose(
            together.outputs["expected"][:, j], alone.outputs["expected"][:, 0], rtol=1e-14
        )


def test_population_offset_scales_the_expected_count_with_the_population_now():
    counts = _seasonal_counts(7, 312, 1)
    population = np.full((312, 1), 1000.0)
    population[-1] = 2000.0
    series = CountSeries(counts, freq=52, population=population)
    cfg = FarringtonFlexibleConfig(range=(311,), population_offset=True, trend=False, limit54=(0, 4))
    with_offset = farrington_flexible(series, cfg)
    without = farrington_flexible(series, FarringtonFlexibleConfig(range=(311,), trend=False, limit54=(0, 4)))
    np.testing.assert_allclose(with_offset.outputs["expected"], 2 * without.outputs["expected"], rtol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Side by side with R on generated data: one Rscript run for all cases
# ---------------------------------------------------------------------------------------------------

R_SCRIPT = r"""
suppressPackageStartupMessages({library(surveillance); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
jobs <- fromJSON(args[1], simplifyVector = FALSE)
clean <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
rows <- function(x) do.call(rbind, lapply(x, function(r) as.numeric(unlist(r))))
out <- list()
for (i in seq_along(jobs$meta)) {
  m <- jobs$meta[[i]]
  d <- jobs$data[[m$data]]
  obs <- rows(d$observed)
  pop <- if (!is.null(d$population)) rows(d$population) else NULL
  start <- as.numeric(unlist(d$start))
  if (!is.null(d$date)) {
    s <- sts(observed = obs, start = start, frequency = d$freq, population = pop,
             epoch = as.numeric(as.Date(unlist(d$date))), epochAsDate = TRUE)
  } else {
    s <- sts(observed = obs, start = start, frequency = d$freq, population = pop)
  }
  control <- lapply(jobs$controls[[i]], function(v) if (is.list(v)) unlist(v) else v)
  fun <- if (m$method == "farrington") farrington else farringtonFlexible
  r <- suppressWarnings(fun(s, control))
  res <- list()
  for (j in seq_len(ncol(obs))) {
    u <- list(upperbound = clean(r@upperbound[, j]), alarm = clean(r@alarm[, j]))
    if (m$method == "farringtonFlexible") {
      for (nm in c("expected", "score", "pvalue", "mu0Vector", "phiVector", "trend", "trendVector"))
        u[[nm]] <- clean(r@control[[nm]][, j])
    }
    res[[j]] <- u
  }
  out[[m$id]] <- res
}
writeLines(toJSON(out, digits = NA, na = "null", auto_unbox = FALSE), args[2])
"""


def _datasets() -> dict[str, dict]:
    weekly = _seasonal_counts(11, 364, 3)
    weekly[330:334, 0] += np.array([15.0, 30.0, 25.0, 10.0])  # an outbreak
    sparse = np.random.default_rng(12).poisson(0.4, size=(364, 1)).astype(float)
    weekly = np.hstack([weekly, sparse])
    dated_days = np.arange(np.datetime64("2003-01-08"), np.datetime64("2003-01-08") + 7 * 400, 7)
    monthly = _seasonal_counts(13, 120, 2, scale=30.0)
    month_dates = np.arange(np.datetime64("2004-01"), np.datetime64("2014-01")).astype("datetime64[D]")
    daily = _seasonal_counts(16, 1100, 2, scale=4.0)
    daily_dates = np.arange(np.datetime64("2011-03-15"), np.datetime64("2011-03-15") + 1100)
    pop_counts = _seasonal_counts(14, 312, 2)
    population = np.outer(np.linspace(1e5, 1.6e5, 312), [1.0, 3.0])
    return {
        "weekly": {"observed": weekly, "freq": 52, "start": [2000, 1]},
        "dated": {
            "observed": _seasonal_counts(15, 400, 2),
            "freq": 52,
            "start": [2003, 2],
            "date": dated_days,
        },
        "monthly": {"observed": monthly, "freq": 12, "start": [2004, 1]},
        "monthly_dated": {"observed": monthly, "freq": 12, "start": [2004, 1], "date": month_dates},
        "daily": {"observed": daily, "freq": 365, "start": [2011, 74]},
        "daily_dated": {"observed": daily, "freq": 365, "start": [2011, 74], "date": daily_dates},
        "population": {"observed": pop_counts, "freq": 52, "start": [2000, 1], "population": population},
    }


def _r_range(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


NOUFAILY = {"noPeriods": 10, "pastWeeksNotIncluded": 26, "weightsThreshold": 2.58, "pThresholdTrend": 1}
CASES = [
    ("flex_orig", "farringtonFlexible", "weekly", {"range": _r_range(335, 364)}),
    ("flex_nbplugin", "farringtonFlexible", "weekly",
     {"range": _r_range(335, 364), "thresholdMethod": "nbPlugin", **NOUFAILY}),
    ("flex_muan_alpha01", "farringtonFlexible", "weekly",
     {"range": _r_range(335, 364), "thresholdMethod": "muan", "alpha": 0.01, **NOUFAILY}),
    ("flex_sqrt_b3w2", "farringtonFlexible", "weekly",
     {"range": _r_range(320, 340), "b": 3, "w": 2, "powertrans": "1/2", "weightsThreshold": 1.5}),
    ("flex_none_notrend", "farringtonFlexible", "weekly",
     {"range": _r_range(340, 364), "powertrans": "none", "trend": False, "reweight": False}),
    ("flex_periods4_pwni0", "farringtonFlexible", "weekly",
     {"range": _r_range(330, 350), "b": 4, "noPeriods": 4, "pastWeeksNotIncluded": 0,
      "pThresholdTrend": 0.1}),
    ("flex_b2", "farringtonFlexible", "weekly", {"range": _r_range(340, 364), "b": 2}),
    ("old_default", "farrington", "weekly", {"range": _r_range(335, 364)}),
    ("old_b3_sqrt", "farrington", "weekly",
     {"range": _r_range(330, 350), "b": 3, "w": 2, "alpha": 0.01, "powertrans": "1/2", "reweight": False}),
    ("old_notrend_none", "farrington", "weekly",
     {"range": _r_range(340, 364), "trend": False, "powertrans": "none", "limit54": [3, 2]}),
    ("dated_flex_orig", "farringtonFlexible", "dated", {"range": _r_range(370, 400)}),
    ("dated_flex_nouf", "farringtonFlexible", "dated",
     {"range": _r_range(370, 400), "thresholdMethod": "nbPlugin", **NOUFAILY}),
    ("dated_old", "farrington", "dated", {"range": _r_range(370, 400)}),
    ("monthly_flex", "farringtonFlexible", "monthly", {"range": _r_range(100, 120), "w": 1}),
    ("monthly_flex_periods", "farringtonFlexible", "monthly",
     {"range": _r_range(100, 120), "w": 1, "b": 4, "noPeriods": 3, "pastWeeksNotIncluded": 2,
      "thresholdMethod": "nbPlugin"}),
    ("monthly_old", "farrington", "monthly", {"range": _r_range(100, 120), "b": 3, "w": 1}),
    ("monthly_dated_flex", "farringtonFlexible", "monthly_dated", {"range": _r_range(100, 120), "w": 1}),
    ("monthly_dated_old", "farrington", "monthly_dated", {"range": _r_range(100, 120), "b": 3, "w": 1}),
    ("daily_flex", "farringtonFlexible", "daily", {"range": _r_range(1090, 1100), "b": 2}),
    ("daily_dated_flex", "farringtonFlexible", "daily_dated",
     {"range": _r_range(1090, 1100), "b": 2, "noPeriods": 5, "thresholdMethod": "muan"}),
    ("daily_dated_old", "farrington", "daily_dated", {"range": _r_range(1090, 1100), "b": 2}),
    ("population_flex", "farringtonFlexible", "population",
     {"range": _r_range(290, 312), "populationOffset": True}),
    ("population_old", "farrington", "population",
     {"range": _r_range(290, 312), "fitFun": "algo.farrington.fitGLM.populationOffset"}),
]  # fmt: skip


def _series(spec: dict) -> CountSeries:
    dates = spec.get("date")
    return CountSeries(
        spec["observed"],
        freq=spec["freq"],
        start=tuple(spec["start"]),
        dates=None if dates is None else np.asarray(dates, dtype="datetime64[D]"),
        population=spec.get("population"),
    )


@pytest.fixture(scope="module")
def r_results(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("r_farrington")
    data = _datasets()
    payload = {
        "meta": [{"id": cid, "method": method, "data": name} for cid, method, name, _ in CASES],
        "controls": [control for *_, control in CASES],
        "data": {
            name: {
                "observed": spec["observed"].tolist(),
                "freq": spec["freq"],
                "start": spec["start"],
                **({"date": [str(d) for d in spec["date"]]} if "date" in spec else {}),
                **({"population": spec["population"].tolist()} if "population" in spec else {}),
            }
            for name, spec in data.items()
        },
    }
    (tmp / "jobs.json").write_text(json.dumps(payload))
    (tmp / "run.R").write_text(R_SCRIPT)
    proc = subprocess.run(
        ["Rscript", str(tmp / "run.R"), str(tmp / "jobs.json"), str(tmp / "out.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {"data": data, "out": json.loads((tmp / "out.json").read_text())}


@pytest.mark.r
@pytest.mark.slow
@pytest.mark.parametrize(("case_id", "method", "data_name", "control"), CASES, ids=[c[0] for c in CASES])
def test_farrington_detectors_agree_with_r_on_generated_series(
    r_results, case_id, method, data_name, control
):
    series = _series(r_results["data"][data_name])
    result = _run(method, series, dict(control))
    threshold_method = control.get("thresholdMethod", "delta")
    assert len(r_results["out"][case_id]) == series.n_units
    for j, unit_out in enumerate(r_results["out"][case_id]):
        assert len(unit_out["upperbound"]) == len(result.range) == len(control["range"])
        _assert_matches_r(result, j, unit_out, method, threshold_method, f"{case_id} unit {j + 1}")
