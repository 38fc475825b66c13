"""The local process backend: metrics read from the log, and a result for every trial."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from hyperstep.backends.local import adapter as local
from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.logs import parse_metrics
from hyperstep.messages import TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from hyperstep.spec_base import MetricDefinition
from tests.conftest import spec_document


def test_an_optional_group_that_matched_nothing_is_no_value() -> None:
    definitions = [MetricDefinition(name="loss", regex=r"loss=([0-9.]+)?")]
    assert parse_metrics("loss=0.5\nloss=abc\n", definitions) == {"loss": 0.5}


def test_a_trial_whose_result_cannot_be_read_still_ends_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever goes wrong reading the result, the trial ends: a watcher thread that died
    without a result left the trial running and the job waiting forever."""

    def broken(lines: Iterable[str], definitions: list[MetricDefinition]) -> dict[str, float]:
        raise RuntimeError("cannot parse")

    monkeypatch.setattr(local, "read_metrics", broken)
    job, trial, backend, results, done = one_trial(tmp_path, ["true"])
    backend.launch(job, trial)
    assert done.wait(10)
    (result,) = results
    assert result.state == "failed" and result.error == "cannot read the trial's result: RuntimeError: cannot parse"


def test_an_ended_process_is_described_by_its_result_and_never_started_twice(tmp_path: Path) -> None:
    """The reaper reads a lost result through ``describe``; a repeated launch of the trial
    (a retried Launch) returns the first process instead of starting a second one."""
    (tmp_path / "count.py").write_text("open('launches', 'a').write('x')\nprint('loss=0.25')\n")
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "count.py"])
    ref = backend.launch(job, trial)
    assert done.wait(10)
    assert backend.describe(job, trial) == results[0] and results[0].metrics == {"loss": 0.25}
    assert backend.launch(job, trial) == ref
    assert (tmp_path / "launches").read_text() == "x"
    other = Trial(job_id="job", id="t0002", number=2, params=trial.params)
    assert backend.describe(job, other) == TrialResult(
        job_id="job", trial_id="t0002", state="failed", error="process lost (hyperstep restarted)"
    )


def one_trial(
    tmp_path: Path, command: list[str], **block: Any
) -> tuple[Job, Trial, LocalProcessBackend, list[TrialResult], threading.Event]:
    """A job running ``command`` in ``tmp_path`` (other trial ``block`` fields as given),
    its first trial, and a backend whose results go to the list (the event set at each)."""
    document = spec_document()
    document["trial"] = {**document["trial"], "command": command, "workdir": str(tmp_path), **block}
    job = Job(id="job", spec=parse_spec(document))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"})
    results: list[TrialResult] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()))
    return job, trial, backend, results, done


@pytest.mark.parametrize("stopper", ["stop_all", "stop"])
@pytest.mark.parametrize("lands", ["before the spawn", "after the spawn"])
def test_a_trial_stopped_mid_launch_is_killed_and_ends_stopped_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lands: str, stopper: str
) -> None:
    """Ctrl-C's ``stop_all``, or ``stop`` of the trial, landing while it is being launched
    (past the check for a copy, its process not yet registered) kills that process too:
    ``stop_all`` marked it stopped and left it running, ``stop`` found no process and did
    nothing. The interleaving is forced by a ``Popen`` that stops just before or just
    after it starts the process. The trial ends stopped, once, and stopping it again is a
    no-op."""
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "-c", "import time; time.sleep(60)"])

    def stop() -> None:
        backend.stop_all() if stopper == "stop_all" else backend.stop(job, trial)

    class InterruptedPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if lands == "before the spawn":
                stop()
            super().__init__(*args, **kwargs)
            if lands == "after the spawn":
                stop()

    monkeypatch.setattr(subprocess, "Popen", InterruptedPopen)
    try:
        ref = backend.launch(job, trial)
        monkeypatch.undo()
        assert done.wait(10), "the trial's process was left running"
    finally:
        backend.stop_all()  # the process the old code left behind
    backend.stop(job, trial)
    backend.stop_all()
    assert backend.launch(job, trial) == ref
    assert [(r.state, r.error) for r in results] == [("stopped", "stopped")]
    assert backend.describe(job, trial) == results[0] and backend.running() == 0


