"""The platforms the backend contract suite runs on, one per registered backend.

A ``Platform`` holds a backend's adapter and plays the world it runs trials in: it keeps
a launched trial running (``hold``), ends it as the platform would (``end``: stopped when
the backend asked it to stop, else completed with ``loss=0.25``), counts the copies of a
trial it started (``copies``) and gives the event it emits at a trial's end
(``end_event``), shaped as the real one is.

- local: real processes of a small script that waits for its release file;
- sagemaker: moto's SageMaker, which ends every training job at once and has no
  StopTrainingJob, so the platform sets each job's status as AWS would, and refuses a
  second job of the same name as AWS does (moto would overwrite it);
- batch: moto's Batch (no Docker), which ends every job at once and only flags a
  terminated one, so the platform sets each job's status as AWS would;
- simulated: the simulated backend on a virtual clock, its events caught as the local
  runtime's bus would carry them; a trial's timeline is ``contract_curve`` below (three
  steps over an hour, the last ``loss=0.25``), and ``end`` delivers its events in time order.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from hyperstep.backends.base import TrialBackend
from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.backends.simulated.adapter import SimulatedBackend
from hyperstep.backends.simulated.clock import VirtualClock
from hyperstep.backends.simulated.events import event_of
from hyperstep.messages import TrialEvent, TrialResult
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec

REPO = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "us-east-1"
METRICS = [{"name": "loss", "regex": r"loss=([0-9.eE+-]+)"}]
FINAL_LOSS = 0.25


def sample(name: str) -> dict[str, Any]:
    """One of the sample events in ``events/``."""
    return json.loads((REPO / "events" / f"{name}.json").read_text())


def envelope(template: dict[str, Any], source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    """An EventBridge event around ``detail`` (JSON only, as EventBridge delivers it)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {**template, "source": source, "detail-type": detail_type, "time": now, "detail": detail}
    return json.loads(json.dumps(event, default=str))


def job_with(block: dict[str, Any], job_id: str = "contract-0123456789ab") -> Job:
    spec = parse_spec(
        {
            "name": "contract",
            "objective": {"metric": "loss"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}],
            "budget": {"max_trials": 4},
            "trial": {**block, "metric_definitions": METRICS},
        }
    )
    return Job(id=job_id, spec=spec)


class Platform(ABC):
    """One backend's adapter and the platform it runs trials on."""

    name: str
    backend: TrialBackend

    @abstractmethod
    def job(self) -> Job:
        """A job whose trials run on this backend."""

    @abstractmethod
    def hold(self, job: Job, trial: Trial) -> None:
        """Keep the launched trial running until ``end``."""

    @abstractmethod
    def end(self, job: Job, trial: Trial) -> None:
        """End the trial as the platform would: stopped if asked to stop, else completed."""

    @abstractmethod
    def copies(self, job: Job, trial: Trial) -> int:
        """How many copies of the trial the platform started."""

    @abstractmethod
    def end_event(self, job: Job, trial: Trial) -> dict[str, Any]:
        """The event the platform emitted when the trial ended."""


class LocalPlatform(Platform):
    name = "local"
    SCRIPT = """
import os, pathlib, time
here = pathlib.Path(__file__).parent
trial = os.environ["HYPERSTEP_TRIAL_ID"]
with open(here / "starts", "a") as starts:
    starts.write(trial + "\\n")
while not (here / f"release-{trial}").exists():
    time.sleep(0.01)
print("loss=0.25", flush=True)
"""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        (tmp_path / "train.py").write_text(self.SCRIPT)
        self.results: dict[str, TrialResult] = {}
        self.ended = threading.Condition()
        self.backend = LocalProcessBackend(tmp_path / "runs", self._on_result)

    def _on_result(self, result: TrialResult) -> None:
        with self.ended:
            self.results[result.trial_id] = result
            self.ended.notify_all()

    def job(self) -> Job:
        return job_with({"backend": "local", "command": ["python", "train.py"], "workdir": str(self.dir)})

    def hold(self, job: Job, trial: Trial) -> None:
        """The script runs until its release file appears."""

    def end(self, job: Job, trial: Trial) -> None:
        (self.dir / f"release-{trial.id}").touch()  # a stopped process is gone already
        with self.ended:
            assert self.ended.wait_for(lambda: trial.id in self.results, timeout=60), "the process did not end"

    def copies(self, job: Job, trial: Trial) -> int:
        starts = self.dir / "starts"
        return starts.read_text().split().count(trial.id) if starts.exists() else 0

    def end_event(self, job: Job, trial: Trial) -> dict[str, Any]:
        """What the local runtime publishes on the in-process bus for the result."""
        detail = self.results[trial.id].model_dump(mode="json")
        return envelope(sample("trial-metric-reported"), LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, detail)


