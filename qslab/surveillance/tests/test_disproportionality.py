"""Disproportionality: counts and margins, PRR, ROR, BCPNN IC, GPS/EBGM against openEBGM, SciPy and R."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import integrate, optimize, special, stats

from qslab.surveillance.disproportionality import (
    DEFAULT_STARTS,
    DisproportionalityError,
    GPSHyperparameters,
    auto_squash,
    bcpnn_ic,
    count_pairs,
    disproportionality,
    gps_fit,
    gps_loglik,
    gps_posterior,
    gps_quantile,
    prr,
    ror,
    squash_data,
)

# openEBGM vignette ("Empirical Bayes Metrics with openEBGM"): autoHyper on
# squashData(squashData(processRaw(caers)), count = 2, bin_size = 10, keep_pts = 50)
VIGNETTE_THETA = np.array([3.25379356, 0.39988854, 2.02612692, 1.90807970, 0.06534557])
VIGNETTE_SQUASH = [
    {"count": 1, "bin_size": 50, "keep_pts": 100},
    {"count": 2, "bin_size": 10, "keep_pts": 50},
]
# openEBGM prints 2 digits: EBGM is rounded (error <= 0.005); quantBisect stops when the bisection
# half-width is below 0.005 (from the +-1e5 limits that is 1e5 / 2**25 = 0.003) and then rounds (0.005).
EBGM_TOL = 0.005 + 1e-9
QUANT_TOL = 0.005 + 1e5 / 2**25 + 1e-9


@pytest.fixture(scope="module")
def caers(reference_dir):
    return pd.read_csv(reference_dir / "disproportionality" / "caers.csv", dtype=str)


@pytest.fixture(scope="module")
def signals(reference_dir):
    return pd.read_csv(reference_dir / "disproportionality" / "caers_signals_q05_ge_2.csv")


@pytest.fixture(scope="module")
def caers_result(caers):
    return disproportionality(
        caers, id="id", product="var1", event="var2", hyper="squashed", squash=VIGNETTE_SQUASH
    )


def nb_mixture_loglik(theta, N, E, w=None, truncated=True):
    """The marginal likelihood written out independently with scipy.stats.nbinom."""
    a1, b1, a2, b2, P = theta
    f1 = stats.nbinom.pmf(N, a1, b1 / (b1 + E))
    f2 = stats.nbinom.pmf(N, a2, b2 / (b2 + E))
    if truncated:
        f1 = f1 / (1 - stats.nbinom.pmf(0, a1, b1 / (b1 + E)))
        f2 = f2 / (1 - stats.nbinom.pmf(0, a2, b2 / (b2 + E)))
    w = np.ones_like(E) if w is None else w
    return float(np.sum(w * np.log(P * f1 + (1 - P) * f2)))


def posterior_by_integration(theta, n, e, q):
    """Quantile of the two-gamma posterior mixture by quadrature of its density and Brent's method."""
    a1, b1, a2, b2, P = theta
    f1 = stats.nbinom.pmf(n, a1, b1 / (b1 + e))
    f2 = stats.nbinom.pmf(n, a2, b2 / (b2 + e))
    Q = P * f1 / (P * f1 + (1 - P) * f2)
    g1 = stats.gamma(a1 + n, scale=1 / (b1 + e))
    g2 = stats.gamma(a2 + n, scale=1 / (b2 + e))

    def density(x):
        return Q * g1.pdf(x) + (1 - Q) * g2.pdf(x)

    def cdf(x):
        # split at the component modes so quad sees both peaks
        points = sorted({max((a1 + n - 1) / (b1 + e), 0.0), max((a2 + n - 1) / (b2 + e), 0.0)})
        points = [p for p in points if 0 < p < x]
        return integrate.quad(density, 0, x, points=points or None, epsabs=1e-13, epsrel=1e-12, limit=200)[0]

    upper = max(g1.ppf(0.9999999), g2.ppf(0.9999999))
    root = optimize.brentq(lambda x: cdf(x) - q, 1e-12, upper, xtol=1e-13, rtol=1e-12)
    mean_log = integrate.quad(lambda x: np.log(x) * density(x), 0, np.inf, epsabs=1e-12, limit=200)[0]
    return root, math.exp(mean_log)


# ------------------------------------------------------------------------------------------------
# openEBGM reference: caers
# ------------------------------------------------------------------------------------------------


def test_caers_counts_and_expected_counts_match_openebgm(caers, signals):
    counts = count_pairs(caers, id="id", product="var1", event="var2")
    assert counts.n_total == 3356 and counts.N.size == 17189
    table = counts.table().merge(signals, left_on=["product", "event"], right_on=["var1", "var2"])
    assert len(table) == 131
    np.testing.assert_array_equal(table["N_x"], table["N_y"])
    np.testing.assert_allclose(table["E_x"], table["E_y"], rtol=1e-13)


