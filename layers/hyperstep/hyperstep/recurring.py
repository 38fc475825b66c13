"""Recurring tuning: a spec with ``schedule`` becomes an EventBridge Scheduler schedule.

``POST /jobs`` with ``schedule: "rate(1 day)"`` (or ``cron(...)``) does not start a job.
It creates one schedule in the deployment's schedule group (``HYPERSTEP_SCHEDULE_GROUP``:
the stack's own group; ``hyperstep`` outside a stack) named after the spec, whose target
is the *start* function with the schedule's name and owner as input (``ScheduleInput``);
the spec itself is kept in the trial store under that name (a target's input is shown to
anyone allowed ``scheduler:GetSchedule``, and a spec holds environment values). EventBridge
Scheduler invokes that function at every tick under a role that may invoke only it; the
function reads the kept spec (``tick_spec``) and starts a fresh job from it each time
(``start_scheduled_job``), finding the
schedule's previous completed run so that a warm start can seed the new job from it.
A tick starts one job however often it is delivered: the input carries the tick's scheduled
time (``SCHEDULED_TIME``, the same in Scheduler's retries, Lambda's two retries of a failed
invocation and a repeated delivery), from which the job's id and its execution's name are
made, so a retry finds the job its first attempt created and carries it on (``tick_job_id``).
The API builds the adapter with ``hyperstep.wiring.schedules_factory``; the start
function's logic is ``hyperstep.handlers.handle_start``.

Schedules have owners: a schedule created through the API carries its owner (the
principal, ``hyperstep.owners``) in its input, so the jobs its ticks start belong to that
owner, and its Scheduler name is ``<owner_tag>-<spec name>``: names are per owner (one
principal's ``nightly`` does not block another's), an owner's schedules are one
``ListSchedules`` by name prefix, and ``delete`` checks the stored owner before deleting.

IAM for the caller of ``RecurringSchedules``: ``scheduler:CreateSchedule``,
``scheduler:GetSchedule`` and ``scheduler:DeleteSchedule`` on ``schedule/<group>/*``,
``scheduler:ListSchedules`` (no resource type: ``*``), and ``iam:PassRole`` on the
scheduler role (passed to ``scheduler.amazonaws.com``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hyperstep.errors import ConflictError, HyperstepError, JobExistsError, NotFoundError, SpecError
from hyperstep.job_pages import PAGE, every_job
from hyperstep.models import Job, JobStatus
from hyperstep.owners import owner_tag
from hyperstep.service import START_FAILED, TuningService
from hyperstep.spec import JobSpec
from hyperstep.stores.base import TrialStore
from hyperstep.warm_start import check_parent

DEFAULT_GROUP = "hyperstep"
RETRY_ATTEMPTS = 3
"""Scheduler retries a failed invocation of the start function this often."""
MAX_EVENT_AGE_SECONDS = 3600
"""A tick that could not start within an hour is dropped: the next tick comes anyway."""
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
"""EventBridge Scheduler's context attribute for the time a tick was scheduled for (e.g.
``2022-03-22T18:59:43Z``; "Adding context attributes", EventBridge Scheduler User Guide):
written in the schedule's input, replaced by that time in each invocation's."""
TICK_SEED = "tick"
"""The execution name's seed of a tick's job (``TuningService.start_execution``): one name
per job, so a retried tick's start returns the execution an earlier attempt started."""


