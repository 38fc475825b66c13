"""Every way a job ends puts exactly one "Tuning Job Completed" event on the bus.

Finish Job is not the only closer: a start that fails closes its job (failed, or stopped if
a stop landed meanwhile; in the API function or the start function, whichever started it),
the API's stop of such a job closes it again (stopped), an execution that takes its job back
and finds itself closed closes it (Suggest), and an execution that ended outside its state
machine is closed by its status-change event (the Finish function) or, that event lost,
by the reaper's DescribeExecution: the two may close the same job at once. Each path runs
here against moto's DynamoDB and EventBridge, the bus's events caught by a rule whose target
is an SQS queue (moto delivers those), and counted. That each closing function's role may
send that event and no other is ``test_template_security``'s.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

import hyperstep
from hyperstep.aws import EventBridgePublisher, StepFunctionsOrchestrator
from hyperstep.errors import ExecutionClosedError
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.keyed_submit import keyed_job_id, submit_keyed
from hyperstep.messages import FinishRequest, LaunchRequest, Plan, SuggestRequest
from hyperstep.models import JobStatus
from hyperstep.ports import NullPublisher
from hyperstep.service import PUBLISH_GRACE_SECONDS, ROUND_EVENTS, START_FAILED, TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from tests.conftest import Clock, spec_document
from tests.contract.test_orchestrator_contract import answering_already_exists
from tests.integration.moto_stores import store_under_moto
from tests.unit.test_service import FakeBackend, FakeOrchestrator

REGION = "us-east-1"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:hyperstep-tuning"


class Bus:
    """The default bus with a rule sending every ``hyperstep`` event to a queue."""

    def __init__(self) -> None:
        events, self.sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
        self.queue = self.sqs.create_queue(QueueName="completions")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="completions", EventPattern=json.dumps({"source": ["hyperstep"]}))
        events.put_targets(Rule="completions", Targets=[{"Id": "queue", "Arn": arn}])
        self.publisher = EventBridgePublisher(events)

    def completions(self) -> list[tuple[str, str]]:
        """(job id, status) of each completion event delivered since the last call."""
        found = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                event = json.loads(message["Body"])
                assert event["detail-type"] == "Tuning Job Completed", event
                found.append((event["detail"]["job_id"], event["detail"]["status"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return found


class NoStart(FakeOrchestrator):
    """StartExecution refused (``ExecutionLimitExceeded``), after ``before`` (a stop landing) ran."""

    def __init__(self) -> None:
        super().__init__()
        self.before: Any = None

    def start_execution(self, job_id: str, name: str) -> str:
        if self.before is not None:
            self.before(job_id)
        raise RuntimeError("ExecutionLimitExceeded")


@pytest.fixture(params=["dynamodb", "sqlite"])
def store(request: pytest.FixtureRequest) -> Iterator[TrialStore]:
    with mock_aws():
        yield store_under_moto(request.param)


def test_a_failed_start_and_then_its_stop_each_announce_their_end_once(store: TrialStore) -> None:
    """Before: neither the failed start nor the stop that closed the job stopped published
    anything (no execution runs the job: no Finish Job ever does)."""
    bus, orchestrator = Bus(), NoStart()
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        service.submit(parse_spec(spec_document()), job_id="job")
    assert (store.get_job("job").error or "").startswith(START_FAILED)
    assert bus.completions() == [("job", "failed")]
    assert service.stop("job").status is JobStatus.STOPPED
    assert bus.completions() == [("job", "stopped")]  # its end is no longer the failed start
    service.finish(FinishRequest(job_id="job"))  # an execution's Finish Job, had its start lost only its answer
    assert bus.completions() == []


def test_a_failed_start_whose_event_cannot_be_published_still_raises_its_own_error(store: TrialStore) -> None:
    """PutEvents refused (throttled past its retries): the caller sees why the start failed."""
    bus, orchestrator = Bus(), NoStart()
    bus.publisher.bus_name = "no-such-bus"  # PutEvents answers the entry failed
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        service.submit(parse_spec(spec_document()), job_id="job")
    job = store.get_job("job")
    assert job.status is JobStatus.FAILED and not job.completion_published


def test_a_start_that_fails_after_a_stop_landed_announces_the_end_once(store: TrialStore) -> None:
    bus, orchestrator = Bus(), NoStart()
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    orchestrator.before = service.stop  # the user's stop lands while StartExecution is on its way
    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        service.submit(parse_spec(spec_document()), job_id="job")
    assert store.get_job("job").status is JobStatus.STOPPED
    assert bus.completions() == [("job", "stopped")]


def test_a_failed_start_whose_job_is_taken_back_before_its_write_answers_announces_nothing(store: TrialStore) -> None:
    """The failed start's write lands, then the execution that start began (it lost only its
    answer) takes the job back before the write's answer (DynamoDB's ``set_job_status`` reads
    the job again after its transaction): the start holds a running job. Before, it published
    a "Tuning Job Completed" event saying running; the execution's own end announces the job."""
    bus, orchestrator = Bus(), NoStart()
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    write = store.set_job_status

    def taken_back_meanwhile(job_id: str, status: JobStatus, **fields: Any) -> Any:
        write(job_id, status, **fields)
        if status is JobStatus.FAILED:  # the start's failure, then the execution's take-back
            write(job_id, JobStatus.RUNNING, expected=(JobStatus.FAILED,), execution_id=f"{MACHINE}:job-1")
        return store.get_job(job_id)

    store.set_job_status = taken_back_meanwhile  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        service.submit(parse_spec(spec_document()), job_id="job")
    assert store.get_job("job").status is JobStatus.RUNNING
    assert bus.completions() == []


