"""``TrialStore.batch``: several mutations together (a collect invocation's batch of events),
each all or nothing on its own and seen by the next as if made alone. SQLite commits the
batch once (each mutation a savepoint); DynamoDB writes each as it comes."""

from __future__ import annotations

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
