"""The local process backend: metrics read from the log, and a result for every trial."""

from __future__ import annotations

import subprocess
import threading
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

    def broken(text: str, definitions: list[MetricDefinition]) -> dict[str, float]:
        raise RuntimeError("cannot parse")

    monkeypatch.setattr(local, "parse_metrics", broken)
    document = spec_document()
    document["trial"] = {**document["trial"], "command": ["true"], "workdir": str(tmp_path)}
    job = Job(id="job", spec=parse_spec(document))
    results: list[TrialResult] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()))
    backend.launch(job, Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"}))
    assert done.wait(10)
    (result,) = results
    assert result.state == "failed" and result.error == "cannot read the trial's result: RuntimeError: cannot parse"


def test_an_ended_process_is_described_by_its_result_and_never_started_twice(tmp_path: Path) -> None:
    """The reaper reads a lost result through ``describe``; a repeated launch of the trial
    (a retried Launch) returns the first process instead of starting a second one."""
    (tmp_path / "count.py").write_text("open('launches', 'a').write('x')\nprint('loss=0.25')\n")
    document = spec_document()
    document["trial"] = {**document["trial"], "command": ["python", "count.py"], "workdir": str(tmp_path)}
    job = Job(id="job", spec=parse_spec(document))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"})
    results: list[TrialResult] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()))
    ref = backend.launch(job, trial)
    assert done.wait(10)
    assert backend.describe(job, trial) == results[0] and results[0].metrics == {"loss": 0.25}
    assert backend.launch(job, trial) == ref
    assert (tmp_path / "launches").read_text() == "x"
    other = Trial(job_id="job", id="t0002", number=2, params=trial.params)
    assert backend.describe(job, other) == TrialResult(
        job_id="job", trial_id="t0002", state="failed", error="process lost (hyperstep restarted)"
    )


@pytest.mark.parametrize("lands", ["before the spawn", "after the spawn"])
def test_a_trial_mid_launch_when_every_trial_is_stopped_is_killed_and_ends_stopped_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lands: str
) -> None:
    """Ctrl-C's ``stop_all`` landing while a trial is being launched (past the check for a
    copy, its process not yet registered) kills that process too: it was marked stopped
    and left running. The interleaving is forced by a ``Popen`` that runs ``stop_all``
    just before or just after it starts the process. The trial ends stopped, once, and
    stopping it again is a no-op."""
    document = spec_document()
    sleeps = ["python", "-c", "import time; time.sleep(60)"]
    document["trial"] = {**document["trial"], "command": sleeps, "workdir": str(tmp_path)}
    job = Job(id="job", spec=parse_spec(document))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.1, "n": 1, "kind": "a"})
    results: list[TrialResult] = []
    done = threading.Event()
    backend = LocalProcessBackend(tmp_path / "runs", lambda r: (results.append(r), done.set()))

    class InterruptedPopen(subprocess.Popen[bytes]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if lands == "before the spawn":
                backend.stop_all()
            super().__init__(*args, **kwargs)
            if lands == "after the spawn":
                backend.stop_all()

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
