"""Uncertainty budget files: a measurement model and its inputs in YAML, evaluated by GUF or MCM.

A budget file names the model (one expression, or a mapping of several outputs), the input quantities
with their distributions, optional correlations, and how to evaluate it::

    title: GUM H.1 end-gauge calibration
    model: l_s + d - l_s*(delta_alpha*theta + alpha_s*delta_theta)
    output: l
    unit: nm
    method: GUF            # GUF (JCGM 100) or MCM (JCGM 101)
    level: 0.99            # coverage probability
    inputs:
      l_s: {x: 50000623, distribution: normal, U: 75, k: 3, dof: 18}
      alpha_s: {x: 11.5e-6, distribution: rectangular, half_width: 2.0e-6}
      ...
    correlations:
      - [a, b, 0.5]
    mcm: {trials: 1000000, seed: 1, adaptive: false, n_dig: 2, interval: symmetric}

Each input takes ``x`` and one distribution (default ``normal``): ``normal`` (``u``, or ``U`` with ``k``
or ``level``), ``t`` (``u`` or ``scale``, ``dof``), ``rectangular`` (``half_width`` or ``u``, or ``low``
and ``high``), ``triangular`` and ``arcsine`` (``half_width`` or ``u``), ``trapezoidal`` (``half_width``,
``beta``), ``type_a`` (``data``, optionally ``pooled_sd`` and ``pooled_dof``) and ``combined``
(``components``: a list of inputs with a ``label``). ``dof`` (degrees of freedom, ``.inf`` by default),
``unit`` and ``description`` are accepted everywhere. Errors name the key, e.g.
``inputs.l_s.u: standard uncertainty must be a non-negative number, got -1.0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from qslab.methods import uncertainty as unc
from qslab.methods._validate import MethodInputError
from qslab.methods.expression import parse_model
from qslab.methods.mcm import MCMResult, monte_carlo
from qslab.results import ResultMixin

__all__ = ["BudgetFileError", "BudgetResult", "BudgetSpec", "evaluate_budget", "load_budget", "parse_budget"]

METHODS = ("GUF", "MCM")
TOP_KEYS = {
    "title",
    "description",
    "model",
    "output",
    "unit",
    "units",
    "method",
    "level",
    "coverage",
    "k",
    "second_order",
    "truncate_dof",
    "inputs",
    "correlations",
    "mcm",
    "n_dig",
}
MCM_KEYS = {"trials", "seed", "adaptive", "n_dig", "interval", "max_trials"}
COMMON_KEYS = {"x", "distribution", "dof", "unit", "description", "label"}
DISTRIBUTION_KEYS = {
    "normal": {"u", "U", "k", "level"},
    "t": {"u", "scale"},
    "rectangular": {"half_width", "u", "low", "high"},
    "triangular": {"half_width", "u"},
    "arcsine": {"half_width", "u"},
    "trapezoidal": {"half_width", "beta"},
    "type_a": {"data", "pooled_sd", "pooled_dof"},
    "combined": {"components"},
}
ALIASES = {
    "gaussian": "normal",
    "student_t": "t",
    "uniform": "rectangular",
    "u_shaped": "arcsine",
    "u-shaped": "arcsine",
    "type a": "type_a",
    "a": "type_a",
}


class BudgetFileError(MethodInputError):
    """A budget file that cannot be read or is invalid; the message starts with the key at fault."""


def _fail(key: str, message: str) -> BudgetFileError:
    return BudgetFileError(f"{key}: {message}" if key else message)


def _number(value: Any, key: str, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or value is None:
        raise _fail(key, f"must be a number, got {value!r}")
    try:
        number = float(value)  # YAML 1.1 reads 2e-6 (no dot) as a string; accept it
    except (TypeError, ValueError):
        raise _fail(key, f"must be a number, got {value!r}") from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise _fail(key, f"must be a finite number, got {value!r}")
    return number


def _integer(value: Any, key: str, minimum: int) -> int:
    number = _number(value, key)
    if not number.is_integer() or number < minimum:
        raise _fail(key, f"must be an integer of at least {minimum}, got {value!r}")
    return int(number)


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(key, f"must be a mapping of keys to values, got {type(value).__name__}")
    return value


def _check_keys(spec: Mapping[str, Any], allowed: set[str], key: str) -> None:
    for name in spec:
        if name not in allowed:
            raise _fail(key, f"unknown key {name!r} (allowed: {', '.join(sorted(allowed))})")


def _input(label: str, spec: Any, key: str) -> unc.InputQuantity:
    spec = _mapping(spec, key)
    raw_kind = spec.get("distribution")
    if raw_kind is None:
        kind = "combined" if "components" in spec else "type_a" if "data" in spec else "normal"
    else:
        if not isinstance(raw_kind, str):
            raise _fail(f"{key}.distribution", f"must be a name, got {raw_kind!r}")
        kind = ALIASES.get(raw_kind.strip().lower(), raw_kind.strip().lower())
        if kind not in DISTRIBUTION_KEYS:
            raise _fail(
                f"{key}.distribution",
                f"unknown distribution {raw_kind!r} (allowed: {', '.join(DISTRIBUTION_KEYS)})",
            )
    _check_keys(spec, COMMON_KEYS | DISTRIBUTION_KEYS[kind], key)
    unit = str(spec.get("unit", ""))
    dof = _number(spec["dof"], f"{key}.dof", allow_inf=True) if "dof" in spec else math.inf
    if dof <= 0:
        raise _fail(f"{key}.dof", f"degrees of freedom must be > 0, got {dof!r}")

    def num(name: str, *, required: bool = False) -> float | None:
        if name not in spec:
            if required:
                raise _fail(f"{key}.{name}", f"is required for a {kind} input")
            return None
        return _number(spec[name], f"{key}.{name}")

    def x_value() -> float:
        value = num("x", required=True)
        assert value is not None
        return value

    def nonneg(name: str) -> float | None:
        value = num(name)
        if value is not None and value < 0:
            what = "standard uncertainty" if name in ("u", "scale") else name.replace("_", "-")
            raise _fail(f"{key}.{name}", f"{what} must be a non-negative number, got {value!r}")
        return value

    try:
        if kind == "normal":
            u = nonneg("u")
            U = nonneg("U")
            if u is None and U is None:
                raise _fail(key, "give u, or U with k or level")
            if u is not None and U is not None:
                raise _fail(key, "give u or U, not both")
            k = num("k")
            level = num("level")
            if U is not None and (k is None) == (level is None):
                raise _fail(key, "give U with exactly one of k or level")
            if k is not None and k <= 0:
                raise _fail(f"{key}.k", f"coverage factor must be positive, got {k!r}")
            if level is not None and not 0 < level < 1:
                raise _fail(f"{key}.level", f"must be between 0 and 1, got {level!r}")
            return unc.normal(label, x_value(), u, U=U, k=k, level=level, dof=dof, unit=unit)
        if kind == "t":
            scale = nonneg("scale") if "scale" in spec else nonneg("u")
            if scale is None:
                raise _fail(key, "give u (or scale) for a t input")
            if "dof" not in spec:
                raise _fail(f"{key}.dof", "is required for a t input")
            return unc.student_t(label, x_value(), scale, dof, unit=unit)
        if kind == "rectangular":
            if "low" in spec or "high" in spec:
                if "x" in spec:
                    raise _fail(key, "give low and high, or x with half_width or u, not both")
                low, high = num("low", required=True), num("high", required=True)
                assert low is not None and high is not None
                if high < low:
                    raise _fail(f"{key}.high", f"must not be below low ({high!r} < {low!r})")
                return unc.rectangular(label, low=low, high=high, dof=dof, unit=unit)
            return unc.rectangular(
                label, x_value(), half_width=nonneg("half_width"), u=nonneg("u"), dof=dof, unit=unit
            )
        if kind == "triangular":
            return unc.triangular(
                label, x_value(), half_width=nonneg("half_width"), u=nonneg("u"), dof=dof, unit=unit
            )
        if kind == "arcsine":
            return unc.arcsine(
                label, x_value(), half_width=nonneg("half_width"), u=nonneg("u"), dof=dof, unit=unit
            )
        if kind == "trapezoidal":
            half_width, beta = nonneg("half_width"), num("beta", required=True)
            if half_width is None:
                raise _fail(f"{key}.half_width", "is required for a trapezoidal input")
            assert beta is not None
            return unc.trapezoidal(label, x_value(), half_width=half_width, beta=beta, dof=dof, unit=unit)
        if kind == "type_a":
            data = spec.get("data")
            if not isinstance(data, list):
                raise _fail(f"{key}.data", "must be a list of observations")
            values = [_number(v, f"{key}.data[{i}]") for i, v in enumerate(data)]
            if "dof" in spec:
                raise _fail(f"{key}.dof", "is set by the data (or pooled_dof) for a type_a input")
            pooled_sd = nonneg("pooled_sd")
            pooled_dof = num("pooled_dof")
            if pooled_dof is not None and pooled_dof <= 0:
                raise _fail(f"{key}.pooled_dof", f"degrees of freedom must be > 0, got {pooled_dof!r}")
            return unc.type_a(label, values, pooled_sd=pooled_sd, pooled_dof=pooled_dof, unit=unit)
        # combined
        components = spec.get("components")
        if not isinstance(components, list) or not components:
            raise _fail(f"{key}.components", "must be a non-empty list of inputs, each with a label")
        parts = []
        for i, comp in enumerate(components):
            ckey = f"{key}.components[{i}]"
            comp = _mapping(comp, ckey)
            clabel = comp.get("label")
            if not isinstance(clabel, str) or not clabel:
                raise _fail(f"{ckey}.label", "is required (a name for the component)")
            parts.append(_input(clabel, {"x": 0.0, **comp}, ckey))
        if "dof" in spec:
            raise _fail(f"{key}.dof", "is computed from the components (Welch-Satterthwaite)")
        return unc.combined(label, x_value(), parts, unit=unit)
    except BudgetFileError:
        raise
    except MethodInputError as exc:
        raise _fail(key, str(exc)) from None


@dataclass(frozen=True, eq=False)
class BudgetSpec(ResultMixin):
    """A validated budget file: model, inputs and evaluation settings."""

    title: str
    model: str | Mapping[str, str]
    output: str
    inputs: tuple[unc.InputQuantity, ...]
    correlations: Mapping[tuple[str, str], float]
    method: str = "GUF"
    level: float = 0.95
    k: float | None = None
    second_order: bool = False
    truncate_dof: bool = True
    units: Mapping[str, str] = field(default_factory=dict)
    trials: int = 10**6
    seed: int | None = None
    adaptive: bool = False
    n_dig: int = 2
    interval: str = "symmetric"
    max_trials: int = 10**8
    description: str = ""

    def summary(self) -> str:
        outputs = (
            self.model
            if isinstance(self.model, str)
            else "; ".join(f"{k} = {v}" for k, v in self.model.items())
        )
        return f"{self.title}: {outputs} ({len(self.inputs)} inputs, {self.method})"

    def evaluate(
        self,
        *,
        method: str | None = None,
        trials: int | None = None,
        seed: int | None = None,
        adaptive: bool | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> BudgetResult:
        """Evaluate the budget by the GUM framework (``GUF``) or Monte Carlo (``MCM``, which also runs
        GUF and validates it as in JCGM 101 8.2); the arguments override the file's settings."""
        how = (method or self.method).upper()
        if how not in METHODS:
            raise BudgetFileError(f"method: must be GUF or MCM, got {method!r}")
        guf = unc.propagate(
            self.model,
            self.inputs,
            correlations=self.correlations or None,
            level=self.level,
            k=self.k,
            second_order=self.second_order,
            truncate_dof=self.truncate_dof,
            output=self.output,
            units=self.units,
        )
        mcm: MCMResult | None = None
        if how == "MCM":
            mcm = monte_carlo(
                self.model,
                self.inputs,
                correlations=self.correlations or None,
                level=self.level,
                trials=self.trials if trials is None else trials,
                adaptive=self.adaptive if adaptive is None else adaptive,
                n_dig=self.n_dig,
                max_trials=self.max_trials,
                seed=self.seed if seed is None else seed,
                interval=self.interval,
                validate=False,
                output=self.output,
                units=self.units,
                progress=progress,
            )
            from qslab.methods.mcm import validate_guf

            mcm = MCMResult(
                **{
                    **vars(mcm),
                    "guf": guf,
                    "validation": validate_guf(guf, mcm, n_dig=self.n_dig, interval=self.interval),
                }
            )
        return BudgetResult(self.title, how, guf, mcm)


