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
(``ParsedBodies``): a read costs a row fetch and a string comparison, not a validation;
and a job's list of trials is read again only once something was committed since
(on this connection, or on another: SQLite's ``PRAGMA data_version``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Generic, TypeVar

from hyperstep.errors import ConflictError, JobExistsError, NotFoundError, TrialExistsError
from hyperstep.models import Job, JobStatus, MetricReport, StopReason, Trial, TrialState
from hyperstep.spec import STORED, Budget
from hyperstep.stores.base import TrialStore, counter_changes

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, created_at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    job_id TEXT NOT NULL, id TEXT NOT NULL, number INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (job_id, id));
CREATE TABLE IF NOT EXISTS tokens (job_id TEXT PRIMARY KEY, token TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (json_extract(body, '$.owner'), created_at);
"""


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

    def many(self, rows: list[tuple[Hashable, str]]) -> list[Model]:
        """The models of ``(key, body)`` rows, in order (a job's every trial, each Suggest)."""
        seen, models = self._seen, []
        for key, body in rows:
            hit = seen.get(key)
            models.append(hit[1] if hit is not None and hit[0] == body else self(key, body))
        return models


class SQLiteStore(TrialStore):
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
        self._trials = ParsedBodies(Trial.model_validate_json)
        self._commits = 0
        """Transactions committed on this connection (``PRAGMA data_version`` counts the others')."""
        self._listed: dict[str, tuple[tuple[int, int], list[Trial]]] = {}
        """Each job's last ``list_trials``, with the database version it was read at."""

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            self._commits += 1

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
        conn.execute("UPDATE jobs SET body = ? WHERE id = ?", (job.model_dump_json(), job.id))

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
        with self._lock:
            return self._read_job(self._conn, job_id)

    def list_jobs(self, limit: int = 100, owner: str | None = None) -> list[Job]:
        """Newest first; an owner's jobs through the ``jobs_by_owner`` index."""
        with self._lock:
            if owner is None:
                query, args = "SELECT body FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,)
            else:
                where = "WHERE json_extract(body, '$.owner') = ?"
                query, args = f"SELECT body FROM jobs {where} ORDER BY created_at DESC LIMIT ?", (owner, limit)
            rows = self._conn.execute(query, args).fetchall()
        return [Job.model_validate_json(r[0], context=STORED) for r in rows]

    def list_unfinished_jobs(self) -> list[Job]:
        unfinished = [status.value for status in JobStatus if not status.finished]
        marks = ", ".join("?" * len(unfinished))
        query = f"SELECT body FROM jobs WHERE json_extract(body, '$.status') IN ({marks}) ORDER BY created_at"
        with self._lock:
            rows = self._conn.execute(query, unfinished).fetchall()
        return [Job.model_validate_json(r[0], context=STORED) for r in rows]

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
    ) -> Job:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            if expected is not None and job.status not in expected:
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not {'/'.join(s.value for s in expected)}")
            changes: dict = {"status": status, "ended_at": self.clock() if status.finished else None}
            if error is not None:
                changes["error"] = error
            if execution_id is not None:
                changes["execution_id"] = execution_id
            if stop_reason is not None:
                changes.update(stop_reason=stop_reason, stop_detail=stop_detail)
            job = job.model_copy(update=changes)
            self._write_job(conn, job)
            return job

    def set_budget(self, job_id: str, budget: Budget) -> Job:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            if job.status is not JobStatus.RUNNING:
                raise ConflictError(f"job {job_id!r} is {job.status.value}, not running")
            job = job.model_copy(update={"spec": job.spec.model_copy(update={"budget": budget})})
            self._write_job(conn, job)
            return job

    def reserve_trials(self, job_id: str, n: int, max_trials: int | None) -> list[int]:
        with self._tx() as conn:
            job = self._read_job(conn, job_id)
            take = n if max_trials is None else max(0, min(n, max_trials - job.budget_used))
            if take <= 0:
                return []
            first = job.trial_seq + 1
            self._write_job(
                conn, job.model_copy(update={"trial_seq": job.trial_seq + take, "budget_used": job.budget_used + take})
            )
            return list(range(first, first + take))

    # trials

    def _read_trial(self, conn: sqlite3.Connection, job_id: str, trial_id_: str) -> Trial:
        row = conn.execute("SELECT body FROM trials WHERE job_id = ? AND id = ?", (job_id, trial_id_)).fetchone()
        if row is None:
            raise NotFoundError(f"trial {trial_id_!r} of job {job_id!r} not found")
        return self._trials((job_id, trial_id_), row[0])

    def _write_trial(self, conn: sqlite3.Connection, trial: Trial) -> None:
        conn.execute(
            "UPDATE trials SET body = ? WHERE job_id = ? AND id = ?", (trial.model_dump_json(), trial.job_id, trial.id)
        )

    def put_trials(self, trials: list[Trial]) -> None:
        with self._tx() as conn:
            for t in trials:
                try:
                    conn.execute(
                        "INSERT INTO trials (job_id, id, number, body) VALUES (?, ?, ?, ?)",
                        (t.job_id, t.id, t.number, t.model_dump_json()),
                    )
                except sqlite3.IntegrityError:
                    raise TrialExistsError(f"trial {t.id!r} of job {t.job_id!r} already exists") from None

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        with self._lock:
            return self._read_trial(self._conn, job_id, trial_id)

    def list_trials(self, job_id: str) -> list[Trial]:
        with self._lock:  # nothing committed since the last read, here or elsewhere: the same list
            version = (self._conn.execute("PRAGMA data_version").fetchone()[0], self._commits)
            listed = self._listed.get(job_id)
            if listed is None or listed[0] != version:
                rows = self._conn.execute(
                    "SELECT job_id, id, body FROM trials WHERE job_id = ? ORDER BY number", (job_id,)
                ).fetchall()
                listed = version, self._trials.many([((job, trial), body) for job, trial, body in rows])
                self._listed[job_id] = listed
        return list(listed[1])

    def start_trial(self, job_id: str, trial_id: str, backend_ref: str) -> Trial:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if trial.state is not TrialState.PENDING:
                raise ConflictError(f"trial {trial_id!r} is {trial.state.value}, not pending")
            trial = trial.model_copy(
                update={"state": TrialState.RUNNING, "backend_ref": backend_ref, "started_at": self.clock()}
            )
            self._write_trial(conn, trial)
            return trial

    def report_metrics(
        self, job_id: str, trial_id: str, reports: Mapping[str, MetricReport], curve_metric: str | None = None
    ) -> Trial | None:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return None
            trial = trial.with_reports(reports, curve_metric)
            self._write_trial(conn, trial)
            return trial

    def await_result(self, job_id: str, trial_id: str) -> Trial | None:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return None
            if trial.awaiting_result_since is None:
                trial = trial.model_copy(update={"awaiting_result_since": self.clock()})
                self._write_trial(conn, trial)
            return trial

    def finish_trial(
        self,
        job_id: str,
        trial_id: str,
        state: TrialState,
        value: float | None = None,
        metrics: dict[str, float] | None = None,
        error: str | None = None,
    ) -> bool:
        with self._tx() as conn:
            trial = self._read_trial(conn, job_id, trial_id)
            if not trial.state.active:
                return False
            end = {"state": state, "value": value, "metrics": metrics or {}, "error": error, "ended_at": self.clock()}
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
