"""Commands from another shell on the store of a job that ``hyperstep run`` is running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from hyperstep.cli import main
from hyperstep.local.runner import run_local
from hyperstep.models import Job, JobStatus, StopReason, TrialState
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import alive
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


def trials_started_within(store_path: Path, job_id: str, count: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if len(SQLiteStore(store_path).list_trials(job_id)) >= count:
            return True
        time.sleep(0.2)
    return False


def test_a_raised_max_parallel_starts_a_trial_at_once(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The update reaches the running process, whose waiting execution plans with it at once,
    as README says (old code: at the next trial's end, here 120 s on, or the reaper's pass)."""
    monkeypatch.setenv("TRAIN_SLEEP", "120")
    thread, _ = run_in_background(workdir, local_spec(workdir))
    (trial, *_) = wait_until_a_trial_runs(workdir / "s.db")
    assert main(["--store", str(workdir / "s.db"), "update", trial.job_id, "--max-parallel", "3"]) == 0
    try:  # 60 s: a loaded machine's slack, half the 120 s the old code waited for a trial's end
        assert trials_started_within(workdir / "s.db", trial.job_id, 3, seconds=60)
    finally:
        assert main(["--store", str(workdir / "s.db"), "stop", trial.job_id]) == 0
        thread.join(timeout=60)


def test_stop_from_another_shell_stops_a_local_job(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hyperstep stop JOB`` without a deployment stops the job that ``hyperstep run`` runs
    on the store: its trials are killed, it closes stopped by the user (old code: refused,
    "--api: give the deployment's API URL")."""
    monkeypatch.setenv("TRAIN_SLEEP", "60")
    thread, ended = run_in_background(workdir, local_spec(workdir))
    running = wait_until_a_trial_runs(workdir / "s.db")
    job_id = running[0].job_id
    assert main(["--store", str(workdir / "s.db"), "stop", job_id]) == 0
    assert json.loads(capsys.readouterr().out) == {"job_id": job_id, "status": "stopping"}
    thread.join(timeout=30)
    assert ended, "the job did not stop"
    job = SQLiteStore(workdir / "s.db").get_job(job_id)
    assert (job.status, job.stop_reason) == (JobStatus.STOPPED, StopReason.STOPPED_BY_USER)
    assert not any(t.state.active for t in SQLiteStore(workdir / "s.db").list_trials(job_id))
    for trial in running:
        assert not Path(f"/proc/{trial.backend_ref}").exists(), f"trial process {trial.backend_ref} lives on"


def test_stop_of_a_job_whose_run_was_killed_closes_it_and_kills_its_trials(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hyperstep run`` killed outright (SIGKILL, the OOM killer) left the job running and
    its trials' processes on: ``stop`` closes it as Ctrl-C would have (first version:
    refused, "carry it on with: hyperstep run --resume", which runs more trials)."""
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(store_path), "run", str(spec_file)]
    proc = subprocess.Popen([*command, "--out", str(workdir / "runs")], env={**os.environ, "TRAIN_SLEEP": "60"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    job_id = wait_until_a_trial_runs(store_path)[0].job_id
    proc.kill()
    proc.communicate(timeout=30)
    # what the run left, read after the kill: a second trial may have started meanwhile
    active = [t for t in SQLiteStore(store_path).list_trials(job_id) if t.state.active]  # pending ones too
    running = [t for t in active if t.state is TrialState.RUNNING]
    assert running, "the killed run left no running trial"
    log = workdir / "handlers.log"
    before = log.stat().st_size if log.exists() else 0
    try:
        assert main(["--store", str(store_path), "stop", job_id, "--runs", str(workdir / "runs")]) == 0
        assert json.loads(capsys.readouterr().out) == {"job_id": job_id, "status": "stopped"}
        assert not [t.backend_ref for t in running if alive(t.backend_ref)], "trial processes live on"
        # the ends the stop recorded count in Trials* as the run's own would have
        with log.open("rb") as handle:
            handle.seek(before)
            emitted = [json.loads(line) for line in handle.read().decode().splitlines() if '"_aws"' in line]
        assert [(e["JobId"], e["TrialsStopped"]) for e in emitted] == [(job_id, [float(len(active))])]
    finally:
        for trial in running:
            if alive(trial.backend_ref):
                os.killpg(int(trial.backend_ref), signal.SIGKILL)
    store = SQLiteStore(store_path)
    job = store.get_job(job_id)
    assert (job.status, job.stop_reason, job.budget_used) == (JobStatus.STOPPED, StopReason.STOPPED_BY_USER, 0)
    assert [t.state for t in store.list_trials(job_id)] == [TrialState.STOPPED] * len(active)
    assert main(["--store", str(store_path), "stop", job_id]) == 2  # stopped already
    assert capsys.readouterr().err == f"hyperstep: error: job {job_id!r} is stopped, not running\n"


def test_stop_of_a_simulated_job_whose_run_was_killed_ends_its_trials_on_the_job_s_clock(workdir: Path) -> None:
    """A simulated job runs on a virtual clock ahead of real time (``run_clock``); ``stop`` of
    one whose run was killed outright ended its running trials at the real time, before they
    started: ``trials`` showed -76 to -212 seconds for four of examples/simulated's (hyperband,
    300 trials, SIGKILL 12 s in). It ends them on the clock ``run --resume`` would take."""
    from hyperstep.local.runner import stop_local
    from hyperstep.models import trial_id
    from hyperstep.spec import JobSpec
    from tests.contract.conftest import add
    from tests.unit.test_redaction import block_spec

    ahead = time.time() + 3600.0  # the virtual time the killed run had reached
    store_path = workdir / "s.db"
    store = SQLiteStore(store_path, clock=lambda: ahead)
    job = Job(id="sim", spec=JobSpec.model_validate(block_spec("simulated")))
    store.create_job(job)
    add(store, job, 2)
    started = store.start_trial(job.id, trial_id(1), "sim-1").started_at
    store.close()
    ended = stop_local(SQLiteStore(store_path), store_path, job.id)
    assert ended.status is JobStatus.STOPPED and ended.ended_at is not None and ended.ended_at >= ahead
    trials = SQLiteStore(store_path).list_trials(job.id)
    assert [t.state for t in trials] == [TrialState.STOPPED] * 2
    assert started is not None and trials[0].ended_at is not None and trials[0].ended_at >= started
