"""The Batch backend against AWS's service model (Stubber) and moto."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from hyperstep.backends.batch import BatchBackend, build_request
from hyperstep.backends.naming import BATCH_STOP_REASON
from hyperstep.errors import LaunchError
from hyperstep.models import Job, Trial
from hyperstep.spec import parse_spec
from tests.integration.aws_model import violations

BLOCK: dict[str, Any] = {
    "backend": "batch",
    "job_queue": "hyperstep-queue",
    "job_definition": "mnist-train",
    "command": ["python", "train.py"],
    "environment": {"LOG_LEVEL": "info"},
    "vcpus": 2,
    "memory_mib": 4096,
    "timeout_seconds": 1800,
    "retry_attempts": 2,
    "tags": {"team": "ml-research"},
    "propagate_tags": True,
    "metric_definitions": [{"name": "val_loss", "regex": "val_loss=([0-9.eE+-]+)"}],
}
PARAMS = {"lr": 0.0031, "batch_size": 64, "optimizer": "adam"}
TRIAL = Trial(job_id="mnist-3f2a9c1b7d4e", id="t0007", number=7, params=PARAMS)
NAME = "hs-mnist-3f2a9c1b7d4e-t0007-1"
TIMED_OUT = "Job attempt duration exceeded timeout"
JOB_ID = "4c7599ae-0a82-49aa-ba5a-4727fcce14a8"


def make_job(**block: Any) -> Job:
    spec = parse_spec(
        {
            "name": "mnist",
            "objective": {"metric": "val_loss"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}],
            "budget": {"max_trials": 10},
            "trial": {**BLOCK, **block},
        }
    )
    return Job(id="mnist-3f2a9c1b7d4e", spec=spec)


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def stubbed(aws_credentials: None) -> Iterator[tuple[BatchBackend, Stubber]]:
    client = boto3.client("batch", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield BatchBackend(client, event_bus="hyperstep-bus"), stubber
        stubber.assert_no_pending_responses()


def no_existing_job(stubber: Stubber) -> None:
    stubber.add_response(
        "list_jobs",
        {"jobSummaryList": []},
        {"jobQueue": "hyperstep-queue", "filters": [{"name": "JOB_NAME", "values": [NAME]}]},
    )


# --- the request ------------------------------------------------------------------------


@pytest.mark.parametrize("block", [{}, {"vcpus": 0.25, "memory_mib": 512, "gpus": 1, "tags": {}}])
def test_request_satisfies_the_service_model(block: dict[str, Any]) -> None:
    request = build_request(make_job(**block), TRIAL, NAME, "hyperstep-bus")
    assert violations("batch", "SubmitJob", request) == []


def test_request_appends_script_mode_arguments_and_identity() -> None:
    request = build_request(make_job(), TRIAL, NAME, "hyperstep-bus")
    overrides = request["containerOverrides"]
    assert overrides["command"] == ["python", "train.py", "--lr", "0.0031", "--batch_size", "64", "--optimizer", "adam"]
    env = {kv["name"]: kv["value"] for kv in overrides["environment"]}
    assert env["HYPERSTEP_JOB_ID"] == "mnist-3f2a9c1b7d4e" and env["HYPERSTEP_TRIAL_ID"] == "t0007"
    assert env["HYPERSTEP_HYPERPARAMETERS"] == '{"batch_size": 64, "lr": 0.0031, "optimizer": "adam"}'
    assert env["HYPERSTEP_EVENT_BUS"] == "hyperstep-bus" and env["LOG_LEVEL"] == "info"
    assert overrides["resourceRequirements"] == [{"type": "VCPU", "value": "2"}, {"type": "MEMORY", "value": "4096"}]
    assert request["timeout"] == {"attemptDurationSeconds": 1800}
    assert request["retryStrategy"] == {"attempts": 2}
    own = {"hyperstep:job-id": "mnist-3f2a9c1b7d4e", "hyperstep:trial-id": "t0007"}
    assert request["tags"] == {"team": "ml-research", **own}
    assert request["propagateTags"] is True


# --- launch / stop / describe through a stubbed client --------------------------------


def test_launch_sends_exactly_the_request(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    job = make_job()
    no_existing_job(stubber)
    arn = f"arn:aws:batch:us-east-1:123456789012:job/{JOB_ID}"
    stubber.add_response(
        "submit_job",
        {"jobArn": arn, "jobName": NAME, "jobId": JOB_ID},
        build_request(job, TRIAL, NAME, "hyperstep-bus"),
    )
    assert backend.launch(job, TRIAL) == JOB_ID


def test_relaunch_returns_the_job_already_submitted(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    summaries = [
        {"jobId": "a-different-case", "jobName": NAME.upper()},  # JOB_NAME matches case-insensitively
        {"jobId": JOB_ID, "jobName": NAME, "status": "RUNNING"},
    ]
    stubber.add_response("list_jobs", {"jobSummaryList": summaries})
    assert backend.launch(make_job(), TRIAL) == JOB_ID  # and no submit_job call


def test_rejected_submission_is_a_launch_error(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    no_existing_job(stubber)
    stubber.add_client_error("submit_job", "ClientException", "Job definition mnist-train does not exist", 400)
    with pytest.raises(LaunchError, match="does not exist"):
        backend.launch(make_job(), TRIAL)


def test_server_errors_propagate_for_a_retry(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    no_existing_job(stubber)
    stubber.add_client_error("submit_job", "ServerException", "internal error", 500)
    with pytest.raises(Exception, match="ServerException"):
        backend.launch(make_job(), TRIAL)


def test_stop_terminates_with_hyperstep_reason(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    stubber.add_response("terminate_job", {}, {"jobId": JOB_ID, "reason": BATCH_STOP_REASON})
    backend.stop(make_job(), TRIAL.model_copy(update={"backend_ref": JOB_ID}))


def job_detail(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "jobName": NAME,
        "jobId": JOB_ID,
        "jobQueue": "arn:aws:batch:us-east-1:123456789012:job-queue/hyperstep-queue",
        "status": status,
        "startedAt": 1764198060411,
        "jobDefinition": "arn:aws:batch:us-east-1:123456789012:job-definition/mnist-train:3",
        **extra,
    }


@pytest.mark.parametrize(
    ("detail", "state", "error"),
    [
        (job_detail("SUCCEEDED", statusReason="Essential container in task exited"), "completed", None),
        (job_detail("FAILED", statusReason=BATCH_STOP_REASON), "stopped", BATCH_STOP_REASON),
        (
            job_detail("FAILED", statusReason="Essential container in task exited", container={"exitCode": 137}),
            "failed",
            "Essential container in task exited; exit code 137",
        ),
        (job_detail("FAILED", statusReason=TIMED_OUT), "failed", TIMED_OUT),
        (job_detail("RUNNABLE"), None, None),
        (job_detail("RUNNING"), None, None),
    ],
)  # fmt: skip
def test_describe_maps_status(
    stubbed: tuple[BatchBackend, Stubber], detail: dict[str, Any], state: str | None, error: str | None
) -> None:
    backend, stubber = stubbed
    stubber.add_response("describe_jobs", {"jobs": [detail]}, {"jobs": [JOB_ID]})
    result = backend.describe(make_job(), TRIAL.model_copy(update={"backend_ref": JOB_ID}))
    if state is None:
        assert result is None
    else:
        assert result is not None and (result.state, result.metrics, result.error) == (state, {}, error)


def test_describe_of_a_trial_never_submitted_is_none(stubbed: tuple[BatchBackend, Stubber]) -> None:
    backend, stubber = stubbed
    no_existing_job(stubber)
    assert backend.describe(make_job(), TRIAL) is None


# --- moto -------------------------------------------------------------------------------


def batch_environment() -> None:
    """A queue and a job definition on an unmanaged compute environment in a moto VPC."""
    ec2, iam, batch = (boto3.client(s, region_name="us-east-1") for s in ("ec2", "iam", "batch"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")
    ec2.create_security_group(GroupName="hyperstep", Description="hyperstep trials", VpcId=vpc)
    role = iam.create_role(RoleName="hyperstep-batch", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    env = batch.create_compute_environment(
        computeEnvironmentName="hyperstep-ce", type="UNMANAGED", state="ENABLED", serviceRole=role
    )
    batch.create_job_queue(
        jobQueueName="hyperstep-queue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName="mnist-train",
        type="container",
        containerProperties={
            "image": "busybox:latest",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "512"}],
        },
    )


def test_launch_describe_and_relaunch_under_moto(aws_credentials: None) -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        batch_environment()
        client = boto3.client("batch", region_name="us-east-1")
        backend = BatchBackend(client, event_bus="hyperstep-bus")
        job = make_job()
        job_id = backend.launch(job, TRIAL)
        assert backend.launch(job, TRIAL) == job_id  # found by name, not submitted twice
        listed = client.list_jobs(jobQueue="hyperstep-queue", filters=[{"name": "JOB_NAME", "values": [NAME]}])
        assert [j["jobId"] for j in listed["jobSummaryList"]] == [job_id]
        detail = client.describe_jobs(jobs=[job_id])["jobs"][0]
        assert detail["jobName"] == NAME
        assert detail["container"]["command"][-2:] == ["--optimizer", "adam"]
        tags = client.list_tags_for_resource(resourceArn=detail["jobArn"])["tags"]
        assert tags["hyperstep:trial-id"] == "t0007"
        # moto runs the job synchronously to SUCCEEDED; metrics come only from reported events
        result = backend.describe(job, TRIAL.model_copy(update={"backend_ref": job_id}))
        assert result is not None and (result.state, result.metrics) == ("completed", {})
        # the reaper can find a trial whose reference was never recorded
        assert backend.describe(job, TRIAL) == result
