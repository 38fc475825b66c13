"""A retried start and the execution its lost try began: the job ends with one execution, never none.

A keyed submit (or a schedule's tick) starts the job's execution under the seed's name; when
StartExecution's answer is lost the start raises and the job is stored failed
(``START_FAILED``) while the execution it began runs. That execution's Suggest read the job
failed and went to Finish; a retry meanwhile reopened the job and, StartExecution being
idempotent for a running name, recorded that same execution (``_live_execution``), which then
ended the job without a trial: none ran it. The interleaving is modelled step by step (moto's
engine cannot pause an execution between its Suggest and its Finish): the execution's Suggest
now takes the job back itself, and the retry finds it running and starts nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from botocore.exceptions import ClientError

from hyperstep.errors import ConflictError, ExecutionClosedError
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.keyed_submit import keyed_job_id, submit_keyed
from hyperstep.messages import FinishRequest, Plan, SuggestRequest
from hyperstep.models import Job, JobStatus, StopReason
from hyperstep.recurring import TICK_SEED, carry_on
from hyperstep.service import START_FAILED, TuningService, execution_name
from hyperstep.spec import JobSpec, parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator


class StepFunctions(FakeOrchestrator):
    """Executions by name: a running name answers its own id again (StartExecution is
    idempotent for the same name and input), a closed one raises ``ExecutionClosedError``,
    and the first start of a name in ``lose`` starts it but loses its answer."""

    def __init__(self, lose: set[str]) -> None:
        super().__init__()
        self.running: set[str] = set()
        self.closed: set[str] = set()
        self.lose = lose

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if name in self.closed:
            raise ExecutionClosedError(arn)
        self.running.add(name)
        if name in self.lose:
            self.lose.discard(name)
            raise TimeoutError("StartExecution: read timeout (the execution started)")
        return arn

    def abort(self, name: str) -> None:
        """``StopExecution``: the execution closes (``ABORTED``)."""
        self.running.discard(name)
        self.closed.add(name)


Lost = TypeVar("Lost", bound=StepFunctions)


def suggest(service: TuningService, name: str) -> Plan:
    """The execution's first Suggest."""
    return service.suggest(SuggestRequest(job_id=keyed_job_id("tiny", None, "k"), execution=name))


def finish_if_done(service: TuningService, orchestrator: StepFunctions, name: str, plan: Plan) -> None:
    """What the execution does after a Suggest that says done: Finish Job, then it ends."""
    if plan.done:
        service.finish(FinishRequest(job_id=plan.job_id))
        orchestrator.running.discard(name)
        orchestrator.closed.add(name)


def lost_start(lose: str) -> tuple[TuningService, StepFunctions, JobSpec]:
    """A keyed submit whose StartExecution started ``lose`` but lost its answer: the job is failed."""
    orchestrator = StepFunctions(lose={lose})
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, orchestrator)
    spec = parse_spec(spec_document())
    with pytest.raises(TimeoutError):
        submit_keyed(service, spec, None, "k")
    stored = service.store.get_job(keyed_job_id("tiny", None, "k"))
    assert stored.status is JobStatus.FAILED and (stored.error or "").startswith(START_FAILED)
    return service, orchestrator, spec


def test_a_retry_between_the_executions_reading_and_its_finish_leaves_the_job_run_by_it() -> None:
    """Before: the execution read the job failed (done), the retry reopened it and recorded
    that running execution, whose Finish then ended the job with no trial run."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, spec = lost_start(first)
    plan = suggest(service, first)  # the execution reads the job
    job = submit_keyed(service, spec, None, "k")  # the retry
    finish_if_done(service, orchestrator, first, plan)
    assert not plan.done and plan.trial_ids  # it took the job back and planned its trials
    assert orchestrator.running == {first} and not orchestrator.closed  # one execution, running
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{first}"
    assert service.store.get_job(job_id).status is JobStatus.RUNNING


def test_a_retry_that_reopens_the_job_first_records_the_execution_that_then_runs_it() -> None:
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, spec = lost_start(first)
    job = submit_keyed(service, spec, None, "k")  # the retry reopens the job, finds the execution running
    plan = suggest(service, first)
    finish_if_done(service, orchestrator, first, plan)
    assert job.execution_id == f"exec-{first}" and not plan.done and plan.trial_ids
    assert orchestrator.running == {first} and service.store.get_job(job_id).status is JobStatus.RUNNING


@pytest.mark.parametrize("reopener", ["the keyed retry", "the execution's take-back"])
def test_a_reopened_job_no_longer_shows_its_failed_start(reopener: str) -> None:
    """Before: the job ran on with ``error`` still "could not start execution: ...", shown by
    ``GET /jobs/{id}`` and ``hyperstep status`` as if it had failed."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, _, spec = lost_start(first)
    if reopener == "the keyed retry":
        submit_keyed(service, spec, None, "k")
    else:
        assert not suggest(service, first).done
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.RUNNING and job.error is None


