"""The fourth held-out set's harness (benchmarks/heldout4.py) and problems (opt-23)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks import heldout4
from benchmarks.heldout4_problems import GROUPS, MAXIMIZE, problems


def test_every_problem_is_in_one_group_and_the_maximized_one_is_among_them() -> None:
    grouped = [n for names in GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(problems()) and len(set(grouped)) == len(grouped)
    assert set(MAXIMIZE) <= set(grouped)


def test_hyperstep_maximizes_what_the_harness_minimizes() -> None:
    problem = problems()["svc5-moons-max"]
    opt = heldout4.optimizer("hyperstep", problem, 0)
    assert isinstance(opt, heldout4.Maximizing)
    opt.ask(3)
    opt.tell([-0.7, -0.9, None])  # losses: accuracies 0.7, 0.9 and a failure
    best = opt.study.best_trial
    assert best is not None and best.value == pytest.approx(0.9)


def test_random_failures_come_from_the_run_s_generator_and_are_likelier_near_the_optimum() -> None:
    problem = problems()["flaky6-hartmann"]
    inside = {f"x{i}": v for i, v in enumerate([0.2, 0.15, 0.48, 0.28, 0.31, 0.66])}  # Hartmann-6's optimum
    outside = {f"x{i}": 0.9 for i in range(6)}

    def failures(params: dict[str, float], seed: int) -> list[bool]:
        seen = problem.noisy(np.random.default_rng(seed))
        return [math.isnan(seen(params)) for _ in range(2000)]

    assert failures(inside, 1) == failures(inside, 1)  # a seed repeats its draws
    assert 0.35 < np.mean(failures(inside, 1)) < 0.45
    assert 0.03 < np.mean(failures(outside, 2)) < 0.07
    assert math.isfinite(problem.true(inside))


def test_the_outlier_problem_is_scored_on_its_true_value_and_its_noise_has_heavy_tails() -> None:
    problem = problems()["outlier5-ellipsoid"]
    params = {f"x{i}": 0.1 for i in range(5)}
    seen = problem.noisy(np.random.default_rng(3))
    errors = np.array([seen(params) - problem.true(params) for _ in range(4000)])
    assert problem.noise > 0
    assert np.max(np.abs(errors)) > 40 * np.median(np.abs(errors))  # Student-t(1.5): rare huge spikes


def test_only_two_parameters_of_the_sparse_log_problem_move_its_loss() -> None:
    problem = problems()["sparse12-log"]
    rng = np.random.default_rng(0)
    base = problem.space.decode(rng.random(problem.space.dim))
    moved = {
        n
        for n in base
        if problem.f({**base, n: problem.space.decode(rng.random(problem.space.dim))[n]}) != problem.f(base)
    }
    assert moved == {"r3", "k2"}


def test_a_budget_of_20_scores_random_on_its_first_20_and_a_noisy_run_at_its_best_noisy_point() -> None:
    problem = problems()["outlier5-ellipsoid"]
    line = {"losses": [5.0, 1.0, 3.0, *[9.0] * 45], "true": [4.0, 2.0, 0.5, *[8.0] * 45]}
    scored, pair = heldout4._scored(problem, line, 20, 1)
    assert scored.shape == (20, 1) and pair is not None and pair.shape == (2, 20, 1)
    assert scored[0, 0] == 4.0 and scored[1:, 0].tolist() == [2.0] * 19  # the true loss at the best noisy one
    assert heldout4._source("random", 20) == 48 and heldout4._source("hyperstep", 20) == 20


def test_behind_needs_the_score_gap_and_most_seeds_and_names_groups_by_their_own_margin() -> None:
    scores = {
        "all": {"hyperstep": 50.0, "optuna-tpe": 55.0},
        "structure": {"hyperstep": 20.0, "optuna-tpe": 31.0},
        "per_problem": {"a": {"hyperstep": 10.0, "optuna-tpe": 30.0}, "b": {"hyperstep": 10.0, "optuna-tpe": 30.0}},
        "final_best": {
            "a": {"hyperstep": [1.0, 1.0, 1.0, 1.0], "optuna-tpe": [0.5, 0.5, 0.5, 2.0]},  # 3 of 4 seeds better
            "b": {"hyperstep": [1.0, 1.0, 1.0, 1.0], "optuna-tpe": [0.5, 0.5, 2.0, 2.0]},  # 2 of 4: not enough
        },
    }
    assert heldout4.behind(scores, 20, ["optuna-tpe"]) == [
        "a at 20: 10.0 against optuna-tpe 30.0",
        "group structure at 20: 20.0 against optuna-tpe 31.0",
    ]


def test_the_harness_scores_the_seeds_the_pre_registration_names() -> None:
    prereg = (Path(heldout4.__file__).parent / "results" / "o23_heldout4_prereg.md").read_text()
    first, last = map(int, re.search(r"Seeds \*\*(\d+)-(\d+)\*\*", prereg).groups())  # type: ignore[union-attr]
    assert tuple(range(first, last + 1)) == heldout4.SEEDS
