"""What crosses a boundary: how trials end and report, and the tuning loop's requests and replies.

- ``TrialResult`` (how a trial ended) and ``TrialMetric`` (what its script reported on the
  way) are what backends, events and ``describe`` hand to the collect use case; together
  they are a ``TrialEvent``.
- ``SuggestRequest`` / ``Plan``, ``LaunchRequest``, ``WaitRequest`` / ``Progress`` and
  ``FinishRequest`` are the inputs and outputs of the state machine's Tasks: exactly what
  crosses a Lambda boundary (or the local executor's), small and JSON-shaped. Loop
  messages ignore unknown fields (the state machine may pass more than a Task reads);
  trial messages forbid them (they are our own).

Only pydantic here: every layer (backends, events, the service, handlers) imports this
module, and it imports nothing of hyperstep.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hyperstep.report_signing import signed_message

# how trials end and report


MAX_STEP = 2**31 - 1
"""The largest step a report may carry: stored curves keep steps as int32 (``models._pack_curve``)."""

MAX_CURVE_STEPS = 10_000
"""A curve keeps at most this many steps: the first to arrive (a later new step is dropped; a
step it holds still takes a newer value). The stores keep a curve apart from its trial's
record (SQLite rows, DynamoDB items of ``CURVE_CHUNK_STEPS`` steps), so a step report writes
a few kilobytes, not the whole curve; the local and simulated backends send no step past them."""

MAX_ID_LENGTH = 200
"""The longest job or trial id an event may carry: 800 bytes at most in UTF-8, so the
store's keys (``JOB#<job id>``, ``TRIAL#<trial id>``, ``CURVE#<trial id>#000000``) stay
under DynamoDB's 2,048-byte partition key and 1,024-byte sort key, which refuse a longer
one with a ``ValidationException``. The product makes none longer than 53 characters (a
``Study``'s ``<name>-<12 hex>``, its name at most 40); trial ids are ``t0001`` to ``t10000``."""
EventId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
"""A job or trial id as an event carries it: an overlong one makes the event malformed."""
MAX_TRIAL_METRICS = 100
"""The most metrics a report names, and a trial keeps besides its objective
(``Trial.with_reports``): a trial's reports live in its DynamoDB item, which holds 400 KB."""
MAX_METRIC_NAME = 255
"""The longest metric name a report may carry, in characters (SageMaker's ``MetricName``'s limit)."""
MAX_ERROR_CHARS = 1024
"""The longest error a trial or job keeps, in characters: SageMaker's ``FailureReason`` is at
most 1,024 (DescribeTrainingJob, SageMaker API reference), so it is kept whole; Batch's
``statusReason`` and a container's ``reason`` have no documented bound (DescribeJobs), and
Step Functions' ``cause`` holds up to 32,768 (``ExecutionFailedEventDetails``). Longer text
is cut (``clipped``): an item holds 400 KB, an event's entry 256 KB."""


def clipped(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` cut to ``limit`` characters at most, its end saying how long it was; the same
    again for a text already clipped (a stored error read back and written again)."""
    if len(text) <= limit:
        return text
    tail = f"... ({len(text):,} characters)"
    return text[: max(limit - len(tail), 0)] + tail


SHOWN_CHARS = 60
"""The most of a caller's name or value a refusal shows (a key, a query value, an argument
of the wrong type): enough to recognise it, where the whole came back at any size."""


def shown(value: Any) -> str:
    """``repr(value)`` ``clipped`` to ``SHOWN_CHARS``, for a refusal's message."""
    return clipped(repr(value), SHOWN_CHARS)


class Usage(BaseModel):
    """What an ended trial used, as its platform bills it; ``hyperstep.pricing`` prices it.

    Each field is what the platform itself says, when it says it (a field left None is
    taken from the spec's trial block): SageMaker's ``BillableTimeInSeconds`` (managed spot
    savings already taken off) and ``ResourceConfig``; a Batch job's attempts' ``startedAt``
    to ``stoppedAt``, its ``resourceRequirements``, ``platformCapabilities`` and CPU architecture; a local
    process's wall time.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seconds: float = Field(ge=0)
    """Billable seconds of one instance (SageMaker bills each of ``instance_count`` as much)."""
    instance_type: str | None = None
    instance_count: int = Field(default=1, ge=1)
    vcpus: float | None = Field(default=None, gt=0)
    memory_mib: float | None = Field(default=None, gt=0)
    platform: Literal["sagemaker", "fargate", "ec2", "local"] | None = None
    cpu_architecture: Literal["X86_64", "ARM64"] | None = None
    """A Batch job's ``container.runtimePlatform.cpuArchitecture`` (Fargate prices ARM64 lower);
    None when the job does not say, which AWS documents as X86_64."""
    region: str | None = None


class LogCursor(BaseModel):
    """How far a running trial's log has been read for its step values (kept on the trial,
    so each reading starts where the last one stopped): the log stream once found, the
    ``nextForwardToken`` of the last page read, and how many lines matched each metric's
    regex so far (a metric's step is its count of matching lines, as locally)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stream: str | None = None
    token: str | None = None
    counts: dict[str, int] = Field(default_factory=dict)


class TrialResult(BaseModel):
    """How a trial ended, as a backend or an event reports it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: EventId
    trial_id: EventId
    state: Literal["completed", "failed", "stopped"]
    metrics: dict[str, float] = Field(default_factory=dict)
    """Final metrics by name; the job's objective metric among them when it completed."""
    error: str | None = None
    """Why it failed or stopped: a platform's reason is clipped (``MAX_ERROR_CHARS``)."""
    usage: Usage | None = None
    """What the trial used, when the end event or the backend's record says (else collect
    asks the backend, ``TrialBackend.usage``)."""

    @field_validator("error")
    @classmethod
    def _clipped(cls, error: str | None) -> str | None:
        return None if error is None else clipped(error)


class TrialMetric(BaseModel):
    """Metrics a training script reported (``hyperstep.report``): intermediate ones at a
    ``step``, or the ``final`` values the trial ends with.

    ``final`` defaults to "no step given", the rule ``hyperstep.report`` follows; ``at``
    (the script's clock, epoch seconds) orders reports of the same step. EventBridge may
    deliver these before or after the job's own end event, twice, or out of order: collect
    merges them order-free (``hyperstep.models.merge_reports``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: EventId
    trial_id: EventId
    metrics: dict[str, float] = Field(min_length=1, max_length=MAX_TRIAL_METRICS)
    step: int | None = Field(default=None, ge=0, le=MAX_STEP)
    final: bool = False
    at: float | None = Field(default=None, ge=0, allow_inf_nan=False)  # 1e999 reads as inf: signs nothing
    signature: str | None = Field(default=None, max_length=128)
    """The HMAC of the report under its trial's key (``hyperstep.report_signing``): a trial
    that runs on AWS takes only signed reports."""

    def signed_message(self) -> bytes:
        """What ``signature`` signs."""
        return signed_message(self.job_id, self.trial_id, self.metrics, self.step, self.final, self.at)

    @model_validator(mode="before")
    @classmethod
    def _final_without_step(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("final") is None:
            return {**data, "final": data.get("step") is None}
        return data

    @field_validator("metrics")
    @classmethod
    def _finite(cls, metrics: dict[str, float]) -> dict[str, float]:
        bad = [name for name, value in metrics.items() if not math.isfinite(value)]
        if bad:
            raise ValueError(f"metric {bad[0]!r} is not a finite number")
        long = next((name for name in metrics if len(name) > MAX_METRIC_NAME), None)
        if long is not None:
            raise ValueError(f"metric name {long[:40]!r}... has {len(long)} characters: at most {MAX_METRIC_NAME}")
        return metrics


TrialEvent = TrialResult | TrialMetric


# the tuning loop


ROUND_SECONDS = 600
"""How long a round of the state machine waits for a wake (a result, the reaper) before it
plans again anyway (Suggest Trials' timeout: ``round_seconds`` in its input's ``plan``)."""
MIN_ROUND_SECONDS = 120
"""The shortest round: twice the Suggest function's timeout (template.yaml), so a round
never times out while its Suggest still runs."""


def round_seconds(deadline: float | None, now: float) -> int:
    """How long the next round may wait: until the job's deadline (its time budget), within
    ``MIN_ROUND_SECONDS`` and ``ROUND_SECONDS``; ``ROUND_SECONDS`` without a deadline or past
    it (its trials are being stopped: their ends wake the round)."""
    if deadline is None or deadline <= now:
        return ROUND_SECONDS
    return max(MIN_ROUND_SECONDS, min(ROUND_SECONDS, math.ceil(deadline - now)))


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SuggestRequest(_Message):
    """What Suggest Trials gets: the job, and how long this execution's history has grown."""

    job_id: str
    execution: str | None = None
    """The execution's name (``$$.Execution.Name``): names the one it may hand over to."""
    history_events: int = 0
    """Estimated history events of this execution so far (carried round to round in ``$.plan``)."""
    task_token: str | None = None
    """The Suggest Trials task's token (``$$.Task.Token``): the round ends when it is sent
    back, by Suggest itself (the job is done or handed over) or by the result that wakes it."""


class Plan(_Message):
    """What Suggest decided: trials to launch now, that the job is done, or that a new
    execution has taken over the job (``handoff``; this one then ends)."""

    job_id: str
    done: bool
    trial_ids: list[str] = Field(default_factory=list)
    """Trials to launch: every pending trial of the job (those an earlier run of Suggest
    reserved and nobody launched, as when its response was lost) and the new ones."""
    results_seen: int
    """How many trials had finished when this plan was made (Wait compares against it)."""
    reason: str | None = None
    handoff: bool = False
    history_events: int = 0
    stopping: bool = False
    """The plan was made on a job being stopped: its running trials were told to stop, and
    the round waits for their ends (``WaitRequest.stopping``)."""
    round_seconds: int = ROUND_SECONDS
    """How long the next round waits before it plans again unwoken (``round_seconds``)."""
    started: int = 0
    """How many of ``trial_ids`` this round's launches took out of pending: started on their
    platform, or failed at launch (``TrialsStarted``). Not a launch deferred for capacity
    (planned again next round) nor a trial recorded stopped unlaunched."""


class LaunchRequest(_Message):
    job_id: str
    trial_id: str


class WaitRequest(_Message):
    """A round's task token to park until a result wakes it (``TuningService.wait``)."""

    job_id: str
    task_token: str
    results_seen: int
    history_events: int = 0
    """The execution's history count after this round, handed back with the token."""
    stopping: bool = False
    """The round saw the job stopping (``Plan.stopping``): a job found stopping wakes it only
    with a result, one found in any other status than the round saw wakes it at once."""


class Progress(_Message):
    """What a woken execution gets in ``$.plan``: whether the job is done, and this
    execution's history count (kept with the parked token) for the next round."""

    job_id: str
    done: bool
    results: int
    active: int
    handoff: bool = False
    history_events: int = 0
    round_seconds: int = ROUND_SECONDS
    """How long the next round waits before it plans again unwoken: until the job's
    deadline, within bounds (``round_seconds``); the state machine times the round out by it."""


class FinishRequest(_Message):
    job_id: str
    error: dict[str, Any] | None = None
    """Step Functions' caught error (``Error``, ``Cause``) when a state failed for good."""
