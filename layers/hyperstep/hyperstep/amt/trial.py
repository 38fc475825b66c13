"""The trial block of an imported AMT request: SageMaker (the training job definition as
it is) or local (a command instead of the image)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from hyperstep.amt.reader import Request, dotted
from hyperstep.errors import SpecError
from hyperstep.metric_regex import NUMBER

SCRIPT_MODE = {"sagemaker_program": "entry_point", "sagemaker_submit_directory": "source_dir"}
"""Static hyperparameters the SageMaker Python SDK sets for script mode, as trial block fields."""
SET_BY_HYPERSTEP = ("sagemaker_job_name", "sagemaker_region", "sagemaker_container_log_level")


def script_mode(statics: Mapping[str, Any]) -> bool:
    """Whether the static hyperparameters hold both of script mode's (the SDK sets both). With
    ``sagemaker_program`` alone the image runs its own code from ``/opt/ml/code`` (the training
    toolkit reads the program from it): that value stays a static hyperparameter, passed on as
    AMT passes it, since the trial block's ``entry_point`` needs a ``source_dir``."""
    return all(name in statics for name in SCRIPT_MODE)


def common_fields(request: Request, definition: tuple, objective: str) -> dict[str, Any]:
    """What every trial block holds: metric definitions and the runtime limit."""
    algorithm = (*definition, "AlgorithmSpecification")
    metrics = []
    for i, _ in enumerate(request.items(*algorithm, "MetricDefinitions")):
        path = (*algorithm, "MetricDefinitions", i)
        metrics.append(
            {"name": request.text(*path, "Name", required=True), "regex": request.text(*path, "Regex", required=True)}
        )
    if objective not in [m["name"] for m in metrics]:
        regex = re.escape(objective) + r"\s*[=:]\s*" + NUMBER
        metrics.append({"name": objective, "regex": regex})
        request.notes.append(
            f"{dotted(algorithm)}.MetricDefinitions: none for the objective {objective!r} (a built-in algorithm's own "
            f"metric?): hyperstep reads it with the regex {regex} ; check that the training prints it so"
        )
    trial: dict[str, Any] = {"metric_definitions": metrics}
    runtime = request.integer(*definition, "StoppingCondition", "MaxRuntimeInSeconds")
    if runtime is not None:
        trial["timeout_seconds"] = runtime
    return trial


def local_trial(request: Request, definition: tuple, trial: dict[str, Any], command: list[str]) -> dict[str, Any]:
    block: dict[str, Any] = {"backend": "local", "command": command, **trial}
    environment = request.mapping(*definition, "Environment")
    if environment:
        request.get(*definition, "Environment")
        block["env"] = environment
    for name in (*SCRIPT_MODE, *SET_BY_HYPERSTEP):
        if name in request.mapping(*definition, "StaticHyperParameters"):
            request.note(
                (*definition, "StaticHyperParameters", name),
                "script mode in a SageMaker image; a local run runs --command",
            )
    return block


def sagemaker_trial(request: Request, definition: tuple, trial: dict[str, Any]) -> dict[str, Any]:
    algorithm = (*definition, "AlgorithmSpecification")
    block: dict[str, Any] = {"backend": "sagemaker", **trial}
    resources = _resources(request, definition)
    fields = {
        "training_image": (*algorithm, "TrainingImage"),
        "algorithm_name": (*algorithm, "AlgorithmName"),
        "input_mode": (*algorithm, "TrainingInputMode"),
        "role_arn": (*definition, "RoleArn"),
        "output_path": (*definition, "OutputDataConfig", "S3OutputPath"),
        "output_kms_key_id": (*definition, "OutputDataConfig", "KmsKeyId"),
        "instance_type": (*resources, "InstanceType"),
        "instance_count": (*resources, "InstanceCount"),
        "volume_size_gb": (*resources, "VolumeSizeInGB"),
        "volume_kms_key_id": (*resources, "VolumeKmsKeyId"),
        "max_wait_seconds": (*definition, "StoppingCondition", "MaxWaitTimeInSeconds"),
        "checkpoint_s3_uri": (*definition, "CheckpointConfig", "S3Uri"),
    }
    for key, path in fields.items():
        value = request.get(*path)
        if value is not None:
            block[key] = value
    if request.get(*definition, "EnableManagedSpotTraining") is True:
        block["use_spot"] = True
    channels = {}
    for i in range(len(request.items(*definition, "InputDataConfig"))):
        path = (*definition, "InputDataConfig", i)
        channels[request.text(*path, "ChannelName", required=True)] = _channel(request, path)
    if channels:
        block["input_channels"] = channels
    vpc = request.mapping(*definition, "VpcConfig")
    if vpc:
        block["vpc"] = {
            "subnets": request.get(*definition, "VpcConfig", "Subnets"),
            "security_group_ids": request.get(*definition, "VpcConfig", "SecurityGroupIds"),
        }
    environment = request.mapping(*definition, "Environment")
    if environment:
        request.get(*definition, "Environment")
        block["environment"] = environment
    tags = {}
    for i, _ in enumerate(request.items("Tags")):
        tags[request.text("Tags", i, "Key", required=True)] = request.text("Tags", i, "Value") or ""
    if tags:  # AMT adds the tuning job's tags to every training job it launches; so does hyperstep
        block["tags"] = tags
    statics = request.mapping(*definition, "StaticHyperParameters")
    if script_mode(statics):
        for name, key in SCRIPT_MODE.items():
            block[key] = _sdk_string(request.get(*definition, "StaticHyperParameters", name))
    for name in SET_BY_HYPERSTEP:
        if name in statics:
            request.note((*definition, "StaticHyperParameters", name), "hyperstep sets its own value for each trial")
    return block


def _resources(request: Request, definition: tuple) -> tuple[Any, ...]:
    """Where the instance type, count and volume are: ``ResourceConfig``, or else the
    ``HyperParameterTuningResourceConfig`` (its own fields, or its first ``InstanceConfigs``
    entry: hyperstep has no fallback to the others, which are named)."""
    if request.mapping(*definition, "ResourceConfig") or not request.mapping(
        *definition, "HyperParameterTuningResourceConfig"
    ):
        return (*definition, "ResourceConfig")
    flexible = (*definition, "HyperParameterTuningResourceConfig")
    if request.lookup(*flexible, "InstanceType") is None and request.items(*flexible, "InstanceConfigs"):
        return (*flexible, "InstanceConfigs", 0)
    return flexible


def _channel(request: Request, path: tuple) -> dict[str, Any]:
    s3 = (*path, "DataSource", "S3DataSource")
    uri = request.text(*s3, "S3Uri")
    if uri is None:
        raise SpecError(f"{dotted(path)}.DataSource: hyperstep reads input channels from S3 only (S3DataSource)")
    channel: dict[str, Any] = {"s3_uri": uri}
    for key, part in (
        ("s3_data_type", (*s3, "S3DataType")),
        ("distribution", (*s3, "S3DataDistributionType")),
        ("content_type", (*path, "ContentType")),
        ("compression", (*path, "CompressionType")),
        ("input_mode", (*path, "InputMode")),
    ):
        value = request.get(*part)
        if value is not None:
            channel[key] = value
    return channel


def _sdk_string(value: Any) -> Any:
    """The SageMaker Python SDK stores script-mode values JSON-encoded (``"\\"train.py\\""``)."""
    try:
        decoded = json.loads(value)
    except (TypeError, ValueError):
        return value
    return decoded if isinstance(decoded, str) else value