class ScheduleInput(BaseModel):
    """What the schedule hands the start function at each tick: which schedule, whose.

    The spec itself is kept in the trial store under ``schedule_name`` (``TrialStore.
    put_schedule_spec``), not here: a schedule's target input is shown to anyone allowed
    ``scheduler:GetSchedule``, and a spec holds its trials' environment values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule_name: str = Field(min_length=1, max_length=64)
    owner: str | None = None
    """Who created the schedule (its jobs are theirs); None for a schedule without one."""
    spec: dict[str, Any] | None = None
    """Only in schedules made before specs moved to the store: the spec as JSON data (such
    a schedule keeps working; delete and create it again to move its spec)."""
    scheduled_time: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
    """The time the tick was scheduled for (``SCHEDULED_TIME``, filled in by Scheduler): which
    tick this is. None in the input of a schedule made before it was there; a keyword left
    unreplaced is refused (every tick would look like the first)."""


class ScheduleCreated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The schedule's name for its owner (the spec's): what ``DELETE /schedules/{name}`` takes."""
    schedule_name: str
    """Scheduler's name of it (``schedule_name``: per owner)."""
    schedule_arn: str
    expression: str


class ScheduleSummary(BaseModel):
    """One of a caller's schedules: its name (the spec's), Scheduler's name and ARN, state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    schedule_name: str
    schedule_arn: str
    state: str


def schedule_name(spec_name: str, owner: str | None = None) -> str:
    """Scheduler's name of an owner's schedule: ``<owner_tag>-<spec name>`` (at most
    16 + 1 + 40 characters; Scheduler allows ``[0-9a-zA-Z-_.]{1,64}``); the spec's name
    alone without an owner."""
    return spec_name if owner is None else f"{owner_prefix(owner)}{spec_name}"


def owner_prefix(owner: str) -> str:
    """The name prefix every schedule of ``owner`` starts with."""
    return f"{owner_tag(owner)}-"


def tick_spec(store: TrialStore, tick: ScheduleInput) -> dict[str, Any] | None:
    """The spec a tick starts a job from: the one kept for its schedule (or, for a schedule
    made before specs moved to the store, the one in its input). None when none is kept for
    it or the kept one is another owner's: the schedule was deleted while this tick was on its
    way, and the tick starts nothing (raising would have Scheduler retry it for hours and then
    send it to the alarmed dead-letter queue)."""
    if tick.spec is not None:
        return options_as_read(tick.spec)
    kept = store.get_schedule_spec(tick.schedule_name)
    if kept is None or kept.owner != tick.owner:
        return None
    return options_as_read(kept.spec)


def options_as_read(spec: dict[str, Any]) -> dict[str, Any]:
    """A kept spec whose strategy options written as strings (``{"n_initial": "3"}``: kept as
    given before they were stored as the strategy reads them) are as the strategy reads them
    back (3); strings for numbers are refused as a spec comes in, and every tick of such a
    schedule would be skipped. Any other option, and a spec whose options cannot be read
    back, is left as it is, for the tick's checks to name."""
    strategy = spec.get("strategy")
    options = strategy.get("options") if isinstance(strategy, dict) else None
    if not isinstance(options, dict) or not any(isinstance(value, str) for value in options.values()):
        return spec
    from hyperstep.strategies import make_strategy

    try:
        read = make_strategy(str(strategy.get("name", "bayesian")), options, stored=True).options
    except (ValueError, TypeError):  # pydantic's ValidationError is a ValueError
        return spec
    for name, value in options.items():
        if isinstance(value, str) and name in read.model_fields_set and not isinstance(getattr(read, name), str):
            options = {**options, name: getattr(read, name)}
    return {**spec, "strategy": {**strategy, "options": options}}


