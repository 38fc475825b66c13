"""The local run loop (``run_local``) reads the store once for the job and once for its
trials a poll (what the progress line shows), not four times: each poll still reads
afresh, so another shell's ``hyperstep update`` or ``stop`` acts within one poll
(``tests/e2e/test_local_other_shell.py``)."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hyperstep.local import runner
from hyperstep.local.runner import run_local
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.unit.test_simulated_backend import document


def test_each_poll_reads_the_job_once_and_its_trials_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = threading.get_ident()
    reads: list[str] = []  # the store reads of the loop's thread
    polls: list[int] = []  # how many it had made at each poll's end

    def counting(name: str) -> Any:
        read = getattr(SQLiteStore, name)

        def counted(self: SQLiteStore, *args: Any) -> Any:
            if threading.get_ident() == loop:
                reads.append(name)
            return read(self, *args)

        return counted

    for name in ("get_job", "list_trials"):
        monkeypatch.setattr(SQLiteStore, name, counting(name))

    def sleep(seconds: float) -> None:
        polls.append(len(reads))
        time.sleep(0.002)

    monkeypatch.setattr(runner, "time", SimpleNamespace(sleep=sleep, time=time.time, monotonic=time.monotonic))
    spec = parse_spec({**document(), "budget": {"max_trials": 40, "max_parallel": 2}})
    job = run_local(spec, tmp_path / "s.db", tmp_path / "runs", env={}, on_progress=lambda *a, **k: None)
    assert job.completed == 40
    assert len(polls) >= 2
    per_poll = [Counter(reads[start:end]) for start, end in itertools.pairwise(polls)]
    assert per_poll == [Counter(get_job=1, list_trials=1)] * len(per_poll)


def test_an_ended_execution_the_job_handed_over_from_meanwhile_is_not_the_end() -> None:
    """The poll read the job naming execution ``old``; it hands itself over to ``new`` (recorded
    on the job) and ends before ``_ended`` asks: the job, read again, names ``new``, so the run
    goes on (the poll's own read would have ended the run with ``new`` still running)."""
    polled = SimpleNamespace(id="job", execution_id="old")
    now = SimpleNamespace(id="job", execution_id="new")
    ended = {"old"}
    runtime = SimpleNamespace(
        executor=SimpleNamespace(finished=lambda execution_id: execution_id in ended),
        store=SimpleNamespace(get_job=lambda job_id: now),
    )
    assert not runner._ended(runtime, polled)  # type: ignore[arg-type]
    ended.add("new")
    assert runner._ended(runtime, now)  # type: ignore[arg-type]
