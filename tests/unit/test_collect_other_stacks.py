"""Collect of events that are not its own: two stacks in one account and region both receive
every ``hs-`` job's end and every trial's report (the rules match on the name prefix and the
source), so each must drop the other's, not fail on them (a failed invocation is retried and
ends in the alarmed dead-letter queue)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperstep.handlers import handle_collect
from hyperstep.messages import LaunchRequest, TrialResult
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str, **detail: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text())
    return {**event, "detail": {**event["detail"], **detail}}


def stack() -> TuningService:
    return TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())


def report(job_id: str, trial_id: str, step: int | None) -> dict[str, Any]:
    detail = {"job_id": job_id, "trial_id": trial_id, "metrics": {"loss": 0.25}, "step": step, "final": step is None}
    return sample("trial-metric-reported.json", **detail)


@pytest.mark.parametrize(
    "event",
    [
        sample("batch-job-state-change-succeeded.json"),  # hs-mnist-3f2a9c1b7d4e-t0007-1: no such job here
        sample("batch-job-state-change-failed.json"),
        sample("sagemaker-training-job-state-change-completed.json"),
        sample("trial-metric-reported.json"),
        report("mnist-3f2a9c1b7d4e", "t0007", None),
    ],
)
def test_an_event_of_a_job_this_stack_does_not_hold_is_dropped_not_failed(event: dict[str, Any]) -> None:
    answer = handle_collect(stack(), event)
    assert answer["recorded"] is False and "not found" in answer["reason"]


def test_a_report_of_a_trial_the_job_does_not_have_is_dropped_and_its_own_trials_still_record() -> None:
    service = stack()
    job = service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 1})), job_id="mine")
    trial = Study.from_job(service.store, job).ask(1)[0]
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    assert handle_collect(service, report("mine", "t0099", 3))["recorded"] is False
    assert handle_collect(service, report("mine", trial.id, None)) == {"recorded": True}
    assert service.collect(TrialResult(job_id="mine", trial_id=trial.id, state="completed"))
    ended = service.store.get_trial("mine", trial.id)
    assert (ended.state, ended.value) == (TrialState.COMPLETED, 0.25)