class RecurringSchedules:
    """The EventBridge Scheduler adapter: one schedule per recurring spec."""

    def __init__(self, client: Any, group: str, start_function_arn: str, role_arn: str) -> None:
        self.client = client
        self.group = group
        self.start_function_arn = start_function_arn
        self.role_arn = role_arn

    def create(self, spec: JobSpec, owner: str | None, specs: TrialStore) -> ScheduleCreated:
        """Create ``owner``'s schedule of the spec, the spec kept in ``specs`` and only a
        reference to it in the schedule; ``ScheduleConflict`` if the owner has one of that
        name (its kept spec untouched), ``SpecError`` naming ``schedule`` if Scheduler finds
        it invalid. Should keeping the spec fail, the new schedule is deleted again."""
        if spec.schedule is None:
            raise ValueError("the spec has no schedule")
        name = schedule_name(spec.name, owner)
        tick = ScheduleInput(schedule_name=name, owner=owner)
        try:
            response = self.client.create_schedule(
                Name=name,
                GroupName=self.group,
                ScheduleExpression=spec.schedule,
                FlexibleTimeWindow={"Mode": "OFF"},
                Description=f"hyperstep recurring tuning of {spec.name}",
                Target={
                    "Arn": self.start_function_arn,
                    "RoleArn": self.role_arn,
                    "Input": json.dumps({**tick.model_dump(exclude_none=True), "scheduled_time": SCHEDULED_TIME}),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
                    },
                },
            )
        except Exception as exc:
            refused(exc, name, self.group)
            raise
        try:  # after the schedule: a conflict must not replace the existing schedule's spec
            specs.put_schedule_spec(name, owner, spec.model_dump(mode="json"))
        except Exception:
            self.client.delete_schedule(Name=name, GroupName=self.group)
            raise
        return ScheduleCreated(
            name=spec.name, schedule_name=name, schedule_arn=response["ScheduleArn"], expression=spec.schedule
        )

    def owned(self, owner: str) -> list[ScheduleSummary]:
        """The owner's schedules in the group, by name (``ListSchedules`` by name prefix)."""
        prefix = owner_prefix(owner)
        found: list[ScheduleSummary] = []
        for page in self.client.get_paginator("list_schedules").paginate(GroupName=self.group, NamePrefix=prefix):
            found += [
                ScheduleSummary(
                    name=item["Name"][len(prefix) :],
                    schedule_name=item["Name"],
                    schedule_arn=item["Arn"],
                    state=item.get("State", "ENABLED"),
                )
                for item in page.get("Schedules", [])
            ]
        return sorted(found, key=lambda summary: summary.name)

    def delete(self, name: str, owner: str, specs: TrialStore) -> None:
        """Delete the owner's schedule ``name`` (the spec's name) and the spec kept for it in
        ``specs``; ``NotFoundError`` when the owner has neither, including one whose stored
        owner is someone else.

        The spec goes first: a failure before the schedule's delete leaves a schedule whose
        ticks start nothing (``tick_spec``), and a retry of the same delete finds it and
        finishes; one left by a delete that went the other way (the schedule gone, its spec
        kept) is deleted alone. A ``ResourceNotFoundException`` to ``DeleteSchedule`` (another
        delete's, or the SDK's retry of this call after its answer was lost) is the schedule gone."""
        full = schedule_name(name, owner)
        missing = NotFoundError(f"schedule {name!r} not found")
        try:
            stored = self.client.get_schedule(Name=full, GroupName=self.group)
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            stored = None
        if stored is not None and _stored_owner(stored) != owner:  # a digest collision never hands over a schedule
            raise missing
        kept = specs.get_schedule_spec(full)
        mine = kept is not None and kept.owner == owner
        if stored is None and not mine:
            raise missing
        if mine:
            specs.delete_schedule_spec(full)
        if stored is None:
            return
        try:
            self.client.delete_schedule(Name=full, GroupName=self.group)
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise


def _code(exc: Exception) -> str | None:
    return getattr(exc, "response", {}).get("Error", {}).get("Code")


def _stored_owner(schedule: dict[str, Any]) -> str | None:
    """The owner in a ``GetSchedule`` answer's target input (None if unreadable)."""
    try:
        stored = json.loads(schedule["Target"]["Input"])
        stored.pop("scheduled_time", None)  # the keyword Scheduler replaces at each tick
        return ScheduleInput.model_validate(stored).owner
    except (KeyError, ValueError, AttributeError):
        return None


class ScheduleConflict(ConflictError):
    """Scheduler refused the schedule as conflicting: one of that name exists (or is changing)."""


