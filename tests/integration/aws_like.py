"""moto's SageMaker and Batch made to behave as AWS does where hyperstep depends on it.

Test harness only: nothing here reaches the product. moto marks a training job Completed
and a Batch job SUCCEEDED the moment it is created, refuses no duplicate training job
name and cannot stop a training job. Inside ``aws_like_jobs()``:

- ``CreateTrainingJob`` starts a job ``InProgress`` (no end time, no final metrics) and keeps
  the request's ``MetricDefinitions`` (moto swaps in its own); a second job of the same name
  is refused with ``ResourceInUse``, as SageMaker does.
- ``SubmitJob`` leaves the Batch job ``RUNNING`` with its log stream set.
- Jobs end only when the harness ends them (``CloudJobs.end_sagemaker`` / ``end_batch``);
  ``DescribeTrainingJob`` then shows the end state, ``FailureReason`` and
  ``FinalMetricDataList``, ``DescribeJobs`` the status, ``statusReason`` and the container's
  ``exitCode``.
- ``StopTrainingJob`` moves a running job to ``Stopping`` (a job that has ended is refused
  with a ``ValidationException``); ``TerminateJob`` fails a running Batch job with the given
  reason as ``statusReason``. The harness then finishes both (``CloudJobs.take_stopped``).
- ``throttle(kind, name)`` decides per request whether ``CreateTrainingJob`` answers
  ``ThrottlingException`` (HTTP 400, SageMaker's common error) or ``SubmitJob`` answers
  ``TooManyRequestsException`` (HTTP 429, what AWS Batch returns past its API rate:
  https://repost.aws/knowledge-center/aws-batch-requests-error). A throttled request
  changes nothing.
- ``CloudJobs.log`` writes a job's output lines to CloudWatch Logs where AWS puts them
  (``/aws/sagemaker/TrainingJobs``, ``<name>/algo-1-<epoch>``; ``/aws/batch/job``, the job's
  ``logStreamName``).

``CloudJobs`` is also the platform's own ledger: every job created, in order, and the
peak number running at once per tuning job (for the parallelism budget).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from unittest import mock

from moto.batch.models import BatchBackend, Job, batch_backends
from moto.batch_simple.models import BatchSimpleBackend
from moto.core.exceptions import AWSError
from moto.logs.models import logs_backends
from moto.sagemaker.exceptions import ResourceInUseException, SagemakerClientError, ValidationError
from moto.sagemaker.models import FakeTrainingJob, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from hyperstep.backends.naming import ENV_JOB_ID, ENV_TRIAL_ID, TAG_JOB_ID, TAG_TRIAL_ID
from tests.integration.moto_harness import ACCOUNT, REGION

Kind = Literal["sagemaker", "batch"]
SAGEMAKER_LOG_GROUP, BATCH_LOG_GROUP = "/aws/sagemaker/TrainingJobs", "/aws/batch/job"
BATCH_FAILED_REASON = "Essential container in task exited"
"""Batch's ``statusReason`` when the container exits non-zero (as in ``events/``)."""
TERMINATED_EXIT_CODE = 143
"""A container stopped by SIGTERM (``TerminateJob``), as ``events/batch-job-state-change-stopped.json``."""


class ThrottlingException(SagemakerClientError):
    code = "ThrottlingException"


class TooManyRequestsException(AWSError):
    TYPE = "TooManyRequestsException"
    STATUS = 429


@dataclass
class CloudJob:
    """One training job or Batch job as the platform sees it."""

    kind: Kind
    name: str
    ref: str
    """The training job name (SageMaker) or the Batch job id: what Describe takes."""
    tuning_job: str
    trial_id: str
    hyperparameters: dict[str, str]
    environment: dict[str, str]
    tags: dict[str, str]
    log_stream: str
    created: float = field(default_factory=time.monotonic)
    end: str | None = None
    """The end state once ended: Completed / Failed / Stopped, SUCCEEDED / FAILED."""
    stopping: bool = False
    """StopTrainingJob / TerminateJob asked for it while it ran."""
    stop_reason: str | None = None