def test_squashed_hyperparameters_match_the_openebgm_vignette(caers):
    counts = count_pairs(caers, id="id", product="var1", event="var2")
    squashed = squash_data(counts.N, counts.E)
    squashed = squash_data(squashed.N, squashed.E, squashed.weight, count=2, bin_size=10, keep_pts=50)
    assert squashed.weight.sum() == counts.N.size
    hyper = gps_fit(squashed.N, squashed.E, squashed.weight, data="squashed")
    assert hyper.converged
    # the README's tolerance: optimisers differ in the 6th digit
    np.testing.assert_allclose(hyper.theta, VIGNETTE_THETA, rtol=1e-3)
    # and ours is at least as likely as the vignette's
    assert hyper.loglik >= gps_loglik(VIGNETTE_THETA, squashed.N, squashed.E, squashed.weight) - 1e-8


def test_hyperparameter_choice_follows_autohyper_agreement_rule(caers):
    # one of the five starts reaches a lone, slightly more likely optimum near alpha1 = 21; autoHyper
    # needs two starts to agree, so the estimate stays the vignette's and that one is passed over
    counts = count_pairs(caers, id="id", product="var1", event="var2")
    sq = squash_data(counts.N, counts.E)
    sq = squash_data(sq.N, sq.E, sq.weight, count=2, bin_size=10, keep_pts=50)
    hyper = gps_fit(sq.N, sq.E, sq.weight, data="squashed")
    singles = [gps_fit(sq.N, sq.E, sq.weight, starts=[start]) for start in DEFAULT_STARTS]
    lone = [h for h in singles if h.alpha1 > 15]
    assert len(lone) == 1 and not lone[0].converged  # one start alone never counts as converged
    assert lone[0].loglik > hyper.loglik
    assert hyper.converged and hyper.n_starts_agreeing == 4
    np.testing.assert_allclose(hyper.theta, VIGNETTE_THETA, rtol=1e-3)


def test_caers_signals_reproduce_openebgm_signal_list(caers_result, signals):
    table = caers_result.table()
    ours = table[np.round(table["EB05"], 2) >= 2]
    assert len(ours) == 131
    merged = ours.merge(signals, left_on=["product", "event"], right_on=["var1", "var2"], how="outer")
    assert merged["var1"].notna().all() and merged["product"].notna().all()
    np.testing.assert_allclose(merged["EBGM_x"], merged["EBGM_y"], atol=EBGM_TOL, rtol=0)
    np.testing.assert_allclose(merged["EB05"], merged["QUANT_05"], atol=QUANT_TOL, rtol=0)
    np.testing.assert_allclose(merged["EB95"], merged["QUANT_95"], atol=QUANT_TOL, rtol=0)


def test_caers_prr_and_expected_counts_follow_openebgm_conventions(caers, caers_result):
    # openEBGM processRaw, computed here from its description with pandas
    reports = caers.drop_duplicates(["id", "var1", "var2"])
    n_tot = reports["id"].nunique()
    n_v1 = reports.groupby("var1")["id"].nunique()
    n_v2 = reports.groupby("var2")["id"].nunique()
    pairs = reports.groupby(["var1", "var2"])["id"].nunique().rename("N").reset_index()
    pairs["N_v1"] = pairs["var1"].map(n_v1)
    pairs["N_v2"] = pairs["var2"].map(n_v2)
    pairs["E"] = pairs["N_v1"] / n_tot * pairs["N_v2"]
    pairs["PRR"] = (pairs["N"] / pairs["N_v1"]) / ((pairs["N_v2"] - pairs["N"]) / (n_tot - pairs["N_v1"]))
    ours = caers_result.table().merge(pairs, left_on=["product", "event"], right_on=["var1", "var2"])
    assert len(ours) == len(pairs) == caers_result.N.size
    np.testing.assert_array_equal(ours["N_x"], ours["N_y"])
    np.testing.assert_allclose(ours["E_x"], ours["E_y"], rtol=1e-13)
    finite = np.isfinite(ours["PRR_y"]) & (ours["N_v2"] > ours["N_x"])
    np.testing.assert_allclose(ours.loc[finite, "PRR_x"], ours.loc[finite, "PRR_y"], rtol=1e-13)
    # openEBGM gives Inf where the event has no report without the product; we leave it undefined
    assert ours.loc[~finite, "PRR_x"].isna().all()


