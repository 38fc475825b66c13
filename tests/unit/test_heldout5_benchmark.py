"""The fifth held-out set's problems (benchmarks/heldout5_problems.py) and its harness (heldout4's, opt-25)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from benchmarks import heldout4, heldout5
from benchmarks.heldout5_problems import GROUPS, MAXIMIZE, problems


def test_every_problem_is_in_one_group_and_the_harness_runs_this_set() -> None:
    grouped = [n for names in GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(problems()) and len(set(grouped)) == len(grouped)
    assert set(MAXIMIZE) <= set(grouped)
    assert heldout4.runs("hyperstep", heldout5.FIFTH) == [(48, 4)] and heldout4.runs("hyperstep") == [(20, 1), (48, 4)]
    assert isinstance(heldout4.optimizer("hyperstep", problems()["oom5-max"], 0, heldout5.FIFTH), heldout4.Maximizing)
    assert not isinstance(heldout4.optimizer("hyperstep", problems()["oom5-max"], 0), heldout4.Maximizing)


def test_the_parity_problem_has_neither_marginal_nor_pairwise_effects_of_its_categoricals() -> None:
    problem = problems()["parity3x5-cats"]
    levels = [f"l{i}" for i in range(5)]
    loss = {
        combo: problem.f({"a": combo[0], "b": combo[1], "c": combo[2], "u": 0.0, "v": 0.0})
        for combo in itertools.product(levels, repeat=3)
    }
    for i in range(3):
        means = [np.mean([v for k, v in loss.items() if k[i] == x]) for x in levels]
        assert np.ptp(means) < 1e-12
    pair_means = [np.mean([loss[(x, y, z)] for z in levels]) for x in levels for y in levels]
    assert np.ptp(pair_means) < 1e-12
    assert len(set(np.round(list(loss.values()), 12))) == 5  # one value per residue: the interaction is real


def test_the_crash_zone_of_oom5_is_deterministic_and_its_best_feasible_point_is_on_the_cap() -> None:
    problem = problems()["oom5-max"]
    big = {"lr": 1e-3, "batch": 1024, "width": 1024, "depth": 12, "dropout": 0.2}
    assert math.isnan(problem.f(big)) and math.isnan(problem.f(big))
    on_cap = {"lr": 10**-2.25, "batch": 32, "width": 1024, "depth": 8, "dropout": 0.37}  # 5 + 10 + 4 = 19 > 18
    assert math.isnan(problem.f(on_cap))
    inside = {**on_cap, "depth": 6, "dropout": 0.29}  # 5 + 10 + 3 = 18: on the cap, feasible
    shallower = {**inside, "depth": 4, "dropout": 0.21}
    assert problem.f(inside) < problem.f(shallower) < 0.0  # a loss: the negated accuracy


def test_the_best_level_of_scales3_is_worse_than_the_second_almost_everywhere() -> None:
    problem = problems()["scales3-levels"]
    rng = np.random.default_rng(0)
    xs = rng.uniform(-1.0, 1.0, (500, 3))

    def values(level: str) -> np.ndarray:
        return np.array([problem.f({"optimizer": level, "x0": a, "x1": b, "x2": c}) for a, b, c in xs])

    sgd, adam, lbfgs = values("sgd"), values("adam"), values("lbfgs")
    assert sgd.min() >= 500.0 and np.mean(lbfgs > adam) > 0.95
    centre = np.random.default_rng(2507).uniform(-0.6, 0.6, (3, 3))[2]
    best = problem.f({"optimizer": "lbfgs", "x0": centre[0], "x1": centre[1], "x2": centre[2]})
    assert best < 0.05 <= adam.min()  # the global best is lbfgs's alone


def test_the_rough_problem_is_zero_at_its_centre_and_rough_beside_it() -> None:
    problem = problems()["weierstrass4-rough"]
    centre = np.random.default_rng(2505).uniform(-0.5, 0.5, 4)
    at = {f"x{i}": float(v) for i, v in enumerate(centre)}
    assert problem.f(at) < 1e-12
    steps = [problem.f({**at, "x0": at["x0"] + d}) for d in np.linspace(1e-3, 2e-2, 40)]
    assert np.sum(np.diff(steps) < 0) >= 5  # not monotone along a ray from the minimum: rough


def test_a_scikit_learn_value_is_the_same_for_the_same_configuration() -> None:
    chosen = problems()
    family = {"model": "qda", "shrinkage": 0.3, "reg_param": 0.4, "var_smoothing": 1e-6}
    kernel = {"kernel": "rbf", "gamma": 0.05, "n_components": 40, "alpha": 0.1}
    for name, params in (("family3-wine", family), ("nystroem4-diabetes", kernel)):
        first, second = chosen[name].f(params), chosen[name].f(params)
        assert math.isfinite(first) and first == second


def test_a_48_x_4_run_is_scored_as_12_rounds_of_4() -> None:
    problem = problems()["parity3x5-cats"]
    line = {"losses": list(range(48, 0, -1)), "true": list(range(48, 0, -1))}
    scored, pair = heldout4._scored(problem, line, 48, heldout5.FIFTH.budgets[48])
    assert scored.shape == (12, 4) and pair is None and scored[-1, -1] == 1.0
