"""``hyperstep run --resume`` of a job Ctrl-C stopped: the job runs again as a job that has
not stopped, and ends with the reason of its new end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hyperstep.local.runner import run_local
from hyperstep.models import Job, JobStatus, StopReason
from hyperstep.service import TuningService
from hyperstep.spec import load_spec
from hyperstep.stores.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulated" / "spec.yaml"
pytestmark = pytest.mark.timeout(300)


def test_a_resumed_job_runs_without_the_stop_reason_of_its_interrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the reopened job kept stopped_by_user ('interrupted (Ctrl-C)') while it ran
    again (``hyperstep status`` showed it beside "running"), and Suggest, seeing a reason
    set, recorded no rule that lets running trials drain."""
    spec = load_spec(EXAMPLE)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"max_trials": 4, "max_parallel": 2})})
    store_path = tmp_path / "s.db"
    job = run_local(spec=spec, store_path=store_path, runs_dir=tmp_path / "runs", env={})
    SQLiteStore(store_path).set_job_status(  # as Ctrl-C leaves it (runner.interrupt)
        job.id, JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="interrupted (Ctrl-C)"
    )
    started: list[Job] = []
    start_execution = TuningService.start_execution

    def seen(service: TuningService, job_id: str, *args: Any, **kwargs: Any) -> Job:
        started.append(service.store.get_job(job_id))
        return start_execution(service, job_id, *args, **kwargs)

    monkeypatch.setattr(TuningService, "start_execution", seen)
    resumed = run_local(None, resume=job.id, store_path=store_path, runs_dir=tmp_path / "runs", env={})
    assert [(j.status, j.stop_reason, j.stop_detail) for j in started] == [(JobStatus.RUNNING, None, None)]
    assert (resumed.status, resumed.stop_reason) == (JobStatus.COMPLETED, StopReason.MAX_TRIALS)