@dataclass(frozen=True, eq=False)
class BudgetResult(ResultMixin):
    """A budget file evaluated: the GUF result (always) and the Monte Carlo result for ``MCM``."""

    title: str
    method: str
    guf: unc.GUFResult
    mcm: MCMResult | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"title": self.title, "method": self.method}
        data["guf"] = {
            "outputs": [e.to_dict() for e in self.guf.estimates],
            "budgets": [self.guf.budget(o).to_dict() for o in self.guf.outputs],
            "covariance": self.guf.covariance.tolist(),
            "correlation": self.guf.correlation.tolist(),
            "second_order_variance": self.guf.second_order_variance.tolist(),
            "notes": list(self.guf.notes),
        }
        if self.mcm is not None:
            m = self.mcm
            data["mcm"] = {
                "outputs": [e.to_dict() for e in m.estimates],
                "trials": m.trials,
                "seed": m.seed,
                "adaptive": m.adaptive,
                "converged": m.converged,
                "interval": m.interval,
                "covariance": m.covariance.tolist(),
                "correlation": m.correlation.tolist(),
                "validation": [v.to_dict() for v in m.validation],
            }
        return data

    def summary(self) -> str:
        head = [self.title, "=" * len(self.title), ""] if self.title else []
        body = self.guf.summary()
        if self.mcm is None:
            return "\n".join([*head, body])
        mcm_text = "\n".join(
            line for line in self.mcm.summary().splitlines() if not line.startswith("GUF not evaluated")
        )
        return "\n".join([*head, body, "", mcm_text])


