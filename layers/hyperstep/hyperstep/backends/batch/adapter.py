"""Trials as AWS Batch jobs.

One trial attempt is one ``SubmitJob`` on the spec's queue and job definition, named
``hs-<job id>-<trial id>-<n>`` (see ``backends.naming``; at most ``BATCH_NAME_MAX``
characters), with the command overridden to the spec's command plus ``--name value``
hyperparameters and the environment carrying ``HYPERSTEP_JOB_ID``, ``HYPERSTEP_TRIAL_ID``,
``HYPERSTEP_HYPERPARAMETERS`` (JSON) and ``HYPERSTEP_EVENT_BUS``, which
``hyperstep.reporting.report`` reads to publish metrics.

Batch does not refuse a second job of the same name, so ``launch`` first looks for one
with ``ListJobs`` (``JOB_NAME`` filter) and returns its id: a retried launch never
starts a second copy. ``stop`` terminates with a fixed reason (``BATCH_STOP_REASON``)
that Batch returns as ``statusReason``; that is how the status mapping of
``batch.events``, shared by ``describe`` and the end event, tells a stopped trial from a
failed one.

Metrics: Batch keeps none. A job's metrics reach hyperstep as "Trial Metric Reported"
events, which EventBridge may deliver after the job's own SUCCEEDED (``late_reports``):
``describe`` returns state without metrics, and collect waits for the final report. When
none comes within the reaper's grace, ``recover_metrics`` reads the job's CloudWatch log
stream (``hyperstep.report`` prints every report there) with the spec's
``metric_definitions`` regexes, the last match being the final value, as SageMaker
reads a training job's log. The stream is the job's ``container.logStreamName`` (else its
last attempt's), in the ``awslogs-group`` of the container's ``logConfiguration``, by
default ``/aws/batch/job``; a job logging through another driver has no log to read.

IAM for the caller: ``batch:SubmitJob``, ``batch:TagResource`` (tags on submit),
``batch:ListJobs``, ``batch:DescribeJobs`` and ``batch:TerminateJob``; for
``recover_metrics`` (the reaper) also ``logs:GetLogEvents`` on the job log streams,
``arn:<partition>:logs:<region>:<account>:log-group:/aws/batch/job:log-stream:*`` (the
template's ``BatchLogGroupName`` parameter names another ``awslogs-group``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from botocore.exceptions import ClientError

from hyperstep.backends.base import JobView, TrialView
from hyperstep.backends.batch.block import BatchTrial
from hyperstep.backends.batch.events import BATCH_STOP_REASON, BatchContainer, batch_result, batch_usage
from hyperstep.backends.cloud import NO_SECRETS, CloudBackend
from hyperstep.backends.logs import final_metrics_in_log
from hyperstep.backends.naming import script_arguments, trial_environment, trial_job_name, trial_tags
from hyperstep.errors import LaunchError
from hyperstep.messages import TrialResult, Usage
from hyperstep.secrets import SecretResolver, resolved_environment, scrubbed, secret_variables

BATCH_NAME_MAX = 128
"""SubmitJob ``jobName``: up to 128 letters, digits, hyphens and underscores, alphanumeric first."""


def _block(job: JobView) -> BatchTrial:
    block = job.spec.trial
    if not isinstance(block, BatchTrial):
        raise LaunchError(f"job {job.id} does not run on Batch (trial backend: {getattr(block, 'backend', None)})")
    return block


BATCH_LOG_GROUP = "/aws/batch/job"
"""Where the ``awslogs`` driver sends a Batch job's output unless ``awslogs-group`` says otherwise."""


def log_location(detail: dict[str, Any]) -> tuple[str, str] | None:
    """``(log group, log stream)`` of a ``DescribeJobs`` job detail; None when the job has
    no stream yet (it never ran) or logs through a driver other than ``awslogs``."""
    container = detail.get("container") or {}
    attempts = [a.get("container") or {} for a in detail.get("attempts") or []]
    streams = [container.get("logStreamName"), *(a.get("logStreamName") for a in reversed(attempts))]
    stream = next((s for s in streams if s), None)
    config = container.get("logConfiguration") or {}
    if stream is None or config.get("logDriver", "awslogs") != "awslogs":
        return None
    return (config.get("options") or {}).get("awslogs-group", BATCH_LOG_GROUP), stream


def _resources(block: BatchTrial) -> list[dict[str, str]]:
    wanted = (("VCPU", block.vcpus), ("MEMORY", block.memory_mib), ("GPU", block.gpus))
    return [{"type": kind, "value": _number(value)} for kind, value in wanted if value is not None]


def _number(value: float) -> str:
    """``2`` for 2.0, ``0.25`` for 0.25: Batch takes resource values as strings."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def build_request(
    job: JobView,
    trial: TrialView,
    name: str,
    event_bus: str | None = None,
    secrets: SecretResolver = NO_SECRETS,
    *,
    stack: str | None = None,
) -> dict[str, Any]:
    """The ``SubmitJob`` request for one attempt of a trial, its environment's secret references
    resolved by ``secrets`` (the request then holds their values: send it, never show it),
    tagged with the deployment's ``stack`` when it has one."""
    block = _block(job)
    user_env = resolved_environment(block.environment, secrets)
    env = trial_environment(job.id, trial.id, trial.params, user_env, event_bus, trial.report_key)
    overrides: dict[str, Any] = {
        "command": [*block.command, *script_arguments(trial.params)],
        "environment": [{"name": k, "value": v} for k, v in env.items()],
    }
    if resources := _resources(block):
        overrides["resourceRequirements"] = resources
    request: dict[str, Any] = {
        "jobName": name,
        "jobQueue": block.job_queue,
        "jobDefinition": block.job_definition,
        "containerOverrides": overrides,
        "retryStrategy": {"attempts": block.retry_attempts},
        "timeout": {"attemptDurationSeconds": block.timeout_seconds},
        "tags": trial_tags(job.id, trial.id, block.tags, stack),
        "propagateTags": block.propagate_tags,
    }
    if block.share_identifier is not None:
        request["shareIdentifier"] = block.share_identifier
    if block.scheduling_priority is not None:
        request["schedulingPriorityOverride"] = block.scheduling_priority
    return request


