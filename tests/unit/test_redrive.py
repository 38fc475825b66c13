"""A loop that meets a job it must not go on with: closed, or being stopped.

Step Functions' ``RedriveExecution`` restarts a failed, aborted or timed-out execution from
the state that did not succeed, with that state's same input (Developer Guide, "Redriving
executions"): moto has no redrive, so these tests run what it re-runs, the Suggest Trials
round (same job, execution name and history count, a new task token) or Finish Job (same
input), against a job in the state the first run left. Whatever closed the job (its
execution's end, ``close_ended_execution``, or Finish Job), a redriven round must not start
trials, stop them again or spin: it goes to Finish Job, which changes nothing and publishes
nothing again. A job the failure left running goes on as if nothing had happened.

Also here: a Suggest still running when its execution was stopped (Step Functions does not
stop a Lambda it invoked) must not launch what it planned on the job closed meanwhile, and
a round on a job being stopped waits for its trials' ends instead of waking itself at once.

And an old execution redriven after its job moved on (to a hand-over's successor, or a
start's next name) launches nothing: the job's recorded execution runs it, and a second loop
would launch trials against the same budget. The job's own execution is never refused: its
successor's first Suggest may come before its record lands.
"""

from __future__ import annotations

import json
import time

from botocore.exceptions import ClientError

from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.handlers import handle_finish
from hyperstep.messages import FinishRequest, LaunchRequest, SuggestRequest, TrialResult, WaitRequest
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import HANDOFF_EVENTS, ROUND_EVENTS, TuningService, execution_name
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock
from tests.unit.test_execution_ended import Parts, parts, status_change
from tests.unit.test_service import ArnOrchestrator, FakeBackend, FakeOrchestrator, submit

__all__ = ["parts"]

EXECUTION = "job-0a1b2c3d"
"""The execution's name (``$$.Execution.Name``), as a redrive gives it to Suggest again."""


def orchestrator(parts: Parts) -> FakeOrchestrator:
    assert isinstance(parts.service.orchestrator, FakeOrchestrator)
    return parts.service.orchestrator


def redriven_round(parts: Parts, token: str) -> SuggestRequest:
    return SuggestRequest(job_id="job", execution=EXECUTION, history_events=3 * ROUND_EVENTS, task_token=token)


def test_a_redriven_round_on_a_job_its_aborted_execution_closed_goes_straight_to_finish(parts: Parts) -> None:
    """Aborted while its round waited: the status-change event closed the job and told its two
    running trials to stop (their stopped events still on the way). The redrive re-runs
    Suggest Trials: it must end the round with a done plan at once, launching nothing and
    stopping nothing again, and the redriven Finish Job must publish nothing again."""
    service = parts.service
    handle_finish(service, status_change("job", parts.execution, "ABORTED"))
    closed = service.store.get_job("job")
    assert closed.status is JobStatus.FAILED and closed.completion_published
    stopped_before, published_before = list(parts.backend.stopped), list(parts.published.events)

    plan = service.suggest_round(redriven_round(parts, "redriven-1"))

    assert plan.done and plan.trial_ids == [] and plan.reason == "job is failed"
    assert orchestrator(parts).woken[-1] == ("redriven-1", plan.model_dump(mode="json"))  # not parked: no spin
    assert service.store.take_task_token("job") is None
    assert [t.id for t in service.store.list_trials("job")] == ["t0001", "t0002"]  # no new trial
    assert parts.backend.launched == ["t0001", "t0002"] and parts.backend.stopped == stopped_before
    summary = service.finish(FinishRequest(job_id="job"))
    assert summary["status"] == "failed" and service.store.get_job("job").error == closed.error
    assert parts.published.events == published_before


