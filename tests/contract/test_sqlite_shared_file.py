"""SQLite adapter only: stores opened on one file (as separate processes would) share
state and lose no updates, because each mutation is one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import multiprocessing
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hyperstep.models import Job, MetricReport, TrialState, trial_id
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import add, full_spec, trials_of
from tests.contract.test_store_races import RACERS, race


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[SQLiteStore, SQLiteStore]]:
    first, second = SQLiteStore(tmp_path / "shared.db"), SQLiteStore(tmp_path / "shared.db")
    yield first, second
    first.close()
    second.close()


@pytest.fixture
def job(pair: tuple[SQLiteStore, SQLiteStore]) -> Job:
    job = Job(id="shared", spec=full_spec())
    pair[0].create_job(job)
    return job


def test_each_store_sees_the_others_writes(pair: tuple[SQLiteStore, SQLiteStore], job: Job) -> None:
    first, second = pair
    assert second.get_job(job.id) == job
    second.put_trials(trials_of(job, [1, 2]))
    assert [t.number for t in first.list_trials(job.id)] == [1, 2]
    first.put_task_token(job.id, "token")
    assert second.take_task_token(job.id) == "token"
    assert first.take_task_token(job.id) is None


def test_a_report_returns_the_steps_the_other_store_wrote(pair: tuple[SQLiteStore, SQLiteStore], job: Job) -> None:
    """Each store keeps the curves it has read and reads only the rows written since: the
    other store's steps and replaced values (written in between) are in the curve it returns."""
    first, second = pair
    first.put_trials(trials_of(job, [1, 2]))
    for k, store in enumerate([first, second, first, second, second, first], start=1):
        store.report_metrics(job.id, trial_id(1), {"loss": MetricReport(value=1.0 / k, step=k)}, "loss")
    second.report_metrics(job.id, trial_id(2), {"loss": MetricReport(value=9.0, step=1)}, "loss")
    second.report_metrics(job.id, trial_id(1), {"loss": MetricReport(value=0.05, step=6)}, "loss")  # replaced
    written = first.report_metrics(job.id, trial_id(1), {"loss": MetricReport(value=0.01, step=7)}, "loss")
    assert written is not None and written.curve == {**{k: 1.0 / k for k in range(1, 6)}, 6: 0.05, 7: 0.01}
    assert [t.curve for t in first.list_trials(job.id)] == [written.curve, {1: 9.0}]
    assert [t.curve for t in second.list_trials(job.id)] == [written.curve, {1: 9.0}]


def test_reservations_through_two_stores_never_collide(pair: tuple[SQLiteStore, SQLiteStore], job: Job) -> None:
    taken = race(lambda i: add(pair[i % 2], job, 3, 10))
    assert sorted(k for batch in taken for k in batch) == list(range(1, 11))
    assert pair[1].get_job(job.id).budget_used == 10


def test_finishes_through_two_stores_count_once(pair: tuple[SQLiteStore, SQLiteStore], job: Job) -> None:
    add(pair[0], job, RACERS)
    outcomes = race(lambda i: pair[i % 2].finish_trial(job.id, trial_id(1 + i // 2), TrialState.COMPLETED, i))
    assert outcomes.count(True) == RACERS // 2
    after = pair[1].get_job(job.id)
    assert (after.completed, after.budget_used) == (RACERS // 2, RACERS)


def _reserve_one_by_one(path: str, job_id: str, tries: int, out: multiprocessing.Queue, go: Any) -> None:
    store = SQLiteStore(path)
    job = store.get_job(job_id)
    go.wait(timeout=60)  # both at once: a spawned process takes a second to start
    out.put([k for _ in range(tries) for k in add(store, job, 1, 20)])
    store.close()


def test_two_processes_share_the_budget(tmp_path: Path) -> None:
    """Two processes reserving from one file, started as fresh interpreters ("spawn"), as two
    ``hyperstep`` commands are: forking this one would copy its threads' locks (a full run
    leaves threads alive: moto's server, a runtime's bus; one is kept alive here) and its open
    SQLite connection into each child, which may then hang; Python 3.12+ warns of it."""
    path = str(tmp_path / "procs.db")
    made = SQLiteStore(path)
    made.create_job(Job(id="procs", spec=full_spec()))
    made.close()
    alive = threading.Event()
    threading.Thread(target=alive.wait, daemon=True).start()
    context = multiprocessing.get_context("spawn")
    out, go = context.Queue(), context.Barrier(2)
    workers = [context.Process(target=_reserve_one_by_one, args=(path, "procs", 15, out, go)) for _ in range(2)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for w in workers:
            w.start()
    alive.set()
    got = [out.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    assert [str(w.message) for w in caught if "fork" in str(w.message)] == []
    assert sorted(got[0] + got[1]) == list(range(1, 21))
    reread = SQLiteStore(path)
    assert reread.get_job("procs").budget_used == 20
    reread.close()
