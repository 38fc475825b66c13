"""The reaper times out a trial its platform still runs only past the longest the platform
itself lets it run: a managed spot training job may wait for capacity up to
``MaxWaitTimeInSeconds`` (AWS: "the amount of time spent waiting for Spot capacity plus the
amount of time the job can run"), and a Batch job gets ``retryStrategy.attempts`` attempts
of ``attemptDurationSeconds`` each. Before, both were failed ("timed out") and stopped at
``timeout_seconds`` plus the grace while the platform was still within its limits."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.messages import LaunchRequest, SuggestRequest
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock
from tests.unit.test_service import FakeBackend
from tests.unit.test_trial_blocks import BATCH, SAGEMAKER

GRACE = 300.0
SPOT = {**SAGEMAKER, "timeout_seconds": 3600, "use_spot": True, "max_wait_seconds": 7200}
RETRIED = {**BATCH, "timeout_seconds": 600, "retry_attempts": 3}


def running_trial(trial: dict[str, Any], start: float | None = None) -> tuple[TuningService, FakeBackend, Clock, str]:
    """A job of one trial on ``trial``'s backend, launched at ``start`` (default: now); the
    fake platform says it still runs."""
    clock, backend = Clock(start), FakeBackend()
    service = TuningService(SQLiteStore(clock=clock), {trial["backend"]: backend})
    spec = parse_spec(
        {
            "name": "deadline",
            "objective": {"metric": "loss"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.001, "high": 0.1}],
            "budget": {"max_trials": 1},
            "trial": trial,
        }
    )
    job = service.create_job(spec, job_id="job")
    (trial_id,) = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    return service, backend, clock, trial_id


@pytest.mark.parametrize(("trial", "limit"), [(SPOT, 7200), (RETRIED, 1800)], ids=["spot", "batch retries"])
def test_a_trial_within_its_platforms_limit_is_not_timed_out(trial: dict[str, Any], limit: int) -> None:
    service, backend, clock, trial_id = running_trial(trial)
    clock.now += trial["timeout_seconds"] + GRACE + 60  # past timeout_seconds, within the platform's limit
    assert service.reap(grace_seconds=GRACE)["timed_out"] == 0
    assert service.store.get_trial("job", trial_id).state is TrialState.RUNNING and backend.stopped == []

    clock.now += limit - trial["timeout_seconds"]  # past the platform's own limit and the grace: stuck
    assert service.reap(grace_seconds=GRACE)["timed_out"] == 1
    assert service.store.get_trial("job", trial_id).error == "timed out" and backend.stopped == [trial_id]


def test_an_on_demand_training_job_is_timed_out_at_its_runtime() -> None:
    service, backend, clock, trial_id = running_trial({**SAGEMAKER, "timeout_seconds": 3600})
    clock.now += 3600 + GRACE + 1
    assert service.reap(grace_seconds=GRACE)["timed_out"] == 1 and backend.stopped == [trial_id]


def test_a_trial_launched_at_time_zero_is_timed_out_too() -> None:
    """A virtual clock starts at 0.0: a trial launched then has a start (``started_at`` 0.0),
    so it is timed out past its deadline. (Before, 0.0 read as "never started": never.)"""
    service, backend, clock, trial_id = running_trial({**SAGEMAKER, "timeout_seconds": 3600}, start=0.0)
    assert service.store.get_trial("job", trial_id).started_at == 0.0
    clock.now += 3600 + GRACE + 1
    assert service.reap(grace_seconds=GRACE)["timed_out"] == 1
    assert backend.stopped == [trial_id]
