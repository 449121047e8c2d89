"""ISO 13528 proficiency statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.proficiency import (
    algorithm_a,
    assigned_value,
    homogeneity_check,
    made,
    niqr,
    pt_scores,
    sigma_pt_from_precision,
    sigma_pt_horwitz,
    stability_check,
)


@pytest.fixture(scope="module")
def vectors(reference_dir):
    data = json.loads((reference_dir / "methods" / "iso13528.json").read_text())
    return {v["id"]: v for v in data["vectors"]}


def test_algorithm_a_matches_the_copper_in_flour_reference(vectors):
    v = vectors["iso13528.algorithmA.copper_in_flour"]
    exp = v["expected"]
    result = algorithm_a(v["inputs"]["x"])
    assert result.converged
    assert result.x_star == pytest.approx(exp["x_star"]["value"], abs=exp["x_star"]["tol_abs"])
    assert result.s_star == pytest.approx(exp["s_star"]["value"], abs=exp["s_star"]["tol_abs"])
    iso = algorithm_a(v["inputs"]["x"], stopping_rule="third_significant_figure")
    x3, s3 = exp["x_star_3sf_iso_convergence"], exp["s_star_3sf_iso_convergence"]
    assert iso.x_star == pytest.approx(x3["value"], abs=x3["tol_abs"])
    assert iso.s_star == pytest.approx(s3["value"], abs=s3["tol_abs"])
    assert result.u_x_star == pytest.approx(1.25 * result.s_star / np.sqrt(24))


def test_made_and_median_match_the_reference(vectors):
    v = vectors["iso13528.MADe.copper_in_flour"]
    x = np.array(v["inputs"]["x"])
    exp = v["expected"]
    assert made(x) == pytest.approx(exp["MADe_1p483"]["value"], abs=exp["MADe_1p483"]["tol_abs"])
    assert made(x) / 1.483 * 1.4826 == pytest.approx(
        exp["MAD_1p4826"]["value"], abs=exp["MAD_1p4826"]["tol_abs"]
    )
    assert stats.median_abs_deviation(x, scale="normal") * 1.483 / 1.482602218505602 == pytest.approx(made(x))


def test_algorithm_a_fixed_point_is_the_huber_proposal_2_equation():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(10, 1, 200), [25.0, 30.0, -4.0]])
    r = algorithm_a(x)
    w = np.clip(x, r.x_star - 1.5 * r.s_star, r.x_star + 1.5 * r.s_star)
    assert np.mean(w) == pytest.approx(r.x_star, rel=1e-10)
    assert r.s_star == pytest.approx(1.134 * np.std(w, ddof=1), rel=1e-10)


def test_niqr_uses_type_7_quartiles():
    x = np.arange(1.0, 11.0)
    assert niqr(x) == pytest.approx(0.7413 * (np.quantile(x, 0.75) - np.quantile(x, 0.25)))


def test_scores_follow_the_iso_13528_formulas_and_classes():
    scores = pt_scores(
        [10.0, 10.5, 11.3, 7.0],
        10.0,
        sigma_pt=0.5,
        u_x_pt=0.1,
        u_results=[0.2, 0.2, 0.2, 0.2],
        expanded_results=[0.4, 0.4, 0.4, 0.4],
        participants=["a", "b", "c", "d"],
    )
    np.testing.assert_allclose(scores.z, [0, 1, 2.6, -6])
    np.testing.assert_allclose(scores.z_prime, np.array([0, 0.5, 1.3, -3]) / np.sqrt(0.25 + 0.01))
    np.testing.assert_allclose(scores.zeta, np.array([0, 0.5, 1.3, -3]) / np.sqrt(0.05))
    np.testing.assert_allclose(scores.e_n, np.array([0, 0.5, 1.3, -3]) / np.sqrt(0.16 + 0.04))
    assert scores.z_class == ("acceptable", "acceptable", "warning", "action")
    assert scores.e_n_class == ("acceptable", "action", "action", "action")  # 0.5/sqrt(0.2) > 1
    assert scores.u_x_pt_negligible


def test_assigned_value_options():
    cons = assigned_value("consensus", results=[9.8, 10.1, 10.0, 10.3, 9.9, 14.0])
    r = algorithm_a([9.8, 10.1, 10.0, 10.3, 9.9, 14.0])
    assert cons.x_pt == r.x_star and cons.u_x_pt == pytest.approx(1.25 * r.s_star / np.sqrt(6))
    crm = assigned_value("crm", value=5.0, uncertainty=0.02)
    assert (crm.x_pt, crm.u_x_pt) == (5.0, 0.02)
    exp = assigned_value("expert", expert_values=[5.0, 5.2], expert_uncertainties=[0.1, 0.1])
    assert exp.x_pt == pytest.approx(5.1) and exp.u_x_pt == pytest.approx(np.sqrt(0.02) / 2)
    with pytest.raises(MethodInputError, match="non-negative"):
        assigned_value("formulation", value=1.0, uncertainty=-0.1)


def test_sigma_pt_models():
    assert sigma_pt_horwitz(1e-6) == pytest.approx(0.02 * 1e-6**0.8495)
    assert sigma_pt_horwitz(1e-8) == pytest.approx(0.22e-8)
    assert sigma_pt_horwitz(0.5) == pytest.approx(0.01 * np.sqrt(0.5))
    assert sigma_pt_from_precision(0.5, 0.3, replicates=2) == pytest.approx(np.sqrt(0.25 - 0.09 / 2))


def test_homogeneity_check_criteria_match_iso_13528_annex_b():
    rng = np.random.default_rng(4)
    items = rng.normal(10, 0.05, (10, 2)) + rng.normal(0, 0.02, (10, 1))
    check = homogeneity_check(items, sigma_pt=0.5)
    s_x = np.std(items.mean(axis=1), ddof=1)
    s_w = np.sqrt(np.mean((items[:, 0] - items[:, 1]) ** 2) / 2)
    assert check.s_w == pytest.approx(s_w)
    assert check.s_s == pytest.approx(np.sqrt(max(0, s_x**2 - s_w**2 / 2)))
    assert check.passes
    # ISO 13528:2015 Table B.2 gives F1 = 1.59, F2 = 0.57 for g = 20, m = 2
    f1 = stats.chi2.ppf(0.95, 19) / 19
    f2 = (stats.f.ppf(0.95, 19, 20) - 1) / 2
    assert (round(f1, 2), round(f2, 2)) == (1.59, 0.57)
    with pytest.raises(MethodInputError, match="at least two replicates per item"):
        homogeneity_check(np.ones((5, 1)), 0.5)


def test_stability_check():
    check = stability_check([10.0, 10.1, 9.9], [10.2, 10.3, 10.1], sigma_pt=0.5)
    assert check.difference == pytest.approx(0.2)
    assert check.passes == (0.2 <= 0.15)
    assert check.passes_extended


def test_scores_reject_bad_inputs():
    with pytest.raises(MethodInputError, match="negative uncertainty"):
        pt_scores([1.0, 2.0], 1.5, u_results=[0.1, -0.1])
    with pytest.raises(MethodInputError, match=r"unequal lengths \(2 and 3\)"):
        pt_scores([1.0, 2.0], 1.5, u_results=[0.1, 0.1, 0.1])
    with pytest.raises(MethodInputError, match="sigma_pt must be positive"):
        pt_scores([1.0, 2.0], 1.5, sigma_pt=0)
