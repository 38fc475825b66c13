"""A ``Study`` told numpy scalars, on every store (README, "From Python": ``tell`` and
``report`` take a value "as a number, a numpy scalar or a 0-d array").

A value a user's training loop computes is often numpy's (``np.float64`` from a mean,
``np.float32`` from a model's loss). Over DynamoDB, ``tell(trial, np.float64(0.3))``
raised ``decimal.InvalidOperation`` (the store spells a number from its ``repr``, which
numpy 2 writes ``np.float64(0.3)``) and ``add_trial`` then left a pending trial behind; over
SQLite the study handed back ``np.float32`` values that a reopened study read as floats.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hyperstep.models import TrialState
from hyperstep.stores.base import TrialStore
from hyperstep.study import Study

SPACE = [{"name": "x", "type": "float", "low": 0, "high": 1}]
VALUES = [np.float64(0.25), np.float32(0.5), np.int64(2), Fraction(1, 4)]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_a_study_takes_a_numpy_value_as_the_float_it_is_on_every_store(store: TrialStore, value: object) -> None:
    study = Study(SPACE, strategy="random", seed=0, store=store, job_id="job")
    told = study.tell(study.ask(1)[0], value, metrics={"m": value})
    added = study.add_trial({"x": 0.5}, value)
    for trial in (told, added, *store.list_trials("job")):
        assert trial.state is TrialState.COMPLETED
        assert type(trial.value) is float and trial.value == float(value)  # type: ignore[arg-type]
    assert type(told.metrics["m"]) is float and told.metrics["m"] == float(value)  # type: ignore[arg-type]
    best = study.best_trial
    assert best is not None and type(best.value) is float


def test_a_pruned_trial_told_a_numpy_value_keeps_it_on_every_store(store: TrialStore) -> None:
    early = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    study = Study(SPACE, strategy="random", seed=0, store=store, job_id="job", early_stopping=early)
    trial = study.ask(1)[0]
    assert study.report(trial, np.int64(1), np.float32(0.5)) is False
    ended = study.tell(trial, np.float64(0.5), state="stopped")
    assert ended.state is TrialState.PRUNED and type(ended.value) is float and ended.value == 0.5
