"""GLR-CUSUM (``glrnb``) against R surveillance 1.20.3: the shared reference runs and side by side."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qslab.surveillance.detectors.glr import GLRNBConfig, glr_statistic, glrnb
from qslab.surveillance.sts import CountSeries, SeriesError

REFERENCE_FILES = [
    "glrnb_salmonella_agona_nb.json",
    "glrnb_salmonella_agona_pois.json",
    "glrnb_campyDE_nb.json",
    "glrnb_campyDE_pois.json",
]


def _load(reference_dir: Path, name: str) -> dict:
    return json.loads((reference_dir / "surveillance" / name).read_text())


def _series(ref: dict) -> CountSeries:
    inp = ref["input"]
    obs = np.array([u["observed"] for u in inp["units"]], dtype=float).T
    return CountSeries(obs, freq=inp["freq"], start=tuple(inp["start"]))


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_glrnb_with_fitted_mu0_matches_the_reference_run(reference_dir, name):
    ref = _load(reference_dir, name)
    series = _series(ref)
    config = GLRNBConfig.from_r_control(ref["control"], series.freq, series.n_time)
    result = glrnb(series, config)
    unit = ref["units"][0]
    assert result.range.tolist() == [r - 1 for r in ref["range"]]
    assert _rel(result.outputs["mu0"][:, 0], unit["mu0"]) < 1e-6  # GLM fit
    assert result.outputs["alpha"][0, 0] == pytest.approx(unit["alpha_used"], rel=1e-6, abs=0)
    assert np.allclose(result.upperbound[:, 0], unit["statistic"], rtol=1e-6, atol=1e-9)
    assert result.alarm[:, 0].tolist() == [float(a) for a in unit["alarm"]]
    if "cases" in unit:
        cases = glrnb(
            series, GLRNBConfig.from_r_control({**ref["control"], "ret": "cases"}, 52, series.n_time)
        )
        assert cases.upperbound[:, 0].tolist() == [float(c) for c in unit["cases"]]
        assert cases.alarm[:, 0].tolist() == result.alarm[:, 0].tolist()


@pytest.mark.parametrize("name", REFERENCE_FILES)
def test_glr_recursion_with_the_reference_mu0_matches_to_1e_9(reference_dir, name):
    ref = _load(reference_dir, name)
    unit = ref["units"][0]
    x = np.array(ref["input"]["units"][0]["observed"], float)[np.array(ref["range"]) - 1]
    upper, alarm = glr_statistic(x[:, None], np.array(unit["mu0"])[:, None], unit["alpha_used"])
    assert np.allclose(upper[:, 0], unit["statistic"], rtol=1e-9, atol=1e-12)
    assert alarm[:, 0].tolist() == [float(a) for a in unit["alarm"]]


def test_glrnb_restarts_after_an_alarm_with_mu0_unchanged():
    x = np.array([3, 3, 12, 3, 3, 12, 3], dtype=float)
    config = GLRNBConfig(range=tuple(range(7)), mu0=np.full(7, 3.0), alpha=0.0, c_arl=4.0)
    result = glrnb(CountSeries(x), config)
    assert result.alarm[:, 0].tolist() == [0, 0, 1, 0, 0, 1, 0]
    # after the restart the statistic at time 4 only sees x_4 = mu0, so it is 0
    assert result.upperbound[3, 0] == 0.0
    assert result.outputs["mu0"][:, 0].tolist() == [3.0] * 7


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"c.ARL": 5}, "control 'range' for glrnb is required"),
        ({"range": [10, 11], "cARL": 5}, "unknown control key 'cARL' for glrnb"),
        ({"range": [10, 11], "dir": "up"}, "control 'dir' for glrnb: must be one of 'inc', 'dec'"),
        ({"range": [10, 400]}, "control 'range' for glrnb: index 400 is outside 1..20"),
        ({"range": [10, 11], "mu0": [1, 2]}, "control 'alpha' for glrnb must be given when mu0 is given"),
        ({"range": [10, 11], "M": 0}, "control 'M' for glrnb: must be -1 or at least Mtilde"),
        (
            {"range": [10, 11], "change": "epi", "ret": "cases"},
            "control .ret. for glrnb: .cases. is not available",
        ),
        ({"range": [10, 11], "c.ARL": "five"}, "control 'c.ARL' for glrnb: must be a number"),
        ({"range": [10, 11], "mu0": {"S": 1, "refit": True}}, "control 'mu0$refit' for glrnb"),
    ],
)
def test_glrnb_control_errors_name_the_key(control, message):
    with pytest.raises(SeriesError, match=message.replace("$", r"\$")):
        GLRNBConfig.from_r_control(control, 52, 20)


# --------------------------------------------------------------------------------------------------
# Side by side with R on generated data.

R_GLRNB = r"""
suppressMessages(library(surveillance)); library(jsonlite)
args <- commandArgs(TRUE)
cases <- fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(cases, function(cs) {
  ctl <- cs$control
  ctl$range <- unlist(ctl$range)
  if (!is.null(ctl$mu0) && !is.list(ctl$mu0[[1]]) && is.numeric(unlist(ctl$mu0)) &&
      is.null(names(ctl$mu0))) ctl$mu0 <- unlist(ctl$mu0)
  lapply(cs$units, function(y) {
    d <- list(observed = matrix(unlist(y), ncol = 1), state = matrix(0, length(y), 1),
              freq = cs$freq, start = unlist(cs$start))
    class(d) <- "disProg"
    r <- tryCatch(suppressMessages(suppressWarnings(algo.glrnb(d, control = ctl))),
                  error = function(e) NULL)
    if (is.null(r)) return(list(error = TRUE))
    list(upperbound = as.numeric(r$upperbound), alarm = as.numeric(r$alarm),
         mu0 = as.numeric(r$control$mu0), alpha = r$control$alpha)
  })
})
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, na = "null"), args[2])
"""


def seasonal_nb(seed: int, n: int, freq: int, base: float, theta: float, outbreak: float = 0.0) -> np.ndarray:
    """A seeded seasonal negative-binomial series with an outbreak in its last fifth."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    mu = base * np.exp(0.6 * np.cos(2 * np.pi * t / freq + seed) + 0.002 * t * (seed % 3 - 1))
    mu[int(n * 0.85) : int(n * 0.85) + 4] *= 1 + outbreak
    return rng.negative_binomial(theta, theta / (theta + mu)).astype(float)


