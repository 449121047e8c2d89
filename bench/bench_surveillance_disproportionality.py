"""GPS/EBGM on 100,000 seeded synthetic reports (~180,000 product x event pairs) vs a plain SciPy version.

The reports are drawn with product-specific event propensities (a two-gamma mixture of relative rates,
5 % of pairs elevated), 1 + Poisson(0.5) products and 1 + Poisson(1.2) events per report, Zipf-like
product and event frequencies. Timed (ours): the exact-data GPS hyperparameters (maximum likelihood on
all pairs with N >= 1, five starting points, openEBGM autoHyper's agreement rule) and EBGM, EB05 and
EB95 for every pair, from the N and E arrays; counting the pairs is timed on its own row.

Reference, measured in the same run: the straightforward SciPy implementation of the same model: a
Nelder-Mead fit of the likelihood written with ``scipy.stats.nbinom`` (timed from one start on a
random subset of pairs, scaled linearly to all pairs and to five starts) and per-pair
``scipy.optimize.brentq`` on the posterior mixture cdf for EB05 and EB95 (timed on a subset, scaled
per pair). openEBGM 0.9.1's times on this machine kind are quoted from issue 13, not re-measured.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from bench.harness import Row, peak_python_mib, timed
from qslab.surveillance.disproportionality import DEFAULT_STARTS, count_pairs, gps_fit, gps_posterior

OPENEBGM_QUOTE = "openEBGM 0.9.1: 13.6 s squashed, 104 s unsquashed (quoted from issue 13, not re-measured)"


def synthetic_reports(
    n_reports: int = 100_000, n_products: int = 4000, n_events: int = 1500, seed: int = 20240513
) -> pd.DataFrame:
    """Seeded long report table (id, product, event): one row per report x product x event."""
    rng = np.random.default_rng(seed)
    wp = 1.0 / (np.arange(n_products) + 5.0) ** 1.05
    wp /= wp.sum()
    we = 1.0 / (np.arange(n_events) + 5.0)
    we /= we.sum()
    # relative reporting rates of each event for each product: 95 % near 1, 5 % elevated
    elevated = rng.random((n_products, n_events)) < 0.05
    rate = np.where(
        elevated,
        rng.gamma(1.5, 1 / 0.3, (n_products, n_events)),
        rng.gamma(3.0, 1 / 3.0, (n_products, n_events)),
    )
    profile = np.cumsum(we * rate, axis=1)
    profile /= profile[:, -1:]
    k_p = 1 + rng.poisson(0.5, n_reports)
    k_e = 1 + rng.poisson(1.2, n_reports)
    products = rng.choice(n_products, size=int(k_p.sum()), p=wp)
    first_p = np.r_[0, np.cumsum(k_p)[:-1]]
    primary = products[first_p]  # the first product of a report drives its events
    report_of_event = np.repeat(np.arange(n_reports), k_e)
    flat = (profile + np.arange(n_products)[:, None]).ravel()
    row = primary[report_of_event]
    events = np.searchsorted(flat, row + rng.random(row.size)) - row * n_events
    events = np.minimum(events, n_events - 1)
    first_e = np.r_[0, np.cumsum(k_e)[:-1]]
    n_pairs = k_p * k_e
    report = np.repeat(np.arange(n_reports), n_pairs)
    offset = np.arange(int(n_pairs.sum())) - np.repeat(np.r_[0, np.cumsum(n_pairs)[:-1]], n_pairs)
    per = np.repeat(k_e, n_pairs)
    p_index = np.repeat(first_p, n_pairs) + offset // per
    e_index = np.repeat(first_e, n_pairs) + offset % per
    return pd.DataFrame(
        {
            "id": report,
            "product": np.char.add("P", products[p_index].astype(str)),
            "event": np.char.add("E", events[e_index].astype(str)),
        }
    )


def _scipy_negll(x: np.ndarray, N: np.ndarray, E: np.ndarray) -> float:
    a1, b1, a2, b2 = np.exp(x[:4])
    P = special.expit(x[4])
    p1, p2 = b1 / (b1 + E), b2 / (b2 + E)
    f1 = stats.nbinom.pmf(N, a1, p1) / stats.nbinom.sf(0, a1, p1)
    f2 = stats.nbinom.pmf(N, a2, p2) / stats.nbinom.sf(0, a2, p2)
    value = -np.sum(np.log(P * f1 + (1 - P) * f2))
    return float(value) if np.isfinite(value) else 1e300


def _scipy_quantile(theta: np.ndarray, n: float, e: float, q: float) -> float:
    a1, b1, a2, b2, P = theta
    f1 = stats.nbinom.pmf(n, a1, b1 / (b1 + e))
    f2 = stats.nbinom.pmf(n, a2, b2 / (b2 + e))
    Q = P * f1 / (P * f1 + (1 - P) * f2)

    def cdf(x: float) -> float:
        return (
            Q * special.gammainc(a1 + n, (b1 + e) * x) + (1 - Q) * special.gammainc(a2 + n, (b2 + e) * x) - q
        )

    return optimize.brentq(cdf, 1e-10, 1e4, xtol=1e-12, rtol=1e-12)


def run(quick: bool = False) -> list[Row]:
    n_reports = 10_000 if quick else 100_000
    fit_subset = 2_000 if quick else 10_000
    quantile_subset = 200 if quick else 2_000
    reports = synthetic_reports(n_reports=n_reports)

    count_seconds, counts = timed(lambda: count_pairs(reports, id="id", product="product", event="event"))
    N, E = counts.N, counts.E
    n_pairs = N.size

    def ours(search: str = "auto"):
        hyper = gps_fit(N, E, search=search)
        return hyper, gps_posterior(hyper, N, E)

    ours(), ours("data")  # warm caches so that every timing sees the same state
    seconds, (hyper, post) = timed(ours, repeat=3)
    peak, _ = peak_python_mib(ours)
    data_seconds, (hyper_data, _) = timed(lambda: ours("data"))
    fit_only, _ = timed(lambda: gps_fit(N, E), repeat=3)

    # reference: straightforward SciPy, on subsets, extrapolated
    rng = np.random.default_rng(7)
    pick = rng.choice(n_pairs, size=min(fit_subset, n_pairs), replace=False)
    x0 = np.r_[np.log(DEFAULT_STARTS[0][:4]), special.logit(DEFAULT_STARTS[0][4])]
    start = time.perf_counter()
    nm = optimize.minimize(
        _scipy_negll,
        x0,
        args=(N[pick].astype(float), E[pick]),
        method="Nelder-Mead",
        options={"maxiter": 5000, "maxfev": 5000, "xatol": 1e-7, "fatol": 1e-9},
    )
    nm_seconds = (time.perf_counter() - start) * n_pairs / pick.size * len(DEFAULT_STARTS)
    # the same subset fitted by ours: the log-likelihoods should agree (ours >= Nelder-Mead's)
    subset_gap = gps_fit(N[pick], E[pick]).loglik + nm.fun  # both are the complete log-likelihood
    qpick = rng.choice(n_pairs, size=min(quantile_subset, n_pairs), replace=False)
    theta = hyper.theta
    start = time.perf_counter()
    ref_q = np.array([[_scipy_quantile(theta, N[i], E[i], q) for q in (0.05, 0.95)] for i in qpick])
    quant_seconds = (time.perf_counter() - start) * n_pairs / qpick.size
    worst = float(np.max(np.abs(np.c_[post.EB05[qpick], post.EB95[qpick]] / ref_q - 1)))
    ref_seconds = nm_seconds + quant_seconds

    where = (
        "starts on superpoints, refined on all pairs" if hyper.search == "squashed" else "starts on all pairs"
    )
    label = f"GPS/EBGM {n_reports:,} reports, {n_pairs:,} pairs"
    return [
        Row(
            benchmark=f"{label}: exact-data hyperparameters + EBGM/EB05/EB95",
            ours_seconds=seconds,
            reference=(
                f"SciPy Nelder-Mead ({pick.size:,} pairs x 1 start, scaled) + per-pair brentq "
                f"({qpick.size:,} pairs, scaled)"
            ),
            reference_seconds=ref_seconds,
            ours_peak_mib=peak,
            target="< 1.5 s",
            met=bool(seconds < 1.5),
            note=(
                f"fit {fit_only:.2f} s ({where}; "
                f"converged={hyper.converged}), NM {nm_seconds:.1f} s + brentq {quant_seconds:.1f} s; "
                f"EB05/EB95 max rel diff vs brentq {worst:.1e}; loglik ours - NM on the subset "
                f"{subset_gap:+.1e} ({nm.nfev} NM evaluations); {OPENEBGM_QUOTE}"
            ),
        ),
        Row(
            benchmark=f"{label}: same, all five starts run on the exact table",
            ours_seconds=data_seconds,
            reference="(as above)",
            reference_seconds=ref_seconds,
            note=(
                f"max |theta diff| vs default {np.max(np.abs(hyper_data.theta / hyper.theta - 1)):.1e} rel; "
                f"reported, not targeted"
            ),
        ),
        Row(
            benchmark=f"count pairs and margins of {len(reports):,} report rows",
            ours_seconds=count_seconds,
            note="pandas factorize + numpy; not part of the target",
        ),
    ]
