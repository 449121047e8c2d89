"""farringtonFlexible on thousands of sparse real series (NEISS product x diagnosis, weekly) runs to the end
and agrees with R: degenerate baseline fits (all-zero levels, diverging trends) once stopped the whole batch
with a ZeroDivisionError inside the compiled GLM kernel."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from qslab.surveillance.aggregate import count_series
from qslab.surveillance.detectors.farrington import FarringtonFlexibleConfig, farrington_flexible
from qslab.surveillance.ingest import ingest
from qslab.surveillance.sources import neiss_mapping
from qslab.surveillance.store import AnalyticalStore
from qslab.surveillance.sts import CountSeries

R_SCRIPT = """
suppressMessages(library(surveillance))
obs <- as.matrix(read.csv("{obs}", header = FALSE)); n <- nrow(obs)
r <- suppressWarnings(farringtonFlexible(sts(observed = obs, frequency = 52, start = c(2016, 52)),
                                         control = list(range = (n - 19):n, b = 3)))
write.csv(upperbound(r), "{ub}", row.names = FALSE)
write.csv(alarms(r) * 1, "{al}", row.names = FALSE)
"""


@pytest.fixture(scope="module")
def neiss_weekly(data_dir):
    neiss = data_dir / "neiss"
    store = AnalyticalStore.duckdb(":memory:")
    ingest(store, neiss / "neiss_sample_2017_2021_10k.csv.gz", neiss_mapping(neiss / "codes"), progress=False)
    series = count_series(store, ["product_code", "hazard_code"], period="week")
    store.close()
    return series.observed


@pytest.mark.r
@pytest.mark.slow
def test_sparse_real_series_are_all_scored_and_match_r(neiss_weekly, tmp_path):
    observed = neiss_weekly
    n_time, n_units = observed.shape
    assert n_units > 1000, "the sample gives well over a thousand product x diagnosis series"
    config = FarringtonFlexibleConfig(range=np.arange(n_time - 20, n_time), b=3)
    result = farrington_flexible(CountSeries(observed, freq=52, start=(2016, 52)), config)
    assert result.upperbound.shape == (20, n_units)

    totals = observed[-40:].sum(axis=0)
    rng = np.random.default_rng(3)
    chosen = np.unique(np.concatenate([np.argsort(totals)[-40:], rng.choice(n_units, 40, replace=False)]))
    paths = {k: tmp_path / f"{k}.csv" for k in ("obs", "ub", "al")}
    np.savetxt(paths["obs"], observed[:, chosen], delimiter=",", fmt="%d")
    script = R_SCRIPT.format(**{k: v.as_posix() for k, v in paths.items()})
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True, timeout=600)
    r_upper = pd.read_csv(paths["ub"]).to_numpy(float)
    r_alarm = pd.read_csv(paths["al"]).to_numpy(float)
    ours_upper, ours_alarm = result.upperbound[:, chosen], result.alarm[:, chosen]

    np.testing.assert_array_equal(np.isnan(ours_upper), np.isnan(r_upper))
    both = ~np.isnan(r_upper)
    np.testing.assert_allclose(ours_upper[both], r_upper[both], rtol=1e-6)
    np.testing.assert_array_equal(np.isnan(ours_alarm), np.isnan(r_alarm))
    np.testing.assert_array_equal(ours_alarm[~np.isnan(r_alarm)], r_alarm[~np.isnan(r_alarm)])
