"""The use cases the handlers call: submit, suggest, launch, wait, collect, finish, stop, reap.

Each takes a small pydantic request and returns a small pydantic response (both in
``hyperstep.messages``): exactly what crosses a Lambda boundary. Handlers decide nothing;
the state machine only routes on the flags these return (``Plan.done``, ``Progress.done``).

**A trial's objective is its final value, whatever the order of events.** EventBridge
delivers a trial's end event and its script's metric reports in no order, some twice,
some late, some never. So:

- reports are kept with their step and finality and merged by rank (``MetricReport``: a
  final report beats any step, a higher step a lower one, a duplicate changes nothing);
- a completed trial's final metrics are its final reports overlaid by the platform's own
  (the end event's, else ``TrialBackend.final_metrics``, SageMaker's Describe, asked
  whenever the event lacks the objective); an intermediate value never becomes the objective;
- a trial that completed without its final objective, on a backend whose reports may come
  late (``late_reports``), stays running, awaiting it (``Trial.awaiting_result_since``): a
  final report arriving later completes it, and the reaper, once the grace period has
  passed, completes it from the source (``TrialBackend.recover_metrics``: SageMaker's
  Describe, else its log, a Batch job's log, read with the spec's regexes) or fails it saying what was
  missing. A failed or stopped trial is recorded at once with what was reported; a
  stopped one whose final report, or step at ``max_resource``, or whose backend's
  completed end with the objective, comes after its end then completes with it, as it
  would have had that come first (``_report_after_end``, ``_completed_after_end``: a stop
  can land after, or in the last seconds of, the training). A pruned one (the scheduler's
  decision) completes only when its curve reaches ``max_resource``.

**Early stopping.** With the spec's ``early_stopping``, every step report of the objective
joins the trial's curve, and the job's scheduler judges the trial at once
(``hyperstep.early_stopping``): told to stop, collect stops it on its backend
(``StopTrainingJob``, ``TerminateJob``, a killed process) and records it ``pruned`` with its
last value, keeping its curve and its unit of budget. The backend's own "stopped" end then
finds it recorded; should that end come first (the stop landed, the record did not), it
is recorded pruned all the same, by ``tell``'s rule (early stopping on, a curve, the job
running: ``early_stopping.pruned_when_stopped``), not by asking the scheduler again, whose
answer may have changed with the steps reported since. A trial the stop finds already
ended on its own (a refused ``StopTrainingJob``, a SUCCEEDED Batch job, an exited process)
is recorded pruned all the same: the reports still on the way join its curve, and it
completes only if they reach ``max_resource`` (``stop_early``). A running trial the job
itself stops (a completion rule such as ``budget.target``, or Finish) ends pruned by the same
rule, but its reason, noted on it before the stop (``_stop_active``), says the job stopped it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import random
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

from pydantic import ValidationError

from hyperstep import completion, early_stopping
from hyperstep.backends.base import TrialBackend
from hyperstep.backends.registry import AWS_BACKENDS
from hyperstep.errors import (
    CapacityError,
    ConflictError,
    ExecutionClosedError,
    JobExistsError,
    LaunchError,
    NotFoundError,
    SpecError,
    UnreadMetricError,
)
from hyperstep.execution_events import ENDED_OUTSIDE, ExecutionStatusChange
from hyperstep.messages import (
    MIN_ROUND_SECONDS,
    ROUND_SECONDS,
    FinishRequest,
    LaunchRequest,
    Plan,
    Progress,
    SuggestRequest,
    TrialMetric,
    TrialResult,
    Usage,
    WaitRequest,
    clipped,
    round_seconds,
)
from hyperstep.models import (
    Charge,
    Job,
    JobStatus,
    MetricReport,
    StopReason,
    Trial,
    TrialState,
    drawn_seed,
    finite_metrics,
)
from hyperstep.objectives import pareto_front
from hyperstep.ports import EventPublisher, NullPublisher, Orchestrator
from hyperstep.pricing import budget as dollars
from hyperstep.pricing import check_listed
from hyperstep.recorded_ends import RecordedEnd, note
from hyperstep.report_signing import check_signature
from hyperstep.spec import Budget, BudgetUpdate, JobSpec, describe_validation_error
from hyperstep.spec_base import TrialBlockBase
from hyperstep.stores.base import REVISABLE_ENDS, TrialStore
from hyperstep.study import Study
from hyperstep.trial_view import Snapshot, TrialView, results_of
from hyperstep.warm_start import check_parent, same_objectives

__all__ = ["HANDOFF_EVENTS", "ROUND_EVENTS", "TuningService", "parked", "results_of", "unparked"]

log = logging.getLogger(__name__)

PUBLISH_GRACE_SECONDS = 900.0
"""How long after a job's end the reaper publishes its completion event if no closer has
(``announce_lost``): longer than a closer's own retries, so it rarely publishes twice. Finish
Job as a Task: 5 tries of the function's 60 s timeout, 2, 4, 8 and 16 s apart (the state
machine's Retry), 330 s; as the target of an execution's status-change rule, an asynchronous
invoke: 3 tries, one and two minutes apart ("How Lambda handles errors and retries with
asynchronous invocation", Lambda Developer Guide), 360 s. Throttled invokes may wait in
Lambda's queue up to 6 hours: such a late retry then publishes a second time."""

ANNOUNCING_SHARE = 0.5
"""The share of a pass cut short (``until``) that announcing lost events may take before the
jobs are reaped: PutEvents throttled past the SDK's retries costs seconds an event, and
failed events stay lost, first again in the next pass; with all of it, they would leave the
jobs no time, pass after pass while the throttling lasts."""
# A Standard execution fails once its history passes 25,000 events
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). Each loop
# round (Suggest Trials, whose task waits for its token, then Job Done?) writes ROUND_EVENTS
# events however many trials it launches (Suggest launches them itself), measured on the
# local executor's history, which mirrors GetExecutionHistory; retries add a few, and a
# round that timed out adds ROUND_EVENTS in its No News state (statemachine/tuning.asl.json).
# Past HANDOFF_EVENTS, Suggest hands the job to a fresh execution.
ROUND_EVENTS = 8
HANDOFF_EVENTS = 10_000


class Recorded(NamedTuple):
    """What recording one event did: kept it (``recorded``), and ended its trial (``ended``)."""

    recorded: bool
    ended: bool


