"""JCGM 101 Monte Carlo method against reference/methods/gum_s1.json, SciPy's distributions and the GUF."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.mcm import (
    coverage_interval,
    monte_carlo,
    numerical_tolerance,
    sample_inputs,
    validate_guf,
)
from qslab.methods.uncertainty import (
    arcsine,
    combined,
    normal,
    propagate,
    rectangular,
    student_t,
    trapezoidal,
    triangular,
    type_a,
)


@pytest.fixture(scope="module")
def s1(reference_dir):
    data = json.loads((reference_dir / "methods" / "gum_s1.json").read_text())
    return {v["id"]: v for v in data["vectors"]}


def assert_leaf(actual: float, leaf: dict, what: str) -> None:
    tol = leaf.get("tol_abs", 0.0)
    if "tol_rel" in leaf:
        tol = max(tol, leaf["tol_rel"] * abs(leaf["value"]))
    assert abs(actual - leaf["value"]) <= tol + 1e-12, f"{what}: {actual!r} vs {leaf['value']!r} +/- {tol}"


def test_jcgm101_9_2_2_additive_gaussian_model(s1):
    vec = s1["s1.9.2.2.additive_gaussian"]
    inputs = [normal(k, v["mean"], v["sd"]) for k, v in vec["inputs"].items()]
    r = monte_carlo("X1 + X2 + X3 + X4", inputs, trials=10**6, seed=2008)
    mcm, guf = vec["expected"]["mcm"], vec["expected"]["guf"]
    assert_leaf(r.y, mcm["y"], "y")
    assert_leaf(r.u, mcm["u_y"], "u(y)")
    assert_leaf(r.low, mcm["interval95_low"], "low")
    assert_leaf(r.high, mcm["interval95_high"], "high")
    assert r.guf is not None
    assert_leaf(r.guf.y, guf["y"], "GUF y")
    assert_leaf(r.guf.u_c, guf["u_y"], "GUF u")
    assert_leaf(r.guf.output().low, guf["interval95_low"], "GUF low")
    assert_leaf(r.guf.output().high, guf["interval95_high"], "GUF high")
    assert r.validation[0].passed  # JCGM 101 9.2.2: the GUF is validated for this model


def test_jcgm101_9_2_2_with_the_adaptive_procedure(s1):
    vec = s1["s1.9.2.2.additive_gaussian"]
    inputs = [normal(k, v["mean"], v["sd"]) for k, v in vec["inputs"].items()]
    r = monte_carlo("X1 + X2 + X3 + X4", inputs, adaptive=True, seed=7)
    assert r.adaptive and r.converged
    assert r.trials % 10**4 == 0 and r.trials >= 2 * 10**4
    # 7.9.4: results stable to n_dig = 2 digits of u(y) = 2.0, i.e. delta = 0.05
    assert r.u == pytest.approx(2.0, abs=0.05)
    assert r.low == pytest.approx(-3.92, abs=0.1) and r.high == pytest.approx(3.92, abs=0.1)


def test_npl_log_rectangular_shortest_interval(s1):
    vec = s1["s1.NPL.log_rectangular.shortest_interval"]
    x = vec["inputs"]["X"]
    r = monte_carlo("log(X)", [rectangular("X", low=x["low"], high=x["high"])], seed=11, interval="shortest")
    mcm, guf = vec["expected"]["mcm"], vec["expected"]["guf"]
    assert_leaf(r.y, mcm["y"], "y")
    assert_leaf(r.u, mcm["u_y"], "u(y)")
    out = r.output()
    assert_leaf(out.shortest_low, mcm["shortest95_low"], "shortest low")
    assert_leaf(out.shortest_high, mcm["shortest95_high"], "shortest high")
    assert r.guf is not None
    assert_leaf(r.guf.y, guf["y"], "GUF y")
    assert_leaf(r.guf.u_c, guf["u_y"], "GUF u")
    assert_leaf(r.guf.output().high, guf["interval95_high"], "GUF high")
    assert_leaf(r.guf.output().low, guf["interval95_low"], "GUF low")
    # the exact values of the notes: mean and sd of ln X, symmetric interval [ln 0.125, ln 1.075]
    exact = vec["exact_computed"]
    assert r.y == pytest.approx(exact["mean"]["value"], abs=2e-3)
    assert r.u == pytest.approx(exact["sd"]["value"], abs=2e-3)
    assert out.low == pytest.approx(math.log(0.125), abs=5e-3)
    assert out.high == pytest.approx(math.log(1.075), abs=3e-3)
    assert not r.validation[0].passed  # a linearised log is not validated (NPL 9.2)


def test_linear_model_gives_the_same_result_by_guf_and_mcm():
    inputs = [
        normal("a", 1.0, 0.2),
        rectangular("b", 2.0, half_width=0.3),
        triangular("c", -1.0, half_width=0.4),
        normal("d", 0.5, 0.1),
    ]
    model = "2*a - b + 0.5*c + 3*d"
    r = monte_carlo(model, inputs, seed=3, correlations={("a", "d"): 0.4})
    guf = propagate(model, inputs, correlations={("a", "d"): 0.4})
    assert r.y == pytest.approx(guf.y, abs=3 * guf.u_c / 1000)
    assert r.u == pytest.approx(guf.u_c, rel=3e-3)


def test_several_outputs_have_the_covariance_of_the_guf_for_a_linear_model():
    inputs = [normal("a", 1.0, 0.3), normal("b", 2.0, 0.4)]
    model = {"s": "a + b", "d": "a - b"}
    r = monte_carlo(model, inputs, seed=5, correlations={("a", "b"): 0.25})
    guf = propagate(model, inputs, correlations={("a", "b"): 0.25})
    np.testing.assert_allclose(r.covariance, guf.covariance, atol=3e-3)
    np.testing.assert_allclose(r.correlation, guf.correlation, atol=3e-3)
    assert "Correlation of the outputs" in r.summary()


def test_product_of_two_zero_mean_inputs_has_sd_u1_u2_as_the_second_order_guf():
    inputs = [normal("x1", 0.0, 0.3), normal("x2", 0.0, 0.7)]
    r = monte_carlo("x1*x2", inputs, seed=9)
    second = propagate("x1*x2", inputs, second_order=True)
    assert r.u == pytest.approx(second.u_c, rel=5e-3)
    assert second.u_c == pytest.approx(0.21)


@pytest.mark.parametrize(
    ("quantity", "reference"),
    [
        (normal("q", 1.0, 0.5), stats.norm(1.0, 0.5)),
        (rectangular("q", 1.0, half_width=0.5), stats.uniform(0.5, 1.0)),
        (triangular("q", 1.0, half_width=0.5), stats.triang(0.5, loc=0.5, scale=1.0)),
        (arcsine("q", 1.0, half_width=0.5), stats.arcsine(loc=0.5, scale=1.0)),
        (student_t("q", 1.0, 0.5, 4), stats.t(4, loc=1.0, scale=0.5)),
        (trapezoidal("q", 1.0, half_width=0.5, beta=0.0), stats.triang(0.5, loc=0.5, scale=1.0)),
        (trapezoidal("q", 1.0, half_width=0.5, beta=1.0), stats.uniform(0.5, 1.0)),
        (trapezoidal("q", 0.0, half_width=1.0, beta=0.5), stats.trapezoid(0.25, 0.75, loc=-1.0, scale=2.0)),
    ],
)
def test_each_distribution_is_sampled_as_scipy_defines_it(quantity, reference):
    draws = sample_inputs([quantity], 200_000, np.random.default_rng(12))["q"]
    assert stats.kstest(draws, reference.cdf).pvalue > 1e-3
    if quantity.distribution != "t":  # the GUF u of a t input is its scale, not its sd
        assert draws.std() == pytest.approx(quantity.u, rel=1e-2)


def test_combined_and_type_a_inputs_are_sampled_from_their_parts():
    rng = np.random.default_rng(1)
    d = combined("d", 10.0, [normal("p", 0, 0.3), rectangular("r", 0, half_width=0.4)])
    draws = sample_inputs([d], 200_000, rng)["d"]
    assert draws.mean() == pytest.approx(10.0, abs=0.005)
    assert draws.std() == pytest.approx(d.u, rel=1e-2)
    q = type_a("t", [1.0, 1.2, 0.9, 1.1, 1.05, 0.95, 1.0, 1.1])  # 7 dof -> sd = u sqrt(7/5)
    draws = sample_inputs([q], 400_000, rng)["t"]
    assert draws.std() == pytest.approx(q.u * math.sqrt(7 / 5), rel=1e-2)


def test_correlated_gaussian_inputs_have_the_stated_correlation():
    inputs = [normal("a", 0, 1.0), normal("b", 5, 2.0), normal("c", 0, 0.5)]
    R = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, -0.3], [0.0, -0.3, 1.0]])
    draws = sample_inputs(inputs, 200_000, np.random.default_rng(2), R)
    sample = np.corrcoef(np.vstack([draws["a"], draws["b"], draws["c"]]))
    np.testing.assert_allclose(sample, R, atol=0.01)
    assert draws["b"].std() == pytest.approx(2.0, rel=1e-2)
    # a singular (semi-definite) correlation still samples (symmetric square root)
    singular = sample_inputs(inputs[:2], 1000, np.random.default_rng(2), np.ones((2, 2)))
    np.testing.assert_allclose(singular["b"] - 5, 2 * singular["a"], atol=1e-9)


def test_correlated_non_gaussian_inputs_are_refused():
    with pytest.raises(MethodInputError, match=r"correlated input 'b' must have a normal distribution"):
        monte_carlo(
            "a + b", [normal("a", 0, 1), rectangular("b", 0, half_width=1)], correlations={("a", "b"): 0.5}
        )


def test_the_same_seed_gives_the_same_result_and_another_seed_does_not():
    inputs = [normal("a", 0, 1), rectangular("b", 0, half_width=1)]
    r1 = monte_carlo("a*b + a", inputs, trials=50_000, seed=42, keep_samples=True)
    r2 = monte_carlo("a*b + a", inputs, trials=50_000, seed=42, keep_samples=True)
    r3 = monte_carlo("a*b + a", inputs, trials=50_000, seed=43)
    assert r1.samples is not None and r2.samples is not None
    np.testing.assert_array_equal(r1.samples, r2.samples)
    assert r1.u != r3.u
    assert "samples" not in r1.to_dict()
    # chunking does not change the draws' statistics (same generator, different chunk boundaries)
    r4 = monte_carlo("a*b + a", inputs, trials=50_000, seed=42, chunk_size=7_000)
    assert r4.u == pytest.approx(r1.u, rel=0.02)


def test_coverage_intervals_pick_the_order_statistics_of_jcgm101_7_7():
    values = np.arange(1.0, 101.0)  # M = 100, p = 0.9 -> q = 90, r = 5
    assert coverage_interval(values, 0.9) == (5.0, 95.0)
    values = np.arange(1.0, 102.0)  # M = 101, q = int(90.9 + 0.5) = 91, r = (101 - 91)/2 = 5
    assert coverage_interval(values, 0.9) == (5.0, 96.0)
    skewed = np.sort(np.concatenate([np.zeros(50), np.linspace(1, 100, 50)]))
    low, high = coverage_interval(skewed, 0.5, "shortest")
    assert (low, high) == (0.0, 1.0)  # q = 50 spans 51 order statistics: 50 zeros and the first 1
    with pytest.raises(MethodInputError, match="interval must be 'symmetric' or 'shortest'"):
        coverage_interval(values, 0.9, "central")


def test_numerical_tolerance_follows_jcgm101_7_9_2():
    assert numerical_tolerance(0.0345) == 0.0005  # 35 x 10^-3
    assert numerical_tolerance(2.0) == 0.05
    assert numerical_tolerance(0.0996) == 0.005  # rounds to 10 x 10^-2
    assert numerical_tolerance(31.7, n_dig=1) == 5.0


def test_validation_reports_d_low_d_high_and_delta():
    inputs = [normal("a", 0, 1)]
    r = monte_carlo("exp(a)", inputs, seed=1, trials=200_000)
    v = validate_guf(r.guf, r)[0]
    assert not v.passed
    assert v.d_low == pytest.approx(abs(r.guf.y - r.guf.U - r.low))
    assert v.d_high == pytest.approx(abs(r.guf.y + r.guf.U - r.high))
    assert v.delta == numerical_tolerance(r.guf.u_c)
    assert "NOT validated" in v.summary()


def test_non_finite_model_values_are_reported():
    with pytest.raises(
        MethodInputError, match=r"model gives a non-finite value for 'y' in \d+ of 10000 trials"
    ):
        monte_carlo("sqrt(a)", [normal("a", 1.0, 1.0)], trials=10_000, seed=1, validate=False)


def test_too_few_trials_for_the_coverage_level_are_refused():
    with pytest.raises(MethodInputError, match=r"trials must be at least 100/\(1 - p\) = 2000"):
        monte_carlo("a", [normal("a", 0, 1)], trials=1000)
    with pytest.raises(MethodInputError, match="trials must be an integer of at least 2"):
        monte_carlo("a", [normal("a", 0, 1)], trials=1.5)


def test_a_callable_model_runs_vectorised():
    calls = []

    def model(a, b):
        calls.append(np.shape(a))
        return a * np.exp(b)

    inputs = [normal("a", 2.0, 0.1), normal("b", 0.0, 0.01)]
    r = monte_carlo(model, inputs, trials=100_000, seed=1, validate=False, chunk_size=50_000)
    assert calls == [(50_000,), (50_000,)]
    assert r.u == pytest.approx(math.hypot(0.1, 0.02), rel=2e-2)


def test_summary_and_to_dict_describe_the_run():
    r = monte_carlo("a + b", [normal("a", 1, 0.1), normal("b", 2, 0.1)], trials=20_000, seed=3)
    text = r.summary()
    assert "20000 trials, fixed, seed 3" in text
    assert "probabilistically symmetric interval" in text and "shortest" in text
    data = r.to_dict()
    assert data["trials"] == 20_000 and data["estimates"][0]["label"] == "y"
    assert data["validation"][0]["passed"] in (True, False)
