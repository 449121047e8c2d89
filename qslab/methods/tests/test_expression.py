"""Safe model expressions: whitelist, messages naming the offending token, vectorised evaluation and
analytic derivatives checked against finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qslab.methods.expression import FUNCTIONS, ExpressionError, parse_expression, parse_model


def test_expression_evaluates_scalars_and_arrays_alike():
    f = parse_expression("a * sqrt(b) + 2**3 - -c / 4", names=["a", "b", "c"])
    assert f.names == ("a", "b", "c")
    assert float(f({"a": 3.0, "b": 4.0, "c": 8.0})) == 3 * 2 + 8 + 2
    a = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(f({"a": a, "b": 9.0, "c": 0.0}), a * 3 + 8)


def test_python_precedence_is_kept():
    f = parse_expression("-x**2 + 2*x**-1", names=["x"])
    assert float(f({"x": 2.0})) == pytest.approx(-4 + 1)
    g = parse_expression("a / b / c - (a - b - c)", names=["a", "b", "c"])
    assert float(g({"a": 8.0, "b": 2.0, "c": 2.0})) == pytest.approx(2 - 4)


def test_constants_pi_and_e_are_available_unless_an_input_has_that_name():
    assert float(parse_expression("pi + e")({})) == pytest.approx(math.pi + math.e)
    assert float(parse_expression("2*e", names=["e"])({"e": 1.0})) == 2.0


def test_rendered_text_parses_back_to_the_same_function():
    rng = np.random.default_rng(4)
    for text in ["a - (b - c)", "a / (b * c)", "(a + b)**2 / -(c - a)", "-(a**b)", "(-a)**2", "a**b**c"]:
        f = parse_expression(text, names=["a", "b", "c"])
        g = parse_expression(f.text, names=["a", "b", "c"])
        env = {k: rng.uniform(1.1, 2.0, 5) for k in "abc"}
        np.testing.assert_allclose(g(env), f(env), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_analytic_derivative_of_each_function_matches_a_central_difference(name):
    arity = FUNCTIONS[name][0]
    text = f"{name}(0.3*x + 0.1*y)" if arity == 1 else f"{name}(x*y, x + 0.5)"
    f = parse_expression(text, names=["x", "y"])
    point = {"x": 0.37, "y": 0.61}
    for var in ("x", "y"):
        h = 1e-6
        up, down = dict(point), dict(point)
        up[var] += h
        down[var] -= h
        numeric = (float(f(up)) - float(f(down))) / (2 * h)
        assert float(f.derivative(var)(point)) == pytest.approx(numeric, rel=1e-6, abs=1e-9), (name, var)


def test_derivative_of_a_power_with_a_variable_exponent():
    f = parse_expression("x**y", names=["x", "y"])
    env = {"x": 2.0, "y": 3.0}
    assert float(f.derivative("x")(env)) == pytest.approx(12.0)
    assert float(f.derivative("y")(env)) == pytest.approx(8 * math.log(2))


def test_derivatives_are_simplified_to_zero_where_a_name_is_absent():
    f = parse_expression("l_s + d - l_s*(delta_alpha*theta + alpha_s*delta_theta)")
    assert f.derivative("d").text == "1"
    assert f.derivative("alpha_s").derivative("theta").is_constant
    assert f.derivative("nothing").text == "0"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.__class__", "'a.__class__' is not allowed in a model expression"),
        ("__import__('os').system('ls')", "__import__('os').system\" is not allowed in a model expression"),
        ("__import__('os')", "unknown function '__import__' in model expression"),
        ("open('f')", "unknown function 'open'"),
        ("a ^ 2", "'^' in 'a ^ 2' is not allowed in a model expression; write powers with **"),
        ("a if b else 0", "'a if b else 0' is not allowed"),
        ("a < b", "'a < b' is not allowed"),
        ("a[0]", "'a[0]' is not allowed"),
        ("'text'", "\"'text'\" is not allowed"),
        ("[a, b]", "'[a, b]' is not allowed"),
        ("lambda: a", "'lambda: a' is not allowed"),
        ("sqrt(x=a)", "'sqrt(... x=a)' is not allowed"),
        ("sqrt(a, b)", "function 'sqrt' takes 1 argument, got 2"),
        ("atan2(a)", "function 'atan2' takes 2 arguments, got 1"),
        ("sqrt", "function 'sqrt' is used without an argument"),
        ("a + c", "unknown name 'c' in model expression; the inputs are: a, b"),
        ("a % b", "'a % b' is not allowed"),
        ("a // b", "'a // b' is not allowed"),
        ("a +", "cannot parse model expression 'a +'"),
        ("", "the model expression is empty"),
        ("True + a", "'True' is not allowed"),
        ("1j * a", "'1j' is not allowed"),
        ("a.real", "'a.real' is not allowed"),
        ("(lambda: 1)()", "'lambda: 1' is not allowed"),
    ],
)
def test_anything_outside_the_whitelist_is_rejected_naming_the_token(text, message):
    with pytest.raises(ExpressionError) as info:
        parse_expression(text, names=["a", "b"])
    assert message in str(info.value)


def test_names_starting_with_an_underscore_are_refused_without_a_name_list():
    with pytest.raises(ExpressionError, match="'__builtins__' is not allowed"):
        parse_expression("__builtins__")


def test_a_non_string_model_is_rejected():
    with pytest.raises(ExpressionError, match="a model expression must be a string, got int"):
        parse_expression(3)  # type: ignore[arg-type]


def test_parse_model_substitutes_earlier_outputs():
    outs = parse_model({"V": "V1 + V2", "c": "m / V"}, ["V1", "V2", "m"])
    assert list(outs) == ["V", "c"]
    env = {"V1": 1.0, "V2": 3.0, "m": 8.0}
    assert float(outs["c"](env)) == 2.0
    assert float(outs["c"].derivative("V1")(env)) == pytest.approx(-8.0 / 16.0)
    with pytest.raises(ExpressionError, match="output 'm' has the same name as an input"):
        parse_model({"m": "V1"}, ["V1", "m"])
    with pytest.raises(ExpressionError, match="unknown name 'c'"):
        parse_model({"a": "V1 + c", "c": "V1"}, ["V1"])
    assert list(parse_model("V1 * 2", ["V1"], output="z")) == ["z"]
