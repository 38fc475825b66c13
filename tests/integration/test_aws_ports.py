"""The AWS adapters of the orchestrator and publisher ports, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.ports import execution_arn

WAITING = {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 300, "End": True}}}


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    credentials = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    for key, value in credentials.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("stepfunctions")


def machine(sfn: Any) -> str:
    role = "arn:aws:iam::123456789012:role/tuning"
    return sfn.create_state_machine(name="tuning", definition=json.dumps(WAITING), roleArn=role)["stateMachineArn"]


def test_starting_the_same_execution_twice_gives_one_execution(sfn: Any) -> None:
    """A retried hand-over (same name, same input) must not start a second loop."""
    orchestrator = StepFunctionsOrchestrator(sfn, machine(sfn))
    first = orchestrator.start_execution("job-1", "job-1-abc")
    assert orchestrator.start_execution("job-1", "job-1-abc") == first
    assert first == execution_arn(orchestrator.state_machine_arn, "job-1-abc")
    executions = sfn.list_executions(stateMachineArn=orchestrator.state_machine_arn)["executions"]
    assert [e["name"] for e in executions] == ["job-1-abc"]
    assert json.loads(sfn.describe_execution(executionArn=first)["input"]) == {"job_id": "job-1"}


def test_a_closed_execution_of_that_name_is_returned_not_raised(sfn: Any) -> None:
    orchestrator = StepFunctionsOrchestrator(sfn, machine(sfn))
    first = orchestrator.start_execution("job-1", "job-1-abc")
    sfn.stop_execution(executionArn=first)
    assert orchestrator.start_execution("job-1", "job-1-abc") == first
