"""Whole tuning jobs under moto: tuning.asl.json in moto's engine, the real handlers, DynamoDB,
SageMaker and Batch; the test plays the training platform and sends AWS-shaped events.

The SageMaker job is submitted through the API function (``POST /jobs``), the Batch job
through ``TuningService.submit`` (what the start function does). Each runs 4 trials 2 at a
time and must end SUCCEEDED with every trial recorded exactly once (a repeated event and
a late, out-of-order one change nothing), the right best trial, and a path through the
states that the definition allows.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest

from hyperstep.models import Job, JobStatus, TrialState
from hyperstep.spec import parse_spec
from tests.integration.moto_harness import MotoStack, moto_stack, state_path
from tests.integration.moto_platform import (
    BATCH_DEFINITION,
    BATCH_QUEUE,
    Launched,
    TrainingPlatform,
    create_batch_environment,
    sample,
)

pytestmark = pytest.mark.slow

TRIALS, PARALLEL = 4, 2
PARAMETERS = [
    {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "scale": "log"},
    {"name": "layers", "type": "int", "low": 1, "high": 4},
]
SAGEMAKER_BLOCK = {
    "backend": "sagemaker",
    "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1.0",
    "instance_type": "ml.m5.large",
    "role_arn": "arn:aws:iam::123456789012:role/HyperstepSageMakerRole",
    "output_path": "s3://hyperstep-demo/out",
    "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
    "timeout_seconds": 3600,
}
BATCH_BLOCK = {
    "backend": "batch",
    "job_queue": BATCH_QUEUE,
    "job_definition": BATCH_DEFINITION,
    "command": ["python", "train.py"],
    "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
    "timeout_seconds": 3600,
}
ALLOWED = {
    "Suggest Trials": {"Job Done?"},
    "Job Done?": {"Launch Trials", "Wait For Results", "Finish Job"},
    "Launch Trials": {"Launch Trial"},
    "Launch Trial": {"Launch Trial", "Wait For Results"},
    "Wait For Results": {"Budget Left?"},
    "Budget Left?": {"Suggest Trials", "Finish Job"},
}
"""Every edge of tuning.asl.json a run without errors may take (Map iterations included)."""


def val_loss(hyperparameters: dict[str, str]) -> float:
    """The "training": a loss from the hyperparameters the job was started with (strings)."""
    return (math.log10(float(hyperparameters["lr"])) + 2.5) ** 2 + 0.1 * int(hyperparameters["layers"])


def spec_for(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": f"moto-{block['backend']}",
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "random", "seed": 7},
        "budget": {"max_trials": TRIALS, "max_parallel": PARALLEL},
        "trial": block,
    }


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        create_batch_environment()
        yield deployed


def late_events(platform: TrainingPlatform, job: Launched) -> list[dict[str, Any]]:
    """The same end event again, and a "still running" event arriving after the end."""
    running_sample = "sagemaker-training-job-state-change-in-progress"
    if platform.backend == "batch":
        running_sample = "batch-job-state-change-running"
    end = job.events[-1]
    running = sample(running_sample)
    keep = ("TrainingJobName", "TrainingJobArn", "Tags", "jobArn", "jobName", "jobId", "tags", "container")
    detail = {**running["detail"], **{k: v for k, v in end["detail"].items() if k in keep}}
    return [end, {**running, "id": "late-" + end["id"], "detail": detail}]


def submit_through_the_api(stack: MotoStack, document: dict[str, Any]) -> Job:
    """``POST /jobs`` as API Gateway's REST proxy integration delivers it to the API function."""
    event = {
        "resource": "/jobs",
        "path": "/jobs",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"stage": "v1", "httpMethod": "POST", "resourcePath": "/jobs", "requestId": "r-1"},
        "body": json.dumps(document),
        "isBase64Encoded": False,
    }
    response = stack.invoke("api", event)
    assert response["statusCode"] == 202, response
    accepted = json.loads(response["body"])
    job = stack.service.store.get_job(accepted["job_id"])
    assert accepted["execution_id"] == job.execution_id
    return job


def run_job(stack: MotoStack, block: dict[str, Any], through_api: bool = False) -> None:
    document = spec_for(block)
    job = submit_through_the_api(stack, document) if through_api else stack.service.submit(parse_spec(document))
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, block["backend"], val_loss, "val_loss")
    extra: list[dict[str, Any]] = []

    def replay(launched: Launched) -> None:
        if not extra:  # after the first job ends: its end event twice, then a stale one
            extra.extend(platform.deliver(event) for event in late_events(platform, launched))

    description = platform.run(job.execution_id, seconds=60, on_job=replay)
    assert description["status"] == "SUCCEEDED", description
    assert extra == [{"recorded": False}, {"recorded": False, "reason": "no action needed"}]

    store = stack.service.store
    trials = store.list_trials(job.id)
    final = store.get_job(job.id)
    assert len(trials) == TRIALS and len(platform.seen) == TRIALS  # one cloud job per trial
    assert all(t.state is TrialState.COMPLETED for t in trials)
    assert {t.id: t.value for t in trials} == pytest.approx(platform.values)
    assert (final.status, final.completed, final.failed) == (JobStatus.COMPLETED, TRIALS, 0)
    best = min(trials, key=lambda t: t.value if t.value is not None else math.inf)
    assert (final.best_trial_id, final.best_value) == (best.id, pytest.approx(best.value))
    assert json.loads(description["output"])["best_trial_id"] == best.id

    path = state_path(stack.history(job.execution_id))
    assert path[0] == "Suggest Trials" and path[-1] == "Finish Job" and path.count("Finish Job") == 1
    assert path[:3] == ["Suggest Trials", "Job Done?", "Launch Trials"]
    for here, there in itertools.pairwise(path):
        assert there in ALLOWED[here], f"{here} -> {there} in {path}"
    assert path.count("Launch Trial") == TRIALS
    assert path.count("Wait For Results") >= TRIALS // PARALLEL


def test_a_sagemaker_job_submitted_through_the_api_runs_to_the_end(stack: MotoStack) -> None:
    run_job(stack, SAGEMAKER_BLOCK, through_api=True)


def test_a_batch_job_runs_to_the_end(stack: MotoStack) -> None:
    run_job(stack, BATCH_BLOCK)
