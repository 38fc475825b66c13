"""Whole tuning jobs on the embedded default: the real state machine, handlers, processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyperstep.local.runner import run_local
from hyperstep.local.runtime import definition_path
from hyperstep.models import JobStatus, TrialState
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import alive, spec_document


def local_spec(workdir: Path, **overrides: object):
    document = spec_document(**overrides)
    document["trial"] = {**document["trial"], "workdir": str(workdir), **document["trial"].get("extra", {})}
    return parse_spec(document)


def run(workdir: Path, spec, **kwargs):
    return run_local(
        spec=spec, store_path=workdir / "store.db", runs_dir=workdir / "runs", env=dict(os.environ), **kwargs
    )


def test_a_job_runs_to_the_end_and_keeps_every_result(workdir: Path) -> None:
    job = run(workdir, local_spec(workdir))
    store = SQLiteStore(workdir / "store.db")
    trials = store.list_trials(job.id)
    assert job.status is JobStatus.COMPLETED
    assert len(trials) == 6 and all(t.state is TrialState.COMPLETED for t in trials)
    expected = {t.id: (t.params["x"] - 0.3) ** 2 + 0.01 * t.params["n"] for t in trials}
    for t in trials:
        assert t.value == pytest.approx(expected[t.id], abs=1e-6)  # the last loss= line, not step's
        assert t.metrics["loss"] == t.value
        directory = workdir / "runs" / job.id / t.id
        assert json.loads((directory / "hyperparameters.json").read_text()) == t.params
        assert "loss=" in (directory / "train.log").read_text()
    best = min(trials, key=lambda t: t.value)
    assert job.best_trial_id == best.id and job.best_value == best.value


def test_failed_and_timed_out_trials_are_recorded_with_their_reason(workdir: Path) -> None:
    params = [
        {"name": "x", "type": "float", "low": -1.0, "high": 1.0},
        {"name": "n", "type": "int", "low": 1, "high": 4},
        {"name": "kind", "type": "categorical", "choices": ["crash"]},
    ]
    job = run(workdir, local_spec(workdir, parameters=params, budget={"max_trials": 3, "max_parallel": 3}))
    trials = SQLiteStore(workdir / "store.db").list_trials(job.id)
    assert job.status is JobStatus.FAILED and job.error == "every trial failed"
    assert all(t.state is TrialState.FAILED and "exit code 1: boom" in t.error for t in trials)


def test_a_trial_past_its_timeout_is_killed_and_failed(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAIN_SLEEP", "30")
    spec = local_spec(workdir, budget={"max_trials": 2, "max_parallel": 2})
    spec = spec.model_copy(update={"trial": spec.trial.model_copy(update={"timeout_seconds": 1})})
    started = time.monotonic()
    job = run(workdir, spec)
    assert time.monotonic() - started < 20
    trials = SQLiteStore(workdir / "store.db").list_trials(job.id)
    assert [t.error for t in trials] == ["timed out after 1 s"] * 2


def test_rerouting_the_state_machine_changes_what_run_does(workdir: Path) -> None:
    definition = json.loads(definition_path().read_text())
    definition["States"]["Job Done?"]["Default"] = "Finish Job"  # finish at the first result
    rerouted = workdir / "rerouted.asl.json"
    rerouted.write_text(json.dumps(definition))
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    out = subprocess.run(
        [sys.executable, "-m", "hyperstep.cli", "--store", str(workdir / "s.db"), "run", str(spec_file),
         "--out", str(workdir / "runs"), "--json", "--definition", str(rerouted)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    summary = json.loads(out.stdout)
    trials = SQLiteStore(workdir / "s.db").list_trials(summary["job_id"])
    assert summary["status"] == "completed"
    assert len(trials) == 2  # one batch of max_parallel, where the real machine runs 6
    assert summary["completed"] >= 1
    assert not any(t.state.active for t in trials)  # whatever still ran was stopped


def wait_until_a_trial_runs(store_path: Path) -> list:
    """The running trials, once there are some (polling the store another process writes)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.3)
        if store_path.exists():
            store = SQLiteStore(store_path)
            running = [t for j in store.list_jobs() for t in store.list_trials(j.id) if t.state is TrialState.RUNNING]
            if running:
                return running
    raise AssertionError("no trial started within 60 s")


