"""Resuming a job kills the trial processes its killed run left, and only those."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperstep.backends.local.adapter import LocalProcessBackend

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")


def sleeper(**env: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    return subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)


def test_the_trials_own_process_is_killed() -> None:
    proc = sleeper(HYPERSTEP_JOB_ID="job-1", HYPERSTEP_TRIAL_ID="t0002")
    try:
        assert LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid))
        assert proc.wait(timeout=10) == -9
    finally:
        proc.kill()


@pytest.mark.parametrize("env", [{}, {"HYPERSTEP_JOB_ID": "job-1", "HYPERSTEP_TRIAL_ID": "t0001"}])
def test_a_pid_reused_by_another_process_is_left_alone(env: dict[str, str]) -> None:
    """Another program, or another trial of the job, now has the pid the trial ran as."""
    proc = sleeper(**env)
    try:
        assert not LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid))
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_process_that_is_gone_is_no_error() -> None:
    proc = sleeper()
    proc.kill()
    proc.wait()
    assert not LocalProcessBackend.kill_leftover("job-1", "t0002", str(proc.pid))
