"""What each Lambda function does, as a plain function of a service: ``handle_<name>(service, event)``.

Every caller passes its own service and the telemetry it wants:

- on AWS, ``functions/<name>/app.py``: Powertools' decorators, the AWS service built once
  from the function's environment (``hyperstep.wiring``), Powertools' ``Logger`` and
  ``Metrics`` as telemetry;
- on a laptop, ``hyperstep.local.runtime``: the local service, ``handlers.log`` as telemetry;
- under moto, ``tests/integration/moto_harness.py``: the AWS service on moto's clients.

Each returns the JSON-ready dict the function returns. The API's routes (HTTP, Powertools'
resolver) stay in ``functions/api/app.py``, as ``handle_api(service, event, context, ...)``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperstep.early_stopping import ignored_options
from hyperstep.errors import NotFoundError, SpecError
from hyperstep.events import EventError, parse_event
from hyperstep.execution_events import ExecutionStatusChange, is_execution_status_change
from hyperstep.guardrails import NO_GUARDRAILS, Guardrails
from hyperstep.messages import FinishRequest, SuggestRequest
from hyperstep.models import Job, JobStatus, TrialState
from hyperstep.recorded_ends import RecordedEnd, recording
from hyperstep.report_signing import ReportRefused
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec

COUNT, NO_UNIT = "Count", "None"
"""CloudWatch metric units."""
REAPER_GRACE_SECONDS = 300.0
"""How long the reaper waits for a trial's final objective after its end (``handle_reaper``)."""