def test_an_execution_that_finds_the_job_failed_then_finished_by_a_retry_leaves_one_running() -> None:
    """The execution read the job failed and ended (Finish changed nothing); the retry then
    finds its name closed and starts the seed's next one: one execution runs the job."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, spec = lost_start(first)
    orchestrator.running.discard(first)
    orchestrator.closed.add(first)  # it ended before reading the job
    job = submit_keyed(service, spec, None, "k")
    second = execution_name(job_id, "k/1")
    assert orchestrator.running == {second} and job.execution_id == f"exec-{second}"
    assert job.status is JobStatus.RUNNING


def test_a_stop_of_a_job_whose_start_failed_keeps_it_from_being_taken_back() -> None:
    """A stop sent while the job is START_FAILED: the job is not over (the execution whose
    start lost its answer takes it back, a keyed retry reopens it), so the stop is accepted
    and closes it stopped; neither runs it then. Before: 409 "job is failed", and then the
    execution took the job back and ran its trials against the user's stop."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, spec = lost_start(first)
    stopped = service.stop(job_id)
    assert stopped.status is JobStatus.STOPPED and stopped.stop_reason is StopReason.STOPPED_BY_USER
    plan = suggest(service, first)  # the execution that started
    assert plan.done and not plan.trial_ids
    started = list(orchestrator.started)
    assert submit_keyed(service, spec, None, "k").status is JobStatus.STOPPED  # the caller's retry
    assert orchestrator.started == started and not service.store.list_trials(job_id)
    with pytest.raises(ConflictError):  # stopped: a second stop is refused as for any ended job
        service.stop(job_id)


def test_a_stop_of_a_job_failed_for_another_reason_is_refused() -> None:
    """Failed otherwise, nothing takes the job back: it is over, and a stop is 409 as for
    any job that has ended."""
    job_id = keyed_job_id("tiny", None, "k")
    service, _, _ = lost_start(execution_name(job_id, "k"))
    service.store.set_job_status(job_id, JobStatus.FAILED, error="stopped: its owner's guardrails changed")
    with pytest.raises(ConflictError):
        service.stop(job_id)
    assert service.store.get_job(job_id).status is JobStatus.FAILED


def test_a_failed_start_of_a_job_that_had_an_execution_is_over_and_a_stop_refused() -> None:
    """Only a job with no execution recorded may be taken back (``is_unstarted``): one whose
    start failed after an execution ran it (a reopen, as local ``--resume`` does) is over,
    and a stop is 409 as for any ended job."""
    job_id = keyed_job_id("tiny", None, "k")
    service, _, _ = lost_start(execution_name(job_id, "k"))
    service.store.set_job_status(job_id, JobStatus.FAILED, expected=(JobStatus.FAILED,), execution_id="exec-old")
    with pytest.raises(ConflictError):
        service.stop(job_id)
    assert service.store.get_job(job_id).status is JobStatus.FAILED


