"""The harness's moto behaves as AWS does where hyperstep depends on it (``aws_like``).

Each of these fails on plain moto: a training job is Completed at once there, a second one
of the same name replaces the first, StopTrainingJob is not implemented, a Batch job is
SUCCEEDED at once, and nothing is ever throttled.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hyperstep.backends.batch import adapter as batch_backend
from hyperstep.backends.sagemaker import adapter as sagemaker_backend
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.integration.aws_like import CloudJobs, aws_like_jobs
from tests.integration.moto_harness import REGION, MotoStack, moto_stack
from tests.integration.moto_platform import create_batch_environment
from tests.integration.test_moto_tuning_job import BATCH_BLOCK, SAGEMAKER_BLOCK, spec_for

THROTTLED = "hs-j-t0009-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})


@pytest.fixture
def aws() -> Iterator[tuple[MotoStack, CloudJobs]]:
    with moto_stack() as stack, aws_like_jobs(lambda kind, name: name == THROTTLED) as jobs:
        create_batch_environment()
        yield stack, jobs


def job_and_trial(block: dict, number: int = 1) -> tuple[Job, Trial]:
    job = Job(id="j", spec=parse_spec(spec_for(block)))
    return job, Trial(job_id="j", id=f"t{number:04d}", number=number, params={"lr": 0.01, "layers": 2})


def create_training_job(stack: MotoStack, number: int = 1) -> str:
    job, trial = job_and_trial(SAGEMAKER_BLOCK, number)
    name = f"hs-j-t{number:04d}-1"
    stack.sagemaker.create_training_job(**sagemaker_backend.build_request(job, trial, name))
    return name


def submit_job(stack: MotoStack, number: int = 1) -> str:
    job, trial = job_and_trial(BATCH_BLOCK, number)
    return stack.batch.submit_job(**batch_backend.build_request(job, trial, f"hs-j-t{number:04d}-1"))["jobId"]


def test_a_training_job_runs_until_ended_then_describe_shows_its_end(aws: tuple[MotoStack, CloudJobs]) -> None:
    stack, jobs = aws
    name = create_training_job(stack)
    found = stack.sagemaker.describe_training_job(TrainingJobName=name)
    assert found["TrainingJobStatus"] == "InProgress" and "FinalMetricDataList" not in found
    assert found["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "val_loss", "Regex": "val_loss=([0-9.eE+-]+)"}
    ]
    (cloud,) = jobs.take_new()
    assert (cloud.tuning_job, cloud.trial_id, jobs.peak["j"]) == ("j", "t0001", 1)
    assert jobs.end_sagemaker(cloud, "Completed", final={"val_loss": 0.25})
    found = stack.sagemaker.describe_training_job(TrainingJobName=name)
    assert (found["TrainingJobStatus"], found["SecondaryStatus"]) == ("Completed", "Completed")
    assert [(m["MetricName"], m["Value"]) for m in found["FinalMetricDataList"]] == [("val_loss", 0.25)]
    assert not jobs.end_sagemaker(cloud, "Failed")  # an ended job stays ended


def test_a_failed_training_job_shows_its_failure_reason(aws: tuple[MotoStack, CloudJobs]) -> None:
    stack, jobs = aws
    name = create_training_job(stack)
    jobs.end_sagemaker(jobs.take_new()[0], "Failed", "AlgorithmError: ExitCode 1")
    found = stack.sagemaker.describe_training_job(TrainingJobName=name)
    assert (found["TrainingJobStatus"], found["FailureReason"]) == ("Failed", "AlgorithmError: ExitCode 1")


def test_a_second_training_job_of_the_same_name_is_refused(aws: tuple[MotoStack, CloudJobs]) -> None:
    stack, _ = aws
    create_training_job(stack)
    with pytest.raises(ClientError) as refused:
        create_training_job(stack)
    assert refused.value.response["Error"]["Code"] == "ResourceInUse"


def test_stop_training_job_stops_a_running_job_and_refuses_an_ended_one(aws: tuple[MotoStack, CloudJobs]) -> None:
    stack, jobs = aws
    name = create_training_job(stack)
    stack.sagemaker.stop_training_job(TrainingJobName=name)
    assert stack.sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
    (stopping,) = jobs.take_stopped()
    jobs.end_sagemaker(stopping, "Stopped")
    with pytest.raises(ClientError) as refused:
        stack.sagemaker.stop_training_job(TrainingJobName=name)
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_a_batch_job_runs_until_ended_and_describe_shows_status_reason_and_exit_code(
    aws: tuple[MotoStack, CloudJobs],
) -> None:
    stack, jobs = aws
    job_id = submit_job(stack)
    assert stack.batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] == "RUNNING"
    jobs.end_batch(jobs.take_new()[0], False, 1, "Essential container in task exited")
    (found,) = stack.batch.describe_jobs(jobs=[job_id])["jobs"]
    assert (found["status"], found["statusReason"]) == ("FAILED", "Essential container in task exited")
    assert found["container"]["exitCode"] == 1


def test_terminate_job_asks_the_platform_to_end_a_running_job_with_the_reason(
    aws: tuple[MotoStack, CloudJobs],
) -> None:
    stack, jobs = aws
    job_id = submit_job(stack)
    stack.batch.terminate_job(jobId=job_id, reason="Stopped by hyperstep")
    (stopping,) = jobs.take_stopped()
    assert stopping.stop_reason == "Stopped by hyperstep"
    jobs.end_batch(stopping, False, 143, stopping.stop_reason)
    assert stack.batch.describe_jobs(jobs=[job_id])["jobs"][0]["statusReason"] == "Stopped by hyperstep"
    stack.batch.terminate_job(jobId=job_id, reason="again")  # an ended job: nothing happens
    assert jobs.take_stopped() == []


def test_throttled_launches_answer_as_sagemaker_and_batch_do(aws: tuple[MotoStack, CloudJobs]) -> None:
    _, jobs = aws
    sagemaker = boto3.client("sagemaker", region_name=REGION, config=NO_RETRIES)
    job, trial = job_and_trial(SAGEMAKER_BLOCK, 9)
    with pytest.raises(ClientError) as throttled:
        sagemaker.create_training_job(**sagemaker_backend.build_request(job, trial, THROTTLED))
    assert throttled.value.response["Error"]["Code"] == "ThrottlingException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    batch = boto3.client("batch", region_name=REGION, config=NO_RETRIES)
    job, trial = job_and_trial(BATCH_BLOCK, 9)
    with pytest.raises(ClientError) as throttled:
        batch.submit_job(**batch_backend.build_request(job, trial, THROTTLED))
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert jobs.take_new() == [] and dict(jobs.throttled) == {"sagemaker": 1, "batch": 1}