def test_caers_stratified_expected_counts_sum_within_stratum_expectations(caers):
    counts = count_pairs(caers, id="id", product="var1", event="var2", strata="strat1")
    # openEBGM processRaw(stratify = TRUE): E = sum over strata of N_v1_s * N_v2_s / N_tot_s, over the
    # strata where both the product and the event occur (not necessarily together)
    reports = caers.drop_duplicates(["id", "var1", "var2", "strat1"])
    pairs = caers[["var1", "var2"]].drop_duplicates().reset_index(drop=True)
    expected = np.zeros(len(pairs))
    for _, s in reports.groupby("strat1"):
        n_v1 = pairs["var1"].map(s.groupby("var1")["id"].nunique()).fillna(0).to_numpy()
        n_v2 = pairs["var2"].map(s.groupby("var2")["id"].nunique()).fillna(0).to_numpy()
        expected += n_v1 * n_v2 / s["id"].nunique()
    pairs["E"] = expected
    merged = counts.table().merge(pairs, left_on=["product", "event"], right_on=["var1", "var2"])
    assert len(merged) == counts.N.size
    np.testing.assert_allclose(merged["E_x"], merged["E_y"], rtol=1e-12)
    assert counts.n_strata == caers["strat1"].nunique()
    unstratified = count_pairs(caers, id="id", product="var1", event="var2")
    np.testing.assert_array_equal(counts.N, unstratified.N)  # N is never stratified
    assert not np.allclose(counts.E, unstratified.E)


def test_stratified_expected_counts_by_hand():
    reports = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "product": ["A", "A", "B", "A", "B", "B"],
            "event": ["x", "y", "x", "x", "x", "y"],
            "sex": ["F", "F", "F", "M", "M", "M"],
        }
    )
    c = count_pairs(reports, strata="sex")
    t = c.table().set_index(["product", "event"])["E"]
    # F: A 2, B 1, x 2, y 1 of 3 reports; M: A 1, B 2, x 2, y 1 of 3 reports
    assert t[("A", "x")] == pytest.approx(2 * 2 / 3 + 1 * 2 / 3)
    assert t[("B", "y")] == pytest.approx(1 * 1 / 3 + 2 * 1 / 3)
    two = count_pairs(reports.assign(age=["o", "y", "o", "y", "o", "y"]), strata=["sex", "age"])
    assert two.n_strata == 4 and two.strata == ("sex", "age")


@pytest.mark.slow
def test_exact_hyperparameters_match_a_scipy_nelder_mead_fit_of_an_independent_likelihood(caers):
    counts = count_pairs(caers, id="id", product="var1", event="var2")
    hyper = gps_fit(counts.N, counts.E)
    assert hyper.converged and hyper.data == "exact" and hyper.search == "data"
    N, E = counts.N.astype(float), counts.E

    def negll(x):
        return -nb_mixture_loglik(np.r_[np.exp(x[:4]), special.expit(x[4])], N, E)

    x0 = np.r_[np.log(VIGNETTE_THETA[:4]), special.logit(VIGNETTE_THETA[4])]
    ref = optimize.minimize(
        negll, x0, method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000}
    )
    ref_theta = np.r_[np.exp(ref.x[:4]), special.expit(ref.x[4])]
    np.testing.assert_allclose(hyper.theta, ref_theta, rtol=1e-4)
    assert hyper.loglik == pytest.approx(-ref.fun, abs=1e-7)
    # and close to, but not the same as, the squashed-data estimate
    np.testing.assert_allclose(hyper.theta, VIGNETTE_THETA, rtol=5e-3)


def test_search_on_squashed_superpoints_then_refined_gives_the_exact_data_maximum(caers):
    counts = count_pairs(caers, id="id", product="var1", event="var2")
    direct = gps_fit(counts.N, counts.E, search="data")
    via_squash = gps_fit(counts.N, counts.E, search="squashed")
    assert via_squash.search == "squashed" and via_squash.converged
    np.testing.assert_allclose(via_squash.theta, direct.theta, rtol=1e-5)
    assert via_squash.loglik == pytest.approx(direct.loglik, abs=1e-8)


# ------------------------------------------------------------------------------------------------
# GPS pieces against SciPy
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("truncated", [True, False])
def test_gps_loglik_equals_scipy_negative_binomial_mixture(truncated):
    rng = np.random.default_rng(3)
    E = rng.gamma(0.8, 1.5, 200)
    N = rng.poisson(E * rng.gamma(2, 0.5, 200)) + (1 if truncated else 0)
    w = rng.integers(1, 5, 200).astype(float)
    theta = (0.7, 0.3, 3.0, 2.5, 0.2)
    ours = gps_loglik(theta, N, E, w, truncated=truncated)
    assert ours == pytest.approx(nb_mixture_loglik(theta, N, E, w, truncated), rel=1e-12)