def refused(exc: Exception, name: str, group: str) -> None:
    """Turn Scheduler's refusals of a schedule into errors naming ``schedule``; return for others.

    ``ConflictException``: ``ScheduleConflict``. ``ValidationException`` (what
    ``check_schedule_expression`` did not foresee): ``SpecError("schedule: ...")``.
    """
    error = getattr(exc, "response", {}).get("Error", {})
    if error.get("Code") == "ConflictException":
        raise ScheduleConflict(f"schedule {name!r} already exists in group {group!r}") from None
    if error.get("Code") == "ValidationException":
        reason = str(error.get("Message") or "invalid schedule")[:300]
        raise SpecError(f"schedule: EventBridge Scheduler refused it: {reason}") from None


class SchedulingUnavailable(HyperstepError):
    """This deployment (or a local run) has no scheduler configured."""


LOOKBACK_JOBS = 10 * PAGE
"""How many of the owner's newest jobs a tick reads for the schedule's earlier runs (10
pages of ``PAGE``; on DynamoDB a page takes more than one Query where its items pass a
response's 1 MB): without it, a schedule with no completed run read every job of its owner
on every tick."""


def previous_runs(store: TrialStore, spec: JobSpec, owner: str | None = None) -> Iterator[Job]:
    """Jobs of ``owner`` started from the same recurring spec (name and schedule), newest
    first, among the owner's newest ``LOOKBACK_JOBS`` jobs.

    Read lazily a page of the owner's jobs at a time (``job_pages.every_job``: a Query on the
    owner's index, never a Scan), so a caller that stops early reads no further pages. A run
    with more than ``LOOKBACK_JOBS`` of the owner's jobs made after it is not found: a tick
    then starts without learning from it (and does not wait for it, were it still going)."""
    newest = itertools.islice(every_job(store, owner), LOOKBACK_JOBS)
    return (job for job in newest if is_run(job, spec, owner))


def is_run(job: Job, spec: JobSpec, owner: str | None) -> bool:
    """Whether ``job`` is one of ``owner``'s runs of the recurring spec (name and schedule)."""
    return job.owner == owner and job.spec.name == spec.name and job.spec.schedule == spec.schedule


def stored_run(store: TrialStore, job_id: str, spec: JobSpec, owner: str | None) -> bool:
    """Whether ``job_id`` is one of ``owner``'s runs of the spec still in the store."""
    try:
        return is_run(store.get_job(job_id), spec, owner)
    except NotFoundError:
        return False


def learnable_parents(store: TrialStore, spec: JobSpec, owner: str | None) -> tuple[JobSpec, list[str]]:
    """``spec`` with only the ``warm_start.jobs`` a tick may still learn from (jobs that exist
    and are ``owner``'s), and the ids left out.

    The API checked them when the schedule was made, but the schedule outlives them: the
    table's TTL (``RetentionDays``) removes a parent, after which every tick failed; and a
    schedule made before specs moved to the store carries its spec in its input, which
    anyone allowed ``scheduler:UpdateSchedule`` may edit. Such a parent is left out and
    the job starts (it still learns from the schedule's own earlier runs). So is a parent a
    submit would refuse (``warm_start.check_parent``): of another objective (the schedule's
    spec changed it), or whose trials, ended since the schedule was made, none fit this space."""
    if spec.warm_start is None:
        return spec, []
    kept, dropped = [], []
    for parent in spec.warm_start.jobs:
        try:
            job = store.get_job(parent)
            mine = job.owner == owner
            if mine:  # refused as a submit refuses it: another objective, trials none of which fit
                check_parent(spec, job, partial(store.list_trials, parent))
        except (NotFoundError, SpecError):
            mine = False
        (kept if mine else dropped).append(parent)
    warm_start = spec.warm_start.model_copy(update={"jobs": kept}) if kept else None
    return spec.model_copy(update={"warm_start": warm_start}), dropped


MAX_PARENTS = 5
"""How many earlier runs a run learns from (SageMaker AMT allows 5 parent jobs)."""