def test_a_redriven_round_on_a_finished_job_with_a_trial_still_recorded_running_does_not_spin(parts: Parts) -> None:
    """Finish Job closed the job (it completed) and its publish landed, then the execution
    failed after it (Finish Job's response lost on every retry). A trial whose stopped event
    never came stays running in the store (the reaper visits unfinished jobs only): the
    redriven round must still end at once, not wait on it or wake itself round after round."""
    service = parts.service
    service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.2}))
    service.finish(FinishRequest(job_id="job"))
    assert service.store.get_trial("job", "t0002").state is TrialState.RUNNING
    woken_before = len(orchestrator(parts).woken)

    plan = service.suggest_round(redriven_round(parts, "redriven-1"))

    assert plan.done and [token for token, _ in orchestrator(parts).woken[woken_before:]] == ["redriven-1"]
    assert service.store.get_job("job").status is JobStatus.COMPLETED
    assert len(parts.published.events) == 1


def test_a_suggest_still_running_when_its_job_was_closed_launches_nothing(parts: Parts) -> None:
    """StopExecution ends the execution, not the Suggest Lambda it invoked: the job is closed
    (and its trials stopped) while that Suggest goes on with the trials it planned. Launching
    them would start training nothing ever stops; they are recorded stopped instead."""
    service = parts.service
    service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.2}))
    plan = service.suggest(SuggestRequest(job_id="job"))  # planned while the job ran
    assert plan.trial_ids == ["t0003"]
    service.store.set_job_status("job", JobStatus.FAILED, error="ExecutionAborted: closed meanwhile")

    answer = service.launch(LaunchRequest(job_id="job", trial_id="t0003"))

    assert answer == {"trial_id": "t0003", "state": "stopped"}
    assert "t0003" not in parts.backend.launched
    assert service.store.get_trial("job", "t0003").state is TrialState.STOPPED


def test_a_round_on_a_stopping_job_waits_for_its_trials_ends(parts: Parts) -> None:
    """A stopped job's running trials take a while to stop (SageMaker's StopTrainingJob). The
    round that finds the job stopping tells them to stop and parks its token until one of
    them ends: woken at once it would run round after round (each with its Lambda call and
    eight history events) until they all have, and fill the execution's history."""
    service = parts.service
    service.stop("job")
    woken_before = len(orchestrator(parts).woken)

    plan = service.suggest_round(SuggestRequest(job_id="job", task_token="round-2"))

    assert not plan.done and plan.stopping
    assert orchestrator(parts).woken[woken_before:] == []  # parked
    service.collect(TrialResult(job_id="job", trial_id="t0001", state="stopped"))
    assert [token for token, _ in orchestrator(parts).woken[woken_before:]] == ["round-2"]


def test_a_stop_landing_during_a_round_still_wakes_it_at_once(parts: Parts) -> None:
    """The round planned with the job running; a stop landed before it parked its token (the
    stop's own wake found none): the round wakes at once to see it."""
    service = parts.service
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert not plan.stopping
    service.stop("job")  # nothing parked yet: wakes nobody
    woken_before = len(orchestrator(parts).woken)
    service.wait(WaitRequest(job_id="job", task_token="round-2", results_seen=plan.results_seen))
    assert [token for token, _ in orchestrator(parts).woken[woken_before:]] == ["round-2"]


def test_a_redriven_round_on_a_job_still_running_goes_on(parts: Parts) -> None:
    """The execution failed while its job stayed running (the status-change event not yet
    handled, say). The redriven Suggest Trials, with the same input and a new token, plans
    no trial twice and parks its token; the next result wakes the redriven round."""
    service = parts.service
    first = service.suggest_round(redriven_round(parts, "first"))
    assert first.trial_ids == [] and not first.done  # both slots busy

    redriven = service.suggest_round(redriven_round(parts, "redriven-1"))

    assert redriven.model_dump(exclude={"history_events"}) == first.model_dump(exclude={"history_events"})
    assert [t.id for t in service.store.list_trials("job")] == ["t0001", "t0002"]
    service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.2}))
    [(token, output)] = orchestrator(parts).woken
    assert token == "redriven-1" and output["done"] is False
    assert service.store.get_job("job").status is JobStatus.RUNNING


