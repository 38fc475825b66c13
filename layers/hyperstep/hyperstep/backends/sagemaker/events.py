"""SageMaker's "Training Job State Change" events, and a training job's status as a trial result.

The detail is shaped like a ``DescribeTrainingJob`` response (``TrainingJobName``,
``TrainingJobStatus``, ``SecondaryStatus``, ``FailureReason`` when failed, ``Tags`` as a
map, ``FinalMetricDataList`` sometimes). ``sagemaker_result`` maps a status to a trial's
end for the event and for the adapter's ``describe`` alike. AWS emits these events to
the account's default bus; ``RULE_PATTERN`` lets only hyperstep's ended jobs through.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from hyperstep.backends.aws_detail import AwsDetail, tag_map
from hyperstep.backends.naming import NAME_PREFIX, trial_ids
from hyperstep.messages import TrialResult, Usage

SOURCE, DETAIL_TYPE = "aws.sagemaker", "SageMaker Training Job State Change"
RULE_PATTERN: dict[str, Any] = {
    "source": [SOURCE],
    "detail-type": [DETAIL_TYPE],
    "detail": {
        "TrainingJobName": [{"prefix": NAME_PREFIX}],
        "TrainingJobStatus": ["Completed", "Failed", "Stopped"],
    },
}
SPOT_OR_RUNTIME_LIMITS = ("MaxRuntimeExceeded", "MaxWaitTimeExceeded")
"""SageMaker secondary statuses of a job it stopped itself: a timeout, so a failure."""


class MetricData(AwsDetail):
    metric_name: str = Field(alias="MetricName")
    value: float = Field(alias="Value")


class SageMakerTrainingJobDetail(AwsDetail):
    training_job_name: str = Field(alias="TrainingJobName")
    training_job_status: str = Field(alias="TrainingJobStatus")
    secondary_status: str | None = Field(default=None, alias="SecondaryStatus")
    failure_reason: str | None = Field(default=None, alias="FailureReason")
    final_metric_data_list: list[MetricData] = Field(default_factory=list, alias="FinalMetricDataList")
    tags: dict[str, str] = Field(default_factory=dict, alias="Tags")

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, tags: Any) -> Any:
        return tag_map(tags)


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


def _epoch_seconds(value: Any) -> float | None:
    """A time as DescribeTrainingJob gives it (``datetime``) or as the event does (epoch
    milliseconds as a string); None when absent."""
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return float(value) / 1000.0
    except (TypeError, ValueError):
        return None


def sagemaker_usage(found: Mapping[str, Any]) -> Usage | None:
    """What an ended training job is billed for: ``BillableTimeInSeconds`` (managed spot's
    savings already off), else ``TrainingTimeInSeconds``, else its training start to end;
    and its ``ResourceConfig``. None when it holds no time at all (still running)."""
    seconds = found.get("BillableTimeInSeconds", found.get("TrainingTimeInSeconds"))
    if seconds is None:
        start, end = _epoch_seconds(found.get("TrainingStartTime")), _epoch_seconds(found.get("TrainingEndTime"))
        seconds = None if start is None or end is None else max(end - start, 0.0)
    if seconds is None:
        return None
    resources = found.get("ResourceConfig") or {}
    return Usage(
        seconds=float(seconds),
        instance_type=resources.get("InstanceType"),
        instance_count=resources.get("InstanceCount") or 1,
        platform="sagemaker",
    )


def parse_detail(detail: dict[str, Any]) -> TrialResult | None:
    """The trial result of a state-change event's detail; None for a job hyperstep did not start.

    AWS's event reference documents no ``BillableTimeInSeconds`` in this event: the result
    carries a usage only when the detail has one, and collect otherwise asks
    ``DescribeTrainingJob`` (the training start to end would overcharge a spot job)."""
    d = SageMakerTrainingJobDetail.model_validate(detail)
    ids = trial_ids(d.tags, {}, d.training_job_name)
    if ids is None:
        return None
    metrics = {m.metric_name: m.value for m in d.final_metric_data_list}
    result = sagemaker_result(*ids, d.training_job_status, d.secondary_status, d.failure_reason, metrics)
    if result is None or "BillableTimeInSeconds" not in detail:
        return result
    return result.model_copy(update={"usage": sagemaker_usage(detail)})
