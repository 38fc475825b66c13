"""The trial store port: where jobs, trials, task tokens and recurring schedules' specs live.

Every adapter (SQLite locally, DynamoDB on AWS) passes the one contract suite in
``tests/contract/test_store_contract.py``. The guarantees, which callers rely on:

- **Conditional writes.** ``create_job`` raises ``JobExistsError`` when the id is taken;
  ``put_trials`` raises ``TrialExistsError`` when a trial id is taken and then writes none
  of them; ``start_trial`` and ``set_job_status`` raise ``ConflictError`` when the record
  is not in an expected state (``start_trial``: also when the trial's job has finished).
  ``get_*`` raise ``NotFoundError``.
- **No lost updates under concurrency.** Counters only move by atomic increments:
  two suggesters racing on ``add_trials`` never hand out the same trial number and never
  overspend ``max_trials`` together.
- **No half-written trials.** ``add_trials`` takes budget and writes the trials holding it
  in one atomic step: a suggester that dies midway leaks no budget.
- **Exactly once.** ``finish_trial`` records a result only for a pending or running trial
  and returns False for a repeat (events arrive twice): the job's counters move once.
- **Order-free reports.** ``report_metrics`` merges by rank (final, step, time), and a
  curve's step keeps its newest report's value by time (``models.replaces_point``), so any
  order and any repetition of the same reports leave the same trial; ``report_after_end``
  merges those that come after a stopped or pruned end, and turns that end into the
  completed one they show, once.
- **One waker.** ``take_task_token`` returns a stored token to exactly one caller.
- **One clock.** Every time a store writes (``started_at``, ``ended_at``,
  ``awaiting_result_since``, DynamoDB's ``expires_at``) comes from its ``clock``, given
  to its constructor (``time.time`` by default); the service and the study read the same
  clock for the times they stamp (``created_at``) and compare, so a virtual clock drives
  a whole job.
"""

from __future__ import annotations

import heapq
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from hyperstep.messages import LogCursor
from hyperstep.models import Charge, Job, JobStatus, MetricReport, StopReason, Trial, TrialState
from hyperstep.schedulers.base import value_at
from hyperstep.spec import MAX_ENQUEUED, Budget

MakeTrial = Callable[[int, int], Trial]
"""What ``TrialStore.add_trials`` builds a trial with: ``make(i, number)``."""
ReadJob = Callable[[Job], None]
"""What ``TrialStore.add_trials`` hands the job it read for each attempt (``reading``)."""


def read_nothing(job: Job) -> None:
    """``add_trials``' ``reading`` by default: the job as read is not looked at."""


JobPlace = tuple[float, str]
"""Where a job stands in ``TrialStore.list_jobs``' order: its ``created_at`` and id."""


def place(job: Job) -> JobPlace:
    """The job's ``JobPlace``."""
    return job.created_at, job.id