class CloudJobs:
    """The jobs the patched services started and ended (see the module docstring)."""

    def __init__(self, throttle: Callable[[Kind, str], bool] | None = None) -> None:
        self.throttle = throttle or (lambda kind, name: False)
        self.lock = threading.RLock()
        self.created: list[CloudJob] = []
        self._fresh: deque[CloudJob] = deque()
        self._stopped: deque[CloudJob] = deque()
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        """The most jobs of each tuning job running at once."""
        self.throttled: Counter[Kind] = Counter()

    # what the platform reads

    def take_new(self) -> list[CloudJob]:
        """Jobs created since the last call."""
        with self.lock:
            fresh, self._fresh = list(self._fresh), deque()
        return fresh

    def take_stopped(self) -> list[CloudJob]:
        """Jobs asked to stop (StopTrainingJob, TerminateJob) since the last call."""
        with self.lock:
            stopped, self._stopped = list(self._stopped), deque()
        return stopped

    # the services' side

    def _register(self, job: CloudJob) -> None:
        with self.lock:
            self.created.append(job)
            self._fresh.append(job)
            self.running[job.tuning_job] += 1
            self.peak[job.tuning_job] = max(self.peak[job.tuning_job], self.running[job.tuning_job])
        self._create_log_stream(job)

    def _ended(self, job: CloudJob, end: str) -> bool:
        with self.lock:
            if job.end is not None:
                return False
            job.end = end
            self.running[job.tuning_job] -= 1
            return True

    def end_sagemaker(
        self, job: CloudJob, status: str, failure_reason: str | None = None, final: dict[str, float] | None = None
    ) -> bool:
        """End a training job: Completed (with final metrics), Failed or Stopped. False if it had ended."""
        with self.lock:
            if not self._ended(job, status):
                return False
            fake = _training_job(job.ref)
            now = datetime.now(UTC)
            fake.training_job_status = status
            fake.secondary_status = status
            fake.training_end_time = fake.last_modified_time = now
            if failure_reason:
                fake.failure_reason = failure_reason
            if final:
                metrics = [{"MetricName": k, "Value": v, "Timestamp": now} for k, v in final.items()]
                fake.final_metric_data_list = metrics
            return True

    def end_batch(self, job: CloudJob, succeeded: bool, exit_code: int, reason: str | None = None) -> bool:
        """End a Batch job: SUCCEEDED, or FAILED with ``reason`` as statusReason. False if it had ended."""
        with self.lock:
            if not self._ended(job, "SUCCEEDED" if succeeded else "FAILED"):
                return False
            fake = _batch_job(job.ref)
            fake.exit_code = exit_code
            fake.job_stopped_reason = reason
            fake._mark_stopped(success=succeeded)
            return True

    def count_throttled(self, kind: Kind) -> None:
        with self.lock:
            self.throttled[kind] += 1

    def stop_requested(self, job: CloudJob, reason: str | None) -> None:
        with self.lock:
            job.stopping, job.stop_reason = True, reason
            self._stopped.append(job)

    def by_ref(self, ref: str) -> CloudJob | None:
        with self.lock:
            return next((job for job in reversed(self.created) if job.ref == ref), None)

    # logs

    def _create_log_stream(self, job: CloudJob) -> None:
        logs = logs_backends[ACCOUNT][REGION]
        group = SAGEMAKER_LOG_GROUP if job.kind == "sagemaker" else BATCH_LOG_GROUP
        with self.lock:
            if group not in logs.groups:
                logs.create_log_group(group, {})
            logs.create_log_stream(group, job.log_stream)

    def log(self, job: CloudJob, lines: list[str]) -> None:
        """Append lines to the job's CloudWatch Logs stream (what the container printed)."""
        group = SAGEMAKER_LOG_GROUP if job.kind == "sagemaker" else BATCH_LOG_GROUP
        stamp = int(time.time() * 1000)
        with self.lock:
            logs_backends[ACCOUNT][REGION].put_log_events(
                group, job.log_stream, [{"timestamp": stamp, "message": line} for line in lines]
            )


def _training_job(name: str) -> FakeTrainingJob:
    return sagemaker_backends[ACCOUNT][REGION].training_jobs[name]


def _batch_job(job_id: str) -> Job:
    return batch_backends[ACCOUNT][REGION].get_job_by_id(job_id)


