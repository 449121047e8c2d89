"""Disproportionality analysis of product x event report tables: PRR, ROR, BCPNN IC and GPS/EBGM.

A spontaneous-report database is read as a long table, one row per report id x product x event.
For every product x event pair seen in at least one report this module computes

* the counts: ``N`` (reports naming the pair), the margins ``n_product``, ``n_event`` and ``n_total``
  and the expected count ``E = n_product * n_event / n_total`` (summed over strata when stratified);
* the proportional reporting ratio ``PRR`` with the lower end of its 95 % confidence interval
  (Evans, Waller & Davis 2001);
* the reporting odds ratio ``ROR`` with its 95 % confidence interval (Rothman, Lanes & Sacks 2004;
  Woolf's variance of the log odds ratio);
* the BCPNN information component ``IC`` and its 2.5 % quantile ``IC025`` from Gould's (2003) exact
  moments of the posterior of log2 p11/(p1. p.1) under Beta(1, 1) margins, as PhViD's ``BCPNN``
  computes them with ``MC = FALSE`` (Bate et al. 1998; Norén et al. 2006);
* DuMouchel's (1999) gamma-Poisson shrinker: a two-gamma mixture prior on lambda = mu / E fitted by
  maximum likelihood to the negative-binomial mixture marginal of ``N`` (truncated at zero as
  openEBGM does, on the exact table or on openEBGM-style squashed data), and per pair the posterior
  ``EBGM = exp(E[log lambda | N])`` with the 5 % and 95 % posterior quantiles ``EB05`` and ``EB95``.

Margins are counted in one of two conventions: ``"reports"`` (openEBGM's ``processRaw``: unique report
ids, so ``n_total`` is the number of reports) or ``"pairs"`` (PhViD's ``as.PhViD``: sums of the pair
table, so ``n_total`` is the sum of ``N`` over all pairs). Stratification follows openEBGM's
``processRaw(stratify = TRUE)``: only ``E`` is stratified (summed over strata of the within-stratum
expected counts); ``N``, PRR, ROR and IC use the unstratified margins.

Everything is vectorised over pairs: the likelihood is evaluated once per distinct (N, E) with its
multiplicity as a weight (an exact rewriting, not squashing), with an analytic gradient, and the
posterior quantiles of all pairs are found together by a safeguarded Halley iteration. Counting runs
on a pandas DataFrame or, for an Ibis table (DuckDB, Spark), in the backend.

>>> import pandas as pd
>>> reports = pd.DataFrame({
...     "id":      [1, 1, 2, 3, 3, 4, 5, 6],
...     "product": ["A", "A", "A", "B", "B", "B", "C", "C"],
...     "event":   ["rash", "fever", "rash", "rash", "cough", "cough", "cough", "fever"],
... })
>>> counts = count_pairs(reports, id="id", product="product", event="event")
>>> counts.table()[["product", "event", "N", "E"]]
  product  event  N         E
0       A  fever  1  0.666667
1       A   rash  2  1.000000
2       B  cough  2  1.000000
3       B   rash  1  1.000000
4       C  cough  1  1.000000
5       C  fever  1  0.666667
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import special

from qslab.results import ResultMixin

__all__ = [
    "DEFAULT_STARTS",
    "DisproportionalityError",
    "DisproportionalityResult",
    "GPSHyperparameters",
    "GPSPosterior",
    "PairCounts",
    "SquashedData",
    "auto_squash",
    "bcpnn_ic",
    "count_pairs",
    "disproportionality",
    "gps_fit",
    "gps_loglik",
    "gps_posterior",
    "gps_quantile",
    "prr",
    "ror",
    "squash_data",
]

Margins = Literal["reports", "pairs"]
HyperData = Literal["exact", "squashed"]

# Starting points for the hyperparameter search (alpha1, beta1, alpha2, beta2, P): the five used in
# openEBGM's posterior-calculation vignette, which span a wide range of shapes.
DEFAULT_STARTS: tuple[tuple[float, float, float, float, float], ...] = (
    (0.2, 0.1, 2.0, 4.0, 1 / 3),
    (0.1, 0.1, 10.0, 10.0, 0.2),
    (0.3, 0.5, 6.0, 6.0, 0.5),
    (0.5, 0.3, 12.0, 12.0, 0.8),
    (0.2, 0.2, 5.0, 5.0, 0.4),
)

_Z975 = 1.959963984540054  # the 97.5 % standard normal quantile (two-sided 95 % intervals)
_LOG2 = math.log(2.0)
# Bounds on the transformed scale (log alpha, log beta, logit P) keep the optimiser in a region
# where the likelihood is computable; openEBGM's autoHyper treats estimates >= 100 as out of bounds.
_LOG_LOW, _LOG_HIGH = math.log(1e-6), math.log(1e5)
_LOGIT_LIMIT = 30.0
# openEBGM advises at most about 20,000 points for the hyperparameter search
_SEARCH_SQUASH_ABOVE = 20_000


class DisproportionalityError(ValueError):
    """Bad input to a disproportionality function; the message names the column, row or argument."""


# --------------------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GPSHyperparameters(ResultMixin):
    """Maximum-likelihood hyperparameters of DuMouchel's two-gamma mixture prior.

    The prior on lambda = mu / E is ``P * Gamma(alpha1, beta1) + (1 - P) * Gamma(alpha2, beta2)``
    (shape, rate), DuMouchel (1999) eq. 3; the marginal of N given E is the matching mixture of
    negative binomials (eq. 4-5). Component 1 is reported as the one with the larger prior mean
    ``alpha / beta`` (the "signal" component in DuMouchel's and openEBGM's examples).

    ``loglik`` is the maximised log-likelihood on the data it was fitted to (``data``: ``"exact"``
    pairs or ``"squashed"`` superpoints, ``n_points`` rows of it with total weight ``total_weight``);
    ``truncated`` says whether the likelihood was truncated at zero (pairs with N >= 1 only, openEBGM's
    default) or included the zero cells. ``converged`` is true when the chosen optimum converged and
    was reached from at least two starting points (``n_starts_agreeing``; openEBGM ``autoHyper``'s
    agreement rule); ``n_passed_over`` counts better optima found from one start only and so set aside.
    ``search`` is where the starting points were run (``"data"`` or ``"squashed"``, see :func:`gps_fit`).
    """

    alpha1: float
    beta1: float
    alpha2: float
    beta2: float
    P: float
    loglik: float
    converged: bool
    data: str = "exact"
    truncated: bool = True
    n_points: int = 0
    total_weight: float = 0.0
    n_starts_agreeing: int = 0
    n_passed_over: int = 0
    search: str = "data"

    @property
    def theta(self) -> np.ndarray:
        """The hyperparameters as openEBGM orders them: (alpha1, beta1, alpha2, beta2, P)."""
        return np.array([self.alpha1, self.beta1, self.alpha2, self.beta2, self.P])

    def summary(self) -> str:
        status = "converged" if self.converged else "NOT CONVERGED"
        return (
            f"GPS hyperparameters ({self.data} data, {self.n_points} points, "
            f"{'truncated at zero' if self.truncated else 'zeroes included'}; {status})\n"
            f"  alpha1 = {self.alpha1:.6g}  beta1 = {self.beta1:.6g}\n"
            f"  alpha2 = {self.alpha2:.6g}  beta2 = {self.beta2:.6g}\n"
            f"  P      = {self.P:.6g}\n"
            f"  log-likelihood = {self.loglik:.6f}"
        )


@dataclass(frozen=True, eq=False)
class GPSPosterior(ResultMixin):
    """Posterior summaries of lambda for each (N, E): mixture weight ``Qn``, ``EBGM``, ``EB05``, ``EB95``.

    ``Qn`` is the posterior probability of mixture component 1 (DuMouchel 1999 eq. 6),
    ``EBGM = exp(Qn (psi(alpha1 + N) - log(beta1 + E)) + (1 - Qn)(psi(alpha2 + N) - log(beta2 + E)))``
    (eq. 9-11) and ``EB05``/``EB95`` solve ``Qn G1(x) + (1 - Qn) G2(x) = 0.05 / 0.95`` with
    ``Gk`` the Gamma(alpha_k + N, beta_k + E) distribution functions.
    """

    Qn: np.ndarray
    EBGM: np.ndarray
    EB05: np.ndarray
    EB95: np.ndarray

    def summary(self) -> str:
        top = float(np.nanmax(self.EB05)) if self.EB05.size else float("nan")
        return f"GPS posterior for {self.EBGM.size} cells; max EB05 = {top:.4g}"


@dataclass(frozen=True, eq=False)
class SquashedData(ResultMixin):
    """(N, E, weight) superpoints: openEBGM ``squashData``'s reduction of the (N, E) table."""

    N: np.ndarray
    E: np.ndarray
    weight: np.ndarray

    def summary(self) -> str:
        return f"{self.N.size} superpoints standing for {self.weight.sum():g} cells"


