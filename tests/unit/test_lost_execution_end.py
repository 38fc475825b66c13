"""The reaper closes a job whose execution ended outside Finish Job when the execution's
"Execution Status Change" event never came (EventBridge delivers at least once, but a rule
disabled or missing, or a target throttled past its retry window, loses it for good; moto
sends no such event at all). It asks the orchestrator (Step Functions' DescribeExecution)
only of jobs no round waits on, older than the grace."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult, WaitRequest
from hyperstep.models import JobStatus
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock
from tests.unit.test_service import FakeBackend, FakeOrchestrator, submit

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:hyperstep-tuning"


class Counting(FakeOrchestrator):
    def __init__(self) -> None:
        super().__init__()
        self.described: list[str] = []

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        self.described.append(execution_id)
        return super().describe_execution(execution_id)


@pytest.fixture
def running() -> tuple[TuningService, FakeBackend, Counting, Clock]:
    """A job with its trials running and its execution's round mid-way (no token parked)."""
    backend, orchestrator, clock = FakeBackend(), Counting(), Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": backend}, orchestrator)
    submit(service)
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    return service, backend, orchestrator, clock


def ended(service: TuningService, orchestrator: FakeOrchestrator, status: str, **fields: Any) -> str:
    """The job's execution as DescribeExecution now answers for it."""
    arn = service.store.get_job("job").execution_id or ""
    orchestrator.executions[arn] = ExecutionStatusChange(
        execution_arn=arn,
        state_machine_arn=MACHINE,
        name=arn.rsplit(":", 1)[-1],
        status=status,
        input=json.dumps({"job_id": "job"}),
        **fields,
    )
    return arn


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "ABORTED"])
def test_a_job_whose_execution_ended_without_its_event_is_closed_by_the_reaper(running, status: str) -> None:
    """Before: the job stayed running forever, its trials too."""
    service, backend, orchestrator, clock = running
    ended(service, orchestrator, status)
    clock.now += 600
    counts = service.reap(grace_seconds=300)
    job = service.store.get_job("job")
    assert job.status is JobStatus.FAILED and f"ended {status} outside its state machine" in (job.error or "")
    assert job.completion_published and counts["executions_ended"] == 1
    assert sorted(backend.stopped) == ["t0001", "t0002"]  # as Finish Job stops them: their ends come by event


def test_an_execution_aborted_while_its_job_was_stopping_leaves_it_stopped(running) -> None:
    service, _, orchestrator, clock = running
    service.stop("job")
    ended(service, orchestrator, "ABORTED", error="States.Aborted")
    clock.now += 600
    service.reap(grace_seconds=300)
    assert service.store.get_job("job").status is JobStatus.STOPPED


def test_the_failure_describe_execution_gives_is_the_jobs_error(running) -> None:
    service, _, orchestrator, clock = running
    ended(service, orchestrator, "FAILED", error="States.Runtime", cause="An error occurred while executing the state")
    clock.now += 600
    service.reap(grace_seconds=300)
    assert "States.Runtime" in (service.store.get_job("job").error or "")


def test_a_running_execution_a_young_job_and_a_waiting_round_are_left_alone(running) -> None:
    """What bounds the calls: a job within the grace is not asked of, a job whose round
    waits (the reaper's wake sent its token) is not asked of, and an execution that runs
    (or is not known yet: DescribeExecution is eventually consistent) changes nothing."""
    service, _, orchestrator, clock = running
    arn = ended(service, orchestrator, "FAILED")
    service.reap(grace_seconds=300)
    assert orchestrator.described == [] and service.store.get_job("job").status is JobStatus.RUNNING
    clock.now += 330  # past the grace, within the trials' 60 s limit and the grace: none times out
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=0))
    service.reap(grace_seconds=300)
    assert orchestrator.described == [] and [t for t, _ in orchestrator.woken] == ["tok"]
    orchestrator.executions[arn] = orchestrator.executions[arn].model_copy(update={"status": "RUNNING"})
    service.reap(grace_seconds=300)  # woken, mid-round: asked once, still running
    del orchestrator.executions[arn]
    service.reap(grace_seconds=300)
    assert orchestrator.described == [arn, arn] and service.store.get_job("job").status is JobStatus.RUNNING


