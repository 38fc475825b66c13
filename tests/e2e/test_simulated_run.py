"""Simulated jobs on the embedded default: the real state machine and handlers, virtual time.

The example spec (``examples/simulated``) runs end to end through ``hyperstep run``'s
path, and the same spec and seed give the same trials, values and virtual times again.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from hyperstep.backends.simulated import SimulatedBackend
from hyperstep.handlers import LOOP_HANDLERS, Handler, Telemetry
from hyperstep.local import runner
from hyperstep.local.runner import run_clock, run_local
from hyperstep.models import JobStatus, StopReason, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import load_spec
from hyperstep.stores.sqlite import SQLiteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "simulated" / "spec.yaml"
pytestmark = pytest.mark.timeout(300)
"""A broken loop (the driver's last reaper pass) hangs a run: fail it well before the global
timeout. Each test here takes seconds (8 s at most, alone on 2 busy cores; 40 s the module)."""


def run_example(folder: Path, max_trials: int = 40, max_parallel: int = 8, **budget: Any) -> tuple[Any, list[Any]]:
    """The example run to its end with this budget (``budget``: other keys of it)."""
    spec = load_spec(EXAMPLE)
    limits = {"max_trials": max_trials, "max_parallel": max_parallel, **budget}
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update=limits)})
    job = run_local(spec=spec, store_path=folder / "store.db", runs_dir=folder / "runs", env={})
    return job, SQLiteStore(folder / "store.db").list_trials(job.id)


def timeline(job: Any, trials: list[Any]) -> list[tuple[Any, ...]]:
    """Each trial as a run shows it, its times relative to the job's start (virtual seconds)."""
    return [
        (t.id, t.params, t.state, t.value, t.error, t.started_at - job.created_at, t.ended_at - job.created_at)
        for t in trials
    ]


def test_the_simulated_example_runs_to_the_end_on_virtual_time(tmp_path: Path) -> None:
    job, trials = run_example(tmp_path)
    assert job.status is JobStatus.COMPLETED
    assert len(trials) == 40 and not any(t.state.active for t in trials)
    completed = [t for t in trials if t.state is TrialState.COMPLETED]
    assert completed and job.completed == len(completed)
    assert all(t.error == "loss diverged" for t in trials if t.state is TrialState.FAILED)
    best = min(completed, key=lambda t: t.value)
    assert (job.best_trial_id, job.best_value) == (best.id, best.value)
    # every trial took its simulated hours on the virtual clock: far longer than this test
    assert min(t.ended_at - t.started_at for t in completed) > 27 * 60 * 0.5 * 0.9
    assert job.ended_at - job.created_at > 3600
    # its step reports came through collect: the last one kept is the last step's
    assert all(t.reports["loss"].step == 27 for t in completed)


def test_the_same_spec_and_seed_give_the_same_trials_values_and_times(tmp_path: Path) -> None:
    first, second = run_example(tmp_path / "first"), run_example(tmp_path / "second")
    assert first[0].id != second[0].id
    assert timeline(*first) == timeline(*second)


@pytest.mark.parametrize("max_parallel", [1, 5])
def test_a_run_keeps_max_parallel_trials_running(tmp_path: Path, max_parallel: int) -> None:
    _, trials = run_example(tmp_path, max_trials=12, max_parallel=max_parallel)
    moments = sorted({t.started_at for t in trials})
    running = [sum(t.started_at <= m < t.ended_at for t in trials) for m in moments]
    assert max(running) == max_parallel


def test_a_resumed_simulated_job_s_clock_starts_where_its_virtual_time_stopped(tmp_path: Path) -> None:
    job, trials = run_example(tmp_path, max_trials=6, max_parallel=3)
    clock = run_clock(None, tmp_path / "store.db", job.id)
    assert clock is not None and clock() >= max(t.ended_at for t in trials) > job.created_at + 1000


def test_a_time_budget_stops_the_running_trials_at_its_deadline_in_virtual_time(tmp_path: Path) -> None:
    """``max_runtime_seconds`` 2500 on trials of 20 to 90 virtual minutes: the job stops
    at the deadline, its running trials stopped there with the steps they reported, none
    ending after it; the same again on a second run. Before the driver kept deadlines the
    job woke at its next trial's end, up to an hour late (the last trial ended at +3532 s,
    completed)."""
    runs = [run_example(tmp_path / name, max_runtime_seconds=2500) for name in ("first", "second")]
    job, trials = runs[0]
    assert job.status is JobStatus.COMPLETED and job.stop_reason is StopReason.MAX_RUNTIME
    deadline = job.created_at + 2500
    assert max(t.ended_at for t in trials) == job.ended_at == deadline
    stopped = [t for t in trials if t.state is TrialState.STOPPED]
    assert stopped and all(t.ended_at == deadline for t in stopped)
    assert any(t.reports for t in stopped)  # stopped with their curves so far
    assert all(t.ended_at <= deadline for t in trials if t.state is TrialState.COMPLETED)
    assert timeline(*runs[0]) == timeline(*runs[1])


def reaper_passes(folder: Path) -> int:
    """How many reaper passes a run wrote to its ``handlers.log`` (each writes ``ReapedResults``)."""
    return sum('"ReapedResults"' in line for line in (folder / "handlers.log").read_text().splitlines())


def test_a_reaper_interval_shorter_than_the_run_makes_no_pass_and_changes_nothing(tmp_path: Path) -> None:
    """The local reaper on a 1 ms real-time schedule: a simulated run makes no pass of its
    own (a pass there would land between two deliveries, at a moment real time chose) and
    gives the trials the default schedule gives. Before: passes every millisecond, written
    to handlers.log (hundreds in this run), each free to record an end at whatever virtual
    time it came."""
    plain = run_example(tmp_path / "plain")
    with mock.patch.object(runner, "LocalRuntime", functools.partial(runner.LocalRuntime, reap_seconds=0.001)):
        eager = run_example(tmp_path / "eager")
    assert reaper_passes(tmp_path / "eager") == 0
    assert timeline(*eager) == timeline(*plain)


class DropEnd:
    """Collect fails on one trial's end event every time: the bus drops it after its retries."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id, self.failed = trial_id, 0
        self.collect = LOOP_HANDLERS["collect"]

    def __call__(
        self, service: TuningService, event: dict[str, Any] | list[dict[str, Any]], telemetry: Telemetry
    ) -> dict[str, Any]:
        detail = event.get("detail", {}) if isinstance(event, dict) else {}  # a batch holds step reports only
        if detail.get("trial_id") == self.trial_id and "state" in detail:
            self.failed += 1
            raise RuntimeError("collect failed")
        return self.collect(service, event, telemetry)


@pytest.mark.parametrize("trial_id", ["t0003", "t0040"])
def test_a_dropped_end_is_reaped_at_the_virtual_time_it_was_due(tmp_path: Path, trial_id: str) -> None:
    """A trial's end that collect failed on three times (the bus drops it, as Lambda's
    retries of an asynchronous invocation end) is recorded by a reaper pass the simulation
    makes at once, on virtual time: the trials and times are those of a run that lost
    nothing, the dropped trial's too. t0003 ends while others run; t0040, the last trial,
    leaves the job with nothing else to deliver. Before: the job went on (t0003 held its
    slot) or stalled (t0040) until a real-time pass (30 s later by default, 5 s here); the trial's end was
    recorded at whatever virtual time that pass came."""
    plain = run_example(tmp_path / "plain")
    drop: Handler = DropEnd(trial_id)
    with (
        mock.patch.dict(LOOP_HANDLERS, {"collect": drop}),
        mock.patch.object(runner, "LocalRuntime", functools.partial(runner.LocalRuntime, reap_seconds=5.0)),
    ):
        dropped = run_example(tmp_path / "dropped")
    assert isinstance(drop, DropEnd) and drop.failed == 3
    assert timeline(*dropped) == timeline(*plain)
    assert reaper_passes(tmp_path / "dropped") == 1


def test_a_dropped_stop_at_the_time_budget_s_deadline_is_reaped_there(tmp_path: Path) -> None:
    """The end of a trial the deadline stopped (published by the stop, outside any delivery)
    dropped by the bus: the job waits with nothing left to deliver, and the pass the
    simulation makes then records it stopped at the deadline, as a run that lost nothing
    does. (Held before too, once a real-time pass came: 5 s here, 30 s by default, the
    virtual clock standing still meanwhile. This guards the simulation's own pass there.)"""
    plain = run_example(tmp_path / "plain", max_runtime_seconds=2500)
    stopped = [t.id for t in plain[1] if t.state is TrialState.STOPPED]
    drop: Handler = DropEnd(stopped[0])
    with (
        mock.patch.dict(LOOP_HANDLERS, {"collect": drop}),
        mock.patch.object(runner, "LocalRuntime", functools.partial(runner.LocalRuntime, reap_seconds=5.0)),
    ):
        dropped = run_example(tmp_path / "dropped", max_runtime_seconds=2500)
    assert isinstance(drop, DropEnd) and drop.failed == 3
    assert timeline(*dropped) == timeline(*plain)
    assert reaper_passes(tmp_path / "dropped") == 1


class Counting:
    """Collect, counting its invocations and the events they carried (a batch: several)."""

    def __init__(self) -> None:
        self.invocations, self.events = 0, 0
        self.collect = LOOP_HANDLERS["collect"]

    def __call__(
        self, service: TuningService, event: dict[str, Any] | list[dict[str, Any]], telemetry: Telemetry
    ) -> dict[str, Any]:
        self.invocations += 1
        self.events += len(event) if isinstance(event, list) else 1
        return self.collect(service, event, telemetry)


def curves(folder: Path, job: Any) -> dict[str, dict[int, float]]:
    store = SQLiteStore(folder / "store.db")
    return {t.id: store.get_trial(job.id, t.id).curve for t in store.list_trials(job.id)}


@pytest.mark.parametrize("early_stopping", [None, {"name": "asha", "min_resource": 1, "max_resource": 27}])
def test_step_reports_between_two_ends_go_to_collect_as_one_batch_unless_a_report_can_stop_a_trial(
    tmp_path: Path, early_stopping: dict[str, Any] | None
) -> None:
    """Without early stopping, the step reports due before the job's next end reach collect
    in one invocation, and the run is the one events delivered one at a time make: the same
    trials, values, times and curves. With ASHA, one event an invocation (a report may stop
    a trial, and the job's Suggest comes before the next one). Before: one event an
    invocation always (for 40 trials, about 1,100: 27 reports and an end each)."""
    spec = load_spec(EXAMPLE)
    if early_stopping is not None:
        spec = type(spec).model_validate({**spec.model_dump(), "early_stopping": early_stopping})

    def run(folder: Path) -> tuple[Any, list[Any]]:
        limits = {"max_trials": 40, "max_parallel": 8}
        budget = spec.budget.model_copy(update=limits)
        job = run_local(
            spec=spec.model_copy(update={"budget": budget}),
            store_path=folder / "store.db",
            runs_dir=folder / "runs",
            env={},
        )
        return job, SQLiteStore(folder / "store.db").list_trials(job.id)

    one_at_a_time = mock.patch.object(
        SimulatedBackend, "next_reports", lambda self, job_id, until: [e] if (e := self.next_event(job_id)) else []
    )
    with one_at_a_time:
        alone = run(tmp_path / "alone")
    counting = Counting()
    with mock.patch.dict(LOOP_HANDLERS, {"collect": counting}):
        batched = run(tmp_path / "batched")
    assert timeline(*batched) == timeline(*alone)
    assert curves(tmp_path / "batched", batched[0]) == curves(tmp_path / "alone", alone[0])
    if early_stopping is None:
        assert counting.invocations < counting.events / 5
    else:
        assert counting.invocations == counting.events


class DropReport:
    """Collect fails on one trial's step report every time, alone or in a batch (a fault run)."""

    def __init__(self, trial_id: str, step: int) -> None:
        self.trial_id, self.step = trial_id, step
        self.collect = LOOP_HANDLERS["collect"]

    def __call__(
        self, service: TuningService, event: dict[str, Any] | list[dict[str, Any]], telemetry: Telemetry
    ) -> dict[str, Any]:
        details = [one.get("detail", {}) for one in (event if isinstance(event, list) else [event])]
        if any(d.get("trial_id") == self.trial_id and d.get("step") == self.step for d in details):
            raise RuntimeError("collect failed")
        return self.collect(service, event, telemetry)


def test_a_step_report_collect_always_fails_on_is_the_only_one_lost_batched_or_not(tmp_path: Path) -> None:
    """The bus drops a report collect failed on three times; in a batch, the batch is halved
    until that report is alone (InProcessBus._deliver), so the run keeps every other report
    of the batch, as a run that delivers them one at a time does. Before: the whole batch
    (every trial's reports due before the next end) was dropped with it."""
    spec = load_spec(EXAMPLE)
    spec = spec.model_copy(update={"budget": spec.budget.model_copy(update={"max_trials": 12, "max_parallel": 4})})

    def run(folder: Path) -> tuple[Any, list[Any]]:
        with mock.patch.dict(LOOP_HANDLERS, {"collect": DropReport("t0002", 5)}):
            job = run_local(spec=spec, store_path=folder / "store.db", runs_dir=folder / "runs", env={})
        return job, SQLiteStore(folder / "store.db").list_trials(job.id)

    with mock.patch.object(
        SimulatedBackend, "next_reports", lambda self, job_id, until: [e] if (e := self.next_event(job_id)) else []
    ):
        alone = run(tmp_path / "alone")
    batched = run(tmp_path / "batched")
    lost = curves(tmp_path / "alone", alone[0])
    assert 5 not in lost["t0002"] and 4 in lost["t0002"] and 6 in lost["t0002"]
    assert timeline(*batched) == timeline(*alone)
    assert curves(tmp_path / "batched", batched[0]) == lost


def test_ctrl_c_still_stops_a_run_while_a_callable_runs_on_its_worker_thread(tmp_path: Path) -> None:
    """A KeyboardInterrupt the callable raises fails its trial (its thread is not the main
    one); the user's Ctrl-C, raised on the main thread, still stops the run with its summary."""
    (tmp_path / "busy.py").write_text(
        "import pathlib, time\n\n\ndef fn(params, seed):\n"
        f"    pathlib.Path({str(tmp_path / 'called')!r}).touch()\n"
        "    end = time.perf_counter() + 0.2  # real time: a run's clock is virtual\n"
        "    while time.perf_counter() < end:\n        pass\n"
        "    return {'duration': 10, 'curve': [1.0, 0.5]}\n"
    )
    spec = load_spec(EXAMPLE).model_dump(mode="json", exclude_none=True)
    spec["budget"] = {"max_trials": 500, "max_parallel": 1}
    spec["trial"] = {"backend": "simulated", "objective": "busy:fn", "timeout_seconds": 100}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    command = [sys.executable, "-m", "hyperstep.cli", "--store", str(tmp_path / "s.db"), "run", "spec.yaml"]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    proc = subprocess.Popen(command, cwd=tmp_path, env=dict(os.environ), text=True, **pipes)
    deadline = time.monotonic() + 60
    while not (tmp_path / "called").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "carry on with: hyperstep run --resume" in err
    assert "stopped, " in out and "(stopped_by_user)" in out  # the summary


def test_trials_the_target_stopped_are_not_counted_as_stopped_early(tmp_path: Path) -> None:
    """stop-23: with asha on and ``budget.target`` 0.12, the trials still running when a
    trial reaches the target are stopped by the job's round; they end pruned (a "stopped" end
    with a curve while the job runs) and said ``stopped early by asha``, counting in the
    run's summary (at 2d31a6f, 200 trials, 10 at a time: 78 stopped early, 1914 steps saved,
    where asha stopped 71 and saved 1804). They say the job stopped them, and count in neither."""
    from hyperstep.views import saved_text, steps_saved

    spec = load_spec(EXAMPLE)
    limits = {"max_trials": 200, "max_parallel": 10, "target": 0.12}
    asha = {"name": "asha", "min_resource": 1, "max_resource": 27, "reduction_factor": 3}
    spec = type(spec).model_validate(
        {**spec.model_dump(), "budget": {**spec.budget.model_dump(), **limits}, "early_stopping": asha}
    )
    job = run_local(spec=spec, store_path=tmp_path / "store.db", runs_dir=tmp_path / "runs", env={})
    trials = SQLiteStore(tmp_path / "store.db").list_trials(job.id)
    assert job.stop_reason is StopReason.TARGET_REACHED
    pruned = [t for t in trials if t.state is TrialState.PRUNED]
    by_asha = [t for t in pruned if (t.error or "").startswith("stopped early by asha at step ")]
    by_job = [t for t in pruned if (t.error or "").startswith("stopped by the job (target 0.12 reached) at step ")]
    assert by_job and len(by_asha) + len(by_job) == len(pruned) == job.pruned
    assert all(t.ended_at >= max(b.ended_at for b in by_asha) for t in by_job)  # at the job's end, after asha's
    saved = steps_saved(job, trials)
    assert saved["pruned"] == len(by_asha)
    assert saved_text(saved).startswith(f"{len(by_asha)} trials stopped early")
