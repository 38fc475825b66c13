"""The local path keeps a result whose collect keeps failing, as the reaper does on AWS.

The in-process bus gives a failing collect the event three times in all and then drops
it (as Lambda does with an asynchronous invocation); the local reaper must then find
the trial's end through the backend and record it, so the job does not wait forever.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from hyperstep.handlers import LOOP_HANDLERS, Telemetry, handle_collect
from hyperstep.local.runtime import LocalRuntime
from hyperstep.models import Job, JobStatus, StopReason, Trial, TrialState
from hyperstep.service import TuningService
from tests.e2e.test_local_run import local_spec

pytestmark = pytest.mark.slow


def run_to_its_end(runtime: LocalRuntime, job: Job, within: float) -> tuple[Job, list[Trial]]:
    """The job once finished, and its trials; fails when it has not finished ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (job := runtime.store.get_job(job.id)).status.finished:
        assert time.monotonic() < deadline, f"the job waits forever: {runtime.store.list_trials(job.id)}"
        time.sleep(0.05)
    return job, runtime.store.list_trials(job.id)


def test_a_result_whose_collect_fails_three_times_is_still_recorded(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    failures: list[str] = []

    def broken_for_the_first_trial(service: TuningService, event: dict[str, Any], telemetry: Telemetry) -> Any:
        if event["detail"]["trial_id"] == "t0001" and len(failures) < 3:
            failures.append(event["id"])
            raise RuntimeError("database is locked")
        return handle_collect(service, event, telemetry)

    monkeypatch.setitem(LOOP_HANDLERS, "collect", broken_for_the_first_trial)
    spec = local_spec(workdir, budget={"max_trials": 3, "max_parallel": 1})
    with LocalRuntime(workdir / "store.db", workdir / "runs", base_env=dict(os.environ), reap_seconds=0.2) as runtime:
        job, trials = run_to_its_end(runtime, runtime.service.submit(spec), within=30)
    assert len(failures) == 3 and len(set(failures)) == 1  # one event, delivered three times, then dropped
    assert job.status is JobStatus.COMPLETED and job.completed == 3
    assert all(t.state is TrialState.COMPLETED for t in trials)
    first = trials[0]
    assert first.value == pytest.approx((first.params["x"] - 0.3) ** 2 + 0.01 * first.params["n"], abs=1e-6)


def test_a_time_budget_stops_running_trials_at_its_deadline_not_at_the_next_pass(workdir: Path) -> None:
    """``max_runtime_seconds`` 2 with trials of 20 s and the reaper's usual 30 s: no result
    comes before the deadline, so only a pass at the deadline stops the trials. Before the
    reaper kept deadlines, both trials completed (at 20 s) and counted."""
    spec = local_spec(workdir, budget={"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": 2})
    env = {**os.environ, "TRAIN_SLEEP": "20"}
    with LocalRuntime(workdir / "store.db", workdir / "runs", base_env=env) as runtime:
        job, trials = run_to_its_end(runtime, runtime.service.submit(spec), within=60)
    assert job.stop_reason is StopReason.MAX_RUNTIME
    assert len(trials) == 2 and all(t.state is TrialState.STOPPED for t in trials)
    assert job.completed == 0