class ClosedDuringTakeBack(FakeOrchestrator):
    """The take-back's StartExecution answers the execution's id; asked again once the job is
    taken, that execution has closed (its owner stopped it meanwhile)."""

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if len(self.started) == 2:
            raise ExecutionClosedError(arn)
        return arn


def ended_as_described(orchestrator: FakeOrchestrator, job_id: str, arn: str, status: str) -> None:
    """DescribeExecution of ``arn`` answers ``status`` from now on."""
    orchestrator.executions[arn] = ExecutionStatusChange(
        executionArn=arn,
        stateMachineArn=MACHINE,
        name=arn.rsplit(":", 1)[-1],
        status=status,
        input=json.dumps({"job_id": job_id}),
    )


def test_an_execution_closed_as_it_takes_its_job_back_announces_the_end_once(store: TrialStore) -> None:
    """Its own name answered closed once the job is taken (its end event came before the job
    recorded it, and closed nothing; or it was redriven so recently that DescribeExecution
    still answers its old end): Suggest keeps the job taken and launches nothing, and the
    reaper's pass, asking DescribeExecution the grace later, closes it, announced once.
    Before: Suggest closed the job at once, under an execution maybe running it."""
    bus, clock, orchestrator = Bus(), Clock(), ClosedDuringTakeBack()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")
    store.set_job_status("job", JobStatus.FAILED, expected=(JobStatus.RUNNING,), error=f"{START_FAILED}: lost")
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1"))
    assert not plan.done and plan.trial_ids == [] and store.list_trials("job") == []
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == "exec-job-1" and bus.completions() == []
    ended_as_described(orchestrator, "job", "exec-job-1", "ABORTED")
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert store.get_job("job").status is JobStatus.FAILED and bus.completions() == [("job", "failed")]
    service.finish(FinishRequest(job_id="job"))  # a retried Suggest's way to Finish Job
    assert bus.completions() == []