def _weekly_units() -> np.ndarray:
    return np.column_stack(
        [
            seasonal_nb(1, 312, 52, 20, 5, outbreak=1.5),
            seasonal_nb(2, 312, 52, 3, 2, outbreak=2.0),
            seasonal_nb(3, 312, 52, 0.6, 1, outbreak=3.0),
            seasonal_nb(4, 312, 52, 60, 20, outbreak=0.8),
            seasonal_nb(5, 312, 52, 8, 1000),
        ]
    )


def _monthly_units() -> np.ndarray:
    return np.column_stack(
        [seasonal_nb(s, 120, 12, b, 3, outbreak=1.0) for s, b in ((6, 15), (7, 2), (8, 40))]
    )


WEEKLY_RANGE = list(range(261, 313))
MONTHLY_RANGE = list(range(97, 121))
CASES = [
    ("weekly_nb", "weekly", {"range": WEEKLY_RANGE}),
    ("weekly_pois", "weekly", {"range": WEEKLY_RANGE, "alpha": 0}),
    ("weekly_fixed_alpha", "weekly", {"range": WEEKLY_RANGE, "alpha": 0.2, "c.ARL": 3}),
    ("weekly_pois_dec", "weekly", {"range": WEEKLY_RANGE, "alpha": 0, "dir": "dec", "c.ARL": 2}),
    ("weekly_nb_window", "weekly", {"range": WEEKLY_RANGE, "M": 20, "Mtilde": 2}),
    ("weekly_pois_window", "weekly", {"range": WEEKLY_RANGE, "alpha": 0, "M": 10, "Mtilde": 2}),
    ("weekly_pois_cases", "weekly", {"range": WEEKLY_RANGE, "alpha": 0, "ret": "cases"}),
    ("monthly_nb_trend_S2", "monthly", {"range": MONTHLY_RANGE, "mu0": {"S": 2, "trend": True}}),
    ("monthly_pois", "monthly", {"range": MONTHLY_RANGE, "alpha": 0, "c.ARL": 4}),
    ("monthly_nb_cases", "monthly", {"range": MONTHLY_RANGE, "alpha": 0.1, "ret": "cases"}),
    ("weekly_pois_epi", "weekly", {"range": WEEKLY_RANGE, "alpha": 0, "change": "epi", "c.ARL": 3}),
    ("weekly_nb_epi", "weekly", {"range": WEEKLY_RANGE, "change": "epi"}),
    ("monthly_pois_epi_window", "monthly", {"range": MONTHLY_RANGE, "alpha": 0, "change": "epi", "M": 6}),
]


