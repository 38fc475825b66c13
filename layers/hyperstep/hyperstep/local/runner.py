"""Run one tuning job locally, start to end, and stop it cleanly on Ctrl-C."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from hyperstep.backends.local.adapter import HELD_FILE, kill_detached
from hyperstep.backends.local.block import LocalTrial
from hyperstep.backends.simulated import VirtualClock
from hyperstep.errors import ConflictError, HyperstepError, NotFoundError, Signalled
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.handlers import count_ends
from hyperstep.local.runtime import LocalRuntime
from hyperstep.local.telemetry import HandlerLog
from hyperstep.messages import TrialResult, Usage
from hyperstep.models import Job, JobStatus, StopReason, Trial
from hyperstep.recorded_ends import recording
from hyperstep.spec import Budget, JobSpec
from hyperstep.stores.sqlite import SQLiteStore

log = logging.getLogger(__name__)

ProgressCallback = Callable[..., None]
"""``on_progress(job, trials, final=False)``: shown as the job goes (the CLI's progress line)."""


def run_local(
    spec: JobSpec | None,
    store_path: Path,
    runs_dir: Path,
    env: Mapping[str, str],
    resume: str | None = None,
    on_progress: ProgressCallback | None = None,
    definition: Path | None = None,
    poll_seconds: float = 0.2,
) -> Job:
    """Submit ``spec`` (or resume job ``resume``) and block until the job has finished.

    The handlers' own output (their warnings and errors, and their metrics as CloudWatch
    EMF lines) goes to ``handlers.log`` beside the store. Ctrl-C kills the running trials,
    records them stopped (their budget is given back; one whose training was over completes
    with its value, ``TuningService.collect``) and marks the job stopped, so ``resume``
    carries on from a consistent store.
    """
    log_path = Path(store_path).parent / "handlers.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    clock = run_clock(spec, store_path, resume)
    with (
        log_path.open("a") as handlers_log,
        LocalRuntime(
            store_path,
            runs_dir.resolve(),
            base_env=env,
            definition=definition,
            handler_log=HandlerLog(handlers_log),
            clock=clock,
        ) as runtime,
        contextlib.ExitStack() as held,
    ):
        service = runtime.service
        job: Job | None = None
        try:
            with signals_held(defer=True):  # a Ctrl-C as the job is stored and started stops it once it is known
                if resume is not None:
                    held.enter_context(job_lock(store_path, resume))
                    job = reopen(runtime, resume)
                else:
                    assert spec is not None
                    job = service.submit(spec)
                    held.enter_context(job_lock(store_path, job.id))
            seen = _changes(runtime.store.get_job(job.id))
            while not _ended(runtime, polled := runtime.store.get_job(job.id)):  # the job read once a poll
                seen = _wake_on_change(runtime, polled, seen)
                _report(runtime, polled, on_progress)
                time.sleep(poll_seconds)
        except KeyboardInterrupt as exc:
            if job is None:  # pressed past the hold as the job was stored or reopened: no job to stop
                raise
            held.enter_context(signals_held())  # a second Ctrl-C waits for this one's end
            interrupt(runtime, job.id, by=str(exc) if isinstance(exc, Signalled) else "Ctrl-C")
        runtime.bus.drain()  # an execution that ended outside Finish Job: its event closes the job
        ended = runtime.store.get_job(job.id)
        if not ended.status.finished:
            finish_abandoned(runtime, job.id)
            ended = runtime.store.get_job(job.id)
        _report(runtime, ended, on_progress, final=True)
        return ended


HOLD_SECONDS = 10.0
"""How long ``signals_held`` holds signals off: a signal later is handled at once, as without it."""


@contextlib.contextmanager
def signals_held(defer: bool = False) -> Iterator[None]:
    """Ctrl-C, and SIGTERM and SIGHUP where Python handles them (the CLI's), held off while
    the block runs, for ``HOLD_SECONDS`` at most: ignored, or with ``defer`` raised as they
    would have been once it is done, or once it has raised. One that comes later is handled
    as it comes.

    Ignored while a Ctrl-C's stop runs (killing the trials, recording them stopped, closing
    the job): a second press, as an impatient user gives, broke into it and ended the run
    with no summary and no resume hint. Deferred while a job is stored and started: a press
    there left it ``running`` with no process, and its id unsaid. Not for longer: nothing
    bounds either block (the bus drain, a store's busy wait), and one that hung held every
    Ctrl-C and SIGTERM off until SIGKILL. Only on the main thread, the one Python lets set
    handlers; a Python function, not SIG_IGN, which a trial started meanwhile would inherit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    until = time.monotonic() + HOLD_SECONDS

    def held(signum: int, frame: Any) -> None:
        if time.monotonic() >= until:
            before[signum](signum, frame)  # past the hold: as it would have been handled
        elif defer:
            came.append(signum)

    before: dict[int, Callable[[int, Any], Any]] = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # no SIGHUP on Windows
        signum = getattr(signal, name, None)
        if signum is not None and callable(handler := signal.getsignal(signum)):  # not SIG_DFL, SIG_IGN, None
            before[signum] = handler
            signal.signal(signum, held)
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
        if came:  # also when the block raised (a refused resume): the error is its context
            before[came[0]](came[0], None)  # as it would have been handled: KeyboardInterrupt, the CLI's Signalled


def run_clock(spec: JobSpec | None, store_path: Path, resume: str | None) -> VirtualClock | None:
    """A virtual clock for a job whose trials are simulated, None (real time) for any other.

    It starts now; a resumed job's (whose spec is read from the store) starts where its
    last run's virtual time stopped, if that is later, so its times never run backwards."""
    start, last = time.time(), 0.0
    if spec is None and resume is not None:
        store = SQLiteStore(store_path)
        try:
            spec = store.get_job(resume).spec
            stamps = [t for trial in store.list_trials(resume) for t in (trial.started_at, trial.ended_at) if t]
            last = max(stamps, default=0.0)
        except NotFoundError:
            return None  # reopen says so
        finally:
            store.close()
    simulated = spec is not None and spec.trial is not None and spec.trial.backend == "simulated"
    return VirtualClock(max(start, last)) if simulated else None


@contextlib.contextmanager
def job_lock(store_path: Path, job_id: str) -> Iterator[None]:
    """Hold the job for this process, so ``run --resume`` of a job that another process is
    still running is refused instead of starting a second execution of it. An advisory
    ``flock`` on a file beside the store (released however the process ends); POSIX only."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    path = Path(store_path).parent / "locks" / f"{hashlib.sha256(job_id.encode()).hexdigest()[:24]}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobHeldError(f"job {job_id!r} is running in another hyperstep process") from None
        yield


class JobHeldError(HyperstepError):
    """Another process holds the job (``job_lock``)."""


def stop_local(store: SQLiteStore, store_path: Path, job_id: str, runs_dir: Path = Path("runs")) -> Job:
    """``hyperstep stop`` of a local job, from any shell. The process that runs it is told
    by a mark, stopping: it sees the change (``run_local`` polls its job) and stops the job
    as a stop on AWS does: no new trial, the running ones stopped, then the job closes,
    stopped by the user. A job no process runs (its run was killed outright: SIGKILL, the
    OOM killer) is closed here as Ctrl-C would have closed it: the trial processes it left
    are killed (found by their folders too, under ``runs_dir``: the run's ``--out``), its
    active trials recorded stopped; ``run --resume`` can carry it on."""
    try:
        with job_lock(store_path, job_id):
            job = store.get_job(job_id)
            if job.status not in (JobStatus.RUNNING, JobStatus.STOPPING):
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not running")
            folder = Path(store_path).parent
            with (
                (folder / "handlers.log").open("a") as handlers_log,
                LocalRuntime(
                    store_path,
                    runs_dir.resolve(),  # the killed run's --out: its trials' folders
                    base_env={},
                    handler_log=HandlerLog(handlers_log),
                    clock=run_clock(None, store_path, job_id),  # a simulated job's virtual time
                ) as runtime,
            ):
                kill_leftovers(runtime, job)
                end_interrupted(runtime, job_id, died_earlier=True)
                return runtime.store.set_job_status(
                    job_id, JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail="stopped by the user"
                )
    except JobHeldError:  # ``run`` runs it: tell that process
        return store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))


def _changes(job: Job) -> tuple[JobStatus, Budget]:
    """What another shell changes on a running job: its status (``hyperstep stop``) and budget (``update``)."""
    return job.status, job.spec.budget


def _wake_on_change(runtime: LocalRuntime, job: Job, seen: tuple[JobStatus, Budget]) -> tuple[JobStatus, Budget]:
    """Wake the job's waiting execution when its status or budget (``job`` as this poll
    read it) changed since ``seen``: another process's ``hyperstep stop`` or ``update``
    cannot reach this one's executor, so its round plans with the change at once instead
    of at the next trial's end."""
    now = _changes(job)
    if now != seen:
        runtime.service.wake(job.id)
    return now


def _ended(runtime: LocalRuntime, job: Job) -> bool:
    """Whether the job's execution has ended (``job`` as this poll read it). The execution
    can change under us: a long job hands itself over to a new one (Plan.handoff), which
    is recorded on the job before the old one ends, so an ended execution is the last only
    if the job, read again once it has ended, still names it."""
    execution_id = job.execution_id or ""
    return runtime.executor.finished(execution_id) and runtime.store.get_job(job.id).execution_id == execution_id


def finish_abandoned(runtime: LocalRuntime, job_id: str) -> None:
    """Do what Finish Job would have done for an execution that ended outside it, should
    its status-change event not have done so (the bus dropped it after its retries)."""
    execution = runtime.executor.execution(runtime.store.get_job(job_id).execution_id or "")
    runtime.service.close_ended_execution(ExecutionStatusChange.model_validate(execution.status_change()))


def reopen(runtime: LocalRuntime, job_id: str) -> Job:
    """Make an interrupted job runnable again and start a new execution for it."""
    job = runtime.store.get_job(job_id)
    if job.status is JobStatus.COMPLETED:
        raise HyperstepError(f"--resume: job {job_id!r} has already completed")
    kill_leftovers(runtime, job)
    end_interrupted(runtime, job_id, died_earlier=True)  # a process that died with the last run
    runtime.store.set_job_status(job_id, JobStatus.RUNNING, reopen=True)  # not stopped_by_user while it runs
    return runtime.service.start_execution(job_id)


def kill_leftovers(runtime: LocalRuntime, job: Job) -> None:
    """Kill the processes of the job's active local trials that outlived the run that
    started them (its hyperstep was killed outright), before they are recorded stopped;
    collect the result of each that ended by itself meanwhile instead (its launcher wrote
    its exit status into its folder under this run's runs folder: ``ended_result``), so a
    training that finished while no hyperstep watched it is not lost."""
    if isinstance(job.spec.trial, LocalTrial):
        for trial in runtime.store.list_trials(job.id):
            if not trial.state.active:
                continue
            folder = runtime.backend.trial_dir(job, trial)
            if trial.backend_ref is not None:
                runtime.backend.kill_leftover(job.id, trial.id, trial.backend_ref, folder)
            elif not kill_detached(job.id, trial.id, folder) and (folder / HELD_FILE).exists():
                # launched (its folder written), but the run died before it recorded the pid: found by
                # its environment, which only /proc shows
                log.warning(
                    "no /proc on this system: trial %s of job %s was launched but its pid not recorded; "
                    "its processes, if any, are not looked for and run on",
                    trial.id,
                    job.id,
                )
            ended = runtime.backend.ended_result(job, trial, trial.started_at or trial.created_at)
            if ended is not None:
                runtime.service.collect(ended)


def interrupt(runtime: LocalRuntime, job_id: str, by: str = "Ctrl-C") -> None:
    """Stop everything for Ctrl-C (or the signal ``by`` names) and leave the store consistent."""
    runtime.store.set_job_status(job_id, JobStatus.STOPPING)
    runtime.executor.stop_all(error="Interrupted", cause="stopped by the user")
    runtime.stop_trials()
    end_interrupted(runtime, job_id)
    runtime.store.set_job_status(
        job_id, JobStatus.STOPPED, stop_reason=StopReason.STOPPED_BY_USER, stop_detail=f"interrupted ({by})"
    )


def end_interrupted(runtime: LocalRuntime, job_id: str, died_earlier: bool = False) -> None:
    """End the job's active trials whose result never came (the drain gave up, or, with
    ``died_earlier``, the process died with the last run) as an interrupted "stopped" end is
    collected: stopped, giving their budget back, unless their training was over (their
    curve reached ``max_resource``), which completes them with their value
    (``TuningService.collect``). A trial of the last run is charged up to its last report,
    not up to now: nothing says how long its process outlived it. The ends recorded count in
    ``Trials*`` as a function's do, in ``handlers.log`` (``hyperstep.recorded_ends``).

    A job its killed run left running is marked stopping first, as Ctrl-C marks it: these
    stops are the user's, so a trial with a curve in a job that stops early is not recorded
    pruned (``TuningService.collect``'s rule while the job runs), keeping its unit of budget
    and said ``stopped early by asha``, where ``run --resume`` and ``hyperstep stop`` record
    it stopped."""
    if runtime.store.get_job(job_id).status is JobStatus.RUNNING:
        runtime.store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))
    with runtime.handler_log.invocation("interrupted") as telemetry, recording() as ends:
        for trial in runtime.store.list_trials(job_id):
            if trial.state.active:
                usage = _until_last_report(trial) if died_earlier else None  # None: up to now
                end = TrialResult(job_id=job_id, trial_id=trial.id, state="stopped", error="interrupted", usage=usage)
                runtime.service.collect(end)
        if ends:
            count_ends(telemetry.metrics, runtime.store.get_job(job_id), ends)


def _until_last_report(trial: Trial) -> Usage | None:
    """The trial's time from its start to its newest report (None if it never started)."""
    if trial.started_at is None:
        return None
    last = max((r.at for r in trial.reports.values() if r.at is not None), default=trial.started_at)
    return Usage(seconds=max(last - trial.started_at, 0.0), platform="local")


def _report(runtime: LocalRuntime, job: Job, on_progress: ProgressCallback | None, final: bool = False) -> None:
    """Show the job (as the caller read it) and its trials."""
    if on_progress is not None:
        trials: list[Trial] = runtime.store.list_trials(job.id)
        on_progress(job, trials, final=final)
