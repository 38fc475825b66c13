"""The spec's ``trial`` block that runs each trial as an AWS Batch job.

Every limit here is the one SubmitJob enforces (botocore's service model), so a spec that
validates is a request AWS accepts, and a mistake shows at ``hyperstep submit`` rather
than minutes later in a failed launch.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from hyperstep.backends.naming import (
    PUBLISHED_TAGS,
    RESERVED_ENV_PREFIX,
    TagKey,
    TagValue,
    check_user_tags,
    script_arguments,
)
from hyperstep.pricing import Rate, ec2_listed, ec2_rate, fargate_rate, own_rate, unlisted_type
from hyperstep.secrets import EnvValue, SecretRef
from hyperstep.space import largest_config
from hyperstep.spec_base import MAX_JSON_INT, SECRET, TrialBlockBase, at_most, names_refused, text

if TYPE_CHECKING:
    from hyperstep.guardrails import Guardrails
    from hyperstep.messages import Usage

MAX_SUBMIT_BYTES = 30 * 1024
"""The largest SubmitJob request: "Maximum job payload size (for SubmitJob API operations)",
30 KiB (AWS Batch service quotas, not adjustable)."""
OWN_BYTES = 2048
"""What hyperstep adds to a SubmitJob request beside the block's fields and the configuration:
the job's name, the job and trial ids (as tags and variables), the event bus and the report key."""


BATCH_PREFIX = "AWS_BATCH"
"""Variables Batch sets in every job's container (``AWS_BATCH_JOB_ID``, ...): a job's own are refused."""


