"""The local backend on a system without ``/proc`` (macOS): a run and a resume neither crash
nor hang, a resume still kills the group its killed run's trial leads, and the log says what
could not be looked for. ``/proc`` is taken away by making its listing fail, as it does there."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from hyperstep.backends.local import adapter
from hyperstep.backends.local.adapter import LocalProcessBackend
from tests.unit.test_local_backend import one_trial


@pytest.fixture
def no_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> list[int]:
        raise FileNotFoundError(2, "No such file or directory", "/proc")

    monkeypatch.setattr(adapter, "_processes", missing)


def test_a_trial_ends_and_the_log_says_detached_processes_were_not_looked_for(
    tmp_path: Path, no_proc: None, caplog: pytest.LogCaptureFixture
) -> None:
    job, trial, backend, results, done = one_trial(tmp_path, ["bash", "-c", "echo loss=0.5", "bash"])
    with caplog.at_level(logging.WARNING, logger=adapter.__name__):
        for number in (1, 2):  # said once a run, not at every trial's end
            done.clear()
            backend.launch(job, trial.model_copy(update={"id": f"t000{number}", "number": number}))
            assert done.wait(30)
    assert [r.state for r in results] == ["completed", "completed"], results
    assert sum("setsid" in r.getMessage() and "/proc" in r.getMessage() for r in caplog.records) == 1, caplog.text


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_with_proc_a_trial_ends_and_the_log_says_nothing_of_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Where ``/proc`` shows them (Linux), detached processes are looked for: no warning."""
    job, trial, backend, results, done = one_trial(tmp_path, ["bash", "-c", "echo loss=0.5", "bash"])
    with caplog.at_level(logging.WARNING, logger=adapter.__name__):
        backend.launch(job, trial)
        assert done.wait(30)
    assert results[0].state == "completed", results
    assert not any("/proc" in r.getMessage() for r in caplog.records), caplog.text


def test_a_resume_kills_the_group_a_killed_runs_trial_leads(tmp_path: Path, no_proc: None) -> None:
    """The run that launched it is as good as dead (nothing of it acts on the trial): the
    resume's kill, by the trial's pid and folder alone, ends the trial's group (old code:
    without ``/proc`` nothing was killed and the trial ran on)."""
    command = ["bash", "-c", "sleep 60 & echo $! > child.pid; sleep 60", "bash"]
    job, trial, backend, results, done = one_trial(tmp_path, command)
    ref = backend.launch(job, trial)
    try:
        while not (tmp_path / "child.pid").exists() or not (tmp_path / "child.pid").read_text().strip():
            assert not done.is_set(), results
            done.wait(0.01)
        folder = backend.trial_dir(job, trial)
        assert LocalProcessBackend.kill_leftover(job.id, trial.id, ref, folder)
        assert (
            done.wait(30) and results[0].error == "killed by signal 9 (SIGKILL), printing nothing on stdout or stderr"
        )
        with pytest.raises(ProcessLookupError):  # the child in its group went with it
            os.killpg(int(ref), 0)
    finally:
        backend.stop_all()


def test_a_resume_leaves_a_group_alone_once_the_trials_launcher_has_ended(
    tmp_path: Path, no_proc: None, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trial's launcher ended (its pid may be another's by now): nothing is killed, and the
    log says that what the trial left in its group could not be looked for."""
    job, trial, backend, results, done = one_trial(tmp_path, ["bash", "-c", "echo loss=0.5", "bash"])
    ref = backend.launch(job, trial)
    assert done.wait(30) and results[0].state == "completed", results
    killed: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "killpg", lambda pgid, sig: killed.append((pgid, sig)))
    with caplog.at_level(logging.WARNING, logger=adapter.__name__):
        assert not LocalProcessBackend.kill_leftover(job.id, trial.id, ref, backend.trial_dir(job, trial))
    assert (int(ref), signal.SIGKILL) not in killed
    assert any("/proc" in r.getMessage() for r in caplog.records), caplog.text
