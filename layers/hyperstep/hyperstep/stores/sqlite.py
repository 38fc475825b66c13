"""SQLite trial store: the local default, a single file that survives restarts.

Each mutation runs in one ``BEGIN IMMEDIATE`` transaction, so it is atomic across
threads and processes sharing the file. ``":memory:"`` gives a private in-memory store
(what ``Study`` uses when it is given none).

A file is in WAL mode with ``synchronous=NORMAL``, SQLite's advice for WAL: the file is
never corrupted and every committed write survives a crash of hyperstep, but a power
loss or OS crash may roll back the last commits (SQLite then syncs at checkpoints, not
on every commit). A rolled-back tail looks like a run interrupted a moment earlier,
which ``run --resume`` carries on from. ``FULL`` would fsync every commit: a trial's
dozens of reports, each a commit, spent over a millisecond each waiting for the disk.

Records are JSON bodies read back as frozen models. Every Suggest reads every trial of
its job, so a model is parsed once per body and reused while the stored body is the same
(``ParsedBodies``): a read costs a row fetch and a string comparison, not a validation
(a job's or trial's body written on this connection is not parsed at all: the model
written is kept with it); and a job's list of trials is read again only once something was committed since
(on this connection, or on another: SQLite's ``PRAGMA data_version``), and then only the trials
written since (each trial's change counter, ``CHANGES``, set by the file's own triggers).

A trial's curve (``Trial.curve``) lives in the ``curves`` table, one row a step, not in
its body: a step report writes its row and the small body (the merged reports), never
the whole curve again. Reads attach the rows to the trial (a body written before curves
had their table keeps its points, which the rows extend). Each row keeps the ``at`` of the
report that wrote it, so a step reported again takes only a report as new
(``models.replaces_point``: a replayed or late older report leaves it); a file written
before the column gets it, NULL on its rows, when a store opens it (``_migrate``).

The ``ended`` table holds the ids of trials ended since ``forget_ended`` dropped them
(``TrialStore.recently_ended``; DynamoDB's string set on the job item): written in the
same transaction as the trial's end, so a Suggest round reads these few ids instead of
listing every trial of the job. A file written before the table existed has no rows for
its earlier ends; a ``TrialView`` reads such a job whole on its first round anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

from hyperstep.errors import ConflictError, JobExistsError, NotFoundError, TrialExistsError
from hyperstep.messages import MAX_CURVE_STEPS, LogCursor
from hyperstep.models import (
    Charge,
    Job,
    JobStatus,
    MetricReport,
    StopReason,
    Trial,
    TrialState,
    replaces_point,
    stored_json,
)
from hyperstep.schedulers.base import value_at
from hyperstep.spec import Budget
from hyperstep.spec_base import STORED
from hyperstep.stores.base import (
    REVISABLE_ENDS,
    REVISED_ENDS,
    JobPlace,
    MakeTrial,
    ReadJob,
    ScheduleSpec,
    TrialStore,
    counter_changes,
    enqueued_with,
    newest_points,
    point_of,
    point_time,
    read_nothing,
    revised_counter_changes,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    job_id TEXT NOT NULL, id TEXT NOT NULL, number INTEGER NOT NULL, body TEXT NOT NULL,
    changed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, id));
CREATE TABLE IF NOT EXISTS tokens (job_id TEXT PRIMARY KEY, token TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schedule_specs (name TEXT PRIMARY KEY, owner TEXT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS curves (
    job_id TEXT NOT NULL, trial_id TEXT NOT NULL, step INTEGER NOT NULL, value REAL NOT NULL, at REAL,
    PRIMARY KEY (job_id, trial_id, step));
CREATE TABLE IF NOT EXISTS ended (
    job_id TEXT NOT NULL, trial_id TEXT NOT NULL, PRIMARY KEY (job_id, trial_id));
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (json_extract(body, '$.owner'), created_at);
CREATE INDEX IF NOT EXISTS curves_by_job ON curves (job_id);
CREATE INDEX IF NOT EXISTS curves_by_value ON curves (job_id, trial_id, value, step);
"""