def test_zero_included_likelihood_uses_every_never_reported_cell():
    reports = pd.DataFrame(
        {
            "id": [1, 1, 2, 3, 4, 4, 5],
            "product": ["A", "A", "B", "B", "C", "C", "A"],
            "event": ["x", "y", "x", "z", "y", "z", "x"],
        }
    )
    counts = count_pairs(reports, zeroes=True)
    assert counts.N.size + counts.E_zero.size == 3 * 3
    # the cells never reported: A-z, B-y, C-x with E = n_product * n_event / n_total
    np.testing.assert_allclose(np.sort(counts.E_zero), np.sort([2 * 2 / 5, 2 * 2 / 5, 1 * 3 / 5]))
    theta = (0.5, 0.4, 2.0, 2.0, 0.3)
    N = np.r_[counts.N, np.zeros(counts.E_zero.size)]
    E = np.r_[counts.E, counts.E_zero]
    assert gps_loglik(theta, N, E, truncated=False) == pytest.approx(
        nb_mixture_loglik(theta, N, E, truncated=False), rel=1e-12
    )


@pytest.mark.slow
def test_posterior_ebgm_and_quantiles_match_numerical_integration():
    theta = (1.2, 0.35, 4.0, 3.6, 0.15)
    # small and large N, E far below and above N; every posterior mixes both components (Qn 0.07 to 0.94)
    N = np.array([1, 1, 3, 7, 15, 40])
    E = np.array([0.01, 2.5, 1.1, 0.8, 3.0, 12.0])
    post = gps_posterior(theta, N, E)
    for i in range(N.size):
        q05, ebgm = posterior_by_integration(theta, N[i], E[i], 0.05)
        q95, _ = posterior_by_integration(theta, N[i], E[i], 0.95)
        assert post.EB05[i] == pytest.approx(q05, rel=1e-8)
        assert post.EB95[i] == pytest.approx(q95, rel=1e-8)
        assert post.EBGM[i] == pytest.approx(ebgm, rel=1e-8)


def test_posterior_quantiles_solve_the_mixture_cdf_for_many_cells_at_once():
    theta = np.array([1.04, 0.51, 9.26, 10.38, 0.108])
    rng = np.random.default_rng(5)
    N = rng.integers(1, 60, 20000)
    E = rng.gamma(0.6, 2.0, 20000) + 1e-4
    levels = [0.025, 0.05, 0.5, 0.95, 0.975]
    x = gps_quantile(theta, N, E, levels)
    assert x.shape == (20000, 5)
    Q = gps_posterior(theta, N[:1], E[:1]).Qn  # exercised below for all cells
    post = gps_posterior(theta, N, E)
    Q = post.Qn
    for k, level in enumerate(levels):
        cdf = Q * special.gammainc(theta[0] + N, (theta[1] + E) * x[:, k]) + (1 - Q) * special.gammainc(
            theta[2] + N, (theta[3] + E) * x[:, k]
        )
        np.testing.assert_allclose(cdf, level, atol=1e-11)
    np.testing.assert_array_equal(x[:, 1], post.EB05)
    assert np.all(np.diff(x, axis=1) > 0)


def test_posterior_quantiles_survive_a_degenerate_prior():
    # independent products and events drive alpha, beta to their bounds: a near point mass at lambda = 1
    theta = (34422.35, 1e5, 5.8e-6, 99988.2, 1 - 1e-13)
    N, E = np.array([1, 2, 5, 9]), np.array([0.3, 1.7, 4.2, 8.8])
    post = gps_posterior(theta, N, E)
    # the second component has no weight left: the posterior is Gamma(alpha1 + N, beta1 + E)
    np.testing.assert_allclose(post.Qn, 1.0, atol=1e-12)
    np.testing.assert_allclose(post.EB05, stats.gamma.ppf(0.05, 34422.35 + N, scale=1 / (1e5 + E)), rtol=1e-9)
    np.testing.assert_allclose(post.EB95, stats.gamma.ppf(0.95, 34422.35 + N, scale=1 / (1e5 + E)), rtol=1e-9)
    np.testing.assert_allclose(post.EBGM, np.exp(special.digamma(34422.35 + N) - np.log(1e5 + E)), rtol=1e-12)


