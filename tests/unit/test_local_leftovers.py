"""Resuming a job kills the trial processes its killed run left, and only those."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hyperstep.backends.local.adapter import LocalProcessBackend, kill_detached
from tests.conftest import alive
from tests.unit.test_local_backend import one_trial

NO_FOLDER = Path("no-such-folder")
"""A trial folder: with ``/proc`` it is not read."""
pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


def sleeper(**env: str) -> subprocess.Popen[bytes]:
    """A process started with ``env``, returned once its environment shows in ``/proc`` (just
    after ``Popen`` returns, ``/proc/<pid>/environ`` is often still empty: the exec is not done
    setting up; 18 of 40 starts here; a leftover of a killed run is long past that)."""
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    proc = subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{proc.pid}/environ").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def test_the_trials_own_process_is_killed() -> None:
    proc = sleeper(HYPERSTEP_JOB_ID="job-1", HYPERSTEP_TRIAL_ID="t0002")
    try:
        assert LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid), NO_FOLDER)
        assert proc.wait(timeout=10) == -9
    finally:
        proc.kill()


def test_the_kill_returns_once_the_process_has_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL takes effect at the process's next scheduling, which a loaded machine puts off
    (a clean-clone CI run saw a leftover still running just after ``stop`` returned): here the
    signal lands 0.3 s after the call. ``stop`` and ``--resume`` record the trial stopped
    only once its process has ended."""
    proc = sleeper(HYPERSTEP_JOB_ID="job-1", HYPERSTEP_TRIAL_ID="t0002")
    deliver = os.killpg

    def later(pgid: int, signum: int) -> None:
        threading.Timer(0.3, deliver, (pgid, signum)).start()

    monkeypatch.setattr(os, "killpg", later)
    try:
        assert LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid), NO_FOLDER)
        assert not alive(str(proc.pid))
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("env", [{}, {"HYPERSTEP_JOB_ID": "job-1", "HYPERSTEP_TRIAL_ID": "t0001"}])
def test_a_pid_reused_by_another_process_is_left_alone(env: dict[str, str]) -> None:
    """Another program, or another trial of the job, now has the pid the trial ran as."""
    proc = sleeper(**env)
    try:
        assert not LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid), NO_FOLDER)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_is_gone_is_no_error() -> None:
    proc = sleeper()
    proc.kill()
    proc.wait()
    assert not LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid), NO_FOLDER)


def orphaned_child(tmp_path: Path, **env: str) -> tuple[str, str]:
    """The pids of an ended leader and of a child left running in its group by a leader that has ended (a trial's
    script that started a worker and was then killed alone): the group's id is the leader's pid."""
    script = f"sleep 60 & echo $! > {tmp_path / 'child.pid'}"
    leader = subprocess.Popen(["bash", "-c", script], env={**os.environ, **env}, start_new_session=True)
    assert leader.wait(timeout=10) == 0
    return str(leader.pid), (tmp_path / "child.pid").read_text().strip()


def test_the_trials_group_is_killed_when_only_its_children_are_left(tmp_path: Path) -> None:
    """The trial's own process is gone but a child it started lives on in its group (old
    code: nothing was killed, ``/proc/<pid>/environ`` being gone)."""
    leader, child = orphaned_child(tmp_path, HYPERSTEP_JOB_ID="job-1", HYPERSTEP_TRIAL_ID="t0002")
    try:
        assert alive(child)
        assert LocalProcessBackend.kill_leftover("job-1", "t0002", leader, NO_FOLDER)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(int(child), signal.SIGKILL)


def test_a_group_whose_members_are_anothers_is_left_alone(tmp_path: Path) -> None:
    leader, child = orphaned_child(tmp_path, HYPERSTEP_JOB_ID="job-1", HYPERSTEP_TRIAL_ID="t0001")
    try:
        assert not LocalProcessBackend.kill_leftover("job-1", "t0002", leader, NO_FOLDER)
        assert alive(child)
    finally:
        os.kill(int(child), signal.SIGKILL)


