"""YAML budget files: published examples evaluated from files, and validation errors naming the key."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from qslab.methods.budgetfile import BudgetFileError, evaluate_budget, load_budget, parse_budget

DATA = Path(__file__).parent / "data"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "budgets" / "gum_h1_end_gauge.yaml"


def vectors(reference_dir, family):
    data = json.loads((reference_dir / "methods" / f"{family}.json").read_text())
    return {v["id"]: v for v in data["vectors"]}


def within(actual, leaf):
    return abs(actual - leaf["value"]) <= leaf.get("tol_abs", 0.0) + 1e-12


@pytest.mark.parametrize("path", [EXAMPLE, DATA / "gum_h1_end_gauge.yaml"])
def test_gum_h1_budget_file_reproduces_the_published_result(path, reference_dir):
    exp = vectors(reference_dir, "gum")["gum.H1.end_gauge"]["expected"]
    result = evaluate_budget(path)
    est = result.guf.output("l")
    for value, key in [
        (est.y, "l_nm"),
        (est.u_c, "u_c_nm"),
        (est.nu_eff, "nu_eff"),
        (est.k, "k_99"),
        (est.U, "U_99_nm"),
    ]:
        assert within(value, exp[key]), (key, value)
    assert est.nu_used == exp["nu_eff_truncated"]["value"]
    text = result.summary()
    assert "l = 50000838 nm, u_c = 32 nm, nu_eff = 16.6 (16 used for k), k = 2.92, U(99 %) = 93 nm" in text


def test_the_example_and_the_test_copy_of_gum_h1_are_the_same_file():
    assert EXAMPLE.read_text() == (DATA / "gum_h1_end_gauge.yaml").read_text()


def test_gum_h1_budget_file_by_monte_carlo_agrees_with_the_second_order_result():
    result = load_budget(EXAMPLE).evaluate(method="MCM", trials=200_000, seed=4)
    assert result.mcm is not None
    # JCGM 101 finds u(y) = 34 nm for H.1 (the GUF first order 32 nm is not validated)
    assert result.mcm.u == pytest.approx(34.0, abs=0.6)
    assert not result.mcm.validation[0].passed
    assert "Monte Carlo method (JCGM 101): 200000 trials" in result.summary()


def test_quam_a1_budget_file_with_an_intermediate_output(reference_dir):
    exp = vectors(reference_dir, "gum")["gum.QUAM.A1.cadmium_standard"]["expected"]
    result = evaluate_budget(DATA / "quam_a1_cadmium.yaml")
    c = result.guf.output("c_Cd")
    assert within(c.y, exp["c_Cd_mg_per_L"]) and within(c.u_c, exp["u_c_mg_per_L"])
    budget = result.guf.budget("c_Cd")
    assert within(budget.row("P").contribution, exp["contributions_mg_per_L"]["P"])
    assert result.guf.outputs == ("V", "c_Cd")
    assert "c_Cd = 1002.70 mg/L" in result.summary()


def test_ea402_s2_budget_file_with_a_fixed_coverage_factor(reference_dir):
    exp = vectors(reference_dir, "gum")["gum.EA402.S2_weight_10kg"]["expected"]
    est = evaluate_budget(DATA / "ea402_s2_weight.yaml").guf.output()
    assert within(est.y, exp["m_X_g"]) and within(est.u_c, exp["u_c_g"])
    assert within(est.U, exp["U_g"]) and est.k == 2.0


def test_npl_log_budget_file_runs_the_monte_carlo_method(reference_dir):
    exp = vectors(reference_dir, "gum_s1")["s1.NPL.log_rectangular.shortest_interval"]["expected"]["mcm"]
    result = evaluate_budget(DATA / "npl_log_rectangular.yaml")
    assert result.method == "MCM" and result.mcm is not None
    out = result.mcm.output()
    assert within(out.y, exp["y"]) and within(out.u, exp["u_y"])
    assert within(out.shortest_low, exp["shortest95_low"]) and within(
        out.shortest_high, exp["shortest95_high"]
    )
    # the same seed gives the same numbers
    again = evaluate_budget(DATA / "npl_log_rectangular.yaml")
    assert again.mcm.output().u == out.u


def test_type_a_and_correlated_inputs_from_a_file():
    spec = load_budget(DATA / "correlated_type_a.yaml")
    offset = next(q for q in spec.inputs if q.label == "offset")
    data = np.array([0.11, 0.09, 0.10, 0.12, 0.08])
    assert offset.x == pytest.approx(data.mean()) and offset.dof == 4
    assert offset.u == pytest.approx(data.std(ddof=1) / math.sqrt(5))
    pooled = next(q for q in spec.inputs if q.label == "pooled")
    assert pooled.u == pytest.approx(0.1 / math.sqrt(2)) and pooled.dof == 20
    result = spec.evaluate()
    R = result.guf.output("R")
    V, current = 4.9990, 0.019661
    cV, cI = 1 / current, -V / current**2
    u2 = (cV * 0.0032) ** 2 + (cI * 0.0000095) ** 2 + 2 * cV * cI * (-0.36) * 0.0032 * 0.0000095
    assert R.u_c == pytest.approx(math.sqrt(u2), rel=1e-10)
    data_out = result.to_dict()
    assert [o["label"] for o in data_out["guf"]["outputs"]] == ["R", "diff"]
    json.dumps(data_out)


def write(tmp_path, text):
    path = tmp_path / "budget.yaml"
    path.write_text(text)
    return path


BASE = {"model": "a + b", "inputs": {"a": {"x": 1.0, "u": 0.1}, "b": {"x": 2.0, "u": 0.2}}}


def with_changes(**changes):
    data = json.loads(json.dumps(BASE))
    for dotted, value in changes.items():
        node = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"inputs__a__u": -1.0}, "inputs.a.u: standard uncertainty must be a non-negative number, got -1.0"),
        ({"inputs__a__dof": 0}, "inputs.a.dof: degrees of freedom must be > 0, got 0.0"),
        ({"inputs__a__dof": "many"}, "inputs.a.dof: must be a number, got 'many'"),
        ({"inputs__a__x": "one"}, "inputs.a.x: must be a number, got 'one'"),
        ({"inputs__a__sigma": 1}, "inputs.a: unknown key 'sigma'"),
        ({"inputs__a__distribution": "cauchy"}, "inputs.a.distribution: unknown distribution 'cauchy'"),
        ({"inputs__b": {"x": 1.0}}, "inputs.b: give u, or U with k or level"),
        ({"inputs__b": {"x": 1, "U": 0.2}}, "inputs.b: give U with exactly one of k or level"),
        (
            {"inputs__b": {"x": 1, "distribution": "rectangular", "half_width": -2}},
            "inputs.b.half_width: half-width must be a non-negative number, got -2.0",
        ),
        (
            {"inputs__b": {"distribution": "rectangular", "low": 2, "high": 1}},
            "inputs.b.high: must not be below low",
        ),
        ({"inputs__b": {"x": 0, "distribution": "t", "u": 1}}, "inputs.b.dof: is required for a t input"),
        (
            {"inputs__b": {"distribution": "type_a", "data": [1.0]}},
            "inputs.b: observations of 'b' has fewer than two replicates (1)",
        ),
        ({"inputs__b": {"x": 0, "components": [{"u": 1}]}}, "inputs.b.components[0].label: is required"),
        (
            {"inputs__b": {"x": 0, "components": [{"label": "p", "u": -1}]}},
            "inputs.b.components[0].u: standard uncertainty must be a non-negative number",
        ),
        ({"model": "a + c"}, "model: unknown name 'c' in model expression; the inputs are: a, b"),
        ({"model": "a.__class__"}, "model: 'a.__class__' is not allowed in a model expression"),
        ({"model": 3}, "model: must be an expression or a mapping of outputs to expressions, got int"),
        ({"method": "bayes"}, "method: must be GUF or MCM, got 'bayes'"),
        ({"level": 1.5}, "level: must be between 0 and 1, got 1.5"),
        ({"k": -2}, "k: coverage factor must be positive, got -2.0"),
        ({"second_order": "yes"}, "second_order: must be true or false, got 'yes'"),
        ({"correlations": [["a", "z", 0.5]]}, "correlations[0]: unknown input 'z'"),
        ({"correlations": [["a", "b", 2]]}, "correlations[0]: coefficient must be between -1 and 1, got 2.0"),
        ({"correlations": {"a": "b"}}, "correlations: must be a list of [input, input, coefficient]"),
        ({"mcm": {"trials": 0}}, "mcm.trials: must be an integer of at least 2, got 0"),
        ({"mcm": {"steps": 5}}, "mcm: unknown key 'steps'"),
        ({"mcm": {"interval": "central"}}, "mcm.interval: must be symmetric or shortest, got 'central'"),
        ({"colour": "red"}, "budget: unknown key 'colour'"),
        ({"units": {"z": "m"}}, "units.z: unknown output (outputs: y)"),
        ({"inputs": {}}, "inputs: needs at least one input"),
        ({"inputs": {"1a": {"x": 0, "u": 1}}}, "inputs.1a: input names must be identifiers"),
    ],
)
def test_invalid_budgets_name_the_key_at_fault(tmp_path, changes, message):
    path = write(tmp_path, yaml.safe_dump(with_changes(**changes)))
    with pytest.raises(BudgetFileError) as info:
        load_budget(path)
    assert message in str(info.value)


def test_missing_model_or_inputs_are_named():
    with pytest.raises(BudgetFileError, match=r"^model: is required"):
        parse_budget({"inputs": BASE["inputs"]})
    with pytest.raises(BudgetFileError, match=r"^inputs: is required"):
        parse_budget({"model": "a"})
    with pytest.raises(BudgetFileError, match="budget is empty"):
        parse_budget(None)


def test_unreadable_and_malformed_files_are_reported(tmp_path):
    with pytest.raises(BudgetFileError, match="cannot read budget file"):
        load_budget(tmp_path / "missing.yaml")
    path = write(tmp_path, "model: a +\ninputs: {a: {x: 1, u: [}\n")
    with pytest.raises(BudgetFileError, match=r"budget.yaml is not valid YAML at line 2"):
        load_budget(path)


def test_numbers_written_as_yaml_strings_are_accepted(tmp_path):
    path = write(tmp_path, "model: a\ninputs:\n  a: {x: 1e-6, u: 2e-7, dof: .inf}\n")
    spec = load_budget(path)
    assert spec.inputs[0].x == 1e-6 and spec.inputs[0].u == 2e-7 and math.isinf(spec.inputs[0].dof)


def test_overrides_replace_the_file_settings():
    spec = load_budget(DATA / "npl_log_rectangular.yaml")
    result = spec.evaluate(method="GUF")
    assert result.mcm is None and result.method == "GUF"
    result = spec.evaluate(trials=20_000, seed=9)
    assert result.mcm is not None and result.mcm.trials == 20_000 and result.mcm.seed == 9
    with pytest.raises(BudgetFileError, match="method: must be GUF or MCM"):
        spec.evaluate(method="XYZ")