def test_a_take_back_between_the_stops_read_and_write_conflicts(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop read the job START_FAILED, then the execution took it back (running) before
    the stop's write: the write holds only from failed, so it conflicts (409) rather than
    closing a job its execution runs; the caller's retry stops the running job."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, _, _ = lost_start(first)
    read = service.store.get_job
    taken: list[str] = []

    def read_then_taken_back(read_id: str) -> Job:
        job = read(read_id)
        if not taken and job.status is JobStatus.FAILED:  # the execution's first Suggest, now
            taken.append(read_id)
            service.store.set_job_status(read_id, JobStatus.RUNNING, expected=(JobStatus.FAILED,), execution_id=first)
        return job

    monkeypatch.setattr(service.store, "get_job", read_then_taken_back)
    with pytest.raises(ConflictError):
        service.stop(job_id)
    assert taken and read(job_id).status is JobStatus.RUNNING
    assert service.stop(job_id).status is JobStatus.STOPPING  # the retry


def test_an_execution_does_not_take_back_a_job_failed_for_another_reason() -> None:
    """Only START_FAILED (its start's answer lost) is taken back: a job failed otherwise
    with no execution recorded stays failed, and the execution's Suggest says done."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, _, _ = lost_start(first)
    service.store.set_job_status(job_id, JobStatus.FAILED, error="stopped: its owner's guardrails changed")
    plan = suggest(service, first)
    assert plan.done and not plan.trial_ids
    assert service.store.get_job(job_id).status is JobStatus.FAILED


def test_a_retry_that_read_the_job_failed_before_the_execution_took_it_back_starts_nothing() -> None:
    """The retry read the job failed (START_FAILED); the execution's Suggest then took it
    back; the retry's reopening conflicts and it answers the job as the execution left it."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, _ = lost_start(first)
    read_by_the_retry = service.store.get_job(job_id)
    suggest(service, first)  # the execution takes the job back
    job, started = carry_on(service, read_by_the_retry, None, "k")
    assert not started and job.status is JobStatus.RUNNING and job.execution_id == f"exec-{first}"
    assert orchestrator.running == {first}


class LosesTakeBack(StepFunctions):
    """The take-back's own StartExecution (the execution naming itself, while it runs) fails
    as ``fail`` says: ``"timeout"``, its answer lost after the SDK's retries (the call may
    have landed); ``"exists"``, ``ExecutionAlreadyExists`` (``ExecutionClosedError``) to a retry.
    Step Functions' StartExecution: "When the original execution is open and the execution
    input from the new call is identical, the Success message is returned"; closed or another
    input, ExecutionAlreadyExists (StartExecution, Step Functions API reference)."""

    def __init__(self, lose: set[str], fail: str) -> None:
        super().__init__(lose)
        self.fail = fail
        self.failures = 1

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if self.failures and name in self.running and len(self.started) > 1:
            self.failures -= 1
            if self.fail == "timeout":
                raise TimeoutError("StartExecution: read timeout (the call landed)")
            raise ExecutionClosedError(arn)
        return arn


def lost_start_of(make: Callable[[set[str]], Lost]) -> tuple[TuningService, Lost, str]:
    """A keyed submit whose start lost its answer, on the orchestrator ``make`` builds from
    the names to lose; the service, that orchestrator and the execution's name."""
    first = execution_name(keyed_job_id("tiny", None, "k"), "k")
    orchestrator = make({first})
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, orchestrator)
    with pytest.raises(TimeoutError):
        submit_keyed(service, parse_spec(spec_document()), None, "k")
    return service, orchestrator, first


def lost_take_back(fail: str) -> tuple[TuningService, LosesTakeBack, str]:
    """Its execution's take-back fails as ``fail`` says (``LosesTakeBack``)."""
    return lost_start_of(lambda lose: LosesTakeBack(lose, fail))


def test_a_take_back_whose_start_loses_its_answer_is_taken_back_by_the_suggests_retry() -> None:
    """Before: the take-back reopened the job, then its StartExecution raised; Step Functions'
    retry of Suggest found the job running and recorded no execution: it ran, unrecorded."""
    service, orchestrator, first = lost_take_back("timeout")
    job_id = keyed_job_id("tiny", None, "k")
    with pytest.raises(TimeoutError):
        suggest(service, first)  # the take-back's call: its answer lost
    stored = service.store.get_job(job_id)
    assert stored.status is JobStatus.FAILED and stored.execution_id is None  # nothing half-written
    plan = suggest(service, first)  # Step Functions retries the Task
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{first}"
    assert not plan.done and plan.trial_ids and orchestrator.running == {first}


def test_a_take_back_answered_execution_already_exists_leaves_the_job_to_the_retry() -> None:
    """Its own name and input: ExecutionAlreadyExists says this execution has closed (its owner
    stopped it, say) while its Suggest still ran. Before: the take-back recorded it, the job ran
    trials with no execution to wake, and the closed one's end event had found nothing to close.
    Now the job stays failed and the keyed submit's retry starts the seed's next name."""
    service, orchestrator, first = lost_take_back("exists")
    job_id = keyed_job_id("tiny", None, "k")
    plan = suggest(service, first)
    assert plan.done and not plan.trial_ids
    stored = service.store.get_job(job_id)
    assert stored.status is JobStatus.FAILED and stored.execution_id is None
    orchestrator.abort(first)
    job = submit_keyed(service, parse_spec(spec_document()), None, "k")
    second = execution_name(job_id, "k/1")
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{second}"