class TuningService:
    """The application core, wired to one store, the backends, an orchestrator and a bus."""

    def __init__(
        self,
        store: TrialStore,
        backends: Mapping[str, TrialBackend],
        orchestrator: Orchestrator | None = None,
        publisher: EventPublisher | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """``clock`` defaults to the store's: the times the service compares (runtime,
        grace periods, timeouts) and those the store stamps must come from one clock."""
        self.store = store
        self.backends = backends
        self.orchestrator = orchestrator
        self.publisher = publisher or NullPublisher()
        self.clock = store.clock if clock is None else clock
        self.view = TrialView(store)
        """The jobs' trials as Suggest last read them, kept while this service lives (a warm Lambda)."""
        self.reaped = TrialView(store)
        """The same as the reaper last read them (its own: locally the reaper runs on a thread of its own)."""
        self.woken: dict[str, bool] = {}
        """The jobs a reaper pass is reconciling (``reap_job``), each with whether a wake sent on
        its parked round since; no other job is kept (Collect's, Suggest's wakes in a warm Lambda)."""

    # submit

    def create_job(
        self, spec: JobSpec, job_id: str | None = None, parents: Sequence[str] = (), owner: str | None = None
    ) -> Job:
        """Store a validated spec as a new running job (no execution yet).

        ``parents`` are earlier jobs (ids) whose trials the strategy learns from, besides
        the spec's ``warm_start.jobs`` (``SpecError`` naming an unknown one: nothing is
        stored); one of ``parents`` gone is left out (a schedule's earlier run that the
        table's TTL removed after the tick read it: the tick must still start its job);
        ``owner`` the principal that submitted it through the API (``hyperstep.owners``).
        """
        named = set(warm_start_parents(spec))
        kept = []
        for parent in warm_start_parents(spec, parents):
            try:
                job = self.store.get_job(parent)
            except NotFoundError:
                if parent not in named:
                    continue
                raise SpecError(f"warm_start.jobs: job {parent!r} not found") from None
            if parent in named:
                check_parent(spec, job, partial(self.store.list_trials, parent))
            elif not same_objectives(spec, job):
                continue  # a schedule's earlier run of another objective: nothing to learn
            kept.append(parent)
        parents = tuple(kept)
        self.check_listed_prices(spec)
        now = self.clock()
        job = Job(
            id=job_id or new_job_id(spec.name, now),
            spec=spec,
            created_at=now,
            parents=tuple(parents),
            seed=drawn_seed(spec),
            owner=owner,
        )
        for _ in range(ID_DRAWS - 1):
            try:
                self.store.create_job(job)
                return job
            except JobExistsError:
                if job_id is not None:  # the caller's own id: theirs to change
                    raise
                job = job.model_copy(update={"id": new_job_id(spec.name, now)})
        self.store.create_job(job)
        return job

    def submit(
        self,
        spec: JobSpec,
        job_id: str | None = None,
        parents: Sequence[str] = (),
        owner: str | None = None,
        seed: str | None = None,
    ) -> Job:
        """Create the job and start its execution (``seed``: ``start_execution``'s); the job
        fails if the start fails."""
        assert self.orchestrator is not None, "submit needs an orchestrator"
        job = self.create_job(spec, job_id, parents, owner)
        return self.start_execution(job.id, seed)

    def start_execution(self, job_id: str, seed: str | None = None) -> Job:
        """Start (or, for a resumed job, restart) the job's execution; the job is running
        already (created so, or reopened). The execution may end the job before the start
        returns (the local executor runs it at once; every trial failing at launch), so its
        id is recorded keeping whatever status the job has by then (``_record_execution``).

        ``seed`` names the execution: a start retried with the same seed gets the execution
        an earlier try started, if it did (Step Functions starts none twice under one name);
        without one, a new execution. An earlier try's execution that has closed (its answer
        was lost, so the job was stored failed; the execution found it so and ended) leaves
        the job none that runs: the start goes on to the seed's next name (``_live_execution``).

        A start that raises fails the job only if it is still running: a stop that landed
        meanwhile (the job stopping) is kept, and the job closed stopped, as no execution may
        run it (one whose start lost only its answer finds it closed and ends); written failed
        over it, the stop was lost, and such an execution took the job back (``_claimed``).
        Either end publishes the job's completion event (``_announce``): no execution will.
        A failed start whose error leaves unknown whether its execution started (a timeout,
        not the orchestrator's refusal: ``Orchestrator.started_nothing``) publishes nothing
        yet: that execution, if it runs, takes the job back at its first Suggest (``_claimed``)
        and announces its real end, one event for the job instead of "failed" then its end;
        if none does, the reaper's pass announces the failure once the grace is over
        (``announce_lost``). A job whose failure was announced and that is taken back or
        reopened later (a keyed retry, a tick) announces its next end too.

        The failure is written only over the job as read before the start (``as_read``): an
        execution recorded meanwhile (another delivery of the same tick, starting the same
        name, recorded it) runs the job, and a failed write over it would leave its Suggest
        a job closed under it (announced failed, run by none).

        A read that raises (GetItem throttled or failing past botocore's retries) fails the
        start as a refused StartExecution would, not leaving the job running, run by none,
        for the reaper's whole grace (``_fail_unstarted``): it started nothing, so the job is
        read again and failed as read then, and announced at once, unless an execution was
        recorded by then (on AWS a job is started with none recorded: another try's, which
        runs it); that second read raising too leaves the job to the reaper, as before."""
        assert self.orchestrator is not None, "starting needs an orchestrator"
        read: Job | None = None
        try:
            read = self.store.get_job(job_id)
            execution_id = self._live_execution(job_id, seed or uuid.uuid4().hex)
        except Exception as exc:
            refused = read is None or self.orchestrator.started_nothing(exc)
            if read is None:
                read = self.store.get_job(job_id)
                if read.execution_id is not None:
                    raise
            failed = clipped(f"{START_FAILED}: {exc}")
            try:
                job = self.store.set_job_status(
                    job_id, JobStatus.FAILED, expected=(JobStatus.RUNNING,), error=failed, as_read=read
                )
            except ConflictError:
                if self.store.get_job(job_id).status is JobStatus.STOPPING:
                    self._announced(lambda: self.finish(FinishRequest(job_id=job_id)), job_id)
            else:
                if refused:  # else the reaper's pass may (``announce_lost``)
                    self._announced(lambda: self._announce(job), job_id)
            raise
        return self._record_execution(job_id, execution_id)

    def _live_execution(self, job_id: str, seed: str) -> str:
        """Start the job's execution under the first of the seed's names (``seed``, then
        ``seed/1``, ``seed/2``, ...) that no closed execution holds, and return its id: the
        same names in every try, so two tries at once still start one execution."""
        assert self.orchestrator is not None, "starting needs an orchestrator"
        *names, last = [execution_name(job_id, seed if n == 0 else f"{seed}/{n}") for n in range(MAX_NAMES)]
        for name in names:
            with contextlib.suppress(ExecutionClosedError):
                return self.orchestrator.start_execution(job_id, name)
        return self.orchestrator.start_execution(job_id, last)

    # the loop

    def suggest(self, request: SuggestRequest) -> Plan:
        """Stop what must stop, then plan the pending trials and new ones for the free slots.

        Safe to run twice with the same input (Step Functions retries a Task whose response
        was lost after its writes landed): the trials a first run reserved are still
        pending, so the second run plans them again instead of counting them as running
        and planning nothing; a first run that handed the job over hands it over again.

        A job already closed (finished by Finish Job or by its execution's end,
        ``close_ended_execution``) is done at once, planning and stopping nothing: a
        redriven execution (``RedriveExecution`` re-runs the failed state with the same
        input) or a Suggest still running when its execution was stopped goes straight to
        Finish Job, which changes nothing and publishes nothing again.
        """
        job, answered_closed = self._claimed(self.store.get_job(request.job_id), request.execution)
        # Count results before reading the trials that decide ``done``: a result landing in
        # between then shows as news to Wait (which wakes at once) instead of being lost.
        seen = results_of(job)
        if job.status.finished:
            return self._closed_plan(job, seen, request.history_events)
        if answered_closed:  # closed, or redriven just now: launch nothing until a later round
            reason = f"execution {request.execution} was answered closed: this round launches nothing"
            return Plan(
                job_id=job.id,
                done=False,
                results_seen=seen,
                reason=reason,
                history_events=request.history_events + ROUND_EVENTS,
            )
        if request.execution and self.handed_over(job, request.execution):
            return self._handoff_plan(job, seen)
        if request.execution and self._run_by_another(job, request.execution):
            return self._handoff_plan(job, seen, f"the job is recorded as run by execution {job.execution_id}")
        study = Study.from_job(self.store, job, self.view.parent_trials)
        whole = study.fidelity_levels is not None  # its model reads running trials' curves
        snapshot = self.view.snapshot(job, whole=whole)
        stop = self.stop_rule(job, snapshot)
        if stop is None and request.execution and request.history_events >= HANDOFF_EVENTS:
            return self.hand_over(job, request.execution, seen)
        if stop is not None:
            self._record_draining(job, stop)
            if stop.stops_running:
                self._stop_active(job, snapshot.active(), stop.detail)
            job = self.store.get_job(job.id)
            seen, snapshot = results_of(job), self.view.snapshot(job, whole=whole)
        running = snapshot.active()  # the pending and running: a pass over the job's few, not all
        pending = [t for t in running if t.state is TrialState.PENDING]
        active = len(running)
        new: list[Trial] = []
        free = job.spec.budget.max_parallel - active
        if job.spec.budget.max_trials is not None:  # no model fit for trials the budget cannot take
            free = min(free, job.spec.budget.max_trials - job.budget_used)
        affordable = dollars.affordable(job, snapshot, self._region(job))
        if affordable is not None:
            free = min(free, affordable)
        reason = None if stop is None else stop.detail
        if stop is None and free > 0:
            new = study.ask(free, max_trials=job.spec.budget.max_trials, trials=snapshot.ordered(), snapshot=snapshot)
            self.view.remember(new)
        if stop is None and not new and active == 0:
            reason = self._final_stop(job, snapshot).detail
        planned = [t.id for t in [*pending, *new]]
        done = not new and active == 0
        return Plan(
            job_id=job.id,
            done=done,
            trial_ids=planned,
            results_seen=seen,
            reason=reason if done else None,
            history_events=request.history_events + ROUND_EVENTS,
            stopping=job.status is JobStatus.STOPPING,
        )

    def _claimed(self, job: Job, execution: str | None) -> tuple[Job, bool]:
        """The job, taken by this execution if its start failed only for its answer: stored
        failed (``START_FAILED``, no execution recorded) while the execution it started runs.
        Closing at once, that execution raced a retried start, which reopens the job and,
        finding it still running under the seed's name, records it (``_live_execution``):
        the job was left to an execution on its way to Finish, run by none. It reopens the
        job and records itself (``start_execution`` under its own running name answers its
        own id); a retry then finds the job running and starts nothing. And whether this
        execution's own name was answered closed once the job was taken or recorded (below):
        its round then launches nothing.

        The id is asked for before the one write that reopens the job and records it: a call
        that raises (its answer lost) leaves the job failed, and Step Functions' retry of
        the Task takes it back again. Its own name, running, cannot be refused (StartExecution:
        the same name and input while "the original execution is open" answer Success; "when
        the original execution is closed, the ExecutionAlreadyExists message is returned
        regardless of input", Step Functions API reference; a redriven execution, which the
        reference does not cover, is asked DescribeExecution and answered as running once
        it runs again: ``StepFunctionsOrchestrator``): an ``ExecutionClosedError`` says
        this execution has closed (stopped by its owner, timed out) with its Suggest still
        running, or was redriven so recently that DescribeExecution, eventually consistent
        ("may not reflect very recent updates", API reference), still answers its old end;
        the job, failed already, is left failed, to a retry's next name.

        Once the job is taken, the name is asked again: an execution that closed between the
        first answer and the write had its end event find no execution of the job to close
        (``close_ended_execution``). A running job with no execution recorded (its start's
        record lost: the start's Lambda timed out after StartExecution answered) has this
        one recorded (``_record_execution``), before the reaper past its grace takes it for
        a job whose start began none (``_fail_unstarted``) while its next Suggest is hours
        away. In both, a "closed" answer may be that stale one of an execution just redriven
        and running this Suggest: closing the job on it would close the job under the
        execution that runs it, for good. The job keeps this execution recorded and its
        round launches nothing (True): really closed, it is closed by the reaper's next
        pass, whose DescribeExecution comes the grace later (``_close_if_ended``), its
        parked token answering no wake; running, its next round (a wake, or its timeout)
        finds its own name recorded and goes on."""
        if not execution or self.orchestrator is None:
            return job, False
        if job.status is JobStatus.RUNNING and job.execution_id is None:
            try:
                return self._record_execution(job.id, self.orchestrator.start_execution(job.id, execution)), False
            except ExecutionClosedError as exc:
                return self._record_execution(job.id, exc.execution_id), True
        if not is_unstarted(job):
            return job, False
        try:
            execution_id = self.orchestrator.start_execution(job.id, execution)
        except ExecutionClosedError:
            return job, False
        try:
            taken = self.store.set_job_status(
                job.id, JobStatus.RUNNING, expected=(JobStatus.FAILED,), execution_id=execution_id
            )
        except ConflictError:  # a retry reopened it first: it records this execution
            return self.store.get_job(job.id), False
        try:
            self.orchestrator.start_execution(job.id, execution)
        except ExecutionClosedError:
            return taken, True
        return taken, False

    @staticmethod
    def _closed_plan(job: Job, seen: int, history_events: int) -> Plan:
        """The plan for a job that is closed already: done, nothing to launch."""
        reason = f"job is {job.status.value}"
        return Plan(
            job_id=job.id, done=True, results_seen=seen, reason=reason, history_events=history_events + ROUND_EVENTS
        )

    def _record_draining(self, job: Job, stop: completion.Stop) -> None:
        """Keep a rule that lets running trials finish on the job the first time it fires,
        so it holds until Finish (a trial still running may yet improve the best)."""
        if stop.stops_running or job.stop_reason is not None:
            return
        with contextlib.suppress(ConflictError):  # stopped meanwhile: Finish says so
            self.store.set_job_status(
                job.id,
                JobStatus.RUNNING,
                expected=(JobStatus.RUNNING,),
                stop_reason=stop.reason,
                stop_detail=stop.detail,
            )

    def suggest_and_launch(self, request: SuggestRequest) -> Plan:
        """One round of Suggest Trials: plan (``suggest``), then launch every planned trial.

        Safe to run twice: a planned trial another attempt launched is a no-op to
        ``launch``. A launch that raises (a throttled API, say) fails the round, and
        the state's retry plans the trial again (it is still pending), as does the next
        round or, once the retries are spent, Finish stops it; a ``LaunchError`` (a
        request the platform rejects) fails the trial alone; a ``CapacityError`` (an
        instance quota in use) leaves it pending for a later round while another trial runs.
        """
        plan = self.suggest(request)
        started = 0
        for trial_id in plan.trial_ids:
            outcome = self.launch(LaunchRequest(job_id=plan.job_id, trial_id=trial_id))
            started += outcome["state"] in (TrialState.RUNNING.value, TrialState.FAILED.value)
        return plan.model_copy(update={"started": started})

    def suggest_round(self, request: SuggestRequest) -> Plan:
        """The Suggest Trials task: plan and launch (``suggest_and_launch``), then end the
        round or park it.

        The task waits for its token (``request.task_token``): a plan that ends the loop
        (the job is done or handed over) is sent back at once; any other parks the token
        until a result wakes it (``wait``: at once if one came meanwhile). A retried attempt
        has a new token, which replaces the one an earlier attempt parked. Without a token
        (a direct call) the plan is only returned.
        """
        plan = self.suggest_and_launch(request)
        if request.task_token is None:
            return plan
        sooner = self._sooner_first_round(request, plan)
        if sooner is not None:
            plan = plan.model_copy(update={"round_seconds": sooner})
        if plan.done or plan.handoff or sooner is not None:
            assert self.orchestrator is not None, "ending a round needs an orchestrator"
            self.orchestrator.send_task_success(request.task_token, plan.model_dump(mode="json"))
        else:
            self.wait(
                WaitRequest(
                    job_id=plan.job_id,
                    task_token=request.task_token,
                    results_seen=plan.results_seen,
                    history_events=plan.history_events,
                    stopping=plan.stopping,
                )
            )
        return plan

    def _sooner_first_round(self, request: SuggestRequest, plan: Plan) -> int | None:
        """The timeout an execution's first round should have, when the job's deadline comes
        ``MIN_ROUND_SECONDS`` or more before the ``ROUND_SECONDS`` that round waits (Begin
        sets it; no history yet): the round then ends at once and the next one waits only
        until the deadline, which nothing else might mark before the reaper's pass (up to
        5 minutes late). None for any other round: a wake sets its timeout by the deadline.
        The job is read again, after the launches: a budget update landing during them finds
        no token to wake, and ``wait`` does not look at the budget."""
        if request.history_events or plan.done or plan.handoff:
            return None
        seconds = round_seconds(completion.deadline(self.store.get_job(plan.job_id)), self.clock())
        return seconds if seconds + MIN_ROUND_SECONDS <= ROUND_SECONDS else None

    def hand_over(self, job: Job, execution: str, seen: int) -> Plan:
        """Continue the job in a new execution before this one's history runs out.

        The new execution's name derives from this one's, and StartExecution with the same
        name and input is idempotent while it runs: a retried Suggest starts no second loop.
        Running trials carry on; the new execution's Wait gets their results.
        """
        assert self.orchestrator is not None, "handing over needs an orchestrator"
        try:
            execution_id = self.orchestrator.start_execution(job.id, execution_name(job.id, execution))
        except ExecutionClosedError as exc:  # an earlier try's successor, ended already: it had the job
            execution_id = exc.execution_id
        self._record_execution(job.id, execution_id)
        return self._handoff_plan(job, seen)

    def _record_execution(self, job_id: str, execution_id: str) -> Job:
        """Store the job's current execution, keeping whatever status the job has now (a
        stop landing meanwhile must not be written back to running), except a failed start's
        (``is_unstarted``: another try's, or the reaper's ``_fail_unstarted`` of this start
        still under way), which this execution takes back as its first Suggest would
        (``_claimed``): written failed with it recorded, no Suggest could."""
        for _ in range(8):
            job = self.store.get_job(job_id)
            status = JobStatus.RUNNING if is_unstarted(job) else job.status
            with contextlib.suppress(ConflictError):
                return self.store.set_job_status(job_id, status, expected=(job.status,), execution_id=execution_id)
        raise ConflictError(f"job {job_id!r}: its status kept changing while recording execution {execution_id}")

    @staticmethod
    def handed_over(job: Job, execution: str) -> bool:
        """Whether the execution named ``execution`` has already handed the job to its successor."""
        return (job.execution_id or "").endswith(f":{execution_name(job.id, execution)}")

    def _run_by_another(self, job: Job, execution: str) -> bool:
        """Whether the job's recorded execution is another one, open (DescribeExecution:
        ``RUNNING``, or ``PENDING_REDRIVE``), than the execution named ``execution``, which
        then must launch nothing: an old execution redriven (``RedriveExecution`` re-runs its
        failed state with the same input) after the job moved on (to a hand-over's successor,
        a start's next name) would run a second loop against the job's one budget. It ends
        as a handed-over execution does, without Finish. Never the job's own: the name its
        record ends in, or its hand-over successor's (``execution_name`` of the recorded
        name: the successor's first Suggest may come before its predecessor records it); a
        fresh start's first Suggest finds none recorded and records itself (``_claimed``);
        nor one whose recorded execution has closed or is unknown (the local runner's
        ``--resume`` starts its new execution with the last run's still recorded). Asked only
        when the names differ: a round of the job's own execution costs no call.

        A describe that fails (throttled, a 5xx past botocore's retries) leaves unknown whether
        the recorded one runs, and counts as open: raising would fail Suggest Trials past its
        Retry into its Catch, Finish Job, which would close the job under its running
        execution. Handing over closes nothing. Were the recorded one closed after all (this
        execution the job's only live one: a start whose record has not landed), no execution
        runs the job and the reaper's pass closes it, failed (``_close_if_ended``: its describe
        of the recorded execution, past the grace)."""
        recorded = job.execution_id
        if recorded is None or self.orchestrator is None:
            return False
        if recorded.endswith(f":{execution}"):
            return False  # its own
        name = recorded.rsplit(":", 1)[-1]
        if execution == execution_name(job.id, name):
            return False  # the recorded one's successor, its record not landed yet
        try:
            change = self.orchestrator.describe_execution(recorded)
        except Exception as exc:
            log.warning(
                "job %s: describing its execution %s failed (%s): %s hands over",
                job.id,
                recorded,
                error_kind(exc),
                execution,
            )
            return True
        return change is not None and change.status in ("RUNNING", "PENDING_REDRIVE")

    @staticmethod
    def _handoff_plan(job: Job, seen: int, reason: str = "continued as a new execution") -> Plan:
        return Plan(job_id=job.id, done=False, results_seen=seen, reason=reason, handoff=True)

    def stop_rule(self, job: Job, trials: Snapshot | None = None) -> completion.Stop | None:
        """The completion rule that stops the job from starting trials now, or None
        (``hyperstep.completion``); ``trials``: the job's, read when not given."""
        trials = Snapshot.of(self.store.list_trials(job.id)) if trials is None else trials
        return completion.stop_rule(job, trials, self.clock())

    def _budget_left(self, job: Job) -> int | None:
        job = self.store.get_job(job.id)
        limit = job.spec.budget.max_trials
        return None if limit is None else limit - job.budget_used

    def _stop_active(self, job: Job, trials: list[Trial], why: str) -> None:
        """Stop these trials (as read) for the job's reason ``why`` (a completion rule's
        ``Stop.detail``, or Finish's): a pending one is recorded stopped; a running one is
        stopped on its backend, and its end recorded when its result comes, the reason noted
        on it first (``completion.stop_note``: its "stopped" end, pruned while the job runs,
        says the job stopped it, not early stopping, and ``views.steps_saved`` leaves it
        out). The stop write of a pending one holds only while it is pending: one whose
        launch recorded it started after it was read is read again (that race alone costs a
        read) and stopped as the running trial it is."""
        for trial in trials:
            if trial.state is TrialState.PENDING:
                before_launch = (TrialState.PENDING,)
                if self._finish(
                    job.id, trial.id, TrialState.STOPPED, error="stopped before launch", expected=before_launch
                ):
                    continue
                trial = self.store.get_trial(job.id, trial.id)  # started meanwhile, or ended
            if trial.state is TrialState.RUNNING and trial.awaiting_result_since is None:
                if trial.error != (note := completion.stop_note(why)):  # a later round's stop notes nothing new
                    self.store.note_stop(job.id, trial.id, note)
                self.backend_for(job).stop(job, trial)  # one awaiting its result has ended already

    def launch(self, request: LaunchRequest) -> dict[str, Any]:
        """Start one trial on its backend; idempotent for a trial already started.

        Only while the job runs: a pending trial of a job stopped or closed since it was
        planned (a Suggest still running when its execution was stopped and the job
        closed, whose trials nothing would ever stop) is recorded stopped, not launched.
        The write that records the trial started holds only while the trial is pending and
        its job unfinished, so a job closed, or the trial recorded stopped, between this
        check and the launch leaves what was launched to be stopped here (``_not_started``);
        a job that is only stopping lets it start, and its loop stops it with the others.
        No write can come before the launch instead: the launch is a call to another
        service, outside any store transaction. A trial planned after Finish read the
        job's trials (a Suggest still running when its execution ended) and recorded
        started before Finish closes the job is stopped by Finish, which reads the trials
        again once the job is closed (``finish``)."""
        job = self.store.get_job(request.job_id)
        trial = self.store.get_trial(job.id, request.trial_id)
        if trial.state is not TrialState.PENDING:
            return {"trial_id": trial.id, "state": trial.state.value}
        if job.status is not JobStatus.RUNNING:
            self._finish(job.id, trial.id, TrialState.STOPPED, error=f"not launched: job is {job.status.value}")
            return {"trial_id": trial.id, "state": TrialState.STOPPED.value}
        try:
            ref = self.backend_for(job).launch(job, trial)
        except LaunchError as exc:
            if isinstance(exc, CapacityError) and self._runs_another(job, trial.id):
                log.warning("launch deferred until a running trial ends: %s", exc)
                return {"trial_id": trial.id, "state": TrialState.PENDING.value}
            self._finish(job.id, trial.id, TrialState.FAILED, error=str(exc))
            self.wake(job.id)
            return {"trial_id": trial.id, "state": TrialState.FAILED.value}
        try:
            self.view.remember([self.store.start_trial(job.id, trial.id, ref)])
        except ConflictError:
            return self._not_started(job, trial.id, ref)
        return {"trial_id": trial.id, "state": TrialState.RUNNING.value}

    def _runs_another(self, job: Job, trial_id: str) -> bool:
        """Whether a trial of the job other than ``trial_id`` runs on its platform, so that
        its end will free capacity and wake the job. One that awaits its final report does
        not: its platform said it completed, so it holds no instance. Each active trial is
        read afresh (the view sees ends, not the wait for a final report, nor another
        launch's start): at most the job's parallelism, only after a refused launch."""
        others = (t.id for t in self.view.snapshot(job).active() if t.id != trial_id)
        fresh = (self.store.get_trial(job.id, other) for other in others)
        return any(t.state is TrialState.RUNNING and t.awaiting_result_since is None for t in fresh)

    def _not_started(self, job: Job, trial_id: str, ref: str) -> dict[str, Any]:
        """A launched trial the store would not record started. Its result may have beaten
        the write (a fast trial), or another launch started it: nothing to do. Its job may
        have closed since ``launch`` read it (the trial is still pending), or a
        stop recorded the pending trial stopped meanwhile (it has no ``backend_ref``):
        nothing would ever stop what was launched, so it is stopped here, then recorded."""
        trial = self.store.get_trial(job.id, trial_id)
        pending = trial.state is TrialState.PENDING
        if not pending and (trial.state is not TrialState.STOPPED or trial.backend_ref is not None):
            return {"trial_id": trial.id, "state": trial.state.value}
        self.backend_for(job).stop(job, trial.model_copy(update={"backend_ref": ref}))
        if pending:
            status = self.store.get_job(job.id).status
            self._finish(job.id, trial.id, TrialState.STOPPED, error=f"stopped at launch: job is {status.value}")
        return {"trial_id": trial.id, "state": TrialState.STOPPED.value}

    def wait(self, request: WaitRequest) -> None:
        """Park the execution's token (with its history count); wake it at once if results
        came in meanwhile, or if the job's status is no longer the one the round planned
        with (a stop landed during the round). A round that found the job stopping waits
        for its trials' ends: waking it at once would spin the loop until they end."""
        self.store.put_task_token(request.job_id, parked(request.task_token, request.history_events))
        job = self.store.get_job(request.job_id)
        planned_with = JobStatus.STOPPING if request.stopping else JobStatus.RUNNING
        if results_of(job) > request.results_seen or job.status is not planned_with:
            self.wake(job.id)

    def collect(self, result: TrialResult) -> bool:
        """Record a trial's end exactly once, with its final metrics, and wake the waiting execution.

        A failed or stopped trial is recorded at once with the metrics reported so far. A
        completed one completes when its final metrics hold the objective (NaN or infinity
        fail it; other non-finite metrics are dropped), else waits for them or fails (see
        ``_complete``). A completed end of a trial already recorded stopped or pruned (the
        stop landed in its last seconds) completes it once with its final metrics
        (``_completed_after_end``). Returns whether this call recorded the end: False for a
        repeated event, a late one that changes no end, and while the trial waits for its
        final objective.
        """
        job = self.store.get_job(result.job_id)
        trial = self.store.get_trial(job.id, result.trial_id)
        if not trial.state.active:
            return trial.state in REVISABLE_ENDS and self._after_end(job, trial, result)
        usage = result.usage
        decided = job.status is JobStatus.RUNNING and early_stopping.pruned_when_stopped(job.spec, trial)
        trained = self._trained_out(job, trial, result.metrics, decided) if result.state == "stopped" else None
        if trained is not None:  # stopped after its training ended: its result counts
            return self._end(job, trial, TrialState.COMPLETED, {**trial.metrics, **trained}, usage=usage)
        if result.state == "stopped" and decided:
            why = self._cut(job, trial)
            return self._end(job, trial, TrialState.PRUNED, {**trial.metrics, **result.metrics}, why, usage)
        if result.state != "completed":
            metrics = {**trial.metrics, **result.metrics}
            return self._end(job, trial, TrialState(result.state), metrics, result.error, usage)
        return self._complete(job, trial, *self._platform_record(job, trial, result))

    def _platform_record(self, job: Job, trial: Trial, result: TrialResult) -> tuple[dict[str, float], Usage | None]:
        """A completed end's final metrics and usage: the event's, and, when it lacks a
        measured metric, the platform's record (``_described``) under them."""
        platform, usage = dict(result.metrics), result.usage
        if any(metric not in platform for metric in job.spec.measured_metrics):
            described, described_usage = self._described(job, trial)
            platform, usage = {**described, **platform}, usage or described_usage
        return platform, usage

    def _after_end(self, job: Job, trial: Trial, result: TrialResult) -> bool:
        """A platform's end of a trial recorded stopped or pruned: a completed one may
        complete it (``_completed_after_end``); a failed one is the job's own failure, not
        the result of our stop (each backend tells them apart: SageMaker's ``Failed`` against
        the ``Stopped`` our ``StopTrainingJob`` gives, a Batch ``FAILED`` whose
        ``statusReason`` is not ``BATCH_STOP_REASON``, a local exit not by our kill's
        SIGKILL), so it ends the trial failed with its error, as it would have ended had the
        stop not come, unless its training was over meanwhile (``_trained_out``; then
        completed: a completed end stands, as does a failed one). So for a prune and for a
        user's stop alike (``hyperstep stop``, the API's stop, Ctrl-C): AMT's stop of a
        tuning job stops its running training jobs, and one that had failed stays ``Failed``,
        counted among its errors, not its ``Stopped`` (``TrainingJobStatusCounters``); a
        stopped trial so failed counts against the budget again, as failed trials do.
        Whatever the end, the trial
        takes its charge when the platform's usage prices it higher than the stop's end did
        (SageMaker's BillableTimeInSeconds, Batch's startedAt to stoppedAt, a local
        process's wall time: what the dollar budget pays; the stop's end, priced while the
        job was still stopping, undercounts it), the job's cost growing by the difference
        (``_report_after_end``). True when this call changed the end."""
        if result.state == "completed":
            return self._completed_after_end(job, trial, result)
        failure = clipped(result.error or "failed") if result.state == "failed" else None
        charge = self._charge(job, trial, result.usage, wall_time=False)
        return self._report_after_end(job, trial.id, {}, charge=charge, failure=failure, end_seen=True).ended

    def _completed_after_end(self, job: Job, trial: Trial, result: TrialResult) -> bool:
        """End completed, once, a trial recorded stopped or pruned whose backend then says it
        completed: a stop that landed in its last seconds (``StopTrainingJob`` accepted, then
        "Completed"; ``TerminateJob`` accepted, then SUCCEEDED; a process that exited 0 before
        the kill). Its final metrics (``_platform_record``, the finite ones) count as final
        reports that came after the end (``_report_after_end``): with the objective, it ends
        completed as had the event come first (a stopped trial takes its unit of budget back,
        a pruned one moves to ``completed``); without it, or NaN, it keeps its end, having
        nothing better to record. True when this call completed it; a repeat finds it
        completed and changes nothing.

        Its cost is counted once: the stop's end priced it up to the stop (for a running
        Batch or SageMaker job, often from the wall time, which the platform's record does
        not hold yet); when this end's usage, as the platform reports it (the event's, else
        its record: ``TrialBackend.usage``), prices it higher, the trial takes that charge and
        the job's cost grows by the difference only (``TrialStore.report_after_end``); never
        lower, and without a record of usage the stop's charge stands (the wall time to now
        would count the event's delay). A trial that keeps its end takes that charge too."""
        platform, usage = self._platform_record(job, trial, result)
        platform = finite_metrics(platform)
        reports = {name: MetricReport(value=value, final=True) for name, value in platform.items()}
        charge = self._charge(job, trial, usage, wall_time=False)
        return self._report_after_end(job, trial.id, reports, platform, charge, end_seen=True).ended

    @staticmethod
    def _trained_out(
        job: Job, trial: Trial, platform: Mapping[str, float], decided: bool = False
    ) -> dict[str, float] | None:
        """The final metrics of a trial stopped once its training was over, None for any other.

        Over means, with early stopping, its curve reached ``max_resource``, or, for a stop
        that is no scheduler's decision (``decided`` False: Ctrl-C, ``hyperstep stop``, no
        early stopping), its script reported every objective as final (``hyperstep.report``
        without a step): the stop then cut only what came after, saving a model say. Such a
        trial ends ``completed`` with the value a normal end would have given it (final
        reports overlaid by the ``platform``'s last values, as ``_complete`` reads them; the
        curve's newest value when neither holds the objective), and keeps its unit of
        budget: recorded ``stopped`` it gave that back and lost its value, so a resumed job
        trained a replacement. A trial the scheduler stopped (``decided``: recorded pruned,
        or about to be) stays pruned short of ``max_resource`` whatever final value its
        script still sent or its platform recorded before the stop landed (issue 9: "a
        trial that reaches ``max_resource`` is complete"), in every order of the events."""
        final = {**trial.final_reports(), **platform}
        done = not decided and has_objectives(job, trial.final_reports())
        if not done and early_stopping.stopped_end(job.spec, trial) is TrialState.COMPLETED:  # Study's rule too
            done, final = True, {job.spec.primary.metric: trial.curve[max(trial.curve)], **final}
        return final if done and has_objectives(job, final) else None

    def _complete(self, job: Job, trial: Trial, platform: Mapping[str, float], usage: Usage | None = None) -> bool:
        """End a trial the backend says completed: with the objective among its final
        metrics (final reports overlaid by the ``platform``'s), as completed. Without it,
        a trial whose reports may come late waits for them (``await_result``; the reaper
        settles it after its grace); any other fails. Such a trial also waits for its
        constraints' metrics (settled without them, it is infeasible)."""
        final = {**trial.final_reports(), **platform}
        late = self._takes_late_reports(job)
        if has_objectives(job, final) and (not late or has_every_metric(job, final)):
            return self._end(job, trial, TrialState.COMPLETED, {**trial.metrics, **final}, usage=usage)
        if not late:
            reason = missing_objective(job, trial, final=final)
            return self._end(job, trial, TrialState.FAILED, {**trial.metrics, **final}, reason, usage)
        waiting = self.store.await_result(job.id, trial.id)
        if waiting is not None and has_every_metric(job, {**waiting.final_reports(), **platform}):  # landed meanwhile
            return self._complete(job, waiting, platform, usage)
        return False

    def _end(
        self,
        job: Job,
        trial: Trial,
        state: TrialState,
        metrics: Mapping[str, float],
        error: str | None = None,
        usage: Usage | None = None,
        end_unseen: bool = False,
    ) -> bool:
        """Record the trial's end once (the store's conditional write), with what it cost
        (``usage``, else the backend's record, else its wall time: ``_charge``), and wake
        the job's execution (``end_unseen``: ``Trial.end_unseen``, ``stop_early``'s). A
        completed trial's value is ``metrics[objective]`` (with several objectives,
        ``values`` holds each one's, in order); NaN or infinity there fails it."""
        value, values = None, None
        if state is TrialState.PRUNED:
            value = early_stopping.last_value(trial)
        if state is TrialState.COMPLETED:
            value, values, bad = reported_objectives(job, metrics)
            if bad is not None:
                state, error = TrialState.FAILED, bad
        charge = self._charge(job, trial, usage)
        recorded = self._finish(
            job.id,
            trial.id,
            state,
            value=value,
            metrics=finite_metrics(metrics),
            error=error,
            charge=charge,
            values=values,
            end_unseen=end_unseen,
        )
        if recorded:
            self.wake(job.id)
        return recorded

    def _finish(
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
        """``TrialStore.finish_trial`` (the error ``clipped``), noting the end for the ``Trials*`` metrics of the
        invocation under way when this call recorded it (``hyperstep.recorded_ends``)."""
        recorded = self.store.finish_trial(
            job_id,
            trial_id,
            state,
            value=value,
            metrics=metrics,
            error=None if error is None else clipped(error),
            charge=charge,
            values=values,
            expected=expected,
            end_unseen=end_unseen,
        )
        if recorded:
            note(RecordedEnd(state))
        return recorded

    def _charge(self, job: Job, trial: Trial, usage: Usage | None, wall_time: bool = True) -> Charge | None:
        """What the ending trial cost (``hyperstep.pricing``): priced from ``usage``, else
        from the backend's record (``TrialBackend.usage``: SageMaker's billable time), else
        (with ``wall_time``) from its wall time since launch; None when there is none.

        A trial not recorded started may have run all the same: its end can beat the
        launch's write of its start (a quick training job, events out of order), and the
        backend's record of it is read as for any other; uncharged, it would leave its cost
        out of the job's, and the dollar budget would start trials it cannot pay for."""
        if job.spec.trial is None:
            return None
        if usage is None:
            try:
                usage = self.backend_for(job).usage(job, trial)
            except Exception as exc:  # an unreadable record must not stop the trial's end
                log.warning(
                    "could not read what trial %s of job %s used (%s); charging its wall time since launch, if any",
                    trial.id,
                    job.id,
                    error_kind(exc),
                )
        if usage is None:
            if trial.started_at is None or not wall_time:
                return None
            usage = Usage(seconds=max(self.clock() - trial.started_at, 0.0))
        rate = job.spec.trial.rate(usage, usage.region or self._region(job))
        if rate is None:
            return Charge(billable_seconds=usage.seconds)
        return Charge(cost_usd=rate.cost(usage.seconds), billable_seconds=usage.seconds, cost_basis=rate.basis)

    def _final_stop(self, job: Job, trials: Snapshot, failure: str | None = None) -> completion.Stop:
        """Why the job stops (``completion.final_stop``), its dollar budget included: a job
        whose ``max_cost_usd`` cannot cover one more trial stopped for it."""
        region = self._region(job)
        cost = None
        if dollars.affordable(job, trials, region) == 0:
            cost = completion.Stop(StopReason.MAX_COST, dollars.exhausted_reason(job, trials, region))
        return completion.final_stop(job, trials, self.clock(), failure, self._budget_left(job), cost)

    def check_listed_prices(self, spec: JobSpec) -> None:
        """``SpecError`` for a dollar budget on trials priced from the list price table in a
        region it lacks (``pricing.check_listed``): nothing is stored."""
        if spec.budget.max_cost_usd is not None:
            self._check_listed(spec.trial)

    def _check_listed(self, block: TrialBlockBase | None) -> None:
        if block is None or block.cost_per_hour is not None or block.backend not in self.backends:
            return
        try:
            check_listed(getattr(self.backends[block.backend], "region", None))
        except ValueError as exc:
            raise SpecError(str(exc)) from None

    def _region(self, job: Job) -> str | None:
        try:
            return getattr(self.backend_for(job), "region", None)
        except LaunchError:
            return None

    def _takes_late_reports(self, job: Job) -> bool:
        try:
            return self.backend_for(job).late_reports
        except LaunchError:  # a job driven by ask/tell, or a backend not wired here
            return False

    def _described(self, job: Job, trial: Trial) -> tuple[dict[str, float], Usage | None]:
        """Final metrics the platform keeps, for an end event that carried none of the
        objective (SageMaker's state-change event may omit ``FinalMetricDataList``), and
        what the trial used, from the same read (``TrialBackend.final_record``)."""
        try:
            return self.backend_for(job).final_record(job, trial)
        except LaunchError:
            return {}, None

    def report_metrics(
        self,
        job_id: str,
        trial_id: str,
        metrics: dict[str, float],
        step: int | None = None,
        final: bool | None = None,
        at: float | None = None,
    ) -> bool:
        """Keep metrics a trial's script reported (the finite ones), merged order-free by
        rank (``MetricReport``). ``final`` defaults to "no step given", the rule of
        ``hyperstep.report``. A final report of the objective completes a trial that ended
        awaiting it, or one recorded stopped or pruned before it came (``_report_after_end``).
        Returns False, keeping nothing (and logging it), for a trial recorded completed or failed."""
        return self._report(self.store.get_job(job_id), trial_id, metrics, step, final, at).recorded

    def _report(
        self,
        job: Job,
        trial_id: str,
        metrics: dict[str, float],
        step: int | None,
        final: bool | None,
        at: float | None,
    ) -> Recorded:
        """``report_metrics``, saying too whether the reports ended the trial (``job`` read
        for this report: its spec, and its state as the trial's end will count it)."""
        final = step is None if final is None else final
        reports = {
            name: MetricReport(value=value, step=step, final=final, at=at)
            for name, value in finite_metrics(metrics).items()
        }
        objective = job.spec.primary.metric
        # the curve's newest steps only: a scheduler reads the whole curve when it decides (``stop_early``)
        trial = self.store.report_metrics(job.id, trial_id, reports, curve_metric=objective, whole_curve=False)
        if trial is None:
            late = self._report_after_end(job, trial_id, reports)
            if not late.recorded:  # its completed or failed end stands: a late line or event never breaks a job
                log.info("job %s: a report of trial %s came after its end; ignored", job.id, trial_id)
            return late
        ended = False
        if trial.awaiting_result_since is not None:
            if has_every_metric(job, trial.final_reports()):
                ended = self._complete(job, trial, *self._described(job, trial))
        elif step is not None and not final and objective in reports:
            ended = self.stop_early(job, trial)
        return Recorded(recorded=True, ended=ended)

    def _report_after_end(
        self,
        job: Job,
        trial_id: str,
        reports: Mapping[str, MetricReport],
        platform: Mapping[str, float] | None = None,
        charge: Charge | None = None,
        failure: str | None = None,
        end_seen: bool = False,
    ) -> Recorded:
        """Keep reports that came after the trial's end was recorded stopped or pruned (its
        stop's end event beat them: a Batch job terminated, a training job stopped, a
        process killed while its last reports were on the way); when they show its training
        was over, by ``collect``'s rule for a stopped trial (``_trained_out``: its final
        objective reported, or its curve at ``max_resource``), end it completed instead, as
        had they come first, and wake its execution. False for a trial recorded completed
        or failed: that end stands (a failed end fails the trial whatever came before it).

        ``platform``: a completed end event's final metrics, over the reports (as
        ``_complete`` reads them); ``charge``: what the platform's end says the trial cost,
        kept when it is more than the stop's end charged, whether or not the end changes
        (``_after_end``; a charge alone is no new end); ``failure``: the error of a stopped
        or pruned trial's own failure (``_after_end``), which ends it failed when its
        training was not over; ``end_seen``: this is the platform's end (``_after_end``),
        which clears ``Trial.end_unseen``, as does an end no longer pruned (its platform's
        end would change nothing: the reaper need not read it). The new end is noted as replacing the recorded
        one (``hyperstep.recorded_ends``)."""
        replaced: list[TrialState] = []

        def revised(trial: Trial) -> Trial | None:
            replaced[:] = [trial.state]
            trained = self._trained_out(job, trial, platform or {}, decided=trial.state is TrialState.PRUNED)
            metrics = finite_metrics({**trial.metrics, **(trained or {})})
            value, values, error = reported_objectives(job, metrics)
            update: dict[str, Any] = {"state": TrialState.FAILED, "value": None, "values": None, "error": failure}
            if trained is not None and error is None:
                update = {"state": TrialState.COMPLETED, "value": value, "values": values, "error": None}
            elif failure is None:
                update = {}
            if charge is not None and charged(charge) > charged(trial):
                update.update(charge.fields())
            if trial.end_unseen and (end_seen or "state" in update):  # seen, or no longer pruned: nothing to read
                update["end_unseen"] = False
            return trial.model_copy(update={**update, "metrics": metrics}) if update else None

        objective = job.spec.primary.metric
        trial = self.store.report_after_end(job.id, trial_id, reports, objective, revised)
        ended = trial is not None and trial.state not in REVISABLE_ENDS  # by this call: the store's once
        if ended:
            assert trial is not None
            note(RecordedEnd(trial.state, replaced=replaced[-1]))
            self.wake(job.id)
        return Recorded(recorded=trial is not None, ended=ended)

    def stop_early(self, job: Job, trial: Trial) -> bool:
        """Stop a running trial the job's scheduler says should stop at its newest step,
        on its backend first, then record it pruned; True when this call recorded it. A
        trial whose curve already reached ``max_resource`` (``_trained_out``) is not
        stopped: its training is over. ``trial`` as the report wrote it: its curve may hold
        only its newest steps (``early_stopping.should_stop`` reads the rest when the
        scheduler can decide).

        The decision is recorded even when the trial had ended on its own before the stop
        landed (SageMaker refuses ``StopTrainingJob`` of a ``Completed`` job, Batch accepts
        ``TerminateJob`` of a ``SUCCEEDED`` one and leaves it so, a local process has
        exited): its curve is read from events or a log that lag behind the job. The steps
        still on the way join its curve after the end (``_report_after_end``), and the
        trial completes only if they reach ``max_resource``; its final value, reported or
        in its platform's completed end, does not undo the decision (``_trained_out``). A
        step at ``max_resource`` that another report wrote while the stop was on its way
        (after this one's read) completes it at once, as would a late one."""
        if not early_stopping.enabled(job.spec):  # nothing to judge: whether its training is over is not read
            return False
        if trial.state is not TrialState.RUNNING or self._trained_out(job, trial, {}, decided=True) is not None:
            return False
        if not self._stops_early(job, trial):
            return False
        self.backend_for(job).stop(job, trial)
        ends_by_event = job.spec.trial is not None and job.spec.trial.backend in AWS_BACKENDS  # its end may be lost
        if not self._end(job, trial, TrialState.PRUNED, trial.metrics, self._cut(job, trial), end_unseen=ends_by_event):
            return False
        self._report_after_end(job, trial.id, {})  # a step at max_resource written meanwhile completes it
        return True

    def _stops_early(self, job: Job, trial: Trial) -> bool:
        if not early_stopping.enabled(job.spec) or not trial.curve:
            return False
        scheduler = early_stopping.scheduler_of(job)
        return early_stopping.should_stop(scheduler, trial, self.store, job.minimize)

    @staticmethod
    def _pruned(job: Job, trial: Trial) -> str:
        assert job.spec.early_stopping is not None
        return f"stopped early by {job.spec.early_stopping.name} at step {max(trial.curve)}"

    def _cut(self, job: Job, trial: Trial) -> str:
        """Why a running trial that ends pruned stopped: its job's reason, noted when a
        completion rule stopped it (``_stop_active``), or a budget rule that stops running
        trials and holds now (``completion.budget_stop``: an end before the round that notes
        it; also in a job that lets its trials finish, ``completion.stop_rule``): no scheduler
        decided it, and ``views.steps_saved`` does not count it as saved; else early stopping's."""
        if completion.stopped_by_job(trial):
            return f"{trial.error} at step {max(trial.curve)}"
        stop = completion.budget_stop(job, self.clock())
        if stop is None:
            return self._pruned(job, trial)
        return f"{completion.stop_note(stop.detail)} at step {max(trial.curve)}"

    def record(self, event: TrialResult | TrialMetric) -> bool:
        """Record a parsed event: a trial's end, or metrics it reported on the way (the
        ends this records are noted: ``hyperstep.recorded_ends``). A report of a trial that
        runs on AWS its key does not sign raises ``ReportRefused`` (``_check_signed``)."""
        if isinstance(event, TrialMetric):
            job = self.store.get_job(event.job_id)  # read once: the signature's check and the report
            self._check_signed(job, event)
            return self._report(job, event.trial_id, event.metrics, event.step, event.final, event.at).recorded
        return self.collect(event)

    def _check_signed(self, job: Job, metric: TrialMetric) -> None:
        """Raise ``ReportRefused`` unless the report of a trial on an AWS backend carries its
        trial key's signature (``hyperstep.report_signing``): there any principal allowed
        ``events:PutEvents`` on the bus, another user's trial included, could send it. A local
        run's reports come from its own processes over its in-process bus: not checked."""
        trial_block = job.spec.trial
        if trial_block is not None and trial_block.backend in AWS_BACKENDS:
            key = self.store.report_key(metric.job_id, metric.trial_id)
            check_signature(key, metric.signed_message(), metric.signature)

    def progress(self, job_id: str) -> Progress:
        """What a woken execution is told, from the job item alone (its counters), so that
        waking costs the same however many trials the job has. ``active`` counts trials
        holding budget that have not ended (``TrialStore.add_trials`` writes a trial with
        each unit it takes); Suggest, reading the trials, decides when the job is done."""
        job = self.store.get_job(job_id)
        active = job.budget_used - job.completed - job.failed - job.pruned
        left = None if job.spec.budget.max_trials is None else job.spec.budget.max_trials - job.budget_used
        # The rules read from the job item alone (a draining rule Suggest recorded among them):
        # those that need the trials fire on a result, which wakes the execution anyway.
        no_more = (left is not None and left <= 0) or self.stop_rule(job, Snapshot()) is not None
        seconds = round_seconds(completion.deadline(job), self.clock())
        return Progress(
            job_id=job_id, done=no_more and active == 0, results=results_of(job), active=active, round_seconds=seconds
        )

    def wake(self, job_id: str) -> bool:
        """Resume the execution waiting on this job, if one waits; True if one was woken.
        A service with no orchestrator (the CLI's ``update`` on a local store, while
        another process runs the job) leaves the token parked for that process's wake.

        The token is taken before it is sent, so two wakers never both send it; a send that
        raises puts it back (``TrialStore.return_task_token``) for the next waker (the
        reaper's, the next result's) rather than leaving the round to its Wait timeout. A
        send answered ``TaskTimedOut``/``InvalidToken`` (a token used or expired) drops it."""
        if self.orchestrator is None:
            return False
        stored = self.store.take_task_token(job_id)
        if stored is None:
            return False
        token, history_events = unparked(stored)
        try:
            progress = self.progress(job_id).model_copy(update={"history_events": history_events})
            sent = self.orchestrator.send_task_success(token, progress.model_dump(mode="json"))
        except Exception:  # not sent (throttled past retries, a 5xx): the next waker sends it
            self.store.return_task_token(job_id, stored)
            raise
        if sent and job_id in self.woken:
            self.woken[job_id] = True
        return sent

    def finish(self, request: FinishRequest) -> dict[str, Any]:
        """Close the job: its final status, best trial, and a completion event.

        Safe to run twice: a retry finds the status written and the event published
        (``Job.completion_published``, marked after publishing: a Finish that dies in
        between publishes again on its retry, at least once rather than never).

        Trials are wound down (``_wind_down``) before the job is closed, as read then, and
        the trials that appeared since are wound down after it: a Suggest still running
        (its execution ended meanwhile) may plan and start trials until the close, and
        none after it (``TrialStore.start_trial``), so the listing after the close holds
        every trial that ever started.

        The final status is written only over the status read (``_close``): of two closers
        at once (an execution's end event and the reaper's DescribeExecution of it, both
        closing the job as Finish would), the one whose write lands publishes, and the
        other, finding the job closed under it, returns its summary publishing nothing."""
        job = self.store.get_job(request.job_id)
        trials = self.store.list_trials(job.id)
        self._wind_down(job, trials)  # none to stop, unless the loop broke off
        if not job.status.finished:
            closed = self._close(job, trials, request)
            if closed is None:  # closed by another closer meanwhile: its completion event is its own
                return self._summary(self.store.get_job(job.id))
            job = closed
            seen = {t.id for t in trials}
            late = [t for t in self.store.list_trials(job.id) if t.id not in seen]
            if late:
                self._wind_down(job, late)
                job = self.store.get_job(job.id)  # their ends moved its counters
        return self._announce(job)  # a retried Finish finds it published by its first run

    def _announce(self, job: Job) -> dict[str, Any]:
        """Publish the closed job's completion event, unless it was (a new end, such as a
        failed start's stop, clears the mark: ``TrialStore.set_job_status``), mark it
        published, and return its summary. Marked after publishing: a closer that dies in
        between publishes again on its retry, or, with none, the reaper after the grace
        (``announce_lost``): at least once rather than never. A job read unfinished (reopened
        since its close: taken back, a keyed retry) announces nothing here: its next end will."""
        summary = self._summary(job)
        if job.status.finished and not job.completion_published:
            self.publisher.publish("Tuning Job Completed", summary)
            self.store.mark_completion_published(job.id)
        return summary

    @staticmethod
    def _announced(announce: Callable[[], object], job_id: str) -> None:
        """Run ``announce`` (a closer's publishing) outside the loop, logging a failure
        instead of raising it: the end it announces stands, and the caller's own outcome
        (a start's error, a stop's 202) is what its caller must see."""
        try:
            announce()
        except Exception as exc:
            log.warning("job %s: its completion event failed (%s)", job_id, error_kind(exc))

    def _summary(self, job: Job) -> dict[str, Any]:
        """What the completion event says of a closed job (and Finish Job answers)."""
        summary = job.summary()
        best = self.store.get_trial(job.id, job.best_trial_id) if job.best_trial_id else None
        summary["best_params"] = best.params if best else None
        if job.spec.multi_objective:  # several objectives: the front instead of a best trial
            summary["pareto_front"] = [t.id for t in pareto_front(job.spec, self.store.list_trials(job.id))]
        return summary

    def _wind_down(self, job: Job, trials: list[Trial]) -> None:
        """Stop these trials where active (``_stop_active``), and settle from the source
        those that ended on the backend with their final objective still to come: the
        reaper does not visit finished jobs."""
        self._stop_active(job, trials, "finishing")
        for trial in trials:
            if trial.state is TrialState.RUNNING and trial.awaiting_result_since is not None:
                self._settle_from_source(job, trial)

    def _close(self, job: Job, trials: list[Trial], request: FinishRequest) -> Job | None:
        """Write the job's final status (``trials``: as Finish read them) over the status
        read, and return the job; None when another closer closed it first. A stop landing
        meanwhile (running, now stopping) is read again and closes it stopped; a write refused
        with the status unmoved raises ``ConflictError`` (Step Functions retries the Task)."""
        while True:
            if request.error:
                status, error = JobStatus.FAILED, failure_reason(request.error)
            elif job.status in (JobStatus.STOPPING, JobStatus.STOPPED):
                status, error = JobStatus.STOPPED, None
            elif job.completed == 0 and job.pruned == 0 and job.failed > 0:  # a pruned trial keeps its value
                status, error = JobStatus.FAILED, "every trial failed"
            else:
                status, error = JobStatus.COMPLETED, None
            stop = self._final_stop(job, Snapshot.of(trials), error if request.error else None)
            try:
                return self.store.set_job_status(
                    job.id,
                    status,
                    expected=(job.status,),
                    error=error,
                    stop_reason=stop.reason,
                    stop_detail=stop.detail,
                )
            except ConflictError:
                now = self.store.get_job(job.id)
                if now.status.finished:
                    return None
                if now.status is job.status:  # refused, not moved (transaction conflicts persisted): the Task's retry
                    raise
                job = now

    def close_ended_execution(self, change: ExecutionStatusChange) -> dict[str, Any] | None:
        """Close a job whose execution ended outside Finish Job (``hyperstep.execution_events``)
        as Finish Job would have: stop its running trials, fail it with the execution's error
        (an execution aborted while the job was stopping ends it stopped), and publish the
        completion event. Returns Finish's summary; None, changing nothing, when the
        execution is not the job's current one (an earlier one: a job handed over or
        restarted runs on in another), the job is gone, or it was closed already.

        An execution that ended through Finish Job (``SUCCEEDED``, seen by the reaper's
        DescribeExecution only) with its job unfinished ran its Finish before the job was
        reopened, and was recorded as the job's while still open (StartExecution answers
        Success for an open name): a keyed retry or a tick reopening the failed start that
        execution's Finish had just announced. No execution runs the job: it is closed
        failed, saying so (stopped, if a stop landed)."""
        if change.status not in (*ENDED_OUTSIDE, "SUCCEEDED") or change.job_id is None:
            return None
        try:
            job = self.store.get_job(change.job_id)
        except NotFoundError:
            return None
        if job.execution_id != change.execution_arn:
            return None
        if job.status.finished and (job.completion_published or change.status == "SUCCEEDED"):
            return None  # closed and announced, or closed by that execution's own Finish Job
        stopping = job.status is JobStatus.STOPPING and change.status in ("ABORTED", "SUCCEEDED")
        error = change.failure()
        if change.status == "SUCCEEDED":
            cause = f"the job's execution {change.name} had run its Finish Job when it was recorded: none runs the job"
            error = {"Error": "ExecutionEnded", "Cause": cause}
        return self.finish(FinishRequest(job_id=job.id, error=None if stopping else error))

    # outside the loop

    def stop(self, job_id: str) -> Job:
        """Ask a running job to stop: no new trials, running ones stopped, then it finishes.

        The stop is recorded (the job stopping) before any trial is stopped: a trial's stop
        that raises (``StopTrainingJob`` throttled past the SDK's retries) is logged, and the
        execution is woken all the same, whose round stops every running trial of a stopping
        job again (``suggest``), as every later round does until they end. A wake that raises
        (SendTaskSuccess unreachable) is logged too: the round wakes at its timeout.

        A job whose start failed (``START_FAILED``, no execution recorded) is not over for
        good: the execution a start that lost only its answer began takes it back
        (``_claimed``), a keyed retry or a tick's reopens it (``recurring.carry_on``). A stop
        of it closes it stopped at once, and neither runs it then (a 409 before, and then it
        ran). Any other job that is not running is ``ConflictError`` (409), as is one taken
        back between the read and the write (the caller's retry stops it running).

        So closed, the job's completion event is published here, a new end after the failed
        start's (``start_execution``), as no Finish Job of an execution will: one whose start
        lost only its answer finds the job closed and published. A publish that fails is
        logged: the stop stands."""
        try:
            job = self.store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))
        except ConflictError:
            unstarted = self.store.get_job(job_id)
            if not is_unstarted(unstarted):
                raise
            stopped = self.store.set_job_status(
                job_id,
                JobStatus.STOPPED,
                expected=(JobStatus.FAILED,),
                stop_reason=StopReason.STOPPED_BY_USER,
                stop_detail="stopped by the user before its execution started",
            )
            self._announced(lambda: self._announce(stopped), job_id)
            return stopped
        try:
            self._stop_active(job, self.store.list_trials(job_id), f"job is {job.status.value}")
        except Exception as exc:
            log.warning("stopping job %s: a trial's stop failed (%s); its next round stops it", job_id, error_kind(exc))
        try:
            self.wake(job_id)
        except Exception as exc:
            log.warning(
                "stopping job %s: waking its execution failed (%s); its round's timeout does", job_id, error_kind(exc)
            )
        return job

    def update_budget(self, job_id: str, update: BudgetUpdate, check: Callable[[JobSpec], None] | None = None) -> Job:
        """Change a running job's budget (``BudgetUpdate``'s fields) and wake its execution,
        so its next round (now, if it waits) plans with it: a raised ``max_parallel`` or
        ``max_trials`` starts trials, a lowered one starts none until the job is back within
        it; no running trial is stopped (a ``max_runtime_seconds`` below the job's age is a
        deadline passed: the next round stops them, as at any deadline). ``check`` vets the
        changed spec first (the API's guardrails). ``ConflictError`` for a job that is not
        running; ``SpecError`` naming the field for a change the budget's rules refuse, or a
        dollar budget for trials that cannot be priced (it could never stop the job, and
        would run one trial at a time). The change applies to the budget as stored when it
        is written: two changes at once keep both."""
        job = self.store.get_job(job_id)
        if job.status is not JobStatus.RUNNING:
            raise ConflictError(f"job {job_id!r} is {job.status.value}: only a running job's budget can change")
        if update.max_cost_usd is not None and job.spec.trial is not None:
            try:
                job.spec.trial.check_priced()
            except ValueError as exc:
                raise SpecError(str(exc)) from None
            self._check_listed(job.spec.trial)

        def changed(budget: Budget) -> Budget:
            try:
                new = update.applied_to(budget)
            except ValidationError as exc:
                raise SpecError(f"budget.{describe_validation_error(exc)}") from None
            if check is not None:
                check(job.spec.model_copy(update={"budget": new}))
            return new

        job = self.store.set_budget(job_id, changed)
        self.wake(job_id)
        return job

    def reap(
        self,
        grace_seconds: float = 300.0,
        jobs: Iterable[Job] | None = None,
        reaped: Callable[[Job], None] | None = None,
        until: float | None = None,
    ) -> dict[str, int]:
        """Reconcile what events missed, for every unfinished job however many jobs exist
        (or for ``jobs``); ``reaped`` is told of each job once it is reaped (the reaper
        function counts the ends noted meanwhile: ``hyperstep.recorded_ends``), also when
        reaping it failed part way (the ends recorded before the error count under it).

        An error reaping one job (a throttled Describe, say) is logged and the pass goes on
        with the others, then the first such error is raised at its end: the pass fails, but
        one job in trouble never keeps the jobs after it unreconciled and unwoken.

        ``until`` (on the service's clock): no job, nor trial of a job, is started after it
        (the reaper function's timeout); with it, the jobs and each job's trials come in a new
        random order each pass, so passes cut short still reach every one. A pass cut short
        counts the jobs it left for the next in ``left``, the trials of a job it reached in
        ``trials_left``: one trial's reading is bounded (a Batch log: ``logs.MAX_LOG_PAGES``
        pages), a job's many trials are not.

        Each pass first publishes the completion events closers left unpublished
        (``announce_lost``: counted in ``announced``), whichever jobs it reaps, none after
        ``until`` either (``announcing_left``: the next pass publishes the rest). First: a
        published event leaves the backlog for good, so passes that start with it drain it,
        while jobs come back every pass; after the jobs, a pass that always ran out of time
        on them (many jobs, slow Describes) would never publish one. Not past its share of
        the pass (``ANNOUNCING_SHARE``): events that fail slowly would leave the jobs none."""
        counts = {"jobs": 0, "recorded": 0, "timed_out": 0}
        failure: Exception | None = None
        start = self.clock()
        try:
            announced, cut_short = self.announce_lost(
                until=None if until is None else start + (until - start) * ANNOUNCING_SHARE
            )
            if announced:
                counts["announced"] = announced
            if cut_short:
                counts["announcing_left"] = 1
        except Exception as exc:
            log.exception("announcing lost completion events failed (%s); the pass goes on", error_kind(exc))
            failure = failure or exc
        order = list(self.store.list_unfinished_jobs() if jobs is None else jobs)
        if until is not None:  # a pass that may be cut short takes them in a new order
            random.shuffle(order)
        for job in order:
            if until is not None and self.clock() >= until:
                counts["left"] = len(order) - counts["jobs"]
                break
            counts["jobs"] += 1
            try:
                self.reap_job(job, grace_seconds, counts, until)
            except Exception as exc:
                log.exception("reaping job %s failed (%s); the pass goes on", job.id, error_kind(exc))
                failure = failure or exc
            if reaped is not None:
                reaped(job)
        if failure is not None:
            raise failure
        return counts

    def announce_lost(
        self, grace_seconds: float = PUBLISH_GRACE_SECONDS, until: float | None = None
    ) -> tuple[int, bool]:
        """Publish the completion event of every job that ended over ``grace_seconds`` ago
        with none marked published, and say how many, and whether ``until`` (on the service's
        clock: the reaper's deadline) cut it short, the rest left to the next pass: the closer
        that won its status write died before its publish landed (a Lambda timeout, PutEvents
        throttled past the SDK's retries where only logged: ``_announced``), and no closer
        looks at a finished job again. At least once: a closer's own retry still under way
        when the grace is over publishes too. A job whose publish fails is logged, the others
        are announced, and the first such error is raised at the end (the next pass tries it
        again). The jobs are read as they are announced: one cut short reads no more."""
        failure: Exception | None = None
        announced = 0
        cut_short = False
        for job in self.store.list_unpublished_jobs(self.clock() - grace_seconds):
            if until is not None and self.clock() >= until:
                cut_short = True
                break
            try:
                self._announce(job)
            except Exception as exc:
                log.exception("job %s: its lost completion event failed again (%s)", job.id, error_kind(exc))
                failure = failure or exc
            else:
                announced += 1
        if failure is not None:
            raise failure
        return announced, cut_short

    def reap_job(self, job: Job, grace_seconds: float, counts: dict[str, int], until: float | None = None) -> None:
        """Fetch lost results of the job's running trials, time out stuck ones, and wake its
        execution. The wake also rescues pending trials nobody launched: the Suggest it
        leads to plans every pending trial again.

        The ends it records (a result fetched, a timeout, a settled wait, a prune on what
        its log printed: ``follow_log``) are each recorded once whichever path gets there
        first (the store's conditional write), so an end Collect recorded is never among
        them; each is noted as any end is (``hyperstep.recorded_ends``).

        An error on one trial (a throttled Describe) is logged and the others are reaped and
        the job woken before the first such error is raised: one trial in trouble never keeps
        its job's other trials unreconciled, pass after pass."""
        failure: Exception | None = None
        running = self._reapable(job)
        self.woken[job.id] = False
        if until is not None:  # cut short, a pass leaves others than the last one did
            random.shuffle(running)
        for index, trial in enumerate(running):
            if until is not None and self.clock() >= until:
                counts["trials_left"] = counts.get("trials_left", 0) + len(running) - index
                break
            try:
                self._reap_trial(job, trial, grace_seconds, counts)
            except Exception as exc:
                log.exception("reaping trial %s of job %s failed (%s)", trial.id, job.id, error_kind(exc))
                failure = failure or exc
        woken = self.woken.pop(job.id) or self.wake(job.id)  # an end the pass recorded woke it (``_end``)
        closed = None if woken else self._close_if_ended(job.id, grace_seconds)
        if closed is not None:
            counts[closed] = counts.get(closed, 0) + 1
        if failure is not None:
            raise failure

    def _close_if_ended(self, job_id: str, grace: float) -> str | None:
        """Close the job as its execution's end event would have (``close_ended_execution``)
        if that execution has ended outside Finish Job, and say so (``executions_ended``): the
        event can be lost for good (a rule disabled, its target throttled past its retries),
        and the job would stay running forever. A stopping job with no execution recorded is
        closed stopped as Finish would (``unstarted_stopped``): its start failed after the
        user's stop landed and the Finish that start ran failed too (``start_execution``), and
        no execution will close it (one whose start lost only its answer finds it closed and
        ends, as after that Finish). A running job with none recorded is failed as its start
        would have failed it (``_fail_unstarted``), unless it is a study driven by ask/tell (no
        trial block: ``Study`` over the same table). None when it closed nothing.

        Asked (one DescribeExecution) only of a job no round waits on (the reaper's wake found
        no parked token, or one nobody waits on), that is unfinished as read now, has an
        execution recorded and began its run (``Job.opened_at``: created, or reopened by a
        keyed retry, a tick or ``run --resume``, whose start is then under way) over the grace
        ago: a live job's round waits at its Wait
        between results, so a pass asks only of the jobs caught mid-round and those whose
        execution is gone, at most once per job. Not of a job whose round an end the pass
        recorded woke (``_end``, ``woken``): its execution took the token, the pass's own
        wake finds none."""
        job = self.store.get_job(job_id)
        if self.orchestrator is None or job.status.finished:
            return None
        if self.clock() - job.opened_at <= grace:  # its first round (or its start) may still be under way
            return None
        if job.execution_id is None:
            if job.status is JobStatus.RUNNING:  # a study driven by ask/tell has none, ever
                return None if job.spec.trial is None else self._fail_unstarted(job, grace)
            self.finish(FinishRequest(job_id=job_id))
            return "unstarted_stopped"
        change = self.orchestrator.describe_execution(job.execution_id)
        if change is None or self.close_ended_execution(change) is None:
            return None
        return "executions_ended"

    def _fail_unstarted(self, job: Job, grace: float) -> str | None:
        """Fail a job read running with no execution recorded past the grace (its start
        raised and the failed write after it failed too: DynamoDB throttled or down), as that
        write would have (``START_FAILED``), and say so (``unstarted_failed``); None when a
        write landed since the read (its start recorded its execution, a stop, a reopening):
        the write holds only over the job as read (``as_read``), so of it and a start's
        record landing at once exactly one wins, and a job whose execution was recorded is
        never failed under it (its Suggest would find it closed and end it, one event, then
        a second at its real end). Its event is the reaper's to publish once the publish
        grace is over (``announce_lost``), as for a start whose error left unknown whether an
        execution began: one that did takes the job back at its next Suggest (``_claimed``),
        a start still under way when it records its execution (``_record_execution``), and
        the job announces its real end instead."""
        failed = f"{START_FAILED}: no execution recorded {grace:.0f} s after the job was started"
        try:
            self.store.set_job_status(
                job.id, JobStatus.FAILED, expected=(JobStatus.RUNNING,), error=failed, as_read=job
            )
        except ConflictError:
            return None
        return "unstarted_failed"

    def _reapable(self, job: Job) -> list[Trial]:
        """The job's running trials, and its pruned ones whose platform end is unseen
        (``Trial.end_unseen``: a lost end event), read now, without reading the whole job (the
        store has no index of running trials): the reaper's view catches up on what changed
        since its last pass (``TrialView``), and each trial it holds as active or unseen is
        read again, since a start, a report, an awaited result or a platform's end changes a
        trial without ending it. Once a pruned trial's end is recorded it is asked no more."""
        held = [t.id for t in self.reaped.trials(job) if t.state.active or t.end_unseen]
        trials = [self.store.get_trial(job.id, trial_id) for trial_id in held]
        self.reaped.remember(trials)
        return [t for t in trials if t.state is TrialState.RUNNING or (t.state is TrialState.PRUNED and t.end_unseen)]

    def _reap_trial(self, job: Job, trial: Trial, grace: float, counts: dict[str, int]) -> None:
        def ended(recorded: bool, count: str = "recorded") -> None:
            if recorded:
                counts[count] += 1

        if trial.state is TrialState.PRUNED:  # its platform's end, read as its event is (``_after_end``)
            unseen = self.backend_for(job).describe(job, trial)
            if unseen is not None:
                ended(self.collect(unseen))
            return
        if trial.awaiting_result_since is not None:
            if self.clock() - trial.awaiting_result_since > grace:
                ended(self._settle_from_source(job, trial, grace))
            return
        if early_stopping.enabled(job.spec) and not self.follow_log(job, trial, ended):
            return  # stopped early on what its log printed
        timeout = job.spec.trial.running_limit_seconds() if job.spec.trial else None
        result = self.backend_for(job).describe(job, trial)
        if result is not None:
            ended(self.collect(result))
        elif timeout is not None and self._overdue(job, trial, timeout + grace):
            self.backend_for(job).stop(job, trial)
            stuck = TrialResult(job_id=job.id, trial_id=trial.id, state="failed", error="timed out")
            ended(self.collect(stuck), "timed_out")

    def _overdue(self, job: Job, trial: Trial, limit: float) -> bool:
        """Whether the trial has run longer than ``limit`` seconds since its platform began
        counting (``running_since``). Its launch is checked first: the platform's start is
        never earlier, so a trial within its time since launch costs no platform call."""
        if trial.started_at is None or self.clock() - trial.started_at <= limit:
            return False
        since = self.backend_for(job).running_since(job, trial)
        return since is not None and self.clock() - since > limit

    def follow_log(self, job: Job, trial: Trial, ended: Callable[[bool], None] | None = None) -> bool:
        """Report the step values the running trial's log printed since it was last read
        (``TrialBackend.step_reports``: SageMaker's CloudWatch log), each judged as a step
        report is, then keep how far the log was read. Reported before the cursor moves: a
        reading cut short reads the same lines again, numbered the same (duplicates merge).
        Returns whether the trial is still running; ``ended`` is told of each report that
        ended it (a prune, ``stop_early``; a completion after it, ``_report_after_end``).

        Not for a trial with a curve whose objective came by event (its kept report carries
        the script's clock, ``at``, which a log line's has not): its script calls
        ``hyperstep.report``, which prints every value it sends, so the log holds the same
        values, and numbering them 1, 2, 3 would put each on another step than the event's
        (``step=epoch`` from 0, every 10th epoch) and mix the two on one curve. A script that
        prints its steps and reports only its final value by event has no curve until its
        log is read: it is read.
        """
        kept = trial.reports.get(job.spec.primary.metric)
        if kept is not None and kept.at is not None and trial.curve:
            return True
        reports, cursor = self.backend_for(job).step_reports(job, trial)
        for metric, step, value in reports:
            recorded = self._report(self.store.get_job(job.id), trial.id, {metric: value}, step, False, None)
            if ended is not None:
                ended(recorded.ended)
            if not recorded.recorded:
                return False
        if cursor is not None and cursor != trial.log_cursor:
            return self.store.set_log_cursor(job.id, trial.id, cursor)
        return True

    def _settle_from_source(self, job: Job, trial: Trial, grace: float | None = None) -> bool:
        """End a trial that completed without its final objective and has waited ``grace``
        seconds for it (None: its job is ending): complete it from the source
        (``recover_metrics``), else fail it.

        A source that cannot be read (no permission, say) fails the trial with the reason
        rather than stopping the reaper: left running, it would hold its job forever.
        """
        problem, unread, trial = None, None, self.store.get_trial(job.id, trial.id)  # with any report since
        try:
            recovered = self.backend_for(job).recover_metrics(job, trial)
        except UnreadMetricError as exc:  # its log printed the objective as no number (loss=0,49)
            recovered, unread = exc.metrics, str(exc)
        except Exception as exc:
            recovered, problem = {}, f"{type(exc).__name__}: {exc}"
        final = {**trial.final_reports(), **recovered}
        metrics = {**trial.metrics, **final}
        if has_objectives(job, final):
            return self._end(job, trial, TrialState.COMPLETED, metrics)
        error = unread or missing_objective(job, trial, grace, problem)
        return self._end(job, trial, TrialState.FAILED, metrics, error)

    def backend_for(self, job: Job) -> TrialBackend:
        if job.spec.trial is None:
            raise LaunchError(f"job {job.id!r} has no trial block: it is driven by ask/tell")
        name = job.spec.trial.backend
        if name not in self.backends:
            raise LaunchError(f"backend {name!r} is not available here (have: {', '.join(self.backends)})")
        return self.backends[name]