def test_a_job_just_the_grace_old_is_not_asked_of(running) -> None:
    """The grace is inclusive: a job exactly that old may still be starting its first round."""
    service, _, orchestrator, clock = running
    ended(service, orchestrator, "FAILED")
    clock.now += 300
    service.reap(grace_seconds=300)
    assert orchestrator.described == [] and service.store.get_job("job").status is JobStatus.RUNNING
    clock.now += 1
    service.reap(grace_seconds=300)
    assert service.store.get_job("job").status is JobStatus.FAILED


def test_an_earlier_execution_of_a_handed_over_job_closes_nothing(running) -> None:
    """The job runs on in a new execution: the old one's end is not the job's."""
    service, _, orchestrator, clock = running
    old = ended(service, orchestrator, "ABORTED")
    service.store.set_job_status("job", JobStatus.RUNNING, execution_id=f"{old}-next")
    orchestrator.executions[f"{old}-next"] = orchestrator.executions.pop(old).model_copy(update={"status": "RUNNING"})
    clock.now += 600
    service.reap(grace_seconds=300)
    assert service.store.get_job("job").status is JobStatus.RUNNING


def test_a_pass_that_records_an_end_does_not_ask_of_the_execution_its_end_woke(running) -> None:
    """The reaper records a trial's end (its event lost): that end wakes the parked round
    (``_end``), so the pass's own wake finds no token. Before, it then asked DescribeExecution
    of that job, whose execution the end had just woken: one call per job per such pass."""
    service, backend, orchestrator, clock = running
    ended(service, orchestrator, "RUNNING")
    clock.now += 330  # past the grace, within the trials' 60 s limit and the grace: none times out
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=0))
    backend.results["t0001"] = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.5})
    counts = service.reap(grace_seconds=300)
    assert counts["recorded"] == 1 and [t for t, _ in orchestrator.woken] == ["tok"]
    assert orchestrator.described == []
    service.reap(grace_seconds=300)  # the next pass, no token parked and no end: asks once
    assert orchestrator.described == [service.store.get_job("job").execution_id]


class Expired(Counting):
    """An orchestrator whose every token is used or expired (SendTaskSuccess answered
    ``TaskTimedOut``: the execution that parked it is gone), which ``wake`` reads as not sent."""

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        super().send_task_success(token, output)
        return False


def test_a_pass_whose_recorded_end_found_the_token_expired_still_asks_of_the_execution() -> None:
    """The end the pass records takes the parked token, but its send is refused (the
    execution ended, its end event lost): nothing was woken, so the pass asks DescribeExecution
    and closes the job, as it does when no token is parked at all."""
    backend, orchestrator, clock = FakeBackend(), Expired(), Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": backend}, orchestrator)
    submit(service)
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    clock.now += 330
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=0))
    arn = ended(service, orchestrator, "FAILED")
    backend.results["t0001"] = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.5})
    counts = service.reap(grace_seconds=300)
    assert counts["recorded"] == 1 and [t for t, _ in orchestrator.woken] == ["tok"]
    assert orchestrator.described == [arn] and service.store.get_job("job").status is JobStatus.FAILED


def test_wakes_outside_a_reaper_pass_are_not_kept(running) -> None:
    """Collect, Suggest and the API wake jobs in warm Lambdas that never reap: what the
    reaper notes of a pass's wakes is kept for the jobs a pass is reconciling only, and
    dropped when it ends (a set of every job ever woken grew for the Lambda's life)."""
    service, _, _, _ = running
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=0))
    assert service.wake("job")
    assert not service.woken
    service.wait(WaitRequest(job_id="job", task_token="tok2", results_seen=0))
    service.reap(grace_seconds=300)
    assert not service.woken
