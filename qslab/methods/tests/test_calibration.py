"""Straight-line calibration: GUM H.3 reference vector, SciPy and statsmodels, inverse prediction."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.calibration import straight_line


@pytest.fixture(scope="module")
def h3(reference_dir):
    data = json.loads((reference_dir / "methods" / "gum.json").read_text())
    return next(v for v in data["vectors"] if v["id"] == "gum.H3.thermometer_calibration")


def assert_leaf(actual: float, leaf: dict, what: str) -> None:
    tol = leaf.get("tol_abs", 0.0)
    if "tol_rel" in leaf:
        tol = max(tol, leaf["tol_rel"] * abs(leaf["value"]))
    assert abs(actual - leaf["value"]) <= tol + 1e-15, f"{what}: {actual!r} vs {leaf['value']!r} +/- {tol}"


def test_gum_h3_thermometer_calibration_matches_every_published_value(h3):
    i, exp = h3["inputs"], h3["expected"]
    fit = straight_line(i["t_k_degC"], i["b_k_degC"], x0=i["t0_degC"])
    assert_leaf(fit.intercept, exp["y1_intercept_degC"], "y1")
    assert_leaf(fit.u_intercept, exp["u_y1_degC"], "u(y1)")
    assert_leaf(fit.slope, exp["y2_slope"], "y2")
    assert_leaf(fit.u_slope, exp["u_y2"], "u(y2)")
    assert_leaf(fit.correlation, exp["r_y1_y2"], "r(y1, y2)")
    assert_leaf(fit.dof, exp["dof"], "dof")
    assert_leaf(fit.ssr, exp["sum_squared_residuals"], "SSR")
    p = fit.predict(i["t_predict_degC"])
    assert_leaf(p.y, exp["b_30degC"], "b(30)")
    assert_leaf(p.u, exp["u_b_30degC"], "u(b(30))")


def test_ordinary_fit_matches_scipy_linregress():
    rng = np.random.default_rng(5)
    x = np.linspace(0, 10, 25)
    y = 1.5 + 0.7 * x + rng.normal(0, 0.3, x.size)
    fit = straight_line(x, y)
    ref = stats.linregress(x, y)
    assert fit.slope == pytest.approx(ref.slope, rel=1e-12)
    assert fit.intercept == pytest.approx(ref.intercept, rel=1e-12)
    assert fit.u_slope == pytest.approx(ref.stderr, rel=1e-10)
    assert fit.u_intercept == pytest.approx(ref.intercept_stderr, rel=1e-10)


def test_weighted_fit_matches_statsmodels_wls():
    rng = np.random.default_rng(6)
    x = np.linspace(1, 20, 15)
    u_y = 0.05 + 0.02 * x
    y = 0.3 + 2.0 * x + rng.normal(0, u_y)
    X = sm.add_constant(x)
    known = sm.WLS(y, X, weights=1 / u_y**2).fit(cov_type="fixed scale")  # ISO/TS 28037: known u
    scaled = sm.WLS(y, X, weights=1 / u_y**2).fit()
    fit = straight_line(x, y, u_y=u_y)
    np.testing.assert_allclose([fit.intercept, fit.slope], known.params, rtol=1e-10)
    np.testing.assert_allclose(fit.covariance, known.cov_params(), rtol=1e-9)
    assert fit.ssr == pytest.approx(np.sum(known.wresid**2), rel=1e-10)
    fit_scaled = straight_line(x, y, u_y=u_y, scale=True)
    np.testing.assert_allclose(fit_scaled.covariance, scaled.cov_params(), rtol=1e-9)
    assert 0.0 <= fit.chi2_p_value <= 1.0


def test_inverse_prediction_matches_the_iso_11095_formula():
    x = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    y = np.array([0.02, 0.41, 0.79, 1.22, 1.58, 2.01])
    fit = straight_line(x, y)
    for m, y0 in [(1, 1.0), (3, 1.5), (5, 0.3)]:
        inv = fit.inverse(y0, replicates=m)
        b, a, s = fit.slope, fit.intercept, fit.s
        sxx = np.sum((x - x.mean()) ** 2)
        expected_u = s / b * math.sqrt(1 / m + 1 / x.size + (y0 - y.mean()) ** 2 / (b**2 * sxx))
        assert inv.x == pytest.approx((y0 - a) / b, rel=1e-12)
        assert inv.u == pytest.approx(expected_u, rel=1e-10)
        assert inv.dof == 4
    readings = [1.48, 1.50, 1.52]
    assert fit.inverse(readings).u == pytest.approx(fit.inverse(1.5, replicates=3).u, rel=1e-12)
    assert fit.inverse(1.5, replicates=3).expanded(0.95) == pytest.approx(
        stats.t.ppf(0.975, 4) * fit.inverse(1.5, replicates=3).u
    )


def test_inverse_prediction_of_a_centred_line_uses_x0(h3):
    i = h3["inputs"]
    fit = straight_line(i["t_k_degC"], i["b_k_degC"], x0=20.0)
    plain = straight_line(i["t_k_degC"], i["b_k_degC"])
    a, b = fit.inverse(-0.16, replicates=2), plain.inverse(-0.16, replicates=2)
    assert a.x == pytest.approx(b.x, rel=1e-10) and a.u == pytest.approx(b.u, rel=1e-8)


def test_weighted_inverse_prediction_needs_the_uncertainty_of_a_reading():
    fit = straight_line([1, 2, 3, 4], [2.1, 3.9, 6.2, 7.8], u_y=0.1)
    with pytest.raises(MethodInputError, match="give u_obs"):
        fit.inverse(5.0)
    inv = fit.inverse(5.0, u_obs=0.1, replicates=4)
    g = np.array([1.0, inv.x])
    assert inv.u == pytest.approx(math.sqrt(0.01 / 4 + g @ fit.covariance @ g) / fit.slope)


def test_bad_calibration_data_are_rejected():
    with pytest.raises(MethodInputError, match=r"x and y have unequal lengths \(3 and 4\)"):
        straight_line([1, 2, 3], [1, 2, 3, 4])
    with pytest.raises(MethodInputError, match="need at least 3 points"):
        straight_line([1, 2], [1, 2])
    with pytest.raises(MethodInputError, match="x values are all equal"):
        straight_line([1, 1, 1], [1, 2, 3])
    with pytest.raises(MethodInputError, match="u_y must be positive and finite"):
        straight_line([1, 2, 3], [1, 2, 3], u_y=[0.1, 0.0, 0.1])
    with pytest.raises(MethodInputError, match="replicates must be a positive integer"):
        straight_line([1, 2, 3], [1, 2, 3.1]).inverse(2.0, replicates=0)
    with pytest.raises(MethodInputError, match="contains a missing or non-finite value"):
        straight_line([1, 2, float("nan")], [1, 2, 3])


def test_fit_summary_reads_like_the_gum(h3):
    i = h3["inputs"]
    text = straight_line(i["t_k_degC"], i["b_k_degC"], x0=20.0).summary()
    assert "a = -0.1712, u(a) = 0.0029" in text
    assert "b = 0.00218, u(b) = 0.00067" in text
    assert "r(a, b) = -0.930" in text
