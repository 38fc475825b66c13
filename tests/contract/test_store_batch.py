"""``TrialStore.batch``: several mutations together (a collect invocation's batch of events),
each all or nothing on its own and seen by the next as if made alone. SQLite commits the
batch once (each mutation a savepoint); DynamoDB writes each as it comes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from hyperstep.models import Job, MetricReport, Trial, TrialState, trial_id
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import add, full_spec


def report(step: int, value: float) -> dict[str, MetricReport]:
    return {"loss": MetricReport(value=value, step=step, final=False, at=float(step))}


def refusing(trial: Trial) -> Trial | None:
    raise RuntimeError("the completion check failed after the row was written")


def test_a_mutation_that_raises_in_a_batch_is_undone_alone(store: TrialStore, make_job: Callable[..., Job]) -> None:
    job = make_job()
    first, second = (trial_id(k) for k in add(store, job, 2))
    with store.batch():
        store.start_trial(job.id, first, "ref-1")
        store.start_trial(job.id, second, "ref-2")
        store.report_metrics(job.id, first, report(1, 0.5), curve_metric="loss")
        assert store.finish_trial(job.id, second, TrialState.STOPPED)
        with pytest.raises(RuntimeError):  # writes its row, then raises: undone
            store.report_after_end(job.id, second, report(1, 0.9), "loss", refusing)
        assert store.report_metrics(job.id, first, report(2, 0.4), curve_metric="loss") is not None
    assert store.get_trial(job.id, first).curve == {1: 0.5, 2: 0.4}
    kept = store.get_trial(job.id, second)
    assert kept.state is TrialState.STOPPED and kept.curve == {} and "loss" not in kept.reports


def test_sqlite_commits_a_batch_once_and_undoes_it_whole_when_it_raises(tmp_path: Path) -> None:
    """Another connection to the file sees none of a batch's writes before it ends (one
    commit, not one a mutation); a batch the caller leaves by raising keeps none."""
    store, other = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    (number,) = add(store, job, 1)
    store.start_trial(job.id, trial_id(number), "ref")
    with store.batch():
        store.report_metrics(job.id, trial_id(number), report(1, 0.5), curve_metric="loss")
        store.report_metrics(job.id, trial_id(number), report(2, 0.4), curve_metric="loss")
        assert other.get_trial(job.id, trial_id(number)).curve == {}
    assert other.get_trial(job.id, trial_id(number)).curve == {1: 0.5, 2: 0.4}
    with pytest.raises(RuntimeError), store.batch():
        store.report_metrics(job.id, trial_id(number), report(3, 0.3), curve_metric="loss")
        raise RuntimeError("the invocation failed: the bus delivers the batch again")
    assert store.get_trial(job.id, trial_id(number)).curve == other.get_trial(job.id, trial_id(number)).curve
    assert store.get_trial(job.id, trial_id(number)).curve == {1: 0.5, 2: 0.4}
    store.close()
    other.close()


def test_sqlite_a_batch_whose_transaction_sqlite_rolled_back_raises_that_error(tmp_path: Path) -> None:
    """SQLITE_FULL (some IOERR, NOMEM) rolls back the whole transaction, savepoints with it
    (sqlite.org/lang_transaction.html, "Response To Errors Within A Transaction"): the
    mutation's ``ROLLBACK TO`` would fail ("no such savepoint") and the batch's ``ROLLBACK``
    too ("no transaction is active"), each hiding the disk-full error the caller must see.
    Before: ``no such savepoint: mutation``. The file here is full at its size
    (``PRAGMA max_page_count``)."""
    store = SQLiteStore(tmp_path / "s.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    (number,) = add(store, job, 1)
    store.start_trial(job.id, trial_id(number), "ref")
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    wide = {f"metric-{k}-{'x' * 1000}": MetricReport(value=0.5, step=1, final=False, at=1.0) for k in range(90)}
    with pytest.raises(sqlite3.OperationalError, match="full"), store.batch():
        store.report_metrics(job.id, trial_id(number), report(1, 0.5), curve_metric="loss")
        store.report_metrics(job.id, trial_id(number), wide, curve_metric="loss")
    store._conn.execute(f"PRAGMA max_page_count = {pages * 100}")
    assert store.get_trial(job.id, trial_id(number)).curve == {}  # the whole batch undone
    assert store.report_metrics(job.id, trial_id(number), report(1, 0.5), curve_metric="loss") is not None
    assert store.get_trial(job.id, trial_id(number)).curve == {1: 0.5}
    store.close()


def test_a_read_in_a_batch_sees_the_mutations_before_it(store: TrialStore, make_job: Callable[..., Job]) -> None:
    """A listing and the job's counters show a batch's mutations at once, as had each been
    committed alone (SQLite caches both by commits: a savepoint released counts as one)."""
    job = make_job()
    first, second = (trial_id(k) for k in add(store, job, 2))
    store.start_trial(job.id, first, "ref-1")
    store.start_trial(job.id, second, "ref-2")
    assert [t.curve for t in store.list_trials(job.id)] == [{}, {}]  # read before: what a cache holds
    assert store.get_job(job.id).budget_used == 2
    with store.batch():
        store.report_metrics(job.id, first, report(1, 0.5), curve_metric="loss")
        assert store.list_trials(job.id)[0].curve == {1: 0.5}
        assert store.finish_trial(job.id, second, TrialState.STOPPED)
        assert store.get_job(job.id).budget_used == 1  # a stopped trial gives its unit back


def test_sqlite_reads_after_an_undone_batch_show_none_of_it_and_every_row_written_since(tmp_path: Path) -> None:
    """Each step report reads the curve rows written since the last read (by rowid) before
    writing its own, so in a batch it reads the rows the reports before it wrote, not yet
    committed. Once the batch is undone, those rows are not in the file and their rowids
    go to the next rows written: the store must neither show the undone points nor skip
    the new rows. Before: the listing kept the undone steps 1 and 2 of the first trial, and
    never showed the second trial's step written after (its rowid below the last read)."""
    store = SQLiteStore(tmp_path / "s.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    first, second = (trial_id(k) for k in add(store, job, 2))
    store.start_trial(job.id, first, "ref-1")
    store.start_trial(job.id, second, "ref-2")
    assert [t.curve for t in store.list_trials(job.id)] == [{}, {}]
    assert store.get_job(job.id).budget_used == 2
    with pytest.raises(RuntimeError), store.batch():
        for step, value in ((1, 0.5), (2, 0.4), (3, 0.3)):
            store.report_metrics(job.id, first, report(step, value), curve_metric="loss")
        assert store.finish_trial(job.id, second, TrialState.STOPPED)
        assert store.list_trials(job.id)[0].curve == {1: 0.5, 2: 0.4, 3: 0.3}
        assert store.get_job(job.id).budget_used == 1
        raise RuntimeError("the invocation failed: the bus delivers the batch again")
    assert [t.curve for t in store.list_trials(job.id)] == [{}, {}]
    assert [t.state for t in store.list_trials(job.id)] == [TrialState.RUNNING, TrialState.RUNNING]
    assert store.get_job(job.id).budget_used == 2
    store.report_metrics(job.id, second, report(1, 0.9), curve_metric="loss")
    assert [t.curve for t in store.list_trials(job.id)] == [{}, {1: 0.9}]
    newest = store.report_metrics(job.id, first, report(1, 0.45), curve_metric="loss", whole_curve=False)
    assert newest is not None and newest.curve == {1: 0.45}  # its newest steps: none undone
    store.close()


def test_sqlite_forgets_the_curve_rows_a_batch_it_undid_had_read(tmp_path: Path) -> None:
    """A batch's later report reads its earlier ones' rows into the connection's copy of the
    curves (``_read_curves``); undone, those rows are gone and their rowids go to the next
    rows written. Before: the copy kept the undone points (a curve with steps the file never
    held) and skipped the new rows at the reused rowids (a point the file holds, missing)."""
    store, other = SQLiteStore(tmp_path / "s.db"), SQLiteStore(tmp_path / "s.db")
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    (number,) = add(store, job, 1)
    trial = trial_id(number)
    store.start_trial(job.id, trial, "ref")
    store.report_metrics(job.id, trial, report(1, 0.5), curve_metric="loss")
    with pytest.raises(RuntimeError), store.batch():
        store.report_metrics(job.id, trial, report(2, 0.4), curve_metric="loss")
        store.report_metrics(job.id, trial, report(3, 0.3), curve_metric="loss")
        raise RuntimeError("the invocation failed after two reports")
    store.report_metrics(job.id, trial, report(4, 0.2), curve_metric="loss")
    (listed,) = store.list_trials(job.id)
    assert listed.curve == other.list_trials(job.id)[0].curve == {1: 0.5, 4: 0.2}
    store.close()
    other.close()
