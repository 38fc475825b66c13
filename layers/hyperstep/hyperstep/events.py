"""EventBridge events that end a trial or report its metrics, parsed into trial terms.

Three kinds reach the collect function on AWS (a fourth, ``hyperstep.local`` /
``Local Trial State Change`` with a ``TrialResult`` detail, on a laptop):

- ``aws.sagemaker`` / ``SageMaker Training Job State Change``: the detail is shaped like a
  ``DescribeTrainingJob`` response (``TrainingJobName``, ``TrainingJobStatus``,
  ``SecondaryStatus``, ``FailureReason`` when failed, ``Tags`` as a map).
- ``aws.batch`` / ``Batch Job State Change``: the detail resembles the ``JobDetail`` of
  ``DescribeJobs`` (``jobName``, ``jobId``, ``status``, ``statusReason``, ``container``,
  ``tags``).
- ``hyperstep.trial`` / ``Trial Metric Reported``: what ``hyperstep.reporting.report`` sends from
  inside a training container.

``parse_event`` returns a final ``TrialResult``, an intermediate ``TrialMetric``, or None
when the event needs no action (a job still running, or a job hyperstep did not start).
AWS adds fields to events over time, so AWS-shaped models ignore unknown fields; only our
own detail is strict. The status mappings are shared with the backends' ``describe``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hyperstep.backends.base import TrialResult
from hyperstep.backends.naming import (
    BATCH_STOP_REASON,
    ENV_JOB_ID,
    ENV_TRIAL_ID,
    LOCAL_EVENT_DETAIL_TYPE,
    LOCAL_EVENT_SOURCE,
    METRIC_EVENT_DETAIL_TYPE,
    METRIC_EVENT_SOURCE,
    NAME_PREFIX,
    TAG_JOB_ID,
    TAG_TRIAL_ID,
    parse_trial_job_name,
)
from hyperstep.errors import HyperstepError

SAGEMAKER_SOURCE, SAGEMAKER_DETAIL_TYPE = "aws.sagemaker", "SageMaker Training Job State Change"
BATCH_SOURCE, BATCH_DETAIL_TYPE = "aws.batch", "Batch Job State Change"
RULE_PATTERNS: dict[str, dict[str, Any]] = {
    # AWS services emit to the account's default bus: these two rules belong there.
    "sagemaker": {
        "source": [SAGEMAKER_SOURCE],
        "detail-type": [SAGEMAKER_DETAIL_TYPE],
        "detail": {
            "TrainingJobName": [{"prefix": NAME_PREFIX}],
            "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
        },
    },
    "batch": {
        "source": [BATCH_SOURCE],
        "detail-type": [BATCH_DETAIL_TYPE],
        "detail": {"jobName": [{"prefix": NAME_PREFIX}], "status": ["SUCCEEDED", "FAILED"]},
    },
    # On the bus the backends name in HYPERSTEP_EVENT_BUS.
    "metrics": {"source": [METRIC_EVENT_SOURCE], "detail-type": [METRIC_EVENT_DETAIL_TYPE]},
}
"""EventBridge rule patterns that deliver to collect only the events of hyperstep's jobs."""
SPOT_OR_RUNTIME_LIMITS = ("MaxRuntimeExceeded", "MaxWaitTimeExceeded")
"""SageMaker secondary statuses of a job it stopped itself: a timeout, so a failure."""


class EventError(HyperstepError, ValueError):
    """An event is malformed or of a kind hyperstep does not handle."""


class _Aws(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class EventBridgeEvent(_Aws):
    """The envelope every EventBridge event shares."""

    version: str
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]


def _tag_map(tags: Any) -> Any:
    """Tags as a map; also accepts the API's ``[{"Key": k, "Value": v}]`` list form."""
    if isinstance(tags, list):
        return {t.get("Key", t.get("key")): t.get("Value", t.get("value", "")) for t in tags if isinstance(t, dict)}
    return {} if tags is None else tags


class MetricData(_Aws):
    metric_name: str = Field(alias="MetricName")
    value: float = Field(alias="Value")


class SageMakerTrainingJobDetail(_Aws):
    training_job_name: str = Field(alias="TrainingJobName")
    training_job_status: str = Field(alias="TrainingJobStatus")
    secondary_status: str | None = Field(default=None, alias="SecondaryStatus")
    failure_reason: str | None = Field(default=None, alias="FailureReason")
    final_metric_data_list: list[MetricData] = Field(default_factory=list, alias="FinalMetricDataList")
    tags: dict[str, str] = Field(default_factory=dict, alias="Tags")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, tags: Any) -> Any:
        return _tag_map(tags)


class KeyValue(_Aws):
    name: str
    value: str = ""