def start_scheduled_job(
    service: TuningService, spec: JobSpec, owner: str | None = None, job_id: str | None = None
) -> tuple[Job | None, bool]:
    """Start a fresh job from a recurring spec (one schedule tick), or None to skip it; and
    whether this call started its execution (not: an earlier delivery of the tick had).

    The new job is warm-started from the newest completed run and that run's own parents
    (up to ``MAX_PARENTS``), so each run begins where the last one ended; of those parents
    only the schedule's earlier runs still in the table (its TTL, ``RetentionDays``, removes
    the oldest first: every tick then failed, "job not found"; the spec's own
    ``warm_start.jobs`` come back from the spec, checked by ``learnable_parents``). A tick that
    comes while the previous run is still going is skipped, so runs never pile up. The new
    job belongs to ``owner`` (the schedule's), and only that owner's runs count as earlier.

    ``job_id``, the tick's (``tick_job_id``): a job of that id is the one an earlier delivery
    of the same tick created, carried on rather than another made (``carry_on``).
    """
    if job_id is not None:
        try:
            return carry_on(service, service.store.get_job(job_id), owner)
        except NotFoundError:
            pass
    runs = previous_runs(service.store, spec, owner)
    newest = next(runs, None)
    if newest is not None and not newest.status.finished:
        return None, False
    finished = itertools.chain([newest], runs) if newest is not None else iter(())
    previous = next((job for job in finished if job.status is JobStatus.COMPLETED), None)
    parents: tuple[str, ...] = ()
    if previous is not None:
        earlier = (p for p in previous.parents if stored_run(service.store, p, spec, owner))
        parents = (previous.id, *earlier)[:MAX_PARENTS]
    try:
        seed = None if job_id is None else TICK_SEED
        return service.submit(spec, job_id=job_id, parents=parents, owner=owner, seed=seed), True
    except JobExistsError:  # a delivery of the same tick at the same time created it first
        return carry_on(service, service.store.get_job(str(job_id)), owner)


def tick_job_id(spec_name: str, tick: ScheduleInput, request_id: str | None) -> str | None:
    """The id of the job a tick starts, the same in every delivery of that tick: made from the
    schedule and the tick's scheduled time or, in a schedule's input made before that was
    there, Lambda's request id (the same in its retries of a failed invocation: the
    repeats a tick meets most). None when neither is known (a fresh id then)."""
    which = tick.scheduled_time or request_id
    if which is None:
        return None
    digest = hashlib.sha256(f"{tick.schedule_name}\n{which}".encode()).hexdigest()
    return f"{spec_name[:24]}-tick-{digest[:16]}"


def carry_on(service: TuningService, job: Job, owner: str | None, seed: str = TICK_SEED) -> tuple[Job, bool]:
    """The job an earlier delivery of the same tick created, carried on, and whether its
    execution was started now: if it never was (under the same name, from ``seed``: one
    that did start, unrecorded, is the one returned), the job reopened first if that start
    failed it. A job whose execution started, that was stopped meanwhile, or that failed for
    another reason (an execution started, unrecorded, ran it to its end) is left as it is.
    ``ConflictError`` for a job of another owner (no tick of this schedule made it).
    A keyed submit's retry carries its job on alike (``keyed_submit``, its seed the key)."""
    if job.owner != owner:
        raise ConflictError(f"job {job.id!r} is not this schedule's")
    if job.execution_id is not None or job.status not in (JobStatus.RUNNING, JobStatus.FAILED):
        return job, False
    if job.status is JobStatus.FAILED and not (job.error or "").startswith(START_FAILED):
        return job, False
    if job.status is JobStatus.FAILED:  # its start failed (ExecutionLimitExceeded, a throttle)
        try:
            service.store.set_job_status(job.id, JobStatus.RUNNING, expected=(JobStatus.FAILED,), reopen=True)
        except ConflictError:  # the execution that start began took the job meanwhile (service._claimed)
            return service.store.get_job(job.id), False
    return service.start_execution(job.id, seed), True
