"""Trials priced under moto: the path from a platform's end to the trial's cost.

moto keeps no ``BillableTimeInSeconds`` (its jobs start and end at once): where a test needs
one, it adds it to moto's ``DescribeTrainingJob`` answer as AWS gives it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.events import parse_event
from hyperstep.messages import LaunchRequest
from hyperstep.models import Job, TrialState
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.integration.test_batch_backend import batch_environment
from tests.integration.test_batch_backend import make_job as batch_job
from tests.integration.test_sagemaker_backend import make_job as sagemaker_job
from tests.unit.test_order_free_results import end_event

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sagemaker_end(job: Job, trial_id: str, name: str) -> dict[str, Any]:
    """AWS's Completed sample event for this trial's training job: no BillableTimeInSeconds."""
    event = json.loads((EVENTS / "sagemaker-training-job-state-change-completed.json").read_text())
    event["detail"].update(TrainingJobName=name, Tags={"hyperstep:job-id": job.id, "hyperstep:trial-id": trial_id})
    event["detail"]["FinalMetricDataList"] = [{"MetricName": "val_loss", "Value": 0.25}]
    return event


def billed(client: Any, seconds: int, training: int) -> list[str]:
    """Make moto's DescribeTrainingJob answer carry AWS's billing fields; the calls, as they come."""
    calls: list[str] = []

    def add(parsed: dict[str, Any], **_: Any) -> None:
        calls.append(parsed["TrainingJobName"])
        parsed["BillableTimeInSeconds"] = seconds
        parsed["TrainingTimeInSeconds"] = training
        parsed["TrainingEndTime"] = parsed["TrainingStartTime"] + timedelta(seconds=training)

    client.meta.events.register("after-call.sagemaker.DescribeTrainingJob", add)
    return calls


@pytest.mark.usefixtures("aws_credentials")
@pytest.mark.parametrize("spot", [False, True])
def test_a_sagemaker_trial_is_priced_from_describe_training_job_when_its_end_event_has_no_billable_time(
    spot: bool,
) -> None:
    """Managed spot: 900 billable of 3,600 training seconds, so a quarter of the on-demand price."""
    block = {"use_spot": True, "max_wait_seconds": 7200} if spot else {}
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-west-2")
        calls = billed(client, seconds=900 if spot else 3600, training=3600)
        service = TuningService(SQLiteStore(), {"sagemaker": SageMakerBackend(client, "hyperstep-bus")})
        spec = sagemaker_job(instance_count=2, **block).spec
        job = service.create_job(spec, job_id="mnist-3f2a9c1b7d4e")
        (trial,) = Study.from_job(service.store, job).ask(1)
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
        name = service.store.get_trial(job.id, trial.id).backend_ref
        parsed = parse_event(sagemaker_end(job, trial.id, name))
        assert parsed is not None and parsed.usage is None
        assert service.record(parsed)
    assert calls == [name]  # one DescribeTrainingJob: the final metrics and the billable time
    done = service.store.get_trial(job.id, trial.id)
    seconds = 900 if spot else 3600
    assert done.state is TrialState.COMPLETED and done.billable_seconds == seconds
    assert done.cost_usd == pytest.approx(2 * 0.23 * seconds / 3600)
    assert done.cost_basis == "2 x ml.m5.xlarge at $0.23/h (us-west-2 list price 2026-11-30)"
    assert service.store.get_job(job.id).cost_usd == pytest.approx(done.cost_usd)


@pytest.mark.usefixtures("aws_credentials")
def test_a_sagemaker_trial_without_billing_fields_is_priced_from_its_training_start_to_end() -> None:
    with mock_aws():
        client = boto3.client("sagemaker", region_name="us-east-1")
        service = TuningService(SQLiteStore(), {"sagemaker": SageMakerBackend(client, "hyperstep-bus")})
        job = service.create_job(sagemaker_job().spec, job_id="mnist-3f2a9c1b7d4e")
        (trial,) = Study.from_job(service.store, job).ask(1)
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
        name = service.store.get_trial(job.id, trial.id).backend_ref
        assert service.record(parse_event(sagemaker_end(job, trial.id, name)))
    done = service.store.get_trial(job.id, trial.id)
    assert done.billable_seconds == 0 and done.cost_usd == 0  # moto's jobs start and end at once


@pytest.mark.usefixtures("aws_credentials")
def test_a_batch_trial_completed_by_its_late_final_report_is_priced_from_describe_jobs() -> None:
    """The SUCCEEDED event came first (the trial awaits its final report, the event's usage
    is not kept); the final report completes it, and collect reads what the job ran."""
    from moto.batch.models import batch_backends

    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        backend = BatchBackend(boto3.client("batch", region_name="us-east-1"), "hyperstep-bus")
        service = TuningService(SQLiteStore(), {"batch": backend})
        job = service.create_job(batch_job().spec, job_id="mnist-3f2a9c1b7d4e")
        (trial,) = Study.from_job(service.store, job).ask(1)
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
        batch_id = service.store.get_trial(job.id, trial.id).backend_ref
        ran = batch_backends["123456789012"]["us-east-1"].get_job_by_id(batch_id)
        for attempt in ran.attempts:  # moto's job ran for no time: make it 10 minutes
            attempt["stoppedAt"] = attempt["startedAt"] + 600_000
        parsed = parse_event(end_event("batch", job.id, trial.id))
        assert parsed is not None and not service.record(parsed)
        assert service.report_metrics(job.id, trial.id, {"val_loss": 0.3})
    done = service.store.get_trial(job.id, trial.id)
    assert done.state is TrialState.COMPLETED and done.billable_seconds == pytest.approx(600, abs=1)
    # moto's job definition: 1 vCPU, 512 MiB, on EC2 (no FARGATE capability): the per-vCPU estimate
    assert done.cost_usd == pytest.approx(0.048 * done.billable_seconds / 3600)
    assert "estimate" in (done.cost_basis or "")