class TrialStore(ABC):
    """Persistence for jobs and their trials."""

    clock: Callable[[], float]
    """What the store stamps times with (epoch seconds); set by each adapter's constructor."""

    keeps_unchanged_trials: bool = False
    """Whether ``list_trials`` hands back the very same ``Trial`` object for a trial not
    written since the last listing (``SQLiteStore``'s listing cache), so that a decision may
    carry what it derived from those trials to the next (``early_stopping.CurvesMemo``). A
    store that builds every model afresh (DynamoDB) keeps nothing for it to carry."""

    def batch(self) -> AbstractContextManager[None]:
        """Several mutations together (a collect invocation's batch of events), each still
        all or nothing on its own, and each seen by the next as if made alone; the store may
        save per-mutation work (one commit: ``SQLiteStore``). By default nothing changes
        (DynamoDB writes each item as it comes)."""
        return nullcontext()

    @abstractmethod
    def create_job(self, job: Job) -> None:
        """Store a new job; ``JobExistsError`` if its id is taken."""

    @abstractmethod
    def get_job(self, job_id: str) -> Job:
        """The job, read consistently; ``NotFoundError`` if absent."""

    @abstractmethod
    def list_jobs(self, limit: int = 100, owner: str | None = None, after: JobPlace | None = None) -> list[Job]:
        """Jobs, newest first (jobs created at the same time: by id, last first); with
        ``owner``, only the jobs that owner owns (a query on the owner, not a filter over
        every job); with ``after`` (``place`` of the last job of a page), the jobs that come
        after it in that order, so pages neither repeat nor skip a job created meanwhile."""

    @abstractmethod
    def list_unfinished_jobs(self) -> list[Job]:
        """Every job whose status is not finished (running or stopping), in no set order,
        however many jobs the store holds (what the reaper walks).

        Read consistently: a job created, reopened or still unfinished when the call
        starts is in it; one that finished before the call starts is not.
        """

    @abstractmethod
    def list_unpublished_jobs(self, ended_before: float) -> Iterator[Job]:
        """Every finished job whose completion event is not marked published
        (``completion_published`` false) and that ended before ``ended_before`` (the store's
        clock), in no set order: a closer that died between its status write and its publish
        left it so (the reaper announces it: ``TuningService.announce_lost``). Read as it is
        iterated (DynamoDB: one job at a time), so a reader out of time stops reading too.

        On DynamoDB it costs what such jobs number, not what the store holds: a job is among
        them from its end until its mark (``mark_completion_published``), a closer's moment.
        SQLite reads every job's status, as ``list_unfinished_jobs`` does (8.5 ms CPU a call
        at 2,000 jobs, 0.7 at 200).
        """

    @abstractmethod
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
        """Move the job to ``status`` (stamping ``ended_at`` for a finished status; clearing
        ``ended_at`` and ``error`` for an unfinished one: a job reopened after a failed start
        no longer shows that failure) and clear ``completion_published``: every end, a
        finished job's new one too (a failed start stopped), is announced anew. A write of a
        finished job's own status (its execution recorded, ``expected`` that status alone)
        is no new end and keeps it.

        With ``expected``, only from one of those statuses, else ``ConflictError``.
        ``execution_id``, ``error``, ``stop_reason`` and ``stop_detail`` are stored when
        given. ``reopen``: the job starts again after an end (``run --resume``, a keyed
        retry or a tick carrying on a failed start), so the ``stop_reason`` and
        ``stop_detail`` of that end go too, unless given, and ``reopened_at`` is stamped; a
        rule that lets running trials drain is recorded by a move to running without it, and
        kept. ``as_read``: the job as the caller read it; the write lands only if its recorded
        execution and its ``reopened_at`` are still as read (none recorded since, not reopened
        since), else ``ConflictError``, as for a status unexpected.
        Returns the updated job.
        """

    @abstractmethod
    def mark_completion_published(self, job_id: str) -> None:
        """Set the job's ``completion_published``, leaving the rest of it as it is; a later
        ``set_job_status`` clears it (a reopened job announces its next end). A job
        unfinished when the mark lands (reopened since its closer read it,
        between publishing and marking) is left unmarked: the end published was not its next
        one. ``NotFoundError`` if the job is absent."""

    @abstractmethod
    def set_budget(self, job_id: str, change: Callable[[Budget], Budget]) -> Job:
        """Replace a running job's ``spec.budget`` with ``change`` of it as stored when the
        write lands (a live change, ``PATCH /jobs/{id}``; ``change`` may be called more than
        once, and what it raises propagates) and return the job; ``ConflictError`` unless
        the job is running. The rest of the job is left as it is, whatever was written
        meanwhile, and so is a change another call made meanwhile."""

    @abstractmethod
    def add_trials(
        self, job_id: str, n: int, max_trials: int | None, make: MakeTrial, reading: ReadJob = read_nothing
    ) -> list[Trial]:
        """Take up to ``n`` trial numbers while ``budget_used`` stays within ``max_trials``
        (None: no limit) and store, with them, in one atomic step, the trial
        ``make(i, number)`` builds for the ``i``-th number taken (``make`` may be called
        again for the same ``i`` when a write is retried). Returns the trials stored, maybe
        fewer than ``n``, maybe none; numbers are never handed out twice.
        ``NotFoundError`` if the job is absent.

        ``reading`` gets the job as read for each attempt, before ``make`` builds its
        trials: the numbers are taken only while the job's ``enqueued`` points are still the
        ones it holds (an ``enqueue`` that lands meanwhile makes the attempt start again),
        so ``make`` can run the point stored for its number. What it raises propagates,
        and nothing is taken.

        A caller that dies midway (Step Functions retries a Suggest whose Lambda timed
        out) leaves either the budget taken and its trials written, or neither: budget is
        never held by a trial that does not exist. Batches past a store's atomic limit
        are written in parts, each part atomic on its own."""

    @abstractmethod
    def enqueue(self, job_id: str, point: Mapping[str, Any]) -> int:
        """Store ``point`` in the job's ``enqueued`` under ``Job.next_enqueued_number`` and
        return that number, in one atomic step with the job's ``trial_seq`` and points as
        read (two enqueues, or an enqueue and an ``add_trials``, never take one number).
        ``ValueError`` once the job holds ``MAX_ENQUEUED`` points; ``NotFoundError`` if the
        job is absent."""

    @abstractmethod
    def put_trials(self, trials: list[Trial]) -> None:
        """Store new trials of one job, all or none; ``TrialExistsError`` if an id is taken."""

    @abstractmethod
    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        """One trial; ``NotFoundError`` if absent."""

    def report_key(self, job_id: str, trial_id: str) -> str | None:
        """The key the trial's metric reports are signed with (``Trial.report_key``), read
        without its curve; ``NotFoundError`` if the trial is absent."""
        return self.get_trial(job_id, trial_id).report_key

    @abstractmethod
    def list_trials(self, job_id: str) -> list[Trial]:
        """Every trial of the job, by number."""

    @abstractmethod
    def start_trial(self, job_id: str, trial_id: str, backend_ref: str) -> Trial:
        """Mark a pending trial running on the backend under ``backend_ref``, in one atomic
        step with a check that its job is unfinished; ``ConflictError`` unless it is pending
        and its job running or stopping (a job closed since the caller read it starts no
        trial: the caller stops what it launched, ``TuningService.launch``; a stopping
        job's loop stops its running trials)."""

    @abstractmethod
    def report_metrics(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        whole_curve: bool = True,
    ) -> Trial | None:
        """Merge reported metrics into an active trial (``Trial.with_reports``: per metric
        the highest-ranking report, whatever the order of calls; the step reports of
        ``curve_metric`` join its curve, where each point keeps the ``at`` of the report that
        wrote it and a step it holds takes a report only when ``models.replaces_point``) and
        return the trial as written; None, changing nothing, when the trial has already
        finished.

        With ``whole_curve`` False the returned trial's ``curve`` holds only the reported
        step and the curve's two newest (highest) steps, as the curve now holds them (the
        reported step is missing when the report kept no point of it, a new step past
        ``MAX_CURVE_STEPS``; the curve is empty for a report with no point: no step, a
        final report, another metric): what a caller asks for that judges no curve, or
        only its newest steps (``Scheduler.decides``), so that a report costs the same at
        any length of the curve."""

    @abstractmethod
    def report_after_end(
        self,
        job_id: str,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        curve_metric: str | None = None,
        complete: Callable[[Trial], Trial | None] = lambda trial: None,
    ) -> Trial | None:
        """Merge reports that reached a trial after its end was recorded ``stopped`` or
        ``pruned`` (events come in no order: a stop's end event can beat the script's last
        reports) as ``report_metrics`` merges them, and return the trial as written; None,
        changing nothing, for a trial in any other state (an active one takes
        ``report_metrics``; a completed or failed end stands).

        ``complete`` gets the trial with the reports merged (its whole curve) and returns
        it ended ``completed`` (state, value, values, metrics, error) when they show its
        training was over, or ``failed`` (a pruned trial whose job failed on its own), or
        in the end it has with a larger charge (the platform's billed end), else None (it
        may be called again when a write is retried).
        Then, in the same atomic step, that end replaces the recorded one, once: the job's
        counters move as if the trial had ended so (``revised_counter_changes``: a stopped
        trial takes its unit of ``budget_used`` back, which may pass ``max_trials`` when a
        replacement started meanwhile; a pruned one moves from ``pruned`` to ``completed``),
        the job's best is updated when it beats it, its id joins ``recently_ended`` and its
        charge, counted at the first end, is not added again: only what the completed end's
        charge adds to it, when ``complete`` gives it a larger one (``revised_cost``: the
        completed end's usage covers the whole run, the stop's only what ran till the stop).
        Reports that leave the end as it is (a late step extending the curve) do not list it
        in ``recently_ended``: what a Suggest round reads of an ended trial (``TrialView``)
        did not change.
        """

    @abstractmethod
    def set_log_cursor(self, job_id: str, trial_id: str, cursor: LogCursor) -> bool:
        """Keep how far the active trial's log has been read (``Trial.log_cursor``); False,
        changing nothing, when the trial has already finished."""

    @abstractmethod
    def set_user_attr(self, job_id: str, trial_id: str, key: str, value: Any) -> Trial | None:
        """Keep ``value`` as the active trial's user attribute ``key`` (``Trial.with_user_attr``,
        whose ``ValueError`` changes nothing) and return the trial as it now is; None, changing
        nothing, when the trial has already finished."""

    @abstractmethod
    def note_stop(self, job_id: str, trial_id: str, reason: str) -> bool:
        """Keep, as the running trial's ``error``, why its job stops it (a completion rule,
        not its scheduler: ``completion.stopped_by_job``), before its backend is told, so its
        "stopped" end says so; its end's own record replaces it. False, changing nothing,
        when the trial is not running."""

    @abstractmethod
    def await_result(self, job_id: str, trial_id: str) -> Trial | None:
        """Note that the backend ended an active trial without its final objective value:
        set ``awaiting_result_since`` to now unless it is set already (the first end
        counts), leaving the trial active. Return the trial as it now is; None, changing
        nothing, when the trial has already finished."""

    @abstractmethod
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
        """Record a trial's end exactly once (``values``: every objective's, with several).

        Only a pending or running trial changes (with ``expected``, only one in one of
        those states: ``(PENDING,)`` stops a trial only if no launch has started it
        meanwhile, a call that returns False otherwise); then, in the same atomic step, the
        job's ``completed`` / ``failed`` / ``pruned`` counter goes up (a stopped trial gives
        its unit of ``budget_used`` back instead; a pruned one keeps it), the job's best is
        updated when the trial beats it (``Job.beats_best``: feasible, one objective), and the
        ``charge`` (what the trial cost) is kept on the trial and added to the job's
        ``cost_usd``; ``end_unseen`` is kept on the trial (``Trial.end_unseen``). Returns
        False, changing nothing, when the trial had already finished.
        """

    def curve_values_at(self, job_id: str, step: int, besides: str | None = None) -> dict[str, float]:
        """Each trial's curve value at the first step it reported at or past ``step``, by
        trial id, but trial ``besides``'s; a trial whose curve has not reached ``step`` is
        absent. What median stopping compares a trial with at ``step``
        (``early_stopping.should_stop``): an adapter answers with a keyed read a trial, never
        every curve (this default, for an adapter that has no such read, lists them)."""
        listed = (t for t in self.list_trials(job_id) if t.id != besides)
        return {t.id: v for t in listed if (v := value_at(t.curve, step)) is not None}

    def curve_point(self, job_id: str, trial_id: str, step: int) -> float | None:
        """The value the trial's curve holds at ``step``, None when it holds none: whether a
        step was reported (``Study.report`` keeps a step's first value, as Optuna does).
        This default reads the whole curve; ``NotFoundError`` if the trial is absent."""
        return self.get_trial(job_id, trial_id).curve.get(step)

    def curve_best(self, job_id: str, trial_id: str, step: int, minimize: bool) -> float | None:
        """The trial's best curve value over its steps up to ``step`` (the lowest when
        ``minimize``, else the highest); None when it has no step there. What median
        stopping holds against the others' median (this default reads the whole curve)."""
        curve = self.get_trial(job_id, trial_id).curve
        values = [v for s, v in curve.items() if s <= step]
        return None if not values else min(values) if minimize else max(values)

    def recently_ended(self, job_id: str) -> frozenset[str]:
        """Ids of the job's trials that ended since ``forget_ended`` last dropped them: at
        least those (``TrialView`` reads only these each round). This default, for an
        adapter that records none, lists every ended trial of the job."""
        return frozenset(t.id for t in self.list_trials(job_id) if not t.state.active)

    def forget_ended(self, job_id: str, trial_ids: Collection[str]) -> None:
        """Drop these ids from ``recently_ended`` (ids of trials ended meanwhile stay)."""
        return None

    @abstractmethod
    def put_task_token(self, job_id: str, token: str) -> None:
        """Remember the token of the execution waiting for this job's results."""

    @abstractmethod
    def take_task_token(self, job_id: str) -> str | None:
        """Remove and return the stored token; one caller gets it, the rest get None."""

    @abstractmethod
    def return_task_token(self, job_id: str, token: str) -> None:
        """Put back a token ``take_task_token`` gave out and its waker could not send,
        unless a newer one was parked meanwhile (a Wait that timed out into the next round
        parks its own: the one taken is dead and must not replace it)."""

    @abstractmethod
    def put_schedule_spec(self, name: str, owner: str | None, spec: Mapping[str, Any]) -> None:
        """Keep a recurring schedule's spec (JSON data) and owner under the schedule's name
        (Scheduler's, unique per owner), replacing what was kept under it. Never expires."""

    @abstractmethod
    def get_schedule_spec(self, name: str) -> ScheduleSpec | None:
        """The spec kept under the schedule's name, None if none is."""

    @abstractmethod
    def delete_schedule_spec(self, name: str) -> None:
        """Forget the spec kept under the schedule's name (none kept: nothing happens)."""


