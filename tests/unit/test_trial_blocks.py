"""SageMaker and Batch trial blocks accept what AWS accepts and say why they refuse."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.backends.batch.block import BatchTrial
from hyperstep.backends.sagemaker.block import SageMakerTrial
from hyperstep.errors import SpecError
from hyperstep.spec import JobSpec, parse_spec

SAGEMAKER: dict[str, Any] = {
    "backend": "sagemaker",
    "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1",
    "instance_type": "ml.m5.xlarge",
    "role_arn": "arn:aws:iam::123456789012:role/HyperstepSageMakerRole",
    "output_path": "s3://bucket/output",
    "input_channels": {"train": "s3://bucket/train"},
    "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.eE+-]+)"}],
}
BATCH: dict[str, Any] = {
    "backend": "batch",
    "job_queue": "hyperstep-queue",
    "job_definition": "train:3",
    "command": ["python", "train.py"],
    "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.eE+-]+)"}],
}


def spec(trial: dict[str, Any], parameters: list[dict[str, Any]] | None = None) -> JobSpec:
    return parse_spec(
        {
            "name": "aws",
            "objective": {"metric": "loss"},
            "parameters": parameters or [{"name": "lr", "type": "float", "low": 0.001, "high": 0.1}],
            "budget": {"max_trials": 4},
            "trial": trial,
        }
    )


def test_spec_dispatches_on_backend() -> None:
    assert isinstance(spec(SAGEMAKER).trial, SageMakerTrial)
    assert isinstance(spec(BATCH).trial, BatchTrial)


def test_channel_shorthand_expands_to_defaults() -> None:
    trial = spec(SAGEMAKER).trial
    assert isinstance(trial, SageMakerTrial)
    channel = trial.input_channels["train"]
    assert (channel.s3_uri, channel.s3_data_type, channel.distribution) == (
        "s3://bucket/train",
        "S3Prefix",
        "FullyReplicated",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"instance_type": "m5.xlarge"}, "instance_type"),
        ({"role_arn": "arn:aws:iam::123:role/x"}, "role_arn"),
        ({"output_path": "bucket/output"}, "output_path"),
        ({"algorithm_name": "xgboost"}, "exactly one of"),
        ({"use_spot": True}, "max_wait_seconds"),
        ({"use_spot": True, "max_wait_seconds": 60, "timeout_seconds": 120}, "max_wait_seconds"),
        ({"checkpoint_s3_uri": "s3://bucket/ckpt"}, "managed spot only"),
        ({"input_channels": {"bad name": "s3://bucket/x"}}, "input_channels"),
        ({"tags": {"aws:created-by": "me"}}, "reserved"),
        ({"tags": {"hyperstep:job-id": "x"}}, "reserved"),
        ({"tags": {"HyperStep:stack": "x"}}, "reserved"),  # IAM matches tag key names in any case
        ({"tags": {f"k{i}": "v" for i in range(48)}}, "at most 47 tags"),
        ({"environment": {"HYPERSTEP_JOB_ID": "x"}}, "HYPERSTEP_"),
        ({"metric_definitions": [{"name": f"m{i}", "regex": "m=(.*)"} for i in range(41)]}, "at most 40"),
        ({"vpc": {"subnets": [], "security_group_ids": ["sg-1"]}}, "subnets"),
        ({"output_kms_key_id": "alias/has space"}, "output_kms_key_id"),
        ({"volume_kms_key_id": "k" * 2049}, "volume_kms_key_id"),
    ],
)
def test_sagemaker_block_refuses_what_aws_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec({**SAGEMAKER, **change})


def test_spot_with_enough_wait_is_accepted() -> None:
    trial = spec({**SAGEMAKER, "use_spot": True, "max_wait_seconds": 7200, "checkpoint_s3_uri": "s3://b/ckpt"}).trial
    assert isinstance(trial, SageMakerTrial) and trial.max_wait_seconds == 7200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timeout_seconds": 59}, "at least 60"),
        ({"retry_attempts": 11}, "retry_attempts"),
        ({"command": ["python", ""]}, "command"),
        ({"environment": {"AWS_BATCH_JOB_ID": "x"}}, "AWS_BATCH"),
        ({"vcpus": 0}, "vcpus"),
        ({"share_identifier": "ml-research"}, "share_identifier"),
        ({"share_identifier": "a" * 256}, "share_identifier"),
        ({"share_identifier": "ml", "scheduling_priority": 10_000}, "scheduling_priority"),
        ({"share_identifier": "ml", "scheduling_priority": -1}, "scheduling_priority"),
        ({"scheduling_priority": 5}, "set share_identifier too"),
        ({"tags": {"HYPERSTEP:stack": "x"}}, "reserved"),  # IAM matches tag key names in any case
    ],
)
def test_batch_block_refuses_what_aws_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec({**BATCH, **change})


def floats(n: int) -> list[dict[str, Any]]:
    return [{"name": f"p{i}", "type": "float", "low": 0, "high": 1} for i in range(n)]


SCRIPT_MODE = {"entry_point": "train.py", "source_dir": "s3://bucket/code/sourcedir.tar.gz"}


@pytest.mark.parametrize(
    ("parameters", "change", "message"),
    [
        (floats(101), {}, "at most 100 hyperparameters"),
        (floats(96), SCRIPT_MODE, r"at most 100 hyperparameters \(5 of them for script mode\), got 96"),
        ([{"name": "k", "type": "categorical", "choices": ["ok", "x" * 2501]}], {}, "at most 2500 characters"),
        (
            [{"name": "sagemaker_program", "type": "categorical", "choices": ["a.py", "b.py"]}],
            SCRIPT_MODE,
            "'sagemaker_program': sagemaker_\\* hyperparameters are set by script mode",
        ),
    ],
)
def test_sagemaker_refuses_hyperparameters_create_training_job_refuses(
    parameters: list[dict[str, Any]], change: dict[str, Any], message: str
) -> None:
    """CreateTrainingJob ``HyperParameters``: at most 100 entries, values at most 2500
    characters (botocore's SageMaker model); otherwise every trial would fail at launch."""
    with pytest.raises(SpecError, match=message):
        spec({**SAGEMAKER, **change}, parameters)


def test_sagemaker_takes_as_many_hyperparameters_as_create_training_job() -> None:
    assert len(spec(SAGEMAKER, floats(100)).parameters) == 100
    assert len(spec({**SAGEMAKER, **SCRIPT_MODE}, floats(95)).parameters) == 95