def test_a_redriven_finish_on_a_job_still_running_closes_it_once(parts: Parts) -> None:
    """Finish Job failed on every retry before writing anything, and nothing closed the job
    since: the redriven Finish Job closes it and publishes its completion once."""
    service = parts.service
    for trial_id in ("t0001", "t0002"):
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 0.2}))
    summary = service.finish(FinishRequest(job_id="job"))
    assert summary["status"] == "completed"
    service.finish(FinishRequest(job_id="job"))  # a second redrive of it, say
    assert [detail["status"] for _, detail in parts.published.events] == ["completed"]


MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:tuning"


class Described(ArnOrchestrator):
    """Every execution started runs (DescribeExecution answers ``RUNNING``) until ``end``;
    ``described``: the executions asked of."""

    def __init__(self) -> None:
        super().__init__()
        self.described: list[str] = []

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        self.executions[arn] = ExecutionStatusChange(
            execution_arn=arn,
            state_machine_arn=MACHINE,
            name=name,
            status="RUNNING",
            input=json.dumps({"job_id": job_id}),
        )
        return arn

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        self.described.append(execution_id)
        return super().describe_execution(execution_id)

    def end(self, name: str, status: str) -> None:
        arn = next(arn for arn in self.executions if arn.endswith(f":{name}"))
        self.executions[arn] = self.executions[arn].model_copy(update={"status": status})


def handed_over_twice(clock: Clock | None = None) -> tuple[TuningService, Described, list[str]]:
    """A job whose first execution reserved two trials (pending) and handed the job over, and
    that one to a third: the names, in order."""
    orchestrator = Described()
    service = TuningService(SQLiteStore(clock=clock or time.time), {"local": FakeBackend()}, orchestrator)
    submit(service)
    first = orchestrator.started[0]
    assert service.suggest(SuggestRequest(job_id="job", execution=first)).trial_ids  # reserved, pending
    second = execution_name("job", first)
    third = execution_name("job", second)
    assert service.suggest(SuggestRequest(job_id="job", execution=first, history_events=HANDOFF_EVENTS)).handoff
    assert service.suggest(SuggestRequest(job_id="job", execution=second, history_events=HANDOFF_EVENTS)).handoff
    orchestrator.end(first, "SUCCEEDED")
    orchestrator.end(second, "SUCCEEDED")
    assert orchestrator.started == [first, second, third]
    return service, orchestrator, [first, second, third]


def test_an_execution_redriven_after_the_job_moved_on_launches_nothing() -> None:
    """Before: the redriven execution's Suggest planned and launched new trials beside the
    third execution's loop (``handed_over`` knows only its own successor)."""
    service, orchestrator, (first, _, third) = handed_over_twice()
    orchestrator.end(first, "RUNNING")  # redriven
    budget = service.store.get_job("job").budget_used
    plan = service.suggest_and_launch(SuggestRequest(job_id="job", execution=first))
    assert plan.handoff and not plan.done and plan.trial_ids == [] and plan.started == 0
    assert third in (plan.reason or "")
    assert service.store.get_job("job").budget_used == budget


def test_a_redriven_start_whose_job_runs_under_the_next_name_launches_nothing() -> None:
    """The start's first name's execution closed, so the job runs under ``seed/1``
    (``_live_execution``); the first one, redriven, ends without a trial."""
    orchestrator = Described()
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, orchestrator)
    submit(service)
    old, new = execution_name("job", "key"), execution_name("job", "key/1")
    running = service.store.get_job("job").status
    service.store.set_job_status("job", running, execution_id=orchestrator.start_execution("job", new))
    orchestrator.start_execution("job", old)  # redriven: running again
    plan = service.suggest(SuggestRequest(job_id="job", execution=old))
    assert plan.handoff and plan.trial_ids == [] and service.store.get_job("job").budget_used == 0
    assert service.suggest(SuggestRequest(job_id="job", execution=new)).trial_ids  # the job's own runs


def test_the_jobs_own_execution_is_never_refused_and_costs_no_describe() -> None:
    service, orchestrator, (_, _, third) = handed_over_twice()
    orchestrator.described = []
    plan = service.suggest(SuggestRequest(job_id="job", execution=third))
    assert not plan.handoff and plan.trial_ids and orchestrator.described == []