class BatchContainer(_Aws):
    environment: list[KeyValue] = Field(default_factory=list)
    exit_code: int | None = Field(default=None, alias="exitCode")
    reason: str | None = None


class BatchJobDetail(_Aws):
    job_name: str = Field(alias="jobName")
    job_id: str = Field(alias="jobId")
    status: str
    status_reason: str | None = Field(default=None, alias="statusReason")
    container: BatchContainer | None = None
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, tags: Any) -> Any:
        return _tag_map(tags)


class TrialMetric(BaseModel):
    """Metrics a training script reported (``hyperstep.report``): intermediate ones at a
    ``step``, or the ``final`` values the trial ends with.

    ``final`` defaults to "no step given", the rule ``hyperstep.report`` follows; ``at``
    (the script's clock, epoch seconds) orders reports of the same step. EventBridge may
    deliver these before or after the job's own end event, twice, or out of order: collect
    merges them order-free (``hyperstep.models.merge_reports``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1)
    trial_id: str = Field(min_length=1)
    metrics: dict[str, float] = Field(min_length=1)
    step: int | None = Field(default=None, ge=0)
    final: bool = False
    at: float | None = Field(default=None, ge=0)

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
        return metrics


TrialEvent = TrialResult | TrialMetric


def sagemaker_result(
    job_id: str,
    trial_id: str,
    status: str,
    secondary_status: str | None,
    failure_reason: str | None,
    final_metrics: dict[str, float],
) -> TrialResult | None:
    """A training job's status as a trial result; None while it has not ended."""
    state: Literal["completed", "failed", "stopped"]
    error = None
    if status == "Completed":
        state = "completed"
    elif status == "Failed":
        state, error = "failed", failure_reason or "SageMaker training job failed"
    elif status == "Stopped" and secondary_status in SPOT_OR_RUNTIME_LIMITS:
        state, error = "failed", f"SageMaker stopped the training job: {secondary_status}"
    elif status == "Stopped":
        state = "stopped"
    else:
        return None  # InProgress, Stopping, Deleting
    metrics = final_metrics if state == "completed" else {}
    return TrialResult(job_id=job_id, trial_id=trial_id, state=state, metrics=metrics, error=error)


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
    parts = [status_reason or "Batch job failed"]
    if container is not None and container.reason:
        parts.append(container.reason)
    if container is not None and container.exit_code is not None:
        parts.append(f"exit code {container.exit_code}")
    return TrialResult(job_id=job_id, trial_id=trial_id, state="failed", error="; ".join(parts))


def _ids(tags: dict[str, str], env: dict[str, str], name: str) -> tuple[str, str] | None:
    """Job and trial ids from the tags, else the container environment, else the name."""
    for source, job_key, trial_key in ((tags, TAG_JOB_ID, TAG_TRIAL_ID), (env, ENV_JOB_ID, ENV_TRIAL_ID)):
        if source.get(job_key) and source.get(trial_key):
            return source[job_key], source[trial_key]
    parsed = parse_trial_job_name(name)
    return None if parsed is None else parsed[:2]


def _sagemaker(detail: dict[str, Any]) -> TrialResult | None:
    d = SageMakerTrainingJobDetail.model_validate(detail)
    ids = _ids(d.tags, {}, d.training_job_name)
    if ids is None:
        return None
    metrics = {m.metric_name: m.value for m in d.final_metric_data_list}
    return sagemaker_result(*ids, d.training_job_status, d.secondary_status, d.failure_reason, metrics)


def _batch(detail: dict[str, Any]) -> TrialResult | None:
    d = BatchJobDetail.model_validate(detail)
    env = {kv.name: kv.value for kv in d.container.environment} if d.container else {}
    ids = _ids(d.tags, env, d.job_name)
    if ids is None:
        return None
    return batch_result(*ids, d.status, d.status_reason, d.container)


def parse_event(event: dict[str, Any]) -> TrialEvent | None:
    """Parse one EventBridge event; raise ``EventError`` when it is malformed or unknown."""
    try:
        envelope = EventBridgeEvent.model_validate(event)
        kind = (envelope.source, envelope.detail_type)
        if kind == (SAGEMAKER_SOURCE, SAGEMAKER_DETAIL_TYPE):
            return _sagemaker(envelope.detail)
        if kind == (BATCH_SOURCE, BATCH_DETAIL_TYPE):
            return _batch(envelope.detail)
        if kind == (METRIC_EVENT_SOURCE, METRIC_EVENT_DETAIL_TYPE):
            return TrialMetric.model_validate(envelope.detail)
        if kind == (LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE):
            return TrialResult.model_validate(envelope.detail)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        raise EventError(f"malformed event: {where}: {first['msg']}") from None
    raise EventError(f"not a trial event: source {kind[0]!r}, detail-type {kind[1]!r}")
