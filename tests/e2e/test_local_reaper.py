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
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService
from tests.e2e.test_local_run import local_spec

pytestmark = pytest.mark.slow


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
        job = runtime.service.submit(spec)
        deadline = time.monotonic() + 30
        while not (job := runtime.store.get_job(job.id)).status.finished:
            assert time.monotonic() < deadline, f"the job waits forever: {runtime.store.list_trials(job.id)}"
            time.sleep(0.05)
        trials = runtime.store.list_trials(job.id)
    assert len(failures) == 3 and len(set(failures)) == 1  # one event, delivered three times, then dropped
    assert job.status is JobStatus.COMPLETED and job.completed == 3
    assert all(t.state is TrialState.COMPLETED for t in trials)
    first = trials[0]
    assert first.value == pytest.approx((first.params["x"] - 0.3) ** 2 + 0.01 * first.params["n"], abs=1e-6)
