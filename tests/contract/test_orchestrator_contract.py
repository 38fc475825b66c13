"""The ``Orchestrator`` contract, run over each adapter and its engine.

- ``local``: ``LocalOrchestrator`` over the local engine (``hyperstep.asl``);
- ``stepfunctions``: ``StepFunctionsOrchestrator`` over moto's Step Functions engine
  (its Lambda invocations routed to the test's function, as in the ASL parity test).

Each engine runs one state machine: a ``lambda:invoke.waitForTaskToken`` Task that parks
its token (``$$.Task.Token``) with a function, as Suggest Trials does, and ends with the
output ``send_task_success`` sends. What the service relies on:

- ``start_execution(job_id, name)`` starts one execution with input ``{"job_id": job_id}``
  and returns its ARN (``execution_arn(machine, name)``);
- starting the same name again while it runs returns the same execution (a retried
  hand-over starts no second loop); once it has closed, raises ``ExecutionClosedError``
  with its ARN (Step Functions: ``ExecutionAlreadyExists``, the name taken for 90 days);
- ``send_task_success(token, output)`` resumes the execution parked on ``token`` with
  ``output`` and says True; a token nobody waits on (unknown, or spent) gives False.
- ``describe_execution(id)`` gives the execution as its status-change event would (its
  ARN, machine, name, status and input), None for one not known.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws
from moto.awslambda.models import LambdaBackend
from moto.awslambda_simple.models import LambdaSimpleBackend

from hyperstep.asl.executor import Executor
from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.errors import ExecutionClosedError
from hyperstep.local.runtime import LocalOrchestrator
from hyperstep.ports import Orchestrator, execution_arn

REGION, ACCOUNT = "us-east-1", "123456789012"
PARK_FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:park"
PARKING = {
    "StartAt": "Wait For Wake",
    "States": {
        "Wait For Wake": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {
                "FunctionName": PARK_FUNCTION,
                "Payload": {"job_id.$": "$.job_id", "task_token.$": "$$.Task.Token"},
            },
            "End": True,
        }
    },
}


@dataclass
class Parked:
    """Task tokens the parking function received, per job."""

    tokens: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def park(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        with self.lock:
            self.tokens.setdefault(event["job_id"], []).append(event["task_token"])
        return {}

    def token(self, job_id: str, seconds: float = 10) -> str:
        """The job's parked token, once there is one."""
        deadline = time.monotonic() + seconds
        while not self.tokens.get(job_id):
            assert time.monotonic() < deadline, f"no task token parked for {job_id} within {seconds} s"
            time.sleep(0.01)
        return self.tokens[job_id][0]


@dataclass
class Engine:
    """An orchestrator and what the test reads of the engine behind it."""

    orchestrator: Orchestrator
    machine_arn: str
    parked: Parked
    ended: Callable[[str], tuple[str, Any]]
    """``ended(arn)``: the execution's final status and output, once it has ended."""
    executions: Callable[[], list[tuple[str, Any]]]
    """Every execution of the machine: (name, input)."""


def local_engine() -> Iterator[Engine]:
    parked = Parked()
    executor = Executor(PARKING, lambda name: parked.park, sleep=lambda _: None)

    def ended(arn: str) -> tuple[str, Any]:
        result = executor.execution(arn).wait(10)
        return result.status, result.output

    try:
        yield Engine(
            LocalOrchestrator(executor),
            executor.state_machine_arn,
            parked,
            ended,
            lambda: [(e.name, e.input) for e in executor.executions()],
        )
    finally:
        executor.stop_all()


def routed_invoke(parked: Parked) -> Callable[..., bytes]:
    """moto's Lambda ``invoke`` runs the parking function (moto runs no code without Docker)."""

    def invoke(self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any) -> bytes:
        return json.dumps(parked.park(json.loads(body or "{}"))).encode()

    return invoke


