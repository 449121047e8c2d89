"""GUM uncertainty framework (JCGM 100) against the published vectors in reference/methods/gum.json."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.uncertainty import (
    arcsine,
    combined,
    correlation_matrix,
    coverage_factor,
    dof_from_relative_uncertainty,
    format_value,
    normal,
    pooled_sd,
    propagate,
    rectangular,
    student_t,
    trapezoidal,
    triangular,
    type_a,
    welch_satterthwaite,
)


@pytest.fixture(scope="module")
def gum(reference_dir):
    data = json.loads((reference_dir / "methods" / "gum.json").read_text())
    return {v["id"]: v for v in data["vectors"]}


def assert_leaf(actual: float, leaf: dict, what: str) -> None:
    """Check a value against a reference leaf with its stated tolerance (README: tol_abs / tol_rel)."""
    assert leaf["status"] in ("published", "software-reference", "certified", "computed, not published")
    tol = leaf.get("tol_abs", 0.0)
    if "tol_rel" in leaf:
        tol = max(tol, leaf["tol_rel"] * abs(leaf["value"]))
    assert abs(actual - leaf["value"]) <= tol + 1e-12, (
        f"{what}: {actual!r} vs {leaf['value']!r} +/- {tol} ({leaf['status']})"
    )


def h1_inputs(vec: dict, theta_components: bool = False):
    """GUM H.1 inputs as printed in Table H.1 (the vector's x, u and nu)."""
    i = vec["inputs"]

    def nu(v):
        return math.inf if v == "inf" else float(v)

    comps = i["d"]["components"]
    d = combined(
        "d",
        i["d"]["x"],
        [
            student_t("d_mean", 0.0, comps[0]["u"], comps[0]["nu"]),
            normal("d_random", 0.0, comps[1]["u"], dof=comps[1]["nu"]),
            normal("d_systematic", 0.0, comps[2]["u"], dof=comps[2]["nu"]),
        ],
    )
    if theta_components:
        theta = combined("theta", -0.1, [normal("theta_mean", 0, 0.2), arcsine("Delta", 0, half_width=0.5)])
    else:
        theta = normal("theta", i["theta"]["x"], i["theta"]["u"], dof=nu(i["theta"]["nu"]))
    return [
        normal("l_s", i["l_s"]["x"], U=75, k=3, dof=i["l_s"]["nu"]),
        d,
        rectangular("alpha_s", i["alpha_s"]["x"], u=i["alpha_s"]["u"], dof=nu(i["alpha_s"]["nu"])),
        theta,
        rectangular(
            "delta_alpha", i["delta_alpha"]["x"], u=i["delta_alpha"]["u"], dof=nu(i["delta_alpha"]["nu"])
        ),
        rectangular(
            "delta_theta", i["delta_theta"]["x"], u=i["delta_theta"]["u"], dof=nu(i["delta_theta"]["nu"])
        ),
    ]


H1_MODEL = "l_s + d - l_s*(delta_alpha*theta + alpha_s*delta_theta)"


def test_gum_h1_end_gauge_matches_every_published_value(gum):
    vec = gum["gum.H1.end_gauge"]
    exp = vec["expected"]
    inputs = h1_inputs(vec)
    assert inputs[0].u == vec["inputs"]["l_s"]["u"]
    r = propagate(H1_MODEL, inputs, level=0.99, output="l")
    budget = r.budget()
    assert_leaf(r.y, exp["l_nm"], "l")
    assert_leaf(budget.row("d").u, exp["u_d_nm"], "u(d)")
    assert_leaf(budget.row("d").dof, exp["nu_d"], "nu(d)")
    for name in ("l_s", "d", "alpha_s", "theta", "delta_alpha", "delta_theta"):
        assert_leaf(budget.row(name).contribution, exp[f"contribution_{name}_nm"], f"contribution of {name}")
    assert_leaf(r.u_c, exp["u_c_nm"], "u_c")
    assert_leaf(r.nu_eff, exp["nu_eff"], "nu_eff")
    assert math.floor(r.nu_eff) == exp["nu_eff_truncated"]["value"]
    assert r.output().nu_used == exp["nu_eff_truncated"]["value"]
    assert_leaf(r.k, exp["k_99"], "k_99")
    assert_leaf(r.U, exp["U_99_nm"], "U_99")
    second = propagate(H1_MODEL, inputs, level=0.99, output="l", second_order=True)
    assert_leaf(second.u_c, exp["u_c_second_order_nm"], "u_c with second-order terms")
    # informational cross-check block
    assert r.u_c == pytest.approx(vec["cross_check_computed"]["u_c_nm"]["value"], abs=1e-4)


def test_gum_h1_second_order_terms_equal_the_closed_form_of_h17(gum):
    vec = gum["gum.H1.end_gauge"]
    inputs = h1_inputs(vec)
    first = propagate(H1_MODEL, inputs, output="l")
    second = propagate(H1_MODEL, inputs, output="l", second_order=True)
    l_s = 50_000_623.0
    u = {q.label: q.u for q in inputs}
    closed = (l_s * u["delta_alpha"] * u["theta"]) ** 2 + (l_s * u["alpha_s"] * u["delta_theta"]) ** 2
    assert second.second_order_variance[0] == pytest.approx(closed, rel=1e-9)
    assert second.u_c**2 == pytest.approx(first.u_c**2 + closed, rel=1e-12)


def test_numerical_sensitivities_of_a_callable_match_the_analytic_ones(gum):
    inputs = h1_inputs(gum["gum.H1.end_gauge"], theta_components=True)

    def f(l_s, d, alpha_s, theta, delta_alpha, delta_theta):
        return l_s + d - l_s * (delta_alpha * theta + alpha_s * delta_theta)

    analytic = propagate(H1_MODEL, inputs, level=0.99, second_order=True)
    numeric = propagate(f, inputs, level=0.99, second_order=True)
    assert analytic.analytic_sensitivities and not numeric.analytic_sensitivities
    np.testing.assert_allclose(numeric.sensitivities, analytic.sensitivities, rtol=1e-7, atol=1e-9)
    first = propagate(f, inputs, level=0.99)
    assert first.u_c == pytest.approx(propagate(H1_MODEL, inputs, level=0.99).u_c, rel=1e-8)
    # finite-difference second and third derivatives are good to about 1e-5 here
    assert numeric.second_order_variance[0] == pytest.approx(analytic.second_order_variance[0], rel=1e-5)
    assert numeric.u_c == pytest.approx(analytic.u_c, rel=1e-6)


def test_a_supplied_gradient_is_used_for_a_callable_model():
    inputs = [normal("a", 2.0, 0.1), normal("b", 3.0, 0.2)]
    r = propagate(lambda a, b: a * b, inputs, gradient=lambda a, b: {"a": b, "b": a})
    assert r.analytic_sensitivities
    np.testing.assert_array_equal(r.sensitivities, [[3.0, 2.0]])
    assert r.u_c == pytest.approx(math.hypot(0.3, 0.4))


def test_ea402_s2_weight_calibration_matches_the_published_budget(gum):
    vec = gum["gum.EA402.S2_weight_10kg"]
    i, exp = vec["inputs"], vec["expected"]
    inputs = [
        normal("m_S", i["m_S"]["x"], U=i["m_S"]["U"], k=i["m_S"]["k"]),
        rectangular("dm_D", i["dm_D"]["x"], half_width=i["dm_D"]["half_width"]),
        normal("dm", i["dm"]["x"], i["dm"]["u"]),
        rectangular("dm_C", i["dm_C"]["x"], half_width=i["dm_C"]["half_width"]),
        rectangular("dB", i["dB"]["x"], half_width=i["dB"]["half_width"]),
    ]
    r = propagate("m_S + dm_D + dm + dm_C + dB", inputs, k=2.0)
    assert_leaf(r.y, exp["m_X_g"], "m_X")
    assert_leaf(r.u_c, exp["u_c_g"], "u_c")
    assert_leaf(r.U, exp["U_g"], "U")
    assert_leaf(r.k, exp["k"], "k")
    budget = r.budget()
    for name, leaf in exp["index_percent"].items():
        assert_leaf(100 * budget.row(name).share, leaf, f"index of {name}")
    assert sum(row.share for row in budget.rows) == pytest.approx(1.0)
    assert r.u_c == pytest.approx(vec["cross_check_computed"]["u_c_g"]["value"], abs=1e-6)


def test_welch_satterthwaite_two_component_example(gum):
    vec = gum["gum.WS.two_component"]
    i = vec["inputs"]
    nu = welch_satterthwaite([i["a"]["u"], i["b"]["u"]], [i["a"]["nu"], math.inf])
    assert_leaf(nu, vec["expected"]["nu_eff"], "nu_eff")
    r = propagate("a + b", [normal("a", 0, i["a"]["u"], dof=i["a"]["nu"]), normal("b", 0, i["b"]["u"])])
    assert_leaf(r.nu_eff, vec["expected"]["nu_eff"], "nu_eff via propagate")


def test_quam_a1_cadmium_standard_matches_the_gtc_budget(gum):
    vec = gum["gum.QUAM.A1.cadmium_standard"]
    i, exp = vec["inputs"], vec["expected"]
    inputs = [
        normal("m", i["m_mg"]["x"], i["m_mg"]["u"]),
        rectangular("P", i["P"]["x"], half_width=i["P"]["half_width"]),
        triangular("V_flask", i["V_flask_mL"]["x"], half_width=i["V_flask_mL"]["half_width"]),
        normal("V_rep", i["V_rep_mL"]["x"], i["V_rep_mL"]["u"]),
        rectangular("V_T", i["V_T_mL"]["x"], half_width=i["V_T_mL"]["half_width"]),
    ]
    # the volume as an intermediate output used by the concentration (substituted symbolically)
    r = propagate({"V": "V_flask + V_rep + V_T", "c_Cd": "1000*m*P/V"}, inputs)
    c = r.output("c_Cd")
    assert_leaf(c.y, exp["c_Cd_mg_per_L"], "c_Cd")
    assert_leaf(c.u_c, exp["u_c_mg_per_L"], "u_c")
    budget = r.budget("c_Cd")
    for name in ("m", "V_T", "V_flask", "V_rep", "P"):
        assert_leaf(
            budget.row(name).contribution, exp["contributions_mg_per_L"][name], f"contribution of {name}"
        )
    # the contribution of V as a whole: V evaluated first, then used as an input
    V = r.output("V")
    staged = propagate("1000*m*P/V", [inputs[0], inputs[1], normal("V", V.y, V.u_c)])
    assert_leaf(staged.budget().row("V").contribution, exp["contributions_mg_per_L"]["V_combined"], "V")
    assert staged.u_c == pytest.approx(c.u_c, rel=1e-12)


def test_correlated_inputs_follow_gum_eq_16():
    a, b = normal("a", 1.0, 0.3), normal("b", 2.0, 0.4)
    for r in (-1.0, -0.5, 0.0, 0.7, 1.0):
        res = propagate("a + b", [a, b], correlations={("a", "b"): r})
        assert res.u_c == pytest.approx(math.sqrt(0.09 + 0.16 + 2 * r * 0.12), abs=1e-12)
    # fully correlated equal uncertainties cancel in a difference (GUM 5.2.2 note 1)
    res = propagate("a - b", [normal("a", 1.0, 0.3), normal("b", 2.0, 0.3)], correlations={("a", "b"): 1.0})
    assert res.u_c == pytest.approx(0.0, abs=1e-12)


def test_several_outputs_have_the_first_order_covariance_j_v_jt():
    inputs = [normal("a", 1.0, 0.3), normal("b", 2.0, 0.4)]
    r = propagate({"s": "a + b", "d": "a - b"}, inputs, correlations={("a", "b"): 0.25})
    cov_ab = 0.25 * 0.3 * 0.4
    expected = np.array([[0.09 + 0.16 + 2 * cov_ab, 0.09 - 0.16], [0.09 - 0.16, 0.09 + 0.16 - 2 * cov_ab]])
    np.testing.assert_allclose(r.covariance, expected, atol=1e-15)
    assert r.correlation[0, 1] == pytest.approx(expected[0, 1] / math.sqrt(expected[0, 0] * expected[1, 1]))
    assert r.outputs == ("s", "d")
    assert "Correlation of the outputs" in r.summary()


def test_second_order_term_for_a_product_of_two_zero_mean_inputs_is_u1_u2():
    # first order sees nothing; the 5.1.2 note gives the exact variance u1^2 u2^2
    inputs = [normal("x1", 0.0, 0.3), normal("x2", 0.0, 0.7)]
    assert propagate("x1*x2", inputs).u_c == 0.0
    assert propagate("x1*x2", inputs, second_order=True).u_c == pytest.approx(0.21, rel=1e-12)
    numeric = propagate(lambda x1, x2: x1 * x2, inputs, second_order=True)
    assert numeric.u_c == pytest.approx(0.21, rel=1e-6)


def test_second_order_term_of_a_nonlinear_model_matches_the_exact_variance():
    # y = x^2 with x ~ N(mu, u^2): Var = 4 mu^2 u^2 + 2 u^4, which the 5.1.2 note reproduces exactly
    mu, u = 1.5, 0.4
    r = propagate("x**2", [normal("x", mu, u)], second_order=True)
    assert r.u_c**2 == pytest.approx(4 * mu**2 * u**2 + 2 * u**4, rel=1e-12)


def test_second_order_with_correlated_inputs_is_refused():
    with pytest.raises(MethodInputError, match=r"second-order terms .* assume independent inputs"):
        propagate(
            "a*b", [normal("a", 1, 1), normal("b", 1, 1)], correlations={("a", "b"): 0.5}, second_order=True
        )


def test_nu_eff_is_undefined_for_correlated_inputs_with_finite_dof():
    inputs = [normal("a", 1, 0.1, dof=5), normal("b", 1, 0.1, dof=5)]
    r = propagate("a + b", inputs, correlations={("a", "b"): 0.5})
    assert math.isnan(r.nu_eff) and math.isnan(r.U)
    assert "nu_eff of y is undefined" in r.summary()
    assert pytest.approx(2 * r.u_c) == propagate("a + b", inputs, correlations={("a", "b"): 0.5}, k=2).U
    # correlation between exactly known inputs leaves Welch-Satterthwaite usable
    exact = [normal("a", 1, 0.1), normal("b", 1, 0.1), normal("c", 0, 0.1, dof=4)]
    r2 = propagate("a + b + c", exact, correlations={("a", "b"): 0.5})
    assert r2.nu_eff == pytest.approx(r2.u_c**4 / (0.1**4 / 4))


def test_type_a_gives_mean_standard_uncertainty_of_the_mean_and_n_minus_1_dof():
    data = [10.01, 10.03, 9.98, 10.00, 10.02, 9.99]
    q = type_a("x", data)
    assert q.x == pytest.approx(np.mean(data))
    assert q.u == pytest.approx(stats.sem(data))
    assert q.dof == 5 and q.kind == "A" and q.distribution == "t"
    p = pooled_sd([[1.0, 2.0, 3.0], [2.0, 4.0], [5.0, 5.5, 6.0, 7.0]])
    groups = [np.array(g) for g in ([1.0, 2.0, 3.0], [2.0, 4.0], [5.0, 5.5, 6.0, 7.0])]
    ss = sum(((g - g.mean()) ** 2).sum() for g in groups)
    assert p.sd == pytest.approx(math.sqrt(ss / 6)) and p.dof == 6
    # GUM H.1.3.1: a mean of 5 readings with a pooled s from 25 readings (24 dof)
    q2 = type_a("d", [215, 214, 216, 215, 215], pooled_sd=13.0, pooled_dof=24)
    assert q2.u == pytest.approx(13.0 / math.sqrt(5)) and q2.dof == 24
    assert type_a("d", [1.0, 2.0], pooled=p).dof == 6


def test_type_b_conversions_follow_the_gum():
    assert rectangular("r", 0, half_width=1.0).u == pytest.approx(1 / math.sqrt(3))
    assert rectangular("r", low=2.0, high=4.0).x == 3.0
    assert triangular("t", 0, half_width=1.0).u == pytest.approx(1 / math.sqrt(6))
    assert arcsine("a", 0, half_width=1.0).u == pytest.approx(1 / math.sqrt(2))
    assert trapezoidal("z", 0, half_width=1.0, beta=0.5).u == pytest.approx(math.sqrt(1.25 / 6))
    assert trapezoidal("z", 0, half_width=1.0, beta=1.0).u == pytest.approx(1 / math.sqrt(3))
    # GUM 4.3.4: expanded uncertainty at a stated level, normal distribution
    assert normal("n", 0, U=2.576 * 0.5, level=0.99).u == pytest.approx(0.5, rel=1e-4)
    # with finite dof the t quantile is used
    assert normal("n", 0, U=1.0, level=0.95, dof=10).u == pytest.approx(1 / stats.t.ppf(0.975, 10))
    for constructor in (rectangular, triangular, arcsine):
        assert constructor("q", 1.0, u=0.2).u == pytest.approx(0.2)
    assert dof_from_relative_uncertainty(0.25) == 8.0  # GUM G.4.2 example


def test_coverage_factor_matches_scipy_and_truncates_per_g41():
    for nu in (1, 2.5, 16, 16.7, 100):
        assert coverage_factor(0.95, nu) == pytest.approx(stats.t.ppf(0.975, nu))
    assert coverage_factor(0.99, 16.7, truncate=True) == pytest.approx(stats.t.ppf(0.995, 16))
    assert coverage_factor(0.6827) == pytest.approx(1.0, abs=1e-4)
    assert coverage_factor(0.95, 0.5, truncate=True) == pytest.approx(stats.t.ppf(0.975, 1))


def test_format_value_rounds_u_to_two_significant_digits():
    assert format_value(50000838.05, 31.705) == ("50000838", "32")
    assert format_value(1.23456, 0.0996) == ("1.23", "0.10")
    assert format_value(127.7318, 0.0700) == ("127.732", "0.070")


def test_negative_standard_uncertainty_is_rejected_with_the_label():
    with pytest.raises(
        MethodInputError, match=r"^standard uncertainty of 'x' must be a non-negative number, got -0.1$"
    ):
        normal("x", 1.0, -0.1)
    with pytest.raises(MethodInputError, match="half-width of 'r' must be a non-negative number"):
        rectangular("r", 0.0, half_width=-1)


def test_degrees_of_freedom_must_be_positive():
    with pytest.raises(MethodInputError, match=r"^degrees of freedom of 'x' must be > 0, got 0.0$"):
        normal("x", 1.0, 0.1, dof=0)
    with pytest.raises(MethodInputError, match=r"degrees of freedom of 't' must be > 0, got -3\.0"):
        student_t("t", 0.0, 1.0, -3)
    with pytest.raises(MethodInputError, match="degrees of freedom must be > 0"):
        coverage_factor(0.95, 0)


def test_unequal_lengths_and_short_data_are_rejected():
    with pytest.raises(MethodInputError, match=r"contributions and dofs have unequal lengths \(2 and 3\)"):
        welch_satterthwaite([1.0, 2.0], [1, 2, 3])
    with pytest.raises(MethodInputError, match="fewer than two replicates"):
        type_a("x", [1.0])
    with pytest.raises(MethodInputError, match="group 1 has fewer than two replicates"):
        pooled_sd([[1.0, 2.0], [3.0]])


def test_unknown_name_in_the_model_is_reported():
    with pytest.raises(MethodInputError, match="unknown name 'c' in model expression; the inputs are: a, b"):
        propagate("a + c", [normal("a", 0, 1), normal("b", 0, 1)])


def test_model_undefined_at_the_estimates_is_reported():
    with pytest.raises(MethodInputError, match="non-finite value for 'y' at the input estimates"):
        propagate("log(a)", [normal("a", -1.0, 0.1)])


def test_bad_correlations_are_rejected():
    labels = ["a", "b", "c"]
    with pytest.raises(MethodInputError, match="correlation names unknown input 'z'"):
        correlation_matrix(labels, {("a", "z"): 0.5})
    with pytest.raises(MethodInputError, match="between -1 and 1"):
        correlation_matrix(labels, {("a", "b"): 1.5})
    with pytest.raises(MethodInputError, match="not positive semi-definite"):
        correlation_matrix(labels, {("a", "b"): 0.9, ("a", "c"): 0.9, ("b", "c"): -0.9})


def test_duplicate_labels_are_rejected():
    with pytest.raises(MethodInputError, match="input labels must be unique; repeated: a"):
        propagate("a", [normal("a", 0, 1), normal("a", 1, 1)])


def test_result_serialises_and_summarises(gum):
    r = propagate(H1_MODEL, h1_inputs(gum["gum.H1.end_gauge"]), level=0.99, output="l", units={"l": "nm"})
    data = r.to_dict()
    assert data["estimates"][0]["label"] == "l"
    assert len(data["sensitivities"][0]) == 6
    text = r.summary()
    assert "l = 50000838 nm, u_c = 32 nm" in text and "U(99 %) = 93 nm" in text
    assert "  d_mean" in text
