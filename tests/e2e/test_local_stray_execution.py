"""On the local executor, through the real definition: an execution of a job that is not the
job's recorded one, while that one runs (an old execution redriven after the job moved on),
plans nothing and ends at Handed Over, without Finish Job (``TuningService._run_by_another``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperstep.models import JobStatus
from tests.e2e.test_local_execution_ended import two_trials_running, wait_for

pytestmark = pytest.mark.slow


def test_a_stray_execution_beside_the_jobs_own_ends_handed_over_and_launches_nothing(tmp_path: Path) -> None:
    with two_trials_running(tmp_path) as (runtime, backend, job):
        own = runtime.store.get_job(job.id).execution_id
        stray = runtime.executor.start({"job_id": job.id}, name="stray")
        result = stray.wait(20)
        assert result.status == "SUCCEEDED" and stray.state_path[-1] == "Handed Over", stray.state_path
        assert "Finish Job" not in stray.state_path
        assert len(backend.launched) == 2
        kept = runtime.store.get_job(job.id)
        assert kept.status is JobStatus.RUNNING and kept.execution_id == own
        assert not runtime.executor.execution(own or "").finished
        runtime.executor.execution(own or "").stop("Manual", "test over")
        wait_for(lambda: runtime.store.get_job(job.id).status.finished, "the job was closed")
