"""Optimal reviewer assignment, 300 applications x 600 experts, 5 % conflicts, against a plain MILP."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from bench.harness import Row, timed
from qslab.designation.assignment import solve_assignment


def run(quick: bool) -> list[Row]:
    rng = np.random.default_rng(6)
    n, m = (60, 120) if quick else (300, 600)
    affinity, conflicts = rng.random((n, m)), rng.random((n, m)) < 0.05
    ours_s, ours = timed(lambda: solve_assignment(affinity, conflicts, k=5, max_load=4, min_load=1))
    rows, cols = np.nonzero(~conflicts)
    v = np.arange(rows.size)
    per_application = sparse.csr_matrix((np.ones(v.size), (rows, v)), shape=(n, v.size))
    per_expert = sparse.csr_matrix((np.ones(v.size), (cols, v)), shape=(m, v.size))
    ref_s, ref = timed(
        lambda: milp(
            -affinity[rows, cols],
            constraints=[LinearConstraint(per_application, 5, 5), LinearConstraint(per_expert, 1, 4)],
            integrality=np.ones(v.size),
            bounds=Bounds(0, 1),
        )
    )
    same = abs(ours.objective + ref.fun) < 1e-6
    return [
        Row(
            f"assignment {n}x{m}, k=5, L=4",
            ours_s,
            "scipy milp",
            ref_s,
            target="< 5 s, same optimum",
            met=ours_s < 5 and same,
            note=ours.summary().splitlines()[0],
        )
    ]