def parked(token: str, history_events: int) -> str:
    """What the store keeps for a parked round: its task token and the execution's history
    count, which the round's waker hands back (the state machine carries it round to round)."""
    return json.dumps({"token": token, "history_events": history_events})


def unparked(stored: str) -> tuple[str, int]:
    """``parked``'s inverse: the token and history count (a bare token, as kept by an
    earlier version, counts 0)."""
    if not stored.startswith("{"):
        return stored, 0
    value = json.loads(stored)
    return value["token"], int(value.get("history_events", 0))


def is_unstarted(job: Job) -> bool:
    """Whether the job failed only because its execution's start did (``START_FAILED``, no
    execution recorded): its execution, or a retried start, may yet take it back."""
    return job.status is JobStatus.FAILED and (job.error or "").startswith(START_FAILED) and job.execution_id is None


def failure_reason(error: Mapping[str, Any]) -> str:
    """``Error: message`` from a caught Step Functions error, in one line (``clipped``: a
    ``Cause`` holds up to 32,768 characters).

    A Lambda function's ``Cause`` is its error JSON (``errorMessage``, ``errorType``,
    ``stackTrace``): the job keeps the message, not the stack trace.
    """
    cause = error.get("Cause")
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        cause = json.loads(cause).get("errorMessage", cause)
    return clipped(f"{error.get('Error')}: {cause}")


