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
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hyperstep.models import Job, JobStatus, TrialState
from hyperstep.spec import parse_spec
from tests import issue10
from tests.integration.moto_harness import MotoStack, moto_stack, state_path
from tests.integration.moto_platform import (
    BATCH_DEFINITION,
    BATCH_QUEUE,
    Launched,
    TrainingPlatform,
    create_batch_environment,
    restate,
)
from tests.report_keys import signed

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
    "Begin": {"Suggest Trials"},
    "Suggest Trials": {"Job Done?"},
    "Job Done?": {"Suggest Trials", "Finish Job", "Handed Over"},
}
"""Every edge of tuning.asl.json a run without errors may take."""


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
    """The same end event again, a "still running" event arriving after the end, and (Batch)
    the trial's metric report again, with a worse value (signed, as its script would sign it)."""
    end = job.events[-1]
    if platform.backend == "sagemaker":
        return [end, restate(end, "sagemaker-training-job-state-change-in-progress")]
    report = job.events[0]
    worse = {**report, "detail": {**report["detail"], "metrics": {"val_loss": 1e6}}}
    return [end, restate(end, "batch-job-state-change-running"), signed(platform.stack.service.store, worse)]


def call_api(
    stack: MotoStack, method: str, path: str, body: Any = None, user: str = "arn:aws:iam::123456789012:user/alice"
) -> tuple[int, Any]:
    """One request signed by ``user``, as API Gateway's REST proxy integration hands it to the API function."""
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "stage": "v1",
            "httpMethod": method,
            "resourcePath": path,
            "requestId": "r-1",
            "identity": {"userArn": user},
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }
    response = stack.invoke("api", event)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


def submit_through_the_api(stack: MotoStack, document: dict[str, Any]) -> Job:
    """``POST /jobs``: the job is stored and its execution started."""
    status, accepted = call_api(stack, "POST", "/jobs", document)
    assert status == 202, accepted
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
    ignored = [{"recorded": False}, {"recorded": False, "reason": "no action needed"}]
    assert extra == ignored + ([{"recorded": False}] if block["backend"] == "batch" else [])

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
    assert path[-1] == "Finish Job" and path.count("Finish Job") == 1
    assert path[:4] == ["Begin", "Suggest Trials", "Job Done?", "Suggest Trials"]
    for here, there in itertools.pairwise(path):
        assert there in ALLOWED[here], f"{here} -> {there} in {path}"
    assert path.count("Suggest Trials") >= TRIALS // PARALLEL
    assert len(path) <= 2 * TRIALS + 5  # at most two states a round, a round at least per result


def test_a_sagemaker_job_submitted_through_the_api_runs_to_the_end(stack: MotoStack) -> None:
    run_job(stack, SAGEMAKER_BLOCK, through_api=True)


def test_a_batch_job_runs_to_the_end(stack: MotoStack) -> None:
    run_job(stack, BATCH_BLOCK)


def test_failed_training_jobs_fail_their_trials_and_the_rest_decide_the_best(stack: MotoStack) -> None:
    job = stack.service.submit(parse_spec(spec_for(SAGEMAKER_BLOCK)))
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, "sagemaker", val_loss, "val_loss", fails=lambda hp: hp["layers"] >= "3")
    assert platform.run(job.execution_id, seconds=60)["status"] == "SUCCEEDED"
    trials = stack.service.store.list_trials(job.id)
    failed = [t for t in trials if t.state is TrialState.FAILED]
    assert {t.id for t in failed} == {t.id for t in trials if t.params["layers"] >= 3}
    assert all("AlgorithmError" in (t.error or "") and t.value is None for t in failed)
    completed = {t.id: t.value for t in trials if t.state is TrialState.COMPLETED}
    assert completed == pytest.approx(platform.values)
    final = stack.service.store.get_job(job.id)
    assert (final.completed, final.failed) == (len(completed), len(failed))
    assert failed and completed  # seed 7 draws both kinds
    assert final.status is JobStatus.COMPLETED and final.best_trial_id == min(completed, key=completed.__getitem__)


def test_a_batch_job_stopped_through_the_api_ends_stopped(stack: MotoStack) -> None:
    job = submit_through_the_api(stack, spec_for(BATCH_BLOCK))
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, "batch", val_loss, "val_loss")
    launched: list[Launched] = []
    deadline = time.monotonic() + 30
    while len(launched) < PARALLEL or "TaskSubmitted" not in [e["type"] for e in stack.history(job.execution_id)]:
        assert time.monotonic() < deadline, "the first trials were not launched"
        launched += platform.new_jobs()
        time.sleep(0.05)
    assert call_api(stack, "POST", f"/jobs/{job.id}/stop")[0] == 202
    for cloud_job in launched:  # Batch reports the terminated jobs as FAILED with hyperstep's reason
        assert platform.deliver(restate(cloud_job.events[-1], "batch-job-state-change-stopped")) == {"recorded": True}
    description = stack.wait_until_done(job.execution_id, seconds=30)
    assert description["status"] == "SUCCEEDED", description
    trials = stack.service.store.list_trials(job.id)
    assert len(trials) == PARALLEL and all(t.state is TrialState.STOPPED for t in trials)
    final = stack.service.store.get_job(job.id)
    assert final.status is JobStatus.STOPPED and json.loads(description["output"])["status"] == "stopped"
    assert state_path(stack.history(job.execution_id))[-1] == "Finish Job"


def three_metrics(hyperparameters: dict[str, str]) -> dict[str, float]:
    """Two objectives and a constraint's metric from one training job."""
    layers = int(hyperparameters["layers"])
    return {"val_loss": val_loss(hyperparameters), "size_mb": 10.0 * layers, "latency_ms": 15.0 * layers}