def test_ctrl_c_stops_cleanly_and_resume_carries_on(workdir: Path) -> None:
    """Ctrl-C while trials run. They sleep 30 s (within their 60 s timeout), so the one seen
    running is still running when the signal lands however loaded the machine is: with
    3 s, a poll delayed past a trial's end could signal between rounds (nothing to stop)
    or after the last (the job completed). The resumed run's trials need not be slow."""
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(store_path)]
    env = {**os.environ, "TRAIN_SLEEP": "30"}
    proc = subprocess.Popen([*command, "run", str(spec_file), "--out", str(workdir / "runs")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_until_a_trial_runs(store_path)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    store = SQLiteStore(store_path)
    (job,) = store.list_jobs()
    assert job.status is JobStatus.STOPPED
    trials = store.list_trials(job.id)
    assert trials and not any(t.state.active for t in trials)
    assert any(t.state is TrialState.STOPPED for t in trials)
    hint = err.split("carry on with: ")[1].split()
    assert hint == ["hyperstep", "run", "--resume", job.id, "--store", str(store_path)]  # runs as printed
    again = [sys.executable, "-m", "hyperstep.cli", *hint[1:], "--json", "--out", str(workdir / "runs")]
    resumed = subprocess.run(again, capture_output=True, text=True, timeout=120, env={**env, "TRAIN_SLEEP": "0"})
    assert resumed.returncode == 0, resumed.stderr
    job = store.get_job(job.id)
    assert job.status is JobStatus.COMPLETED and job.completed == 6 and job.budget_used == 6


def test_a_second_ctrl_c_while_the_first_stops_the_trials_waits_for_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An impatient user presses Ctrl-C twice: the second landed while the first was killing
    the trials and recording them, broke out of that, and the run ended with one line
    ("hyperstep: interrupted"), no summary and no resume hint. Now further Ctrl-C (and
    SIGTERM) wait until the job is closed; the handler is put back after."""
    from hyperstep.local.runtime import LocalRuntime

    stop_trials = LocalRuntime.stop_trials

    def pressed_again(self: LocalRuntime, drain_seconds: float = 10.0) -> None:
        monkeypatch.setattr(LocalRuntime, "stop_trials", stop_trials)  # once
        os.kill(os.getpid(), signal.SIGINT)  # the second Ctrl-C, as the trials are being killed
        time.sleep(0.1)  # the main thread runs Python meanwhile: an unheld signal raises here
        stop_trials(self, drain_seconds)

    def first_ctrl_c(job, trials, final: bool = False) -> None:
        if any(t.state is TrialState.RUNNING for t in trials) and not final:
            monkeypatch.setattr(LocalRuntime, "stop_trials", pressed_again)
            raise KeyboardInterrupt

    job = run_local(
        spec=local_spec(workdir),
        store_path=workdir / "store.db",
        runs_dir=workdir / "runs",
        env={**os.environ, "TRAIN_SLEEP": "30"},
        on_progress=first_ctrl_c,
    )
    assert job.status is JobStatus.STOPPED and job.stop_detail == "interrupted (Ctrl-C)"
    trials = SQLiteStore(workdir / "store.db").list_trials(job.id)
    assert trials and all(t.state is TrialState.STOPPED for t in trials)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_as_the_job_is_stored_and_started_stops_it(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C landing while ``run`` stored and started the job (in Submit, before the loop that
    handles it) left the job ``running`` with no process to run it and ended with one line,
    the job's id unsaid. Now it is held until the job is known, then handled as any Ctrl-C."""
    from hyperstep.service import TuningService

    submit = TuningService.submit

    def pressed_while_submitting(self: TuningService, *args: object, **kwargs: object):
        job = submit(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # the main thread runs Python meanwhile: an unheld signal raises here
        return job

    monkeypatch.setattr(TuningService, "submit", pressed_while_submitting)
    job = run(workdir, local_spec(workdir))
    assert job.status is JobStatus.STOPPED and job.stop_detail == "interrupted (Ctrl-C)"
    (stored,) = SQLiteStore(workdir / "store.db").list_jobs()
    assert stored.status is JobStatus.STOPPED
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_past_the_hold_stops_a_stop_that_hangs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first Ctrl-C's stop ignored every later Ctrl-C, SIGTERM and SIGHUP for as long as
    it took, and nothing bounded it (its bus drain, a store's 30 s busy wait each write): a
    stop that hung could be ended only by SIGKILL. Now a signal past the hold (README's "at
    most about 10 s") is handled as before it: the run ends at once, the handler put back."""
    from hyperstep.local import runner
    from hyperstep.local.runtime import LocalRuntime

    monkeypatch.setattr(runner, "HOLD_SECONDS", 0.3)
    stop_trials = LocalRuntime.stop_trials

    def hangs(self: LocalRuntime, drain_seconds: float = 10.0) -> None:
        monkeypatch.setattr(LocalRuntime, "stop_trials", stop_trials)  # once
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)  # pressed again, past the hold
        time.sleep(10)  # a stop that hangs

    def first_ctrl_c(job, trials, final: bool = False) -> None:
        if any(t.state is TrialState.RUNNING for t in trials) and not final:
            monkeypatch.setattr(LocalRuntime, "stop_trials", hangs)
            raise KeyboardInterrupt

    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_local(
            spec=local_spec(workdir),
            store_path=workdir / "store.db",
            runs_dir=workdir / "runs",
            env={**os.environ, "TRAIN_SLEEP": "30"},
            on_progress=first_ctrl_c,
        )
    assert time.monotonic() - began < 8
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_past_the_hold_stops_a_start_that_hangs(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C as the job is stored and started waited for the start however long it took;
    past the hold it is handled at once, as before the hold, the handler put back."""
    from hyperstep.local import runner
    from hyperstep.service import TuningService

    monkeypatch.setattr(runner, "HOLD_SECONDS", 0.3)
    submit = TuningService.submit

    def hangs(self: TuningService, *args: object, **kwargs: object):
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(10)  # a store that blocks
        return submit(self, *args, **kwargs)

    monkeypatch.setattr(TuningService, "submit", hangs)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run(workdir, local_spec(workdir))
    assert time.monotonic() - began < 8
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_deferred_while_a_resume_is_refused_still_ends_the_run(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C pressed as the job is taken, where the taking fails (another process holds
    it): the deferred press was dropped with the block's error, and the command ended as
    that error (exit 1), not as the user's Ctrl-C. It is raised as it would have been
    handled, the refusal its context, the handler put back."""
    from hyperstep.local import runner

    def held_elsewhere(store_path: Path, job_id: str) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)  # an unheld Ctrl-C raises here
        raise runner.JobHeldError(f"job {job_id!r} is running in another hyperstep process")

    monkeypatch.setattr(runner, "job_lock", held_elsewhere)
    with pytest.raises(KeyboardInterrupt) as caught:
        run(workdir, None, resume="job-1")
    assert isinstance(caught.value.__context__, runner.JobHeldError)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_and_sighup_are_held_as_ctrl_c_is() -> None:
    """The CLI handles SIGTERM (a container's stop, a CI cancel) and SIGHUP as Ctrl-C: they are
    held off as Ctrl-C is (ignored in a stop, deferred as a job starts), and put back after."""
    from hyperstep.errors import Signalled
    from hyperstep.local.runner import signals_held

    def interrupted(signum: int, frame: object) -> None:
        raise Signalled(signal.Signals(signum).name)

    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        for signum in kept:
            signal.signal(signum, interrupted)
        with signals_held():
            for signum in kept:
                os.kill(os.getpid(), signum)
                time.sleep(0.1)  # an unheld signal raises here
        with pytest.raises(Signalled, match=r"^SIGHUP$"), signals_held(defer=True):
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)
        assert all(signal.getsignal(signum) is interrupted for signum in kept)
    finally:
        for signum, handler in kept.items():
            signal.signal(signum, handler)


def test_a_long_job_hands_itself_over_to_new_executions(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past HANDOFF_EVENTS estimated history events, Suggest starts a new execution and the
    old one ends; the job carries on in the new one and loses nothing."""
    from hyperstep import service
    from hyperstep.asl.executor import Executor

    started: list = []
    start = Executor.start

    def recording_start(self: Executor, *args: object, **kwargs: object):
        execution = start(self, *args, **kwargs)
        if execution not in started:
            started.append(execution)
        return execution

    monkeypatch.setattr(Executor, "start", recording_start)
    monkeypatch.setattr(service, "HANDOFF_EVENTS", 30)  # about four rounds
    job = run(workdir, local_spec(workdir, budget={"max_trials": 6, "max_parallel": 1}))

    trials = SQLiteStore(workdir / "store.db").list_trials(job.id)
    assert job.status is JobStatus.COMPLETED
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 6
    assert len(started) >= 2 and job.execution_id == started[-1].id
    for handed_over in started[:-1]:
        assert handed_over.status == "SUCCEEDED" and handed_over.state_path[-1] == "Handed Over"
    assert started[-1].state_path[-1] == "Finish Job"
    # The estimate must not undercount: each execution's real history stays near the threshold
    # (past it by at most the round that crossed it and the hand-over round).
    for execution in started:
        assert len(execution.history.events()) <= service.HANDOFF_EVENTS + 2 * service.ROUND_EVENTS


def test_handlers_emit_per_job_metrics_as_trials_end(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Collect counts each ended trial and the best value so far (CloudWatch EMF lines,
    which the local run keeps in handlers.log); Finish counts the job by its status.
    The caller's environment does not silence them (the moto harness disables metrics)."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    job = run(workdir, local_spec(workdir))
    emitted = [json.loads(line) for line in (workdir / "handlers.log").read_text().splitlines() if '"_aws"' in line]
    ours = [m for m in emitted if m.get("JobId") == job.id]

    def values(name: str) -> list[float]:  # Powertools writes each metric's values as a list
        return [v for m in ours for v in m.get(name, [])]

    assert sum(values("TrialsCompleted")) == 6
    assert sum(values("TrialsStarted")) == 6
    best_so_far = values("BestValue")
    assert best_so_far == sorted(best_so_far, reverse=True)  # minimize: never gets worse
    assert best_so_far[-1] == pytest.approx(job.best_value)
    assert sum(values("JobsCompleted")) == 1


def test_a_trial_folder_that_cannot_be_made_fails_the_trials_with_the_reason(workdir: Path) -> None:
    runs = workdir / "not-a-folder"
    runs.write_text("a file where --out should be a folder")
    spec = local_spec(workdir, budget={"max_trials": 2, "max_parallel": 2})
    job = run_local(spec=spec, store_path=workdir / "store.db", runs_dir=runs, env=dict(os.environ))
    trials = SQLiteStore(workdir / "store.db").list_trials(job.id)
    assert job.status is JobStatus.FAILED and job.error == "every trial failed"
    assert [t.state for t in trials] == [TrialState.FAILED] * 2
    assert all(t.error.startswith("cannot create the trial folder") for t in trials)


def test_an_execution_that_fails_outside_finish_fails_the_job_with_the_reason(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state that fails without a Catch (a --definition may leave it out) ends the
    execution without Finish Job; the run must not leave the job running forever."""
    from hyperstep.service import TuningService

    def broken_launch(self: TuningService, request: object) -> None:
        raise RuntimeError("the backend is broken")

    monkeypatch.setattr(TuningService, "launch", broken_launch)
    definition = json.loads(definition_path().read_text())
    suggest = definition["States"]["Suggest Trials"]  # it launches the trials
    suggest.pop("Retry", None)  # fail at once instead of after 30 s of retries
    suggest.pop("Catch", None)
    del definition["States"]["No News"]  # reached from the Catch alone
    fast = workdir / "fast.asl.json"
    fast.write_text(json.dumps(definition))
    job = run(workdir, local_spec(workdir), definition=fast)
    assert job.status is JobStatus.FAILED
    assert job.error == "RuntimeError: the backend is broken"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_stops_like_ctrl_c_and_kills_the_trials(workdir: Path, signum: signal.Signals) -> None:
    """``kill``, ``timeout`` or a CI runner cancelling (SIGTERM), the terminal closed or the
    ssh session lost (SIGHUP): the job stays resumable and no trial process lives on (they
    run in their own session, out of reach of the signal). Old code, SIGHUP: hyperstep died
    at once, its trials ran on orphaned and the job stayed "running". The signal starts at its
    default, as in a terminal's session: a test run under ``nohup`` (or a runner that ignores
    SIGHUP) would otherwise pass it on ignored, and hyperstep keeps an ignored SIGHUP."""
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(store_path), "run", str(spec_file)]
    proc = subprocess.Popen([*command, "--out", str(workdir / "runs")], env={**os.environ, "TRAIN_SLEEP": "60"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))  # fmt: skip
    running = wait_until_a_trial_runs(store_path)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "hyperstep run --resume" in err
    store = SQLiteStore(store_path)
    (job,) = store.list_jobs()
    assert (job.status, job.stop_detail) == (JobStatus.STOPPED, f"interrupted ({signum.name})")  # was "(Ctrl-C)"
    assert not any(t.state.active for t in store.list_trials(job.id))
    for trial in running:
        assert not Path(f"/proc/{trial.backend_ref}").exists(), f"trial process {trial.backend_ref} lives on"


def test_a_run_under_nohup_outlives_its_terminal(workdir: Path) -> None:
    """SIGHUP stops a run as Ctrl-C does, unless it was started ignoring it (``nohup``)."""
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = ["nohup", sys.executable, "-m", "hyperstep.cli", "--store", str(store_path), "run", str(spec_file)]
    proc = subprocess.Popen([*command, "--out", str(workdir / "runs")], env={**os.environ, "TRAIN_SLEEP": "60"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        running = wait_until_a_trial_runs(store_path)
        proc.send_signal(signal.SIGHUP)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        assert all(alive(t.backend_ref) for t in running)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 130


def test_resuming_a_job_another_process_runs_is_refused(workdir: Path) -> None:
    from hyperstep.errors import HyperstepError
    from hyperstep.local.runner import job_lock
    from hyperstep.models import Job

    store_path = workdir / "store.db"
    SQLiteStore(store_path).create_job(Job(id="busy-1", spec=local_spec(workdir), created_at=time.time()))
    with job_lock(store_path, "busy-1"), pytest.raises(HyperstepError, match="running in another hyperstep process"):
        run(workdir, None, resume="busy-1")
    assert SQLiteStore(store_path).list_trials("busy-1") == []  # nothing was started
    job = run(workdir, None, resume="busy-1")  # once the other process let go
    assert job.status is JobStatus.COMPLETED


def test_ctrl_c_after_a_trial_printed_its_last_step_keeps_its_value(workdir: Path) -> None:
    """The trial prints all 3 of its max_resource 3 steps, then "saves its model" (sleeps):
    Ctrl-C then kills it, and its training's result counts. It ends completed with the value
    of its last step, its curve kept, counted once (old code: stopped, no value, its budget
    given back)."""
    (workdir / "steps.py").write_text(
        "import time\nfor step in (1, 2, 3):\n    print(f'loss={1 / step:.6f}', flush=True)\ntime.sleep(60)\n"
    )
    spec = local_spec(
        workdir,
        budget={"max_trials": 1, "max_parallel": 1},
        early_stopping={"name": "asha", "min_resource": 1, "max_resource": 3, "reduction_factor": 3},
    )
    spec = spec.model_copy(update={"trial": spec.trial.model_copy(update={"command": ["python", "steps.py"]})})
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(store_path), "run", str(spec_file)]
    out = ["--out", str(workdir / "runs")]
    proc = subprocess.Popen([*command, *out], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        running = [t for t in wait_until_a_trial_runs(store_path) if len(t.curve) == 3]
        if running:
            break
    else:
        raise AssertionError("no trial printed its 3 steps within 60 s")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    store = SQLiteStore(store_path)
    (job,) = store.list_jobs()
    (trial,) = store.list_trials(job.id)
    assert (trial.state, trial.value, sorted(trial.curve)) == (TrialState.COMPLETED, round(1 / 3, 6), [1, 2, 3])
    assert (job.status, job.completed, job.budget_used, job.best_trial_id) == (JobStatus.STOPPED, 1, 1, trial.id)


def run_killed_outright(workdir: Path, train_seconds: float) -> tuple[list[str], list[str], list]:
    """``hyperstep run`` (store ``s.db``, trials of ``train_seconds``) SIGKILLed once trials
    run: the command to run it again (``--store``), its ``--out`` and the trials it left running."""
    spec_file = workdir / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(local_spec(workdir).model_dump(mode="json", exclude_none=True)))
    store_path = workdir / "s.db"
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(store_path)]
    out = ["--out", str(workdir / "runs")]
    env = {**os.environ, "TRAIN_SLEEP": str(train_seconds)}
    proc = subprocess.Popen([*command, "run", str(spec_file), *out], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    running = wait_until_a_trial_runs(store_path)
    proc.kill()
    proc.communicate(timeout=30)
    return command, out, running


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finding a trial's process needs /proc")
def test_resume_after_hyperstep_was_killed_outright_kills_the_trials_it_left(workdir: Path) -> None:
    """SIGKILL or the OOM killer gives hyperstep no time to stop its trials, which run in
    their own sessions: resuming the job stops them before it carries on (old code: they ran
    on to their end, orphaned and with no timeout, beside the resumed job's trials)."""
    command, out, running = run_killed_outright(workdir, train_seconds=60)
    store_path = workdir / "s.db"
    try:
        assert all(alive(t.backend_ref) for t in running)  # left behind
        again = [*command, "run", "--resume", running[0].job_id, "--json", *out]
        resumed = subprocess.run(again, capture_output=True, text=True, timeout=120, env=os.environ)
        assert resumed.returncode == 0, resumed.stderr
        assert not [t.backend_ref for t in running if alive(t.backend_ref)], "trial processes live on"
        store = SQLiteStore(store_path)
        assert [store.get_trial(t.job_id, t.id).state for t in running] == [TrialState.STOPPED] * len(running)
        assert store.get_job(running[0].job_id).completed == 6
    finally:
        for trial in running:  # what old code left
            if alive(trial.backend_ref):
                os.killpg(int(trial.backend_ref), signal.SIGKILL)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finding a trial's process needs /proc")
def test_resume_after_hyperstep_was_killed_outright_keeps_the_trials_that_ended_meanwhile(workdir: Path) -> None:
    """hyperstep killed outright (SIGKILL, the OOM killer) while its trials train: they run
    on in their own sessions and end by themselves, unwatched. Their launcher wrote each
    one's exit status into its folder, so the resumed run records each as its own run would
    have: completed with its value, counted once. Old code
    recorded every one stopped ("interrupted"), losing the finished training."""
    command, out, running = run_killed_outright(workdir, train_seconds=2)
    store_path = workdir / "s.db"
    deadline = time.monotonic() + 60
    while any(alive(t.backend_ref) for t in running) and time.monotonic() < deadline:
        time.sleep(0.1)  # the trials end by themselves, no hyperstep watching
    assert not any(alive(t.backend_ref) for t in running), "the trials did not end within 60 s"
    again = [*command, "run", "--resume", running[0].job_id, "--json", *out]
    resumed = subprocess.run(again, capture_output=True, text=True, timeout=120, env=os.environ)
    assert resumed.returncode == 0, resumed.stderr
    store = SQLiteStore(store_path)
    ended = [store.get_trial(t.job_id, t.id) for t in running]
    assert [(t.state, t.value is not None) for t in ended] == [(TrialState.COMPLETED, True)] * len(running), ended
    assert all(t.error is None for t in ended)
    job = store.get_job(running[0].job_id)
    assert (job.completed, job.budget_used) == (6, 6)


def test_resume_of_a_job_whose_folder_moved_is_refused_before_it_burns_its_budget(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project folder renamed between Ctrl-C and ``run --resume``: every remaining
    trial failed to start ("cannot start 'python': No such file or directory") and the
    job ended failed with its budget spent. The stored trial block is checked as a new
    spec's is: one line, exit 2, nothing run."""
    from hyperstep.cli import main
    from hyperstep.models import Job

    store_path = workdir / "s.db"
    spec = local_spec(workdir)
    moved = spec.model_copy(update={"trial": spec.trial.model_copy(update={"workdir": str(workdir / "gone")})})
    SQLiteStore(store_path).create_job(Job(id="moved-1", spec=moved, created_at=time.time()))
    code = main(["--store", str(store_path), "run", "--resume", "moved-1", "--out", str(workdir / "runs")])
    assert (code, capsys.readouterr().err) == (
        2,
        f"hyperstep: error: trial.workdir: {workdir / 'gone'} is not a directory\n",
    )
    assert SQLiteStore(store_path).list_trials("moved-1") == []
    assert SQLiteStore(store_path).get_job("moved-1").status is JobStatus.RUNNING
