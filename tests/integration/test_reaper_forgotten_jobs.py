"""A trial whose platform job its platform no longer knows is timed out, not kept running.

Batch keeps a job's record for about a day after it ends (``DescribeJobs`` then returns an
empty list) and SageMaker answers ``DescribeTrainingJob`` of an unknown name with a
``ValidationException`` ("Requested resource not found"). A trial whose end event was lost
and whose job has been forgotten is failed "timed out" by the reaper past its time limit and
the grace. On Batch, the timeout's ``TerminateJob`` of the forgotten job raised
``ClientException`` (moto: "Job not found", as AWS answers an identifier that is not valid):
the reaper raised on every pass and the trial stayed running, holding its slot and budget,
so the job never ended.
"""

from __future__ import annotations

import boto3
from botocore.exceptions import ClientError
from moto import mock_aws

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import Clock
from tests.integration.test_batch_backend import batch_environment, make_job
from tests.unit.test_order_free_results import make_service

GRACE = 300.0


def test_a_batch_trial_whose_job_batch_forgot_is_timed_out(aws_credentials: None) -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        clock = Clock()
        backend = BatchBackend(boto3.client("batch", region_name="us-east-1"), "hyperstep-bus")
        service = TuningService(SQLiteStore(clock=clock), {"batch": backend})
        job = service.create_job(make_job().spec, job_id="mnist-3f2a9c1b7d4e")
        (trial,) = Study.from_job(service.store, job).ask(1)
        service.store.start_trial(job.id, trial.id, "4c7599ae-0a82-49aa-ba5a-000000000000")  # unknown to Batch
        clock.now += job.spec.trial.running_limit_seconds() + GRACE + 1
        counts = service.reap(grace_seconds=GRACE)
        ended = service.store.get_trial(job.id, trial.id)
        assert (ended.state, ended.error, counts["timed_out"]) == (TrialState.FAILED, "timed out", 1)


def test_a_sagemaker_trial_whose_training_job_sagemaker_does_not_know_is_timed_out(aws_credentials: None) -> None:
    with mock_aws():
        service, job, clock, _ = make_service("sagemaker", 1)
        client = boto3.client("sagemaker", region_name="us-east-1")

        def stop_training_job(TrainingJobName: str) -> None:  # moto has none: AWS's answer for an unknown name
            error = {"Code": "ValidationException", "Message": f"Requested resource not found: {TrainingJobName}"}
            raise ClientError({"Error": error}, "StopTrainingJob")

        client.stop_training_job = stop_training_job
        service.backends["sagemaker"] = SageMakerBackend(client, "bus")
        clock.now += job.spec.trial.running_limit_seconds() + GRACE + 1
        counts = service.reap(grace_seconds=GRACE)
        ended = service.store.get_trial(job.id, "t0001")
        assert (ended.state, ended.error, counts["timed_out"]) == (TrialState.FAILED, "timed out", 1)
