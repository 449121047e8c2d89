"""EARS C1, C2, C3 (``earsC``) side by side with R surveillance 1.20.3 on generated series."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from qslab.surveillance.detectors.ears import EarsConfig, ears_c
from qslab.surveillance.sts import CountSeries, SeriesError


def seasonal_nb(seed: int, n: int, freq: int, base: float, theta: float, outbreak: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    mu = base * np.exp(0.6 * np.cos(2 * np.pi * t / freq + seed))
    mu[int(n * 0.8) : int(n * 0.8) + 3] *= 1 + outbreak
    return rng.negative_binomial(theta, theta / (theta + mu)).astype(float)


DAILY_LIKE = np.column_stack(
    [
        seasonal_nb(21, 150, 52, 25, 5, 2.0),
        seasonal_nb(22, 150, 52, 1.0, 1, 4.0),
        seasonal_nb(23, 150, 52, 0.2, 1, 6.0),  # sparse: many all-zero baselines (sd 0)
        np.r_[np.zeros(60), np.full(90, 3.0)],  # constant stretches: sd 0 with and without minSigma
    ]
)
MONTHLY = np.column_stack([seasonal_nb(24, 60, 12, 12, 3, 1.5), seasonal_nb(25, 60, 12, 2, 2, 2.0)])
CASES = [
    ("C1_default", "weekly", {"method": "C1"}),
    ("C2_default", "weekly", {"method": "C2"}),
    ("C3_default", "weekly", {"method": "C3"}),
    ("C1_baseline10_minSigma", "weekly", {"method": "C1", "baseline": 10, "minSigma": 0.5, "alpha": 0.01}),
    ("C2_range", "weekly", {"method": "C2", "range": list(range(100, 151)), "alpha": 0.05}),
    ("C3_minSigma_range", "weekly", {"method": "C3", "minSigma": 1, "range": list(range(120, 151))}),
    ("C3_baseline4_alpha", "monthly", {"method": "C3", "baseline": 4, "alpha": 0.1}),
    ("C1_monthly", "monthly", {"method": "C1", "baseline": 3}),
]

R_EARS = r"""
suppressMessages(library(surveillance)); library(jsonlite)
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(cases, function(cs) {
  ctl <- cs$control
  if (!is.null(ctl$range)) ctl$range <- unlist(ctl$range)
  obs <- matrix(unlist(cs$units), ncol = length(cs$units))
  r <- earsC(sts(observed = obs, frequency = cs$freq, start = c(2000, 1)), control = ctl)
  list(range = as.numeric(r@control$range),
       upperbound = lapply(seq_len(ncol(obs)), function(j) as.numeric(upperbound(r)[, j])),
       alarm = lapply(seq_len(ncol(obs)), function(j) as.numeric(alarms(r)[, j])))
})
writeLines(toJSON(out, digits = I(15), auto_unbox = FALSE, na = "null"), args[2])
"""


@pytest.fixture(scope="module")
def r_ears(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ears")
    data = {"weekly": DAILY_LIKE, "monthly": MONTHLY}
    freq = {"weekly": 52, "monthly": 12}
    payload = [{"freq": freq[k], "units": data[k].T.tolist(), "control": c} for _, k, c in CASES]
    (tmp / "cases.json").write_text(json.dumps(payload))
    (tmp / "run.R").write_text(R_EARS)
    subprocess.run(
        ["Rscript", str(tmp / "run.R"), str(tmp / "cases.json"), str(tmp / "out.json")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return data, freq, json.loads((tmp / "out.json").read_text())


def _arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


@pytest.mark.r
@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_ears_c_agrees_with_r_on_generated_series(r_ears, case):
    data, freq, r_out = r_ears
    _, kind, control = CASES[case]
    series = CountSeries(data[kind], freq=freq[kind])
    result = ears_c(series, EarsConfig.from_r_control(control, freq[kind], series.n_time))
    r_case = r_out[case]
    assert (result.range + 1).tolist() == r_case["range"]
    for j in range(series.n_units):
        assert np.allclose(result.upperbound[:, j], _arr(r_case["upperbound"][j]), rtol=1e-9, equal_nan=True)
        assert np.array_equal(result.alarm[:, j], _arr(r_case["alarm"][j]), equal_nan=True), f"unit {j}"


@pytest.mark.r
def test_ears_c_side_by_side_cases_contain_alarms_and_missing_bounds(r_ears):
    _, _, r_out = r_ears
    alarms = [a for case in r_out for unit in case["alarm"] for a in unit]
    assert sum(a == 1 for a in alarms) >= 10
    assert any(a is None for a in alarms)  # sd 0 in C3 gives NA bounds, as R does


def test_ears_c1_bound_is_mean_plus_z_sd_of_the_last_seven():
    x = np.array([5, 6, 4, 5, 7, 5, 6, 9], dtype=float)
    result = ears_c(CountSeries(x), EarsConfig(method="C1"))
    ref = x[:7]
    assert result.upperbound[0, 0] == pytest.approx(ref.mean() + 3.090232306167813 * ref.std(ddof=1))
    assert result.range.tolist() == [7]


def test_ears_c_rejects_a_series_too_short_for_the_baseline():
    with pytest.raises(SeriesError, match="too short for the baseline: earsC C2 with baseline 7 needs 9"):
        ears_c(CountSeries(np.arange(20.0)), EarsConfig(method="C2", range=(5, 6)))


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"method": "C4"}, "control 'method' for earsC: must be one of 'C1', 'C2', 'C3'"),
        ({"baseline": 2}, "control 'baseline' for earsC: must be at least 3"),
        ({"minSigma": -1}, "control 'minSigma' for earsC: must be at least 0"),
        ({"alpha": 1.5}, "control 'alpha' for earsC: must be at most"),
        ({"sigma": 1}, "unknown control key 'sigma' for earsC"),
        ({"method": "C3", "range": [20, 22]}, "control 'range' for earsC: must be consecutive"),
    ],
)
def test_ears_c_control_errors_name_the_key(control, message):
    with pytest.raises(SeriesError, match=message):
        EarsConfig.from_r_control(control, 52, 30)