class SageMakerPlatform(Platform):
    name = "sagemaker"

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.core.responses import EmptyResult
        from moto.sagemaker.exceptions import ValidationError
        from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
        from moto.sagemaker.responses import SageMakerResponse

        self.jobs = sagemaker_backends[ACCOUNT][REGION].training_jobs
        self.created: list[str] = []
        create = SageMakerModelBackend.create_training_job

        def create_once(backend: Any, training_job_name: str, *args: Any, **kwargs: Any) -> Any:
            if training_job_name in backend.training_jobs:
                raise ValidationError(
                    "Training job names must be unique within an AWS account and region, "
                    "and a training job with this name already exists"
                )
            self.created.append(training_job_name)
            return create(backend, training_job_name, *args, **kwargs)

        def stop(response: SageMakerResponse) -> EmptyResult:
            name = response._get_param("TrainingJobName")
            response.sagemaker_backend.training_jobs[name].training_job_status = "Stopping"
            return EmptyResult()

        monkeypatch.setattr(SageMakerModelBackend, "create_training_job", create_once)
        monkeypatch.setattr(SageMakerResponse, "stop_training_job", stop, raising=False)
        self.client = boto3.client("sagemaker", region_name=REGION)
        self.backend = SageMakerBackend(self.client, event_bus="hyperstep-bus")

    def job(self) -> Job:
        return job_with(
            {
                "backend": "sagemaker",
                "training_image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/train:1",
                "instance_type": "ml.m5.xlarge",
                "role_arn": f"arn:aws:iam::{ACCOUNT}:role/HyperstepSageMakerRole",
                "output_path": "s3://hyperstep-contract/output",
            }
        )

    def _name(self, trial: Trial) -> str:
        (name,) = [n for n in self.created if n.endswith(f"-{trial.id}-1")]
        return name

    def hold(self, job: Job, trial: Trial) -> None:
        found = self.jobs[self._name(trial)]
        found.training_job_status, found.secondary_status = "InProgress", "Training"

    def end(self, job: Job, trial: Trial) -> None:
        found = self.jobs[self._name(trial)]
        if found.training_job_status == "Stopping":
            found.training_job_status, found.secondary_status = "Stopped", "Stopped"
            found.final_metric_data_list = []
        else:
            found.training_job_status, found.secondary_status = "Completed", "Completed"
            stamp = datetime.now(UTC)
            found.final_metric_data_list = [{"MetricName": "loss", "Value": FINAL_LOSS, "Timestamp": stamp}]

    def copies(self, job: Job, trial: Trial) -> int:
        return sum(name.endswith(f"-{trial.id}-1") for name in self.created)

    def end_event(self, job: Job, trial: Trial) -> dict[str, Any]:
        """A "SageMaker Training Job State Change": the job's ``DescribeTrainingJob`` fields
        and its tags as a map."""
        found = self.client.describe_training_job(TrainingJobName=self._name(trial))
        tags = {t["Key"]: t["Value"] for t in self.client.list_tags(ResourceArn=found["TrainingJobArn"])["Tags"]}
        template = sample("sagemaker-training-job-state-change-completed")
        detail = {k: v for k, v in found.items() if k != "ResponseMetadata"} | {"Tags": tags}
        return envelope(template, template["source"], template["detail-type"], detail)


