"""Monte Carlo uncertainty (JCGM 101) with 10^6 and 10^7 trials of a seven-input model.

Ours: :func:`qslab.methods.mcm.monte_carlo` on a model given as an expression string (parsed once,
evaluated vectorised in chunks), with mean, standard uncertainty, probabilistically symmetric and
shortest 95 % intervals. Reference: the same computation written straightforwardly in plain NumPy
(all draws at once, model as a NumPy expression, one sort), measured in the same run.
"""

from __future__ import annotations

import numpy as np

from bench.harness import Row, peak_python_mib, timed
from qslab.methods.mcm import monte_carlo
from qslab.methods.uncertainty import arcsine, normal, rectangular, student_t, triangular

MODEL = "a*b/(c + 1) + d*e - log(f) + g**2 + sqrt(b)"


def _inputs():
    return [
        normal("a", 1.0, 0.1),
        rectangular("b", 2.0, half_width=0.2),
        triangular("c", 0.5, half_width=0.05),
        arcsine("d", 0.0, half_width=0.3),
        student_t("e", 3.0, 0.2, 9),
        normal("f", 1.0, 0.05),
        rectangular("g", 0.0, half_width=0.01),
    ]


def ours(trials: int, seed: int = 1) -> tuple[float, float]:
    r = monte_carlo(MODEL, _inputs(), trials=trials, seed=seed, validate=False)
    return r.u, r.output().shortest_low


def plain_numpy(trials: int, seed: int = 1) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    a = 1.0 + 0.1 * rng.standard_normal(trials)
    b = rng.uniform(1.8, 2.2, trials)
    c = 0.5 + 0.05 * (rng.random(trials) + rng.random(trials) - 1.0)
    d = 0.3 * np.sin(2 * np.pi * rng.random(trials))
    e = 3.0 + 0.2 * rng.standard_t(9, trials)
    f = 1.0 + 0.05 * rng.standard_normal(trials)
    g = rng.uniform(-0.01, 0.01, trials)
    y = a * b / (c + 1) + d * e - np.log(f) + g**2 + np.sqrt(b)
    u = y.std(ddof=1)
    s = np.sort(y)
    q = int(0.95 * trials + 0.5)
    r = (trials - q + 1) // 2
    _ = (s[r - 1], s[r - 1 + q])
    widths = s[q:] - s[: trials - q]
    i = int(np.argmin(widths))
    return float(u), float(s[i])


def run(quick: bool) -> list[Row]:
    rows = []
    sizes = (10**5, 10**6) if quick else (10**6, 10**7)
    for trials in sizes:
        ours_s, ours_value = timed(lambda n=trials: ours(n), repeat=1 if trials > 10**6 else 3)
        ref_s, ref_value = timed(lambda n=trials: plain_numpy(n), repeat=1 if trials > 10**6 else 3)
        ours_mib, _ = peak_python_mib(lambda n=trials: ours(n))
        ref_mib, _ = peak_python_mib(lambda n=trials: plain_numpy(n))
        agree = abs(ours_value[0] - ref_value[0]) / ref_value[0] < 0.01
        target = "< 1 s" if trials == 10**6 else ""
        met = (ours_s < 1.0 and agree) if trials == 10**6 else None
        rows.append(
            Row(
                benchmark=f"MCM 7-input model, {trials:.0e} trials",
                ours_seconds=ours_s,
                reference="plain NumPy",
                reference_seconds=ref_s,
                ours_peak_mib=ours_mib,
                reference_peak_mib=ref_mib,
                target=target,
                met=met,
                note=f"u(y) ours {ours_value[0]:.5f} vs numpy {ref_value[0]:.5f}",
            )
        )
    return rows
