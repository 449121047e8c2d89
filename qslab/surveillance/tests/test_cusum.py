"""Poisson CUSUM (``algo.cusum``) against R surveillance 1.20.3: shared reference runs and side by side."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qslab.surveillance.detectors.cusum import CusumConfig, cusum
from qslab.surveillance.sts import CountSeries, SeriesError

REFERENCE_FILES = [
    "cusum_salmonella_agona_standard.json",
    "cusum_salmonella_agona_rossi.json",
    "cusum_salmonella_agona_anscombe_glm.json",
    "cusum_campyDE_standard.json",
    "cusum_campyDE_rossi.json",
    "cusum_campyDE_anscombe_glm.json",
]


def _load(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / "surveillance" / name).read_text())


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_cusum_matches_the_reference_run(reference_dir, name):
    ref = _load(reference_dir, name)
    inp = ref["input"]
    obs = np.array([u["observed"] for u in inp["units"]], dtype=float).T
    series = CountSeries(obs, freq=inp["freq"], start=tuple(inp["start"]))
    result = cusum(series, CusumConfig.from_r_control(ref["control"], series.freq, series.n_time))
    unit = ref["units"][0]
    glm = ref["control"]["m"] == "glm"
    # closed form 1e-9 relative; with m from a GLM fit 1e-6 (README tolerances)
    rtol = 1e-6 if glm else 1e-9
    m = np.broadcast_to(np.array(unit["m"], float), result.outputs["m"][:, 0].shape)
    assert np.allclose(result.outputs["m"][:, 0], m, rtol=rtol, atol=0)
    assert np.allclose(result.outputs["cusum"][:, 0], unit["cusum"], rtol=rtol, atol=1e-12)
    assert np.allclose(result.upperbound[:, 0], unit["upperbound"], rtol=rtol, atol=1e-12)
    assert result.alarm[:, 0].tolist() == [float(a) for a in unit["alarm"]]


def test_cusum_does_not_reset_after_an_alarm():
    x = np.array([4, 4, 4, 4, 12, 12, 4, 4], dtype=float)
    result = cusum(CountSeries(x), CusumConfig(range=tuple(range(4, 8)), m=4.0))
    c = result.outputs["cusum"][:, 0]
    assert result.alarm[:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert c[1] == pytest.approx(2 * (4 - 1.04))  # accumulates past the first alarm
    assert c[2] == pytest.approx(c[1] - 1.04)


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"k": 1}, "control 'range' for cusum is required"),
        ({"range": [5, 6], "trans": "sqrt"}, "control 'trans' for cusum: must be one of"),
        ({"range": [5, 6], "m": "mean"}, "control 'm' for cusum: must be null, a number"),
        ({"range": [5, 6], "m": [1, 2, 3]}, "control 'm' for cusum: must be one number or one per"),
        ({"range": [5, 6], "H": 2}, "unknown control key 'H' for cusum"),
        ({"range": [0, 1]}, "control 'range' for cusum: index 0 is outside 1..10"),
    ],
)
def test_cusum_control_errors_name_the_key(control, message):
    with pytest.raises(SeriesError, match=message):
        CusumConfig.from_r_control(control, 52, 10)


R_CUSUM = r"""
suppressMessages(library(surveillance)); library(jsonlite)
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(cases, function(cs) {
  ctl <- cs$control
  ctl$range <- unlist(ctl$range)
  if (is.list(ctl$m)) ctl$m <- unlist(ctl$m)
  lapply(cs$units, function(y) {
    d <- list(observed = matrix(unlist(y), ncol = 1), state = matrix(0, length(y), 1),
              freq = cs$freq, start = unlist(cs$start))
    class(d) <- "disProg"
    r <- suppressWarnings(algo.cusum(d, control = ctl))
    list(upperbound = as.numeric(r$upperbound), alarm = as.numeric(r$alarm),
         cusum = as.numeric(r$cusum), m = as.numeric(r$control$m))
  })
})
writeLines(toJSON(out, digits = I(15), auto_unbox = FALSE, na = "null"), args[2])
"""


def seasonal_nb(seed: int, n: int, freq: int, base: float, theta: float, outbreak: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    mu = base * np.exp(0.6 * np.cos(2 * np.pi * t / freq + seed))
    mu[int(n * 0.85) : int(n * 0.85) + 4] *= 1 + outbreak
    return rng.negative_binomial(theta, theta / (theta + mu)).astype(float)


WEEKLY = np.column_stack(
    [
        seasonal_nb(11, 312, 52, 20, 5, 1.5),
        seasonal_nb(12, 312, 52, 2, 2, 2.0),
        seasonal_nb(13, 312, 52, 0.4, 1, 3.0),
    ]
)
MONTHLY = np.column_stack([seasonal_nb(14, 96, 12, 30, 4, 1.0), seasonal_nb(15, 96, 12, 1.5, 2, 1.0)])
WR, MR = list(range(261, 313)), list(range(73, 97))
CASES = [
    ("weekly_standard", "weekly", {"range": WR}),
    ("weekly_rossi", "weekly", {"range": WR, "trans": "rossi", "k": 0.5, "h": 4}),
    ("weekly_anscombe_glm", "weekly", {"range": WR, "trans": "anscombe", "m": "glm"}),
    ("weekly_anscombe2nd", "weekly", {"range": WR, "trans": "anscombe2nd"}),
    ("weekly_pearsonNegBin", "weekly", {"range": WR, "trans": "pearsonNegBin", "alpha": 0.3}),
    ("weekly_none_m_given", "weekly", {"range": WR, "trans": "none", "m": 5, "h": 20}),
    ("monthly_standard_glm", "monthly", {"range": MR, "m": "glm"}),
    ("monthly_rossi_glm", "monthly", {"range": MR, "m": "glm", "trans": "rossi"}),
    ("zero_baseline_standard", "zeros", {"range": [9, 10, 11, 12]}),
    ("zero_baseline_anscombe", "zeros", {"range": [9, 10, 11, 12], "trans": "anscombe"}),
]
STARTS = {"weekly": [2001, 1], "monthly": [2003, 7], "zeros": [2000, 1]}
ZEROS = np.array([[0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]], dtype=float).T


@pytest.fixture(scope="module")
def r_cusum(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cusum")
    data = {"weekly": WEEKLY, "monthly": MONTHLY, "zeros": ZEROS}
    freq = {"weekly": 52, "monthly": 12, "zeros": 52}
    payload = [
        {"freq": freq[k], "start": STARTS[k], "units": data[k].T.tolist(), "control": c} for _, k, c in CASES
    ]
    (tmp / "cases.json").write_text(json.dumps(payload))
    (tmp / "run.R").write_text(R_CUSUM)
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
def test_cusum_agrees_with_r_on_generated_series(r_cusum, case):
    data, freq, r_out = r_cusum
    _, kind, control = CASES[case]
    series = CountSeries(data[kind], freq=freq[kind], start=tuple(STARTS[kind]))
    result = cusum(series, CusumConfig.from_r_control(control, freq[kind], series.n_time))
    for j, r_unit in enumerate(r_out[case]):
        m = np.broadcast_to(_arr(r_unit["m"]), result.outputs["m"][:, j].shape)
        assert np.allclose(result.outputs["m"][:, j], m, rtol=1e-6, equal_nan=True), f"unit {j}"
        assert np.allclose(
            result.outputs["cusum"][:, j], _arr(r_unit["cusum"]), rtol=1e-6, atol=1e-9, equal_nan=True
        )
        assert np.allclose(result.upperbound[:, j], _arr(r_unit["upperbound"]), rtol=1e-6, atol=1e-9)
        assert np.array_equal(result.alarm[:, j], _arr(r_unit["alarm"]), equal_nan=True), f"unit {j}"