@dataclass(frozen=True, eq=False)
class PairCounts(ResultMixin):
    """Counts of every product x event pair reported at least once, sorted by product then event.

    ``N``: number of distinct reports naming the pair. ``n_product``, ``n_event``, ``n_total``: the
    unstratified margins in the ``margins`` convention (``"reports"``: distinct report ids;
    ``"pairs"``: sums of ``N``). ``E``: expected count, ``n_product * n_event / n_total`` or, when
    ``strata`` is set, the sum over strata of the within-stratum expected counts.
    """

    product: np.ndarray
    event: np.ndarray
    N: np.ndarray
    E: np.ndarray
    n_product: np.ndarray
    n_event: np.ndarray
    n_total: int
    margins: str = "reports"
    strata: tuple[str, ...] = ()
    n_strata: int = 1
    n_reports: int = 0
    # The expected counts of the cells never reported (N = 0), only when asked for (zeroes=True).
    E_zero: np.ndarray | None = field(default=None, repr=False)

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "product": self.product,
                "event": self.event,
                "N": self.N,
                "E": self.E,
                "n_product": self.n_product,
                "n_event": self.n_event,
            }
        )

    def summary(self) -> str:
        strata = f", {self.n_strata} strata ({', '.join(self.strata)})" if self.strata else ""
        return (
            f"{self.N.size} product x event pairs from {self.n_reports} reports; margins: {self.margins}, "
            f"n_total = {self.n_total}{strata}"
        )