class Log(Protocol):
    """What a handler logs through (Powertools' ``Logger`` is one)."""

    def append_keys(self, **keys: Any) -> None: ...

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...

    def error(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None: ...


class Meter(Protocol):
    """What a handler counts with (Powertools' ``Metrics`` is one); the caller flushes what
    is left when the invocation ends. ``flush_metrics`` writes what was added so far as one
    EMF object and starts a new one, without the dimensions added: how one invocation counts
    under several dimension values (the reaper: one object per job)."""

    def add_dimension(self, name: str, value: str) -> None: ...

    def add_metric(self, name: str, unit: str, value: float) -> None: ...

    def flush_metrics(self) -> None: ...


class Quiet:
    """Logs and counts nothing."""

    def append_keys(self, **keys: Any) -> None:
        return None

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        return None

    def error(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        return None

    def add_dimension(self, name: str, value: str) -> None:
        return None

    def add_metric(self, name: str, unit: str, value: float) -> None:
        return None

    def flush_metrics(self) -> None:
        return None


@dataclass(frozen=True)
class Telemetry:
    """Where one invocation's logs and metrics go."""

    log: Log = field(default_factory=Quiet)
    metrics: Meter = field(default_factory=Quiet)


QUIET = Telemetry()
Handler = Callable[[TuningService, dict[str, Any], Telemetry], dict[str, Any]]


def handle_suggest(service: TuningService, event: dict[str, Any], telemetry: Telemetry = QUIET) -> dict[str, Any]:
    """Suggest Trials: fill the job's free parallel slots with new trials and launch them, or
    say it is done; then send the plan back on the task token, or park the token until a
    result wakes it (``TuningService.suggest_round``)."""
    request = SuggestRequest.model_validate(event)
    log, metrics = telemetry.log, telemetry.metrics
    log.append_keys(job_id=request.job_id)
    with recording() as ends:  # trials failed at launch, pending ones stopped
        plan = service.suggest_round(request)
    metrics.add_dimension(name="JobId", value=request.job_id)
    metrics.add_metric(name="TrialsStarted", unit=COUNT, value=plan.started)
    count_trial_ends(metrics, ends)
    log.info("planned", extra={"trials": len(plan.trial_ids), "done": plan.done, "reason": plan.reason})
    return plan.model_dump(mode="json")


def handle_finish(service: TuningService, event: dict[str, Any], telemetry: Telemetry = QUIET) -> dict[str, Any]:
    """Finish Job: store the job's final status and best trial; emit the completion event.

    The function also gets Step Functions' status-change event of an execution that ended
    outside Finish Job (failed, aborted, timed out: ``hyperstep.execution_events``), and
    closes that execution's job the same way (``handle_execution_ended``)."""
    if is_execution_status_change(event):
        return handle_execution_ended(service, event, telemetry)
    request = FinishRequest.model_validate(event)
    log, metrics = telemetry.log, telemetry.metrics
    log.append_keys(job_id=request.job_id)
    with recording() as ends:  # the trials it winds down
        summary = service.finish(request)
    metrics.add_dimension(name="JobId", value=request.job_id)
    metrics.add_metric(name=f"Jobs{summary['status'].capitalize()}", unit=COUNT, value=1)
    count_trial_ends(metrics, ends)
    if summary["best_value"] is not None:
        metrics.add_metric(name="BestValue", unit=NO_UNIT, value=summary["best_value"])
    log.info("finished", extra={"status": summary["status"], "trials": summary["trials"]})
    return summary


def handle_execution_ended(
    service: TuningService, event: dict[str, Any], telemetry: Telemetry = QUIET
) -> dict[str, Any]:
    """Close the job of an execution that ended outside Finish Job, from Step Functions'
    status-change event; ``{"closed": False}`` when there was nothing to close (an earlier
    execution of the job, a job closed already or not hyperstep's)."""
    log = telemetry.log
    change = ExecutionStatusChange.model_validate(event["detail"])
    log.append_keys(job_id=change.job_id, execution=change.execution_arn)
    with recording() as ends:  # the trials it winds down
        summary = service.close_ended_execution(change)
    if summary is None:
        log.info("execution ended: nothing to close", extra={"status": change.status})
        return {"closed": False}
    if ends:  # under the job, apart from ExecutionsClosed (no JobId)
        count_ends(telemetry.metrics, service.store.get_job(summary["job_id"]), ends)
        telemetry.metrics.flush_metrics()
    telemetry.metrics.add_metric(name="ExecutionsClosed", unit=COUNT, value=1)
    # An execution aborted while its job was being stopped (a local Ctrl-C, a stop racing the
    # execution's end) is the stop taking effect, not a fault: the job ends stopped
    stopped = summary["status"] == JobStatus.STOPPED.value
    report = log.info if stopped else log.error
    report("closed the job of an execution that ended outside Finish Job", extra={"status": change.status})
    return {"closed": True, **summary}


def handle_collect(
    service: TuningService, event: dict[str, Any] | list[dict[str, Any]], telemetry: Telemetry = QUIET
) -> dict[str, Any]:
    """Collect: record a trial's end, or metrics it reported, from an EventBridge event; or
    each of a JSON array of them in turn, as an EventBridge Pipe with batching passes a
    batch to a Lambda target ("the batch is converted to a JSON array": EventBridge user
    guide, Pipes target specifics; a Pipe's items are its source's records, SQS messages,
    say, not EventBridge events, and the stack deploys none: on AWS each event comes
    alone), answering ``{"collected": [...]}``, one reply an event, in order (a simulated
    run's step reports between two ends: ``hyperstep.local.simulation``).
    An event is recorded as it would be alone: a decision it leads to is taken at its step,
    and the ends it counts are flushed under its own job (the batch may hold several)."""
    if isinstance(event, list):
        with service.store.batch():  # one commit (SQLite), each event's writes all or nothing
            return {"collected": [collect_event(service, one, telemetry, flush=True) for one in event]}
    return collect_event(service, event, telemetry)


def collect_event(
    service: TuningService, event: dict[str, Any], telemetry: Telemetry = QUIET, *, flush: bool = False
) -> dict[str, Any]:
    """Record a trial's end, or metrics it reported, from an EventBridge event (``handle_collect``;
    ``flush``: what it counts is flushed at once, as one of a batch's).

    Each result is recorded exactly once (the store's conditional write): events that
    arrive twice, late or out of order change nothing. A malformed event is logged and
    dropped rather than retried, since a retry cannot mend it; so is an event of a job or
    trial this store does not hold (another stack's in the same account and region: the
    rules match every ``hs-`` job and report; a job gone with the table's TTL), and a metric
    report its trial's key does not sign (``hyperstep.report_signing``), counted in
    ``ReportsRefused``.
    """
    log = telemetry.log
    try:
        parsed = parse_event(event)
    except EventError as exc:
        event_id = event.get("id") if isinstance(event, dict) else None  # an array's item may be any JSON
        log.error("dropped event", extra={"reason": str(exc), "event_id": event_id})
        return {"recorded": False, "reason": str(exc)}
    if parsed is None:
        return {"recorded": False, "reason": "no action needed"}
    log.append_keys(job_id=parsed.job_id, trial_id=parsed.trial_id)
    with recording() as ends:  # an end event, or reports that ended the trial
        try:
            recorded = service.record(parsed)
        except NotFoundError as exc:
            log.info("dropped event: not a job or trial of this deployment", extra={"reason": str(exc)})
            return {"recorded": False, "reason": str(exc)}
        except ReportRefused as exc:  # forged, unsigned or too many metrics: a retry cannot mend it; no value is logged
            log.error("refused report", extra={"reason": str(exc), "event_id": event.get("id")})
            telemetry.metrics.add_metric(name="ReportsRefused", unit=COUNT, value=1)
            if flush:  # not under the JobId of an end later in the batch
                telemetry.metrics.flush_metrics()
            return {"recorded": False, "reason": str(exc)}
    log.info("collected", extra={"kind": type(parsed).__name__, "recorded": recorded})
    if ends:
        count_ends(telemetry.metrics, service.store.get_job(parsed.job_id), ends)
        if flush:
            telemetry.metrics.flush_metrics()
    return {"recorded": recorded}


def count_ends(metrics: Meter, job: Job, ends: Iterable[RecordedEnd]) -> None:
    """``Trials{State}`` of the job for the ends an invocation recorded (``count_trial_ends``),
    under its ``JobId``, and its ``BestValue`` as ``job`` holds it."""
    metrics.add_dimension(name="JobId", value=job.id)
    count_trial_ends(metrics, ends)
    if job.best_value is not None:
        metrics.add_metric(name="BestValue", unit=NO_UNIT, value=job.best_value)


def count_trial_ends(metrics: Meter, ends: Iterable[RecordedEnd]) -> None:
    """``Trials{State}`` for the ends one job's invocation recorded (``hyperstep.recorded_ends``):
    each end once, in its state. A late completion of a trial recorded stopped or pruned
    counts ``TrialsCompleted`` 1 and its first end's metric -1 (EMF cannot take a count
    back, but a sum can): summed over any period holding both, the trial counts once, as
    completed, as the job's counters do (``TrialStore.report_after_end``)."""
    counts: Counter[TrialState] = Counter()
    for end in ends:
        counts[end.state] += 1
        if end.replaced is not None:
            counts[end.replaced] -= 1
    for state, count in counts.items():
        if count:
            metrics.add_metric(name=f"Trials{state.value.capitalize()}", unit=COUNT, value=count)


def handle_reaper(
    service: TuningService,
    event: dict[str, Any],
    telemetry: Telemetry = QUIET,
    *,
    grace_seconds: float = REAPER_GRACE_SECONDS,
    jobs: Iterable[Job] | None = None,
    until: float | None = None,
) -> dict[str, Any]:
    """Reaper: reconcile what events missed and wake every unfinished job's execution (or
    those of ``jobs``: the local reaper's, the jobs running in its process), starting no
    job after ``until`` (epoch seconds: the function's timeout less a margin).

    Fetches results of running trials whose end event never arrived (Describe* calls), fails
    trials past their timeout plus the grace, settles trials that ended without their final
    objective and waited the grace for it (from the source, else failed), prunes trials on
    what their log printed, closes jobs whose execution ended unseen (or that stopped with
    none), and publishes completion events a closer died before publishing. Each end it
    recorded counts in the job's ``Trials{State}`` (and ``BestValue``) as Collect counts it,
    one EMF object per job flushed once the job is reaped (``count_ends``); then
    ``ReapedResults`` and ``TrialsTimedOut``, without a job.
    """
    metrics = telemetry.metrics
    with recording() as ends:

        def reaped(job: Job) -> None:
            if ends:
                count_ends(metrics, service.store.get_job(job.id), ends)
                metrics.flush_metrics()
                ends.clear()

        counts = service.reap(grace_seconds=grace_seconds, jobs=jobs, reaped=reaped, until=until)
    metrics.add_metric(name="ReapedResults", unit=COUNT, value=counts["recorded"])
    metrics.add_metric(name="TrialsTimedOut", unit=COUNT, value=counts["timed_out"])
    if counts.keys() & {"left", "trials_left", "announcing_left"}:  # out of time (``until``): the next pass
        telemetry.log.warning("pass cut short: jobs or trials left for the next pass", extra=counts)
    else:
        telemetry.log.info("reaped", extra=counts)
    return counts


def handle_start(
    service: TuningService,
    event: dict[str, Any],
    telemetry: Telemetry = QUIET,
    *,
    guardrails: Guardrails = NO_GUARDRAILS,
    request_id: str | None = None,
) -> dict[str, Any]:
    """Start Scheduled Job: one tick of a recurring schedule starts a fresh job from its spec.

    The spec is the one kept for the schedule (``recurring.tick_spec``; a schedule deleted
    meanwhile has none, and its tick is skipped), validated again (a stored spec may predate
    a change of the spec model) and checked against ``guardrails`` (the deployment's may have
    tightened since the schedule was made) and as a submit checks it (a dollar budget in a
    region the price table lacks). A spec that cannot start a job so starts none: the tick is
    skipped, logged as an error naming the schedule and the reason and counted
    (``ScheduledTicksRefused``), not raised (every retry would fail alike, into the alarmed
    dead-letter queue). It is read as input, not as stored (``STORED`` drops a field this
    version does not know, as a newer version wrote it before the stack rolled back): the
    tick starts a new job, which without that field (a budget limit, a constraint) would run
    another search than the one asked for; its ticks start again once the newer version is back.
    Warm-start parents that are gone, another owner's, or nothing to learn from (another objective,
    no trial that fits) are left out (``recurring.learnable_parents``).
    A tick delivered again (Lambda's retries, under the same ``request_id``; any repeat, by
    its scheduled time) carries on the job its first delivery created (``recurring.tick_job_id``).
    """
    from hyperstep.recurring import (  # the start function's alone
        ScheduleInput,
        learnable_parents,
        start_scheduled_job,
        tick_job_id,
        tick_spec,
    )

    tick = ScheduleInput.model_validate(event)
    log = telemetry.log
    log.append_keys(schedule=tick.schedule_name)
    kept = tick_spec(service.store, tick)
    if kept is None:
        log.info("tick skipped: its schedule was deleted")
        return {"skipped": "the schedule was deleted"}
    try:
        spec = parse_spec(kept)
        guardrails.check(spec)
        spec, dropped = learnable_parents(service.store, spec, tick.owner)
        if dropped:
            log.info(
                "warm-start parents left out: gone, another owner's, or nothing to learn from", extra={"jobs": dropped}
            )
        job, started = start_scheduled_job(service, spec, tick.owner, tick_job_id(spec.name, tick, request_id))
    except SpecError as exc:  # the same on every retry: no error for Scheduler to retry into the DLQ
        log.error(f"tick of schedule {tick.schedule_name!r} skipped: its spec cannot start a job: {exc}")
        telemetry.metrics.add_metric(name="ScheduledTicksRefused", unit=COUNT, value=1)
        return {"skipped": f"its spec cannot start a job: {exc}"}
    if job is None:
        log.info("tick skipped: the previous run is still going")
        return {"skipped": "the previous run is still going"}
    if started:
        telemetry.metrics.add_metric(name="ScheduledJobsStarted", unit=COUNT, value=1)
        log.info("scheduled job started", extra={"job_id": job.id})
        ignored = list(ignored_options(spec))
        if ignored:  # POST /jobs answered them in its 201; named once a run, without the spec's values
            log.info("scheduled job started with options nothing reads", extra={"job_id": job.id, "ignored": ignored})
    else:
        log.info("tick delivered again: its job was started already", extra={"job_id": job.id})
    return {"job_id": job.id, "status": job.status.value, "execution_id": job.execution_id}


LOOP_HANDLERS: dict[str, Handler] = {
    "suggest": handle_suggest,
    "finish": handle_finish,
    "collect": handle_collect,
}
"""The functions a tuning job runs through, by name: the state machine's Tasks and the
target of the trial event rules (what a local run deploys). The local runtime and the
moto harness look a handler up here at every call (a test may stand one in)."""