class BatchBackend(CloudBackend):
    """Submits, terminates and describes trials through a boto3 ``batch`` client, and
    reads their logs through a boto3 ``logs`` client."""

    late_reports: ClassVar[bool] = True

    @staticmethod
    def job_name(job: JobView, trial: TrialView, attempt: int = 1) -> str:
        """The Batch job name of one attempt of the trial."""
        return trial_job_name(job.id, trial.id, attempt, BATCH_NAME_MAX)

    def find(self, queue: str, name: str) -> str | None:
        """The id of the newest job of exactly this name in the queue, if there is one."""
        pages = self.client.get_paginator("list_jobs").paginate(
            jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}]
        )
        for page in pages:  # newest first; the filter is case-insensitive, so compare exactly
            for summary in page.get("jobSummaryList", []):
                if summary["jobName"] == name:
                    return summary["jobId"]
        return None

    def launch(self, job: JobView, trial: TrialView, attempt: int = 1) -> str:
        """Submit the job unless a job of its name already exists; return the Batch job id."""
        block = _block(job)
        name = self.job_name(job, trial, attempt)
        secret_values: dict[str, str] = {}
        try:
            existing = self.find(block.job_queue, name)
            if existing is not None:
                return existing
            request = build_request(job, trial, name, self.event_bus, self.secrets, stack=self.stack)
            overrides = request["containerOverrides"]["environment"]
            secret_values = secret_variables({e["name"]: e["value"] for e in overrides})
            return self.client.submit_job(**request)["jobId"]
        except ClientError as exc:
            err = exc.response.get("Error", {})
            if err.get("Code") == "ClientException":  # bad queue, definition or request: final
                reason = scrubbed(err.get("Message", ""), secret_values)  # a message may echo a value
                raise LaunchError(f"Batch rejected job {name}: {reason}") from None
            raise

    @staticmethod
    def _job_id(job: JobView, trial: TrialView) -> str | None:
        """The Batch job id Launch stored. A running trial always has it (the store writes the
        state and the id together); only Launch looks jobs up by name (``batch:ListJobs``,
        which no other function's role holds)."""
        return trial.backend_ref

    def stop(self, job: JobView, trial: TrialView) -> None:
        """Terminate the job (running jobs fail, queued ones are cancelled) with hyperstep's reason."""
        job_id = self._job_id(job, trial)
        if job_id is not None:
            self.client.terminate_job(jobId=job_id, reason=BATCH_STOP_REASON)

    def _detail(self, job: JobView, trial: TrialView) -> dict[str, Any] | None:
        """The Batch job's ``DescribeJobs`` detail; None if it was never submitted."""
        job_id = self._job_id(job, trial)
        if job_id is None:
            return None
        jobs = self.client.describe_jobs(jobs=[job_id]).get("jobs", [])
        return jobs[0] if jobs else None

    def describe(self, job: JobView, trial: TrialView) -> TrialResult | None:
        """The trial's state once the Batch job has ended (no metrics); None while it runs or if unknown."""
        found = self._detail(job, trial)
        if found is None:
            return None
        container = BatchContainer.model_validate(found["container"]) if found.get("container") else None
        result = batch_result(job.id, trial.id, found["status"], found.get("statusReason"), container)
        return None if result is None else result.model_copy(update={"usage": self._usage(found)})

    def _usage(self, found: dict[str, Any]) -> Usage:
        return batch_usage(found).model_copy(update={"region": self.region})

    def running_since(self, job: JobView, trial: TrialView) -> float | None:
        """The latest ``startedAt`` of the job or its attempts (``attemptDurationSeconds`` counts
        from an attempt's start); None while it has never started (queued, however long).
        A job Batch does not know keeps its launch time."""
        found = self._detail(job, trial)
        if found is None:
            return trial.started_at
        starts = [a.get("startedAt") for a in found.get("attempts") or []] + [found.get("startedAt")]
        latest = max((s for s in starts if s), default=None)
        return None if latest is None else latest / 1000.0

    def usage(self, job: JobView, trial: TrialView) -> Usage | None:
        """What the ended job ran (``DescribeJobs``: attempts, resources, platform); None
        while it runs or if unknown."""
        found = self._detail(job, trial)
        if found is None or found.get("status") not in ("SUCCEEDED", "FAILED"):
            return None
        return self._usage(found)

    def recover_metrics(self, job: JobView, trial: TrialView) -> dict[str, float]:
        """The final metrics in the job's CloudWatch log: each metric's last match of its
        ``metric_definitions`` regex; {} without a logs client, a log stream or a match.
        ``UnreadMetricError`` for an objective printed as no number (``loss=0,49``)."""
        found = None if self.logs is None else self._detail(job, trial)
        location = None if found is None else log_location(found)
        if location is None:
            return {}
        objectives = [goal.metric for goal in job.spec.goals]
        return final_metrics_in_log(self.logs, *location, _block(job).metric_definitions, objectives)