def missing_objective(
    job: Job,
    trial: Trial,
    grace: float | None = None,
    problem: str | None = None,
    final: Mapping[str, float] | None = None,
) -> str:
    """Why a completed trial has no objective value (``final``: metrics it has besides its
    final reports), and what its script should do."""
    final = {**trial.final_reports(), **(final or {})}
    missing = [o.metric for o in job.spec.goals if o.metric not in final]
    objective = (missing or [job.spec.primary.metric])[0]
    reason = f"objective metric {objective!r} was not reported"
    if grace is not None:
        reason += (
            f": no final report came within {grace:g} s of the trial's end, and the backend's record and log hold none"
        )
    if problem is not None:
        reason += f" (reading them failed: {problem})"
    last = trial.reports.get(objective)
    if last is not None and not last.final:
        where = "" if last.step is None else f" at step {last.step}"
        reason += (
            f"; its last report was {objective}={last.value:g}{where}, not final:"
            " report the final value without a step, or with final=True"
        )
    return reason


def reported_objectives(job: Job, metrics: Mapping[str, float]) -> tuple[float | None, list[float] | None, str | None]:
    """A completed trial's ``value`` and ``values`` (every objective's, with several) from
    its ``metrics``; or, when an objective is missing or not finite, the error that fails it."""
    reported = [metrics.get(o.metric) for o in job.spec.goals]
    bad = [(o.metric, v) for o, v in zip(job.spec.goals, reported) if v is None or not math.isfinite(v)]
    if bad:
        metric, number = bad[0]
        return None, None, f"objective metric {metric!r} is not a finite number ({number})"
    values = [float(v) for v in reported if v is not None]
    return values[0], values if job.spec.multi_objective else None, None