class BatchTrial(TrialBlockBase):
    """Run each trial as one AWS Batch job on a job queue and job definition you own.

    The command gets the hyperparameters appended as ``--name value``; the script reports
    its metrics with ``hyperstep.reporting.report`` (Batch has no log-scraping of its own), so
    ``metric_definitions`` name those metrics; their regexes serve local runs and read the
    final values from the job's CloudWatch log when the final report never arrived.
    ``timeout_seconds`` becomes the job's ``attemptDurationSeconds`` (at least 60).
    """

    backend: Literal["batch"]
    job_queue: str = Field(min_length=1)
    """The queue's name or ARN."""
    job_definition: str = Field(min_length=1)
    """``name``, ``name:revision`` or the ARN of a container job definition."""
    command: list[text("command arguments", Annotated[str, StringConstraints(min_length=1)])] = Field(min_length=1)
    environment: dict[
        Annotated[str, StringConstraints(min_length=1), names_refused(f"^({BATCH_PREFIX}|{RESERVED_ENV_PREFIX})")],
        EnvValue,
    ] = Field(default_factory=dict, repr=False, json_schema_extra=SECRET)
    """A value may be a reference (``{resolve: "ssm:/path"}``, ``hyperstep.secrets``), resolved
    at launch. Secret: left out of the repr, redacted wherever a spec is shown (``hyperstep.redaction``)."""
    vcpus: float | None = Field(default=None, gt=0)
    memory_mib: Annotated[int | None, at_most(MAX_JSON_INT)] = Field(default=None, ge=4)
    """MEMORY in MiB; Batch requires at least 4 (Fargate accepts only listed sizes)."""
    gpus: Annotated[int | None, at_most(MAX_JSON_INT)] = Field(default=None, ge=1)
    retry_attempts: int = Field(default=1, ge=1, le=10)
    tags: dict[TagKey, TagValue] = Field(default_factory=dict, json_schema_extra=PUBLISHED_TAGS)
    propagate_tags: bool = False
    share_identifier: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,255}\*?$")
    """SubmitJob ``shareIdentifier``: required by a job queue with a fair-share scheduling
    policy (every job submitted there without one is refused), refused by any other queue."""
    scheduling_priority: int | None = Field(default=None, ge=0, le=9999)
    """SubmitJob ``schedulingPriorityOverride`` (fair-share queues only): higher runs first
    within the share identifier."""
    instance_type: str | None = Field(default=None, pattern=r"^[a-z0-9-]+\.[a-z0-9-]+$")
    """For pricing only: the EC2 instance type the compute environment runs a trial on
    (a trial is priced as the whole instance). Without it, a trial on EC2 is priced by its
    vCPUs (``hyperstep.pricing``); a trial on Fargate by its vCPUs and memory."""

    def rate(self, usage: Usage | None, region: str | None) -> Rate | None:
        """From the platform the job ran on (``usage.platform``) and the vCPUs and memory it
        had, else this block's: EC2 by ``instance_type`` or vCPUs; Fargate (and, before a
        trial has ended, a block that names no instance type) by vCPUs and memory, at the
        Linux/ARM rates when the job ran on ARM64 (before it has, at x86's, the higher)."""
        if self.cost_per_hour is not None:
            return own_rate(self.cost_per_hour, "job")
        vcpus = usage.vcpus if usage is not None and usage.vcpus else self.vcpus
        memory = usage.memory_mib if usage is not None and usage.memory_mib else self.memory_mib
        platform = usage.platform if usage is not None else None
        if platform == "ec2" or (platform is None and self.instance_type is not None):
            return ec2_rate(self.instance_type, vcpus, region)
        if vcpus is None or memory is None:
            return None
        arm64 = usage is not None and usage.cpu_architecture == "ARM64"
        return fargate_rate(vcpus, memory, region, arm64=arm64)

    def running_limit_seconds(self) -> int:
        """Each of the ``retry_attempts`` attempts may run ``attemptDurationSeconds``."""
        return self.timeout_seconds * self.retry_attempts

    def check_priced(self) -> None:
        """Every Batch trial is priced from what its job reports (platform, vCPUs, memory),
        but a named EC2 ``instance_type`` only at its rate: one the table lacks needs
        ``cost_per_hour`` (its vCPUs at m5's rate could be many times below its price)."""
        if self.instance_type is not None and self.cost_per_hour is None and not ec2_listed(self.instance_type):
            raise unlisted_type(self.instance_type, "")

    def check_hyperparameters(self, parameters: list[Any]) -> None:
        """Refuse a space whose largest configuration (``space.largest_config``) makes a
        SubmitJob request past ``MAX_SUBMIT_BYTES``: each trial's configuration is in the
        request twice, as ``--name value`` arguments and as ``HYPERSTEP_HYPERPARAMETERS``'s
        JSON, and a request past it fails every launch. Counted as botocore sends it (JSON,
        non-ASCII escaped); a secret reference counts as written, not as its value."""
        config = largest_config(parameters)
        size = (
            len(json.dumps(self.model_dump(mode="json")))
            + len(json.dumps(script_arguments(config)))
            + len(json.dumps(json.dumps(config, sort_keys=True)))
            + OWN_BYTES
        )
        if size > MAX_SUBMIT_BYTES:
            raise ValueError(
                f"a trial's Batch SubmitJob request can take {size:,} bytes with its largest choices;"
                f" Batch takes at most {MAX_SUBMIT_BYTES:,} (30 KiB, its job payload quota)"
            )

    def check_guardrails(self, guardrails: Guardrails) -> None:
        """The queue and definition (the ones the deployment's IAM policy allows SubmitJob on:
        another is refused here, not by AccessDenied at launch) and the resources one job asks for."""
        g = guardrails
        g.enabled("batch", g.batch_job_queues, g.batch_job_definitions)
        g.resource("trial.job_queue", self.job_queue, g.batch_job_queues)
        g.resource("trial.job_definition", self.job_definition, g.batch_job_definitions, revisions=True)
        g.at_most("trial.vcpus", self.vcpus, g.max_vcpus)
        g.at_most("trial.memory_mib", self.memory_mib, g.max_memory_mib)
        g.at_most("trial.gpus", self.gpus, g.max_gpus)
        g.secret_references("trial.environment", self.environment)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        return check_user_tags(tags)

    @field_validator("environment")
    @classmethod
    def _allowed_variables(cls, env: dict[str, str | SecretRef]) -> dict[str, str | SecretRef]:
        for key in env:
            if key.startswith(BATCH_PREFIX):
                raise ValueError(f"{key}: variables starting with AWS_BATCH are reserved by Batch")
            if key.startswith(RESERVED_ENV_PREFIX):
                raise ValueError(f"{key}: HYPERSTEP_* variables are set by hyperstep")
        return env

    @model_validator(mode="after")
    def _timeout(self) -> BatchTrial:
        if self.timeout_seconds < 60:
            raise ValueError("timeout_seconds must be at least 60 for Batch (attemptDurationSeconds)")
        return self

    @model_validator(mode="after")
    def _fair_share(self) -> BatchTrial:
        if self.scheduling_priority is not None and self.share_identifier is None:
            raise ValueError("scheduling_priority applies to fair-share job queues only: set share_identifier too")
        return self