def parse_budget(data: Any, source: str = "budget") -> BudgetSpec:
    """Validate a budget already read from YAML (a mapping) into a :class:`BudgetSpec`."""
    top = _mapping(data, "") if data is not None else None
    if top is None:
        raise BudgetFileError(f"{source} is empty")
    _check_keys(top, TOP_KEYS, "budget")
    title = str(top.get("title", ""))
    if "inputs" not in top:
        raise _fail("inputs", "is required (a mapping of input names to their distributions)")
    raw_inputs = _mapping(top["inputs"], "inputs")
    if not raw_inputs:
        raise _fail("inputs", "needs at least one input")
    inputs = []
    for label, spec in raw_inputs.items():
        if not isinstance(label, str) or not label.isidentifier():
            raise _fail(f"inputs.{label}", "input names must be identifiers (letters, digits, _)")
        inputs.append(_input(label, spec, f"inputs.{label}"))
    labels = [q.label for q in inputs]

    if "model" not in top:
        raise _fail("model", "is required (an expression, or a mapping of outputs to expressions)")
    model = top["model"]
    output = str(top.get("output", "y"))
    if isinstance(model, Mapping):
        model = {str(k): str(v) for k, v in model.items()}
        if "output" in top:
            raise _fail(
                "output", "names the single output; with several outputs the model mapping names them"
            )
    elif not isinstance(model, str):
        raise _fail(
            "model",
            f"must be an expression or a mapping of outputs to expressions, got {type(model).__name__}",
        )
    if not output.isidentifier():
        raise _fail("output", f"must be a name, got {output!r}")
    try:
        outputs = list(parse_model(model, labels, output=output))
    except MethodInputError as exc:
        raise _fail("model", str(exc)) from None

    units: dict[str, str] = {}
    if "unit" in top:
        if len(outputs) != 1:
            raise _fail("unit", "is for a single output; use units: {output: unit} for several")
        units[outputs[0]] = str(top["unit"])
    if "units" in top:
        for name, unit in _mapping(top["units"], "units").items():
            if name not in outputs:
                raise _fail(f"units.{name}", f"unknown output (outputs: {', '.join(outputs)})")
            units[str(name)] = str(unit)

    method = str(top.get("method", "GUF")).upper()
    if method not in METHODS:
        raise _fail("method", f"must be GUF or MCM, got {top.get('method')!r}")
    if "level" in top and "coverage" in top:
        raise _fail("coverage", "give level or coverage, not both")
    level = _number(top.get("level", top.get("coverage", 0.95)), "level" if "level" in top else "coverage")
    if not 0 < level < 1:
        raise _fail("level" if "level" in top else "coverage", f"must be between 0 and 1, got {level!r}")
    k = None
    if top.get("k") is not None:
        k = _number(top["k"], "k")
        if k <= 0:
            raise _fail("k", f"coverage factor must be positive, got {k!r}")
    flags = {}
    for name in ("second_order", "truncate_dof"):
        if name in top:
            if not isinstance(top[name], bool):
                raise _fail(name, f"must be true or false, got {top[name]!r}")
            flags[name] = top[name]

    correlations: dict[tuple[str, str], float] = {}
    raw_corr = top.get("correlations") or []
    if not isinstance(raw_corr, list):
        raise _fail("correlations", "must be a list of [input, input, coefficient]")
    for i, item in enumerate(raw_corr):
        ckey = f"correlations[{i}]"
        if isinstance(item, Mapping):
            item = [item.get("a"), item.get("b"), item.get("r")]
        if not isinstance(item, list) or len(item) != 3:
            raise _fail(ckey, "must be [input, input, coefficient]")
        a, b, r = item
        for name in (a, b):
            if name not in labels:
                raise _fail(ckey, f"unknown input {name!r}")
        if a == b:
            raise _fail(ckey, f"correlation of {a!r} with itself is always 1")
        value = _number(r, ckey)
        if not -1 <= value <= 1:
            raise _fail(ckey, f"coefficient must be between -1 and 1, got {value!r}")
        correlations[(a, b)] = value
    if correlations:
        try:
            unc.correlation_matrix(labels, correlations)
        except MethodInputError as exc:
            raise _fail("correlations", str(exc)) from None

    mcm_spec = _mapping(top.get("mcm") or {}, "mcm")
    _check_keys(mcm_spec, MCM_KEYS, "mcm")
    settings: dict[str, Any] = {}
    if "trials" in mcm_spec:
        settings["trials"] = _integer(mcm_spec["trials"], "mcm.trials", 2)
    if "max_trials" in mcm_spec:
        settings["max_trials"] = _integer(mcm_spec["max_trials"], "mcm.max_trials", 10**4)
    if mcm_spec.get("seed") is not None:
        settings["seed"] = _integer(mcm_spec["seed"], "mcm.seed", 0)
    if "adaptive" in mcm_spec:
        if not isinstance(mcm_spec["adaptive"], bool):
            raise _fail("mcm.adaptive", f"must be true or false, got {mcm_spec['adaptive']!r}")
        settings["adaptive"] = mcm_spec["adaptive"]
    n_dig_raw = mcm_spec.get("n_dig", top.get("n_dig"))
    if n_dig_raw is not None:
        settings["n_dig"] = _integer(n_dig_raw, "mcm.n_dig" if "n_dig" in mcm_spec else "n_dig", 1)
    if "interval" in mcm_spec:
        if mcm_spec["interval"] not in ("symmetric", "shortest"):
            raise _fail("mcm.interval", f"must be symmetric or shortest, got {mcm_spec['interval']!r}")
        settings["interval"] = mcm_spec["interval"]

    return BudgetSpec(
        title=title,
        model=model,
        output=output,
        inputs=tuple(inputs),
        correlations=correlations,
        method=method,
        level=level,
        k=k,
        units=units,
        description=str(top.get("description", "")),
        **flags,
        **settings,
    )


def load_budget(source: str | Path) -> BudgetSpec:
    """Read and validate a YAML budget file (a path)."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BudgetFileError(f"cannot read budget file {str(path)!r}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise BudgetFileError(f"{path.name} is not valid YAML{where}") from None
    return parse_budget(data, source=path.name)


def evaluate_budget(source: str | Path, **overrides: Any) -> BudgetResult:
    """Load a budget file and evaluate it (see :meth:`BudgetSpec.evaluate` for the overrides)."""
    return load_budget(source).evaluate(**overrides)
