"""Batch's "Job State Change" events, and a Batch job's status as a trial result.

The detail resembles the ``JobDetail`` of ``DescribeJobs`` (``jobName``, ``jobId``,
``status``, ``statusReason``, ``container``, ``tags``). ``batch_result`` maps a status to
a trial's end for the event and for the adapter's ``describe`` alike: a job hyperstep
terminated fails with ``BATCH_STOP_REASON``, which is how a stopped trial is told from a
failed one. AWS emits these events to the account's default bus; ``RULE_PATTERN`` lets
only hyperstep's ended jobs through.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator

from hyperstep.backends.aws_detail import AwsDetail, tag_map
from hyperstep.backends.naming import NAME_PREFIX, trial_ids
from hyperstep.messages import MAX_ERROR_CHARS, TrialResult, Usage, clipped
from hyperstep.pricing.prices import FARGATE_MINIMUM_SECONDS

SOURCE, DETAIL_TYPE = "aws.batch", "Batch Job State Change"
RULE_PATTERN: dict[str, Any] = {
    "source": [SOURCE],
    "detail-type": [DETAIL_TYPE],
    "detail": {"jobName": [{"prefix": NAME_PREFIX}], "status": ["SUCCEEDED", "FAILED"]},
}
BATCH_STOP_REASON = "Stopped by hyperstep"
"""The ``TerminateJob`` reason; Batch returns it as ``statusReason``, which tells a trial
hyperstep stopped (budget given back) from one that failed."""
REASON_CHARS = (MAX_ERROR_CHARS - 40) // 2
"""Each of a failed job's two reasons (``statusReason``, the container's ``reason``: neither
has a documented bound) is cut to this, so the exit code after them stays in the error."""


class KeyValue(AwsDetail):
    name: str
    value: str = ""


class BatchContainer(AwsDetail):
    environment: list[KeyValue] = Field(default_factory=list)
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str | None = None


class BatchJobDetail(AwsDetail):
    job_name: str = Field(alias="jobName")
    job_id: str = Field(alias="jobId")
    status: str
    status_reason: str | None = Field(default=None, alias="statusReason")
    container: BatchContainer | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, tags: Any) -> Any:
        return tag_map(tags)


def batch_result(
    job_id: str, trial_id: str, status: str, status_reason: str | None, container: BatchContainer | None
) -> TrialResult | None:
    """A Batch job's status as a trial result; None while it has not ended.

    A succeeded job carries no metrics: its script reported them as events, which the
    collect use case has already merged into the trial.
    """
    if status == "SUCCEEDED":
        return TrialResult(job_id=job_id, trial_id=trial_id, state="completed")
    if status != "FAILED":
        return None  # SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING
    if status_reason == BATCH_STOP_REASON:
        return TrialResult(job_id=job_id, trial_id=trial_id, state="stopped", error=status_reason)
    parts = [clipped(status_reason or "Batch job failed", REASON_CHARS)]
    if container is not None and container.reason:
        parts.append(clipped(container.reason, REASON_CHARS))
    if container is not None and container.exit_code is not None:
        parts.append(f"exit code {container.exit_code}")
    return TrialResult(job_id=job_id, trial_id=trial_id, state="failed", error="; ".join(parts))


def batch_usage(found: Mapping[str, Any]) -> Usage:
    """What an ended Batch job (an event's detail or a ``DescribeJobs`` entry) ran: each
    attempt's ``startedAt`` to ``stoppedAt`` (milliseconds; the job's own when it lists no
    attempts, 0 s when it never started), its ``resourceRequirements`` (VCPU, MEMORY in MiB;
    the older ``vcpus`` / ``memory``), where (``platformCapabilities``: FARGATE, else EC2) and
    on which CPUs (``container.runtimePlatform.cpuArchitecture``: X86_64 or ARM64).

    On Fargate each attempt is a task of its own, billed per second rounded up with a
    one-minute minimum: three 10-second attempts bill three minutes; a job that never
    started (cancelled while ``RUNNABLE``) ran no task and bills nothing."""
    attempts = [a for a in found.get("attempts") or [] if a.get("startedAt") and a.get("stoppedAt")]
    spans = [(a["startedAt"], a["stoppedAt"]) for a in attempts]
    if not spans and found.get("startedAt") and found.get("stoppedAt"):
        spans = [(found["startedAt"], found["stoppedAt"])]
    container = found.get("container") or {}
    needs = {r.get("type"): r.get("value") for r in container.get("resourceRequirements") or []}
    vcpus, memory = needs.get("VCPU", container.get("vcpus")), needs.get("MEMORY", container.get("memory"))
    fargate = "FARGATE" in (found.get("platformCapabilities") or [])
    architecture = (container.get("runtimePlatform") or {}).get("cpuArchitecture")
    seconds = [max(stop - start, 0) / 1000.0 for start, stop in spans]
    if fargate:
        seconds = [max(math.ceil(s), FARGATE_MINIMUM_SECONDS) for s in seconds]
    return Usage(
        seconds=sum(seconds),
        vcpus=float(vcpus) if vcpus else None,
        memory_mib=float(memory) if memory else None,
        platform="fargate" if fargate else "ec2",
        cpu_architecture=architecture if architecture in ("X86_64", "ARM64") else None,
    )


def parse_detail(detail: dict[str, Any]) -> TrialResult | None:
    """The trial result of a state-change event's detail (with what the job used); None for
    a job hyperstep did not start."""
    d = BatchJobDetail.model_validate(detail)
    env = {kv.name: kv.value for kv in d.container.environment} if d.container else {}
    ids = trial_ids(d.tags, env, d.job_name)
    if ids is None:
        return None
    result = batch_result(*ids, d.status, d.status_reason, d.container)
    return None if result is None else result.model_copy(update={"usage": batch_usage(detail)})
