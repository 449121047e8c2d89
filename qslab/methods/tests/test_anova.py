"""One-way ANOVA against NIST StRD certified values, SciPy and statsmodels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy
from scipy import stats

from qslab.methods._validate import MethodInputError
from qslab.methods.anova import one_way_anova

NIST_DIR = Path(scipy.__file__).parent / "stats" / "tests" / "data" / "nist_anova"


def _close(actual: float, leaf: dict) -> None:
    if "tol_rel" in leaf:
        assert actual == pytest.approx(leaf["value"], rel=leaf["tol_rel"], abs=0)
    else:
        assert actual == pytest.approx(leaf["value"], abs=leaf["tol_abs"], rel=0)


@pytest.fixture(scope="module")
def nist_vectors(reference_dir):
    return json.loads((reference_dir / "methods" / "nist_anova.json").read_text())["vectors"]


def test_anova_matches_every_shared_nist_vector(nist_vectors):
    for vector in nist_vectors:
        result = one_way_anova(vector["inputs"]["groups"])
        exp = vector["expected"]
        assert result.df_between == exp["between"]["df"]["value"]
        assert result.df_within == exp["within"]["df"]["value"]
        _close(result.ss_between, exp["between"]["SS"])
        _close(result.ms_between, exp["between"]["MS"])
        _close(result.f_statistic, exp["between"]["F"])
        _close(result.ss_within, exp["within"]["SS"])
        _close(result.ms_within, exp["within"]["MS"])
        _close(result.r_squared, exp["R_squared"])
        _close(result.residual_sd, exp["residual_sd"])


def _read_nist(path: Path):
    lines = path.read_text().splitlines()
    cert = [line.split() for line in lines[40:48] if line.strip()]
    data = np.loadtxt(path, skiprows=60)
    return cert, data[:, 0].astype(int), data[:, 1]


@pytest.mark.parametrize("name", ["SiRstv", "AtmWtAg"] + [f"SmLs0{i}" for i in range(1, 10)])
def test_anova_reaches_all_certified_digits_on_every_strd_set_including_smls07_to_09(name):
    cert, labels, values = _read_nist(NIST_DIR / f"{name}.dat")
    result = one_way_anova(values=values, labels=labels)
    assert result.method == "decimal-grid exact"
    certified = {
        "ss_between": float(cert[0][3]),
        "ms_between": float(cert[0][4]),
        "f_statistic": float(cert[0][5]),
        "ss_within": float(cert[1][3]),
        "ms_within": float(cert[1][4]),
        "r_squared": float(cert[2][2]),
        "residual_sd": float(cert[4][2]),
    }
    for field, value in certified.items():
        got = getattr(result, field)
        lre = 15.0 if got == value else -math.log10(abs(got - value) / abs(value))
        # NIST certifies 15 significant digits; AtmWtAg is certified to only 10 for SS and MS.
        floor = 9.5 if name == "AtmWtAg" else 13.5
        assert lre >= floor, (name, field, got, value, lre)


def test_float_path_is_as_accurate_as_the_binary_inputs_allow():
    cert, labels, values = _read_nist(NIST_DIR / "SmLs04.dat")
    result = one_way_anova(values=values, labels=labels, decimal_grid=False)
    assert result.method == "two-pass float"
    # the doubles themselves carry ~1e-10 relative representation error here (LRE ~ 10)
    assert result.ss_within == pytest.approx(float(cert[1][3]), rel=1e-9)


def test_anova_agrees_with_scipy_f_oneway_and_statsmodels_anova_lm():
    import statsmodels.api as sm
    from statsmodels.formula.api import ols

    rng = np.random.default_rng(7)
    groups = [rng.normal(loc, 1.3, size) for loc, size in [(5, 4), (5.5, 7), (6.4, 5), (4.8, 9)]]
    ours = one_way_anova(groups)
    f, p = stats.f_oneway(*groups)
    assert ours.f_statistic == pytest.approx(f, rel=1e-12)
    assert ours.p_value == pytest.approx(p, rel=1e-9)
    frame = pd.DataFrame(
        {"y": np.concatenate(groups), "g": np.repeat(list("abcd"), [g.size for g in groups])}
    )
    table = sm.stats.anova_lm(ols("y ~ C(g)", data=frame).fit())
    assert ours.ss_between == pytest.approx(table["sum_sq"].iloc[0], rel=1e-10)
    assert ours.ss_within == pytest.approx(table["sum_sq"].iloc[1], rel=1e-10)
    assert ours.df_within == int(table["df"].iloc[1])


def test_values_with_labels_give_the_same_table_as_groups():
    a = one_way_anova([[1.0, 2.0, 4.0], [3.0, 5.0]])
    b = one_way_anova(values=[3.0, 1.0, 5.0, 2.0, 4.0], labels=["y", "x", "y", "x", "x"])
    assert a.ss_within == b.ss_within and a.f_statistic == b.f_statistic
    assert b.group_labels == ("x", "y")


def test_anova_rejects_bad_input_with_exact_messages():
    with pytest.raises(MethodInputError, match="group 2 is empty"):
        one_way_anova([[1.0, 2.0], []])
    with pytest.raises(MethodInputError, match="at least two groups, got 1"):
        one_way_anova([[1.0, 2.0]])
    with pytest.raises(MethodInputError, match=r"unequal lengths \(3 and 2\)"):
        one_way_anova(values=[1.0, 2.0, 3.0], labels=["a", "b"])
    with pytest.raises(MethodInputError, match="two or more values"):
        one_way_anova([[1.0], [2.0]])
    with pytest.raises(MethodInputError, match="missing or non-finite"):
        one_way_anova([[1.0, np.nan], [2.0, 3.0]])


def test_summary_and_to_dict_name_the_anova_table():
    result = one_way_anova([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert "between" in result.summary() and "R^2" in result.summary()
    assert result.to_dict()["df_within"] == 4
