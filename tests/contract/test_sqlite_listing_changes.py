"""SQLite adapter only: a listing after a commit reads only the trials written since the
last one (each trial's change counter, ``sqlite.CHANGES``, kept by the database's own
triggers), and still lists exactly what the file holds: another connection's writes, a
batch undone, a file written before the counter."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from hyperstep.models import Job, MetricReport, Trial, TrialState, trial_id
from hyperstep.stores.sqlite import SQLiteStore
from tests.contract.conftest import full_spec, trials_of


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def store(path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(path)
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    store.put_trials(trials_of(job, list(range(1, 41))))
    for k in range(1, 41):
        store.start_trial("job", trial_id(k), f"ref-{k}")
        report(store, k, 1)
    yield store
    store.close()


def report(store: SQLiteStore, k: int, step: int) -> None:
    point = {"val-loss": MetricReport(value=k / step, step=step, at=float(step))}
    store.report_metrics("job", trial_id(k), point, "val-loss")


def fresh_list(path: Path) -> list[Trial]:
    other = SQLiteStore(path)  # another connection, nothing kept: every body and row read
    try:
        return other.list_trials("job")
    finally:
        other.close()


def test_a_listing_after_a_report_reads_only_the_trial_it_wrote(
    store: SQLiteStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.list_trials("job")
    read: list[int] = []
    many = store._trials.many
    monkeypatch.setattr(store._trials, "many", lambda rows: read.append(len(rows)) or many(rows))
    report(store, 7, 2)
    listed = store.list_trials("job")
    assert read == [1]  # before: all 40 bodies fetched and compared after any commit
    assert listed == fresh_list(path) and listed[6].curve == {1: 7.0, 2: 3.5}
    store.list_trials("job")
    assert read == [1]  # nothing committed since: the same list, no statement but the pragma


def test_another_connection_s_writes_are_listed(store: SQLiteStore, path: Path) -> None:
    store.list_trials("job")
    other = SQLiteStore(path)
    try:
        report(other, 3, 2)
        other.finish_trial("job", trial_id(5), TrialState.COMPLETED, 0.5)
        other.put_trials(trials_of(Job(id="job", spec=full_spec()), [41]))
    finally:
        other.close()
    listed = store.list_trials("job")
    assert listed == fresh_list(path)
    assert listed[2].curve == {1: 3.0, 2: 1.5} and listed[4].state is TrialState.COMPLETED
    assert [t.number for t in listed] == list(range(1, 42))


def test_a_batch_undone_after_a_listing_in_it_is_not_listed(store: SQLiteStore, path: Path) -> None:
    store.list_trials("job")
    with pytest.raises(RuntimeError), store.batch():
        report(store, 2, 2)
        store.finish_trial("job", trial_id(9), TrialState.COMPLETED, 0.5)
        assert store.list_trials("job")[8].state is TrialState.COMPLETED  # the batch sees its own writes
        raise RuntimeError("undone")
    report(store, 4, 2)  # takes the change counters the undone batch had taken
    assert store.list_trials("job") == fresh_list(path)
    assert store.list_trials("job")[8].state is TrialState.RUNNING


def test_a_file_written_before_the_counter_gets_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    job = Job(id="job", spec=full_spec())
    store.create_job(job)
    store.put_trials(trials_of(job, [1, 2]))
    store.close()
    conn = sqlite3.connect(path)  # as the version before left it: no column, index nor triggers
    conn.executescript(
        "DROP TRIGGER trial_inserted; DROP TRIGGER trial_written; DROP INDEX trials_by_change;"
        " ALTER TABLE trials DROP COLUMN changed;"
    )
    conn.close()
    store = SQLiteStore(path)
    try:
        assert [t.number for t in store.list_trials("job")] == [1, 2]
        store.start_trial("job", trial_id(2), "ref")
        assert [t.state for t in store.list_trials("job")] == [TrialState.PENDING, TrialState.RUNNING]
    finally:
        store.close()


def test_trials_added_below_the_last_number_are_listed_in_order(store: SQLiteStore, path: Path) -> None:
    """New trials numbered past every listed one are appended; one numbered below (trials put
    out of order) puts the list in order again."""
    job = Job(id="job", spec=full_spec())
    store.list_trials("job")
    store.put_trials(trials_of(job, [45]))
    assert [t.number for t in store.list_trials("job")][-2:] == [40, 45]
    store.put_trials(trials_of(job, [43, 42]))
    report(store, 40, 2)
    listed = store.list_trials("job")
    assert [t.number for t in listed] == [*range(1, 41), 42, 43, 45] and listed == fresh_list(path)
    assert listed[39].curve == {1: 40.0, 2: 20.0}


def test_a_listing_inside_a_transaction_rolled_back_is_not_kept(store: SQLiteStore, path: Path) -> None:
    """(``add_trials``' ``make`` runs inside one.) The counters and rows it read are taken
    again by the next writes: kept, they would hide those."""
    store.list_trials("job")
    with pytest.raises(RuntimeError), store._tx() as conn:
        store._write_trial(conn, store.get_trial("job", trial_id(6)).model_copy(update={"state": TrialState.FAILED}))
        assert store.list_trials("job")[5].state is TrialState.FAILED
        raise RuntimeError("rolled back")
    report(store, 6, 2)
    assert store.list_trials("job") == fresh_list(path) and store.list_trials("job")[5].curve == {1: 6.0, 2: 3.0}


def test_a_listing_in_a_batch_reads_only_the_trial_a_report_wrote(
    store: SQLiteStore, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local engine's decisions list the job inside its batches: a listing there is kept
    and read on from, as outside one (only a plain transaction's is kept by none)."""
    store.list_trials("job")
    read: list[int] = []
    many = store._trials.many
    monkeypatch.setattr(store._trials, "many", lambda rows: read.append(len(rows)) or many(rows))
    with store.batch():
        report(store, 7, 2)
        assert store.list_trials("job")[6].curve == {1: 7.0, 2: 3.5}
        report(store, 8, 2)
        assert store.list_trials("job")[7].curve == {1: 8.0, 2: 4.0}
    assert read == [1, 1]  # a listing read afresh in the batch: [40, 40]
    assert store.list_trials("job") == fresh_list(path)


def test_a_curve_row_read_by_a_listing_in_a_transaction_rolled_back_is_not_kept(store: SQLiteStore, path: Path) -> None:
    """The row the listing inside read is undone: kept, it would show a point the file does not
    hold and hide the next row, which takes its rowid."""
    store.list_trials("job")
    with pytest.raises(RuntimeError), store._tx() as conn:
        point = {"val-loss": MetricReport(value=99.0, step=2, at=2.0)}
        store._write_point(conn, store.get_trial("job", trial_id(6)), point, "val-loss")
        assert store.list_trials("job")[5].curve == {1: 6.0, 2: 99.0}
        raise RuntimeError("rolled back")
    report(store, 5, 2)
    listed = store.list_trials("job")
    assert listed == fresh_list(path)
    assert listed[5].curve == {1: 6.0} and listed[4].curve == {1: 5.0, 2: 2.5}


@pytest.mark.parametrize("in_transaction", [False, True])
def test_a_listing_interrupted_as_it_reads_leaves_none_half_read(
    store: SQLiteStore, path: Path, monkeypatch: pytest.MonkeyPatch, in_transaction: bool
) -> None:
    """A Ctrl-C (or any error) while a listing rebuilds the trials it read: the next listing
    still shows them. Before: the counters read were kept and the trials not rebuilt, so the
    next listing read nothing new and served the stale trial until it was written again."""
    store.list_trials("job")
    report(store, 7, 2)
    with_points = store._with_points
    calls: list[str] = []

    def interrupted(trial: Trial, points: object) -> Trial:
        if not calls:
            calls.append(trial.id)
            raise KeyboardInterrupt
        return with_points(trial, points)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "_with_points", interrupted)
    if in_transaction:  # with a row of its own, undone with it
        with pytest.raises(KeyboardInterrupt), store._tx() as conn:
            point = {"val-loss": MetricReport(value=99.0, step=3, at=3.0)}
            store._write_point(conn, store.get_trial("job", trial_id(6)), point, "val-loss")
            store.list_trials("job")
    else:
        with pytest.raises(KeyboardInterrupt):
            store.list_trials("job")
    assert calls
    report(store, 8, 2)  # its row takes the rowid of the one undone
    listed = store.list_trials("job")
    assert listed == fresh_list(path) and listed[6].curve == {1: 7.0, 2: 3.5} and listed[7].curve == {1: 8.0, 2: 4.0}


def test_a_listing_hands_back_the_same_model_exactly_for_the_trials_not_written_since(
    store: SQLiteStore, path: Path
) -> None:
    """What ``early_stopping.CurvesMemo`` stands on (it carries a decision's values for a
    trial whose listed model is the same object): a trial whose curve grew, or whose point
    another connection replaced, is listed as a new model; every other one as the very same."""
    before = store.list_trials("job")
    report(store, 7, 2)  # a new step
    other = SQLiteStore(path)
    try:  # a newer report of step 1, from another connection: the row replaced
        other.report_metrics("job", trial_id(9), {"val-loss": MetricReport(value=0.5, step=1, at=5.0)}, "val-loss")
    finally:
        other.close()
    after = store.list_trials("job")
    assert [n for n, (b, a) in enumerate(zip(before, after, strict=True), 1) if b is not a] == [7, 9]
    assert after[6].curve == {1: 7.0, 2: 3.5} and after[8].curve == {1: 0.5}
    assert after == fresh_list(path)