def _patch_sagemaker(jobs: CloudJobs, stack: ExitStack) -> None:
    create = SageMakerModelBackend.create_training_job

    def create_training_job(self: SageMakerModelBackend, training_job_name: str, **kwargs: Any) -> FakeTrainingJob:
        if jobs.throttle("sagemaker", training_job_name):
            jobs.count_throttled("sagemaker")
            raise ThrottlingException("Rate exceeded")
        if training_job_name in self.training_jobs:
            arn = FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
            raise ResourceInUseException(
                message="Training job names must be unique within an AWS account and region, "
                f"and a training job with this name already exists ({arn})"
            )
        definitions = copy.deepcopy(kwargs["algorithm_specification"].get("MetricDefinitions"))
        fake = create(self, training_job_name=training_job_name, **kwargs)
        fake.algorithm_specification.pop("MetricDefinitions", None)
        if definitions is not None:
            fake.algorithm_specification["MetricDefinitions"] = definitions
        fake.training_job_status, fake.secondary_status = "InProgress", "Training"
        fake.training_end_time = fake.final_metric_data_list = None
        tags = {t["Key"]: t["Value"] for t in fake.tags}
        stream = f"{training_job_name}/algo-1-{int(time.time())}"
        job = CloudJob(
            "sagemaker",
            training_job_name,
            training_job_name,
            tags.get(TAG_JOB_ID, ""),
            tags.get(TAG_TRIAL_ID, ""),
            dict(fake.hyper_parameters),
            {},
            tags,
            stream,
        )
        jobs._register(job)
        return fake

    def stop_training_job(self: SageMakerResponse) -> str:
        name = self._get_param("TrainingJobName")
        with jobs.lock:
            fake = self.sagemaker_backend.training_jobs.get(name)
            if fake is None:
                raise ValidationError(message="Requested resource not found.")
            if fake.training_job_status != "InProgress":
                status = fake.training_job_status
                message = f"The request was rejected because the training job is in status {status}."
                raise ValidationError(message=message)
            fake.training_job_status, fake.secondary_status = "Stopping", "Stopping"
            job = jobs.by_ref(name)
            if job is not None:
                jobs.stop_requested(job, None)
        return "{}"

    stack.enter_context(mock.patch.object(SageMakerModelBackend, "create_training_job", create_training_job))
    stack.enter_context(mock.patch.object(SageMakerResponse, "stop_training_job", stop_training_job, create=True))


def _patch_batch(jobs: CloudJobs, stack: ExitStack) -> None:
    submit = BatchSimpleBackend.submit_job

    def submit_job(self: BatchSimpleBackend, job_name: str, *args: Any, **kwargs: Any) -> tuple[str, str, str]:
        if jobs.throttle("batch", job_name):
            jobs.count_throttled("batch")
            raise TooManyRequestsException("Too Many Requests")
        name, job_id, arn = submit(self, job_name, *args, **kwargs)
        fake = self.backend.get_job_by_id(job_id)
        env = {kv["name"]: kv["value"] for kv in fake.container_overrides.get("environment", [])}
        params = json.loads(env.get("HYPERSTEP_HYPERPARAMETERS", "{}"))
        strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        tags = self.backend.list_tags_for_resource(arn)
        job = CloudJob(
            "batch",
            name,
            job_id,
            env.get(ENV_JOB_ID, ""),
            env.get(ENV_TRIAL_ID, ""),
            strings,
            env,
            tags,
            fake._stream_name,
        )
        jobs._register(job)
        return name, job_id, arn

    def keep_running(self: BatchSimpleBackend, include_start_attempt: bool, job: Job) -> None:
        """moto marks the job SUCCEEDED here; on AWS it runs until its container exits."""
        self.backend._jobs[job.job_id] = job
        job.job_started_at = datetime.now()
        job.log_stream_name = job._stream_name
        if include_start_attempt:
            job._start_attempt()
        job.status = "RUNNING"

    describe = Job.describe

    def describe_job(self: Job) -> dict[str, Any]:
        result = describe(self)
        if self.job_stopped and "container" in result:
            if self.exit_code is not None:
                result["container"]["exitCode"] = self.exit_code
            if self.job_stopped_reason is not None:
                result["statusReason"] = self.job_stopped_reason
        return result

    def terminate_job(self: BatchBackend, job_id: str, reason: str) -> None:
        with jobs.lock:
            job = jobs.by_ref(job_id)
            fake = self.get_job_by_id(job_id)
            if job is None or fake is None or fake.job_stopped or job.stopping:
                return  # AWS: terminating an ended job does nothing
            jobs.stop_requested(job, reason)

    stack.enter_context(mock.patch.object(BatchSimpleBackend, "submit_job", submit_job))
    stack.enter_context(mock.patch.object(BatchSimpleBackend, "_mark_job_as_finished", keep_running))
    stack.enter_context(mock.patch.object(Job, "describe", describe_job))
    stack.enter_context(mock.patch.object(BatchBackend, "terminate_job", terminate_job))


@contextmanager
def aws_like_jobs(throttle: Callable[[Kind, str], bool] | None = None) -> Iterator[CloudJobs]:
    """SageMaker and Batch in moto behave as on AWS for the block (see the module docstring);
    enter inside ``moto_stack()``."""
    jobs = CloudJobs(throttle)
    with ExitStack() as stack:
        _patch_sagemaker(jobs, stack)
        _patch_batch(jobs, stack)
        yield jobs