def test_a_successor_whose_record_has_not_landed_runs_the_job() -> None:
    """A hand-over started the successor, whose first Suggest comes before the predecessor
    records it: the job still names the predecessor, running; the successor is not refused."""
    service, orchestrator, (_, _, third) = handed_over_twice()
    fourth = execution_name("job", third)
    orchestrator.start_execution("job", fourth)  # started, not yet recorded
    plan = service.suggest(SuggestRequest(job_id="job", execution=fourth))
    assert not plan.handoff and plan.trial_ids and orchestrator.described == []


def test_an_execution_whose_recorded_one_has_closed_runs_the_job() -> None:
    """The local runner's ``--resume`` starts a new execution with the last run's recorded,
    closed: the new one plans (its record lands when its start returns)."""
    service, orchestrator, (_, _, third) = handed_over_twice()
    orchestrator.end(third, "ABORTED")
    plan = service.suggest(SuggestRequest(job_id="job", execution="resumed"))
    assert not plan.handoff and plan.trial_ids


def test_an_execution_redriven_while_the_jobs_own_awaits_its_redrive_launches_nothing() -> None:
    """The job's recorded execution failed and is being redriven (DescribeExecution:
    ``PENDING_REDRIVE``, an open status): it runs the job again, so an old execution redriven
    beside it launches nothing."""
    service, orchestrator, (first, _, third) = handed_over_twice()
    orchestrator.end(third, "PENDING_REDRIVE")
    orchestrator.end(first, "RUNNING")  # redriven
    plan = service.suggest_and_launch(SuggestRequest(job_id="job", execution=first))
    assert plan.handoff and plan.trial_ids == [] and plan.started == 0


class Throttled(Described):
    """DescribeExecution fails ``failures`` times past botocore's retries (moto cannot throttle)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "DescribeExecution"
            )
        return super().describe_execution(execution_id)


def throttled_stray(clock: Clock | None = None) -> tuple[TuningService, Throttled, list[str]]:
    """``handed_over_twice``, its first execution redriven and its next describe throttled."""
    service, described, names = handed_over_twice(clock)
    orchestrator = Throttled(failures=1)
    orchestrator.executions = described.executions
    service.orchestrator = orchestrator
    orchestrator.end(names[0], "RUNNING")  # redriven
    return service, orchestrator, names


def test_a_stray_whose_describe_fails_hands_over_and_closes_nothing() -> None:
    """Before: the ClientError failed Suggest Trials past its Retry into its Catch, Finish Job,
    which closed the job under its running execution; now the round is sent back handed over."""
    service, orchestrator, (first, _, third) = throttled_stray()
    budget = service.store.get_job("job").budget_used
    plan = service.suggest_round(SuggestRequest(job_id="job", execution=first, task_token="stray-1"))
    assert plan.handoff and not plan.done and plan.trial_ids == [] and plan.started == 0
    [(token, output)] = orchestrator.woken
    assert token == "stray-1" and output["handoff"] is True
    job = service.store.get_job("job")
    assert job.status is JobStatus.RUNNING and (job.execution_id or "").endswith(f":{third}")
    assert job.budget_used == budget


def test_a_stray_that_handed_over_on_a_failed_describe_of_a_closed_execution_leaves_its_job_to_the_reaper() -> None:
    """The recorded execution had closed outside Finish Job (its end event lost), so the stray
    was the job's only live one: it hands over all the same, and the reaper's pass closes the job."""
    clock = Clock()
    service, orchestrator, (first, _, third) = throttled_stray(clock)
    orchestrator.end(third, "ABORTED")
    assert service.suggest(SuggestRequest(job_id="job", execution=first)).handoff
    assert service.store.get_job("job").status is JobStatus.RUNNING
    clock.now += 600
    assert service.reap(grace_seconds=300).get("executions_ended") == 1
    assert service.store.get_job("job").status is JobStatus.FAILED
