"""A recurring schedule's tick delivered more than once starts one job, under moto.

EventBridge Scheduler invokes the start function asynchronously: Lambda retries a failed
invocation twice with the same event (and request id), and its queue may deliver an event
twice anyway. Each delivery of one tick must come to the same job: the first attempt's,
carried on (its execution started if it never was), never a second job. The deployed path
(``moto_harness``: the start function in-process, DynamoDB and Step Functions in moto); the
schedule made through ``RecurringSchedules`` on moto's Scheduler, its tick read back from
the schedule's target as Scheduler would deliver it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest

from hyperstep.aws import StepFunctionsOrchestrator
from hyperstep.models import Job, JobStatus
from hyperstep.recurring import RecurringSchedules
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from tests.integration.moto_harness import MotoStack, function_name, moto_stack
from tests.integration.test_moto_tuning_job import PARAMETERS, SAGEMAKER_BLOCK, call_api
from tests.lambda_context import LambdaContext
from tests.scheduler_ticks import delivered

OWNER = "arn:aws:iam::123456789012:user/alice"
GROUP = "hyperstep"
START_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name('start')}"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/hyperstep-scheduler"


@pytest.fixture
def stack() -> Iterator[MotoStack]:
    with moto_stack() as deployed:
        yield deployed


def nightly(stack: MotoStack, name: str = "nightly") -> str:
    """Make the schedule (the spec kept in the table) and return its stored target input."""
    client = stack.session.client("scheduler")
    client.create_schedule_group(Name=GROUP)
    document = {
        "name": name,
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "random", "seed": 1},
        "budget": {"max_trials": 2, "max_parallel": 1},
        "trial": SAGEMAKER_BLOCK,
        "schedule": "cron(0 3 * * ? *)",
    }
    schedules = RecurringSchedules(client, GROUP, START_ARN, SCHEDULER_ROLE)
    created = schedules.create(parse_spec(document), OWNER, stack.service.store)
    return client.get_schedule(Name=created.schedule_name, GroupName=GROUP)["Target"]["Input"]


def jobs_of(stack: MotoStack, name: str = "nightly") -> list[Job]:
    return [job for job in stack.service.store.list_jobs() if job.spec.name == name]


def executions_of(stack: MotoStack, job: Job) -> list[dict[str, Any]]:
    listed = stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
    return [e for e in listed if e["name"].startswith(job.id[:60])]


def first_attempt_fails(stack: MotoStack, tick: dict[str, Any], target: type, method: str, error: str) -> None:
    """Deliver the tick while ``target.method`` raises ``error``: the invocation fails (Lambda
    will retry it)."""
    with (
        mock.patch.object(target, method, side_effect=RuntimeError(error)),
        pytest.raises(AssertionError, match=error),
    ):
        stack.invoke("start", tick)


def test_the_same_tick_delivered_twice_starts_one_job_and_one_execution(stack: MotoStack) -> None:
    tick = delivered(nightly(stack))
    first = stack.invoke("start", tick)
    again = stack.invoke("start", tick)
    (job,) = jobs_of(stack)
    assert first["job_id"] == again["job_id"] == job.id
    assert again["execution_id"] == first["execution_id"] == job.execution_id
    assert len(executions_of(stack, job)) == 1


def test_a_retry_after_the_start_failed_starts_the_job_the_first_attempt_created(stack: MotoStack) -> None:
    tick = delivered(nightly(stack))
    first_attempt_fails(stack, tick, StepFunctionsOrchestrator, "start_execution", "ExecutionLimitExceeded")
    (failed,) = jobs_of(stack)
    assert failed.status is JobStatus.FAILED and failed.execution_id is None
    retried = stack.invoke("start", tick)  # Lambda's retry: the same event
    (job,) = jobs_of(stack)
    assert retried["job_id"] == job.id == failed.id
    assert job.status is JobStatus.RUNNING and job.execution_id == retried["execution_id"]
    assert job.id in {j.id for j in stack.service.store.list_unfinished_jobs()}  # reopened: the reaper sees it
    assert len(executions_of(stack, job)) == 1
    stack.invoke("start", tick)  # a third delivery changes nothing
    assert [j.id for j in jobs_of(stack)] == [job.id] and len(executions_of(stack, job)) == 1


def test_a_retry_after_an_unrecorded_start_records_the_execution_that_started(stack: MotoStack) -> None:
    """The execution started but the attempt died before writing its id down: the retry asks
    for the same execution name, and Step Functions hands back the running one."""
    tick = delivered(nightly(stack))
    first_attempt_fails(stack, tick, TuningService, "_record_execution", "the function timed out")
    (started,) = jobs_of(stack)
    assert started.execution_id is None and len(executions_of(stack, started)) == 1
    retried = stack.invoke("start", tick)
    (job,) = jobs_of(stack)
    assert job.id == started.id and job.execution_id == retried["execution_id"]
    assert [e["executionArn"] for e in executions_of(stack, job)] == [job.execution_id]


def test_a_later_tick_is_another_tick(stack: MotoStack) -> None:
    """The next day's tick, its first run still going, is skipped (as before): not mistaken
    for a repeat of the first."""
    stored = nightly(stack)
    first = stack.invoke("start", delivered(stored, "2026-11-27T03:00:00Z"))
    later = stack.invoke("start", delivered(stored, "2026-11-28T03:00:00Z"))
    assert later == {"skipped": "the previous run is still going"}
    assert [j.id for j in jobs_of(stack)] == [first["job_id"]]


def test_a_tick_of_a_schedule_made_before_it_carried_its_time_is_kept_once_by_lambdas_retries(
    stack: MotoStack,
) -> None:
    """An input without ``scheduled_time``: Lambda's retries carry the same request id."""
    tick = delivered(nightly(stack))
    del tick["scheduled_time"]
    context = LambdaContext(function_name("start"), START_ARN, 512, "b3f5c0de-retried-request")
    refused = RuntimeError("ExecutionLimitExceeded")
    with (
        mock.patch.object(StepFunctionsOrchestrator, "start_execution", side_effect=refused),
        pytest.raises(RuntimeError),
    ):
        stack.run("start", tick, context)
    retried = stack.run("start", tick, context)
    (job,) = jobs_of(stack)
    assert retried["job_id"] == job.id and job.status is JobStatus.RUNNING and job.execution_id


