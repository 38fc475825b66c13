"""Every cloud job a deployment launches carries its stack's tag (``hyperstep:stack``), which
its IAM grants on training jobs and Batch jobs require (``template.yaml``; the grants'
test: ``test_template_security``): two stacks in one account reach only their own trials."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from hyperstep.backends.batch.adapter import build_request as batch_request
from hyperstep.backends.descriptor import BackendContext
from hyperstep.backends.naming import TAG_STACK, trial_tags
from hyperstep.backends.registry import aws_backends
from hyperstep.backends.sagemaker.adapter import build_request as sagemaker_request
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.conftest import spec_document

STACK = "6f1d2c3b-4a5e-11f0-9c7d-0a1b2c3d4e5f"
BLOCKS = {
    "sagemaker": {
        "backend": "sagemaker",
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:latest",
        "role_arn": "arn:aws:iam::123456789012:role/train",
        "output_path": "s3://bucket/out",
        "instance_type": "ml.m5.large",
        "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
        "timeout_seconds": 600,
    },
    "batch": {
        "backend": "batch",
        "job_queue": "arn:aws:batch:us-east-1:123456789012:job-queue/q",
        "job_definition": "arn:aws:batch:us-east-1:123456789012:job-definition/train",
        "command": ["python", "train.py"],
        "metric_definitions": [{"name": "loss", "regex": "loss=([0-9.]+)"}],
        "timeout_seconds": 600,
    },
}


def test_the_stack_tag_is_hyperstep_s_own_and_absent_without_a_stack() -> None:
    assert trial_tags("job", "t0001", {"team": "ml"}, STACK) == {
        "team": "ml",
        "hyperstep:job-id": "job",
        "hyperstep:trial-id": "t0001",
        TAG_STACK: STACK,
    }
    assert TAG_STACK not in trial_tags("job", "t0001", {})  # locally: no deployment
    assert trial_tags("job", "t0001", {TAG_STACK: "another"}, STACK)[TAG_STACK] == STACK  # hyperstep's wins


def request_tags(backend: str, stack: str | None) -> dict[str, str]:
    job = Job(id="job", spec=parse_spec(spec_document(trial=BLOCKS[backend])))
    trial = Trial(job_id="job", id="t0001", number=1, params={"x": 0.5, "n": 2, "kind": "a"})
    if backend == "sagemaker":
        request: dict[str, Any] = sagemaker_request(job, trial, "hs-job-t0001-1", stack=stack)
        return {t["Key"]: t["Value"] for t in request["Tags"]}
    return batch_request(job, trial, "hs-job-t0001-1", stack=stack)["tags"]


@pytest.mark.parametrize("backend", ["sagemaker", "batch"])
def test_each_cloud_job_is_tagged_with_the_deployment_s_stack(backend: str) -> None:
    assert request_tags(backend, STACK)[TAG_STACK] == STACK
    assert TAG_STACK not in request_tags(backend, None)


def test_the_aws_backends_take_the_stack_from_their_context() -> None:
    backends = aws_backends(BackendContext(client=lambda name: object(), stack=STACK))
    assert {name: backend.stack for name, backend in backends.items()} == {"sagemaker": STACK, "batch": STACK}


class Recording:
    """A boto3 client of SageMaker or Batch that keeps the launch request it is sent."""

    meta = SimpleNamespace(region_name="us-east-1")

    def __init__(self) -> None:
        self.sent: dict[str, Any] = {}

    def create_training_job(self, **request: Any) -> dict[str, Any]:
        self.sent = request
        return {"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/hs-job-t0001-1"}

    def get_paginator(self, name: str) -> Any:  # Batch's ListJobs by name: none yet
        return SimpleNamespace(paginate=lambda **_: [{"jobSummaryList": []}])

    def submit_job(self, **request: Any) -> dict[str, Any]:
        self.sent = request
        return {"jobId": "0f1e", "jobName": request["jobName"]}


@pytest.mark.parametrize("backend", ["sagemaker", "batch"])
def test_a_launch_sends_its_backend_s_stack_tag(backend: str) -> None:
    """What the backend sends, not only what ``build_request`` builds: the grants refuse a
    launch without the tag (``CreateTrainingJob``) or could never stop the job it made (Batch)."""
    client = Recording()
    made = aws_backends(BackendContext(client=lambda name: client, stack=STACK))[backend]
    job = Job(id="job", spec=parse_spec(spec_document(trial=BLOCKS[backend])))
    made.launch(job, Trial(job_id="job", id="t0001", number=1, params={"x": 0.5, "n": 2, "kind": "a"}))
    tags = client.sent["tags"] if backend == "batch" else {t["Key"]: t["Value"] for t in client.sent["Tags"]}
    assert tags[TAG_STACK] == STACK