@pytest.mark.parametrize("asked", ["before the spawn", "after the spawn"])
def test_a_trial_mid_launch_is_described_as_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, asked: str
) -> None:
    """``describe`` of a trial whose launch is in progress says it runs (None), not
    "process lost": the reaper would have failed a trial that was starting; and ``running``
    counts it, so Ctrl-C's drain waits for its result. Both are asked from ``Popen``, just
    before or just after it starts the process."""
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "-c", "print('loss=0.5')"])
    described: list[TrialResult | None] = []
    counted: list[int] = []

    class AskingPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if asked == "before the spawn":
                described.append(backend.describe(job, trial))
                counted.append(backend.running())
            super().__init__(*args, **kwargs)
            if asked == "after the spawn":
                described.append(backend.describe(job, trial))
                counted.append(backend.running())

    monkeypatch.setattr(subprocess, "Popen", AskingPopen)
    backend.launch(job, trial)
    monkeypatch.undo()
    assert done.wait(10)
    assert described == [None] and counted == [1]
    assert [r.state for r in results] == ["completed"] and backend.describe(job, trial) == results[0]


@pytest.mark.parametrize("first_start", ["succeeds", "fails"])
def test_two_concurrent_launches_of_a_trial_start_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_start: str
) -> None:
    """A retried Launch arriving while the first is still starting the process gets that
    process: the copy check and the registration were two locked steps, so both calls
    started one, the second replaced the first in the books and both reported. The first
    call's ``Popen`` holds until the second launch has started its own process (the old
    code) or had time to reach the wait for the first (3 s: a bound on
    reaching it, not a check of speed). When the first start fails, the waiting launch
    starts the process itself."""
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "-c", "print('loss=0.5')"])
    started: list[subprocess.Popen[bytes]] = []
    first_entered, second_started = threading.Event(), threading.Event()
    refs: dict[str, str] = {}
    errors: dict[str, BaseException] = {}

    class HeldPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            first = not first_entered.is_set()
            if first:
                first_entered.set()
                second_started.wait(3)
                if first_start == "fails":
                    raise FileNotFoundError(2, "No such file or directory")
            super().__init__(*args, **kwargs)
            started.append(self)
            if not first:
                second_started.set()

    def launch(name: str) -> None:
        try:
            refs[name] = backend.launch(job, trial)
        except BaseException as exc:
            errors[name] = exc

    monkeypatch.setattr(subprocess, "Popen", HeldPopen)
    first = threading.Thread(target=launch, args=("first",))
    second = threading.Thread(target=launch, args=("second",))
    first.start()
    assert first_entered.wait(10)
    second.start()
    first.join(20)
    second.join(20)
    monkeypatch.undo()
    for proc in started:
        proc.wait(10)
    assert done.wait(10)
    assert len(started) == 1, "a second process was started for the trial"
    if first_start == "fails":
        assert list(errors) == ["first"] and "cannot start" in str(errors["first"])
        assert refs == {"second": str(started[0].pid)}
    else:
        assert not errors and refs == {"first": str(started[0].pid), "second": str(started[0].pid)}
    assert [(r.state, r.metrics) for r in results] == [("completed", {"loss": 0.5})]
    assert backend.describe(job, trial) == results[0] and backend.launch(job, trial) == str(started[0].pid)