def test_squash_data_bins_by_e_within_a_count_and_keeps_the_largest():
    E = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.6, 0.4])
    s = squash_data([1] * 8 + [3], np.r_[E, 2.0], bin_size=3, keep_pts=2)
    # sorted E: .1 .2 .3 | .4 .5 .6 | keep .7 .9 ; N = 3 passes through
    np.testing.assert_array_equal(s.N, [1, 1, 1, 1, 3])
    np.testing.assert_allclose(s.E, [0.2, 0.5, 0.7, 0.9, 2.0])
    np.testing.assert_array_equal(s.weight, [3, 3, 1, 1, 1])
    partial = squash_data([2] * 7, np.arange(1, 8) / 10, count=2, bin_size=3, keep_pts=0)
    np.testing.assert_allclose(partial.E, [0.2, 0.5, 0.7])
    np.testing.assert_array_equal(partial.weight, [3, 3, 1])
    with pytest.raises(DisproportionalityError, match="already been squashed"):
        squash_data(s.N, s.E, s.weight, count=1, bin_size=2, keep_pts=0)
    with pytest.raises(DisproportionalityError, match="reduce bin_size"):
        squash_data([1] * 5, np.arange(1, 6), bin_size=4, keep_pts=2)


def test_auto_squash_chooses_openebgm_bin_sizes():
    rng = np.random.default_rng(2)
    N = np.r_[np.ones(3000), np.full(700, 2), np.full(90, 3)]
    E = rng.gamma(1.0, 1.0, N.size)
    s = auto_squash(N, E)
    ones = s.weight[s.N == 1]
    # count 1: 3000 - 100 kept = 2900 to squash, fewer than 1e4 -> 150 superpoints, bins of 19
    assert np.sum(ones == 1) == 100 + (2900 % 19 == 1)
    assert ones.max() == 19 and ones.sum() == 3000
    # count 2: 700 - 75 = 625 -> 75 superpoints, bins of 8; count 3 has too few cells to squash
    assert s.weight[s.N == 2].max() == 8 and s.weight[s.N == 2].sum() == 700
    assert np.all(s.weight[s.N == 3] == 1)


# ------------------------------------------------------------------------------------------------
# PRR, ROR, IC by hand
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def small_reports():
    # 8 reports; report 1 names two products and two events
    return pd.DataFrame(
        {
            "rid": [1, 1, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 8],
            "drug": ["A", "A", "B", "B", "A", "A", "A", "B", "B", "C", "C", "A", "A"],
            "ae": ["x", "y", "x", "y", "x", "x", "z", "y", "x", "y", "z", "x", "x"],
        }
    )


def test_report_margins_count_distinct_reports(small_reports):
    c = count_pairs(small_reports, id="rid", product="drug", event="ae")
    t = c.table().set_index(["product", "event"])
    # A in reports 1,2,3,8 (4); x in 1,2,3,5,8 (5); A-x in 1,2,3,8 (4); 8 reports in all
    assert c.n_total == 8
    assert t.loc[("A", "x"), ["N", "n_product", "n_event"]].tolist() == [4, 4, 5]
    assert t.loc[("A", "x"), "E"] == pytest.approx(4 * 5 / 8)
    # A-x: a = 4, b = 0, c = 1, d = 3
    assert np.isnan(ror(4, 4, 5, 8)[0])  # b = 0
    value, lower = prr(4, 4, 5, 8)
    assert value == pytest.approx((4 / 4) / (1 / 4))
    se = math.sqrt(1 / 4 - 1 / 4 + 1 / 1 - 1 / 4)
    assert lower == pytest.approx(4.0 * math.exp(-1.959963984540054 * se))


def test_pair_margins_sum_the_pair_table_as_phvid(small_reports):
    c = count_pairs(small_reports, id="rid", product="drug", event="ae", margins="pairs")
    t = c.table().set_index(["product", "event"])
    # pairs: A-x 4, A-y 1, A-z 1, B-x 2, B-y 2, C-y 1, C-z 1 -> 12 in all
    assert c.n_total == 12
    assert t.loc[("A", "x"), ["N", "n_product", "n_event"]].tolist() == [4, 6, 6]
    assert t.loc[("B", "y"), ["N", "n_product", "n_event"]].tolist() == [2, 4, 4]
    assert t.loc[("A", "x"), "E"] == pytest.approx(6 * 6 / 12)


def test_prr_ror_with_confidence_bounds_by_hand():
    # a = 12, b = 188 (product 200), c = 48 (event 60), d = 9752 (10000 reports)
    a, b, c, d = 12, 188, 48, 9752
    value, lower = prr(a, a + b, a + c, a + b + c + d)
    assert value == pytest.approx((12 / 200) / (48 / 9800), rel=1e-14)
    se = math.sqrt(1 / 12 - 1 / 200 + 1 / 48 - 1 / 9800)
    assert lower == pytest.approx(math.exp(math.log(12.25) - stats.norm.ppf(0.975) * se), rel=1e-12)
    r, lo, hi = ror(a, a + b, a + c, a + b + c + d)
    assert r == pytest.approx(12 * 9752 / (188 * 48), rel=1e-14)
    se = math.sqrt(1 / 12 + 1 / 188 + 1 / 48 + 1 / 9752)
    z = stats.norm.ppf(0.975)
    assert (lo, hi) == pytest.approx((r * math.exp(-z * se), r * math.exp(z * se)), rel=1e-12)
    # undefined cells
    assert np.isnan(prr(3, 10, 3, 50)[0]) and np.isnan(ror(3, 10, 3, 50)[1])
    assert prr(0, 10, 3, 50)[0] == 0 and np.isnan(prr(0, 10, 3, 50)[1])