@pytest.fixture
def gone(store: TrialStore) -> tuple[TuningService, Bus, ExecutionStatusChange, Clock]:
    """A job with its trials running whose execution failed outside its state machine."""
    bus, orchestrator, clock = Bus(), FakeOrchestrator(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    service.submit(parse_spec(spec_document()), job_id="job")
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    arn = store.get_job("job").execution_id or ""
    change = ExecutionStatusChange(
        execution_arn=arn, state_machine_arn=MACHINE, name="x", status="FAILED", input=json.dumps({"job_id": "job"})
    )
    orchestrator.executions[arn] = change
    clock.now += 600
    return service, bus, change, clock


def test_the_reaper_closing_an_execution_whose_event_was_lost_announces_its_end_once(gone) -> None:
    service, bus, _, _ = gone
    assert service.reap(grace_seconds=300)["executions_ended"] == 1
    service.reap(grace_seconds=300)
    assert bus.completions() == [("job", "failed")]


def test_the_reaper_and_the_execution_event_closing_one_job_at_once_announce_it_once(gone) -> None:
    """The execution's status-change event (the Finish function's ``close_ended_execution``)
    and the reaper (its DescribeExecution) both read the job running, the reaper writes its
    final status, then the event's Finish writes its own. Before: the second write landed
    over the first, and each published (neither had marked the event published yet): two
    events for one end. Now the second write, made over the status it read, is refused."""
    service, bus, change, _ = gone
    store = service.store
    write, read, raced, answered = store.set_job_status, store.get_job, [], []

    def event_lands_meanwhile(job_id: str, status: JobStatus, **fields: Any) -> Any:
        if not status.finished or raced:
            return write(job_id, status, **fields)
        raced.append(status)
        stale = [read(job_id)] * 2  # the job as the event's Finish read it: running
        written = write(job_id, status, **fields)  # the reaper's close lands first
        store.get_job = lambda job_id: stale.pop() if stale else read(job_id)  # type: ignore[method-assign]
        answered.append(service.close_ended_execution(change))
        store.get_job = read  # type: ignore[method-assign]
        return written

    store.set_job_status = event_lands_meanwhile  # type: ignore[method-assign]
    service.reap(grace_seconds=300)
    assert raced and store.get_job("job").status is JobStatus.FAILED
    assert bus.completions() == [("job", "failed")]
    assert [summary["status"] for summary in answered] == ["failed"]  # the loser answers the end as it landed


class DiesOnce:
    """The bus as a closer sees it that dies (a Lambda timeout, an OOM) before its first
    PutEvents lands: that publish raises and reaches no one; later ones go through."""

    def __init__(self, publisher: EventBridgePublisher) -> None:
        self.publisher, self.died = publisher, False

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        if not self.died:
            self.died = True
            raise TimeoutError("Task timed out after 60.00 seconds")
        self.publisher.publish(detail_type, detail)


@pytest.fixture
def ended(store: TrialStore) -> tuple[TuningService, Bus, Clock]:
    """A job whose Finish wrote its final status and died before its publish: finished, not
    marked published, and no closer will look at it again (the execution's Finish retry
    is modelled as never coming: its execution timed out meanwhile)."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), DiesOnce(bus.publisher), clock=clock)
    service.submit(parse_spec(spec_document()), job_id="job")
    with pytest.raises(TimeoutError):
        service.finish(FinishRequest(job_id="job"))
    job = store.get_job("job")
    assert job.status.finished and not job.completion_published and bus.completions() == []
    return service, bus, clock


def test_a_closer_that_died_between_its_write_and_its_publish_is_announced_by_the_reaper(ended) -> None:
    """Before: the reaper visited unfinished jobs only, and the job's end went unannounced
    for good. Now its pass publishes it once the grace (longer than a closer's own retries)
    is over, and marks it: the next pass publishes nothing."""
    service, bus, clock = ended
    clock.now += PUBLISH_GRACE_SECONDS / 2  # a closer's retry may still come: left to it
    assert "announced" not in service.reap() and bus.completions() == []
    clock.now += PUBLISH_GRACE_SECONDS
    assert service.reap()["announced"] == 1
    assert bus.completions() == [("job", "completed")]
    assert service.store.get_job("job").completion_published
    assert "announced" not in service.reap() and bus.completions() == []


def test_a_lost_event_the_closer_retry_published_first_is_not_announced_again(ended) -> None:
    service, bus, clock = ended
    service.finish(FinishRequest(job_id="job"))  # the Task's retry, within the grace
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap()
    assert bus.completions() == [("job", "completed")]


class ThrottledStop:
    """The store as a start's Finish sees it: the job's stopped write refused (DynamoDB
    throttled past the SDK's retries) once, as that Finish runs inside a failing start."""

    def __init__(self, store: TrialStore) -> None:
        self.store, self.write, self.refused = store, store.set_job_status, False

    def __call__(self, job_id: str, status: JobStatus, **fields: Any) -> Any:
        if status is JobStatus.STOPPED and not self.refused:
            self.refused = True
            raise RuntimeError("ProvisionedThroughputExceededException")
        return self.write(job_id, status, **fields)


def test_a_stopped_job_whose_start_and_then_its_finish_failed_is_closed_by_the_reaper(store: TrialStore) -> None:
    """The user's stop lands while StartExecution is on its way, the start fails, and the
    Finish it runs fails too: the job stays stopping with no execution. Before, nothing
    closed it (the reaper asks only of a recorded execution); now the reaper's pass closes it
    stopped, with its one completion event."""
    bus, orchestrator, clock = Bus(), NoStart(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    orchestrator.before = service.stop
    store.set_job_status = ThrottledStop(store)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="ExecutionLimitExceeded"):
        service.submit(parse_spec(spec_document()), job_id="job")
    job = store.get_job("job")
    assert job.status is JobStatus.STOPPING and job.execution_id is None and bus.completions() == []
    service.reap(grace_seconds=300)  # its start may still be under way: left
    assert store.get_job("job").status is JobStatus.STOPPING
    clock.now += 600
    assert service.reap(grace_seconds=300)["unstarted_stopped"] == 1
    assert store.get_job("job").status is JobStatus.STOPPED
    assert bus.completions() == [("job", "stopped")]
    service.reap(grace_seconds=300)
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert bus.completions() == []


class AnswerLost(FakeOrchestrator):
    """StartExecution starts the execution (``began``) or not, and its answer is lost either
    way (a read timeout): the error leaves unknown whether it started, as the Step Functions
    adapter says of any error but StartExecution's own (``started_nothing``)."""

    def __init__(self, began: bool) -> None:
        super().__init__()
        self.began, self.lost = began, False

    def start_execution(self, job_id: str, name: str) -> str:
        if self.lost:  # the execution asking again for its own running name
            return super().start_execution(job_id, name)
        self.lost = True
        if self.began:
            super().start_execution(job_id, name)
        else:
            self.started.append(name)
        raise TimeoutError("Read timeout on endpoint URL")

    def started_nothing(self, error: Exception) -> bool:
        return False


def test_a_failed_start_whose_execution_takes_the_job_back_announces_only_its_real_end(store: TrialStore) -> None:
    """The start's answer is lost and the job stored failed, while the execution it began
    runs, takes the job back at its first Suggest and ends it. A consumer keyed on the job id
    sees its one end. Before: "failed" at once, then "completed"."""
    bus, orchestrator = Bus(), AnswerLost(began=True)
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    with pytest.raises(TimeoutError):
        service.submit(parse_spec(spec_document()), job_id="job")
    assert store.get_job("job").status is JobStatus.FAILED and bus.completions() == []
    service.suggest(SuggestRequest(job_id="job", execution=orchestrator.started[0]))
    assert store.get_job("job").status is JobStatus.RUNNING
    service.finish(FinishRequest(job_id="job"))
    assert bus.completions() == [("job", "completed")]


def test_a_failed_start_no_execution_takes_back_is_announced_failed_after_the_grace(store: TrialStore) -> None:
    bus, orchestrator, clock = Bus(), AnswerLost(began=False), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    with pytest.raises(TimeoutError):
        service.submit(parse_spec(spec_document()), job_id="job")
    service.reap()
    assert bus.completions() == []  # its execution may yet take it back
    clock.now += PUBLISH_GRACE_SECONDS + 1
    service.reap()
    service.reap()
    assert bus.completions() == [("job", "failed")]


class DynamoDown:
    """The store as a failing start sees it: its failed write refused as DynamoDB refuses a
    throttled transaction past the SDK's retries (the real botocore error)."""

    def __init__(self, store: TrialStore) -> None:
        self.store, self.write = store, store.set_job_status

    def __call__(self, job_id: str, status: JobStatus, **fields: Any) -> Any:
        if status is JobStatus.FAILED:
            error = {
                "Code": "ProvisionedThroughputExceededException",
                "Message": "Rate of requests exceeds the allowed throughput.",
            }
            raise ClientError({"Error": error}, "TransactWriteItems")
        return self.write(job_id, status, **fields)


def stubbed_start(error_code: str, status: int) -> tuple[StepFunctionsOrchestrator, Stubber]:
    """The Step Functions adapter on a real client whose StartExecution answers ``error_code``
    (botocore's Stubber: the ClientError botocore raises for that answer)."""
    client = boto3.client("stepfunctions", region_name=REGION)
    stubber = Stubber(client)
    stubber.add_client_error("start_execution", service_error_code=error_code, http_status_code=status)
    stubber.activate()
    return StepFunctionsOrchestrator(client, MACHINE), stubber


def test_a_job_whose_start_and_then_its_failed_write_failed_is_failed_by_the_reaper_with_one_event(
    store: TrialStore,
) -> None:
    """StartExecution answers 503 (unknown whether it started), and the job's failed write after
    it is refused (DynamoDB throttled): the job stays running with no execution recorded, and
    no event. Before, the reaper left such a job running for good (it asked only of a recorded
    execution, or of a stopping job) and its caller never heard. Now, past the grace with none
    recorded, it is failed as its start would have failed it, and announced once the publish
    grace is over (an execution that did start would have taken it back by then)."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    orchestrator, _ = stubbed_start("ServiceUnavailable", 503)
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    write, store.set_job_status = store.set_job_status, DynamoDown(store)  # type: ignore[method-assign]
    with pytest.raises(ClientError):  # the failed write's, raised handling the start's
        service.submit(parse_spec(spec_document()), job_id="job")
    store.set_job_status = write  # type: ignore[method-assign]
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id is None and bus.completions() == []
    assert "unstarted_failed" not in service.reap(grace_seconds=300)  # its start may still be under way
    clock.now += 600
    assert service.reap(grace_seconds=300)["unstarted_failed"] == 1
    job = store.get_job("job")
    assert job.status is JobStatus.FAILED and (job.error or "").startswith(START_FAILED)
    assert bus.completions() == []
    clock.now += PUBLISH_GRACE_SECONDS + 1
    assert service.reap(grace_seconds=300) == {"jobs": 0, "recorded": 0, "timed_out": 0, "announced": 1}
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert bus.completions() == [("job", "failed")]


def test_an_execution_whose_record_failed_takes_its_job_back_from_the_reaper_with_one_event(
    store: TrialStore,
) -> None:
    """The start began an execution and the write recording it failed: the reaper, past the
    grace, fails the job (it cannot tell it from a start that began none), and the execution's
    next Suggest takes it back (``_claimed``) before the publish grace is over: the job's one
    event is its real end."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    clock.now += 600
    assert service.reap(grace_seconds=300)["unstarted_failed"] == 1
    assert not service.suggest(SuggestRequest(job_id="job", execution="job-1")).done
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == "exec-job-1"
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert bus.completions() == []
    service.finish(FinishRequest(job_id="job"))
    assert bus.completions() == [("job", "completed")]


def test_an_execution_whose_record_failed_records_itself_at_its_first_suggest(store: TrialStore) -> None:
    """The start began an execution and the write recording it failed (the API's Lambda timed
    out between StartExecution's answer and that write): the job runs with none recorded. Its
    first Suggest records it, so a reaper pass catching a later round mid-way (no token parked)
    does not fail a job whose execution runs: its next Suggest, the one that would take the job
    back, may be hours away (a long training), and the reaper would announce "failed" first."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    assert not service.suggest(SuggestRequest(job_id="job", execution="job-1")).done
    assert store.get_job("job").execution_id == "exec-job-1"
    clock.now += 2 * PUBLISH_GRACE_SECONDS  # its trials still train: no Suggest meanwhile
    assert "unstarted_failed" not in service.reap(grace_seconds=300)
    assert store.get_job("job").status is JobStatus.RUNNING and bus.completions() == []


class StoppedWhileAnswering(FakeOrchestrator):
    """The user's stop lands while StartExecution of the running name answers."""

    def __init__(self, store: TrialStore) -> None:
        super().__init__()
        self.store = store

    def start_execution(self, job_id: str, name: str) -> str:
        self.store.set_job_status(job_id, JobStatus.STOPPING, expected=(JobStatus.RUNNING,))
        return super().start_execution(job_id, name)


def test_an_execution_recording_itself_plans_with_a_stop_that_landed_meanwhile(store: TrialStore) -> None:
    """Its start's record lost, the execution's first Suggest records it; a stop landing between
    the job's read and that write is kept (``_record_execution``) and this Suggest plans with
    it: no trial started for a job the user is stopping. Kills planning on the job as first
    read (``_claimed`` returning it, still running, instead of the job as recorded)."""
    service = TuningService(store, {"local": FakeBackend()}, StoppedWhileAnswering(store), NullPublisher())
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1"))
    assert plan.stopping and plan.trial_ids == [] and store.list_trials("job") == []
    job = store.get_job("job")
    assert job.status is JobStatus.STOPPING and job.execution_id == "exec-job-1"


class Closed(FakeOrchestrator):
    """Every execution of the job has closed: StartExecution of its name answers
    ExecutionAlreadyExists (``ExecutionClosedError``)."""

    def start_execution(self, job_id: str, name: str) -> str:
        raise ExecutionClosedError(super().start_execution(job_id, name))


def test_a_closed_execution_whose_record_was_lost_launches_nothing_and_the_reaper_closes_its_job(
    store: TrialStore,
) -> None:
    """Its start's record lost, the execution was stopped (or timed out) with a Suggest still
    running: its end event found no execution of the job to close. That Suggest records it and
    launches nothing (left to plan, it would launch trials no execution waits on), and the
    reaper's pass closes the job as the event would have (DescribeExecution: ABORTED), once."""
    bus, clock, orchestrator = Bus(), Clock(), Closed()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1"))
    assert not plan.done and plan.trial_ids == [] and store.list_trials("job") == []
    assert store.get_job("job").execution_id == "exec-job-1" and bus.completions() == []
    ended_as_described(orchestrator, "job", "exec-job-1", "ABORTED")
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert store.get_job("job").status is JobStatus.FAILED and bus.completions() == [("job", "failed")]
    service.reap(grace_seconds=300)
    assert bus.completions() == []


def test_an_execution_redriven_just_now_described_by_its_old_end_keeps_its_job(store: TrialStore) -> None:
    """Its start's record lost, the execution failed before its first Suggest and was just
    redriven: StartExecution of its own name answers ExecutionAlreadyExists and
    DescribeExecution, eventually consistent ("may not reflect very recent updates", API
    reference), still answers FAILED. Before: Suggest closed the job its own redriven
    execution runs ("closed before it was recorded", announced failed). Now it records
    itself, launches nothing this round, and its next round plans."""
    bus = Bus()
    orchestrator, arn = answering_already_exists({"status": "FAILED", "redriveCount": 0})
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1-abc"))
    assert not plan.done and plan.trial_ids == [] and store.list_trials("job") == []
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == arn and bus.completions() == []
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1-abc", history_events=plan.history_events))
    assert not plan.done and plan.trial_ids and bus.completions() == []


def test_a_redriven_execution_whose_record_was_lost_records_itself_and_runs_the_job(store: TrialStore) -> None:
    """Its start's record lost, the execution failed before its first Suggest and was redriven
    (``RedriveExecution``: the same ARN, running again); asked its own name, StartExecution
    may answer ExecutionAlreadyExists (its reference does not say, for a redriven one), and
    DescribeExecution says RUNNING. Before: taken for closed, its Suggest closed the job it
    runs ("closed before it was recorded", announced failed). Now it records itself."""
    bus = Bus()
    orchestrator, arn = answering_already_exists({"status": "RUNNING", "redriveCount": 1})
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1-abc"))
    assert not plan.done and plan.trial_ids
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == arn and bus.completions() == []


class ReapedDuringStart(FakeOrchestrator):
    """StartExecution under way while a reaper pass runs (``during``), then answering."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Any = None

    def start_execution(self, job_id: str, name: str) -> str:
        self.during()
        return super().start_execution(job_id, name)


def test_a_start_under_way_when_the_reaper_fails_its_job_takes_the_job_back(store: TrialStore) -> None:
    """A job reopened long after it was created (a keyed retry, a tick's: ``recurring.carry_on``)
    is running with no execution while its start is on its way, and the reaper, past the grace
    since the job was created, fails it. The start's answer then records its execution taking
    the job back: recorded on a failed job, no Suggest of it would run the job."""
    bus, clock, orchestrator = Bus(), Clock(), ReapedDuringStart()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")
    clock.now += 600
    orchestrator.during = lambda: service.reap(grace_seconds=300)
    service.start_execution("job", "key")
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{orchestrator.started[0]}"
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    orchestrator.during = lambda: None
    service.reap(grace_seconds=300)
    assert store.get_job("job").status is JobStatus.RUNNING and bus.completions() == []


def created_past_the_grace(store: TrialStore) -> tuple[Bus, Clock, TuningService]:
    """The bus, the clock and a service whose job ``job`` was created 600 s ago, with no
    execution recorded."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), bus.publisher, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="job")
    clock.now += 600
    return bus, clock, service


def test_a_start_recorded_between_the_reapers_read_and_its_write_keeps_its_job_running(store: TrialStore) -> None:
    """The reaper reads the job running with no execution; its start's record lands (running,
    its execution recorded) before the reaper's failed write, which then changes nothing. Had
    it landed (conditioned on the status only), the job would stay failed with its execution
    recorded: no Suggest of that execution would take it back, and it would close the job."""
    bus, clock, service = created_past_the_grace(store)
    write = store.set_job_status

    def recorded_meanwhile(job_id: str, status: JobStatus, **fields: Any) -> Any:
        if status is JobStatus.FAILED:
            write(job_id, JobStatus.RUNNING, expected=(JobStatus.RUNNING,), execution_id="exec-job-1")
        return write(job_id, status, **fields)

    store.set_job_status = recorded_meanwhile  # type: ignore[method-assign]
    assert "unstarted_failed" not in service.reap(grace_seconds=300)
    store.set_job_status = write  # type: ignore[method-assign]
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == "exec-job-1" and job.error is None
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    service.reap(grace_seconds=300)
    assert bus.completions() == []


def test_a_start_recorded_as_the_reaper_writes_leaves_the_job_one_event(store: TrialStore) -> None:
    """The reaper reads the job running with no execution; its start's record lands; the
    reaper's failed write comes next, and the execution's Suggest runs before the reaper goes
    on. Before: that write, conditioned on the status only, landed over the record, and the
    Suggest found the job failed: a done plan, whose Finish Job announced "failed"; the
    reaper then undid its write (running again, its execution recorded), and the job's real
    end announced a second time. Now the write holds only over the job as the reaper read
    it (no execution recorded, not reopened since): refused, it changes nothing."""
    bus, _, service = created_past_the_grace(store)
    write = store.set_job_status
    plans: list[Plan] = []

    def interleaved(job_id: str, status: JobStatus, **fields: Any) -> Any:
        if status is not JobStatus.FAILED or plans:
            return write(job_id, status, **fields)
        write(job_id, JobStatus.RUNNING, expected=(JobStatus.RUNNING,), execution_id="exec-job-1")  # the record
        try:
            return write(job_id, status, **fields)  # the reaper's
        finally:  # the execution's first Suggest, and its Finish Job if it says done
            plans.append(service.suggest(SuggestRequest(job_id="job", execution="job-1")))
            if plans[-1].done:
                service.finish(FinishRequest(job_id="job"))

    store.set_job_status = interleaved  # type: ignore[method-assign]
    assert "unstarted_failed" not in service.reap(grace_seconds=300)
    store.set_job_status = write  # type: ignore[method-assign]
    assert not plans[0].done and plans[0].trial_ids  # it runs the job
    assert bus.completions() == []
    job = store.get_job("job")
    assert job.status is JobStatus.RUNNING and job.execution_id == "exec-job-1" and job.error is None
    service.finish(FinishRequest(job_id="job"))
    assert bus.completions() == [("job", "completed")]


class RetriedLate(FakeOrchestrator):
    """StartExecution refused at first (``ExecutionLimitExceeded``: the job failed, announced);
    a later try runs a reaper pass (``during``) while it is under way, then answers."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Any = None

    def start_execution(self, job_id: str, name: str) -> str:
        if not self.started:
            self.started.append(name)
            raise RuntimeError("ExecutionLimitExceeded")
        self.during()
        return super().start_execution(job_id, name)


def test_a_job_reopened_long_after_its_creation_counts_the_grace_from_its_reopening(store: TrialStore) -> None:
    """A keyed submit whose start failed, retried an hour later (``keyed_submit``: the job
    reopened, ``recurring.carry_on``), with a reaper pass while the retry's StartExecution is
    on its way. Before: the grace counted from the job's creation, and the pass failed the
    job at once as one whose start began none (the start's record then took it back). Now it
    counts from the reopening: a job reopened with no execution recorded a grace later (its
    start's record lost) is failed then, not before."""
    bus, clock, orchestrator = Bus(), Clock(), RetriedLate()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, bus.publisher, clock=clock)
    spec = parse_spec(spec_document())
    with pytest.raises(RuntimeError):
        submit_keyed(service, spec, None, "k")
    job_id = keyed_job_id("tiny", None, "k")
    assert bus.completions() == [(job_id, "failed")]
    clock.now += 3600
    passes: list[dict[str, int]] = []
    orchestrator.during = lambda: passes.append(service.reap(grace_seconds=300))
    job = submit_keyed(service, spec, None, "k")
    assert "unstarted_failed" not in passes[0]
    assert job.status is JobStatus.RUNNING and job.execution_id and job.reopened_at == clock.now

    service.create_job(spec, job_id="lost")
    store.set_job_status("lost", JobStatus.FAILED, error=f"{START_FAILED}: throttled")
    clock.now += 3600
    store.set_job_status("lost", JobStatus.RUNNING, expected=(JobStatus.FAILED,), reopen=True)  # its record lost
    clock.now += 300
    assert "unstarted_failed" not in service.reap(grace_seconds=300)
    clock.now += 1
    assert service.reap(grace_seconds=300)["unstarted_failed"] == 1
    assert store.get_job("lost").status is JobStatus.FAILED


def test_a_study_driven_by_ask_tell_on_the_same_table_is_left_running_by_the_reaper(store: TrialStore) -> None:
    """A ``Study`` (no trial block, no execution ever) kept in the deployment's table: the
    reaper must not take it for a job whose start failed."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), bus.publisher, clock=clock)
    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "x", "type": "float", "low": 0.0, "high": 1.0}]}
    )
    study = hyperstep.Study(space, store=store, job_id="study", seed=0, strategy="random")
    clock.now += 2 * PUBLISH_GRACE_SECONDS
    assert "unstarted_failed" not in service.reap(grace_seconds=300)
    assert store.get_job("study").status is JobStatus.RUNNING and bus.completions() == []
    (trial,) = study.ask()
    study.tell(trial.id, 0.5)  # and it goes on


class FailsFor:
    """PutEvents failing for one job's event (throttled past the SDK's retries), not the others'."""

    def __init__(self, publisher: EventBridgePublisher, job_id: str) -> None:
        self.publisher, self.job_id = publisher, job_id

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        if detail["job_id"] == self.job_id:
            raise RuntimeError("ThrottlingException: Rate exceeded")
        self.publisher.publish(detail_type, detail)


def test_one_lost_event_failing_again_fails_the_pass_after_the_others_are_announced(store: TrialStore) -> None:
    """Both closers died before their publish; the reaper's publish of one fails again: the
    other is announced, the pass raises (the reaper's error metric and alarm see it), and
    the next pass announces the first."""
    bus, clock = Bus(), Clock()
    store.clock = clock
    failing = FailsFor(bus.publisher, "a")
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator(), failing, clock=clock)
    for job_id in ("a", "b"):
        service.create_job(parse_spec(spec_document()), job_id=job_id)
        store.set_job_status(job_id, JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))  # its closer's write
    clock.now += PUBLISH_GRACE_SECONDS + 1
    with pytest.raises(RuntimeError, match="ThrottlingException"):
        service.reap()
    assert bus.completions() == [("b", "completed")]
    failing.job_id = None
    assert service.reap()["announced"] == 1
    assert bus.completions() == [("a", "completed")]


def test_a_round_answered_closed_counts_its_history_events(store: TrialStore) -> None:
    """The round that launches nothing (its own name read closed) still parks its token or
    goes round again through Suggest Trials and Job Done?: it counts ``ROUND_EVENTS`` as any
    round does, or the execution would under-count its history toward the hand-over."""
    orchestrator, _ = answering_already_exists({"status": "FAILED", "redriveCount": 0})
    service = TuningService(store, {"local": FakeBackend()}, orchestrator, Bus().publisher)
    service.create_job(parse_spec(spec_document()), job_id="job")  # its start's record lost
    plan = service.suggest(SuggestRequest(job_id="job", execution="job-1-abc", history_events=100))
    assert not plan.done and plan.trial_ids == [] and plan.history_events == 100 + ROUND_EVENTS
