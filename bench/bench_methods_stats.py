"""Algorithm A on 10^5 results and SPC run rules on 10^6 points, each against a plain NumPy baseline."""

from __future__ import annotations

import numpy as np

from bench.harness import Row, peak_python_mib, timed
from qslab.methods.proficiency import algorithm_a
from qslab.methods.spc import run_rules


def _algorithm_a_baseline(x: np.ndarray) -> tuple[float, float]:
    """Straightforward Algorithm A: sort-based median each pass, explicit winsorising loop in NumPy."""
    xs, ss = float(np.median(x)), 1.483 * float(np.median(np.abs(x - np.median(x))))
    for _ in range(1000):
        d = 1.5 * ss
        w = np.where(x < xs - d, xs - d, np.where(x > xs + d, xs + d, x))
        nx, ns = float(w.mean()), 1.134 * float(np.sqrt(np.sum((w - w.mean()) ** 2) / (w.size - 1)))
        if abs(nx - xs) <= 1e-12 * max(abs(nx), ns) and abs(ns - ss) <= 1e-12 * ns:
            return nx, ns
        xs, ss = nx, ns
    return xs, ss


def _run_rules_baseline(z: np.ndarray) -> dict[str, np.ndarray]:
    """Western Electric rules with sliding windows (numpy.lib.stride_tricks), no cumulative sums."""
    from numpy.lib.stride_tricks import sliding_window_view

    out = {"beyond_3sigma": np.abs(z) > 3}
    for name, thr, k, m in (("2_of_3_beyond_2sigma", 2, 2, 3), ("4_of_5_beyond_1sigma", 1, 4, 5)):
        hi = sliding_window_view(z > thr, m).sum(axis=1) >= k
        lo = sliding_window_view(z < -thr, m).sum(axis=1) >= k
        out[name] = np.concatenate((np.zeros(m - 1, bool), hi | lo))
    up = sliding_window_view(z > 0, 8).all(axis=1)
    down = sliding_window_view(z < 0, 8).all(axis=1)
    out["8_same_side"] = np.concatenate((np.zeros(7, bool), up | down))
    return out


def run(quick: bool) -> list[Row]:
    rng = np.random.default_rng(13528)
    n = 10_000 if quick else 100_000
    x = np.concatenate([rng.normal(10, 1, n - n // 20), rng.normal(14, 3, n // 20)])
    ours_t, ours = timed(lambda: algorithm_a(x), repeat=3)
    ref_t, ref = timed(lambda: _algorithm_a_baseline(x), repeat=3)
    ours_mib, _ = peak_python_mib(lambda: algorithm_a(x))
    ref_mib, _ = peak_python_mib(lambda: _algorithm_a_baseline(x))
    same = abs(ours.x_star - ref[0]) < 1e-9 and abs(ours.s_star - ref[1]) < 1e-9
    rows = [
        Row(
            f"Algorithm A, {n:,} results",
            ours_t,
            "plain NumPy loop",
            ref_t,
            ours_mib,
            ref_mib,
            target="< 1 s, same x*, s*",
            met=ours_t < 1.0 and same,
            note=f"{ours.iterations} iterations",
        )
    ]
    m = 100_000 if quick else 1_000_000
    z = rng.normal(0, 1, m)
    ours_t, flags = timed(lambda: run_rules(z, "we"), repeat=3)
    ref_t, base = timed(lambda: _run_rules_baseline(z), repeat=3)
    ours_mib, _ = peak_python_mib(lambda: run_rules(z, "we"))
    ref_mib, _ = peak_python_mib(lambda: _run_rules_baseline(z))
    agree = all(np.array_equal(flags[k], base[k]) for k in base)
    nelson_t, _ = timed(lambda: run_rules(z, "nelson"))
    rows.append(
        Row(
            f"Western Electric rules, {m:,} points",
            ours_t,
            "sliding_window_view",
            ref_t,
            ours_mib,
            ref_mib,
            target="< 1 s, identical flags",
            met=ours_t < 1.0 and agree,
            note=f"all 8 Nelson rules {nelson_t:.2f} s",
        )
    )
    return rows
