"""Batched IRLS for (quasi-)Poisson GLMs, checked against statsmodels and against each other."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from qslab.surveillance.glm import GlmError, anscombe_residuals, fit_level_trend_glm, fit_poisson_glm


def _random_problems(seed: int, n_fits: int = 6, n_obs: int = 40):
    rng = np.random.default_rng(seed)
    t = np.arange(n_obs, dtype=float)
    X = np.stack([np.column_stack([np.ones(n_obs), t / 10, np.sin(t / 5)]) for _ in range(n_fits)])
    beta = np.column_stack(
        [rng.uniform(0.5, 3, n_fits), rng.normal(0, 0.1, n_fits), rng.normal(0, 0.3, n_fits)]
    )
    mu = np.exp(np.einsum("fop,fp->fo", X, beta))
    y = rng.negative_binomial(4, 4 / (4 + mu)).astype(float)
    offset = rng.normal(0, 0.2, y.shape)
    weights = rng.uniform(0.3, 2.0, y.shape)
    return X, y, offset, weights


def test_batched_glm_matches_statsmodels_quasi_poisson_fit_by_fit():
    X, y, offset, weights = _random_problems(1)
    fit = fit_poisson_glm(X, y, offset=offset, prior_weights=weights)
    assert fit.converged.all()
    for f in range(y.shape[0]):
        ref = sm.GLM(y[f], X[f], family=sm.families.Poisson(), offset=offset[f], var_weights=weights[f]).fit(
            scale="X2", tol=1e-12
        )
        np.testing.assert_allclose(fit.coefficients[f], ref.params, rtol=1e-7)
        np.testing.assert_allclose(fit.fitted[f], ref.fittedvalues, rtol=1e-7)
        # statsmodels evaluates the Pearson statistic and the weights at the final mu; R (and we) use the
        # working weights of the last IRLS step, which differ from the final ones by the last step
        # (about 1e-5 relative at R's 1e-8 deviance criterion), so these agree to 1e-4 only ...
        np.testing.assert_allclose(fit.dispersion[f], ref.scale, rtol=1e-4)
        np.testing.assert_allclose(fit.std_errors[f], ref.bse, rtol=1e-4)
        np.testing.assert_allclose(fit.hat[f], ref.get_hat_matrix_diag(), rtol=1e-4)
        # ... while the Pearson statistic at the final fit is statsmodels' scale (to the 1e-8 criterion)
        mu = fit.fitted[f]
        pearson = np.sum(weights[f] * (y[f] - mu) ** 2 / mu) / fit.df_residual[f]
        np.testing.assert_allclose(pearson, ref.scale, rtol=1e-7)


def test_anscombe_residuals_match_statsmodels_with_hat_standardisation():
    X, y, _, _ = _random_problems(2, n_fits=1)
    fit = fit_poisson_glm(X, y, family="poisson")
    ref = sm.GLM(y[0], X[0], family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(
        fit.anscombe[0] * np.sqrt(1 - fit.hat[0]), ref.resid_anscombe, rtol=1e-6, atol=1e-9
    )
    direct = anscombe_residuals(y, fit.fitted, fit.hat, np.array([2.0]))
    np.testing.assert_allclose(direct, fit.anscombe / np.sqrt(2.0), rtol=1e-12)


def test_poisson_family_reports_unit_dispersion_and_masked_rows_are_left_out():
    X, y, _, _ = _random_problems(3, n_fits=2)
    mask = np.ones(y.shape, dtype=bool)
    mask[:, :5] = False
    fit = fit_poisson_glm(X, y, mask=mask, family="poisson")
    short = fit_poisson_glm(X[:, 5:], y[:, 5:], family="poisson")
    np.testing.assert_allclose(fit.coefficients, short.coefficients, rtol=1e-12)
    np.testing.assert_array_equal(fit.dispersion, [1.0, 1.0])
    assert np.isnan(fit.fitted[:, :5]).all()
    np.testing.assert_array_equal(fit.df_residual, [32, 32])


def test_level_trend_fit_equals_the_dense_fit_of_the_same_design():
    rng = np.random.default_rng(4)
    n_obs, n_levels = 60, 3
    level = rng.integers(0, n_levels, size=(2, n_obs))
    t = np.sort(rng.uniform(-50, 0, size=(2, n_obs)), axis=1)
    group = np.array([0, 0, 1, 1, 1])
    y = rng.poisson(6.0, size=(5, n_obs)).astype(float)
    offset = rng.normal(0, 0.1, size=y.shape)
    weights = rng.uniform(0.5, 1.5, size=y.shape)
    trend = np.array([True, False, True, True, False])
    fit = fit_level_trend_glm(y, level, t, group=group, trend=trend, offset=offset, prior_weights=weights)
    for f in range(5):
        g = group[f]
        cols = [(level[g] == lv).astype(float) for lv in range(n_levels)]
        if trend[f]:
            cols.append(t[g])
        X = np.column_stack(cols)
        dense = fit_poisson_glm(X, y[f : f + 1], offset=offset[f : f + 1], prior_weights=weights[f : f + 1])
        np.testing.assert_allclose(fit.level_coef[f], dense.coefficients[0, :n_levels], rtol=1e-9)
        if trend[f]:
            np.testing.assert_allclose(fit.slope[f], dense.coefficients[0, -1], rtol=1e-9)
        np.testing.assert_allclose(fit.dispersion[f], dense.dispersion[0], rtol=1e-9)
        np.testing.assert_allclose(fit.hat[f], dense.hat[0], rtol=1e-9)
        np.testing.assert_array_equal(fit.iterations[f], dense.iterations[0])
        x0 = np.zeros(X.shape[1])
        x0[1] = 1.0
        if trend[f]:
            x0[-1] = -3.0
        var = x0 @ dense.cov_unscaled[0] @ x0
        np.testing.assert_allclose(fit.link_variance(1, -3.0)[f], var, rtol=1e-9)


def test_absent_levels_get_nan_coefficients_and_do_not_count_in_the_rank():
    y = np.array([[3.0, 4.0, 5.0, 6.0, 2.0]])
    level = np.array([[0, 0, 0, 2, 2]])
    fit = fit_level_trend_glm(y, level, np.arange(5.0)[None, :], trend=False, n_levels=3)
    assert np.isnan(fit.level_coef[0, 1])
    assert fit.rank[0] == 2
    assert fit.df_residual[0] == 3
    np.testing.assert_allclose(np.exp(fit.level_coef[0, [0, 2]]), [4.0, 4.0], rtol=1e-9)


def test_an_all_zero_series_runs_to_r_s_iteration_limit_behaviour():
    # R's glm.fit needs about two dozen iterations here: mu shrinks by e each step until the
    # relative deviance change falls below 1e-8
    y = np.zeros((1, 35))
    fit = fit_level_trend_glm(y, np.zeros((1, 35), int), np.arange(35.0)[None, :], trend=False)
    assert fit.converged[0]
    assert 20 <= fit.iterations[0] <= 25
    assert fit.fitted[0, 0] < 1e-9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"family": "binomial"}, "family must be one of poisson, quasipoisson, got 'binomial'"),
        ({"mask": np.ones((1, 3), bool)}, "mask must have the shape of y (1, 4), got (1, 3)"),
        ({"prior_weights": -np.ones((1, 4))}, "prior_weights must be non-negative"),
    ],
)
def test_dense_glm_rejects_bad_inputs_with_exact_messages(kwargs, message):
    X = np.column_stack([np.ones(4), np.arange(4.0)])
    with pytest.raises(GlmError) as err:
        fit_poisson_glm(X, np.array([[1.0, 2.0, 3.0, 4.0]]), **kwargs)
    assert str(err.value) == message


def test_level_trend_glm_rejects_out_of_range_level_codes():
    with pytest.raises(GlmError, match=r"level codes must lie in 0\.\.1"):
        fit_level_trend_glm(np.ones((1, 3)), np.array([[0, 1, 2]]), np.zeros((1, 3)), n_levels=2)