CHANGES = """
CREATE INDEX IF NOT EXISTS trials_by_change ON trials (job_id, changed);
CREATE TRIGGER IF NOT EXISTS trial_inserted AFTER INSERT ON trials BEGIN
    UPDATE trials SET changed = (SELECT MAX(changed) + 1 FROM trials WHERE job_id = NEW.job_id)
    WHERE rowid = NEW.rowid; END;
CREATE TRIGGER IF NOT EXISTS trial_written AFTER UPDATE OF body ON trials BEGIN
    UPDATE trials SET changed = (SELECT MAX(changed) + 1 FROM trials WHERE job_id = NEW.job_id)
    WHERE rowid = NEW.rowid; END;
"""
"""Each trial's change counter (``trials.changed``): on every insert and every write of its
body, one more than the highest of its job's, set by the database itself (so by every
connection and every version of hyperstep that writes the file once it has them), in the
writer's transaction. Writers are serialized (``BEGIN IMMEDIATE``), so a job's counters
grow in commit order and never repeat: the rows past the highest a reader has seen are
exactly the trials written since (``list_trials``). One index seek on ``trials_by_change``
and one row update a write."""


Model = TypeVar("Model", Job, Trial)


class ParsedBodies(Generic[Model]):
    """The model of each record's stored body, parsed once while the body stays the same
    (models are frozen, so one instance can go to every reader). One entry per record."""

    def __init__(self, parse: Callable[[str], Model]) -> None:
        self._parse = parse
        self._seen: dict[Hashable, tuple[str, Model]] = {}

    def __call__(self, key: Hashable, body: str) -> Model:
        seen = self._seen.get(key)
        if seen is not None and seen[0] == body:
            return seen[1]
        model = self._parse(body)
        self._seen[key] = (body, model)
        return model

    def wrote(self, key: Hashable, body: str, model: Model) -> None:
        """``model`` was just written as ``body`` (its dump): the next read of that body
        takes it as it is, not parsed again (each of a trial's step reports reads the body
        the one before wrote, and the job a trial's end rewrote). A write rolled back
        leaves another body stored: read, it is parsed."""
        self._seen[key] = (body, model)

    def many(self, rows: list[tuple[Hashable, str]]) -> list[Model]:
        """The models of ``(key, body)`` rows, in order (a job's every trial, each Suggest)."""
        seen, models = self._seen, []
        for key, body in rows:
            hit = seen.get(key)
            models.append(hit[1] if hit is not None and hit[0] == body else self(key, body))
        return models


class Listing:
    """A job's trials as ``list_trials`` last read them: in the order of their numbers (with
    ``at``, each one's place by id), the body model of each, the highest change counter
    read (``CHANGES``), and the database version it was read at."""

    __slots__ = ("at", "bodies", "changed", "trials", "version")

    def __init__(self) -> None:
        self.trials: list[Trial] = []
        self.at: dict[str, int] = {}
        self.bodies: dict[str, Trial] = {}
        self.changed = -1
        self.version: tuple[int, int] = (-1, -1)


class Transaction:
    """A store's transaction as a context: its lock held, ``BEGIN IMMEDIATE`` on entry,
    ``COMMIT`` on a clean exit, ``ROLLBACK`` when the block raised; inside a batch
    (``SQLiteStore.batch``), a savepoint of the batch's transaction instead, released or
    rolled back to. One object a store, entered by every mutation (a simulated run makes
    about 30 a trial): a class, not a generator made and driven through ``contextlib``
    each time. Not reentrant."""

    __slots__ = ("store",)

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        store = self.store
        store._lock.acquire()
        try:
            store._conn.execute("SAVEPOINT mutation" if store._batched else "BEGIN IMMEDIATE")
        except BaseException:
            store._lock.release()
            raise
        return store._conn

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        store = self.store
        try:
            # SQLITE_FULL, some IOERR, NOMEM roll the whole transaction back, savepoints with
            # it (sqlite.org/lang_transaction.html): undoing it again would raise instead of that error
            aborted = kind is not None and not store._conn.in_transaction
            if store._batched:
                if not aborted:
                    if kind is not None:
                        store._conn.execute("ROLLBACK TO mutation")
                    store._conn.execute("RELEASE mutation")
                store._commits += 1  # what a read cached by version must see: each mutation, as a commit
                return
            if kind is not None:
                if not aborted:
                    store._conn.execute("ROLLBACK")
                return
            store._conn.execute("COMMIT")
            store._commits += 1
        finally:
            store._lock.release()


class Batch:
    """``SQLiteStore.batch``: one transaction around several mutations, each a savepoint."""

    __slots__ = ("store",)

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    def __enter__(self) -> None:
        store = self.store
        assert not store._batched, "a batch in a batch"
        store._transaction.__enter__()
        store._batched = True

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        store = self.store
        store._batched = False
        if kind is not None:
            store._commits += 1  # its released savepoints are undone too
            store._job_writes += 1
            store._forget_curves()
        store._transaction.__exit__(kind, *rest)


