"""Recurring tuning: a spec with ``schedule`` becomes an EventBridge Scheduler schedule.

``POST /jobs`` with ``schedule: "rate(1 day)"`` (or ``cron(...)``) does not start a job.
It creates one schedule in the deployment's schedule group (``HYPERSTEP_SCHEDULE_GROUP``:
the stack's own group; ``hyperstep`` outside a stack) named after the spec, whose target
is the *start* function with the spec as input (``ScheduleInput``). EventBridge Scheduler
invokes that function at every tick under a role that may invoke only it; the function
starts a fresh job from the spec each time (``start_scheduled_job``), finding the
schedule's previous completed run so that a warm start can seed the new job from it.
The API builds the adapter with ``hyperstep.wiring.schedules_factory``; the start
function's logic is ``hyperstep.handlers.handle_start``.

IAM for the caller of ``RecurringSchedules.create``: ``scheduler:CreateSchedule`` on
``schedule/<group>/*`` and ``iam:PassRole`` on the scheduler role (passed to
``scheduler.amazonaws.com``).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hyperstep.errors import ConflictError, HyperstepError, SpecError
from hyperstep.models import Job, JobStatus
from hyperstep.service import TuningService
from hyperstep.spec import JobSpec
from hyperstep.stores.base import TrialStore

DEFAULT_GROUP = "hyperstep"
RETRY_ATTEMPTS = 3
"""Scheduler retries a failed invocation of the start function this often."""
MAX_EVENT_AGE_SECONDS = 3600
"""A tick that could not start within an hour is dropped: the next tick comes anyway."""


class ScheduleInput(BaseModel):
    """What the schedule hands the start function at each tick."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule_name: str = Field(min_length=1, max_length=64)
    spec: dict[str, Any]
    """The spec as JSON data; the start function validates it again (specs evolve)."""


class ScheduleCreated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schedule_name: str
    schedule_arn: str
    expression: str


def schedule_name(spec: JobSpec) -> str:
    """The schedule's name: the spec's name (Scheduler allows ``[0-9a-zA-Z-_.]{1,64}``)."""
    return spec.name


def schedule_input(spec: JobSpec) -> ScheduleInput:
    return ScheduleInput(schedule_name=schedule_name(spec), spec=spec.model_dump(mode="json"))


class RecurringSchedules:
    """The EventBridge Scheduler adapter: one schedule per recurring spec."""

    def __init__(self, client: Any, group: str, start_function_arn: str, role_arn: str) -> None:
        self.client = client
        self.group = group
        self.start_function_arn = start_function_arn
        self.role_arn = role_arn

    def create(self, spec: JobSpec) -> ScheduleCreated:
        """Create the spec's schedule; ``ScheduleConflict`` if one of that name exists,
        ``SpecError`` naming ``schedule`` if Scheduler finds it invalid."""
        if spec.schedule is None:
            raise ValueError("the spec has no schedule")
        name = schedule_name(spec)
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
                    "Input": schedule_input(spec).model_dump_json(),
                    "RetryPolicy": {
                        "MaximumRetryAttempts": RETRY_ATTEMPTS,
                        "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
                    },
                },
            )
        except Exception as exc:
            refused(exc, name, self.group)
            raise
        return ScheduleCreated(schedule_name=name, schedule_arn=response["ScheduleArn"], expression=spec.schedule)


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


def previous_runs(store: TrialStore, spec: JobSpec, scan: int = 1000) -> list[Job]:
    """Jobs started from the same recurring spec (name and schedule), newest first."""
    return [j for j in store.list_jobs(limit=scan) if j.spec.name == spec.name and j.spec.schedule == spec.schedule]


MAX_PARENTS = 5
"""How many earlier runs a run learns from (SageMaker AMT allows 5 parent jobs)."""


def start_scheduled_job(service: TuningService, spec: JobSpec) -> Job | None:
    """Start a fresh job from a recurring spec (one schedule tick), or None to skip it.

    The new job is warm-started from the newest completed run and that run's own parents
    (up to ``MAX_PARENTS``), so each run begins where the last one ended. A tick that
    comes while the previous run is still going is skipped, so runs never pile up.
    """
    runs = previous_runs(service.store, spec)
    if runs and not runs[0].status.finished:
        return None
    previous = next((job for job in runs if job.status is JobStatus.COMPLETED), None)
    parents = (previous.id, *previous.parents)[:MAX_PARENTS] if previous else ()
    return service.submit(spec, parents=parents)