def test_a_process_that_ended_by_itself_before_a_stop_keeps_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C's ``stop_all`` lands after the trial's process exited 0 but before its watcher
    read its result: the kill found nothing to kill, and the training ran to its end, so
    the result is completed with its metrics (old code: stopped, as if killed)."""
    job, trial, backend, results, done = one_trial(tmp_path, ["python", "-c", "print('loss=0.125')"])
    waited = backend._wait

    def wait_then_interrupt(*args: Any) -> int | None:
        code = waited(*args)
        backend.stop_all()
        return code

    monkeypatch.setattr(backend, "_wait", wait_then_interrupt)
    backend.launch(job, trial)
    assert done.wait(10)
    assert [(r.state, r.metrics) for r in results] == [("completed", {"loss": 0.125})]


def test_a_trial_its_timeout_killed_before_a_stop_arrived_ends_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log tick that reaches ``timeout_seconds`` also passes on a step whose prune
    decision comes back over the bus (a thread of its own) after the deadline's kill. On
    SageMaker the runtime limit ends such a job first: ``Stopped`` with SecondaryStatus
    ``MaxRuntimeExceeded`` ("The job stopped because it exceeded the maximum allowed
    runtime", DescribeTrainingJob reference), which fails the trial (``SPOT_OR_RUNTIME_LIMITS``),
    the prune's StopTrainingJob landing too late. Locally the stop that came after the
    kill made it "stopped" (then pruned); it now ends as the deadline ended it. A stop that
    came before the deadline still ends it stopped (``test_a_process_that_failed_...``,
    our-kill)."""
    job, trial, backend, results, done = one_trial(tmp_path, ["sh", "-c", "echo loss=0.5; sleep 30"], timeout_seconds=1)
    kill = backend._kill
    kills: list[int] = []

    def killed_then_stopped(proc: Any) -> None:
        kill(proc)
        kills.append(proc.pid)
        if len(kills) == 1:  # the deadline's kill; the prune's stop arrives right after it
            backend.stop(job, trial)

    monkeypatch.setattr(backend, "_kill", killed_then_stopped)
    backend.launch(job, trial)
    assert done.wait(20)
    assert [(r.state, r.error) for r in results] == [("failed", "timed out after 1 s")]


def test_a_process_that_ended_while_its_log_was_read_keeps_its_own_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script that printed 2 GiB, then loss=0.1, and exited 0 in seconds: reading its log
    took minutes, the deadline passed meanwhile and the trial failed 'timed out' (406 s for a
    timeout_seconds of 300), though its process had ended by itself long before. A read of
    the log that outlasts the deadline stands for it here."""
    command = ["sh", "-c", "sleep 0.3; echo loss=0.1"]
    job, trial, backend, results, done = one_trial(tmp_path, command, timeout_seconds=1)
    pass_on = backend._pass_on

    def slow_read(*args: Any, **kwargs: Any) -> None:
        if not kwargs.get("ended"):
            time.sleep(3)  # the process ends and the deadline passes while the log is read
        pass_on(*args, **kwargs)

    monkeypatch.setattr(backend, "_pass_on", slow_read)
    backend.launch(job, trial)
    assert done.wait(20)
    assert [(r.state, r.error, r.metrics) for r in results] == [("completed", None, {"loss": 0.1})]
    usage = results[0].usage  # what cost_per_hour prices: the process's 0.3 s, not the read's 3 s
    assert usage is not None and 0.3 <= usage.seconds < 2.5, usage


def test_a_process_that_ended_past_its_deadline_while_its_log_was_read_is_timed_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of the test above: the process ends by itself while its log is read,
    but after its deadline (1.5 s of a timeout_seconds of 1), which a read of the log kept
    hyperstep from enforcing. It ran past its limit: timed out, as it ends when nothing
    delays the kill (SageMaker's MaxRuntimeExceeded), not completed."""
    command = ["sh", "-c", "sleep 1.5; echo loss=0.1"]
    job, trial, backend, results, done = one_trial(tmp_path, command, timeout_seconds=1)
    pass_on = backend._pass_on

    def slow_read(*args: Any, **kwargs: Any) -> None:
        if not kwargs.get("ended"):
            time.sleep(3)  # the deadline passes, then the process ends, while the log is read
        pass_on(*args, **kwargs)

    monkeypatch.setattr(backend, "_pass_on", slow_read)
    backend.launch(job, trial)
    assert done.wait(20)
    assert [(r.state, r.error) for r in results] == [("failed", "timed out after 1 s")]


