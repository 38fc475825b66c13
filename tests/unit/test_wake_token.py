"""``wake()`` against what moto never does: a SendTaskSuccess that fails (throttled past the
SDK's retries, a 5xx) and two wakers racing on one parked token.

Step Functions' SendTaskSuccess reference lists ``TaskTimedOut`` ("The task token has either
expired or the task associated with the token has already been closed", the SDK reference's
wording), ``InvalidToken`` and ``TaskDoesNotExist`` as the answers for a token nobody waits on
(https://docs.aws.amazon.com/goto/WebAPI/states-2016-11-23/SendTaskSuccess); throttling and
5xx answers are common errors, raised past botocore's retries."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.messages import SuggestRequest
from hyperstep.service import TuningService, parked
from hyperstep.stores.sqlite import SQLiteStore
from tests.unit.test_service import FakeBackend, FakeOrchestrator, submit

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:hyperstep-tuning"


@pytest.fixture
def stepfunctions(aws_credentials: None) -> tuple[TuningService, Stubber]:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    submit(service)
    service.suggest(SuggestRequest(job_id="job"))
    client = boto3.client("stepfunctions", region_name="us-east-1")
    service.orchestrator = StepFunctionsOrchestrator(client, MACHINE)  # wakes go to Step Functions' model
    service.store.put_task_token("job", parked("round-1", 8))
    return service, Stubber(client)


def test_a_throttled_send_leaves_the_token_for_the_next_waker(stepfunctions) -> None:
    service, stubber = stepfunctions
    stubber.add_client_error("send_task_success", "ThrottlingException", "Rate exceeded", 400)
    stubber.add_response("send_task_success", {}, {"taskToken": "round-1", "output": ANY})
    with stubber:
        with pytest.raises(ClientError, match="ThrottlingException"):
            service.wake("job")
        assert service.wake("job")  # the reaper's next pass, or the next result, sends it
        stubber.assert_no_pending_responses()
    assert service.store.take_task_token("job") is None


def test_a_5xx_send_leaves_the_token_and_a_dead_token_is_dropped(stepfunctions) -> None:
    service, stubber = stepfunctions
    stubber.add_client_error("send_task_success", "ServiceUnavailable", "unavailable", 503)
    stubber.add_client_error("send_task_success", "TaskTimedOut", "Task Timed Out", 400)
    with stubber:
        with pytest.raises(ClientError, match="ServiceUnavailable"):
            service.wake("job")
        assert not service.wake("job")  # the round timed out meanwhile: nothing waits on it
    assert service.store.take_task_token("job") is None  # a dead token is not kept


class BlockingOrchestrator(FakeOrchestrator):
    """Holds the first send until released, then fails it as a throttled call."""

    def __init__(self) -> None:
        super().__init__()
        self.sending, self.release = threading.Event(), threading.Event()
        self.calls = 0

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        self.calls += 1
        if self.calls == 1:
            self.sending.set()
            self.release.wait(10)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "SendTaskSuccess")
        return super().send_task_success(token, output)


def wake_in_thread(service: TuningService) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            service.wake("job")
        except ClientError as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, raised


@pytest.fixture
def blocking() -> tuple[TuningService, BlockingOrchestrator]:
    orchestrator = BlockingOrchestrator()
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, orchestrator)
    submit(service)
    service.suggest(SuggestRequest(job_id="job"))
    service.store.put_task_token("job", parked("round-1", 8))
    return service, orchestrator


def test_two_wakes_send_the_token_once_and_a_failed_one_hands_it_on(blocking) -> None:
    service, orchestrator = blocking
    first, raised = wake_in_thread(service)
    assert orchestrator.sending.wait(10)
    assert not service.wake("job")  # the first waker holds it: no second send of one token
    orchestrator.release.set()
    first.join(10)
    assert raised and orchestrator.calls == 1
    assert service.wake("job")  # put back: the next waker sends it
    assert [token for token, _ in orchestrator.woken] == ["round-1"]
    assert orchestrator.woken[0][1]["history_events"] == 8  # put back as parked, its round's history count too


def test_a_failed_send_does_not_replace_the_next_rounds_token(blocking) -> None:
    """The Wait timed out (its ``TimeoutSecondsPath``) while the send was in flight, and the
    next round parked its own token: the dead one put back over it would lose that round."""
    service, orchestrator = blocking
    first, raised = wake_in_thread(service)
    assert orchestrator.sending.wait(10)
    service.store.put_task_token("job", parked("round-2", 20))
    orchestrator.release.set()
    first.join(10)
    assert raised and service.wake("job")
    assert [token for token, _ in orchestrator.woken] == ["round-2"]
