"""ISO Guide 35 reference-material statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.refmaterials import certified_uncertainty, characterisation, homogeneity, stability


@pytest.fixture(scope="module")
def vectors(reference_dir):
    data = json.loads((reference_dir / "methods" / "guide35.json").read_text())
    return {v["id"]: v for v in data["vectors"]}


def _close(actual, leaf):
    assert actual == pytest.approx(leaf["value"], abs=leaf["tol_abs"], rel=0)


def test_homogeneity_matches_ecerto_crm001(vectors):
    v = vectors["guide35.homogeneity.eCerto_CRM001_X"]
    h = homogeneity(v["inputs"]["units"])
    e = v["expected"]
    _close(h.mean_of_unit_means, e["mean_of_unit_means"])
    _close(h.n_effective, e["n_effective"])
    assert h.n_units == e["N_units"]["value"]
    _close(h.ms_between, e["MS_between"])
    _close(h.ms_within, e["MS_within"])
    _close(h.p_value, e["P_anova"])
    _close(h.s_bb_relative, e["s_bb_relative"])
    _close(h.u_star_bb_relative, e["u_star_bb_relative"])


def test_stability_matches_ecerto_crm001(vectors):
    v = vectors["guide35.stability.eCerto_CRM001_X"]
    t = np.array(v["inputs"]["time_days_since_1970_01_01"], dtype=float)
    s = stability(t, v["inputs"]["value"], shelf_life=365.25 * 2)
    e = v["expected"]
    _close(s.slope, e["slope_per_day"])
    _close(s.se_slope, e["se_slope_per_day"])
    _close(s.p_value, e["p_value_two_sided"])
    _close(round(s.time_span / (365.25 / 12)), e["months_spanned"])
    assert s.u_lts == pytest.approx(abs(s.se_slope) * 730.5)
    ref = stats.linregress(t, v["inputs"]["value"])
    assert s.slope == pytest.approx(ref.slope, rel=1e-9) and s.se_slope == pytest.approx(ref.stderr, rel=1e-9)


def test_heterogeneity_below_detection_gives_s_bb_zero_and_u_bb_from_u_star():
    h = homogeneity([[10.0, 10.4], [10.1, 10.3], [10.2, 10.2]])
    assert h.ms_between < h.ms_within
    assert h.s_bb == 0.0 and h.u_bb == h.u_star_bb
    assert h.u_star_bb == pytest.approx(np.sqrt(h.ms_within / 2) * (2 / 3) ** 0.25)


def test_unequal_replicates_use_the_effective_n0():
    h = homogeneity([[1.0, 1.2, 1.1], [1.5, 1.4], [1.0, 1.1, 0.9, 1.2]])
    n = np.array([3, 2, 4])
    assert h.n_effective == pytest.approx((9 - np.sum(n**2) / 9) / 2)


def test_certified_value_combines_components():
    char = characterisation([10.1, 10.3, 10.2, 10.0])
    assert char.u_char == pytest.approx(np.std([10.1, 10.3, 10.2, 10.0], ddof=1) / 2)
    crm = certified_uncertainty(char.value, char.u_char, u_bb=0.03, u_lts=0.02, u_sts=0.01)
    assert crm.u_crm == pytest.approx(np.sqrt(char.u_char**2 + 0.03**2 + 0.02**2 + 0.01**2))
    assert crm.expanded_uncertainty == pytest.approx(2 * crm.u_crm)


def test_reference_material_inputs_are_validated():
    with pytest.raises(MethodInputError, match="unit 2 has fewer than two replicates"):
        homogeneity([[1.0, 2.0], [1.0]])
    with pytest.raises(MethodInputError, match=r"unequal lengths \(3 and 4\)"):
        stability([1, 2, 3], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(MethodInputError, match="u_bb must be a non-negative number"):
        certified_uncertainty(1.0, 0.1, u_bb=-0.2)
