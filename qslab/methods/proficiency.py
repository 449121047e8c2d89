"""Statistics for proficiency testing by interlaboratory comparison: ISO 13528:2022.

* robust statistics (Annex C): :func:`algorithm_a` (C.3, Huber-type winsorisation with iterated
  scale), :func:`made` (C.2.2, ``1.483 * median |x - med|``), :func:`niqr` (C.2.3, ``0.7413 * IQR``);
* assigned value (clause 7): :func:`assigned_value` from formulation, a certified reference
  material, the robust consensus (``u(x_pt) = 1.25 s*/sqrt(p)``, 7.7.3) or expert laboratories;
* standard deviation for proficiency assessment (clause 8): :func:`sigma_pt_horwitz`,
  :func:`sigma_pt_from_precision` (8.4), or a fixed value or the robust SD;
* performance scores (clause 9): :func:`pt_scores` gives z, z', zeta and E_n with the
  action/warning classification (9.2-9.6);
* PT items (Annex B): :func:`homogeneity_check` (B.2, ``s_s <= 0.3 sigma_pt`` and the extended
  criterion B.2.3) and :func:`stability_check` (B.5).

>>> x = [2.9, 3.1, 3.4, 3.4, 3.7, 3.7, 2.8, 2.5, 2.4, 2.4, 2.7, 2.2,
...      5.28, 3.37, 3.03, 3.03, 28.95, 3.77, 3.4, 2.2, 3.5, 3.6, 3.7, 3.7]
>>> robust = algorithm_a(x)
>>> round(robust.x_star, 3), round(robust.s_star, 3)
(3.206, 0.674)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from qslab.methods._validate import MethodInputError, as_1d, non_negative, positive
from qslab.results import ResultMixin

__all__ = [
    "AlgorithmAResult",
    "AssignedValue",
    "HomogeneityCheck",
    "PTScores",
    "StabilityCheck",
    "algorithm_a",
    "assigned_value",
    "homogeneity_check",
    "made",
    "niqr",
    "pt_scores",
    "sigma_pt_from_precision",
    "sigma_pt_horwitz",
    "stability_check",
]

MADE_FACTOR = 1.483  # ISO 13528 C.2.2
NIQR_FACTOR = 0.7413  # ISO 13528 C.2.3
ALG_A_SCALE = 1.134  # ISO 13528 C.3.1
ALG_A_C = 1.5


def made(values: Sequence[float] | np.ndarray) -> float:
    """Scaled median absolute deviation ``MADe = 1.483 median|x_i - median(x)|`` (ISO 13528 C.2.2)."""
    x = as_1d(values, "values")
    return float(MADE_FACTOR * np.median(np.abs(x - np.median(x))))


def niqr(values: Sequence[float] | np.ndarray) -> float:
    """Normalised interquartile range ``nIQR = 0.7413 (Q3 - Q1)`` (ISO 13528 C.2.3).

    Quartiles by linear interpolation between order statistics (Hyndman-Fan type 7, the R and
    NumPy default); ISO 13528 does not fix the quartile definition.
    """
    x = as_1d(values, "values", min_length=2)
    q1, q3 = np.quantile(x, [0.25, 0.75])
    return float(NIQR_FACTOR * (q3 - q1))


@dataclass(frozen=True)
class AlgorithmAResult(ResultMixin):
    """Robust mean ``x_star`` and robust SD ``s_star`` from ISO 13528 Algorithm A (C.3)."""

    x_star: float
    s_star: float
    p: int
    iterations: int
    converged: bool
    stopping_rule: str
    u_x_star: float  # 1.25 s*/sqrt(p), ISO 13528 7.7.3

    def summary(self) -> str:
        return (
            f"Algorithm A (ISO 13528 C.3): x* = {self.x_star:.6g}, s* = {self.s_star:.6g}, "
            f"u(x*) = {self.u_x_star:.4g}, p = {self.p}, {self.iterations} iterations ({self.stopping_rule})"
        )


def algorithm_a(
    values: Sequence[float] | np.ndarray,
    *,
    stopping_rule: str = "converged",
    tol: float = 1e-12,
    max_iterations: int = 1000,
) -> AlgorithmAResult:
    """ISO 13528:2022 Annex C.3 Algorithm A.

    Start from ``x* = median``, ``s* = 1.483 median|x - x*|``; then repeat: ``delta = 1.5 s*``,
    winsorise ``x_i`` to ``[x* - delta, x* + delta]``, ``x* = mean``, ``s* = 1.134 * SD`` of the
    winsorised values. ``stopping_rule="converged"`` iterates until the relative change of both is
    below ``tol``; ``"third_significant_figure"`` stops as C.3.1 describes, when the third significant
    figure of ``x*`` and ``s*`` no longer changes. If the initial ``s*`` is 0 (more than half the
    results equal), the nIQR and then the sample SD are used as fallbacks; if all are 0, ``s* = 0``.
    Vectorised per iteration (one pass of numpy over the data).
    """
    if stopping_rule not in ("converged", "third_significant_figure"):
        raise MethodInputError(
            f"stopping_rule must be 'converged' or 'third_significant_figure', got {stopping_rule!r}"
        )
    x = as_1d(values, "values", min_length=2)
    p = x.size
    x_star = float(np.median(x))
    s_star = float(MADE_FACTOR * np.median(np.abs(x - x_star)))
    if s_star == 0:
        s_star = niqr(x) or float(np.std(x, ddof=1))
    iterations, converged = 0, s_star == 0
    while not converged and iterations < max_iterations:
        delta = ALG_A_C * s_star
        w = np.clip(x, x_star - delta, x_star + delta)
        new_x = float(np.mean(w))
        new_s = float(ALG_A_SCALE * np.std(w, ddof=1))
        iterations += 1
        if stopping_rule == "converged":
            converged = (
                abs(new_x - x_star) <= tol * max(abs(new_x), new_s) and abs(new_s - s_star) <= tol * new_s
            )
        else:
            converged = _sig3(new_x) == _sig3(x_star) and _sig3(new_s) == _sig3(s_star)
        x_star, s_star = new_x, new_s
    return AlgorithmAResult(
        x_star=x_star,
        s_star=s_star,
        p=p,
        iterations=iterations,
        converged=bool(converged),
        stopping_rule=stopping_rule,
        u_x_star=float(1.25 * s_star / np.sqrt(p)),
    )


def _sig3(value: float) -> float:
    return float(f"{value:.3g}")


@dataclass(frozen=True)
class AssignedValue(ResultMixin):
    """Assigned value ``x_pt`` and its standard uncertainty ``u(x_pt)`` (ISO 13528 clause 7)."""

    x_pt: float
    u_x_pt: float
    method: str

    def summary(self) -> str:
        return f"x_pt = {self.x_pt:.6g}, u(x_pt) = {self.u_x_pt:.4g} ({self.method})"


def assigned_value(
    method: str,
    *,
    value: float | None = None,
    uncertainty: float | None = None,
    results: Sequence[float] | np.ndarray | None = None,
    expert_values: Sequence[float] | np.ndarray | None = None,
    expert_uncertainties: Sequence[float] | np.ndarray | None = None,
) -> AssignedValue:
    """Assigned value by one of the ISO 13528 clause 7 methods.

    * ``"formulation"`` (7.3) and ``"crm"`` (7.4): ``value`` and its standard ``uncertainty``;
    * ``"consensus"`` (7.7): Algorithm A on the participants' ``results``,
      ``u(x_pt) = 1.25 s*/sqrt(p)``;
    * ``"expert"`` (7.6): mean of the expert laboratories' ``expert_values``; with their standard
      ``expert_uncertainties`` ``u = sqrt(sum u_i^2)/q`` (7.6.2), else ``SD/sqrt(q)``.
    """
    if method in ("formulation", "crm"):
        if value is None or uncertainty is None:
            raise MethodInputError(f"assigned value by {method} needs value and uncertainty")
        u = non_negative(uncertainty, "uncertainty")
        return AssignedValue(float(value), u, method)
    if method == "consensus":
        if results is None:
            raise MethodInputError("assigned value by consensus needs the participants' results")
        r = algorithm_a(results)
        return AssignedValue(r.x_star, r.u_x_star, "consensus (Algorithm A)")
    if method == "expert":
        if expert_values is None:
            raise MethodInputError("assigned value from expert laboratories needs expert_values")
        xv = as_1d(expert_values, "expert_values")
        if expert_uncertainties is not None:
            uv = as_1d(expert_uncertainties, "expert_uncertainties")
            if uv.size != xv.size:
                raise MethodInputError(
                    f"expert_values and expert_uncertainties have unequal lengths ({xv.size} and {uv.size})"
                )
            if np.any(uv < 0):
                raise MethodInputError("expert_uncertainties must be non-negative")
            u = float(np.sqrt(np.sum(uv * uv)) / xv.size)
        else:
            if xv.size < 2:
                raise MethodInputError("expert laboratories without uncertainties need at least two values")
            u = float(np.std(xv, ddof=1) / np.sqrt(xv.size))
        return AssignedValue(float(np.mean(xv)), u, "expert laboratories")
    raise MethodInputError(f"method must be 'formulation', 'crm', 'consensus' or 'expert', got {method!r}")


def sigma_pt_horwitz(mass_fraction: float | np.ndarray) -> float | np.ndarray:
    """Horwitz-Thompson standard deviation for proficiency assessment (ISO 13528 8.3 / Thompson 2000).

    ``mass_fraction`` is dimensionless (1 mg/kg = 1e-6). ``sigma = 0.22 c`` below 1.2e-7,
    ``0.02 c^0.8495`` up to 0.138, ``0.01 c^0.5`` above.
    """
    c = np.asarray(mass_fraction, dtype=float)
    if np.any(~np.isfinite(c)) or np.any(c <= 0) or np.any(c > 1):
        raise MethodInputError("mass_fraction must be in (0, 1]")
    sigma = np.where(c < 1.2e-7, 0.22 * c, np.where(c <= 0.138, 0.02 * c**0.8495, 0.01 * np.sqrt(c)))
    return float(sigma) if sigma.ndim == 0 else sigma


def sigma_pt_from_precision(reproducibility_sd: float, repeatability_sd: float, replicates: int = 1) -> float:
    """``sigma_pt = sqrt(sigma_R^2 - sigma_r^2 (1 - 1/m))`` from a precision experiment (ISO 13528 8.4)."""
    s_rr = non_negative(reproducibility_sd, "reproducibility_sd")
    s_r = non_negative(repeatability_sd, "repeatability_sd")
    if replicates < 1 or int(replicates) != replicates:
        raise MethodInputError(f"replicates must be a positive integer, got {replicates!r}")
    value = s_rr**2 - s_r**2 * (1 - 1 / replicates)
    if value < 0:
        raise MethodInputError("repeatability_sd exceeds reproducibility_sd")
    return float(np.sqrt(value))


@dataclass(frozen=True)
class PTScores(ResultMixin):
    """Performance scores per participant (ISO 13528 clause 9), aligned with ``participants``.

    ``z_class`` etc. hold ``"acceptable"`` (|score| <= 2; |E_n| <= 1), ``"warning"`` (2 < |score| < 3)
    or ``"action"`` (|score| >= 3; |E_n| > 1); NaN scores are ``"not scored"``.
    """

    participants: tuple[str, ...]
    results: np.ndarray
    x_pt: float
    u_x_pt: float
    sigma_pt: float | None
    z: np.ndarray
    z_prime: np.ndarray
    zeta: np.ndarray
    e_n: np.ndarray
    z_class: tuple[str, ...]
    z_prime_class: tuple[str, ...]
    zeta_class: tuple[str, ...]
    e_n_class: tuple[str, ...]
    u_x_pt_negligible: bool  # u(x_pt) <= 0.3 sigma_pt (ISO 13528 9.2.1)

    def summary(self) -> str:
        head = f"x_pt = {self.x_pt:.6g}, u(x_pt) = {self.u_x_pt:.4g}"
        if self.sigma_pt is not None:
            head += f", sigma_pt = {self.sigma_pt:.4g}"
        lines = [
            head,
            f"{'participant':<14} {'result':>12} {'z':>8} {'z_prime':>8} {'zeta':>8} {'E_n':>8}  class(z)",
        ]
        for i, name in enumerate(self.participants):
            lines.append(
                f"{name:<14} {self.results[i]:>12.6g} {self.z[i]:>8.2f} {self.z_prime[i]:>8.2f} "
                f"{self.zeta[i]:>8.2f} {self.e_n[i]:>8.2f}  {self.z_class[i]}"
            )
        return "\n".join(lines)


def _classes(score: np.ndarray, warn: float | None, action: float) -> tuple[str, ...]:
    a = np.abs(score)
    out = np.where(np.isnan(a), "not scored", "acceptable").astype(object)
    if warn is not None:
        out[(a > warn) & (a < action)] = "warning"
        out[a >= action] = "action"
    else:
        out[a > action] = "action"
    return tuple(str(v) for v in out)


def pt_scores(
    results: Sequence[float] | np.ndarray,
    x_pt: float,
    *,
    sigma_pt: float | None = None,
    u_x_pt: float = 0.0,
    u_results: Sequence[float] | np.ndarray | None = None,
    expanded_results: Sequence[float] | np.ndarray | None = None,
    expanded_x_pt: float | None = None,
    participants: Sequence[object] | None = None,
) -> PTScores:
    """z, z', zeta and E_n scores (ISO 13528 9.4-9.7).

    ``z = (x - x_pt)/sigma_pt``; ``z' = (x - x_pt)/sqrt(sigma_pt^2 + u^2(x_pt))``;
    ``zeta = (x - x_pt)/sqrt(u^2(x) + u^2(x_pt))``; ``E_n = (x - x_pt)/sqrt(U^2(x) + U^2(x_pt))``.
    Scores whose inputs are not given are NaN. ``expanded_x_pt`` defaults to ``2 u_x_pt``.
    """
    x = as_1d(results, "results")
    names = (
        tuple(str(v) for v in participants)
        if participants is not None
        else tuple(str(i + 1) for i in range(x.size))
    )
    if len(names) != x.size:
        raise MethodInputError(f"results and participants have unequal lengths ({x.size} and {len(names)})")
    u_pt = non_negative(u_x_pt, "u_x_pt")
    d = x - float(x_pt)
    nan = np.full(x.size, np.nan)
    if sigma_pt is not None:
        s = positive(sigma_pt, "sigma_pt")
        z = d / s
        z_prime = d / np.sqrt(s * s + u_pt * u_pt)
    else:
        s = None
        z = z_prime = nan
    if u_results is not None:
        ux = as_1d(u_results, "u_results")
        if ux.size != x.size:
            raise MethodInputError(f"results and u_results have unequal lengths ({x.size} and {ux.size})")
        if np.any(ux < 0):
            raise MethodInputError("u_results must be non-negative (a negative uncertainty was given)")
        with np.errstate(divide="ignore", invalid="ignore"):
            zeta = d / np.sqrt(ux * ux + u_pt * u_pt)
    else:
        zeta = nan
    if expanded_results is not None:
        ex = as_1d(expanded_results, "expanded_results")
        if ex.size != x.size:
            raise MethodInputError(
                f"results and expanded_results have unequal lengths ({x.size} and {ex.size})"
            )
        if np.any(ex < 0):
            raise MethodInputError("expanded_results must be non-negative (a negative uncertainty was given)")
        big_u_pt = 2 * u_pt if expanded_x_pt is None else non_negative(expanded_x_pt, "expanded_x_pt")
        with np.errstate(divide="ignore", invalid="ignore"):
            e_n = d / np.sqrt(ex * ex + big_u_pt * big_u_pt)
    else:
        e_n = nan
    return PTScores(
        participants=names,
        results=x,
        x_pt=float(x_pt),
        u_x_pt=u_pt,
        sigma_pt=s,
        z=z,
        z_prime=z_prime,
        zeta=zeta,
        e_n=e_n,
        z_class=_classes(z, 2.0, 3.0),
        z_prime_class=_classes(z_prime, 2.0, 3.0),
        zeta_class=_classes(zeta, 2.0, 3.0),
        e_n_class=_classes(e_n, None, 1.0),
        u_x_pt_negligible=bool(s is not None and u_pt <= 0.3 * s),
    )


@dataclass(frozen=True)
class HomogeneityCheck(ResultMixin):
    """ISO 13528 Annex B.2 homogeneity check of ``g`` PT items with ``m`` replicates each."""

    g: int
    m: int
    general_mean: float
    s_x: float  # SD of the item means
    s_w: float  # within-item SD
    s_s: float  # between-item SD
    sigma_pt: float
    criterion: float  # 0.3 sigma_pt
    passes: bool
    extended_criterion: float  # sqrt(F1 (0.3 sigma_pt)^2 + F2 s_w^2), B.2.3
    passes_extended: bool

    def summary(self) -> str:
        return (
            f"Homogeneity (ISO 13528 B.2): g = {self.g}, m = {self.m}, s_w = {self.s_w:.4g}, "
            f"s_s = {self.s_s:.4g}; s_s <= 0.3 sigma_pt = {self.criterion:.4g}: {self.passes}; "
            f"extended criterion {self.extended_criterion:.4g}: {self.passes_extended}"
        )


def homogeneity_check(items: Sequence[Sequence[float]] | np.ndarray, sigma_pt: float) -> HomogeneityCheck:
    """Homogeneity of PT items (ISO 13528 B.2): ``items`` is g rows of m replicate results.

    ``s_s = sqrt(max(0, s_x^2 - s_w^2/m))``; passes if ``s_s <= 0.3 sigma_pt``. Extended criterion
    (B.2.3): ``s_s^2 <= F1 (0.3 sigma_pt)^2 + F2 s_w^2`` with ``F1 = chi2_0.95(g-1)/(g-1)`` and
    ``F2 = (F_0.95(g-1, g(m-1)) - 1)/m``.
    """
    a = np.asarray(items, dtype=float)
    if a.ndim != 2:
        raise MethodInputError(f"items must be a table of g items x m replicates, got shape {a.shape}")
    g, m = a.shape
    if g < 2:
        raise MethodInputError(f"the homogeneity check needs at least two items, got {g}")
    if m < 2:
        raise MethodInputError(f"the homogeneity check needs at least two replicates per item, got {m}")
    if not np.all(np.isfinite(a)):
        raise MethodInputError("items contain a missing or non-finite value")
    sp = positive(sigma_pt, "sigma_pt")
    means = a.mean(axis=1)
    s_x = float(np.std(means, ddof=1))
    s_w = float(np.sqrt(np.mean(np.var(a, axis=1, ddof=1))))
    s_s = float(np.sqrt(max(0.0, s_x**2 - s_w**2 / m)))
    f1 = stats.chi2.ppf(0.95, g - 1) / (g - 1)
    f2 = (stats.f.ppf(0.95, g - 1, g * (m - 1)) - 1) / m
    extended = float(np.sqrt(f1 * (0.3 * sp) ** 2 + f2 * s_w**2))
    return HomogeneityCheck(
        g=g,
        m=m,
        general_mean=float(means.mean()),
        s_x=s_x,
        s_w=s_w,
        s_s=s_s,
        sigma_pt=sp,
        criterion=0.3 * sp,
        passes=s_s <= 0.3 * sp,
        extended_criterion=extended,
        passes_extended=s_s <= extended,
    )


@dataclass(frozen=True)
class StabilityCheck(ResultMixin):
    """ISO 13528 B.5 stability check: difference of the general means before and after."""

    mean_before: float
    mean_after: float
    difference: float
    criterion: float  # 0.3 sigma_pt
    passes: bool
    extended_criterion: float  # 0.3 sigma_pt + 2 sqrt(u^2(before) + u^2(after))
    passes_extended: bool

    def summary(self) -> str:
        return (
            f"Stability (ISO 13528 B.5): |difference| = {abs(self.difference):.4g}; "
            f"<= {self.criterion:.4g}: {self.passes}; "
            f"<= {self.extended_criterion:.4g}: {self.passes_extended}"
        )


def stability_check(
    before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray, sigma_pt: float
) -> StabilityCheck:
    """Stability of PT items (ISO 13528 B.5): ``|ybar_1 - ybar_2| <= 0.3 sigma_pt``; extended
    criterion adds ``2 sqrt(u^2(ybar_1) + u^2(ybar_2))`` with ``u = SD/sqrt(n)``."""
    b = as_1d(before, "before", min_length=2)
    a = as_1d(after, "after", min_length=2)
    sp = positive(sigma_pt, "sigma_pt")
    diff = float(a.mean() - b.mean())
    u = np.sqrt(np.var(b, ddof=1) / b.size + np.var(a, ddof=1) / a.size)
    extended = float(0.3 * sp + 2 * u)
    return StabilityCheck(
        mean_before=float(b.mean()),
        mean_after=float(a.mean()),
        difference=diff,
        criterion=0.3 * sp,
        passes=abs(diff) <= 0.3 * sp,
        extended_criterion=extended,
        passes_extended=abs(diff) <= extended,
    )
