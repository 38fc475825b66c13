"""Local backend: each trial is a process, run with SageMaker script-mode conventions.

The trial's directory holds ``hyperparameters.json`` and ``train.log`` (stdout and
stderr). The command gets the hyperparameters as ``--name value`` arguments (strings as
they are, other values as JSON, exactly as SageMaker and Batch trials get them) and the
``SM_*`` variables a script-mode script reads, so the script that tunes here tunes on
SageMaker unchanged. Metrics are read from the log with the spec's regexes; the last
match wins, as in SageMaker's ``FinalMetricDataList`` (``backends.logs.read_metrics``, over the
lines the step reports were read from: ``backends.local.tail.log_lines``).
So a local result's metrics are final: ``hyperstep.report`` prints every report, and the
last one printed is the final report of a script that ends with one. Nothing reaches the
trial after its end (``late_reports`` is False): a result without the objective fails.
When a process ends, its result goes to ``on_result`` (the in-process bus's publish) and
stays for ``describe``. While it runs, each metric line its log gains goes to
``on_metric`` as a step report (``backends.local.tail``), checked every ``TAIL_SECONDS``:
what early stopping judges, so a trial told to stop is killed within about one step.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from hyperstep.backends.base import JobView, TrialBackend, TrialView
from hyperstep.backends.local.block import LocalTrial
from hyperstep.backends.local.tail import LogTail, log_lines
from hyperstep.backends.logs import read_metrics, unread_objective
from hyperstep.backends.naming import ENV_JOB_ID, ENV_TRIAL_ID, script_arguments, trial_environment
from hyperstep.errors import LaunchError
from hyperstep.messages import TrialMetric, TrialResult, Usage
from hyperstep.secrets import VariableSecrets, resolved_environment

log = logging.getLogger(__name__)

TAIL_SECONDS = 0.1
"""How often a running trial's log is read for new metric lines."""
ENV_TRIAL_DIR = "HYPERSTEP_TRIAL_DIR"
"""The trial's own folder, in its environment (unique to it, as its ids may not be: two
stores can hold a job of one id)."""
EXIT_FILE = "exit_status"
"""The file in a trial's folder that its launcher writes the command's exit status to (a
negative one: the signal that killed it), for a run that did not see the end itself."""
LAUNCHER = """
import fcntl, os, sys
command = sys.argv[3:]
held = os.open(sys.argv[2], os.O_RDONLY)
fcntl.flock(held, fcntl.LOCK_EX)
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cannot start {command[0]!r}: {exc.strerror}", file=sys.stderr, flush=True)
        os._exit(127)
code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
with open(sys.argv[1] + ".tmp", "w") as out:
    out.write(str(code))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
if code < 0:
    import signal
    if -code != signal.SIGKILL:
        signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""
"""Runs a trial's command and writes its exit status (``EXIT_FILE``) when it ends, then ends
as it did: the process the backend starts (forking itself: importing ``subprocess`` alone
took 50 ms a trial). It leads the trial's process group, so every kill
of the trial kills it first and no status is written; but when hyperstep itself is killed
outright (SIGKILL, the OOM killer) a trial that goes on and ends by itself leaves its status,
and ``ended_result`` reads the result a resumed run would otherwise record as stopped. While
it runs it holds a lock on the trial's ``HELD_FILE`` (its command does not inherit it): where
no ``/proc`` shows whose a process group is (macOS), a held lock says the group it leads is
still the trial's (``kill_leftover``)."""
HELD_FILE = "hyperparameters.json"
"""The file in a trial's folder its launcher holds a lock on for as long as it runs."""
LAST_BYTES = 1 << 16
"""How much of a log's end is read for its last line (a failed trial's reason)."""


def last_line(log: Path) -> str:
    """The last line of the log that is not blank, from its last ``LAST_BYTES`` bytes."""
    with log.open("rb") as handle:
        handle.seek(max(handle.seek(0, os.SEEK_END) - LAST_BYTES, 0))
        text = handle.read().decode(errors="replace")
    return next((line for line in reversed(text.splitlines()) if line.strip()), "")