@pytest.fixture(scope="module")
def r_glrnb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("glrnb")
    data = {"weekly": _weekly_units(), "monthly": _monthly_units()}
    freq = {"weekly": 52, "monthly": 12}
    payload = [
        {"freq": freq[kind], "start": [2000, 1], "units": data[kind].T.tolist(), "control": control}
        for _, kind, control in CASES
    ]
    (tmp / "cases.json").write_text(json.dumps(payload))
    (tmp / "run.R").write_text(R_GLRNB)
    subprocess.run(
        ["Rscript", str(tmp / "run.R"), str(tmp / "cases.json"), str(tmp / "out.json")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return data, freq, json.loads((tmp / "out.json").read_text())


@pytest.mark.r
@pytest.mark.parametrize("case", range(len(CASES)), ids=[c[0] for c in CASES])
def test_glrnb_agrees_with_r_on_generated_series(r_glrnb, case):
    data, freq, r_out = r_glrnb
    _, kind, control = CASES[case]
    series = CountSeries(data[kind], freq=freq[kind])
    result = glrnb(series, GLRNBConfig.from_r_control(control, freq[kind], series.n_time))
    for j, r_unit in enumerate(r_out[case]):
        if r_unit.get("error"):
            assert np.all(np.isnan(result.upperbound[:, j]))
            assert any(series.units[j] in w for w in result.warnings)
            continue
        assert np.allclose(result.outputs["mu0"][:, j], r_unit["mu0"], rtol=1e-6), f"unit {j}"
        assert result.outputs["alpha"][0, j] == pytest.approx(r_unit["alpha"], rel=1e-5, abs=1e-9)
        assert result.alarm[:, j].tolist() == r_unit["alarm"], f"unit {j}"
        expected = np.array([np.nan if v is None else v for v in r_unit["upperbound"]], float)
        expected = np.where(np.isnan(expected), 0.0, expected)
        assert np.allclose(result.upperbound[:, j], expected, rtol=1e-6, atol=1e-8), f"unit {j}"


@pytest.mark.r
def test_glrnb_generated_cases_raise_alarms_and_sparse_units(r_glrnb):
    # the side-by-side cases are not vacuous: R raised alarms in them
    _, _, r_out = r_glrnb
    assert sum(sum(u.get("alarm", [])) for u in r_out[0]) >= 3


def test_glrnb_reads_a_control_list_as_jsonlite_writes_it_boxed():
    control = {
        "range": [10, 11, 12],
        "c.ARL": [4],
        "mu0": {},
        "alpha": [0],
        "dir": ["inc", "dec"],
        "theta": {},
    }
    config = GLRNBConfig.from_r_control(control, 52, 20)
    assert (config.range, config.c_arl, config.mu0, config.alpha, config.dir) == (
        (9, 10, 11),
        4.0,
        None,
        0.0,
        "inc",
    )
    assert (config.m, config.m_tilde, config.ret, config.change) == (-1, 1, "value", "intercept")
