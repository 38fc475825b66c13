"""Commands from another shell on the store of a job that ``hyperstep run`` is running."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hyperstep.cli import main
from hyperstep.local.runner import run_local
from hyperstep.models import Job, JobStatus
from hyperstep.stores.sqlite import SQLiteStore
from tests.e2e.test_local_run import local_spec, wait_until_a_trial_runs


def run_in_background(workdir: Path, spec) -> tuple[threading.Thread, list[Job]]:
    """``hyperstep run`` of ``spec`` on ``workdir/s.db``, on a thread; the job once it ended."""
    ended: list[Job] = []

    def target() -> None:
        job = run_local(spec, workdir / "s.db", workdir / "runs", env=dict(os.environ), poll_seconds=0.05)
        ended.append(job)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, ended


def test_update_from_another_shell_leaves_the_running_job_going(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hyperstep update`` opens the store with no orchestrator of its own: the wake it
    tried took the running execution's parked token and dropped it, so no trial's end woke
    that execution again and the job stood still until its Suggest round's 600 s timeout
    (old code: this join timed out with 2 of 6 trials done)."""
    monkeypatch.setenv("TRAIN_SLEEP", "2")
    thread, ended = run_in_background(workdir, local_spec(workdir))
    (trial, *_) = wait_until_a_trial_runs(workdir / "s.db")
    assert main(["--store", str(workdir / "s.db"), "update", trial.job_id, "--max-parallel", "3"]) == 0
    thread.join(timeout=120)
    assert ended, "the job stood still after the update"
    job = SQLiteStore(workdir / "s.db").get_job(trial.job_id)
    assert (job.status, job.completed, job.spec.budget.max_parallel) == (JobStatus.COMPLETED, 6, 3)