def failure_reason(code: int, log: Path) -> str:
    """Why a process that ended with ``code`` (not 0) failed: its exit code, or the signal
    that killed it (``Popen``'s negative code), then its log's last line, or that it
    printed nothing (an empty tail said nothing of what happened)."""
    if code < 0:
        try:
            what = f"killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:  # a real-time signal has no name
            what = f"killed by signal {-code}"
    else:
        what = f"exit code {code}"
    line = last_line(log)[-300:]
    return f"{what}: {line}" if line else f"{what}, printing nothing on stdout or stderr"


def launcher(directory: Path) -> list[str]:
    """The ``LAUNCHER`` command of the trial whose folder is ``directory``: its command follows it."""
    return [sys.executable, "-I", "-S", "-c", LAUNCHER, str(directory / EXIT_FILE), str(directory / HELD_FILE)]


def resolve_command(command: list[str]) -> list[str]:
    """``python`` / ``python3`` as the program means the interpreter running hyperstep,
    so a script sees the packages of hyperstep's own environment."""
    if command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


class LocalProcessBackend(TrialBackend):
    def __init__(
        self,
        runs_dir: Path,
        on_result: Callable[[TrialResult], None],
        base_env: Mapping[str, str] | None = None,
        on_metric: Callable[[TrialMetric], None] | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.on_result = on_result
        self.on_metric = on_metric
        self.base_env = dict(base_env or {})
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._stopping: set[tuple[str, str]] = set()
        self._timed_out: set[tuple[str, str]] = set()
        """Trials whose deadline killed the process before any stop was asked (``_wait``)."""
        self._refs: dict[tuple[str, str], str] = {}
        """The process id of every trial this backend started."""
        self._results: dict[tuple[str, str], TrialResult] = {}
        """Results of the processes that have ended, for ``describe`` (the reaper)."""
        self._launching: dict[tuple[str, str], threading.Event] = {}
        """Trials whose process is being started, each set once it is registered or its
        start failed: a concurrent launch of one waits for it instead of starting a copy."""
        self._stops = 0
        """How many times ``stop_all`` has run: a launch it lands in kills its own process."""
        self._lock = threading.Lock()
        self._said_no_proc = False
        """Whether the log has said that detached processes are not looked for (no ``/proc``)."""

    def trial_dir(self, job: JobView, trial: TrialView) -> Path:
        return self.runs_dir / job.id / trial.id

    def launch(self, job: JobView, trial: TrialView) -> str:
        block = job.spec.trial
        assert isinstance(block, LocalTrial)
        key = (job.id, trial.id)
        while True:  # the copy check and the reservation are one step: one process per trial
            with self._lock:
                if key in self._refs:  # running or ended: never a second copy
                    return self._refs[key]
                launching = self._launching.get(key)
                if launching is None:
                    launching = self._launching[key] = threading.Event()
                    stops = self._stops
                    break
            launching.wait()  # a concurrent launch: then its process, or a retry if its start failed
        try:
            proc = self._start(job, trial, block)
        except BaseException:
            with self._lock:
                del self._launching[key]
                self._stopping.discard(key)  # a stop that landed meanwhile: nothing left to stop
            launching.set()
            raise
        with self._lock:
            self._procs[key] = proc
            self._refs[key] = str(proc.pid)
            del self._launching[key]
            if self._stops != stops:  # Ctrl-C landed during the launch: it missed this process
                self._stopping.add(key)
            stopped = key in self._stopping  # or ``stop`` of this trial did
        launching.set()
        if stopped:
            self._kill(proc)
        threading.Thread(target=self._watch, args=(job, trial, proc), daemon=True).start()
        return str(proc.pid)

    def _start(self, job: JobView, trial: TrialView, block: LocalTrial) -> subprocess.Popen[bytes]:
        """Write the trial's folder and start its process (LaunchError if it cannot)."""
        user_env = resolved_environment(block.env, VariableSecrets(self.base_env))  # LaunchError if one is unset
        directory = self.trial_dir(job, trial)
        try:  # a retry cannot mend an unwritable --out: fail the trial, say why
            (directory / "model").mkdir(parents=True, exist_ok=True)
            (directory / "output").mkdir(exist_ok=True)
            (directory / EXIT_FILE).unlink(missing_ok=True)  # an earlier launch's, read as this one's end
            (directory / "hyperparameters.json").write_text(json.dumps(trial.params, indent=2))
            log_file = (directory / "train.log").open("wb")
        except OSError as exc:
            raise LaunchError(f"cannot create the trial folder {directory}: {exc.strerror or exc}") from None
        variables = trial_environment(job.id, trial.id, trial.params, user_env, event_bus=None)  # as on AWS
        env = {**self.base_env, **variables, **self._script_mode_env(trial, directory)}
        try:
            return subprocess.Popen(
                [
                    *launcher(directory),
                    *resolve_command(block.command),
                    *script_arguments(trial.params),
                ],
                cwd=block.workdir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {block.command[0]!r}: {exc.strerror or exc}") from None
        finally:
            log_file.close()

    @staticmethod
    def _script_mode_env(trial: TrialView, directory: Path) -> dict[str, str]:
        return {
            "SM_HPS": json.dumps(trial.params),
            "SM_MODEL_DIR": str(directory / "model"),
            "SM_OUTPUT_DATA_DIR": str(directory / "output"),
            ENV_TRIAL_DIR: str(directory),
        }

    def _watch(self, job: JobView, trial: TrialView, proc: subprocess.Popen[bytes]) -> None:
        block = job.spec.trial
        assert isinstance(block, LocalTrial)
        key = (job.id, trial.id)
        began, began_at = time.monotonic(), time.time()
        code = self._wait(job, trial, proc, block.timeout_seconds)
        self._kill(proc)  # what it left running in its group ends with it, as all in a container ends with it
        if not kill_detached(job.id, trial.id, self.trial_dir(job, trial)) and not self._said_no_proc:
            self._said_no_proc = True  # and what left it (setsid: a daemon), where ``/proc`` shows it
            log.warning(
                "no /proc on this system: processes a local trial detaches into a session of its own "
                "(setsid, a daemon) are not looked for and run on after it ends (its process group is killed)"
            )
        usage = Usage(seconds=self._ran_for(job, trial, time.monotonic() - began, began_at), platform="local")
        with self._lock:
            stopped = key in self._stopping and key not in self._timed_out
        try:
            result = self._result(job, trial, code, stopped)
        except Exception as exc:  # without a result the trial would stay running forever
            error = f"cannot read the trial's result: {type(exc).__name__}: {exc}"
            result = TrialResult(job_id=job.id, trial_id=trial.id, state="failed", error=error)
        result = result.model_copy(update={"usage": usage})
        with self._lock:  # one step: ``describe`` sees the process running or its result, never neither
            self._results[key] = result
            self._procs.pop(key, None)
            self._stopping.discard(key)
            self._timed_out.discard(key)
        self.on_result(result)

    def _ran_for(self, job: JobView, trial: TrialView, watched: float, began_at: float) -> float:
        """How long the trial ran: to its launcher's ``EXIT_FILE`` (the process's end) when it
        wrote one, not to the end of the read of its log, which a script that printed gigabytes
        outlasts by minutes (what ``cost_per_hour`` prices); else the ``watched`` seconds."""
        ended = self._exit_time(job, trial)
        return watched if ended is None else min(watched, max(ended - began_at, 0.0))

    def _exit_time(self, job: JobView, trial: TrialView) -> float | None:
        """When the trial's process ended, as its launcher's ``EXIT_FILE`` says (None without one)."""
        try:
            return (self.trial_dir(job, trial) / EXIT_FILE).stat().st_mtime
        except OSError:
            return None

    def _wait(self, job: JobView, trial: TrialView, proc: subprocess.Popen[bytes], timeout: float) -> int | None:
        """Wait for the process (None: killed after ``timeout`` seconds, noted in
        ``_timed_out`` unless a stop was asked first), passing the metric lines its log gains
        to ``on_metric`` meanwhile."""
        block = job.spec.trial
        assert isinstance(block, LocalTrial)
        tail = LogTail(self.trial_dir(job, trial) / "train.log", block.metric_definitions)
        deadline, deadline_at = time.monotonic() + timeout, time.time() + timeout
        code: int | None = None
        while True:
            try:
                code = proc.wait(timeout=min(TAIL_SECONDS, max(deadline - time.monotonic(), 0.0)))
                break
            except subprocess.TimeoutExpired:
                self._pass_on(job, trial, tail)
                code = proc.poll()  # it may have ended while its log was read: by its deadline, its own end
                late = code is not None and (self._exit_time(job, trial) or 0.0) > deadline_at
                if code is not None and not late:
                    break
                if late or time.monotonic() >= deadline:
                    code = None  # past it (ended after it, unwatched, or still running): timed out
                    with self._lock:  # as SageMaker's runtime limit (MaxRuntimeExceeded): the first end decides
                        if (job.id, trial.id) not in self._stopping:  # a stop asked after it, a prune on
                            self._timed_out.add((job.id, trial.id))  # this tick's step, did not end it
                    self._kill(proc)
                    break
        self._pass_on(job, trial, tail, ended=True)
        return code

    def _pass_on(self, job: JobView, trial: TrialView, tail: LogTail, ended: bool = False) -> None:
        if self.on_metric is None:
            return
        for name, step, value in tail.curve_reports(ended):  # finite only: TrialMetric refuses loss=nan
            self.on_metric(
                TrialMetric(job_id=job.id, trial_id=trial.id, metrics={name: value}, step=step, at=time.time())
            )

    def _result(self, job: JobView, trial: TrialView, code: int | None, stopped: bool) -> TrialResult:
        block = job.spec.trial
        assert isinstance(block, LocalTrial)
        log = self.trial_dir(job, trial) / "train.log"
        metrics, captured = read_metrics(log_lines(log), block.metric_definitions)
        base = {"job_id": job.id, "trial_id": trial.id, "metrics": metrics}
        if stopped and code in (None, -signal.SIGKILL):  # our kill's (``_kill``); any other code is its own end
            return TrialResult(**base, state="stopped", error="stopped")
        if code is None:
            return TrialResult(**base, state="failed", error=f"timed out after {block.timeout_seconds} s")
        if code != 0:
            return TrialResult(**base, state="failed", error=failure_reason(code, log))
        unread = unread_objective((o.metric for o in job.spec.goals), metrics, captured)
        if unread is not None:
            return TrialResult(**base, state="failed", error=unread)
        return TrialResult(**base, state="completed")

    def ended_result(self, job: JobView, trial: TrialView, started_at: float) -> TrialResult | None:
        """The result of a trial an earlier run started whose command ended by itself after
        that run died (its ``EXIT_FILE`` written), read as its own run would have read it;
        None without one (still running, killed, or started elsewhere)."""
        exit_file = self.trial_dir(job, trial) / EXIT_FILE
        try:
            code = int(exit_file.read_text())
            ended = exit_file.stat().st_mtime
        except (OSError, ValueError):
            return None
        result = self._result(job, trial, code, stopped=False)
        usage = Usage(seconds=max(ended - started_at, 0.0), platform="local")
        return result.model_copy(update={"usage": usage})

    def stop(self, job: JobView, trial: TrialView) -> None:
        key = (job.id, trial.id)
        with self._lock:
            proc = self._procs.get(key)
            if proc is None:
                if key in self._launching:  # its launch kills the process once registered
                    self._stopping.add(key)
                return
            self._stopping.add(key)
        self._kill(proc)

    def stop_all(self) -> None:
        """Kill every running trial (Ctrl-C), and every trial being launched meanwhile once
        its process has started; each still reports itself stopped."""
        with self._lock:
            self._stops += 1
            running = list(self._procs.items())
            self._stopping.update(key for key, _ in running)
        for _, proc in running:
            self._kill(proc)

    def running(self) -> int:
        """Trials whose process runs or is being started (a launch in progress is counted, so
        a drain after ``stop_all`` waits for the result of the process that launch kills)."""
        with self._lock:
            return len(self._procs) + len(self._launching)

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    @staticmethod
    def kill_leftover(job_id: str, trial_id: str, ref: str, directory: Path) -> bool:
        """Kill the process group that a trial of an earlier run of its job left running
        when that run's hyperstep was killed outright (SIGKILL, the OOM killer): the group its
        process led (``ref``, its pid, is the group's id), whether that process still runs or
        only its children do. The group is known as the trial's by the environment it was
        started with, carried by a member: Linux hands out no pid while a group of that id
        lives, so a group of id ``ref`` holding a process of the trial's identity is the
        trial's own, and a pid reused since by another process is left alone. Without
        ``/proc`` (macOS) the group is killed while its leader, the trial's launcher, runs (it
        holds its lock on ``HELD_FILE`` in the trial's ``directory``, so the group is the trial's);
        once the launcher has ended, what it left in its group is not looked for (the log says
        so). True if it was killed."""
        try:
            members = _group_members(int(ref))
        except ValueError:  # not a pid
            return False
        except OSError:  # no /proc
            return _kill_held_group(int(ref), directory / HELD_FILE)
        identity = _identity(job_id, trial_id)
        if not any(identity <= _environ(pid) for pid in members):  # gone, another's, not ours to read
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(ref), signal.SIGKILL)
        _wait_ended(members)
        return True

    def describe(self, job: JobView, trial: TrialView) -> TrialResult | None:
        """None while the process runs or is being launched; the result it ended with (which the reaper records
        when its event was lost); failed for a process this backend never ran."""
        key = (job.id, trial.id)
        with self._lock:
            if key in self._procs or key in self._launching:
                return None
            if key in self._results:
                return self._results[key]
        return TrialResult(job_id=job.id, trial_id=trial.id, state="failed", error="process lost (hyperstep restarted)")


LEFTOVER_EXIT_SECONDS = 5.0
"""How long ``kill_leftover`` waits for a killed process to end (SIGKILL is delivered at the
process's next scheduling, which a loaded machine can put off)."""


def kill_detached(job_id: str, trial_id: str, directory: Path) -> bool:
    """Kill the processes an ended trial left in sessions of their own (``setsid``, a daemon),
    out of reach of its group's kill: found by the environment they were started with, which
    every descendant inherits (the trial's ids and its own ``directory``: another store's, or
    another test run's, trial of the same ids is not this one), and waited for
    (``_wait_ended``); True. Needs ``/proc`` (Linux); elsewhere they run on: False then."""
    identity = _identity(job_id, trial_id) | {f"{ENV_TRIAL_DIR}={directory}".encode()}
    try:
        detached = [pid for pid in _processes() if identity <= _environ(pid)]
    except OSError:  # no /proc
        return False
    for pid in detached:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    _wait_ended(detached)
    return True


def _kill_held_group(pgid: int, held: Path) -> bool:
    """``kill_leftover`` without ``/proc``: kill group ``pgid`` if its leader, the trial's
    launcher, still holds its lock on ``held`` (a group's id is not handed out again while
    the group lives), and wait until the group is gone (at most ``LEFTOVER_EXIT_SECONDS``)."""
    if not _lock_held(held):
        log.warning(
            "no /proc on this system: the launcher of the trial in %s has ended; processes it left "
            "in its process group %d, if any, are not looked for and run on",
            held.parent,
            pgid,
        )
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + LEFTOVER_EXIT_SECONDS
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):  # gone (or, after all, not ours)
            break
        time.sleep(0.01)
    return True