@pytest.mark.parametrize("block", [SAGEMAKER_BLOCK, BATCH_BLOCK], ids=["sagemaker", "batch"])
def test_every_objective_and_constraint_metric_arrives_through_the_metric_regexes(
    stack: MotoStack, block: dict[str, Any]
) -> None:
    names = ("val_loss", "size_mb", "latency_ms")
    block = {**block, "metric_definitions": [{"name": n, "regex": f"{n}=([0-9.eE+-]+)"} for n in names]}
    document = spec_for(block)
    del document["objective"]
    document["objectives"] = [{"metric": "val_loss", "goal": "minimize"}, {"metric": "size_mb", "goal": "minimize"}]
    document["constraints"] = [{"metric": "latency_ms", "max": 40}]
    job = stack.service.submit(parse_spec(document))
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, block["backend"], three_metrics, "val_loss")
    assert platform.run(job.execution_id, seconds=60)["status"] == "SUCCEEDED"
    trials = stack.service.store.list_trials(job.id)
    assert len(trials) == TRIALS and all(t.state is TrialState.COMPLETED for t in trials)
    for t in trials:
        sent = platform.values[t.id]
        assert t.values == pytest.approx([sent["val_loss"], sent["size_mb"]])
        assert t.metrics["latency_ms"] == pytest.approx(sent["latency_ms"])
    final = stack.service.store.get_job(job.id)
    assert final.status is JobStatus.COMPLETED and final.completed == TRIALS and final.best_trial_id is None


@pytest.mark.parametrize("block", [SAGEMAKER_BLOCK, BATCH_BLOCK], ids=["sagemaker", "batch"])
def test_the_issue_space_objectives_and_constraint_run_through_the_api(stack: MotoStack, block: dict[str, Any]) -> None:
    """Issue 10's YAML as written, submitted with ``POST /jobs``: every cloud job carries only
    the active hyperparameters (SageMaker's ``HyperParameters``, Batch's command and
    environment), every trial keeps both objectives and the constraint's metric, and the API
    answers the feasible front."""
    metrics = [{"name": n, "regex": f"{n}=([0-9.eE+-]+)"} for n in issue10.METRICS]
    document = issue10.document(
        name=f"issue10-{block['backend']}",
        strategy={"name": "bayesian", "seed": 0, "options": {"n_initial": 2}},
        budget={"max_trials": 6, "max_parallel": PARALLEL},
        trial={**block, "metric_definitions": metrics},
    )
    job = submit_through_the_api(stack, document)
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, block["backend"], issue10.outcome, "accuracy")
    launched: list[Launched] = []
    assert platform.run(job.execution_id, seconds=90, on_job=launched.append)["status"] == "SUCCEEDED"
    assert len(launched) == 6
    for cloud_job in launched:
        if block["backend"] == "sagemaker":
            passed = {k for k in cloud_job.hyperparameters if not k.startswith("sagemaker_")}
            hyperparameters = cloud_job.hyperparameters
        else:
            command = cloud_job.events[-1]["detail"]["container"]["command"]
            passed = {arg[2:] for arg in command if arg.startswith("--")}
            hyperparameters = json.loads(cloud_job.environment["HYPERSTEP_HYPERPARAMETERS"])
        assert passed == set(hyperparameters) == issue10.active(hyperparameters), cloud_job

    status, listed = call_api(stack, "GET", f"/jobs/{job.id}/trials")
    assert status == 200
    trials = listed["trials"]
    assert len(trials) == 6 and all(t["state"] == "completed" for t in trials)
    assert any(len(t["params"]) < 4 for t in trials)  # some trial left a conditional parameter out
    for t in trials:
        assert set(t["params"]) == issue10.active(t["params"])
        sent = platform.values[t["id"]]
        assert t["values"] == pytest.approx([sent["accuracy"], sent["model_kb"]])
        assert t["metrics"]["latency_ms"] == pytest.approx(sent["latency_ms"])
    status, detail = call_api(stack, "GET", f"/jobs/{job.id}")
    assert status == 200 and detail["status"] == "completed"
    feasible = [t for t in trials if t["metrics"]["latency_ms"] <= 50]
    front = [
        t["id"]
        for t in feasible
        if not any(
            o["values"][0] >= t["values"][0] and o["values"][1] <= t["values"][1] and o["values"] != t["values"]
            for o in feasible
        )
    ]
    assert detail["pareto_front"] == front != []


def test_the_enqueued_points_are_the_first_training_jobs_with_exactly_those_hyperparameters(
    stack: MotoStack,
) -> None:
    """The spec's ``enqueue`` through ``POST /jobs``: trial 1 trains the whole point as given,
    trial 2 the partial one's fixed name with the strategy's value for the other."""
    document = {**spec_for(SAGEMAKER_BLOCK), "enqueue": [{"lr": 0.003, "layers": 2}, {"layers": 4}]}
    job = submit_through_the_api(stack, document)
    assert job.execution_id is not None
    platform = TrainingPlatform(stack, job.id, "sagemaker", val_loss, "val_loss")
    launched: list[Launched] = []
    assert platform.run(job.execution_id, seconds=60, on_job=launched.append)["status"] == "SUCCEEDED"
    trials = stack.service.store.list_trials(job.id)
    sent = {t.id: {k: v for k, v in c.hyperparameters.items() if not k.startswith("sagemaker_")} for t in trials
            for c in launched if c.name == t.backend_ref}  # fmt: skip
    assert len(sent) == TRIALS
    assert sent["t0001"] == {"lr": "0.003", "layers": "2"}
    assert sent["t0002"]["layers"] == "4" and sent["t0002"]["lr"] == str(trials[1].params["lr"])
    assert [t.params for t in trials[:2]] == [{"lr": 0.003, "layers": 2}, {"lr": trials[1].params["lr"], "layers": 4}]
