"""On the local executor, through the real definition: an execution of a job that is not the
job's recorded one, while that one runs (an old execution redriven after the job moved on),
plans nothing and ends at Handed Over, without Finish Job (``TuningService._run_by_another``);
so does one whose DescribeExecution of the job's own fails (unknown counts as running).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperstep.asl.executor import Execution
from hyperstep.local.runtime import LocalRuntime
from hyperstep.models import Job, JobStatus
from tests.e2e.test_local_execution_ended import two_trials_running, wait_for
from tests.unit.test_service import FakeBackend

pytestmark = pytest.mark.slow


def test_a_stray_execution_beside_the_jobs_own_ends_handed_over_and_launches_nothing(tmp_path: Path) -> None:
    with two_trials_running(tmp_path) as (runtime, backend, job):
        own = runtime.store.get_job(job.id).execution_id
        stray = runtime.executor.start({"job_id": job.id}, name="stray")
        ends_handed_over(runtime, stray, job, own, backend)


def test_a_stray_whose_describe_of_the_jobs_own_fails_still_ends_handed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: Suggest Trials raised on every attempt, past its Retry into its Catch, and the
    stray's Finish Job closed the job under its running execution."""

    def throttled(execution_id: str) -> None:
        raise RuntimeError("ThrottlingException: Rate exceeded")  # as on AWS past botocore's retries

    with two_trials_running(tmp_path) as (runtime, backend, job):
        own = runtime.store.get_job(job.id).execution_id
        assert runtime.service.orchestrator is not None
        monkeypatch.setattr(runtime.service.orchestrator, "describe_execution", throttled)
        stray = runtime.executor.start({"job_id": job.id}, name="stray")
        stray.wait(20)
        monkeypatch.undo()
        ends_handed_over(runtime, stray, job, own, backend)


def ends_handed_over(runtime: LocalRuntime, stray: Execution, job: Job, own: str | None, backend: FakeBackend) -> None:
    """The stray ended at Handed Over having launched nothing; the job, still run by its own
    execution, closes when that one is stopped."""
    result = stray.wait(20)
    assert result.status == "SUCCEEDED" and stray.state_path[-1] == "Handed Over", stray.state_path
    assert "Finish Job" not in stray.state_path
    assert len(backend.launched) == 2
    kept = runtime.store.get_job(job.id)
    assert kept.status is JobStatus.RUNNING and kept.execution_id == own
    assert not runtime.executor.execution(own or "").finished
    runtime.executor.execution(own or "").stop("Manual", "test over")
    wait_for(lambda: runtime.store.get_job(job.id).status.finished, "the job was closed")
