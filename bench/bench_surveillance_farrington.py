"""farringtonFlexible (original and Noufaily settings) on 1,000 weekly series vs R surveillance.

1,000 seeded synthetic weekly negative-binomial series of 364 weeks (seasonal, levels 0.5 to 80 a
week, one in five with a four-week outbreak in the scored year), the last 52 weeks scored: 52,000
baselines per variant, each one to four GLM fits. All units go through one call. R surveillance
1.20.3 runs ``farringtonFlexible`` with the same control on a subset of the same series in the same
run (timed inside R, without start-up); its time is extrapolated per series to 1,000 and the table
says so. Alarm agreement is measured on the subset over every scored point (NA = NA agrees).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from bench.harness import Row, peak_python_mib, timed
from qslab.surveillance.detectors.farrington import FarringtonFlexibleConfig, farrington_flexible
from qslab.surveillance.sts import CountSeries

N_SERIES, N_WEEKS, N_SCORED = 1000, 364, 52

R_SCRIPT = r"""
suppressMessages(library(surveillance)); library(jsonlite)
a <- commandArgs(TRUE)
y <- as.matrix(read.csv(a[1], header = FALSE))
rng <- (nrow(y) - 51):nrow(y)
s <- sts(observed = y, start = c(2000, 1), frequency = 52)
variants <- list(
  orig = list(range = rng, glmWarnings = FALSE),
  noufaily = list(range = rng, noPeriods = 10, pastWeeksNotIncluded = 26, weightsThreshold = 2.58,
                  pThresholdTrend = 1, thresholdMethod = "nbPlugin", glmWarnings = FALSE)
)
out <- list()
for (v in names(variants)) {
  el <- system.time(r <- suppressWarnings(farringtonFlexible(s, variants[[v]])))[["elapsed"]]
  out[[v]] <- list(seconds = el, alarms = lapply(seq_len(ncol(y)), function(j) as.numeric(r@alarm[, j])))
}
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, na = "null"), a[2])
"""

VARIANTS = {
    "orig": ("farringtonFlexible original", FarringtonFlexibleConfig(glm_warnings=False)),
    "noufaily": (
        "farringtonFlexible Noufaily (nbPlugin)",
        FarringtonFlexibleConfig.noufaily(glm_warnings=False),
    ),
}


def synthetic_weekly(n_series: int = N_SERIES, n_weeks: int = N_WEEKS, seed: int = 1996) -> np.ndarray:
    """Seeded seasonal NB counts (n_weeks, n_series), outbreaks in the scored year of one in five."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, n_weeks + 1)[:, None]
    level = np.exp(rng.uniform(np.log(0.5), np.log(80), n_series))
    amp = rng.uniform(0.1, 0.9, n_series)
    phase = rng.uniform(0, 2 * np.pi, n_series)
    trend = rng.normal(0, 0.001, n_series)
    theta = np.exp(rng.uniform(np.log(0.8), np.log(50), n_series))
    mu = level * np.exp(amp * np.cos(2 * np.pi * t / 52 + phase) + trend * t)
    start = rng.integers(n_weeks - N_SCORED, n_weeks - 4, n_series)
    outbreak = (rng.random(n_series) < 0.2)[None, :] & (t >= start) & (t < start + 4)
    mu = np.where(outbreak, mu * 3, mu)
    return rng.negative_binomial(theta, theta / (theta + mu)).astype(float)


def _run_r(y_subset: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.savetxt(d / "y.csv", y_subset, delimiter=",", fmt="%d")
        (d / "run.R").write_text(R_SCRIPT)
        subprocess.run(
            ["Rscript", str(d / "run.R"), str(d / "y.csv"), str(d / "out.json")],
            check=True,
            capture_output=True,
            timeout=3600,
        )
        return json.loads((d / "out.json").read_text())


def run(quick: bool) -> list[Row]:
    n_series = 200 if quick else N_SERIES
    n_r = 10 if quick else 40
    y = synthetic_weekly(n_series)
    series = CountSeries(y, freq=52, start=(2000, 1))
    scored = tuple(range(N_WEEKS - N_SCORED, N_WEEKS))
    r_out = _run_r(y[:, :n_r])
    rows = []
    for key, (label, base) in VARIANTS.items():
        config = dataclasses.replace(base, range=scored)
        farrington_flexible(CountSeries(y[:, :3], freq=52), config)  # load the compiled kernels
        seconds, result = timed(lambda config=config: farrington_flexible(series, config), repeat=3)
        peak, _ = peak_python_mib(lambda config=config: farrington_flexible(series, config))
        r_alarms = np.array(
            [[np.nan if a is None else a for a in unit] for unit in r_out[key]["alarms"]], dtype=float
        ).T
        ours = result.alarm[:, :n_r]
        agree = float(np.mean((ours == r_alarms) | (np.isnan(ours) & np.isnan(r_alarms))))
        r_seconds = r_out[key]["seconds"] / n_r * n_series
        ratio = r_seconds / seconds
        rows.append(
            Row(
                benchmark=f"{label}, {n_series} x {N_WEEKS} weeks, last {N_SCORED} scored "
                f"({n_series * N_SCORED} baselines)",
                ours_seconds=seconds,
                reference=f"R surveillance 1.20.3 (on {n_r} series, extrapolated per series)",
                reference_seconds=r_seconds,
                ours_peak_mib=peak,
                target=">= 200x R, alarms agree >= 99.9 %",
                met=bool(ratio >= 200 and agree >= 0.999),
                note=f"alarm agreement {agree * 100:.2f} % on {n_r * N_SCORED} points; "
                f"R {r_out[key]['seconds'] / (n_r * N_SCORED) * 1e3:.2f} ms per baseline",
            )
        )
    return rows
