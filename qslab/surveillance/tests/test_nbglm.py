"""Batched Poisson and negative-binomial GLMs against R ``glm`` and ``MASS::glm.nb`` on generated data."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from qslab.surveillance import nbglm

N_OBS, FREQ = 156, 52


def _units() -> np.ndarray:
    rng = np.random.default_rng(31)
    t = np.arange(1, N_OBS + 1)
    cols = []
    for base, theta in ((30, 4), (5, 1.5), (1, 0.8), (0.3, 2), (12, 1e4), (80, 50)):
        mu = base * np.exp(0.5 * np.cos(2 * np.pi * t / FREQ) + 0.3 * np.sin(2 * np.pi * t / FREQ))
        cols.append(rng.negative_binomial(theta, theta / (theta + mu)))
    cols.append(np.zeros(N_OBS))  # glm.nb cannot fit an all-zero series
    return np.column_stack(cols).astype(float)


R_FITS = r"""
suppressMessages(library(MASS)); library(jsonlite)
args <- commandArgs(TRUE)
y <- as.matrix(read.csv(args[1]))
t <- seq_len(nrow(y))
f <- y1 ~ 1 + t + cos(2*pi/52*t) + sin(2*pi/52*t)
out <- lapply(seq_len(ncol(y)), function(j) {
  d <- data.frame(y1 = y[, j], t = t)
  p <- suppressWarnings(glm(f, family = poisson(), data = d))
  nb <- tryCatch(suppressWarnings(glm.nb(f, data = d)), error = function(e) NULL)
  fx <- suppressWarnings(glm(f, family = negative.binomial(theta = 2), data = d))
  list(pois = unname(coef(p)), nb = if (is.null(nb)) NULL else unname(coef(nb)),
       theta = if (is.null(nb)) NULL else nb$theta, fixed = unname(coef(fx)))
})
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, null = "null"), args[2])
"""


@pytest.fixture(scope="module")
def r_fits(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nbglm")
    y = _units()
    np.savetxt(
        tmp / "y.csv", y, delimiter=",", header=",".join(f"u{j}" for j in range(y.shape[1])), comments=""
    )
    (tmp / "run.R").write_text(R_FITS)
    subprocess.run(
        ["Rscript", str(tmp / "run.R"), str(tmp / "y.csv"), str(tmp / "out.json")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return y, json.loads((tmp / "out.json").read_text())


def _design() -> np.ndarray:
    return nbglm.harmonic_design(np.arange(1.0, N_OBS + 1), FREQ, harmonics=1, trend=True)


@pytest.mark.r
def test_batched_poisson_fit_matches_r_glm(r_fits):
    y, r = r_fits
    fit = nbglm.fit_poisson(_design(), y)
    for j in range(y.shape[1] - 1):
        assert np.allclose(fit.coef[j], r[j]["pois"], rtol=1e-6, atol=1e-8), f"unit {j}"


@pytest.mark.r
def test_batched_negative_binomial_fit_matches_r_glm_nb(r_fits):
    y, r = r_fits
    fit = nbglm.fit_negbin(_design(), y)
    for j in range(y.shape[1] - 1):
        # the theta of an (almost) Poisson unit is huge and ill-determined: compare the means then
        if r[j]["theta"] < 1e3:
            assert fit.theta[j] == pytest.approx(r[j]["theta"], rel=1e-6), f"unit {j}"
            assert np.allclose(fit.coef[j], r[j]["nb"], rtol=1e-6, atol=1e-8), f"unit {j}"
        else:
            assert fit.theta[j] > 1e3
            assert np.allclose(fit.coef[j], r[j]["nb"], rtol=1e-5, atol=1e-6), f"unit {j}"
    assert r[-1]["nb"] is None
    assert not fit.ok[-1]
    assert np.all(np.isnan(fit.coef[-1]))
    assert any(i == y.shape[1] - 1 and "failed" in msg for i, msg in fit.messages)


@pytest.mark.r
def test_batched_fixed_theta_negative_binomial_fit_matches_r(r_fits):
    y, r = r_fits
    fit = nbglm.fit_negbin_fixed(_design(), y, 2.0)
    for j in range(y.shape[1] - 1):
        assert np.allclose(fit.coef[j], r[j]["fixed"], rtol=1e-6, atol=1e-8), f"unit {j}"


def test_theta_ml_recovers_the_size_of_a_large_simulated_sample():
    rng = np.random.default_rng(5)
    y = rng.negative_binomial(3.0, 3.0 / (3.0 + 10.0), size=(20000, 2)).astype(float)
    theta, hit_limit, failed = nbglm.theta_ml(y, np.full_like(y, 10.0), limit=25)
    assert np.allclose(theta, 3.0, rtol=0.05)
    assert not hit_limit.any() and not failed.any()


def test_harmonic_design_orders_columns_as_r_formulas():
    x = nbglm.harmonic_design(np.array([1.0, 2.0]), 52, harmonics=2, trend=True)
    assert x.shape == (2, 6)
    assert np.allclose(
        x[0],
        [
            1,
            1,
            np.cos(2 * np.pi / 52),
            np.sin(2 * np.pi / 52),
            np.cos(4 * np.pi / 52),
            np.sin(4 * np.pi / 52),
        ],
    )
