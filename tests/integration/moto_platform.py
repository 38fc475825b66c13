"""The training platform, played by the test: SageMaker or Batch "train" what hyperstep launched.

moto creates training jobs and Batch jobs but never runs them, and neither service emits
state-change events there. ``TrainingPlatform`` finds the jobs hyperstep started (in moto's
SageMaker or Batch), computes each trial's objective from the hyperparameters the job
carries, and delivers the events AWS would send to the collect function, built from the
samples in ``events/``: a "SageMaker Training Job State Change" (Completed, with
``FinalMetricDataList``), or for Batch first the "Trial Metric Reported" event exactly as
``hyperstep.reporting.report`` publishes it from the container, then "Batch Job State
Change" (SUCCEEDED).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from hyperstep.backends.naming import ENV_JOB_ID, ENV_TRIAL_ID, TAG_JOB_ID, TAG_TRIAL_ID
from hyperstep.backends.sagemaker.adapter import SageMakerBackend, build_request
from hyperstep.reporting import report
from tests.integration.moto_harness import ACCOUNT, REGION, REPO, MotoStack

Objective = Callable[[dict[str, str]], float | dict[str, float]]
"""A training job's outcome from its hyperparameters: the objective's value, or every metric it reports."""
BATCH_QUEUE, BATCH_DEFINITION = "hyperstep-queue", "train"
SAGEMAKER_COPIED = (
    "AlgorithmSpecification",
    "RoleArn",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "InputDataConfig",
)
"""Fields of ``DescribeTrainingJob`` the event repeats (JSON-safe ones; times stay the sample's)."""


def sample(name: str) -> dict[str, Any]:
    """One of the sample events in ``events/``."""
    return json.loads((REPO / "events" / f"{name}.json").read_text())


def envelope(template: dict[str, Any], detail: dict[str, Any], resources: list[str]) -> dict[str, Any]:
    """A fresh EventBridge envelope (new id and time) around ``detail``."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {**template, "id": str(uuid.uuid4()), "time": now, "resources": resources, "detail": detail}


@dataclass(frozen=True)
class Launched:
    """A job hyperstep started on the platform: its name, hyperparameters and end event(s)."""

    name: str
    hyperparameters: dict[str, str]
    events: list[dict[str, Any]]
    environment: dict[str, str]
    """The container's environment hyperstep set (job, trial, event bus): what ``report`` reads."""


def create_batch_environment() -> None:
    """A queue and a job definition on an unmanaged compute environment in a moto VPC."""
    ec2, iam, batch = (boto3.client(s, region_name=REGION) for s in ("ec2", "iam", "batch"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
    ec2.create_security_group(GroupName="hyperstep-trials", Description="hyperstep trials", VpcId=vpc)
    role = iam.create_role(RoleName="hyperstep-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    env = batch.create_compute_environment(
        computeEnvironmentName="hyperstep-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    batch.create_job_queue(
        jobQueueName=BATCH_QUEUE,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName=BATCH_DEFINITION,
        type="container",
        containerProperties={
            "image": "busybox:latest",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )


class _Captured:
    """An EventBridge client that keeps the ``PutEvents`` entries ``report`` sends."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.entries.extend(Entries)
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(uuid.uuid4())} for _ in Entries]}


def reported_event(
    metrics: dict[str, float], environment: dict[str, str], step: int | None = None, final: bool | None = None
) -> dict[str, Any]:
    """The "Trial Metric Reported" event a container's ``report(metrics, step, final)`` produces in
    ``environment``: final without a step, intermediate with one, unless ``final`` says otherwise."""
    client = _Captured()
    report(metrics, step, final, environ=environment, client=client, stream=_Silent())
    (entry,) = client.entries
    template = {**sample("trial-metric-reported"), "source": entry["Source"], "detail-type": entry["DetailType"]}
    return envelope(template, json.loads(entry["Detail"]), [])


IDENTITY = (
    "TrainingJobName",
    "TrainingJobArn",
    "HyperParameters",
    "Tags",
    "jobArn",
    "jobName",
    "jobId",
    "jobQueue",
    "tags",
)


def restate(event: dict[str, Any], sample_name: str) -> dict[str, Any]:
    """The same cloud job's event in another state: ``sample_name``'s detail with the job's
    names, ids, tags and container environment (a fresh id and time)."""
    other = sample(sample_name)
    detail = copy.deepcopy(other["detail"])
    detail.update({k: v for k, v in event["detail"].items() if k in IDENTITY})
    if "container" in detail and "container" in event["detail"]:
        detail["container"]["environment"] = event["detail"]["container"]["environment"]
    return envelope(other, detail, event["resources"])


class _Silent:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


class TrainingPlatform:
    """Finds jobs hyperstep launched on ``backend`` and turns them into end events."""

    def __init__(
        self,
        stack: MotoStack,
        job_id: str,
        backend: str,
        objective: Objective,
        metric: str,
        fails: Callable[[dict[str, str]], bool] = lambda _: False,
    ) -> None:
        self.stack, self.job_id, self.backend = stack, job_id, backend
        self.objective, self.metric, self.fails = objective, metric, fails
        """``fails(hyperparameters)``: whether that job fails (SageMaker's Failed event) instead."""
        self.seen: set[str] = set()
        """Names of the cloud jobs of this tuning job already handled."""
        self.others: set[str] = set()
        """Names of cloud jobs that belong to other tuning jobs."""
        self.values: dict[str, float | dict[str, float]] = {}
        """Objective value (or metrics) per trial id, as the platform computed it."""

    def metrics_of(self, value: float | dict[str, float]) -> dict[str, float]:
        """The metrics a job reports: the objective's value, or every metric ``objective`` gave."""
        return dict(value) if isinstance(value, dict) else {self.metric: value}

    def new_jobs(self) -> list[Launched]:
        """Jobs launched since the last call, with the events that end them."""
        fresh = self._sagemaker() if self.backend == "sagemaker" else self._batch()
        self.seen.update(job.name for job in fresh)
        return fresh

    def _sagemaker(self) -> list[Launched]:
        client, out = self.stack.sagemaker, []
        for page in client.get_paginator("list_training_jobs").paginate(NameContains="hs-"):
            for summary in page["TrainingJobSummaries"]:
                name = summary["TrainingJobName"]
                if name in self.seen or name in self.others:
                    continue
                found = client.describe_training_job(TrainingJobName=name)
                tags = {t["Key"]: t["Value"] for t in client.list_tags(ResourceArn=found["TrainingJobArn"])["Tags"]}
                if tags.get(TAG_JOB_ID) != self.job_id:
                    self.others.add(name)
                    continue
                out.append(self._sagemaker_job(found, tags))
        return out

    def _sagemaker_job(self, found: dict[str, Any], tags: dict[str, str]) -> Launched:
        template = sample("sagemaker-training-job-state-change-completed")
        detail = copy.deepcopy(template["detail"])
        value = self.objective(found["HyperParameters"])
        self.values[tags[TAG_TRIAL_ID]] = value
        metrics = self.metrics_of(value)
        stamp = str(int(time.time() * 1000))
        for key in SAGEMAKER_COPIED:
            detail.pop(key, None)
            if key in found:
                detail[key] = found[key]
        detail.update(
            TrainingJobName=found["TrainingJobName"],
            TrainingJobArn=found["TrainingJobArn"],
            HyperParameters=found["HyperParameters"],
            Tags=tags,
            FinalMetricDataList=[{"MetricName": k, "Value": v, "Timestamp": stamp} for k, v in metrics.items()],
        )
        event = envelope(template, detail, [found["TrainingJobArn"]])
        if self.fails(found["HyperParameters"]):
            del self.values[tags[TAG_TRIAL_ID]]
            event = restate(event, "sagemaker-training-job-state-change-failed")
        environment = self._sagemaker_environment(found, tags)
        return Launched(found["TrainingJobName"], found["HyperParameters"], [event], environment)

    def _sagemaker_environment(self, found: dict[str, Any], tags: dict[str, str]) -> dict[str, str]:
        """The training job's ``Environment``, which moto does not keep: rebuilt from the
        trial as the backend built its ``CreateTrainingJob`` request."""
        store, backend = self.stack.service.store, self.stack.service.backends["sagemaker"]
        assert isinstance(backend, SageMakerBackend)
        job, trial = store.get_job(self.job_id), store.get_trial(self.job_id, tags[TAG_TRIAL_ID])
        request = build_request(job, trial, found["TrainingJobName"], backend.event_bus, secrets=backend.secrets)
        return dict(request["Environment"])

    def _batch(self) -> list[Launched]:
        client, out = self.stack.batch, []
        summaries = [
            s
            for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
            for page in client.get_paginator("list_jobs").paginate(jobQueue=BATCH_QUEUE, jobStatus=status)
            for s in page["jobSummaryList"]
        ]
        fresh = [s["jobId"] for s in summaries if s["jobName"] not in self.seen | self.others]
        for found in client.describe_jobs(jobs=fresh)["jobs"] if fresh else []:
            env = {kv["name"]: kv["value"] for kv in found["container"]["environment"]}
            if env.get(ENV_JOB_ID) != self.job_id:
                self.others.add(found["jobName"])
                continue
            out.append(self._batch_job(found, env))
        return out

    def _batch_job(self, found: dict[str, Any], env: dict[str, str]) -> Launched:
        params = json.loads(env["HYPERSTEP_HYPERPARAMETERS"])
        strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        value = self.objective(strings)
        self.values[env[ENV_TRIAL_ID]] = value
        metrics = self.metrics_of(value)
        template = sample("batch-job-state-change-succeeded")
        detail = copy.deepcopy(template["detail"])
        container = {**detail["container"], **{k: found["container"][k] for k in ("command", "environment")}}
        tags = {**found.get("tags", {}), "resourceArn": found["jobArn"]}
        detail.update(
            jobArn=found["jobArn"],
            jobName=found["jobName"],
            jobId=found["jobId"],
            jobQueue=found["jobQueue"],
            container=container,
            tags=tags,
        )
        events = [reported_event(metrics, env), envelope(template, detail, [found["jobArn"]])]
        return Launched(found["jobName"], strings, events, env)

    def step_reported(self, job: Launched, step: int, value: float) -> dict[str, Any]:
        """The event of the job's script reporting the objective at ``step``
        (``hyperstep.report({metric: value}, step=step)``)."""
        return reported_event({self.metric: value}, job.environment, step)

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        """Hand one event to the collect function, as the EventBridge rule's target."""
        return self.stack.invoke("collect", event)

    def run(self, execution_arn: str, seconds: float = 60, on_job: Callable[[Launched], None] | None = None) -> Any:
        """Complete every launched job until the execution ends; its final description."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for job in self.new_jobs():
                for event in job.events:
                    assert self.deliver(event) == {"recorded": True}, event
                if on_job is not None:
                    on_job(job)
            description = self.stack.status(execution_arn)
            if description["status"] != "RUNNING":
                return description
            time.sleep(0.02)
        raise AssertionError(f"execution still running after {seconds} s")


__all__ = ["ACCOUNT", "BATCH_DEFINITION", "BATCH_QUEUE", "Launched", "TrainingPlatform", "create_batch_environment"]
