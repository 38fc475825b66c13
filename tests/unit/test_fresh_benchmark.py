"""The fresh held-out set's harness: its suggestion check and its runs (benchmarks/fresh.py)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import fresh, fresh_problems, optimizers
from hyperstep.space import SearchSpace

SPACE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "n", "type": "int", "low": 1, "high": 64},
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "c", "type": "categorical", "choices": [True, 16, "auto"]},
        ]
    }
)


def test_a_valid_suggestion_passes_the_check() -> None:
    assert fresh.invalid(SPACE, {"n": 64, "x": 0.0, "c": True}) == []
    assert fresh.invalid(SPACE, {"n": 1, "x": 1, "c": 16}) == []


def test_the_check_names_each_wrong_value_type_and_name() -> None:
    assert fresh.invalid(SPACE, {"n": 65, "x": 0.5, "c": "auto"}) == ["n=65 (int)"]
    assert fresh.invalid(SPACE, {"n": 3.0, "x": float("nan"), "c": "True"}) == [
        "n=3.0 (float)",
        "x=nan (float)",
        "c='True' (str)",
    ]
    assert fresh.invalid(SPACE, {"n": np.int64(3), "x": 0.5, "c": 1}) == ["n=np.int64(3) (int64)", "c=1 (int)"]
    assert fresh.invalid(SPACE, {"n": 3, "c": 16, "y": 1.0}) == ["names ['x', 'y']"]


def test_every_problem_evaluates_at_the_centre_and_a_kind_shares_one_budget() -> None:
    for problem in fresh_problems.problems():
        if problem.kind == "sklearn":
            continue  # real model fits: seconds each
        params = problem.space.decode(np.full(problem.space.dim, 0.5))
        assert np.isfinite(problem.true(params)), problem.name
        assert problem.kind in fresh_problems.KINDS
    assert fresh_problems.budget("tiny") == (3, 4) and fresh_problems.budget("sequential") == (40, 1)


def test_a_run_checks_every_suggestion_and_scores_the_true_loss_of_a_heteroscedastic_problem() -> None:
    problem = next(p for p in fresh_problems.problems() if p.name == "hetero-decoy4")
    run = fresh.run_one(problem, "random", 0, timeout=60)
    assert run["defects"] == []
    noisy, true = run["pair"]
    assert noisy.shape == true.shape == run["losses"].shape == (12, 4)
    first = int(np.argmin(noisy[0]))
    assert run["losses"][0, 0] == true[0, first]


TREE = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "model", "type": "categorical", "choices": ["a", "b"]},
            {"name": "x", "type": "float", "low": 0.0, "high": 1.0, "when": {"model": ["a"]}},
            {"name": "y", "type": "int", "low": 1, "high": 4, "when": {"model": ["b"]}},
        ]
    }
)


def test_in_a_conditional_space_the_check_expects_the_active_names_only() -> None:
    assert fresh.invalid(TREE, {"model": "a", "x": 0.5}) == []
    assert fresh.invalid(TREE, {"model": "b", "y": 2}) == []
    assert fresh.invalid(TREE, {"model": "a", "x": 0.5, "y": 2}) == ["names ['y']"]
    assert fresh.invalid(TREE, {"model": "b"}) == ["names ['y']"]
    assert fresh.invalid(TREE, {"x": 0.5}) == ["names ['model']"]


def test_optuna_tpe_samples_a_conditional_space_define_by_run() -> None:
    pytest.importorskip("optuna")
    tpe = optimizers.OptunaTPE(TREE, seed=0)
    for _ in range(3):
        asked = tpe.ask(4)
        assert all(TREE.contains(params) for params in asked), asked
        tpe.tell([params.get("x", 0.5) for params in asked])