def _lock_held(path: Path) -> bool:
    """Whether another process holds a lock on ``path`` (``flock``; False when it is missing)."""
    import fcntl  # POSIX only: the CLI (validate, submit) imports this module on Windows too

    try:
        handle = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)  # and the lock with it
    return False


def _identity(job_id: str, trial_id: str) -> set[bytes]:
    """The environment entries that mark a process as the trial's (``trial_environment``)."""
    return {f"{ENV_JOB_ID}={job_id}".encode(), f"{ENV_TRIAL_ID}={trial_id}".encode()}


def _processes() -> list[int]:
    """Every process's id, from ``/proc`` (OSError without it)."""
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command's name: state, ppid, pgrp, ...
    (OSError once the process is gone)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _group_members(pgid: int) -> list[int]:
    """The processes of group ``pgid``, from ``/proc`` (OSError without it)."""
    members = []
    for pid in _processes():
        with contextlib.suppress(OSError):  # ended meanwhile
            if _stat(pid)[2] == str(pgid):
                members.append(pid)
    return members


def _environ(pid: int) -> set[bytes]:
    """The environment ``pid`` was started with (empty when gone or not ours to read)."""
    try:
        return set(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return set()


def _wait_ended(pids: list[int]) -> None:
    """Until every one of ``pids`` has ended (gone, or a zombie: its parent, dead, never
    reaps it), at most ``LEFTOVER_EXIT_SECONDS``: so a trial recorded stopped has no process
    left running."""
    deadline = time.monotonic() + LEFTOVER_EXIT_SECONDS
    for pid in pids:
        while time.monotonic() < deadline:
            try:
                if _stat(pid)[0] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.01)