@dataclass(frozen=True)
class ScheduleSpec:
    """A recurring schedule's spec as kept, with its owner: what each tick starts a job from."""

    owner: str | None
    spec: dict[str, Any]


def enqueued_with(job: Job, point: Mapping[str, Any]) -> tuple[int, dict[int, dict[str, Any]]]:
    """The number ``TrialStore.enqueue`` gives ``point`` and the job's points with it; a
    ``ValueError`` once the job holds ``MAX_ENQUEUED`` (the spec's limit: more is a design,
    better given as a strategy)."""
    if len(job.enqueued) >= MAX_ENQUEUED:
        raise ValueError(f"enqueue_trial: job {job.id!r} holds {MAX_ENQUEUED} enqueued points, the most")
    number = job.next_enqueued_number
    return number, {**job.enqueued, number: dict(point)}


def counter_changes(job: Job, trial: Trial) -> dict:
    """How a job's counters, best and cost move when ``trial`` has just finished."""
    changes = _counts_and_best(job, trial)
    if trial.cost_usd:
        changes["cost_usd"] = job.cost_usd + trial.cost_usd
    return changes


REVISABLE_ENDS = frozenset({TrialState.STOPPED, TrialState.PRUNED})
"""The ends a late final report may turn into ``completed`` (``TrialStore.report_after_end``)."""
REVISED_ENDS = frozenset({TrialState.COMPLETED, TrialState.FAILED})
"""What such an end may become: ``completed``, or ``failed`` (a pruned trial's own failure);
or it stays as it is with a larger charge (the platform's billed end: no counter moves)."""