@dataclass(frozen=True, eq=False)
class DisproportionalityResult(ResultMixin):
    """All disproportionality scores for every reported product x event pair.

    Arrays are aligned with ``product`` and ``event`` (sorted by product, then event). Undefined values
    (e.g. a ROR with an empty cell) are NaN. ``IC`` and ``IC025`` are on the log2 scale of the
    information component; all other ratios and bounds are on the natural (ratio) scale.
    ``hyper`` holds the fitted GPS hyperparameters.
    """

    product: np.ndarray
    event: np.ndarray
    N: np.ndarray
    E: np.ndarray
    n_product: np.ndarray
    n_event: np.ndarray
    n_total: int
    PRR: np.ndarray
    PRR_LB95: np.ndarray
    ROR: np.ndarray
    ROR_LB95: np.ndarray
    ROR_UB95: np.ndarray
    IC: np.ndarray
    IC025: np.ndarray
    EBGM: np.ndarray
    EB05: np.ndarray
    EB95: np.ndarray
    hyper: GPSHyperparameters
    margins: str = "reports"
    strata: tuple[str, ...] = ()
    hyper_data: str = "exact"

    COLUMNS = (
        "product", "event", "N", "E", "PRR", "PRR_LB95", "ROR", "ROR_LB95", "ROR_UB95",
        "IC", "IC025", "EBGM", "EB05", "EB95",
    )  # fmt: skip

    def table(self) -> pd.DataFrame:
        """The scores as a data frame with the CLI's columns."""
        return pd.DataFrame({name: getattr(self, name) for name in self.COLUMNS})

    def summary(self, top: int = 10) -> str:
        order = np.argsort(-np.nan_to_num(self.EB05, nan=-np.inf), kind="stable")[:top]
        lines = [
            f"Disproportionality of {self.N.size} product x event pairs (margins: {self.margins}"
            + (f", stratified by {', '.join(self.strata)}" if self.strata else "")
            + f", n_total = {self.n_total})",
            self.hyper.summary(),
            f"pairs with EB05 >= 2: {int(np.sum(self.EB05 >= 2))}",
            f"top {len(order)} pairs by EB05:",
        ]
        for i in order:
            lines.append(
                f"  {self.product[i]} | {self.event[i]}: N = {self.N[i]}, E = {self.E[i]:.3g}, "
                f"EBGM = {self.EBGM[i]:.3g} [{self.EB05[i]:.3g}, {self.EB95[i]:.3g}], "
                f"PRR = {self.PRR[i]:.3g}, IC = {self.IC[i]:.3g}"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------------


def _distinct(values: np.ndarray, counts: bool = False):
    """Sorted distinct integers (and how often each occurs), by sorting: faster than ``np.unique``'s
    hashing on large int64 keys."""
    ordered = np.sort(values, kind="stable") if values.size else values
    first = np.empty(ordered.size, dtype=bool)
    if ordered.size:
        first[0] = True
        first[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(first)
    if not counts:
        return ordered[starts]
    return ordered[starts], np.diff(np.r_[starts, ordered.size])


def _as_strata(strata: str | Sequence[str] | None) -> tuple[str, ...]:
    if strata is None:
        return ()
    if isinstance(strata, str):
        return (strata,)
    return tuple(strata)


def count_pairs(
    reports: pd.DataFrame | Any,
    *,
    id: str = "id",
    product: str = "product",
    event: str = "event",
    strata: str | Sequence[str] | None = None,
    margins: Margins = "reports",
    zeroes: bool = False,
    max_cells: int = 50_000_000,
) -> PairCounts:
    """Count reports per product x event pair, the margins and the expected counts.

    ``reports`` is long: one row per report id x product x event (duplicated rows count once), as a
    pandas DataFrame or an Ibis table (DuckDB, Spark, ...; the distinct counts then run in the backend
    and only the pair table and the margins are fetched).
    ``margins="reports"`` counts distinct report ids (openEBGM ``processRaw``: ``N_v1`` reports naming
    the product, ``N_v2`` reports naming the event, ``N_tot`` reports in all); ``margins="pairs"`` sums
    the pair table (PhViD ``as.PhViD``: ``n1.`` = sum of N over the product's pairs, ``N`` = sum of all
    N). With ``strata`` (one or more columns, combined), ``E`` is the sum over strata of
    ``n_product_s * n_event_s / n_total_s`` counted within each stratum in the same convention
    (openEBGM ``processRaw(stratify = TRUE)``). ``zeroes=True`` also returns the expected counts of
    every product x event cell never reported (``E_zero``), for a likelihood that includes zeroes;
    that needs ``n_products * n_events <= max_cells``.
    """
    if margins not in ("reports", "pairs"):
        raise DisproportionalityError(f"margins must be 'reports' or 'pairs', got {margins!r}")
    strata_cols = _as_strata(strata)
    columns = [id, product, event, *strata_cols]
    if len(set(columns)) != len(columns):
        raise DisproportionalityError(f"the id, product, event and strata columns must differ, got {columns}")
    if _is_ibis_table(reports):
        return _count_pairs_ibis(reports, id, product, event, strata_cols, margins, zeroes, max_cells)
    if not isinstance(reports, pd.DataFrame):
        raise DisproportionalityError(
            f"reports must be a pandas DataFrame or an Ibis table, got {type(reports).__name__}"
        )
    missing = [c for c in columns if c not in reports.columns]
    if missing:
        raise DisproportionalityError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(available: {', '.join(map(str, reports.columns))})"
        )
    if len(reports) == 0:
        raise DisproportionalityError("reports has no rows")
    for col in columns:
        bad = reports[col].isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DisproportionalityError(
                f"missing value in column {col!r} at row {row} ({int(bad.sum())} rows in all)"
            )

    id_code = pd.factorize(reports[id])[0].astype(np.int64)
    p_code, p_labels = pd.factorize(reports[product], sort=True)
    e_code, e_labels = pd.factorize(reports[event], sort=True)
    p_code = p_code.astype(np.int64)
    e_code = e_code.astype(np.int64)
    n_p, n_e = len(p_labels), len(e_labels)
    if strata_cols:
        s_frame = reports[list(strata_cols)]
        s_code = (
            s_frame.groupby(list(strata_cols), sort=True, observed=True).ngroup().to_numpy().astype(np.int64)
        )
        n_s = int(s_code.max()) + 1
    else:
        s_code = np.zeros(len(reports), dtype=np.int64)
        n_s = 1
    n_reports = int(id_code.max()) + 1

    # distinct (report, product, event, stratum) rows
    key = pd.DataFrame({"i": id_code, "p": p_code, "e": e_code, "s": s_code}).drop_duplicates()
    i_arr, pp, ee, ss = (key[c].to_numpy() for c in ("i", "p", "e", "s"))
    pair_key = pp * n_e + ee

    # N: distinct reports per pair (over all strata)
    ip = _distinct(i_arr * (n_p * n_e) + pair_key) if n_reports * n_p * n_e < 2**62 else None
    if ip is None:  # pragma: no cover - astronomically large tables
        ip_frame = pd.DataFrame({"i": i_arr, "k": pair_key}).drop_duplicates()
        pair_of_row = ip_frame["k"].to_numpy()
    else:
        pair_of_row = ip % (n_p * n_e)
    pairs, N = _distinct(np.sort(pair_of_row), counts=True)
    prod_idx = pairs // n_e
    event_idx = pairs % n_e

    def margins_of(sel: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, float]:
        """Margins (product, event, total) over the rows in ``sel`` (all rows when None)."""
        ii = i_arr if sel is None else i_arr[sel]
        p_ = pp if sel is None else pp[sel]
        e_ = ee if sel is None else ee[sel]
        if margins == "reports":
            ip_ = _distinct(ii * n_p + p_)
            n_prod = np.bincount(ip_ % n_p, minlength=n_p)
            ie_ = _distinct(ii * n_e + e_)
            n_ev = np.bincount(ie_ % n_e, minlength=n_e)
            total = float(_distinct(ii).size)
        else:
            k = _distinct(ii * (n_p * n_e) + p_ * n_e + e_)  # distinct report x pair
            kp = k % (n_p * n_e)
            n_prod = np.bincount(kp // n_e, minlength=n_p)
            n_ev = np.bincount(kp % n_e, minlength=n_e)
            total = float(k.size)
        return n_prod.astype(np.float64), n_ev.astype(np.float64), total

    n_prod_all, n_ev_all, total_all = margins_of(None)
    if not strata_cols:
        strata_margins = [(n_prod_all, n_ev_all, total_all)]
    else:
        order = np.argsort(ss, kind="stable")
        bounds = np.searchsorted(ss[order], np.arange(n_s + 1))
        strata_margins = [margins_of(order[bounds[s] : bounds[s + 1]]) for s in range(n_s)]
    return _assemble(
        np.asarray(p_labels, dtype=object),
        np.asarray(e_labels, dtype=object),
        prod_idx,
        event_idx,
        N,
        (n_prod_all, n_ev_all, total_all),
        strata_margins,
        margins,
        strata_cols,
        n_reports,
        zeroes,
        max_cells,
    )


def _assemble(
    p_labels: np.ndarray,
    e_labels: np.ndarray,
    prod_idx: np.ndarray,
    event_idx: np.ndarray,
    N: np.ndarray,
    overall: tuple[np.ndarray, np.ndarray, float],
    strata_margins: list[tuple[np.ndarray, np.ndarray, float]],
    margins: str,
    strata_cols: tuple[str, ...],
    n_reports: int,
    zeroes: bool,
    max_cells: int,
) -> PairCounts:
    """Expected counts (summed over strata) and the result object, from pair counts and margins."""
    n_p, n_e = p_labels.size, e_labels.size
    n_prod_all, n_ev_all, total_all = overall
    E = np.zeros(N.size)
    for n_prod_s, n_ev_s, total_s in strata_margins:  # a loop over the few strata, not records
        E += n_prod_s[prod_idx] * n_ev_s[event_idx] / total_s
    E_zero = None
    if zeroes:
        if n_p * n_e > max_cells:
            raise DisproportionalityError(
                f"zeroes=True needs all {n_p} x {n_e} = {n_p * n_e} product x event cells, "
                f"more than max_cells = {max_cells}"
            )
        E_all = np.zeros((n_p, n_e))
        for n_prod_s, n_ev_s, total_s in strata_margins:
            E_all += np.outer(n_prod_s / total_s, n_ev_s)
        seen = np.zeros(n_p * n_e, dtype=bool)
        seen[prod_idx * n_e + event_idx] = True
        E_zero = E_all.ravel()[~seen]
    return PairCounts(
        product=p_labels[prod_idx],
        event=e_labels[event_idx],
        N=np.asarray(N, dtype=np.int64),
        E=E,
        n_product=n_prod_all[prod_idx].astype(np.int64),
        n_event=n_ev_all[event_idx].astype(np.int64),
        n_total=int(total_all),
        margins=margins,
        strata=strata_cols,
        n_strata=len(strata_margins),
        n_reports=int(n_reports),
        E_zero=E_zero,
    )


def _is_ibis_table(value: object) -> bool:
    try:
        import ibis.expr.types as ir
    except ImportError:  # pragma: no cover - ibis is a pinned dependency
        return False
    return isinstance(value, ir.Table)


def _count_pairs_ibis(
    table: Any,
    id: str,
    product: str,
    event: str,
    strata_cols: tuple[str, ...],
    margins: str,
    zeroes: bool,
    max_cells: int,
) -> PairCounts:
    """:func:`count_pairs` on an Ibis table: the distinct-report counts run in the backend, and only the
    pair table and the margins (never the records) come back to Python."""
    columns = [id, product, event, *strata_cols]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DisproportionalityError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(available: {', '.join(map(str, table.columns))})"
        )
    nulls = table.aggregate(**{f"_null{i}": table[c].isnull().sum() for i, c in enumerate(columns)})
    null_counts = nulls.to_pyarrow().to_pandas().iloc[0].to_numpy()
    for col, count in zip(columns, null_counts, strict=True):
        if count > 0:
            raise DisproportionalityError(f"missing value in column {col!r} ({int(count)} rows in all)")
    n_reports = int(table.aggregate(_n=table[id].nunique()).to_pyarrow().to_pandas()["_n"].iloc[0])
    if n_reports == 0:
        raise DisproportionalityError("reports has no rows")
    keys = list(strata_cols)

    def distinct_reports(by: list[str]) -> pd.DataFrame:
        # through Arrow: Ibis's own pandas conversion trips pandas 3 deprecation warnings on strings
        return table.group_by(by).agg(_n=table[id].nunique()).to_pyarrow().to_pandas()

    pairs_frame = distinct_reports([product, event])  # N over all strata
    p_code, p_labels = pd.factorize(pairs_frame[product], sort=True)
    e_code, e_labels = pd.factorize(pairs_frame[event], sort=True)
    n_p, n_e = len(p_labels), len(e_labels)
    p_index, e_index = pd.Index(p_labels), pd.Index(e_labels)
    key = p_code.astype(np.int64) * n_e + e_code
    order = np.argsort(key, kind="stable")
    pairs = key[order]
    N = pairs_frame["_n"].to_numpy(dtype=np.int64)[order]
    prod_idx, event_idx = pairs // n_e, pairs % n_e

    def arrays(prod: pd.DataFrame, ev: pd.DataFrame, value: str) -> tuple[np.ndarray, np.ndarray]:
        n_prod = np.zeros(n_p)
        np.add.at(n_prod, p_index.get_indexer(prod[product]), prod[value].to_numpy(dtype=np.float64))
        n_ev = np.zeros(n_e)
        np.add.at(n_ev, e_index.get_indexer(ev[event]), ev[value].to_numpy(dtype=np.float64))
        return n_prod, n_ev

    if margins == "reports":
        overall = (*arrays(distinct_reports([product]), distinct_reports([event]), "_n"), float(n_reports))
    else:
        overall = (*arrays(pairs_frame, pairs_frame, "_n"), float(N.sum()))
    strata_margins = [overall]
    if keys:
        if margins == "reports":
            prod_s, ev_s = (distinct_reports([col, *keys]) for col in (product, event))
            tot_s = distinct_reports(keys)
        else:
            pair_s = distinct_reports([product, event, *keys])
            prod_s = ev_s = pair_s
            tot_s = pair_s.groupby(keys, as_index=False)["_n"].sum()
        tot_s = tot_s.sort_values(keys, kind="stable").reset_index(drop=True)
        strata_margins = []
        for _, row in tot_s.iterrows():  # one pass per stratum, not per record
            match_p = np.logical_and.reduce([prod_s[k].to_numpy() == row[k] for k in keys])
            match_e = np.logical_and.reduce([ev_s[k].to_numpy() == row[k] for k in keys])
            strata_margins.append((*arrays(prod_s[match_p], ev_s[match_e], "_n"), float(row["_n"])))
    return _assemble(
        np.asarray(p_labels, dtype=object),
        np.asarray(e_labels, dtype=object),
        prod_idx,
        event_idx,
        N,
        overall,
        strata_margins,
        margins,
        strata_cols,
        n_reports,
        zeroes,
        max_cells,
    )


# --------------------------------------------------------------------------------------------------
# Frequentist and BCPNN measures
# --------------------------------------------------------------------------------------------------


def _cells(n11, n1_, n_1, n) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    a = np.asarray(n11, dtype=np.float64)
    n1_ = np.asarray(n1_, dtype=np.float64)
    n_1 = np.asarray(n_1, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    b = n1_ - a
    c = n_1 - a
    d = n - n1_ - n_1 + a
    if np.any((a < 0) | (b < 0) | (c < 0) | (d < 0)):
        raise DisproportionalityError("inconsistent 2x2 table: a cell count is negative")
    return a, b, c, d


def prr(n11, n_product, n_event, n_total) -> tuple[np.ndarray, np.ndarray]:
    """Proportional reporting ratio and the lower end of its 95 % confidence interval.

    ``PRR = (a / (a + b)) / (c / (c + d))`` with a = n11, a + b = reports of the product, c = reports of
    the event without the product, c + d = reports without the product (Evans et al. 2001);
    ``PRR_LB95 = exp(log PRR - 1.96 sqrt(1/a - 1/(a + b) + 1/c - 1/(c + d)))``. PRR is NaN when
    c = 0 or no report lacks the product; the bound is NaN also when a = 0.

    >>> prr(10, 50, 100, 1000)
    (array(2.11111111), array(1.17237805))
    """
    a, b, c, d = _cells(n11, n_product, n_event, n_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (a / (a + b)) / (c / (c + d))
        se = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d))
        lower = np.exp(np.log(value) - _Z975 * se)
    value = np.where((c > 0) & (a + b > 0), value, np.nan)
    lower = np.where((a > 0) & (c > 0), lower, np.nan)
    return value, lower


def ror(n11, n_product, n_event, n_total) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reporting odds ratio ``a d / (b c)`` with its 95 % confidence interval (Woolf's log-scale SE).

    ``SE(log ROR) = sqrt(1/a + 1/b + 1/c + 1/d)`` (Rothman et al. 2004; PhViD ``ROR``). All three are
    NaN when any of the four cells is empty.

    >>> ror(10, 50, 100, 1000)
    (array(2.38888889), array(1.15563739), array(4.93821867))
    """
    a, b, c, d = _cells(n11, n_product, n_event, n_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ror = np.log(a) + np.log(d) - np.log(b) - np.log(c)
        se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
        ok = (a > 0) & (b > 0) & (c > 0) & (d > 0)
        value = np.where(ok, np.exp(log_ror), np.nan)
        lower = np.where(ok, np.exp(log_ror - _Z975 * se), np.nan)
        upper = np.where(ok, np.exp(log_ror + _Z975 * se), np.nan)
    return value, lower, upper


def bcpnn_ic(n11, n_product, n_event, n_total) -> tuple[np.ndarray, np.ndarray]:
    """BCPNN information component and its 2.5 % quantile, from Gould's exact posterior moments.

    With Beta(1, 1) priors on the margins and the joint prior of Norén et al. (2006), the posterior
    parameters are ``p1 = 1 + n1.``, ``p2 = 1 + n - n1.``, ``q1 = 1 + n.1``, ``q2 = 1 + n - n.1``,
    ``r1 = 1 + n11`` and ``r1 + r2 = n + (n + 2)^2 / (p1 q1)``; then (Gould 2003)

    ``E[IC] = (psi(r1) - psi(r1 + r2) - psi(p1) + psi(p1 + p2) - psi(q1) + psi(q1 + q2)) / log 2``
    ``V[IC] = (psi'(r1) - psi'(r1 + r2) + psi'(p1) - psi'(p1 + p2) + psi'(q1) - psi'(q1 + q2)) / log(2)^2``

    and ``IC025 = E[IC] - 1.96 sqrt(V[IC])`` (normal approximation), as PhViD's ``BCPNN(MC = FALSE)``.
    Both are on the log2 scale.

    >>> ic, ic025 = bcpnn_ic(10, 50, 100, 1000)
    >>> float(ic), float(ic025)
    (0.79737..., -0.19061...)
    """
    a, b, c, d = _cells(n11, n_product, n_event, n_total)
    n = a + b + c + d
    n1_ = a + b
    n_1 = a + c
    p1, p2 = 1 + n1_, 1 + n - n1_
    q1, q2 = 1 + n_1, 1 + n - n_1
    r1 = 1 + a
    r12 = n + (n + 2) ** 2 / (p1 * q1)  # r1 + r2
    dg, tg = special.digamma, special.polygamma
    mean = (dg(r1) - dg(r12) - (dg(p1) - dg(p1 + p2) + dg(q1) - dg(q1 + q2))) / _LOG2
    var = (tg(1, r1) - tg(1, r12) + (tg(1, p1) - tg(1, p1 + p2) + tg(1, q1) - tg(1, q1 + q2))) / _LOG2**2
    return np.asarray(mean), np.asarray(mean - _Z975 * np.sqrt(var))


# --------------------------------------------------------------------------------------------------
# GPS: likelihood, squashing, fit
# --------------------------------------------------------------------------------------------------


def _unique_weighted(
    N: np.ndarray, E: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Collapse identical (N, E) rows, summing their weights (exact: the likelihood is a weighted sum).

    Returns the distinct (N, E) sorted by N then E, their summed weights, and for each input row the
    index of its distinct row.
    """
    order = np.lexsort((E, N))
    Ns, Es, ws = N[order], E[order], w[order]
    inverse = np.empty(N.size, dtype=np.int64)
    if Ns.size == 0:
        return Ns, Es, ws, inverse
    new = np.empty(Ns.size, dtype=bool)
    new[0] = True
    new[1:] = (Ns[1:] != Ns[:-1]) | (Es[1:] != Es[:-1])
    starts = np.flatnonzero(new)
    inverse[order] = np.cumsum(new) - 1
    return Ns[starts], Es[starts], np.add.reduceat(ws, starts), inverse


class _Likelihood:
    """Weighted log-likelihood of the NB-mixture marginal and its gradient on the transformed scale.

    Parameters x = (log alpha1, log beta1, log alpha2, log beta2, logit P). Terms depending on N alone
    (lgamma(alpha + n) - lgamma(alpha) and its derivative) are computed once per distinct N, terms
    depending on E alone (log(beta + E), the zero-truncation) once per distinct E.
    """

    def __init__(self, N: np.ndarray, E: np.ndarray, w: np.ndarray, truncated: bool) -> None:
        self.truncated = truncated
        self.n_values, self.n_index = np.unique(N, return_inverse=True)
        self.e_values, self.e_index = np.unique(E, return_inverse=True)
        self.N = N.astype(np.float64)
        self.w = w
        self.w_total = float(w.sum())
        # the parameter-free part: n log E - lgamma(n + 1)
        self.const = float(np.sum(w * (self.N * np.log(E) - special.gammaln(self.N + 1))))
        self.n_calls = 0

    def _component(self, alpha: float, beta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """log f (without the constant), d/d log alpha, d/d log beta for one component."""
        nv = self.n_values.astype(np.float64)
        lg = (special.gammaln(alpha + nv) - special.gammaln(alpha))[self.n_index]
        dg = (special.digamma(alpha + nv) - special.digamma(alpha))[self.n_index]
        ev = self.e_values
        log_beta = math.log(beta)
        log_bE = np.log(beta + ev)
        inv_bE = 1.0 / (beta + ev)
        log_u = log_beta - log_bE  # log(beta / (beta + E)), the NB "prob" on the log scale
        # per distinct E: the part of log f that is linear in alpha, and the truncation terms
        if self.truncated:
            au = alpha * log_u
            one_minus = -np.expm1(au)  # P(N >= 1) for this component
            ratio = np.exp(au) / one_minus
            e_part = alpha * log_u - np.log(one_minus)
            e_dalpha = log_u * (1.0 + ratio)
            e_dbeta = alpha / beta + ratio * alpha * ev * inv_bE / beta
        else:
            e_part = alpha * log_u
            e_dalpha = log_u
            e_dbeta = np.full(ev.size, alpha / beta)
        i = self.e_index
        logf = lg + e_part[i] - self.N * log_bE[i]
        d_alpha = dg + e_dalpha[i]
        d_beta = e_dbeta[i] - (alpha + self.N) * inv_bE[i]
        return logf, d_alpha * alpha, d_beta * beta

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Negative log-likelihood (without the constant) and its gradient."""
        self.n_calls += 1
        a1, b1, a2, b2 = np.exp(x[:4])
        P = special.expit(x[4])
        lf1, da1, db1 = self._component(a1, b1)
        lf2, da2, db2 = self._component(a2, b2)
        # log(P f1 + (1 - P) f2) = lf2 + log(1 - P) + log1p(exp(d)), d = lf1 - lf2 + logit P
        d = lf1 - lf2 + x[4]
        ed = np.exp(-np.abs(d))
        ll = lf2 + math.log1p(-P) + np.maximum(d, 0.0) + np.log1p(ed)
        r1 = np.where(d > 0, 1.0 / (1.0 + ed), ed / (1.0 + ed))  # posterior weight of component 1
        w = self.w
        value = -float(np.sum(w * ll))
        wr1 = w * r1
        wr2 = w - wr1
        # plain sums rather than BLAS dot products: vector dots through a threaded BLAS are slow when
        # the cores are busy
        grad = -np.array(
            [
                np.sum(wr1 * da1),
                np.sum(wr1 * db1),
                np.sum(wr2 * da2),
                np.sum(wr2 * db2),
                np.sum(wr1) - P * self.w_total,
            ]
        )
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros(5)
        return value, grad


def gps_loglik(theta: Sequence[float], N, E, weights=None, *, truncated: bool = True) -> float:
    """Log-likelihood of (alpha1, beta1, alpha2, beta2, P) for counts N with expected counts E.

    The marginal of N is ``P NB(alpha1, beta1 / (beta1 + E)) + (1 - P) NB(alpha2, beta2 / (beta2 + E))``
    (size, prob) (DuMouchel 1999 eq. 4-5); with ``truncated`` each component is divided by its
    probability of N >= 1, as openEBGM's ``negLL``/``negLLsquash`` with ``N_star = 1`` (``-negLL``).
    Without, it is openEBGM's ``negLLzero``/``negLLzeroSquash`` (negated). ``weights`` multiply each
    row's log-likelihood (squashed superpoints).

    >>> round(gps_loglik((0.2, 0.1, 2.0, 4.0, 1 / 3), [1, 2, 5], [0.5, 1.0, 0.7]), 6)
    -5.899342
    """
    N_, E_, w_ = _check_NE(N, E, weights, truncated)
    theta_ = np.asarray(theta, dtype=np.float64)
    _check_theta(theta_)
    lik = _Likelihood(N_, E_, w_, truncated)
    x = np.r_[np.log(theta_[:4]), special.logit(theta_[4])]
    value, _ = lik(x)
    return -value + lik.const


def _check_theta(theta: np.ndarray) -> None:
    if theta.shape != (5,) or not np.all(np.isfinite(theta)):
        raise DisproportionalityError(
            f"theta must be 5 finite numbers (alpha1, beta1, alpha2, beta2, P), got {theta}"
        )
    if np.any(theta[:4] <= 0):
        raise DisproportionalityError(f"alpha1, beta1, alpha2 and beta2 must be positive, got {theta[:4]}")
    if not 0 < theta[4] < 1:
        raise DisproportionalityError(f"P must lie strictly between 0 and 1, got {theta[4]}")


def _check_NE(N, E, weights, truncated: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    N_ = np.asarray(N, dtype=np.float64).ravel()
    E_ = np.asarray(E, dtype=np.float64).ravel()
    if N_.size != E_.size:
        raise DisproportionalityError(f"N and E have unequal lengths ({N_.size} and {E_.size})")
    if N_.size == 0:
        raise DisproportionalityError("N and E are empty")
    if not np.all(np.isfinite(N_)) or np.any(N_ < 0) or np.any(np.round(N_) != N_):
        raise DisproportionalityError("N must hold non-negative whole numbers")
    if not np.all(np.isfinite(E_)) or np.any(E_ <= 0):
        raise DisproportionalityError("E must hold positive finite numbers")
    if truncated and np.any(N_ < 1):
        raise DisproportionalityError(
            "N must be >= 1 when the likelihood is truncated at zero (zeroes=False)"
        )
    if weights is None:
        w_ = np.ones_like(N_)
    else:
        w_ = np.asarray(weights, dtype=np.float64).ravel()
        if w_.size != N_.size:
            raise DisproportionalityError(f"weights and N have unequal lengths ({w_.size} and {N_.size})")
        if not np.all(np.isfinite(w_)) or np.any(w_ <= 0):
            raise DisproportionalityError("weights must be positive finite numbers")
    return N_, E_, w_


def squash_data(
    N, E, weights=None, *, count: int = 1, bin_size: int = 50, keep_pts: int = 100
) -> SquashedData:
    """openEBGM's ``squashData``: bin the cells with ``N == count`` by E into weighted superpoints.

    The cells with ``N == count`` are sorted by E; the ``keep_pts`` largest are kept as they are, the
    rest are cut into consecutive bins of ``bin_size`` (the last bin takes the remainder), each
    replaced by one point with the bin's mean E and weight = number of cells (DuMouchel et al. 2001's
    data squashing as openEBGM implements it). Rows with another N pass through. Squashing the same
    count twice is refused, as openEBGM does. Rows are returned sorted by N (stable).

    >>> s = squash_data([1] * 7 + [2], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.2], bin_size=2, keep_pts=2)
    >>> s.N.tolist(), s.E.round(3).tolist(), s.weight.tolist()
    ([1, 1, 1, 1, 1, 2], [0.15, 0.35, 0.5, 0.6, 0.7, 0.2], [2.0, 2.0, 1.0, 1.0, 1.0, 1.0])
    """
    N_ = np.asarray(N, dtype=np.float64).ravel()
    E_ = np.asarray(E, dtype=np.float64).ravel()
    N_, E_, w_ = _check_NE(N_, E_, weights, truncated=False)
    if int(count) != count or count < 0:
        raise DisproportionalityError(f"count must be a non-negative whole number, got {count!r}")
    if int(bin_size) != bin_size or bin_size < 2:
        raise DisproportionalityError(f"bin_size must be a whole number >= 2, got {bin_size!r}")
    if int(keep_pts) != keep_pts or keep_pts < 0:
        raise DisproportionalityError(f"keep_pts must be a non-negative whole number, got {keep_pts!r}")
    at = count == N_
    if np.any(w_[at] > 1):
        raise DisproportionalityError(f"the cells with N = {count} have already been squashed")
    e_at = np.sort(E_[at], kind="stable")
    num_squash = e_at.size - int(keep_pts)
    if num_squash < bin_size:
        raise DisproportionalityError(
            f"only {e_at.size} cells have N = {count}: reduce bin_size ({bin_size}) or keep_pts ({keep_pts})"
        )
    bins = np.arange(num_squash) // int(bin_size)
    sizes = np.bincount(bins).astype(np.float64)
    means = np.bincount(bins, weights=e_at[:num_squash]) / sizes
    N_out = np.r_[N_[~at], np.full(means.size + int(keep_pts), float(count))]
    E_out = np.r_[E_[~at], means, e_at[num_squash:]]
    w_out = np.r_[w_[~at], sizes, np.ones(int(keep_pts))]
    order = np.argsort(N_out, kind="stable")
    return SquashedData(N=N_out[order].astype(np.int64), E=E_out[order], weight=w_out[order])


def auto_squash(
    N,
    E,
    *,
    keep_pts: Sequence[int] = (100, 75, 50, 25),
    cut_offs: Sequence[float] = (500, 1e3, 1e4, 1e5, 5e5, 1e6, 5e6),
    num_super_pts: Sequence[float] = (50, 75, 150, 500, 750, 1e3, 2e3, 5e3),
) -> SquashedData:
    """openEBGM's ``autoSquash``: squash every count that has more than ``max(keep_pts) + 1`` cells.

    The i-th such count (in increasing N) keeps ``keep_pts[i]`` (the last value thereafter) largest-E
    cells unsquashed and squashes the rest into about ``num_super_pts[j]`` superpoints, j the first
    ``cut_offs`` bracket above the number of cells to squash; bins hold at least 2 cells.
    """
    if len(num_super_pts) != len(cut_offs) + 1:
        raise DisproportionalityError("num_super_pts must have one more value than cut_offs")
    N_, E_, w_ = _check_NE(N, E, None, truncated=False)
    values, counts = np.unique(N_, return_counts=True)
    chosen = values[counts > max(keep_pts) + 1]
    chosen_counts = counts[counts > max(keep_pts) + 1]
    data = SquashedData(N=N_.astype(np.int64), E=E_, weight=w_)
    for position, (value, n_cells) in enumerate(zip(chosen, chosen_counts, strict=True)):
        keep = int(keep_pts[min(position, len(keep_pts) - 1)])
        to_squash = n_cells - keep
        bracket = int(np.searchsorted(np.asarray(cut_offs, dtype=float), to_squash, side="right"))
        supers = float(num_super_pts[bracket])
        bin_size = max(math.floor(to_squash / supers), 2)
        data = squash_data(data.N, data.E, data.weight, count=int(value), bin_size=bin_size, keep_pts=keep)
    return data


def _canonical(theta: np.ndarray) -> np.ndarray:
    """Order the mixture so that component 1 has the larger prior mean alpha / beta."""
    a1, b1, a2, b2, P = theta
    if a1 / b1 >= a2 / b2:
        return theta
    return np.array([a2, b2, a1, b1, 1 - P])


def _close(t1: np.ndarray, t2: np.ndarray, tol: Sequence[float]) -> bool:
    return bool(np.all(np.abs(t1 - t2) < np.asarray(tol)))


def _bfgs(
    fun,
    x0: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    gtol: float,
    max_iter: int,
    H0: np.ndarray | None,
    xtol: float = 1e-9,
) -> tuple[np.ndarray, float, np.ndarray, bool]:
    """Quasi-Newton (BFGS) minimisation inside a box, with a backtracking Armijo line search.

    Written out for 5 parameters with elementwise numpy only: the library optimisers call BLAS,
    whose idle threads spin and slow everything else down on a busy machine. At most ``max_iter``
    iterations and ``4 * max_iter`` evaluations (a ridge running off to a bound is given up, not
    followed for ever). Steps are projected into
    the box; the inverse-Hessian approximation starts from ``H0`` (identity if None) and is reset when a
    step is not a descent direction. Returns (x, f, inverse-Hessian approximation, converged).
    """
    n = x0.size
    x = np.clip(x0, lows, highs)
    f, g = fun(x)
    evaluations = 1
    H = np.eye(n) if H0 is None else H0.copy()
    if not np.isfinite(f):
        return x, f, H, False
    stalled = 0
    history = [f]
    for _ in range(max_iter):
        free = ~(((x <= lows) & (g > 0)) | ((x >= highs) & (g < 0)))  # not pressed against a bound
        projected = float(np.max(np.abs(g * free)))
        direction = -(H * (g * free)[None, :]).sum(axis=1) * free
        # converged when the quasi-Newton step to the optimum is below xtol (on log alpha, log beta,
        # logit P: a relative change), or the gradient vanishes outright
        if projected < gtol or (float(np.max(np.abs(direction))) < xtol and projected < 1e4 * gtol):
            return x, f, H, True
        if float((direction * g).sum()) >= 0:  # not a descent direction: fall back to steepest descent
            H = np.eye(n)
            direction = -g * free
        step = min(1.0, 5.0 / max(float(np.max(np.abs(direction))), 1e-300))
        accepted = False
        for _ in range(40):
            x_new = np.clip(x + step * direction, lows, highs)
            f_new, g_new = fun(x_new)
            evaluations += 1
            if np.isfinite(f_new) and f_new <= f + 1e-4 * float(((x_new - x) * g).sum()):
                accepted = True
                break
            step *= 0.5
        if not accepted or evaluations > 4 * max_iter:
            if not accepted and not np.array_equal(H, np.eye(n)) and evaluations <= 4 * max_iter:
                H = np.eye(n)  # the curvature model misled the search: start it afresh
                continue
            return x, f, H, projected < 1e4 * gtol
        s_vec = x_new - x
        y_vec = g_new - g
        improvement = f - f_new
        x, f, g = x_new, f_new, g_new
        sy = float((s_vec * y_vec).sum())
        if sy > 1e-12 * float(np.sqrt((s_vec * s_vec).sum() * (y_vec * y_vec).sum())):
            rho = 1.0 / sy
            Hy = (H * y_vec[None, :]).sum(axis=1)
            yHy = float((y_vec * Hy).sum())
            H = H - rho * (Hy[:, None] * s_vec[None, :] + s_vec[:, None] * Hy[None, :])
            H = H + (rho * rho * yHy + rho) * (s_vec[:, None] * s_vec[None, :])
        # stop when the objective no longer moves (at the precision of a sum over all cells), or
        # creeps along a ridge (less than 1e-10 relative over 25 iterations, nlminb's rel.tol)
        stalled = stalled + 1 if improvement <= 1e-15 * max(abs(f), 1.0) else 0
        history.append(f)
        creeping = len(history) > 25 and history[-26] - f <= 1e-10 * max(abs(f), 1.0)
        if stalled >= 3 or creeping:
            free = ~(((x <= lows) & (g > 0)) | ((x >= highs) & (g < 0)))
            return x, f, H, bool(np.max(np.abs(g * free)) < 1e4 * gtol)
    return x, f, H, False


def _minimise(
    lik: _Likelihood,
    theta0: np.ndarray,
    gtol: float,
    max_iter: int,
    H0: np.ndarray | None = None,
    xtol: float = 1e-9,
) -> tuple[float, np.ndarray, bool, np.ndarray]:
    """BFGS from theta0: (negative log-likelihood, canonical theta, converged inside bounds, inverse Hessian).

    The inverse Hessian is on the transformed scale of theta0's component order (not canonicalised).
    """
    lows = np.array([_LOG_LOW] * 4 + [-_LOGIT_LIMIT])
    highs = np.array([_LOG_HIGH] * 4 + [_LOGIT_LIMIT])
    # scale the objective to a per-cell average so that the tolerances mean the same at any data size
    scale = 1.0 / max(lik.w_total, 1.0)

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = lik(x)
        return value * scale, grad * scale

    x0 = np.r_[np.log(theta0[:4]), special.logit(theta0[4])]
    x, f, H, ok = _bfgs(objective, x0, lows, highs, gtol, max_iter, H0, xtol)
    inside = bool(np.all((x > lows + 1e-6) & (x < highs - 1e-6)))
    theta = np.r_[np.exp(x[:4]), special.expit(x[4])]
    canonical = _canonical(theta)
    if canonical[0] != theta[0]:  # components swapped: permute the inverse Hessian to match
        perm = [2, 3, 0, 1, 4]
        H = H[np.ix_(perm, perm)]
    return float(f) / scale, canonical, ok and bool(np.isfinite(f)) and inside, H


def _consensus(
    runs: list[tuple[float, np.ndarray, bool, np.ndarray]], tol: Sequence[float]
) -> tuple[int, int, int]:
    """openEBGM autoHyper's rule: the best converged optimum that at least one other start agrees with.

    Returns (index of the chosen run, number of other runs agreeing with it, number of converged runs
    with a better objective passed over for want of agreement). Without any agreement the best
    converged run (else the best run) is returned with 0 agreeing.
    """
    order = sorted(range(len(runs)), key=lambda i: runs[i][0])
    good = [i for i in order if runs[i][2]]
    for passed, i in enumerate(good):
        agree = sum(_close(runs[i][1], runs[j][1], tol) for j in range(len(runs)) if j != i)
        if agree >= 1:
            return i, agree, passed
    return (good or order)[0], 0, 0


def gps_fit(
    N,
    E,
    weights=None,
    *,
    truncated: bool = True,
    starts: Sequence[Sequence[float]] = DEFAULT_STARTS,
    search: Literal["auto", "data", "squashed"] = "auto",
    agree_tol: Sequence[float] = (0.05, 0.05, 0.2, 0.2, 0.025),
    data: str = "exact",
    gtol: float = 1e-13,
    max_iter: int = 250,
) -> GPSHyperparameters:
    """Maximum-likelihood GPS hyperparameters (DuMouchel 1999; openEBGM ``autoHyper``).

    Maximises :func:`gps_loglik` by BFGS on (log alpha, log beta, logit P) using the analytic
    gradient, from each of ``starts``. Identical (N, E) rows are merged with summed weights first
    (exact). The estimate is chosen by openEBGM ``autoHyper``'s rule: the converged optimum with the
    highest likelihood that at least one other start reaches too (within ``agree_tol`` on alpha1,
    beta1, alpha2, beta2, P — autoHyper's default tolerances); a better optimum that only one start
    finds is passed over (counted in ``n_passed_over``). ``converged`` is false when no two starts
    agree.

    ``search`` says where the starts are run: ``"data"`` on the given (N, E, weights); ``"squashed"``
    on openEBGM ``autoSquash`` superpoints of them, the chosen optimum then being refined by maximising
    the likelihood of the given data from there (so the result is still the maximum of the exact
    likelihood); ``"auto"`` (default) squashes only unweighted tables with more than 20,000 distinct
    (N, E) (openEBGM's advice on the largest practical table). Pass squashed data
    (:func:`squash_data`) with its weights and ``data="squashed"`` to fit on superpoints, as openEBGM
    does.

    >>> rng = np.random.default_rng(1)
    >>> E = rng.gamma(0.5, 2.0, 3000)
    >>> lam = np.where(rng.random(3000) < 0.1, rng.gamma(2.0, 1 / 0.4, 3000), rng.gamma(4.0, 1 / 4.0, 3000))
    >>> N = rng.poisson(lam * E)
    >>> hyper = gps_fit(N[N > 0], E[N > 0])
    >>> hyper.converged, hyper.n_starts_agreeing
    (True, 5)
    >>> round(hyper.alpha1, 3), round(hyper.beta1, 3), round(hyper.P, 3)
    (0.219, 0.187, 0.329)
    >>> bool(abs(gps_loglik(hyper.theta, N[N > 0], E[N > 0]) - hyper.loglik) < 1e-6)
    True
    """
    N_, E_, w_ = _check_NE(N, E, weights, truncated)
    if search not in ("auto", "data", "squashed"):
        raise DisproportionalityError(f"search must be 'auto', 'data' or 'squashed', got {search!r}")
    starts_arr = np.asarray(starts, dtype=np.float64)
    if starts_arr.ndim != 2 or starts_arr.shape[1] != 5 or starts_arr.shape[0] < 1:
        raise DisproportionalityError("starts must be a sequence of (alpha1, beta1, alpha2, beta2, P) rows")
    for row in starts_arr:
        _check_theta(row)
    Nu, Eu, wu, _ = _unique_weighted(N_, E_, w_)
    lik = _Likelihood(Nu, Eu, wu, truncated)
    unweighted = bool(np.all(w_ == 1))
    squash_first = search == "squashed" or (
        search == "auto" and unweighted and Nu.size > _SEARCH_SQUASH_ABOVE
    )
    if squash_first:
        if not unweighted:
            raise DisproportionalityError("search='squashed' needs unweighted data (the cells themselves)")
        try:
            sq = auto_squash(N_, E_)
        except DisproportionalityError:  # too few cells of any count to squash: search on the data
            squash_first = False
    search_lik = _Likelihood(*_unique_weighted(sq.N, sq.E, sq.weight)[:3], truncated) if squash_first else lik
    # on superpoints the starts only have to find the optimum's basin (to 1e-5 relative, far inside
    # autoHyper's agreement tolerances); the refinement on the exact likelihood then goes to 1e-9
    search_xtol = 1e-5 if squash_first else 1e-9
    runs = [_minimise(search_lik, row, gtol, max_iter, xtol=search_xtol) for row in starts_arr]
    chosen, agree, passed = _consensus(runs, agree_tol)
    value, theta, ok, H = runs[chosen]
    if squash_first:  # refine on the exact likelihood, starting from the curvature learnt on superpoints
        value, theta, ok, _ = _minimise(lik, theta, gtol, max_iter, H)
    converged = ok and agree >= 1
    return GPSHyperparameters(
        alpha1=float(theta[0]),
        beta1=float(theta[1]),
        alpha2=float(theta[2]),
        beta2=float(theta[3]),
        P=float(theta[4]),
        loglik=float(-value + lik.const),
        converged=bool(converged),
        data=data,
        truncated=truncated,
        n_points=int(N_.size),
        total_weight=float(w_.sum()),
        n_starts_agreeing=int(agree + 1) if agree else 0,
        n_passed_over=int(passed),
        search="squashed" if squash_first else "data",
    )


# --------------------------------------------------------------------------------------------------
# GPS posterior
# --------------------------------------------------------------------------------------------------


def _theta_of(hyper: GPSHyperparameters | Sequence[float]) -> np.ndarray:
    theta = hyper.theta if isinstance(hyper, GPSHyperparameters) else np.asarray(hyper, dtype=np.float64)
    _check_theta(theta)
    return theta


def _qn(theta: np.ndarray, N: np.ndarray, E: np.ndarray) -> np.ndarray:
    """Posterior probability of component 1 (DuMouchel 1999 eq. 6) from untruncated NB densities."""
    a1, b1, a2, b2, P = theta

    def log_nb(a: float, b: float) -> np.ndarray:
        log_bE = np.log(b + E)
        return (
            special.gammaln(a + N)
            - special.gammaln(a)
            + a * (math.log(b) - log_bE)
            + N * (np.log(E) - log_bE)
        )

    d = (log_nb(a2, b2) + math.log1p(-P)) - (log_nb(a1, b1) + math.log(P))
    return special.expit(-d)


def gps_quantile(
    hyper: GPSHyperparameters | Sequence[float], N, E, q: float | Sequence[float], *, rtol: float = 1e-10
) -> np.ndarray:
    """Quantiles of the posterior of lambda for each (N, E): roots of the two-gamma mixture cdf.

    Solves ``Qn G(x; alpha1 + N, beta1 + E) + (1 - Qn) G(x; alpha2 + N, beta2 + E) = q`` for all cells
    at once by Halley's method on t = log x (using the mixture density and its derivative), started
    from the quantile of the mixture of Wilson-Hilferty approximations of the two gammas and safeguarded
    by bisection inside the bracket of points already seen on each side, to relative accuracy ``rtol``.
    Distinct (N, E) are solved once. ``q`` may be a scalar (result shaped like N) or a sequence
    (result has a trailing axis, one column per q).

    >>> float(gps_quantile((0.2, 0.1, 2.0, 4.0, 0.3), 3, 1.5, 0.05))
    0.38459...
    """
    theta = _theta_of(hyper)
    N_, E_, _ = _check_NE(N, E, None, truncated=False)
    qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if np.any(~((qs > 0) & (qs < 1))):
        raise DisproportionalityError(f"quantile levels must lie strictly between 0 and 1, got {qs}")
    Nu, Eu, _, lookup = _unique_weighted(N_, E_, np.ones_like(N_))
    Qn = _qn(theta, Nu, Eu)
    out = np.column_stack([_solve_quantile(theta, Nu, Eu, Qn, qk, rtol) for qk in qs])[lookup]
    shape = np.shape(N)
    if np.ndim(q) == 0:
        return out[:, 0].reshape(shape)
    return out.reshape((*shape, qs.size))


def _solve_quantile(
    theta: np.ndarray, N: np.ndarray, E: np.ndarray, Qn: np.ndarray, q: float, rtol: float
) -> np.ndarray:
    """Vectorised root of the posterior mixture cdf minus q, on t = log x (see :func:`gps_quantile`)."""
    a1, b1, a2, b2, _ = theta
    s1, r1 = a1 + N, b1 + E
    s2, r2 = a2 + N, b2 + E
    t = _approximate_quantile(s1, r1, s2, r2, Qn, q)
    lg1, lg2 = special.gammaln(s1), special.gammaln(s2)
    log_r1, log_r2 = np.log(r1), np.log(r2)
    lo = np.full(N.size, -np.inf)
    hi = np.full(N.size, np.inf)
    active = np.arange(N.size)
    for _ in range(100):
        if active.size == 0:
            break
        ta = t[active]
        x = np.exp(ta)
        Qa = Qn[active]
        sa1, ra1, sa2, ra2 = s1[active], r1[active], s2[active], r2[active]
        rx1, rx2 = ra1 * x, ra2 * x
        g = Qa * special.gammainc(sa1, rx1) + (1 - Qa) * special.gammainc(sa2, rx2) - q
        # h_k = x f_k(x) = dG_k/dt and dh_k/dt = h_k (s_k - r_k x): Halley's method on t
        h1 = Qa * np.exp(sa1 * (log_r1[active] + ta) - rx1 - lg1[active])
        h2 = (1 - Qa) * np.exp(sa2 * (log_r2[active] + ta) - rx2 - lg2[active])
        d1 = h1 + h2
        d2 = h1 * (sa1 - rx1) + h2 * (sa2 - rx2)
        below = g < 0
        lo_a = np.where(below, ta, lo[active])
        hi_a = np.where(below, hi[active], ta)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = -g / d1
            correction = 0.5 * newton * d2 / d1
            step = newton / (1.0 + correction)
        # Halley's correction is trusted only near the root; far from it, plain Newton (then clipped)
        step = np.where(np.isfinite(step) & (np.abs(correction) < 0.5), step, newton)
        step = np.clip(np.nan_to_num(step, nan=0.0, posinf=2.0, neginf=-2.0), -2.0, 2.0)
        # Halley's method converges cubically: after a step below sqrt(rtol) the error is far below rtol
        step_done = (np.abs(step) < math.sqrt(rtol)) & (d1 > 0)
        new = ta + step
        finite = np.isfinite(lo_a) & np.isfinite(hi_a)
        outside = ~step_done & ((new <= lo_a) | (new >= hi_a))
        # a step leaving the bracket is replaced by bisection; without a two-sided bracket yet, move
        # by a fixed amount towards the root
        new = np.where(outside & finite, 0.5 * (lo_a + hi_a), new)
        new = np.where(outside & ~finite, np.where(below, ta + 1.0, ta - 1.0), new)
        new = np.where(g == 0, ta, new)
        lo[active], hi[active] = lo_a, hi_a
        done = step_done | (g == 0) | (finite & (hi_a - lo_a < rtol))
        t[active] = new
        active = active[~done]
    if active.size:
        raise RuntimeError(f"posterior quantile search did not converge for {active.size} cells")
    return np.exp(t)


def _approximate_quantile(
    s1: np.ndarray, r1: np.ndarray, s2: np.ndarray, r2: np.ndarray, Qn: np.ndarray, q: float
) -> np.ndarray:
    """Starting values: the q-quantile (log scale) of the mixture of Wilson-Hilferty approximations.

    Each Gamma(s, r) is approximated by ``(r x / s)^(1/3) ~ Normal(1 - 1/(9 s), 1/(9 s))``; the mixture of
    the two approximations is solved by a few cheap Newton steps inside the bracket of the two
    component quantiles (the mixture quantile always lies between them).
    """
    z = special.ndtri(q)
    c1, c2 = 1.0 / (9.0 * s1), 1.0 / (9.0 * s2)
    sd1, sd2 = np.sqrt(c1), np.sqrt(c2)
    t1 = np.log(s1 / r1) + 3.0 * np.log(np.maximum(1.0 - c1 + z * sd1, 0.02))
    t2 = np.log(s2 / r2) + 3.0 * np.log(np.maximum(1.0 - c2 + z * sd2, 0.02))
    lo, hi = np.minimum(t1, t2), np.maximum(t1, t2)
    t = np.where(Qn > 0.5, t1, t2)
    k1, k2 = np.log(r1 / s1) / 3.0, np.log(r2 / s2) / 3.0
    for _ in range(6):
        y1 = np.exp(k1 + t / 3.0)  # (r x / s)^(1/3)
        y2 = np.exp(k2 + t / 3.0)
        z1 = (y1 - 1.0 + c1) / sd1
        z2 = (y2 - 1.0 + c2) / sd2
        g = Qn * special.ndtr(z1) + (1 - Qn) * special.ndtr(z2) - q
        d = Qn * np.exp(-0.5 * z1 * z1) * y1 / (3.0 * sd1) + (1 - Qn) * np.exp(-0.5 * z2 * z2) * y2 / (
            3.0 * sd2
        )
        d = d / math.sqrt(2.0 * math.pi)
        lo = np.where(g < 0, t, lo)
        hi = np.where(g < 0, hi, t)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t - g / d
        t = np.where((new > lo) & (new < hi), new, 0.5 * (lo + hi))
    return t


def gps_posterior(hyper: GPSHyperparameters | Sequence[float], N, E) -> GPSPosterior:
    """Posterior mixture weight, EBGM, EB05 and EB95 of every (N, E) (DuMouchel 1999 eq. 6-11).

    >>> post = gps_posterior((0.2, 0.1, 2.0, 4.0, 0.3), [3], [1.5])
    >>> post.EB05.round(4), post.EBGM.round(4), post.EB95.round(4)
    (array([0.3846]), array([1.0152]), array([2.9957]))
    """
    theta = _theta_of(hyper)
    N_, E_, _ = _check_NE(N, E, None, truncated=False)
    a1, b1, a2, b2, _ = theta
    Nu, Eu, _, lookup = _unique_weighted(N_, E_, np.ones_like(N_))
    Qn = _qn(theta, Nu, Eu)
    mean_log = Qn * (special.digamma(a1 + Nu) - np.log(b1 + Eu)) + (1 - Qn) * (
        special.digamma(a2 + Nu) - np.log(b2 + Eu)
    )
    eb05 = _solve_quantile(theta, Nu, Eu, Qn, 0.05, 1e-10)
    eb95 = _solve_quantile(theta, Nu, Eu, Qn, 0.95, 1e-10)
    return GPSPosterior(Qn=Qn[lookup], EBGM=np.exp(mean_log)[lookup], EB05=eb05[lookup], EB95=eb95[lookup])


# --------------------------------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------------------------------


def disproportionality(
    reports: pd.DataFrame | Any,
    *,
    id: str = "id",
    product: str = "product",
    event: str = "event",
    strata: str | Sequence[str] | None = None,
    margins: Margins = "reports",
    hyper: HyperData | GPSHyperparameters | Sequence[float] = "exact",
    zeroes: bool = False,
    squash: Sequence[dict[str, int]] | None = None,
    starts: Sequence[Sequence[float]] = DEFAULT_STARTS,
    progress: Callable[[str], None] | None = None,
) -> DisproportionalityResult:
    """PRR, ROR, IC and GPS/EBGM for every product x event pair of a long report table.

    ``hyper`` chooses how the GPS prior is fitted: ``"exact"`` (all pairs with N >= 1), ``"squashed"``
    (openEBGM's ``autoSquash`` superpoints, or the explicit ``squash`` steps, each a dict of
    :func:`squash_data` arguments such as ``{"count": 1, "bin_size": 50, "keep_pts": 100}``), or given
    hyperparameters (a :class:`GPSHyperparameters` or (alpha1, beta1, alpha2, beta2, P)). ``zeroes``
    includes the never-reported cells in the likelihood instead of truncating it at zero (the output
    still lists reported pairs only). See :func:`count_pairs` for ``margins`` and ``strata``.
    ``progress``, if given, is called after each stage with ``"counted"``, ``"fitted"`` and ``"scored"``.

    >>> import pandas as pd
    >>> rng = np.random.default_rng(7)
    >>> reports = pd.DataFrame({"id": rng.integers(0, 400, 1500),
    ...                         "product": rng.choice(list("ABCDEFGH"), 1500),
    ...                         "event": rng.choice([f"e{i}" for i in range(30)], 1500)})
    >>> res = disproportionality(reports, id="id", product="product", event="event")
    >>> res.table().columns.tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['product', 'event', 'N', 'E', 'PRR', 'PRR_LB95', 'ROR', 'ROR_LB95', 'ROR_UB95',
     'IC', 'IC025', 'EBGM', 'EB05', 'EB95']
    >>> bool(np.all((res.EB05 <= res.EBGM) & (res.EBGM <= res.EB95)))
    True
    """

    def stage(name: str) -> None:
        if progress is not None:
            progress(name)

    counts = count_pairs(
        reports, id=id, product=product, event=event, strata=strata, margins=margins, zeroes=zeroes
    )
    stage("counted")
    if isinstance(hyper, str):
        if hyper not in ("exact", "squashed"):
            raise DisproportionalityError(
                f"hyper must be 'exact', 'squashed' or hyperparameters, got {hyper!r}"
            )
        N_fit = counts.N.astype(np.float64)
        E_fit = counts.E
        if zeroes:
            assert counts.E_zero is not None
            N_fit = np.r_[N_fit, np.zeros(counts.E_zero.size)]
            E_fit = np.r_[E_fit, counts.E_zero]
        if hyper == "exact":
            fitted = gps_fit(N_fit, E_fit, truncated=not zeroes, starts=starts, data="exact")
        else:
            if squash is None:
                sq = auto_squash(N_fit, E_fit)
            else:
                sq = SquashedData(N=N_fit.astype(np.int64), E=E_fit, weight=np.ones_like(E_fit))
                for step in squash:
                    sq = squash_data(sq.N, sq.E, sq.weight, **step)
            fitted = gps_fit(sq.N, sq.E, sq.weight, truncated=not zeroes, starts=starts, data="squashed")
        hyper_data: str = hyper
    elif isinstance(hyper, GPSHyperparameters):
        fitted = hyper
        hyper_data = "given"
    else:
        theta = _theta_of(hyper)
        a1, b1, a2, b2, P = (float(v) for v in theta)
        fitted = GPSHyperparameters(a1, b1, a2, b2, P, loglik=float("nan"), converged=True, data="given")
        hyper_data = "given"
    stage("fitted")
    post = gps_posterior(fitted, counts.N, counts.E)
    args = (counts.N, counts.n_product, counts.n_event, counts.n_total)
    prr_value, prr_lb = prr(*args)
    ror_value, ror_lb, ror_ub = ror(*args)
    ic, ic025 = bcpnn_ic(*args)
    stage("scored")
    return DisproportionalityResult(
        product=counts.product,
        event=counts.event,
        N=counts.N,
        E=counts.E,
        n_product=counts.n_product,
        n_event=counts.n_event,
        n_total=counts.n_total,
        PRR=prr_value,
        PRR_LB95=prr_lb,
        ROR=ror_value,
        ROR_LB95=ror_lb,
        ROR_UB95=ror_ub,
        IC=ic,
        IC025=ic025,
        EBGM=post.EBGM,
        EB05=post.EB05,
        EB95=post.EB95,
        hyper=fitted,
        margins=margins,
        strata=counts.strata,
        hyper_data=hyper_data,
    )