class ChangedDuringTakeBack(StepFunctions):
    """Runs ``during`` inside the take-back's own StartExecution (the call after the lost
    start): what another caller writes between the take-back's read and its one write."""

    def __init__(self, lose: set[str]) -> None:
        super().__init__(lose)
        self.during: list[Callable[[], object]] = []

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        during, self.during = self.during, []  # the retry's own StartExecution runs none of them
        for change in during:
            change()
        return arn


def test_a_take_back_keeps_what_landed_during_its_start_execution() -> None:
    """The retry reopens the job and records the execution, then the owner's stop lands,
    all while the take-back's StartExecution is under way: its write, conditioned on the job
    still failed, conflicts, and Suggest plans with the job as it is now (stopping), neither
    writing it back to running nor planning from the failed job it read (done at once)."""
    service, orchestrator, first = lost_start_of(ChangedDuringTakeBack)
    job_id, spec = keyed_job_id("tiny", None, "k"), parse_spec(spec_document())
    orchestrator.during = [lambda: submit_keyed(service, spec, None, "k"), lambda: service.stop(job_id)]
    plan = suggest(service, first)
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.STOPPING and job.execution_id == f"exec-{first}"
    assert plan.stopping and orchestrator.running == {first}


def aborted(job_id: str, name: str) -> ExecutionStatusChange:
    """Step Functions' status-change event of the execution ``name``, stopped (StopExecution)."""
    return ExecutionStatusChange(
        executionArn=f"exec-{name}",
        stateMachineArn="sm",
        name=name,
        status="ABORTED",
        input=json.dumps({"job_id": job_id}),
    )


def test_an_execution_stopped_during_its_take_back_launches_nothing_and_the_reaper_closes_its_job() -> None:
    """The owner stops the execution (StopExecution) after its take-back's StartExecution
    answered, and its ABORTED event is handled before the take-back's write: the job then had
    no execution, so the event closed nothing. The take-back asks its name again once the job
    is taken and finds it closed: its round launches nothing, and the reaper's pass closes the
    job as the event would have (DescribeExecution answers ABORTED). Closing it at once would
    close it under an execution redriven just now, which DescribeExecution may still describe
    by its old end."""
    service, orchestrator, first = lost_start_of(ChangedDuringTakeBack)
    job_id = keyed_job_id("tiny", None, "k")
    orchestrator.during = [
        lambda: orchestrator.abort(first),
        lambda: service.close_ended_execution(aborted(job_id, first)),
    ]
    plan = suggest(service, first)
    assert not plan.done and not plan.trial_ids and not service.store.list_trials(job_id)
    assert service.store.get_job(job_id).status is JobStatus.RUNNING
    orchestrator.executions[f"exec-{first}"] = aborted(job_id, first)
    service.clock = service.store.clock = lambda: time.time() + 3600  # type: ignore[method-assign]
    service.reap(grace_seconds=300)
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.FAILED and job.completion_published


class StoppedDuringRetry(StepFunctions):
    """The retry's StartExecution (after the first start lost its answer): the owner's stop
    lands while it is under way, then it raises, its answer lost again (the execution the
    first start began runs on)."""

    def __init__(self, lose: set[str]) -> None:
        super().__init__(lose)
        self.during: list[Callable[[], object]] = []

    def start_execution(self, job_id: str, name: str) -> str:
        super().start_execution(job_id, name)
        if len(self.started) > 1 and self.during:
            during, self.during = self.during, []
            for change in during:
                change()
            raise TimeoutError("StartExecution: read timeout (the retry's)")
        return f"exec-{name}"


def test_a_stop_landing_during_a_retrys_failed_start_is_kept() -> None:
    """The retry reopens the job, the owner stops it, and the retry's StartExecution raises:
    before, the start's failure wrote the job failed (``START_FAILED``) over the stop, and the
    execution the first start began took it back and ran its trials: the stop was lost. Now
    the failure is written only over the job running; a job stopping meanwhile is closed
    stopped (no execution may be running it), and that execution's Suggest finds it closed."""
    service, orchestrator, first = lost_start_of(StoppedDuringRetry)
    job_id = keyed_job_id("tiny", None, "k")
    orchestrator.during = [lambda: service.stop(job_id)]
    with pytest.raises(TimeoutError):
        submit_keyed(service, parse_spec(spec_document()), None, "k")
    plan = suggest(service, first)
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.STOPPED and job.completion_published
    assert plan.done and not plan.trial_ids and not service.store.list_trials(job_id)


