"""``Study.report`` as Optuna's ``Trial.report``: a step reported twice keeps its first value
with a warning; a trial told completed or failed takes no report (``TrialFinishedError``).
The service's paths (a late metric line, a late ``hyperstep.report`` event) ignore such a
report and log it: they never raise into a job."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import hyperstep
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from tests.unit.test_service import FakeBackend

SPACE = [{"name": "x", "type": "float", "low": 0, "high": 1}]
ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}


@pytest.mark.parametrize("early_stopping", [None, ASHA])
def test_a_step_reported_twice_keeps_its_first_value_and_warns(early_stopping: Any) -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=early_stopping)
    (trial,) = study.ask(1)
    assert study.report(trial, 1, 0.5) is False
    with pytest.warns(UserWarning, match=r"trial 1: step 1 is already reported \(value 0.5\); .* 0.9 is ignored"):
        assert study.report(trial, 1, 0.9) is False
    assert study.store.get_trial(study.job_id, trial.id).curve == {1: 0.5}
    assert study.tell(trial, 0.4).value == 0.4


def test_a_repeated_step_answers_with_the_decision_on_the_curve_as_it_is() -> None:
    """Trial 2 is worse than trial 1 at rung 1 (ASHA, reduction factor 3: the best third goes
    on): its report said stop; a repeat of that step with a better value changes nothing and
    gets the same answer, as Optuna's ``should_prune`` reads the stored values."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    first, second = study.ask(2)
    study.report(first, 1, 0.1)
    assert study.report(second, 1, 0.9) is True
    with pytest.warns(UserWarning, match="already reported"):
        assert study.report(second, 1, 0.0) is True
    assert study.store.get_trial(study.job_id, second.id).curve == {1: 0.9}


def test_the_first_value_wins_across_study_objects_of_one_store(tmp_path: Path) -> None:
    """Optuna checks the storage, not the object: a second process reporting the step again
    is warned too."""
    path = tmp_path / "study.db"
    a = hyperstep.Study(SPACE, strategy="random", seed=0, store=SQLiteStore(path), job_id="s")
    (trial,) = a.ask(1)
    a.report(trial.id, 3, 0.5)
    b = hyperstep.Study(SPACE, store=SQLiteStore(path), job_id="s")
    with pytest.warns(UserWarning, match="step 3 is already reported"):
        b.report(trial.id, 3, 0.1)
    assert a.store.get_trial("s", trial.id).curve == {3: 0.5}


@pytest.mark.parametrize("state", ["completed", "failed"])
@pytest.mark.parametrize("value", [0.3, float("nan")])
def test_a_report_after_a_completed_or_failed_tell_raises_and_records_nothing(state: str, value: float) -> None:
    study = hyperstep.Study(SPACE, strategy="random", seed=0, early_stopping=ASHA)
    (trial,) = study.ask(1)
    study.report(trial, 1, 0.5)
    study.tell(trial, 0.5 if state == "completed" else None, state=state)
    for step in (1, 2):  # a step on the curve, and a new one
        with pytest.raises(hyperstep.TrialFinishedError, match=f"trial 1 was told {state}"):
            study.report(trial, step, value)
    ended = study.store.get_trial(study.job_id, trial.id)
    assert (ended.state, ended.curve) == (TrialState(state), {1: 0.5})
    assert isinstance(hyperstep.TrialFinishedError("x"), RuntimeError)  # as Optuna's UpdateFinishedTrialError


def test_a_late_report_on_the_service_path_is_ignored_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The CLI's metric lines and AWS's report events reach ``TuningService.report_metrics``:
    a report of a completed trial changes nothing, raises nothing, and says so in the log."""
    study = hyperstep.Study(SPACE, strategy="random", seed=0)
    (trial,) = study.ask(1)
    study.report(trial, 1, 0.5)
    study.tell(trial, 0.5)
    service = TuningService(study.store, {"local": FakeBackend()})
    with caplog.at_level(logging.INFO, logger="hyperstep.service"):
        assert service.report_metrics(study.job_id, trial.id, {"objective": 0.1}, step=2) is False
        assert service.report_metrics(study.job_id, trial.id, {"objective": 0.1}) is False  # a late final one
    ignored = [r.getMessage() for r in caplog.records if "came after its end; ignored" in r.getMessage()]
    assert ignored == [f"job {study.job_id}: a report of trial {trial.id} came after its end; ignored"] * 2
    ended = study.store.get_trial(study.job_id, trial.id)
    assert (ended.state, ended.value, ended.curve) == (TrialState.COMPLETED, 0.5, {1: 0.5})