def left_running_after(tmp_path: Path, starts: str) -> bool:
    """Whether the process a trial's script ``starts`` (a shell line writing its pid to
    ``left.pid``) still runs once the trial, which then prints its objective, has ended."""
    command = ["bash", "-c", f"{starts}\nwhile [ ! -s left.pid ]; do sleep 0.01; done; echo loss=0.5", "bash"]
    job, trial, backend, results, done = one_trial(tmp_path, command)
    backend.launch(job, trial)
    assert done.wait(30) and results[0].state == "completed", results
    pid = (tmp_path / "left.pid").read_text().strip()
    try:
        deadline = time.monotonic() + 10  # a signal is delivered, not waited for
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return alive(pid)
    finally:
        if alive(pid):
            os.kill(int(pid), signal.SIGKILL)


def test_what_a_trial_left_running_when_it_ended_is_killed(tmp_path: Path) -> None:
    """A trial's script that started a background process and ended (``server &``, a
    worker it never joined): the process is killed with the trial, as a container's end
    kills everything in it on SageMaker and Batch (old code: it ran on, orphaned)."""
    assert not left_running_after(tmp_path, "sleep 60 & echo $! > left.pid"), "its background process lives on"


def test_what_a_trial_left_running_in_a_session_of_its_own_is_killed(tmp_path: Path) -> None:
    """A process the script started in a new session (``setsid``: a daemon, a server that
    detaches) is in no process group of the trial's, so killing the group missed it and it
    ran on after the trial ended (old code). It carries the trial's identity in its
    environment, as ``kill_leftover`` finds a group by: so it ends with the trial, as
    everything in a container ends with it on SageMaker and Batch."""
    detached = "setsid sh -c 'echo $$ > left.pid; exec sleep 60' &"
    assert not left_running_after(tmp_path, detached), "its detached process lives on"


def test_a_process_of_the_same_ids_from_another_trial_folder_is_left_alone(tmp_path: Path) -> None:
    """Two stores (or two test runs) can each hold a trial ``job-dup``/``t0001``: what the
    ended one left detached is found by its ids and its own folder, so the other's process,
    of the same ids in another folder, runs on; the one of this folder is killed."""
    ids = {"HYPERSTEP_JOB_ID": "job-dup", "HYPERSTEP_TRIAL_ID": "t0001"}
    mine, other = tmp_path / "mine", tmp_path / "other"
    theirs = sleeper(**ids, HYPERSTEP_TRIAL_DIR=str(other))
    ours = sleeper(**ids, HYPERSTEP_TRIAL_DIR=str(mine))
    try:
        kill_detached("job-dup", "t0001", mine)
        assert ours.wait(timeout=10) == -9
        assert theirs.poll() is None, "another folder's trial of the same ids was killed"
    finally:
        for proc in (theirs, ours):
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def test_a_trial_launched_again_in_its_folder_is_not_read_as_ended_by_the_earlier_launch(tmp_path: Path) -> None:
    """A trial left pending by a hyperstep killed between its launch and its start is launched
    again in the same folder: the first launch's ``exit_status`` must not be read as the new
    process's end (a ``run --resume`` would record it completed while it runs)."""
    command = ["bash", "-c", "while [ ! -e go ]; do sleep 0.01; done; echo loss=0.5", "bash"]
    job, trial, backend, results, done = one_trial(tmp_path, command)
    folder = backend.trial_dir(job, trial)
    folder.mkdir(parents=True)
    (folder / "exit_status").write_text("0")  # the earlier launch's
    (folder / "train.log").write_text("loss=0.1\n")
    backend.launch(job, trial)
    try:
        assert backend.ended_result(job, trial, started_at=0.0) is None, "the earlier launch's end read as this one's"
    finally:
        (tmp_path / "go").touch()
        assert done.wait(30)
    assert results[0].state == "completed" and results[0].metrics == {"loss": 0.5}, results