def test_a_start_that_raises_after_its_execution_closed_the_job_keeps_the_job_s_end() -> None:
    """The execution the retry's start began runs the job to its end before the call raises
    (the local executor runs at once): before, the failure was written over that end."""
    service, orchestrator, _ = lost_start_of(StoppedDuringRetry)
    job_id = keyed_job_id("tiny", None, "k")
    orchestrator.during = [lambda: service.finish(FinishRequest(job_id=job_id))]
    with pytest.raises(TimeoutError):
        submit_keyed(service, parse_spec(spec_document()), None, "k")
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.COMPLETED and job.completion_published


class LosesRecheck(StepFunctions):
    """The take-back's second StartExecution (asking its own name again once the job is
    taken) raises, its answer lost past the SDK's retries: the execution runs on."""

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if len(self.started) == 3:  # the lost start, the take-back's, then its recheck
            raise TimeoutError("StartExecution: read timeout (the recheck's)")
        return arn


def test_a_take_back_whose_recheck_loses_its_answer_keeps_the_job_to_the_suggests_retry() -> None:
    """Only ``ExecutionAlreadyExists`` (``ExecutionClosedError``) says the execution closed: a
    recheck that raises otherwise says nothing of it (it runs on), so the job stays taken,
    running under it, and Suggest fails for Step Functions' retry of the Task, which plans.
    Closing the job on any error would fail the job its live execution runs."""
    service, orchestrator, first = lost_start_of(LosesRecheck)
    job_id = keyed_job_id("tiny", None, "k")
    with pytest.raises(TimeoutError):
        suggest(service, first)
    job = service.store.get_job(job_id)
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{first}" and not job.completion_published
    plan = suggest(service, first)  # Step Functions retries the Task
    assert not plan.done and plan.trial_ids and orchestrator.running == {first}


def test_a_retry_recording_an_execution_on_its_way_out_leaves_the_job_closed_not_running() -> None:
    """The execution whose start lost its answer failed at its first Suggest for good (Step
    Functions' Catch: Finish Job with the error); its Finish read the job failed
    (``START_FAILED``) and announced it. A keyed retry then reopened the job and, that
    execution still open in its Finish Job, recorded it (StartExecution answers Success while
    a name is open); it then ended through its last state (``SUCCEEDED``). Before: the job
    stayed running for good, run by no execution, the reaper's DescribeExecution reading an
    end that closes nothing. Now the reaper's pass closes it failed, saying why."""
    job_id = keyed_job_id("tiny", None, "k")
    first = execution_name(job_id, "k")
    service, orchestrator, spec = lost_start(first)
    service.finish(FinishRequest(job_id=job_id, error={"Error": "States.TaskFailed", "Cause": "throttled"}))
    assert service.store.get_job(job_id).completion_published  # the failed start, announced
    job = submit_keyed(service, spec, None, "k")  # the retry
    assert job.status is JobStatus.RUNNING and job.execution_id == f"exec-{first}"
    orchestrator.running.discard(first)
    orchestrator.closed.add(first)
    orchestrator.executions[f"exec-{first}"] = ExecutionStatusChange(
        executionArn=f"exec-{first}",
        stateMachineArn="sm",
        name=first,
        status="SUCCEEDED",
        input=json.dumps({"job_id": job_id}),
    )
    counts = service.reap(grace_seconds=-1.0)  # past the grace
    assert counts.get("executions_ended") == 1, counts
    closed = service.store.get_job(job_id)
    assert closed.status is JobStatus.FAILED and closed.completion_published
    assert (closed.error or "").startswith("ExecutionEnded: ") and "none runs the job" in (closed.error or "")
    assert submit_keyed(service, spec, None, "k").status is JobStatus.FAILED  # a further retry: over


class RecordedDuringStart(StepFunctions):
    """A start whose StartExecution runs ``during`` (another start's record landing), then
    raises, its answer lost (the execution it asked for runs)."""

    def __init__(self) -> None:
        super().__init__(set())
        self.during: Callable[[str], object] | None = None

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if self.during is not None:
            during, self.during = self.during, None
            during(arn)
            raise TimeoutError("StartExecution: read timeout (the execution runs)")
        return arn