class BatchPlatform(Platform):
    name = "batch"
    QUEUE, DEFINITION = "hyperstep-queue", "train"

    def __init__(self) -> None:
        from moto.batch.models import batch_backends

        self.moto = batch_backends[ACCOUNT][REGION]
        self.client = boto3.client("batch", region_name=REGION)
        self._environment()
        self.backend = BatchBackend(self.client, event_bus="hyperstep-bus", logs=boto3.client("logs", REGION))

    def _environment(self) -> None:
        """A queue and a job definition on an unmanaged compute environment in a moto VPC."""
        ec2, iam = boto3.client("ec2", region_name=REGION), boto3.client("iam", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
        role = iam.create_role(RoleName="hyperstep-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        env = self.client.create_compute_environment(
            computeEnvironmentName="hyperstep-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
        )
        self.client.create_job_queue(
            jobQueueName=self.QUEUE,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
        )
        self.client.register_job_definition(
            jobDefinitionName=self.DEFINITION,
            type="container",
            containerProperties={"image": "busybox:latest", "command": ["true"], "vcpus": 1, "memory": 512},
        )

    def job(self) -> Job:
        return job_with(
            {
                "backend": "batch",
                "job_queue": self.QUEUE,
                "job_definition": self.DEFINITION,
                "command": ["python", "train.py"],
                "timeout_seconds": 600,
            }
        )

    def _jobs(self, trial: Trial) -> list[Any]:
        return [j for j in self.moto._jobs.values() if j.job_name.endswith(f"-{trial.id}-1")]

    def hold(self, job: Job, trial: Trial) -> None:
        (found,) = self._jobs(trial)
        found.status = "RUNNING"

    def end(self, job: Job, trial: Trial) -> None:
        (found,) = self._jobs(trial)
        found.status = "FAILED" if found.stop else "SUCCEEDED"  # moto only flags a terminated job

    def copies(self, job: Job, trial: Trial) -> int:
        return len(self._jobs(trial))

    def end_event(self, job: Job, trial: Trial) -> dict[str, Any]:
        """A "Batch Job State Change": the job's ``DescribeJobs`` detail."""
        (found,) = self._jobs(trial)
        (detail,) = self.client.describe_jobs(jobs=[found.job_id])["jobs"]
        template = sample("batch-job-state-change-succeeded")
        return envelope(template, template["source"], template["detail-type"], detail)


def contract_curve(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The simulated trials' callable: an hour, three steps, ending at ``FINAL_LOSS``."""
    return {"duration": 3600.0, "curve": [0.9, 0.5, FINAL_LOSS]}


class SimulatedPlatform(Platform):
    name = "simulated"

    def __init__(self) -> None:
        self.clock = VirtualClock(1_700_000_000.0)
        self.published: list[TrialEvent] = []
        self.backend = SimulatedBackend(self.clock, self.published.append)

    def job(self) -> Job:
        return job_with({"backend": "simulated", "objective": "tests.contract.backend_platforms:contract_curve"})

    def hold(self, job: Job, trial: Trial) -> None:
        """A simulated trial runs until its events are delivered."""

    def end(self, job: Job, trial: Trial) -> None:
        assert isinstance(self.backend, SimulatedBackend)
        while self.backend.deliver_next(job.id):
            pass

    def copies(self, job: Job, trial: Trial) -> int:
        """Each copy would publish its own end."""
        return sum(isinstance(e, TrialResult) and e.trial_id == trial.id for e in self.published)

    def end_event(self, job: Job, trial: Trial) -> dict[str, Any]:
        """What the local runtime publishes on its bus for the trial's result."""
        (result,) = [e for e in self.published if isinstance(e, TrialResult) and e.trial_id == trial.id]
        source, detail_type, detail = event_of(result)
        return envelope(sample("trial-metric-reported"), source, detail_type, detail)


@contextmanager
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's AWS (Batch without Docker) with fake credentials."""
    from moto import mock_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws(config={"batch": {"use_docker": False}}):
        yield