def test_a_trial_launched_before_the_run_recorded_its_pid_is_killed_on_resume(tmp_path: Path) -> None:
    """hyperstep killed outright between a trial's launch and the write of its pid: the trial
    has no ``backend_ref``, so resume (and ``hyperstep stop``) looked for none of its processes,
    recorded it stopped, and it trained on unwatched beside the resumed job's trials (seen in
    ``test_resume_after_hyperstep_was_killed_outright_kills_the_trials_it_left``: a t0002
    with no pid ran its full 60 s after the test). Found by its ids and folder now."""
    from types import SimpleNamespace

    from hyperstep.local.runner import kill_leftovers
    from hyperstep.models import Job, Trial
    from hyperstep.spec import parse_spec
    from hyperstep.stores.sqlite import SQLiteStore
    from tests.conftest import spec_document

    store = SQLiteStore(tmp_path / "s.db")
    job = Job(id="job-race", spec=parse_spec(spec_document()))
    store.create_job(job)
    (trial,) = store.add_trials(job.id, 1, None, lambda _, n: Trial(job_id=job.id, id="t0001", number=n, params={}))
    backend = LocalProcessBackend(tmp_path / "runs", lambda result: None)
    folder = backend.trial_dir(job, trial)
    left = sleeper(HYPERSTEP_JOB_ID=job.id, HYPERSTEP_TRIAL_ID=trial.id, HYPERSTEP_TRIAL_DIR=str(folder))
    try:
        assert store.get_trial(job.id, trial.id).backend_ref is None
        kill_leftovers(SimpleNamespace(store=store, backend=backend, service=None), job)  # type: ignore[arg-type]
        assert left.wait(timeout=10) == -9
    finally:
        if left.poll() is None:
            left.kill()
            left.wait(10)


@pytest.mark.parametrize("runs", [None, "elsewhere"])
def test_stop_of_a_killed_run_kills_a_trial_launched_before_its_pid_was_recorded(
    runs: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hyperstep stop`` of a job whose run was killed outright: a trial with no pid is found
    by its folder, which is under the run's ``--out`` (default ``runs`` here, the working
    folder's). stop looked under the store's folder (``.hyperstep/runs``), so in the default
    layout it found nothing and the trial trained on, the job recorded stopped."""
    from hyperstep.cli import main
    from hyperstep.models import Job, Trial
    from hyperstep.spec import parse_spec
    from hyperstep.stores.sqlite import SQLiteStore
    from tests.conftest import spec_document

    monkeypatch.chdir(tmp_path)
    store_path = tmp_path / ".hyperstep" / "hyperstep.db"
    store_path.parent.mkdir()
    store = SQLiteStore(store_path)
    job = Job(id="job-race", spec=parse_spec(spec_document()))
    store.create_job(job)
    store.add_trials(job.id, 1, None, lambda _, n: Trial(job_id=job.id, id="t0001", number=n, params={}))
    store.close()
    folder = tmp_path / (runs or "runs") / job.id / "t0001"
    left = sleeper(HYPERSTEP_JOB_ID=job.id, HYPERSTEP_TRIAL_ID="t0001", HYPERSTEP_TRIAL_DIR=str(folder))
    try:
        assert main(["--store", str(store_path), "stop", job.id, *(["--runs", runs] if runs else [])]) == 0
        assert left.wait(timeout=10) == -9
    finally:
        if left.poll() is None:
            left.kill()
            left.wait(10)
    assert '"status": "stopped"' in capsys.readouterr().out


def test_without_proc_a_trial_launched_before_its_pid_was_recorded_is_named_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Without ``/proc`` (macOS) a trial with no pid cannot be found (its environment is not
    readable, no process group is known): resume and stop went on in silence and it trained
    on; the log says so, as it does of the other leftovers it cannot look for. A pending
    trial never launched (no folder) is not named."""
    from types import SimpleNamespace

    from hyperstep.backends.local import adapter
    from hyperstep.local.runner import kill_leftovers
    from hyperstep.models import Job, Trial
    from hyperstep.spec import parse_spec
    from hyperstep.stores.sqlite import SQLiteStore
    from tests.conftest import spec_document

    def no_proc() -> list[int]:
        raise FileNotFoundError("/proc")

    monkeypatch.setattr(adapter, "_processes", no_proc)
    store = SQLiteStore(tmp_path / "s.db")
    job = Job(id="job-race", spec=parse_spec(spec_document()))
    store.create_job(job)
    store.add_trials(job.id, 2, None, lambda _, n: Trial(job_id=job.id, id=f"t000{n}", number=n, params={}))
    backend = LocalProcessBackend(tmp_path / "runs", lambda result: None)
    launched = tmp_path / "runs" / job.id / "t0001"
    launched.mkdir(parents=True)
    (launched / adapter.HELD_FILE).write_text("{}")
    with caplog.at_level("WARNING"):
        kill_leftovers(SimpleNamespace(store=store, backend=backend, service=None), job)  # type: ignore[arg-type]
    named = [r.getMessage() for r in caplog.records if "no /proc" in r.getMessage()]
    assert len(named) == 1 and "t0001" in named[0] and "t0002" not in named[0], named
