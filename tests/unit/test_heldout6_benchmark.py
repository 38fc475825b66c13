"""The sixth held-out set's problems (benchmarks/heldout6_problems.py) and its harness (heldout4's, opt-27)."""

from __future__ import annotations

import math

import numpy as np

from benchmarks import heldout4, heldout6
from benchmarks.heldout6_problems import GROUPS, problems


def test_every_problem_is_in_one_group_and_the_harness_runs_this_set() -> None:
    grouped = [n for names in GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(problems()) and len(set(grouped)) == len(grouped)
    assert heldout4.runs("hyperstep", heldout6.SIXTH) == [(48, 4)]
    assert heldout6.SIXTH.seeds == (260, 261, 262, 263, 264)


def test_a_scikit_learn_value_is_the_same_for_the_same_configuration() -> None:
    chosen = problems()
    configs = {
        "gmm4-blobs": {"n_components": 6, "covariance_type": "full", "reg_covar": 1e-4, "init_params": "kmeans"},
        "threshold4-imbalanced": {"C": 0.5, "penalty": "l1", "weight": 4.0, "threshold": 0.4},
        "lags4-series": {"lags": 24, "fourier": 2, "window": 300, "alpha": 1.0},
    }
    for name, params in configs.items():
        first, second = chosen[name].f(params), chosen[name].f(params)
        assert math.isfinite(first) and first == second


def test_the_best_decision_threshold_moves_with_the_class_weight() -> None:
    problem = problems()["threshold4-imbalanced"]
    grid = np.linspace(0.05, 0.95, 19)

    def best_threshold(weight: float) -> float:
        costs = [problem.f({"C": 1.0, "penalty": "l2", "weight": weight, "threshold": t}) for t in grid]
        return float(grid[int(np.argmin(costs))])

    assert best_threshold(1.0) < best_threshold(20.0)


def test_heads6_crashes_on_a_lattice_of_holes_and_its_best_region_is_feasible() -> None:
    problem = problems()["heads6-divisible"]
    good = {"layers": 28, "units": 12, "heads": 12, "log2_batch": 8, "warmup": 1000, "lr": 10**-3.8}
    assert math.isfinite(problem.f(good))
    assert math.isnan(problem.f({**good, "heads": 9})) and math.isnan(problem.f({**good, "heads": 9}))
    assert math.isfinite(problem.f({**good, "units": 9, "heads": 9}))  # a hole, not a region: 576 / 9 = 64
    assert math.isnan(problem.f({**good, "units": 13}))  # 832 is not divisible by 12


def test_the_ordinal_order_is_in_the_names_not_in_the_listed_order_and_its_best_size_moves() -> None:
    problem = problems()["ordinal7-names"]
    choices = problem.space.parameters[0].choices  # type: ignore[union-attr]
    assert choices[:3] == ["medium", "xs", "xl"]

    def best(x0: float) -> str:
        return min(choices, key=lambda s: problem.f({"size": s, "x0": x0, "x1": -0.4}))

    assert best(-0.8) in ("xs", "small") and best(0.8) in ("xl", "xxl")


def test_minimax5_is_the_worst_of_its_tasks_and_not_smooth_at_its_best() -> None:
    problem = problems()["minimax5-tasks"]
    rng = np.random.default_rng(0)
    names = [f"x{i}" for i in range(5)]
    points = rng.uniform(0.0, 1.0, (2000, 5))
    values = np.array([problem.f(dict(zip(names, p))) for p in points])
    at = dict(zip(names, points[int(np.argmin(values))]))
    slopes = []
    for d in (1e-4, -1e-4):
        slopes.append((problem.f({**at, "x0": at["x0"] + d}) - problem.f(at)) / abs(d))
    assert values.min() > 0.0 and max(slopes) > 0.0  # a kink or a slope, never flat at the best sampled


def test_misscale4_is_best_near_zero_on_a_linear_scale_but_not_on_the_bound() -> None:
    problem = problems()["misscale4-linear"]
    base = {"decay": 3e-4, "clip": 0.5, "x0": 0.3, "x1": -0.2}
    assert problem.f(base) < 0.01
    assert problem.f({**base, "decay": 0.0}) > 0.5 and problem.f({**base, "decay": 0.01}) > 0.5


def test_binom5_sees_a_count_out_of_60_and_scores_the_true_error() -> None:
    problem = problems()["binom5-acc"]
    seen = problem.noisy(np.random.default_rng(0))
    params = {f"x{i}": 0.0 for i in range(5)}
    draws = [seen(params) for _ in range(200)]
    assert all(abs(v * 60 - round(v * 60)) < 1e-9 for v in draws) and len(set(draws)) > 3
    assert problem.noise > 0 and abs(np.mean(draws) - problem.true(params)) < 0.02
