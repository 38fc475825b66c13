"""``Study.best_params`` and ``Study.best_value``, Optuna's names, which an Optuna user reaches
for first: they were AttributeErrors (only ``best_trial.params`` / ``.value`` existed, and
``best_trial`` is None before any trial completes, so ``.params`` of it is an AttributeError
of None). Before any trial completes they raise a ``ValueError``, as Optuna's do."""

from __future__ import annotations

import pytest

import hyperstep

SPACE = [{"name": "x", "type": "float", "low": -5, "high": 5}]


def test_best_params_and_best_value_are_the_best_trials() -> None:
    study = hyperstep.Study(SPACE, goal="minimize", strategy="random", seed=1)
    for name in ("best_params", "best_value"):
        with pytest.raises(ValueError, match=f"{name}: no trial has completed yet"):
            getattr(study, name)
    first, second = study.ask(2)
    study.tell(first.id, 2.0)
    study.tell(second.id, 0.5)
    assert (study.best_params, study.best_value) == (second.params, 0.5)


def test_with_several_objectives_they_point_to_the_pareto_front_as_best_trial_does() -> None:
    study = hyperstep.Study(SPACE, goal=["minimize", "maximize"], strategy="random", seed=1)
    with pytest.raises(RuntimeError, match="pareto_front"):
        _ = study.best_value