def test_bcpnn_ic_uses_goulds_moments_as_phvid():
    n11, n1_, n_1, n = 12, 200, 60, 10000
    # PhViD BCPNN(MC = FALSE), written out
    p1, p2, q1, q2, r1 = 1 + n1_, 1 + n - n1_, 1 + n_1, 1 + n - n_1, 1 + n11
    r2b = n - n11 - 1 + (2 + n) ** 2 / (q1 * p1)
    dg, tg = special.digamma, lambda x: special.polygamma(1, x)
    e_ic = (dg(r1) - dg(r1 + r2b) - (dg(p1) - dg(p1 + p2) + dg(q1) - dg(q1 + q2))) / math.log(2)
    v_ic = (tg(r1) - tg(r1 + r2b) + (tg(p1) - tg(p1 + p2) + tg(q1) - tg(q1 + q2))) / math.log(2) ** 2
    ic, ic025 = bcpnn_ic(n11, n1_, n_1, n)
    assert ic == pytest.approx(e_ic, rel=1e-13)
    assert ic025 == pytest.approx(stats.norm.ppf(0.025, e_ic, math.sqrt(v_ic)), rel=1e-12)
    # the moments are those of log2 p11 - log2 p1. - log2 p.1 for independent Beta posteriors
    rng = np.random.default_rng(0)
    draws = (
        np.log2(rng.beta(r1, r2b, 400_000))
        - np.log2(rng.beta(p1, p2, 400_000))
        - np.log2(rng.beta(q1, q2, 400_000))
    )
    assert ic == pytest.approx(draws.mean(), abs=4 * draws.std() / math.sqrt(draws.size))
    assert v_ic == pytest.approx(draws.var(), rel=0.01)
    # a strong signal is positive, a shortfall negative; IC shrinks towards 0 for small counts
    assert bcpnn_ic(30, 100, 100, 10000)[1] > 2 and bcpnn_ic(0, 100, 100, 10000)[0] < 0
    assert abs(bcpnn_ic(1, 1, 1, 10000)[0]) < math.log2(10000)


def test_disproportionality_result_collects_every_score(small_reports):
    seen = []
    res = disproportionality(
        small_reports,
        id="rid",
        product="drug",
        event="ae",
        hyper=(0.5, 0.3, 2.0, 2.0, 0.2),
        progress=seen.append,
    )
    assert seen == ["counted", "fitted", "scored"]
    table = res.table()
    assert list(table.columns) == list(res.COLUMNS)
    assert table[["product", "event"]].values.tolist() == [
        ["A", "x"], ["A", "y"], ["A", "z"], ["B", "x"], ["B", "y"], ["C", "y"], ["C", "z"],
    ]  # fmt: skip
    post = gps_posterior((0.5, 0.3, 2.0, 2.0, 0.2), res.N, res.E)
    np.testing.assert_array_equal(res.EB05, post.EB05)
    np.testing.assert_array_equal(res.IC, bcpnn_ic(res.N, res.n_product, res.n_event, res.n_total)[0])
    assert res.hyper_data == "given"
    assert "pairs with EB05 >= 2" in res.summary()
    assert post.summary() == f"GPS posterior for 7 cells; max EB05 = {post.EB05.max():.4g}"
    plain = res.to_dict()
    assert plain["hyper"]["alpha1"] == 0.5 and len(plain["EB95"]) == 7


def test_zeroes_fit_includes_never_reported_cells(caers):
    res = disproportionality(caers, id="id", product="var1", event="var2", hyper="squashed", zeroes=True)
    assert not res.hyper.truncated and res.hyper.converged
    n_p, n_e = caers["var1"].nunique(), caers["var2"].nunique()
    assert res.hyper.total_weight == n_p * n_e
    assert res.N.size == 17189  # the output still lists reported pairs only