def revised_counter_changes(job: Job, was: Trial, trial: Trial) -> dict:
    """How a job's counters and best move when ``trial``, recorded ended as ``was`` (stopped
    or pruned), now ends as it is: the first end's counter undone, the new one's moved; its
    cost, counted at the first end, is not counted again (``revised_cost``)."""
    undone = {"budget_used": job.budget_used + 1} if was.state is TrialState.STOPPED else {"pruned": job.pruned - 1}
    changes = {**undone, **_counts_and_best(job.model_copy(update=undone), trial)}
    added = revised_cost(was, trial)
    return {**changes, "cost_usd": job.cost_usd + added} if added else changes


def revised_cost(was: Trial, trial: Trial) -> float:
    """What a revised end adds to its job's cost: what ``trial`` cost beyond ``was``, the
    end it replaces, already counted (never less than nothing)."""
    return max((trial.cost_usd or 0.0) - (was.cost_usd or 0.0), 0.0)


def _counts_and_best(job: Job, trial: Trial) -> dict:
    if trial.state is TrialState.STOPPED:
        return {"budget_used": job.budget_used - 1}
    if trial.state is TrialState.PRUNED:  # never the job's best: it did not reach max_resource
        return {"pruned": job.pruned + 1}
    if trial.state is TrialState.FAILED or trial.value is None:
        return {"failed": job.failed + 1}
    changes: dict = {"completed": job.completed + 1}
    if job.beats_best(trial):
        changes.update(best_value=trial.value, best_trial_id=trial.id)
    return changes


def newest_points(curve: Mapping[int, float], count: int = 2) -> dict[int, float]:
    """The curve's ``count`` newest (highest) steps with their values, newest first (one
    scan; a curve that short, sorted: a step report's few points, three times each)."""
    steps = sorted(curve, reverse=True) if len(curve) <= count else heapq.nlargest(count, curve)
    return {step: curve[step] for step in steps}


def point_of(reports: Mapping[str, MetricReport], metric: str | None) -> dict[int, float]:
    """The point of ``metric``'s curve the reports hold ({}: none): its step report's, if
    finite (a final report, or one without a step, is no point of the curve). The stores
    write it at its step when ``replaces_point`` (past ``MAX_CURVE_STEPS`` steps, a new
    step is dropped), so a curve is the same whatever order its reports arrive in."""
    report = None if metric is None else reports.get(metric)
    if report is None or report.step is None or report.final or not math.isfinite(report.value):
        return {}
    return {report.step: report.value}


def point_time(reports: Mapping[str, MetricReport], metric: str | None) -> float | None:
    """The ``at`` of the report ``point_of`` takes its point from (what the stores keep with
    the point, and ``replaces_point`` compares); None without one."""
    report = None if metric is None else reports.get(metric)
    return None if report is None else report.at