def test_a_keyword_scheduler_did_not_replace_is_refused(stack: MotoStack) -> None:
    """Taken as a time, every tick would look like the first and start nothing after it."""
    with pytest.raises(AssertionError, match="scheduled_time"):
        stack.invoke("start", delivered(nightly(stack), "<aws.scheduler.scheduled-time>"))
    assert jobs_of(stack) == []


def lost_answer(error: str) -> Any:
    """``StepFunctionsOrchestrator.start_execution`` as when its answer is lost: the execution
    starts, then the call raises ``error`` (a read timeout after botocore's own retries)."""
    original = StepFunctionsOrchestrator.start_execution

    def start(self: StepFunctionsOrchestrator, job_id: str, name: str) -> str:
        original(self, job_id, name)
        raise RuntimeError(error)

    return mock.patch.object(StepFunctionsOrchestrator, "start_execution", start)


def only_live_execution(stack: MotoStack, job: Job) -> str:
    """The job's one running execution, which must be the one it records."""
    live = [e["executionArn"] for e in executions_of(stack, job) if e["status"] == "RUNNING"]
    assert live == [job.execution_id], (live, job.execution_id)
    return live[0]


def test_a_retry_after_a_lost_answer_leaves_the_job_to_the_execution_that_start_began(stack: MotoStack) -> None:
    """The first attempt's StartExecution started the execution and then raised (its answer
    lost): the job was stored failed. That execution, finding it so, went to Finish Job and
    ended, and the retry (once it asked for the same name, closed: ``ExecutionAlreadyExists``)
    started the seed's next name; or, coming while the execution still ran, the retry recorded
    it and its Finish then ended the job with no trial (``tests/unit/test_start_race.py``).
    Now the execution takes the job back (``service._claimed``), whichever comes first, and
    the retry starts nothing: the job runs on that one execution."""
    tick = delivered(nightly(stack))
    with lost_answer("Read timeout on endpoint URL"), pytest.raises(AssertionError, match="Read timeout"):
        stack.invoke("start", tick)
    (failed,) = jobs_of(stack)
    (first,) = executions_of(stack, failed)
    retried = stack.invoke("start", tick)
    (job,) = jobs_of(stack)
    assert retried["job_id"] == job.id == failed.id and job.status is JobStatus.RUNNING
    assert only_live_execution(stack, job) == first["executionArn"]
    stack.invoke("start", tick)  # a third delivery starts nothing more
    assert only_live_execution(stack, stack.service.store.get_job(job.id)) == first["executionArn"]


def test_a_keyed_submit_retried_after_a_lost_answer_runs_on_the_execution_that_start_began(
    stack: MotoStack,
) -> None:
    """The same race on ``POST /jobs`` with an ``Idempotency-Key``: the first try answered 500
    (its record dropped); the client's retry carries on the job that execution took back."""
    document = {
        "name": "keyed",
        "objective": {"metric": "val_loss", "goal": "minimize"},
        "parameters": PARAMETERS,
        "strategy": {"name": "random", "seed": 1},
        "budget": {"max_trials": 2, "max_parallel": 1},
        "trial": SAGEMAKER_BLOCK,
    }
    original = stack.invoke

    def keyed(handler: str, event: dict[str, Any]) -> dict[str, Any]:
        event["headers"]["Idempotency-Key"] = "retry-me"
        event["multiValueHeaders"]["Idempotency-Key"] = ["retry-me"]
        return original(handler, event)

    with mock.patch.object(stack, "invoke", keyed):
        with lost_answer("Read timeout on endpoint URL"):
            assert call_api(stack, "POST", "/jobs", document, user=OWNER)[0] == 500
        (failed,) = jobs_of(stack, "keyed")
        (first,) = executions_of(stack, failed)
        status, body = call_api(stack, "POST", "/jobs", document, user=OWNER)
    (job,) = jobs_of(stack, "keyed")
    assert (status, body["job_id"], body["status"]) == (202, failed.id, "running")
    assert only_live_execution(stack, job) == body["execution_id"] == first["executionArn"]
