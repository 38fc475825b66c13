"""What one step report costs on a local run's path, counted (never timed): the SQLite
store's statements and transactions, a trial body's dump. Issue 9's simulated run makes
27 step reports a trial (benchmarks/README.md, section 5): a cost paid on each is paid
54,000 times in 2,000 trials."""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperstep import models
from hyperstep.errors import ConflictError, TrialExistsError
from hyperstep.models import Job, JobStatus, MetricReport, Trial, TrialState, trial_id
from hyperstep.stores.base import newest_points
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import full_spec, trials_of


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "store.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    store.put_trials(trials_of(job, [1, 2]))
    store.start_trial("job", trial_id(1), "ref")
    store.start_trial("job", trial_id(2), "ref")
    yield store
    store.close()


def report(store: SQLiteStore, step: int, value: float, at: float, trial: int = 1) -> Trial | None:
    point = {"val-loss": MetricReport(value=value, step=step, at=at)}
    return store.report_metrics("job", trial_id(trial), point, "val-loss", whole_curve=False)


def test_a_step_report_runs_six_statements(store: SQLiteStore) -> None:
    report(store, 1, 0.9, 1.0)
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    report(store, 2, 0.8, 2.0)
    store._conn.set_trace_callback(None)
    # BEGIN, the body read and rewritten, the rows since, the new row, COMMIT. Before: a
    # seventh, the two newest rows read again by ORDER BY step DESC LIMIT 2. The body's write
    # runs its trigger (``sqlite.CHANGES``: the row's change counter, one seek and one update
    # inside the UPDATE, no statement of the store's), which the trace shows as that UPDATE again.
    issued = [s for i, s in enumerate(statements) if i == 0 or s != statements[i - 1]]
    assert len(issued) == 6, statements
    assert not any("LIMIT 2" in statement for statement in statements)


def test_the_two_newest_points_a_step_report_returns_are_the_stored_curves(store: SQLiteStore) -> None:
    """Steps in any order, some reported again (newer and older ``at``), the other trial's
    rows in between: each report returns the two highest steps of the stored curve, with
    the values the curve holds (what the indexed query of the rows gave)."""
    rng = random.Random(9)
    steps = [rng.randint(1, 40) for _ in range(120)]
    for n, step in enumerate(steps):
        at = float(n) if rng.random() < 0.8 else -float(n)  # some arrive older than what is kept
        trial = report(store, step, rng.random(), at)
        report(store, rng.randint(1, 40), rng.random(), float(n), trial=2)
        assert trial is not None
        assert trial.curve == newest_points(store.get_trial("job", trial_id(1)).curve) | {
            step: store.get_trial("job", trial_id(1)).curve[step]
        }


def test_a_trial_without_a_curve_in_its_body_is_dumped_without_packing(monkeypatch: pytest.MonkeyPatch) -> None:
    packed: list[object] = []
    pack = models.pack_points
    monkeypatch.setattr(models, "pack_points", lambda curve: packed.append(curve) or pack(curve))
    trial = Trial(job_id="job", id=trial_id(1), number=1, params={})
    body = models.stored_json(trial)
    assert packed == []  # before: every dump packed the empty curve (each step report's body)
    assert Trial.model_validate_json(body).curve == {}
    assert models.stored_json(trial.model_copy(update={"curve": {3: 0.5}})) != body
    assert packed == [{3: 0.5}]


def test_a_store_enters_one_transaction_context(store: SQLiteStore) -> None:
    assert store._tx() is store._tx()  # before: a generator and its context made for each transaction


@pytest.mark.parametrize(
    "curve", [{}, {4: 0.1}, {2: 0.2, 9: 0.9}, {9: 0.9, 2: 0.2, 5: 0.5}, {s: s / 10 for s in range(50)}]
)
def test_newest_points_are_the_highest_steps_newest_first(curve: dict[int, float]) -> None:
    newest = newest_points(curve)
    steps = sorted(curve, reverse=True)[:2]
    assert list(newest.items()) == [(step, curve[step]) for step in steps]


def test_the_job_read_again_with_nothing_changed_reads_no_row(store: SQLiteStore) -> None:
    store.get_job("job")
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    assert store.get_job("job").id == "job"
    store._conn.set_trace_callback(None)
    assert statements == ["PRAGMA data_version"]  # before: the job's row, its whole spec, each event


def test_the_job_read_again_sees_every_change(store: SQLiteStore, tmp_path: Path) -> None:

    assert store.get_job("job").completed == 0
    store.finish_trial("job", trial_id(1), TrialState.COMPLETED, 0.5)  # this connection
    assert store.get_job("job").completed == 1
    other = SQLiteStore(tmp_path / "store.db")  # another connection to the file (another process)
    other.finish_trial("job", trial_id(2), TrialState.COMPLETED, 0.4)
    other.close()
    assert store.get_job("job").completed == 2
    with pytest.raises(RuntimeError), store._tx() as conn:  # a write rolled back
        store._write_job(conn, store.get_job("job").model_copy(update={"completed": 9}))
        raise RuntimeError
    assert store.get_job("job").completed == 2


def free_to_another_thread(store: SQLiteStore) -> bool:
    """Whether another thread can take the store's lock now (tried, never waited for)."""
    taken: list[bool] = []

    def take() -> None:
        if store._lock.acquire(blocking=False):
            store._lock.release()
            taken.append(True)

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    return taken == [True]


def test_a_transaction_that_ends_or_never_begins_leaves_the_store_to_other_threads(
    store: SQLiteStore, tmp_path: Path
) -> None:
    """The shared ``Transaction`` releases its (reentrant) lock however it ends: a test on
    one thread never sees a lock kept, the local run's other threads (bus, executor) would
    wait on it for ever."""
    store.set_job_status("job", JobStatus.STOPPING)
    assert free_to_another_thread(store)
    with pytest.raises(ConflictError):  # rolled back
        store.set_job_status("job", JobStatus.RUNNING, expected={JobStatus.RUNNING})
    assert free_to_another_thread(store)
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)  # `hyperstep stop` in another shell
    other.execute("BEGIN IMMEDIATE")
    store._conn.execute("PRAGMA busy_timeout = 0")  # its 30 s wait, ended at once
    with pytest.raises(sqlite3.OperationalError, match="locked"):  # BEGIN IMMEDIATE refused
        store.set_job_status("job", JobStatus.STOPPED)
    other.execute("ROLLBACK")
    other.close()
    assert free_to_another_thread(store)


def test_the_trials_listed_again_after_a_commit_on_this_connection_show_it(store: SQLiteStore) -> None:
    assert [t.state for t in store.list_trials("job")] == [TrialState.RUNNING] * 2
    store.finish_trial("job", trial_id(1), TrialState.COMPLETED, 0.5)  # data_version counts only others' commits
    assert [t.state for t in store.list_trials("job")] == [TrialState.COMPLETED, TrialState.RUNNING]


def test_a_job_read_inside_a_transaction_then_rolled_back_is_not_kept(store: SQLiteStore) -> None:
    """``add_trials``' ``make`` runs after the job's numbers were reserved (written, not yet
    committed): a ``get_job`` there reads that write, which a trial already there rolls back."""
    before = store.get_job("job")

    def make(_: int, number: int) -> Trial:
        assert store.get_job("job").trial_seq == before.trial_seq + 1  # the reservation, uncommitted
        return Trial(job_id="job", id=trial_id(1), number=number, params={})  # trial 1 exists

    with pytest.raises(TrialExistsError):
        store.add_trials("job", 1, None, make)
    assert store.get_job("job").trial_seq == before.trial_seq  # before: the rolled-back reservation, kept
