"""noise-14's held-out group and runner (benchmarks/hetero_noise.py): the group is apart from the fresh set,
its noise is large in one region only, and a run records where its trials went."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import fresh_problems, hetero_noise
from benchmarks.optimizers import RandomOptimizer


def test_the_held_out_group_is_not_part_of_the_fresh_set_and_is_noisy_in_one_region_only() -> None:
    fresh = {p.name for p in fresh_problems.problems()}
    for problem in fresh_problems.hetero_holdout():
        assert problem.name not in fresh
        sample = RandomOptimizer(problem.space, 0).ask(400)
        assert all(np.isfinite(problem.true(p)) for p in sample), problem.name
        sd = np.array([problem.sd(p) for p in sample])
        assert sd.min() < hetero_noise.NOISY_SD < sd.max(), problem.name  # a quiet and a noisy region
        assert sd.max() > 5 * sd.min(), problem.name


def test_a_run_records_the_true_loss_at_the_best_noisy_observation_and_where_the_trials_went() -> None:
    problem = fresh_problems.hetero_holdout()[1]  # Branin with a noisy corner
    run = hetero_noise.run_one(problem, "random", 0)
    noisy, true = np.array(run["noisy"]), np.array(run["true"])
    assert noisy.shape == true.shape == (12, 4)
    first = int(np.argmin(noisy[0]))
    assert run["recommended"][0][0] == true[0, first]
    late = [problem.sd(p) > hetero_noise.NOISY_SD for p in run["params"][24:]]
    assert run["late_noisy_share"] == np.mean(late)
    assert run["final_true"] == run["recommended"][-1][0]


def test_a_hetero_candidate_is_refused_without_its_code() -> None:
    with pytest.raises(SystemExit, match=r"n14_candidates\.diff"), hetero_noise.candidate("hetero"):
        pass