@pytest.mark.parametrize(
    "options",
    [{}, {"margins": "pairs"}, {"strata": "strat1"}, {"strata": "strat1", "margins": "pairs"}],
    ids=["reports", "pairs", "strata", "strata-pairs"],
)
def test_ibis_table_on_duckdb_counts_the_same_as_pandas(caers, options):
    import ibis

    local = count_pairs(caers, id="id", product="var1", event="var2", zeroes=True, **options)
    # from Arrow: ibis.memtable(pandas) trips a pandas 3 deprecation warning inside Ibis
    table = ibis.memtable(pa.Table.from_pandas(caers, preserve_index=False))
    remote = count_pairs(table, id="id", product="var1", event="var2", zeroes=True, **options)
    for name in ("product", "event", "N", "n_product", "n_event"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    np.testing.assert_allclose(remote.E, local.E, rtol=1e-13)
    np.testing.assert_allclose(remote.E_zero, local.E_zero, rtol=1e-13)
    assert (remote.n_total, remote.n_strata, remote.n_reports) == (
        local.n_total,
        local.n_strata,
        local.n_reports,
    )


def test_ibis_table_errors_name_the_column(caers):
    import ibis

    broken = caers.assign(var2=caers["var2"].where(caers.index != 7))
    table = ibis.memtable(pa.Table.from_pandas(broken, preserve_index=False))
    with pytest.raises(DisproportionalityError, match=r"missing value in column 'var2' \(1 rows in all\)"):
        count_pairs(table, id="id", product="var1", event="var2")
    with pytest.raises(DisproportionalityError, match="missing column 'event'"):
        count_pairs(table, id="id", product="var1", event="event")


@pytest.mark.spark
@pytest.mark.slow
# pyspark 4.0.5's createDataFrame(pandas) reads the option future.infer_string, deprecated in pandas 3,
# and its toPandas calls DataFrame.astype(copy=False), also deprecated
@pytest.mark.filterwarnings(
    "ignore:The 'future.infer_string' option is deprecated:pandas.errors.Pandas4Warning"
)
@pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:pandas.errors.Pandas4Warning")
# py4j leaves its gateway socket to the garbage collector
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
def test_ibis_table_on_spark_counts_the_same_as_pandas(caers):
    import ibis

    from qslab.surveillance.store import spark_session

    # the process's one local session; not stopped here, so that other Spark tests reuse it
    spark = spark_session("qslab-tests")
    part = caers.iloc[:5000]  # Spark's start-up is the cost; a part of caers exercises every query
    spark.createDataFrame(part).createOrReplaceTempView("caers_reports")
    table = ibis.pyspark.connect(spark).table("caers_reports")
    local = count_pairs(part, id="id", product="var1", event="var2", strata="strat1")
    remote = count_pairs(table, id="id", product="var1", event="var2", strata="strat1")
    for name in ("product", "event", "N", "n_product", "n_event"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    np.testing.assert_allclose(remote.E, local.E, rtol=1e-13)
    assert (remote.n_total, remote.n_strata) == (local.n_total, local.n_strata)


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


def test_missing_columns_and_values_are_named(small_reports):
    with pytest.raises(DisproportionalityError, match=r"missing columns 'report', 'sex'"):
        count_pairs(small_reports, id="report", product="drug", event="ae", strata="sex")
    broken = small_reports.copy()
    broken.loc[5, "ae"] = None
    with pytest.raises(DisproportionalityError, match=r"missing value in column 'ae' at row 5"):
        count_pairs(broken, id="rid", product="drug", event="ae")
    with pytest.raises(DisproportionalityError, match="margins must be 'reports' or 'pairs', got 'rows'"):
        count_pairs(small_reports, id="rid", product="drug", event="ae", margins="rows")
    with pytest.raises(DisproportionalityError, match="reports has no rows"):
        count_pairs(small_reports.iloc[:0], id="rid", product="drug", event="ae")


def test_bad_gps_inputs_are_rejected():
    with pytest.raises(DisproportionalityError, match="N must be >= 1 when the likelihood is truncated"):
        gps_fit([0, 1, 2], [0.5, 0.5, 0.5])
    with pytest.raises(DisproportionalityError, match="E must hold positive finite numbers"):
        gps_fit([1, 1], [0.5, 0.0])
    with pytest.raises(DisproportionalityError, match="N and E have unequal lengths"):
        gps_loglik((1, 1, 1, 1, 0.5), [1, 2], [1.0])
    with pytest.raises(DisproportionalityError, match="P must lie strictly between 0 and 1"):
        gps_posterior((1, 1, 1, 1, 1.0), [1], [1.0])
    with pytest.raises(DisproportionalityError, match="must be positive"):
        gps_posterior((1, -1, 1, 1, 0.5), [1], [1.0])
    with pytest.raises(DisproportionalityError, match="quantile levels must lie strictly between 0 and 1"):
        gps_quantile((1, 1, 1, 1, 0.5), [1], [1.0], 1.0)
    with pytest.raises(DisproportionalityError, match="hyper must be 'exact', 'squashed' or hyperparameters"):
        disproportionality(pd.DataFrame({"id": [1], "product": ["a"], "event": ["b"]}), hyper="fast")
    with pytest.raises(DisproportionalityError, match="search must be 'auto', 'data' or 'squashed'"):
        gps_fit([1, 2], [1.0, 1.0], search="quick")


def test_hyperparameters_summary_names_the_fit():
    hyper = GPSHyperparameters(1.0, 0.5, 2.0, 2.0, 0.1, loglik=-10.0, converged=False, data="squashed")
    text = hyper.summary()
    assert "NOT CONVERGED" in text and "squashed data" in text and "alpha1 = 1" in text


# ------------------------------------------------------------------------------------------------
# Side by side with R (base R: dnbinom likelihood as in openEBGM's negLL, nlminb, pgamma + uniroot)
# ------------------------------------------------------------------------------------------------

R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
negLL <- function(theta, N, E) {  # openEBGM's negLL with N_star = 1, restated
  f1 <- dnbinom(N, size = theta[1], prob = theta[2] / (theta[2] + E))
  f2 <- dnbinom(N, size = theta[3], prob = theta[4] / (theta[4] + E))
  c1 <- pnbinom(0, size = theta[1], prob = theta[2] / (theta[2] + E))
  c2 <- pnbinom(0, size = theta[3], prob = theta[4] / (theta[4] + E))
  -sum(log(theta[5] * f1 / (1 - c1) + (1 - theta[5]) * f2 / (1 - c2)))
}
fit <- nlminb(c(0.2, 0.1, 2, 4, 1/3), negLL, N = d$N, E = d$E,
              lower = c(rep(1e-6, 4), 1e-6), upper = c(rep(1e4, 4), 1 - 1e-6),
              control = list(eval.max = 2000, iter.max = 2000, rel.tol = 1e-14))
th <- fit$par
f1 <- dnbinom(d$N, size = th[1], prob = th[2] / (th[2] + d$E))
f2 <- dnbinom(d$N, size = th[3], prob = th[4] / (th[4] + d$E))
qn <- th[5] * f1 / (th[5] * f1 + (1 - th[5]) * f2)
quant <- function(p, i) uniroot(function(x) qn[i] * pgamma(x, th[1] + d$N[i], th[2] + d$E[i]) +
  (1 - qn[i]) * pgamma(x, th[3] + d$N[i], th[4] + d$E[i]) - p, c(1e-8, 1e4), tol = 1e-13)$root
k <- seq_len(min(nrow(d), 200))
ebgm <- exp(qn * (digamma(th[1] + d$N) - log(th[2] + d$E)) +
            (1 - qn) * (digamma(th[3] + d$N) - log(th[4] + d$E)))
cat(jsonlite::toJSON(list(theta = th, loglik = -fit$objective, ebgm = ebgm[k],
  q05 = sapply(k, function(i) quant(0.05, i)), q95 = sapply(k, function(i) quant(0.95, i))), digits = NA))
"""


@pytest.mark.r
def test_exact_fit_and_posterior_agree_with_r_nlminb_on_generated_data(tmp_path):
    rng = np.random.default_rng(42)
    n = 6000
    E = rng.gamma(0.7, 1.2, n)
    lam = np.where(rng.random(n) < 0.08, rng.gamma(2.5, 1 / 0.5, n), rng.gamma(5.0, 1 / 5.0, n))
    N = rng.poisson(lam * E)
    keep = N > 0
    frame = pd.DataFrame({"N": N[keep], "E": E[keep]})
    frame.to_csv(tmp_path / "ne.csv", index=False, float_format="%.17g")
    script = tmp_path / "fit.R"
    script.write_text(R_SCRIPT)
    out = subprocess.run(
        ["Rscript", str(script), str(tmp_path / "ne.csv")], capture_output=True, text=True, check=True
    )
    r = json.loads(out.stdout)
    hyper = gps_fit(frame["N"], frame["E"])
    assert hyper.converged
    r_theta = np.array(r["theta"])
    np.testing.assert_allclose(hyper.theta, r_theta, rtol=1e-4)
    assert hyper.loglik == pytest.approx(r["loglik"][0], abs=1e-6)
    post = gps_posterior(r_theta, frame["N"][:200], frame["E"][:200])
    np.testing.assert_allclose(post.EBGM, r["ebgm"], rtol=1e-10)
    np.testing.assert_allclose(post.EB05, r["q05"], rtol=1e-9)
    np.testing.assert_allclose(post.EB95, r["q95"], rtol=1e-9)