class SQLiteStore(TrialStore):
    keeps_unchanged_trials = True  # ``list_trials``: a model is built again only when its rows changed

    def __init__(self, path: str | Path = ":memory:", clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # see the module docstring
        self._conn.executescript(SCHEMA)
        self._jobs = ParsedBodies(lambda body: Job.model_validate_json(body, context=STORED))
        self._trials = ParsedBodies(lambda body: Trial.model_validate_json(body, context=STORED))
        self._commits = 0
        """Transactions committed on this connection (``PRAGMA data_version`` counts the others')."""
        self._listed: dict[str, Listing] = {}
        """Each job's last ``list_trials``."""
        self._touched: dict[str, set[str]] = {}
        """Per job, the trials whose curve rows ``_read_curves`` read since ``list_trials`` last did."""
        self._curves: dict[str, tuple[int, dict[str, tuple[int, dict[int, float]]]]] = {}
        """Each job's curves as read so far: the last rowid read, and per trial its newest rowid and points."""
        self._newest: dict[tuple[str, str], tuple[int, ...]] = {}
        """Per trial, the two highest steps of its rows as read so far (``_read_curves``; rows are
        never deleted, so a new row's step is the only one that can join them)."""
        self._viewed: dict[tuple[str, str], tuple[Trial, int, Trial]] = {}
        """Per trial, the body model and curve version its listed model (with the curve) was built from."""
        self._transaction = Transaction(self)
        self._batched = False
        """Inside ``batch``: each mutation a savepoint of its transaction."""
        self._job_writes = 0
        """Jobs written on this connection (rolled back or not): ``get_job`` reads again after one."""
        self._job_seen: dict[str, tuple[tuple[int, int], Job]] = {}
        """Per job, what ``get_job`` last read, with the versions it was read at."""
        self._migrate()

    def _migrate(self) -> None:
        """Bring a file an earlier version wrote up to ``SCHEMA`` in place: a ``curves``
        table without the ``at`` column gets it (NULL on the rows it holds: points written
        before it, which ``replaces_point`` orders as having no ``at``); a ``trials`` table
        without ``changed`` gets it (0 on its rows: a first listing reads every row anyway),
        then its index and triggers (``CHANGES``). New tables come from ``SCHEMA``'s ``IF NOT EXISTS``."""
        if "at" not in self._columns("curves") or "changed" not in self._columns("trials"):
            with self._tx() as conn:  # another connection to the file may have added them meanwhile
                if "at" not in self._columns("curves"):
                    conn.execute("ALTER TABLE curves ADD COLUMN at REAL")
                if "changed" not in self._columns("trials"):
                    conn.execute("ALTER TABLE trials ADD COLUMN changed INTEGER NOT NULL DEFAULT 0")
        self._conn.executescript(CHANGES)

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def batch(self) -> Batch:
        """One ``BEGIN IMMEDIATE`` transaction, committed once, around the mutations made
        in it on this thread (others wait for the store's lock), each all or nothing on its
        own (a savepoint): what each of a batch's events costs in commits, once."""
        return Batch(self)

    def _forget_curves(self) -> None:
        """Drop the curves read so far, for ``_read_curves`` to read them again from the first
        row: a batch undone had them read its rows (each mutation reads those the ones
        before it wrote), and the rowids past them will be taken again by other rows. (A
        listed model, ``_viewed``, is rebuilt anyway: the batch rewrote its trial's body.)"""
        self._curves.clear()
        self._newest.clear()
        self._touched.clear()
        self._listed.clear()

    def _tx(self) -> Transaction:
        """One ``BEGIN IMMEDIATE`` transaction under the store's lock (``Transaction``)."""
        return self._transaction

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # jobs

    def _read_job(self, conn: sqlite3.Connection, job_id: str) -> Job:
        row = conn.execute("SELECT body FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"job {job_id!r} not found")
        return self._jobs(job_id, row[0])

    def _write_job(self, conn: sqlite3.Connection, job: Job) -> None:
        body = job.model_dump_json()
        self._job_writes += 1  # before the write: one rolled back leaves ``get_job``'s copy stale too
        conn.execute("UPDATE jobs SET body = ? WHERE id = ?", (body, job.id))
        self._jobs.wrote(job.id, body, job)

    def create_job(self, job: Job) -> None:
        with self._tx() as conn:
            try:
                conn.execute(
                    "INSERT INTO jobs (id, created_at, body) VALUES (?, ?, ?)",
                    (job.id, job.created_at, job.model_dump_json()),
                )
            except sqlite3.IntegrityError:
                raise JobExistsError(f"job {job.id!r} already exists") from None

    def get_job(self, job_id: str) -> Job:
        """The job as last read, while nothing can have changed it since: no job written on
        this connection (``_job_writes``) and no commit on another (``PRAGMA data_version``);
        else read. Collect reads its job on every event (27 step reports a simulated trial):
        the pragma reads no row, where the job's row is its whole spec. A read inside a
        transaction (``add_trials``' ``make``) is not kept: it may see a write rolled back."""
        with self._lock:
            version = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._job_writes)
            seen = self._job_seen.get(job_id)
            if seen is not None and seen[0] == version:
                return seen[1]
            job = self._read_job(self._conn, job_id)
            if not self._conn.in_transaction:
                self._job_seen[job_id] = (version, job)
            return job

    def list_jobs(self, limit: int = 100, owner: str | None = None, after: JobPlace | None = None) -> list[Job]:
        """Newest first; an owner's jobs through the ``jobs_by_owner`` index."""
        clauses, args = [], []
        if owner is not None:
            clauses.append("json_extract(body, '$.owner') = ?")
            args.append(owner)
        if after is not None:
            clauses.append("(created_at, id) < (?, ?)")
            args += after
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT body FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._conn.execute(query, [*args, limit]).fetchall()
        return [Job.model_validate_json(r[0], context=STORED) for r in rows]

    def list_unfinished_jobs(self) -> list[Job]:
        unfinished = [status.value for status in JobStatus if not status.finished]
        marks = ", ".join("?" * len(unfinished))
        query = f"SELECT body FROM jobs WHERE json_extract(body, '$.status') IN ({marks}) ORDER BY created_at"
        with self._lock:
            rows = self._conn.execute(query, unfinished).fetchall()
        return [Job.model_validate_json(r[0], context=STORED) for r in rows]

    def list_unpublished_jobs(self, ended_before: float) -> Iterator[Job]:
        finished = [status.value for status in JobStatus if status.finished]
        marks = ", ".join("?" * len(finished))
        query = (
            f"SELECT body FROM jobs WHERE json_extract(body, '$.status') IN ({marks})"
            " AND NOT json_extract(body, '$.completion_published') AND json_extract(body, '$.ended_at') < ?"
        )
        with self._lock:
            rows = self._conn.execute(query, [*finished, ended_before]).fetchall()
        return (Job.model_validate_json(r[0], context=STORED) for r in rows)

    def set_job_status(
        self,
        job_id: str,
        status: JobStatus,
        *,
        expected: Collection[JobStatus] | None = None,
        error: str | None = None,
        execution_id: str | None = None,
        stop_reason: StopReason | None = None,
        stop_detail: str | None = None,
        reopen: bool = False,
        as_read: Job | None = None,
    ) -> Job:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            if expected is not None and job.status not in expected:
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not {'/'.join(s.value for s in expected)}")
            if as_read is not None and (job.execution_id, job.reopened_at) != (
                as_read.execution_id,
                as_read.reopened_at,
            ):
                raise ConflictError(f"job {job_id!r} has an execution recorded or was reopened since it was read")
            changes: dict = {"status": status, "ended_at": self.clock() if status.finished else None}
            if not (status.finished and expected is not None and set(expected) == {status}):  # a new end, or none
                changes["completion_published"] = False
            if not status.finished:
                changes["error"] = None
            if reopen:
                changes.update(stop_reason=None, stop_detail=None, reopened_at=self.clock())
            if error is not None:
                changes["error"] = error
            if execution_id is not None:
                changes["execution_id"] = execution_id
            if stop_reason is not None:
                changes.update(stop_reason=stop_reason, stop_detail=stop_detail)
            job = job.model_copy(update=changes)
            self._write_job(conn, job)
            return job

    def mark_completion_published(self, job_id: str) -> None:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            if job.status.finished:
                self._write_job(conn, job.model_copy(update={"completion_published": True}))

    def set_budget(self, job_id: str, change: Callable[[Budget], Budget]) -> Job:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            if job.status is not JobStatus.RUNNING:
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not running")
            budget = change(job.spec.budget)
            job = job.model_copy(update={"spec": job.spec.model_copy(update={"budget": budget})})
            self._write_job(conn, job)
            return job

    def _reserve(
        self, conn: sqlite3.Connection, job_id: str, n: int, max_trials: int | None, reading: ReadJob
    ) -> list[int]:
        job = self._read_job(conn, job_id)
        reading(job)
        take = n if max_trials is None else max(0, min(n, max_trials - job.budget_used))
        if take <= 0:
            return []
        first = job.trial_seq + 1
        self._write_job(
            conn, job.model_copy(update={"trial_seq": job.trial_seq + take, "budget_used": job.budget_used + take})
        )
        return list(range(first, first + take))

    def add_trials(
        self, job_id: str, n: int, max_trials: int | None, make: MakeTrial, reading: ReadJob = read_nothing
    ) -> list[Trial]:
        """The numbers and the trials in one transaction (the job's points with them)."""
        with self._tx() as conn:
            numbers = self._reserve(conn, job_id, n, max_trials, reading)
            trials = [make(i, number) for i, number in enumerate(numbers)]
            self._insert_trials(conn, trials)
            return trials

    def enqueue(self, job_id: str, point: Mapping[str, Any]) -> int:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            number, enqueued = enqueued_with(job, point)
            self._write_job(conn, job.model_copy(update={"enqueued": enqueued}))
            return number

    # trials

    def _read_trial(self, conn: sqlite3.Connection, job_id: str, trial_id_: str) -> Trial:
        row = conn.execute("SELECT body FROM trials WHERE job_id = ? AND id = ?", (job_id, trial_id_)).fetchone()
        if row is None:
            raise NotFoundError(f"trial {trial_id_!r} of job {job_id!r} not found")
        return self._trials((job_id, trial_id_), row[0])

    def _write_trial(self, conn: sqlite3.Connection, trial: Trial, ends: bool = True) -> None:
        """Write the trial's body; an ended one joins ``recently_ended`` unless ``ends`` is
        False (reports kept after its end, which leave that end as it is)."""
        body = stored_json(trial)
        conn.execute("UPDATE trials SET body = ? WHERE job_id = ? AND id = ?", (body, trial.job_id, trial.id))
        self._trials.wrote((trial.job_id, trial.id), body, trial)
        if ends and not trial.state.active:  # every change of a trial's state comes here: kept for ``recently_ended``
            conn.execute("INSERT OR IGNORE INTO ended (job_id, trial_id) VALUES (?, ?)", (trial.job_id, trial.id))

    def recently_ended(self, job_id: str) -> frozenset[str]:
        with self._lock:
            self._read_job(self._conn, job_id)  # NotFoundError for a job that is not there
            rows = self._conn.execute("SELECT trial_id FROM ended WHERE job_id = ?", (job_id,)).fetchall()
        return frozenset(row[0] for row in rows)

    def forget_ended(self, job_id: str, trial_ids: Collection[str]) -> None:
        if not trial_ids:
            return
        with self._tx() as conn:
            conn.executemany("DELETE FROM ended WHERE job_id = ? AND trial_id = ?", [(job_id, t) for t in trial_ids])

    def put_trials(self, trials: list[Trial]) -> None:
        with self._tx() as conn:
            self._insert_trials(conn, trials)

    @staticmethod
    def _insert_trials(conn: sqlite3.Connection, trials: list[Trial]) -> None:
        for t in trials:
            try:
                conn.execute(
                    "INSERT INTO trials (job_id, id, number, body) VALUES (?, ?, ?, ?)",
                    (t.job_id, t.id, t.number, stored_json(t)),
                )
            except sqlite3.IntegrityError:
                raise TrialExistsError(f"trial {t.id!r} of job {t.job_id!r} already exists") from None

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        with self._lock:
            return self._with_curve(self._conn, self._read_trial(self._conn, job_id, trial_id))

    def _with_curve(self, conn: sqlite3.Connection, trial: Trial) -> Trial:
        """The trial (as its body holds it) with its curve's rows."""
        rows = conn.execute(
            "SELECT step, value FROM curves WHERE job_id = ? AND trial_id = ?", (trial.job_id, trial.id)
        ).fetchall()
        return trial.model_copy(update={"curve": {**trial.curve, **dict(rows)}}) if rows else trial

    def list_trials(self, job_id: str) -> list[Trial]:
        with self._lock:  # nothing committed since the last read, here or elsewhere: the same list
            if self._conn.in_transaction and not self._batched:  # what a rollback may undo is kept by none
                self._forget_curves()  # (a batch undone forgets them itself)
                try:
                    return self._relist(job_id, None).trials
                finally:  # interrupted too
                    self._forget_curves()
            version = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._commits)
            listed = self._listed.pop(job_id, None)  # kept again once read whole: an interrupted one is half-updated
            if listed is None or listed.version != version:
                listed = self._relist(job_id, listed)
                listed.version = version
            self._listed[job_id] = listed
        return list(listed.trials)

    def _relist(self, job_id: str, listed: Listing | None) -> Listing:
        """The job's trials with their curves' rows, from ``listed`` (the last listing, None
        for none): only what was written since is read and rebuilt.

        Every Suggest lists the job's trials, and with early stopping every decision does,
        after a commit each: reading every body and every curve row each time made a listing
        O(trials) (O(steps) for the rows). The bodies read are those whose change counter
        (``CHANGES``) is past the highest ``listed`` saw; the rows, those past the last read
        (``_read_curves``, first: a row read belongs to a trial whose body is then read too),
        and a trial's model with its curve is rebuilt only when its body or its curve changed."""
        curves = self._read_curves(self._conn, job_id)
        touched = self._touched.pop(job_id, set())
        listed = listed or Listing()
        rows = self._conn.execute(
            "SELECT id, body, changed FROM trials WHERE job_id = ? AND changed > ?", (job_id, listed.changed)
        ).fetchall()
        if not rows and not touched:
            return listed
        bodies = self._trials.many([((job_id, trial), body) for trial, body, _ in rows])
        listed.bodies.update((t.id, t) for t in bodies)
        listed.changed = max([listed.changed, *(changed for _, _, changed in rows)])
        added = []
        for trial in {t.id for t in bodies} | touched:
            model = self._with_points(listed.bodies[trial], curves.get(trial))
            at = listed.at.get(trial)
            if at is None:
                added.append(model)
            else:
                listed.trials[at] = model
        added.sort(key=lambda t: t.number)
        if added and listed.trials and added[0].number < listed.trials[-1].number:  # not past the last: in place
            added, listed.trials = sorted([*listed.trials, *added], key=lambda t: t.number), []
            listed.at = {}
        for trial in added:  # a Suggest's new trials, numbered past every listed one: appended
            listed.at[trial.id] = len(listed.trials)
            listed.trials.append(trial)
        return listed

    def _with_points(self, trial: Trial, points: tuple[int, dict[int, float]] | None) -> Trial:
        """The trial's listed model: its body's with the curve's rows (``points``: its newest
        rowid and points, None for no row), built again only when either changed."""
        if points is None:
            return trial
        seen = self._viewed.get((trial.job_id, trial.id))
        if seen is None or seen[0] is not trial or seen[1] != points[0]:
            seen = (trial, points[0], trial.model_copy(update={"curve": {**trial.curve, **points[1]}}))
            self._viewed[(trial.job_id, trial.id)] = seen
        return seen[2]

    def curve_values_at(self, job_id: str, step: int, besides: str | None = None) -> dict[str, float]:
        """One seek a trial on the key's index: its first row at or past ``step``. A trial
        whose body holds points (written before the rows) is read whole."""
        query = """SELECT t.id, json_extract(t.body, '$.curve') != '', (SELECT value FROM curves c
            WHERE c.job_id = t.job_id AND c.trial_id = t.id AND c.step >= ? ORDER BY c.step LIMIT 1)
            FROM trials t WHERE t.job_id = ? AND t.id IS NOT ?"""
        with self._lock:
            rows = self._conn.execute(query, (step, job_id, besides)).fetchall()
            old = [self._read_trial(self._conn, job_id, t) for t, in_body, _ in rows if in_body]
            old = [self._with_curve(self._conn, t) for t in old]
        values = {trial_id: value for trial_id, in_body, value in rows if not in_body and value is not None}
        return values | {t.id: v for t in old if (v := value_at(t.curve, step)) is not None}

    def curve_point(self, job_id: str, trial_id: str, step: int) -> float | None:
        """One seek on the key; a trial whose body holds points is read whole."""
        with self._lock:
            if self._read_trial(self._conn, job_id, trial_id).curve:  # points in a body predate the rows
                return super().curve_point(job_id, trial_id, step)
            query = "SELECT value FROM curves WHERE job_id = ? AND trial_id = ? AND step = ?"
            row = self._conn.execute(query, (job_id, trial_id, step)).fetchone()
        return None if row is None else row[0]

    def curve_best(self, job_id: str, trial_id: str, step: int, minimize: bool) -> float | None:
        """One seek on ``curves_by_value`` (the lowest or highest value first, its step
        checked in the index); a trial whose body holds points is read whole."""
        order = "ASC" if minimize else "DESC"
        query = f"""SELECT value FROM curves WHERE job_id = ? AND trial_id = ? AND step <= ?
            ORDER BY value {order} LIMIT 1"""
        with self._lock:
            if self._read_trial(self._conn, job_id, trial_id).curve:  # points in a body predate the rows
                return super().curve_best(job_id, trial_id, step, minimize)
            row = self._conn.execute(query, (job_id, trial_id, step)).fetchone()
        return None if row is None else row[0]

    def _read_curves(self, conn: sqlite3.Connection, job_id: str) -> dict[str, tuple[int, dict[int, float]]]:
        """The job's curve rows as committed, per trial its newest rowid and its points.

        Read incrementally, by rowid (a row written or replaced since gets a higher one,
        whichever connection wrote it; ``curves_by_job`` finds them), into a per-job copy
        held by this connection: a call reads only the rows written since the last one.
        The points are that copy's own: callers copy them, never change them. Called
        inside a transaction, before it writes rows (a rolled-back row must never join)."""
        last, curves = self._curves.get(job_id, (0, {}))
        newest, touched = self._newest, self._touched.setdefault(job_id, set())
        query = "SELECT rowid, trial_id, step, value FROM curves WHERE job_id = ? AND rowid > ? ORDER BY rowid"
        for rowid, trial_id_, step, value in conn.execute(query, (job_id, last)):
            _, points = curves.get(trial_id_, (0, {}))
            points[step] = value
            curves[trial_id_], last = (rowid, points), rowid
            touched.add(trial_id_)
            top = newest.get((job_id, trial_id_), ())
            if step not in top:
                newest[(job_id, trial_id_)] = tuple(sorted((*top, step), reverse=True)[:2])
        self._curves[job_id] = (last, curves)
        return curves

    def _write_point(
        self, conn: sqlite3.Connection, body: Trial, reports: Mapping[str, MetricReport], metric: str | None
    ) -> tuple[Mapping[int, float], dict[int, float]]:
        """Write the step report of ``metric`` as its row, with its ``at`` (``point_of``'s
        rules; a step the curve holds takes it only when ``replaces_point``, its row's ``at``
        read by the key), reading only the rows written since this connection last read the
        job's (``_read_curves``), never the whole curve. Returns the curve before the report
        (read-only: the copy's own points) and the reported point as the curve now holds it
        ({} for none; the held value when the report is older)."""
        _, points = self._read_curves(conn, body.job_id).get(body.id, (0, {}))
        curve = {**body.curve, **points} if body.curve else points  # points in a body predate the rows
        point = point_of(reports, metric)
        if not point:
            return curve, {}
        ((step, value),) = point.items()
        if step not in curve and len(curve) >= MAX_CURVE_STEPS:
            return curve, {}
        at, held = point_time(reports, metric), self._point_time(conn, body, step) if step in curve else None
        if not replaces_point(at, held):
            return curve, {step: curve[step]}
        if curve.get(step) != value or held != at:
            conn.execute(
                "INSERT OR REPLACE INTO curves (job_id, trial_id, step, value, at) VALUES (?, ?, ?, ?, ?)",
                (body.job_id, body.id, step, value, at),
            )
        return curve, {step: value}

    @staticmethod
    def _point_time(conn: sqlite3.Connection, trial: Trial, step: int) -> float | None:
        """The ``at`` kept with the curve's point at ``step`` (None: none kept, or no row)."""
        row = conn.execute(
            "SELECT at FROM curves WHERE job_id = ? AND trial_id = ? AND step = ?", (trial.job_id, trial.id, step)
        ).fetchone()
        return None if row is None else row[0]

    def start_trial(self, job_id: str, trial_id: str, backend_ref: str) -> Trial:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if trial.state is not TrialState.PENDING:
                raise ConflictError(f"trial {trial_id!r} is {trial.state.value}, not pending")
            status = self._read_job(conn, job_id).status
            if status.finished:
                raise ConflictError(f"trial {trial_id!r} not started: job {job_id!r} is {status.value}")
            trial = trial.model_copy(
                update={"state": TrialState.RUNNING, "backend_ref": backend_ref, "started_at": self.clock()}
            )
            self._write_trial(conn, trial)
            return self._with_curve(conn, trial)

    def report_metrics(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        whole_curve: bool = True,
    ) -> Trial | None:
        """The body and the reported step's row (``_write_point``), in one transaction;
        without ``whole_curve``, the curve's two newest steps come from the two highest steps
        of the rows read so far (``_newest``, kept as ``_read_curves`` reads them, which the
        write just did) and the reported point: no statement, and no scan of the curve,
        whatever its length."""
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return None
            trial = trial.with_reports(reports, objective=curve_metric)
            self._write_trial(conn, trial)
            curve, kept = self._write_point(conn, trial, reports, curve_metric)
            if whole_curve:
                return trial.model_copy(update={"curve": {**curve, **kept}})
            if not point_of(reports, curve_metric):
                return trial.model_copy(update={"curve": {}})
            held = {step: curve[step] for step in self._newest.get((job_id, trial_id), ())}
            rows = newest_points({**held, **kept})  # the two newest rows, this report's written
            newest = newest_points({**newest_points(trial.curve), **rows})  # points in a body predate the rows
            return trial.model_copy(update={"curve": {**newest, **kept}})

    def report_after_end(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        complete: Callable[[Trial], Trial | None] = lambda trial: None,
    ) -> Trial | None:
        with self._tx() as conn:
            body = self._read_trial(conn, job_id, trial_id)
            if body.state not in REVISABLE_ENDS:
                return None
            merged = body.with_reports(reports, objective=curve_metric)
            curve, kept = self._write_point(conn, merged, reports, curve_metric)
            viewed = merged.model_copy(update={"curve": {**curve, **kept}})
            ended = complete(viewed)
            assert ended is None or ended.state in {*REVISED_ENDS, body.state}, "completed, failed or recharged"
            if ended is None:
                if reports:  # none (a prune's check for a step written meanwhile): nothing to keep
                    self._write_trial(conn, merged, ends=False)  # its end stands: not ended again (as DynamoDB)
                return viewed
            self._write_trial(conn, ended.model_copy(update={"curve": merged.curve}))  # the rows hold the rest
            job = self._read_job(conn, job_id)
            self._write_job(conn, job.model_copy(update=revised_counter_changes(job, body, ended)))
            return ended

    def set_log_cursor(self, job_id: str, trial_id: str, cursor: LogCursor) -> bool:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return False
            self._write_trial(conn, trial.model_copy(update={"log_cursor": cursor}))
            return True

    def set_user_attr(self, job_id: str, trial_id: str, key: str, value: Any) -> Trial | None:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return None
            trial = trial.with_user_attr(key, value)
            self._write_trial(conn, trial)
            return self._with_curve(conn, trial)

    def note_stop(self, job_id: str, trial_id: str, reason: str) -> bool:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if trial.state is not TrialState.RUNNING:
                return False
            self._write_trial(conn, trial.model_copy(update={"error": reason}))
            return True

    def await_result(self, job_id: str, trial_id: str) -> Trial | None:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return None
            if trial.awaiting_result_since is None:
                trial = trial.model_copy(update={"awaiting_result_since": self.clock()})
                self._write_trial(conn, trial)
            return self._with_curve(conn, trial)

    def finish_trial(
        self,
        job_id: str,
        trial_id: str,
        state: TrialState,
        value: float | None = None,
        metrics: dict[str, float] | None = None,
        error: str | None = None,
        charge: Charge | None = None,
        values: list[float] | None = None,
        expected: Collection[TrialState] | None = None,
        end_unseen: bool = False,
    ) -> bool:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active or (expected is not None and trial.state not in expected):
                return False
            end = {"state": state, "value": value, "values": values, "metrics": metrics or {}, "error": error}
            end.update(ended_at=self.clock(), end_unseen=end_unseen)
            end.update(charge.fields() if charge is not None else {})
            trial = trial.model_copy(update=end)
            self._write_trial(conn, trial)
            job = self._read_job(conn, job_id)
            self._write_job(conn, job.model_copy(update=counter_changes(job, trial)))
            return True

    # task tokens

    def put_task_token(self, job_id: str, token: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO tokens (job_id, token) VALUES (?, ?)", (job_id, token))

    def take_task_token(self, job_id: str) -> str | None:
        with self._tx() as conn:
            row = conn.execute("SELECT token FROM tokens WHERE job_id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM tokens WHERE job_id = ?", (job_id,))
            return row[0]

    def return_task_token(self, job_id: str, token: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR IGNORE INTO tokens (job_id, token) VALUES (?, ?)", (job_id, token))

    def put_schedule_spec(self, name: str, owner: str | None, spec: Mapping[str, Any]) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO schedule_specs (name, owner, body) VALUES (?, ?, ?)",
                (name, owner, json.dumps(dict(spec))),
            )

    def get_schedule_spec(self, name: str) -> ScheduleSpec | None:
        with self._lock:
            row = self._conn.execute("SELECT owner, body FROM schedule_specs WHERE name = ?", (name,)).fetchone()
        return None if row is None else ScheduleSpec(owner=row[0], spec=json.loads(row[1]))

    def delete_schedule_spec(self, name: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM schedule_specs WHERE name = ?", (name,))