def charged(charge: Charge | Trial) -> tuple[float, float]:
    """How much a charge (or a trial's) comes to, to compare two: dollars, then seconds."""
    return (charge.cost_usd or 0.0, charge.billable_seconds or 0.0)


def error_kind(exc: BaseException) -> str:
    """An error's type, with its AWS error code when it carries one (botocore's
    ``ClientError.response``, read without importing botocore): what a log may say of it."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, Mapping) else None
    return type(exc).__name__ if not code else f"{type(exc).__name__} {code}"


def has_objectives(job: Job, final: Mapping[str, float]) -> bool:
    """Whether ``final`` metrics hold every objective of the job (constraint metrics may be
    missing: the trial then completes, infeasible)."""
    return all(o.metric in final for o in job.spec.goals)


def has_every_metric(job: Job, final: Mapping[str, float]) -> bool:
    """Whether ``final`` metrics hold every objective and every constraint's metric."""
    return all(metric in final for metric in job.spec.measured_metrics)


def warm_start_parents(spec: JobSpec, parents: Sequence[str] = ()) -> tuple[str, ...]:
    """The jobs a new job learns from: ``parents`` given by the caller (a schedule's earlier
    runs), then the spec's ``warm_start.jobs``, each once, in that order."""
    named = spec.warm_start.jobs if spec.warm_start is not None else []
    return tuple(dict.fromkeys([*parents, *named]))


START_FAILED = "could not start execution"
"""How the error of a job whose execution's start raised begins (``start_execution``)."""
MAX_NAMES = 10
"""Names of a seed a start tries, each held by a closed execution, before it fails (``_live_execution``)."""


def execution_name(job_id: str, seed: str) -> str:
    """An execution name (at most 80 characters) for the job, unique per ``seed``."""
    return f"{job_id[:60]}-{hashlib.sha256(seed.encode()).hexdigest()[:8]}"


ID_DRAWS = 3
"""Generated ids a create tries before it gives up: two jobs of one name created in the same
second (two callers, two schedules) draw their random part again on the rare collision."""


def new_job_id(name: str, now: float) -> str:
    """A job id that sorts by time (``now``, epoch seconds) and stays short enough for resource
    names (``hs-<id>-t0001-1`` fits SageMaker's 63 characters), with 32 random bits."""
    return f"{name[:24]}-{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}-{uuid.uuid4().hex[:8]}"
