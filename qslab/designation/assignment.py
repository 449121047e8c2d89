"""Optimal reviewer assignment (no Django): each application gets exactly ``k`` experts, each expert
between ``min_load`` and ``max_load`` applications, no conflicted pair, total affinity maximal.

This is a bipartite b-matching. Its constraint matrix (application rows and expert rows of an
incidence matrix) is totally unimodular, so the linear programme has an integral optimal vertex: it is
solved with the HiGHS dual simplex (:func:`scipy.optimize.linprog`), and if a solution ever came back
fractional the same model is solved as a mixed-integer programme with :func:`scipy.optimize.milp`.
``bound`` is the LP optimum, an upper bound that the integer solution reaches.

>>> import numpy as np
>>> r = solve_assignment(np.array([[1.0, 0.2], [0.3, 0.9]]), np.zeros((2, 2), bool), k=1, max_load=1)
>>> r.pairs
((0, 0), (1, 1))
>>> round(r.objective, 2)
1.9
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from qslab.results import ResultMixin


class AssignmentInfeasible(ValueError):
    """No assignment satisfies the panel size, the loads and the conflicts; the message says why."""


@dataclasses.dataclass(frozen=True)
class AssignmentResult(ResultMixin):
    pairs: tuple[tuple[int, int], ...]  # (application index, expert index)
    objective: float
    bound: float
    loads: tuple[int, ...]
    k: int
    max_load: int
    min_load: int

    def summary(self) -> str:
        return (
            f"{len(self.pairs)} assignments (k={self.k}, loads {min(self.loads, default=0)}–"
            f"{max(self.loads, default=0)} of max {self.max_load}); affinity {self.objective:.3f}, "
            f"bound {self.bound:.3f}"
        )


def solve_assignment(
    affinity: np.ndarray, conflict: np.ndarray, *, k: int, max_load: int, min_load: int = 0
) -> AssignmentResult:
    """``affinity[i, j]`` of expert ``j`` for application ``i``; ``conflict[i, j]`` True excludes the pair."""
    affinity = np.asarray(affinity, dtype=float)
    conflict = np.asarray(conflict, dtype=bool)
    n_apps, n_experts = affinity.shape
    if conflict.shape != affinity.shape:
        raise ValueError("affinity and conflict must have the same shape")
    if k < 1 or max_load < 1 or min_load < 0 or min_load > max_load:
        raise ValueError("need k >= 1 and 0 <= min_load <= max_load, max_load >= 1")
    if n_apps == 0:
        return AssignmentResult((), 0.0, 0.0, tuple([0] * n_experts), k, max_load, min_load)
    free = ~conflict
    short = np.flatnonzero(free.sum(axis=1) < k)
    if short.size:
        raise AssignmentInfeasible(
            f"applications {short.tolist()} have fewer than {k} experts without a conflict"
        )
    if n_apps * k > n_experts * max_load:
        raise AssignmentInfeasible(
            f"{n_apps} applications × {k} experts need {n_apps * k} reviews, but {n_experts} experts × "
            f"{max_load} allow only {n_experts * max_load}"
        )
    if n_experts * min_load > n_apps * k:
        raise AssignmentInfeasible(
            f"{n_experts} experts × minimum {min_load} need more reviews than the {n_apps * k} to give"
        )
    rows, cols = np.nonzero(free)
    n_var = rows.size
    var = np.arange(n_var)
    a_app = sparse.csr_matrix((np.ones(n_var), (rows, var)), shape=(n_apps, n_var))
    a_exp = sparse.csr_matrix((np.ones(n_var), (cols, var)), shape=(n_experts, n_var))
    c = -affinity[rows, cols]
    lp = linprog(
        c,
        A_ub=sparse.vstack([a_exp, -a_exp]).tocsr(),
        b_ub=np.concatenate([np.full(n_experts, max_load), np.full(n_experts, -min_load)]),
        A_eq=a_app,
        b_eq=np.full(n_apps, k),
        bounds=(0, 1),
        method="highs-ds",
    )
    if lp.status != 0 or lp.x is None:
        raise AssignmentInfeasible(f"no feasible assignment: {lp.message}")
    bound = float(-lp.fun)
    x = lp.x
    if np.abs(x - np.round(x)).max() > 1e-6:  # pragma: no cover - TU matrix: should not happen
        result = milp(
            c,
            constraints=[LinearConstraint(a_app, k, k), LinearConstraint(a_exp, min_load, max_load)],
            integrality=np.ones(n_var),
            bounds=Bounds(0, 1),
        )
        if result.status != 0 or result.x is None:
            raise AssignmentInfeasible(f"no feasible assignment: {result.message}")
        x = result.x
    chosen = np.flatnonzero(x > 0.5)
    pairs = tuple(sorted((int(rows[v]), int(cols[v])) for v in chosen))
    loads = np.bincount(cols[chosen], minlength=n_experts)
    objective = float(affinity[rows[chosen], cols[chosen]].sum())
    return AssignmentResult(pairs, objective, bound, tuple(int(x) for x in loads), k, max_load, min_load)
