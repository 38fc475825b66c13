"""Locally too, a job whose execution ends outside Finish Job is closed.

The local executor sends the in-process bus the status-change event Step Functions sends
EventBridge, and the bus delivers it to the finish function, as the template's rule does:
an execution stopped by hand while its trials run fails its job and stops its trials,
with no ``hyperstep run`` watching it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hyperstep.local.runtime import LocalRuntime
from hyperstep.models import Job, JobStatus
from hyperstep.spec import parse_spec
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@contextmanager
def two_trials_running(tmp_path: Path) -> Iterator[tuple[LocalRuntime, FakeBackend, Job]]:
    """A local runtime whose job has launched its two trials, which run until stopped (no results)."""
    spec = parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 2}))
    with LocalRuntime(tmp_path / "store.db", tmp_path / "runs", sleep=lambda _: None) as runtime:
        backend = FakeBackend()
        runtime.service.backends = {"local": backend}
        job = runtime.service.submit(spec)
        wait_for(lambda: len(backend.launched) == 2, "both trials launched")
        yield runtime, backend, job


def test_an_execution_stopped_by_hand_fails_its_job_and_stops_its_trials(tmp_path: Path) -> None:
    with two_trials_running(tmp_path) as (runtime, backend, job):
        execution = runtime.executor.execution(job.execution_id or "")
        execution.stop("Manual", "stopped from the console")
        wait_for(lambda: runtime.store.get_job(job.id).status.finished, "the job was closed")
        closed = runtime.store.get_job(job.id)
        assert execution.wait(1).status == "ABORTED"
        assert closed.status is JobStatus.FAILED and closed.error == "Manual: stopped from the console"
        assert sorted(backend.stopped) == sorted(backend.launched)
