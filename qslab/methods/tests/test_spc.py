"""SPC charts against the qcc reference vectors, and run rules against a straightforward loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from qslab.methods._validate import MethodInputError
from qslab.methods.spc import (
    c4,
    control_chart,
    cusum_chart,
    d2,
    d3,
    ewma_chart,
    phase_one,
    process_capability,
    run_rules,
)


@pytest.fixture(scope="module")
def spc(reference_dir):
    data = json.loads((reference_dir / "methods" / "spc.json").read_text())
    return data["datasets"], {v["id"]: v for v in data["vectors"]}


def _close(actual, leaf):
    if "tol_rel" in leaf:
        assert actual == pytest.approx(leaf["value"], rel=leaf["tol_rel"], abs=0)
    else:
        assert actual == pytest.approx(leaf["value"], abs=leaf["tol_abs"], rel=0)


def test_constants_match_the_standard_tables():
    # ASTM E2587 / ISO 7870-2 tables (printed to 4 digits)
    np.testing.assert_allclose(d2([2, 5, 10, 25]), [1.1284, 2.3259, 3.0775, 3.9306], atol=5e-5)
    np.testing.assert_allclose(d3([2, 5, 10, 25]), [0.8525, 0.8641, 0.7971, 0.7084], atol=5e-5)
    np.testing.assert_allclose(c4([2, 5, 10, 25]), [0.7979, 0.9400, 0.9727, 0.9896], atol=5e-5)
    assert float(d2(2)) == pytest.approx(2 / np.sqrt(np.pi), rel=1e-12)
    assert float(d2(60)) > float(d2(50))  # beyond any printed table


def test_xbar_and_r_charts_match_qcc_pistonrings(spc):
    datasets, vectors = spc
    rings = np.array(datasets["pistonrings"]["samples"])
    xbar = control_chart("xbar", rings[:25])
    e = vectors["spc.xbar.pistonrings.phaseI"]["expected"]
    _close(xbar.center_value, e["center"])
    _close(xbar.sigma, e["sigma_within"])
    _close(xbar.lcl[0], e["LCL"])
    _close(xbar.ucl[0], e["UCL"])
    r = control_chart("R", rings[:25])
    e = vectors["spc.R.pistonrings"]["expected"]
    _close(r.center[0], e["center_Rbar"])
    _close(r.lcl[0], e["LCL"])
    _close(r.ucl[0], e["UCL"])


def test_phase_two_applies_fixed_limits_to_new_samples(spc):
    datasets, _ = spc
    rings = np.array(datasets["pistonrings"]["samples"])
    trial = control_chart("xbar", rings[:25])
    new = trial.apply(rings[25:])
    assert new.phase == "II"
    np.testing.assert_allclose(new.ucl, trial.ucl[0])
    # Montgomery: the process mean drifts upward in the last samples (37-40 beyond the UCL)
    assert set(np.flatnonzero(new.beyond_limits) + 26) >= {37, 38, 39}


def test_p_chart_matches_qcc_orangejuice(spc):
    datasets, vectors = spc
    oj = datasets["orangejuice"]
    trial = np.array(oj["trial"])
    p = control_chart("p", np.array(oj["D"])[trial], sizes=np.array(oj["size"])[trial])
    e = vectors["spc.p.orangejuice.trial"]["expected"]
    _close(p.center_value, e["center_pbar"])
    _close((p.ucl[0] - p.center_value) / 3, e["sd_p"])
    _close(p.lcl[0], e["LCL"])
    _close(p.ucl[0], e["UCL"])
    # Montgomery: samples 15 and 23 are beyond the trial limits
    assert list(np.flatnonzero(p.beyond_limits) + 1) == [15, 23]
    revised = phase_one("p", np.array(oj["D"])[trial], sizes=np.array(oj["size"])[trial])
    assert revised.removed_per_iteration[0] == (15, 23)


def test_c_chart_matches_qcc_circuit(spc):
    datasets, vectors = spc
    c = datasets["circuit"]
    trial = np.array(c["trial"])
    chart = control_chart("c", np.array(c["x"])[trial])
    e = vectors["spc.c.circuit.trial"]["expected"]
    _close(chart.center_value, e["center_cbar"])
    _close(np.sqrt(chart.center_value), e["sd"])
    _close(chart.lcl[0], e["LCL"])
    _close(chart.ucl[0], e["UCL"])


def test_individuals_chart_matches_qcc_viscosity_with_revision(spc):
    datasets, vectors = spc
    v = datasets["viscosity"]
    x = np.array(v["viscosity"])[np.array(v["trial"])]
    e = vectors["spc.individuals.viscosity"]["expected"]
    mr = control_chart("I", x)
    _close(mr.center_value, e["center"])
    _close(mr.sigma, e["sigma_MR"])
    _close(mr.lcl[0], e["LCL_MR"])
    _close(mr.ucl[0], e["UCL_MR"])
    sd = control_chart("I", x, std_dev="SD")
    _close(sd.sigma, e["sigma_SD"])
    _close(sd.lcl[0], e["LCL_SD"])
    _close(sd.ucl[0], e["UCL_SD"])
    rev = control_chart("I", np.delete(x, 3))
    er = e["revised_without_batch4"]
    _close(rev.center_value, er["center"])
    _close(rev.sigma, er["sigma_MR"])
    _close(rev.lcl[0], er["LCL"])
    _close(rev.ucl[0], er["UCL"])


def test_ewma_limits_match_qcc(spc):
    datasets, vectors = spc
    rings = np.array(datasets["pistonrings"]["samples"])
    v = vectors["spc.ewma.pistonrings"]
    inp, e = v["inputs"], v["expected"]
    chart = ewma_chart(rings[:25], center=inp["center"], sigma=inp["sigma_within"], lam=inp["lambda"])
    for key, i in (("i1", 0), ("i2", 1), ("i25", 24)):
        _close(chart.lcl[i], e["L3_limits"][key][0])
        _close(chart.ucl[i], e["L3_limits"][key][1])
    wide = ewma_chart(rings, center=inp["center"], sigma=inp["sigma_within"], lam=0.2, nsigmas=2.7)
    for key, i in (("i1", 0), ("i2", 1), ("i40", 39)):
        _close(wide.lcl[i], e["L2p7_limits_with_phaseII"][key][0])
        _close(wide.ucl[i], e["L2p7_limits_with_phaseII"][key][1])


def test_ewma_recursion_equals_the_closed_form_for_constant_n():
    x = np.random.default_rng(1).normal(0, 1, 50)
    chart = ewma_chart(x, center=0.0, sigma=1.0, lam=0.3)
    i = np.arange(1, 51)
    np.testing.assert_allclose(chart.ucl, 3 * np.sqrt(0.3 / 1.7 * (1 - 0.7 ** (2 * i))))
    z, prev = [], 0.0
    for value in x:
        prev = 0.3 * value + 0.7 * prev
        z.append(prev)
    np.testing.assert_allclose(chart.ewma, z)


def test_capability_matches_qcc(spc):
    datasets, vectors = spc
    rings = np.array(datasets["pistonrings"]["samples"])[:25]
    v = vectors["spc.capability.pistonrings"]
    names = {"Cp": "cp", "Cp_l": "cp_l", "Cp_u": "cp_u", "Cp_k": "cp_k", "Cpm": "cpm"}
    for case in v["expected"]["qcc3_sigma_0.009785039"]:
        cap = process_capability(
            rings,
            lsl=case["LSL"],
            usl=case["USL"],
            target=case["target"],
            center=74.001176,
            sigma=0.009785039,
        )
        for key, attr in names.items():
            _close(getattr(cap, attr), case[key])
        for key, attr in (("Cp_CI95", "cp"), ("Cp_k_CI95", "cp_k"), ("Cpm_CI95", "cpm")):
            if key in case:
                _close(cap.ci[attr][0], case[key][0])
                _close(cap.ci[attr][1], case[key][1])
        if "exp_below_LSL_pct" in case:
            _close(100 * cap.expected_below_lsl, case["exp_below_LSL_pct"])
            _close(100 * cap.expected_above_usl, case["exp_above_USL_pct"])
            _close(100 * cap.observed_below_lsl, case["obs_below_LSL_pct"])
            _close(100 * cap.observed_above_usl, case["obs_above_USL_pct"])
    news = v["expected"]["rnews2004_sigma_0.009887547"]
    cap = process_capability(rings, lsl=73.95, usl=74.05, target=74.0, center=74.001176, sigma=0.009887547)
    for key, attr in names.items():
        _close(getattr(cap, attr), news[key])
    for key, attr in (("Cp", "cp"), ("Cp_l", "cp_l"), ("Cp_u", "cp_u"), ("Cp_k", "cp_k"), ("Cpm", "cpm")):
        _close(cap.ci[attr][0], news["CI95_low"][key])
        _close(cap.ci[attr][1], news["CI95_high"][key])


def _rules_by_loop(z, rule):
    out = np.zeros(z.size, dtype=bool)
    for i in range(z.size):
        if rule == "2_of_3_beyond_2sigma" and i >= 0:
            w = z[max(0, i - 2) : i + 1]
            out[i] = (w > 2).sum() >= 2 or (w < -2).sum() >= 2
        elif rule == "8_same_side" and i >= 7:
            w = z[i - 7 : i + 1]
            out[i] = bool(np.all(w > 0) or np.all(w < 0))
        elif rule == "6_trending" and i >= 5:
            dw = np.diff(z[i - 5 : i + 1])
            out[i] = bool(np.all(dw > 0) or np.all(dw < 0))
        elif rule == "14_alternating" and i >= 13:
            dw = np.sign(np.diff(z[i - 13 : i + 1]))
            out[i] = bool(np.all(dw[1:] * dw[:-1] < 0))
        elif rule == "15_within_1sigma" and i >= 14:
            out[i] = bool(np.all(np.abs(z[i - 14 : i + 1]) < 1))
    return out


def test_vectorised_run_rules_agree_with_a_plain_loop():
    rng = np.random.default_rng(9)
    z = np.concatenate([rng.normal(0, 1, 400), rng.normal(0.8, 0.3, 40), np.tile([1.5, -1.5], 10)])
    we = run_rules(z, "we")
    nelson = run_rules(z, "nelson")
    np.testing.assert_array_equal(we["2_of_3_beyond_2sigma"], _rules_by_loop(z, "2_of_3_beyond_2sigma"))
    np.testing.assert_array_equal(we["8_same_side"], _rules_by_loop(z, "8_same_side"))
    for rule in ("6_trending", "14_alternating", "15_within_1sigma"):
        np.testing.assert_array_equal(nelson[rule], _rules_by_loop(z, rule), err_msg=rule)
    assert we["8_same_side"][400:440].any() and nelson["14_alternating"][-1]


def test_run_rules_handle_a_million_points_quickly():
    import time

    z = np.random.default_rng(0).normal(0, 1, 1_000_000)
    start = time.perf_counter()
    flags = run_rules(z, "nelson")
    assert time.perf_counter() - start < 2.0
    assert flags["beyond_3sigma"].sum() == (np.abs(z) > 3).sum()


def test_cusum_closed_form_equals_the_recursion():
    x = np.random.default_rng(3).normal(0.3, 1, 300)
    chart = cusum_chart(x, center=0.0, sigma=1.0, k=0.5, h=4.0)
    hi = lo = 0.0
    his, los = [], []
    for value in x:
        hi = max(0.0, hi + value - 0.5)
        lo = max(0.0, lo - value - 0.5)
        his.append(hi)
        los.append(lo)
    np.testing.assert_allclose(chart.upper, his, atol=1e-9)
    np.testing.assert_allclose(chart.lower, los, atol=1e-9)


def test_u_chart_with_variable_sizes_has_per_sample_limits(spc):
    datasets, _ = spc
    pc = datasets["pcmanufact"]
    chart = control_chart("u", pc["x"], sizes=pc["size"])
    ubar = np.sum(pc["x"]) / np.sum(pc["size"])
    np.testing.assert_allclose(chart.ucl, ubar + 3 * np.sqrt(ubar / np.array(pc["size"], dtype=float)))
    varying = control_chart("p", [3, 5, 2], sizes=[50, 100, 80])
    assert varying.ucl[0] > varying.ucl[1]


def test_spc_inputs_are_validated():
    with pytest.raises(MethodInputError, match="chart must be one of"):
        control_chart("z", [1, 2, 3])
    with pytest.raises(MethodInputError, match=r"unequal lengths \(3 and 2\)"):
        control_chart("p", [1, 2, 3], sizes=[10, 10])
    with pytest.raises(MethodInputError, match="needs the sample sizes"):
        control_chart("np", [1, 2, 3])
    with pytest.raises(MethodInputError, match="lsl must be below usl"):
        process_capability([1.0, 2.0, 3.0], lsl=5, usl=1)