def test_a_trial_stopped_before_its_deadline_ends_stopped_though_the_deadline_killed_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stop asked before the deadline whose SIGKILL has not ended the process by then (a
    loaded machine delivers it late) meets the deadline's kill: the stop came first, so the
    trial ends stopped, not "timed out" (0188b9f's rule; rev-e20: its ``_stopping`` check
    was not pinned). The stop's kill is made to miss here."""
    job, trial, backend, results, done = one_trial(tmp_path, ["sh", "-c", "echo loss=0.5; sleep 30"], timeout_seconds=1)
    kill = backend._kill
    kills: list[int] = []

    def first_kill_missed(proc: Any) -> None:
        kills.append(proc.pid)
        if len(kills) > 1:  # the stop's kill is lost; the deadline's lands
            kill(proc)

    monkeypatch.setattr(backend, "_kill", first_kill_missed)
    backend.launch(job, trial)
    backend.stop(job, trial)
    assert done.wait(20)
    assert [(r.state, r.error) for r in results] == [("stopped", "stopped")]


@pytest.mark.parametrize(
    ("script", "state", "error"),
    [
        ("echo loss=0.5; echo out of memory >&2; exit 3", "failed", "exit code 3: out of memory"),
        ("echo loss=0.5; kill -SEGV $$", "failed", "killed by signal 11 (SIGSEGV): loss=0.5"),
        ("echo loss=0.5; sleep 30", "stopped", "stopped"),
    ],
    ids=["own-exit", "own-signal", "our-kill"],
)
def test_a_process_that_failed_by_itself_before_a_stop_ends_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, state: str, error: str
) -> None:
    """A stop (early stopping's, or Ctrl-C's) lands after the script failed on its own: its
    end is its own failure with its reason, not a stop (issue 9: an AMT user expects Failed
    with the platform's reason). Only our kill's SIGKILL (``_kill``) is a stop. (Before: any
    code but 0 after a stop was "stopped", the failure's reason lost.)"""
    job, trial, backend, results, done = one_trial(tmp_path, ["sh", "-c", script])
    if state == "failed":
        waited = backend._wait

        def wait_then_stop(*args: Any) -> int | None:
            code = waited(*args)
            backend.stop(job, trial)
            return code

        monkeypatch.setattr(backend, "_wait", wait_then_stop)
    backend.launch(job, trial)
    if state == "stopped":
        threading.Timer(0.5, backend.stop, (job, trial)).start()
    assert done.wait(20)
    assert [(r.state, r.error) for r in results] == [(state, error)]


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("exit 3", "exit code 3, printing nothing on stdout or stderr"),
        ("printf '\\n  \\n'; exit 4", "exit code 4, printing nothing on stdout or stderr"),
        ("echo epoch=1; echo; exit 5", "exit code 5: epoch=1"),
        ("echo boom >&2; exit 1", "exit code 1: boom"),
        ("kill -9 $$", "killed by signal 9 (SIGKILL), printing nothing on stdout or stderr"),
        ("echo loss=; kill -TERM $$", "killed by signal 15 (SIGTERM): loss="),
        ("kill -35 $$", "killed by signal 35, printing nothing on stdout or stderr"),  # SIGRTMIN+1: no name
    ],
)
def test_a_failed_trial_says_how_it_ended_even_when_it_printed_nothing(
    tmp_path: Path, script: str, reason: str
) -> None:
    """The reason names the exit code, or the signal that killed the process (Popen's
    negative code), and the log's last line; old code gave ``exit code 3: `` with an empty
    tail for a script that printed nothing, and ``exit code -9: `` for a killed one."""
    job, trial, backend, results, done = one_trial(tmp_path, ["sh", "-c", script])
    backend.launch(job, trial)
    assert done.wait(10)
    assert [(r.state, r.error) for r in results] == [("failed", reason)]


def test_a_program_that_cannot_be_started_fails_its_trial_saying_so(tmp_path: Path) -> None:
    """The trial's command runs under the launcher (``local.LAUNCHER``), so a program gone
    since the spec was checked (the CLI checks it at submit) is found missing by the
    launcher's exec, not by ``Popen``: the trial fails with the reason, not a traceback."""
    job, trial, backend, results, done = one_trial(tmp_path, [str(tmp_path / "gone-since")])
    backend.launch(job, trial)
    assert done.wait(10)
    reason = f"exit code 127: cannot start '{tmp_path / 'gone-since'}': No such file or directory"
    assert [(r.state, r.error) for r in results] == [("failed", reason)]