def moto_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    parked = Parked()
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with (
        mock_aws(config=config),  # type: ignore[arg-type]
        mock.patch.object(LambdaBackend, "invoke", routed_invoke(parked)),
        mock.patch.object(LambdaSimpleBackend, "invoke", routed_invoke(parked)),
    ):
        sfn = boto3.client("stepfunctions")
        role = f"arn:aws:iam::{ACCOUNT}:role/tuning"
        machine = sfn.create_state_machine(name="tuning", definition=json.dumps(PARKING), roleArn=role)
        machine_arn = machine["stateMachineArn"]

        def ended(arn: str) -> tuple[str, Any]:
            deadline = time.monotonic() + 10
            while (description := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                assert time.monotonic() < deadline, f"{arn} still running"
                time.sleep(0.02)
            return description["status"], json.loads(description.get("output", "null"))

        def executions() -> list[tuple[str, Any]]:
            listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
            inputs = [json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed]
            return [(e["name"], i) for e, i in zip(listed, inputs)]

        try:
            yield Engine(StepFunctionsOrchestrator(sfn, machine_arn), machine_arn, parked, ended, executions)
        finally:
            for execution in sfn.list_executions(stateMachineArn=machine_arn, statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"])


@pytest.fixture(params=["local", "stepfunctions"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from local_engine() if request.param == "local" else moto_engine(monkeypatch)


def test_start_runs_one_execution_of_that_name_with_the_job_as_input(engine: Engine) -> None:
    arn = engine.orchestrator.start_execution("job-1", "job-1-abc")
    assert arn == execution_arn(engine.machine_arn, "job-1-abc")
    engine.parked.token("job-1")
    assert engine.executions() == [("job-1-abc", {"job_id": "job-1"})]


def test_a_parked_task_resumes_with_the_output_sent(engine: Engine) -> None:
    arn = engine.orchestrator.start_execution("job-1", "job-1-abc")
    output = {"job_id": "job-1", "done": True, "results": 3, "active": 0}
    assert engine.orchestrator.send_task_success(engine.parked.token("job-1"), output) is True
    assert engine.ended(arn) == ("SUCCEEDED", output)


def test_a_token_nobody_waits_on_is_refused_with_false(engine: Engine) -> None:
    arn = engine.orchestrator.start_execution("job-1", "job-1-abc")
    token = engine.parked.token("job-1")
    assert engine.orchestrator.send_task_success("0" * 64, {"done": True}) is False  # unknown
    assert engine.orchestrator.send_task_success(token, {"done": True}) is True
    engine.ended(arn)
    assert engine.orchestrator.send_task_success(token, {"done": True}) is False  # spent


def test_starting_the_same_name_while_it_runs_gives_the_same_execution(engine: Engine) -> None:
    """A retried hand-over (same name, same input) must not start a second loop."""
    first = engine.orchestrator.start_execution("job-1", "job-1-abc")
    assert engine.orchestrator.start_execution("job-1", "job-1-abc") == first
    engine.parked.token("job-1")
    assert engine.executions() == [("job-1-abc", {"job_id": "job-1"})]
    assert len(engine.parked.tokens["job-1"]) == 1


def test_a_closed_execution_of_that_name_is_raised_with_its_id(engine: Engine) -> None:
    first = engine.orchestrator.start_execution("job-1", "job-1-abc")
    engine.orchestrator.send_task_success(engine.parked.token("job-1"), {"done": True})
    engine.ended(first)
    with pytest.raises(ExecutionClosedError) as closed:
        engine.orchestrator.start_execution("job-1", "job-1-abc")
    assert closed.value.execution_id == first
    assert engine.executions() == [("job-1-abc", {"job_id": "job-1"})]


def test_an_execution_is_described_as_its_status_change_event_would_be(engine: Engine) -> None:
    """What the reaper asks of a job no round waits on (``close_ended_execution`` reads it as
    the lost "Execution Status Change" event); an execution not known here is None."""
    arn = engine.orchestrator.start_execution("job-1", "job-1-abc")
    token = engine.parked.token("job-1")
    running = engine.orchestrator.describe_execution(arn)
    assert running is not None and (running.execution_arn, running.status, running.job_id) == (arn, "RUNNING", "job-1")
    assert running.state_machine_arn == engine.machine_arn and running.name == "job-1-abc"
    engine.orchestrator.send_task_success(token, {"done": True})
    engine.ended(arn)
    ended = engine.orchestrator.describe_execution(arn)
    assert ended is not None and ended.status == "SUCCEEDED"
    assert engine.orchestrator.describe_execution(execution_arn(engine.machine_arn, "never-started")) is None


def test_a_start_is_known_to_have_started_nothing_only_when_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """What decides whether a failed start's job is announced failed at once (``TuningService
    .start_execution``): StartExecution's own errors (its service model's: a state machine
    that does not exist, here from moto) refuse the start; a server error or a lost answer
    (the execution may run and take its job back) leaves it unknown."""
    for key, value in {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        sfn = boto3.client("stepfunctions")
        orchestrator = StepFunctionsOrchestrator(sfn, f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:gone")
        with pytest.raises(ClientError) as refused:
            orchestrator.start_execution("job-1", "job-1-abc")
        assert refused.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
        assert orchestrator.started_nothing(refused.value)
        server = ClientError({"Error": {"Code": "InternalFailure", "Message": "x"}}, "StartExecution")
        assert not orchestrator.started_nothing(server)
        assert not orchestrator.started_nothing(ReadTimeoutError(endpoint_url="https://states"))


def answering_already_exists(described: dict[str, Any] | str) -> tuple[StepFunctionsOrchestrator, str]:
    """The Step Functions adapter on a real client (botocore's Stubber) whose StartExecution
    answers ``ExecutionAlreadyExists`` and whose DescribeExecution of that name then answers
    ``described`` (a response's fields, or an error code); the adapter and the name's ARN."""
    client = boto3.client("stepfunctions", region_name=REGION)
    machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:hyperstep-tuning"
    arn = execution_arn(machine, "job-1-abc")
    stubber = Stubber(client)
    stubber.add_client_error("start_execution", service_error_code="ExecutionAlreadyExists", http_status_code=400)
    if isinstance(described, str):
        stubber.add_client_error("describe_execution", service_error_code=described, http_status_code=400)
    else:
        started = {"executionArn": arn, "stateMachineArn": machine, "startDate": datetime.now(UTC)}
        stubber.add_response("describe_execution", {**started, **described}, {"executionArn": arn})
    stubber.activate()
    return StepFunctionsOrchestrator(client, machine), arn


@pytest.mark.parametrize("status", ["RUNNING", "PENDING_REDRIVE"])
def test_a_redriven_execution_of_that_name_is_returned_as_running(status: str) -> None:
    """``RedriveExecution`` reopens a closed execution under its same ARN ("Redriving
    executions", Developer Guide); StartExecution's reference says Success for the same name
    and input while "the original execution is open", ExecutionAlreadyExists once "closed",
    and nothing of a redriven one. Answered ExecutionAlreadyExists, the adapter asks
    DescribeExecution: open again, it is the running execution (before: ``ExecutionClosedError``,
    and Suggest closed the job its own redriven execution runs, or a start began a second
    loop under the seed's next name)."""
    orchestrator, arn = answering_already_exists({"status": status, "redriveCount": 1})
    assert orchestrator.start_execution("job-1", "job-1-abc") == arn


@pytest.mark.parametrize("described", [{"status": "FAILED", "redriveCount": 1}, "ExecutionDoesNotExist"])
def test_a_name_answered_already_exists_and_not_open_is_closed(described: dict[str, Any] | str) -> None:
    orchestrator, arn = answering_already_exists(described)
    with pytest.raises(ExecutionClosedError) as closed:
        orchestrator.start_execution("job-1", "job-1-abc")
    assert closed.value.execution_id == arn


def test_a_name_answered_already_exists_whose_describe_fails_leaves_unknown_what_runs() -> None:
    """Throttled (a refusal for StartExecution itself): an execution holds the name, and the
    failed start must not be announced as one that started nothing."""
    orchestrator, _ = answering_already_exists("ThrottlingException")
    with pytest.raises(ClientError) as throttled:
        orchestrator.start_execution("job-1", "job-1-abc")
    assert not orchestrator.started_nothing(throttled.value)