def test_a_start_timing_out_after_another_recorded_the_execution_leaves_the_job_run_by_it() -> None:
    """Two deliveries of a tick: the first created the job and its StartExecution is on its
    way; the second carries the job on under the same name (the same execution), and its call
    times out while the first's answer records that execution. Before: the second's failed
    write, conditioned on the status only, landed over the record: the job failed with its
    execution recorded, whose Suggest found it closed and ended it, run by none. Now the write
    holds only over the job as read before the start: refused, the job runs."""
    orchestrator = RecordedDuringStart()
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, orchestrator)
    job = service.create_job(parse_spec(spec_document()), job_id="job")
    name = execution_name("job", TICK_SEED)

    def recorded(arn: str) -> None:  # the first delivery's answer
        service.store.set_job_status("job", JobStatus.RUNNING, expected=(JobStatus.RUNNING,), execution_id=arn)

    orchestrator.during = recorded
    with pytest.raises(TimeoutError):
        carry_on(service, job, None)
    stored = service.store.get_job("job")
    assert stored.status is JobStatus.RUNNING and stored.execution_id == f"exec-{name}"
    plan = service.suggest(SuggestRequest(job_id="job", execution=name))
    assert not plan.done and plan.trial_ids


class ThrottledRead(SQLiteStore):
    """A store whose next ``reads`` GetItems of a job fail as DynamoDB throttled past
    botocore's retries (``ProvisionedThroughputExceededException``), running ``during``
    (another try's record landing) at the first."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.during: Callable[[], object] | None = None

    def get_job(self, job_id: str) -> Job:
        if self.reads:
            self.reads -= 1
            during, self.during = self.during, None
            if during is not None:
                during()
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}}, "GetItem"
            )
        return super().get_job(job_id)


def throttled_start(reads: int) -> tuple[TuningService, ThrottledRead, Job]:
    store = ThrottledRead()
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    job = service.create_job(parse_spec(spec_document()), job_id="job")
    store.reads = reads
    return service, store, job


def test_a_start_whose_read_of_the_job_is_throttled_fails_the_job_at_once() -> None:
    """Before: the read sat before the start's ``try``: it raised with nothing written, and
    the job stayed running, run by none, until the reaper's grace was over. Now it fails as
    a refused start does: nothing started, the job failed and its end announced at once."""
    service, _, job = throttled_start(reads=1)
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        carry_on(service, job, None)
    stored = service.store.get_job("job")
    assert service.orchestrator.started == []  # type: ignore[union-attr]
    assert stored.status is JobStatus.FAILED and (stored.error or "").startswith(START_FAILED)
    assert "ProvisionedThroughputExceeded" in (stored.error or "") and stored.completion_published


def test_a_start_whose_read_fails_after_another_recorded_the_execution_leaves_the_job_run_by_it() -> None:
    """Another delivery's start records the execution while this one's read fails: the job
    is read again, found run by that execution, and left to it (no failure written)."""
    service, store, _ = throttled_start(reads=1)
    name = execution_name("job", TICK_SEED)
    arn = f"exec-{name}"
    store.during = lambda: store.set_job_status(
        "job", JobStatus.RUNNING, expected=(JobStatus.RUNNING,), execution_id=arn
    )
    with pytest.raises(ClientError):
        service.start_execution("job", TICK_SEED)
    stored = store.get_job("job")
    assert stored.status is JobStatus.RUNNING and stored.execution_id == arn and not stored.completion_published


def test_a_start_whose_read_fails_twice_leaves_the_job_to_the_reaper() -> None:
    """Both reads throttled: nothing is written (no read to write over), as before."""
    service, store, _ = throttled_start(reads=2)
    with pytest.raises(ClientError):
        service.start_execution("job", TICK_SEED)
    assert store.reads == 0  # both reads were tried
    stored = store.get_job("job")
    assert stored.status is JobStatus.RUNNING and stored.execution_id is None


class UnsureOfStarts(FakeOrchestrator):
    """``started_nothing`` as ``StepFunctionsOrchestrator`` answers it for an error none of
    StartExecution's attempts raised (a GetItem's ``ProvisionedThroughputExceededException``
    is no StartExecution code): unknown, False."""

    def started_nothing(self, error: Exception) -> bool:
        return False


def test_a_throttled_read_fails_the_job_at_once_whatever_the_orchestrator_says_of_the_error() -> None:
    """The read raised before any StartExecution: nothing started, whatever ``started_nothing``
    makes of a DynamoDB error (on AWS: False). The failure is announced at once, not left to
    the reaper's ``announce_lost`` a grace later."""
    store = ThrottledRead()
    service = TuningService(store, {"local": FakeBackend()}, UnsureOfStarts())
    job = service.create_job(parse_spec(spec_document()), job_id="job")
    store.reads = 1
    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        carry_on(service, job, None)
    stored = store.get_job("job")
    assert service.orchestrator.started == []  # type: ignore[union-attr]
    assert stored.status is JobStatus.FAILED and stored.completion_published
