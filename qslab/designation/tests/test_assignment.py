"""The assignment engine against brute force: on small cases, the solver's total affinity equals the best
of every feasible assignment enumerated, and no conflicted pair is ever used."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qslab.designation.assignment import AssignmentInfeasible, solve_assignment


def brute_force(affinity, conflict, k, max_load, min_load=0):
    n_apps, n_exp = affinity.shape
    panels = [
        [c for c in itertools.combinations(range(n_exp), k) if not any(conflict[i, j] for j in c)]
        for i in range(n_apps)
    ]
    best = None
    for choice in itertools.product(*panels):
        loads = np.bincount([j for panel in choice for j in panel], minlength=n_exp)
        if loads.max() > max_load or loads.min() < min_load:
            continue
        total = sum(affinity[i, j] for i, panel in enumerate(choice) for j in panel)
        best = total if best is None else max(best, total)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_solver_reaches_the_brute_force_optimum_on_small_cases(seed):
    rng = np.random.default_rng(seed)
    affinity = np.round(rng.random((4, 5)) * 3, 1)
    conflict = rng.random((4, 5)) < 0.2
    conflict[:, 0] = False  # keep every case feasible
    conflict[:, 1] = False
    k, max_load, min_load = 2, 2, seed % 2
    expected = brute_force(affinity, conflict, k, max_load, min_load)
    result = solve_assignment(affinity, conflict, k=k, max_load=max_load, min_load=min_load)
    assert result.objective == pytest.approx(expected)
    assert result.bound == pytest.approx(expected)
    assert not any(conflict[i, j] for i, j in result.pairs)
    per_app = np.bincount([i for i, _j in result.pairs], minlength=4)
    assert per_app.tolist() == [k] * 4
    assert max(result.loads) <= max_load and min(result.loads) >= min_load


def test_an_application_with_too_few_unconflicted_experts_is_reported_by_index():
    conflict = np.array([[True, True, False], [False, False, False]])
    with pytest.raises(AssignmentInfeasible, match=r"applications \[0\] have fewer than 2 experts"):
        solve_assignment(np.ones((2, 3)), conflict, k=2, max_load=2)


def test_too_little_reviewer_capacity_is_reported_with_the_numbers():
    with pytest.raises(AssignmentInfeasible, match="need 6 reviews, but 2 experts × 2 allow only 4"):
        solve_assignment(np.ones((3, 2)), np.zeros((3, 2), bool), k=2, max_load=2)
