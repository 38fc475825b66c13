"""Which failed starts are known to have started nothing, over botocore's retries.

A job whose start fails is announced failed at once only when no execution can have begun
(``Orchestrator.started_nothing``); else the reaper announces it after ``PUBLISH_GRACE_SECONDS``
(15 minutes) in case that execution takes the job back. botocore retries StartExecution on
throttling and on 5xx answers and timeouts, and raises the last attempt's error only.

Each attempt is answered here as Step Functions answers on the wire (``before-send``: an
``application/x-amz-json-1.0`` body with ``__type``; botocore parses it and retries it as it
would AWS's), or not answered at all (a read timeout). Codes: StartExecution's own errors
from its service model (botocore's ``stepfunctions`` model, ``StartExecution.errors``); the
common ones from AWS's "Common Errors" (``ThrottlingException``, HTTP 400: "The request was
denied due to request throttling"; ``AccessDeniedException``; ``ServiceUnavailable``, 503).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.models import JobStatus
from hyperstep.service import START_FAILED, TuningService
from hyperstep.spec import parse_spec
from hyperstep.wiring import LazyClient
from tests.conftest import spec_document
from tests.integration.moto_stores import store_under_moto
from tests.integration.test_completion_events import MACHINE, REGION, Bus
from tests.unit.test_service import FakeBackend

Answer = tuple[int, str] | None
"""An attempt's answer: (HTTP status, error code), or None for none (a read timeout)."""


class Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def answered(answers: list[Answer]) -> StepFunctionsOrchestrator:
    """The adapter on a real client (standard retries, ``len(answers)`` attempts at most)
    whose StartExecution attempts get ``answers`` in turn."""
    config = Config(retries={"mode": "standard", "total_max_attempts": len(answers)})
    client = boto3.client("stepfunctions", region_name=REGION, config=config)
    left = list(answers)

    def send(request: Any, **_: Any) -> AWSResponse:
        answer = left.pop(0)
        if answer is None:
            raise ReadTimeoutError(endpoint_url=request.url)
        status, code = answer
        body = json.dumps({"__type": code, "message": "answered by the test"}).encode()
        headers = {"x-amzn-RequestId": "r", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, status, headers, Body(body))

    client.meta.events.register_first("before-send.sfn.StartExecution", send)
    return StepFunctionsOrchestrator(client, MACHINE)


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> None:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda seconds: None)


THROTTLED, DENIED = (400, "ThrottlingException"), (400, "AccessDeniedException")
LIMIT, UNAVAILABLE = (400, "ExecutionLimitExceeded"), (503, "ServiceUnavailable")


@pytest.mark.parametrize(
    ("answers", "nothing"),
    [
        ([THROTTLED, THROTTLED, THROTTLED], True),  # throttled on every attempt: denied each time
        ([DENIED], True),  # the role may not StartExecution
        ([THROTTLED, LIMIT], True),
        ([None, THROTTLED, THROTTLED], False),  # the first attempt may have started it
        ([UNAVAILABLE, THROTTLED], False),
        ([THROTTLED, UNAVAILABLE], False),
        ([None, LIMIT], False),
    ],
)
def test_a_start_started_nothing_only_if_every_attempt_was_refused(answers: list[Answer], nothing: bool) -> None:
    """Before: a throttled start (``ThrottlingException``, not among StartExecution's own
    errors) or one denied by IAM was "unknown", its failure announced 15 minutes late; and an
    own error after a retried timeout was "refused", though the timed-out attempt may have
    started the execution."""
    orchestrator = answered(answers)
    with pytest.raises(ClientError) as raised:
        orchestrator.start_execution("job", "job-abc")
    assert raised.value.response["ResponseMetadata"]["RetryAttempts"] == len(answers) - 1
    assert orchestrator.started_nothing(raised.value) is nothing


def test_a_throttled_start_announces_its_failure_at_once() -> None:
    with mock_aws():
        store, bus = store_under_moto("dynamodb"), Bus()
        service = TuningService(store, {"local": FakeBackend()}, answered([THROTTLED] * 3), bus.publisher)
        with pytest.raises(ClientError, match="ThrottlingException"):
            service.submit(parse_spec(spec_document()), job_id="job")
        job = store.get_job("job")
        assert job.status is JobStatus.FAILED and (job.error or "").startswith(START_FAILED)
        assert bus.completions() == [("job", "failed")]


def test_a_start_that_timed_out_then_was_throttled_defers_its_failure() -> None:
    with mock_aws():
        store, bus = store_under_moto("dynamodb"), Bus()
        service = TuningService(store, {"local": FakeBackend()}, answered([None, THROTTLED]), bus.publisher)
        with pytest.raises(ClientError, match="ThrottlingException"):
            service.submit(parse_spec(spec_document()), job_id="job")
        assert store.get_job("job").status is JobStatus.FAILED and bus.completions() == []


def test_the_adapter_makes_no_client_until_it_starts_an_execution() -> None:
    """A cold start that starts nothing (Collect, the API's reads) must not build Step
    Functions' client (``wiring.LazyClient``): the attempts' listener waits for a start."""
    made: list[str] = []

    def make(service: str) -> Any:
        made.append(service)
        return answered([THROTTLED]).client

    orchestrator = StepFunctionsOrchestrator(LazyClient(make, "stepfunctions"), MACHINE)
    assert made == []
    with pytest.raises(ClientError) as raised:
        orchestrator.start_execution("job", "job-1")
    assert made == ["stepfunctions"]
    assert orchestrator.started_nothing(raised.value)
