"""The use cases with a fake backend and orchestrator: what each decides."""

from __future__ import annotations

import time
from typing import Any

import pytest

from hyperstep.backends.base import TrialBackend
from hyperstep.errors import ExecutionClosedError, JobExistsError
from hyperstep.execution_events import ExecutionStatusChange
from hyperstep.messages import FinishRequest, LaunchRequest, SuggestRequest, TrialResult, WaitRequest
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.ports import Orchestrator
from hyperstep.service import HANDOFF_EVENTS, MAX_NAMES, ROUND_EVENTS, START_FAILED, TuningService, execution_name
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document


class FakeBackend(TrialBackend):
    def __init__(self) -> None:
        self.launched: list[str] = []
        self.stopped: list[str] = []
        self.results: dict[str, TrialResult] = {}

    def launch(self, job: Job, trial: Trial) -> str:
        self.launched.append(trial.id)
        return f"ref-{trial.id}"

    def stop(self, job: Job, trial: Trial) -> None:
        self.stopped.append(trial.id)

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        return self.results.get(trial.id)


class FakeOrchestrator(Orchestrator):
    def __init__(self) -> None:
        self.woken: list[tuple[str, dict[str, Any]]] = []
        self.started: list[str] = []
        self.executions: dict[str, ExecutionStatusChange] = {}
        """What ``describe_execution`` answers, by execution id (none: unknown)."""

    def start_execution(self, job_id: str, name: str) -> str:
        self.started.append(name)
        return f"exec-{name}"

    def send_task_success(self, token: str, output: dict[str, Any]) -> bool:
        self.woken.append((token, output))
        return True

    def describe_execution(self, execution_id: str) -> ExecutionStatusChange | None:
        return self.executions.get(execution_id)


@pytest.fixture
def parts() -> tuple[TuningService, FakeBackend, FakeOrchestrator, Clock]:
    backend, orchestrator, clock = FakeBackend(), FakeOrchestrator(), Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": backend}, orchestrator)
    return service, backend, orchestrator, clock


def submit(service: TuningService, **overrides: Any) -> Job:
    return service.submit(parse_spec(spec_document(**overrides)), job_id="job")


def finish(service: TuningService, trial_id: str, loss: float | None, state: str = "completed") -> bool:
    metrics = {} if loss is None else {"loss": loss}
    return service.collect(TrialResult(job_id="job", trial_id=trial_id, state=state, metrics=metrics))


def test_suggest_fills_free_slots_then_finishes_when_budget_is_used(parts) -> None:
    service, backend, _, _ = parts
    submit(service, budget={"max_trials": 3, "max_parallel": 2})
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0001", "t0002"] and not plan.done
    for trial_id in plan.trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    assert backend.launched == ["t0001", "t0002"]
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == []  # no free slot
    finish(service, "t0001", 0.5)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0003"]
    finish(service, "t0002", 0.2)
    finish(service, "t0003", 0.9)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "max_trials 3 used" and plan.results_seen == 3
    summary = service.finish(FinishRequest(job_id="job"))
    assert summary["status"] == "completed" and summary["best_trial_id"] == "t0002"


def test_collect_records_once_and_a_missing_objective_fails_the_trial(parts) -> None:
    service, _, _, _ = parts
    submit(service)
    service.suggest(SuggestRequest(job_id="job"))
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"acc": 1.0}))
    assert not finish(service, "t0001", 0.1)  # a late duplicate changes nothing
    trial = service.store.get_trial("job", "t0001")
    assert trial.state is TrialState.FAILED and "objective metric 'loss' was not reported" in trial.error
    assert service.store.get_job("job").failed == 1


def test_reported_metrics_complete_a_trial_whose_end_event_has_none(parts) -> None:
    service, _, _, _ = parts
    submit(service)
    service.suggest(SuggestRequest(job_id="job"))
    service.report_metrics("job", "t0001", {"loss": 0.25})
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed"))
    assert service.store.get_trial("job", "t0001").value == 0.25


def test_wait_wakes_at_once_when_results_came_in_before_it(parts) -> None:
    service, _, orchestrator, _ = parts
    submit(service)
    plan = service.suggest(SuggestRequest(job_id="job"))
    service.wait(WaitRequest(job_id="job", task_token="tok-1", results_seen=plan.results_seen))
    assert orchestrator.woken == []  # nothing new: it waits
    finish(service, "t0001", 0.3)  # collect takes the token and wakes
    assert [token for token, _ in orchestrator.woken] == ["tok-1"]
    finish(service, "t0002", 0.3)  # no token parked: nobody to wake
    service.wait(WaitRequest(job_id="job", task_token="tok-2", results_seen=1))
    assert [token for token, _ in orchestrator.woken] == ["tok-1", "tok-2"]  # news since the plan


def test_a_round_parks_its_token_and_a_retry_replaces_it_with_its_own(parts) -> None:
    """Suggest Trials waits for its own token: a plan that goes on parks it (with the
    execution's history count, handed back on waking); a retried attempt's new token
    replaces the first, so the result wakes the attempt that waits, never a stale one."""
    service, _, orchestrator, _ = parts
    submit(service, budget={"max_trials": 4, "max_parallel": 2})
    first = service.suggest_round(SuggestRequest(job_id="job", task_token="attempt-1", history_events=16))
    retried = service.suggest_round(SuggestRequest(job_id="job", task_token="attempt-2", history_events=16))
    assert (first.trial_ids, retried.trial_ids) == (["t0001", "t0002"], [])  # the first launched them
    assert orchestrator.woken == []
    finish(service, "t0001", 0.3)
    [(token, output)] = orchestrator.woken
    assert token == "attempt-2"
    assert (output["done"], output["handoff"], output["history_events"]) == (False, False, 16 + ROUND_EVENTS)


def test_a_round_that_ends_the_job_sends_its_plan_back_itself(parts) -> None:
    service, _, orchestrator, _ = parts
    submit(service, budget={"max_trials": 1, "max_parallel": 1})
    service.suggest_round(SuggestRequest(job_id="job", task_token="round-1"))
    finish(service, "t0001", 0.3)  # wakes round 1
    plan = service.suggest_round(SuggestRequest(job_id="job", task_token="round-2"))
    assert plan.done
    assert orchestrator.woken[-1] == ("round-2", plan.model_dump(mode="json"))
    assert service.store.take_task_token("job") is None  # nothing parked


def test_target_reached_stops_running_trials_and_ends_the_job(parts) -> None:
    service, backend, _, _ = parts
    submit(service, budget={"max_trials": 10, "max_parallel": 2, "target": 0.1})
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    finish(service, "t0001", 0.05)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == [] and not plan.done and backend.stopped == ["t0002"]
    finish(service, "t0002", None, state="stopped")
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "target 0.1 reached"
    assert service.store.get_job("job").budget_used == 1  # the stopped trial gave its budget back


def test_too_many_failures_stop_new_trials(parts) -> None:
    service, _, _, _ = parts
    submit(service, budget={"max_trials": 10, "max_parallel": 1, "max_failed_trials": 0})
    service.suggest(SuggestRequest(job_id="job"))
    finish(service, "t0001", None, state="failed")
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "more than max_failed_trials (0) failed"
    assert service.finish(FinishRequest(job_id="job"))["status"] == "failed"


def test_max_runtime_stops_new_trials(parts) -> None:
    service, _, _, clock = parts
    submit(service, budget={"max_trials": 10, "max_parallel": 1, "max_runtime_seconds": 60})
    service.suggest(SuggestRequest(job_id="job"))
    finish(service, "t0001", 0.3)
    clock.now += 59
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == ["t0002"]
    finish(service, "t0002", 0.3)
    clock.now += 1
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "max_runtime_seconds 60 reached"


def test_user_stop_finishes_the_job_as_stopped(parts) -> None:
    service, backend, orchestrator, _ = parts
    submit(service)
    plan = service.suggest(SuggestRequest(job_id="job"))
    service.launch(LaunchRequest(job_id="job", trial_id=plan.trial_ids[0]))
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=0))
    service.stop("job")
    assert backend.stopped == ["t0001"]
    assert service.store.get_trial("job", "t0002").state is TrialState.STOPPED  # never launched
    assert orchestrator.woken and orchestrator.woken[0][1]["done"] is False  # t0001 still running
    finish(service, "t0001", None, state="stopped")
    assert service.suggest(SuggestRequest(job_id="job")).done
    assert service.finish(FinishRequest(job_id="job"))["status"] == "stopped"


def test_an_unseeded_sobol_job_never_proposes_a_point_twice_across_rounds() -> None:
    """Each Suggest builds its study afresh; the job's one seed keeps Sobol's sequence
    going from round to round, so 16 trials of two 4-valued parameters are all 16 pairs."""
    grid = [{"name": name, "type": "int", "low": 0, "high": 3} for name in ("a", "b")]
    document = spec_document(parameters=grid, strategy={"name": "sobol"}, budget={"max_trials": 16, "max_parallel": 2})
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(document), job_id="job")
    pairs = []
    while not (plan := service.suggest(SuggestRequest(job_id=job.id))).done:
        for trial_id in plan.trial_ids:
            trial = service.store.get_trial(job.id, trial_id)
            pairs.append((trial.params["a"], trial.params["b"]))
            finish(service, trial_id, float(len(pairs)))
    assert len(pairs) == 16 and len(set(pairs)) == 16


class LateReportingBackend(FakeBackend):
    late_reports = True


def test_one_virtual_clock_stamps_every_time_of_a_job() -> None:
    """The store and the service read one clock: a job run on a virtual clock holds no
    wall-clock time anywhere, its id included."""
    clock = Clock()
    clock.now = start = 86_400.0  # 1970-01-02
    service = TuningService(SQLiteStore(clock=clock), {"local": LateReportingBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})))
    assert "-19700102000000-" in job.id
    clock.now += 10
    trial_ids = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
    clock.now += 10
    for trial_id in trial_ids:
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    clock.now += 10
    service.collect(TrialResult(job_id=job.id, trial_id="t0001", state="completed", metrics={"loss": 0.5}))
    clock.now += 10
    service.collect(TrialResult(job_id=job.id, trial_id="t0002", state="completed"))  # awaits its objective
    clock.now += 10
    assert service.reap(grace_seconds=5)["recorded"] == 1  # none came within the grace: failed
    clock.now += 10
    service.finish(FinishRequest(job_id=job.id))
    job, trials = service.store.get_job(job.id), service.store.list_trials(job.id)
    stamps = [job.created_at, job.ended_at]
    for trial in trials:
        stamps += [trial.created_at, trial.started_at, trial.ended_at]
    stamps.append(trials[1].awaiting_result_since)
    assert stamps == [
        start,
        start + 60,
        *[start + 10, start + 20, start + 30],
        start + 10,
        start + 20,
        start + 50,
        start + 40,
    ]


def test_reaper_collects_lost_results_and_times_out_stuck_trials(parts) -> None:
    service, backend, _, clock = parts
    submit(service)
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    backend.results["t0001"] = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.4})
    clock.now += 60 + 301
    counts = service.reap()
    assert counts == {"jobs": 1, "recorded": 1, "timed_out": 1}
    assert service.store.get_trial("job", "t0001").value == 0.4
    assert service.store.get_trial("job", "t0002").error == "timed out"


def test_finish_after_a_caught_error_fails_the_job(parts) -> None:
    service, _, _, _ = parts
    submit(service)
    summary = service.finish(FinishRequest(job_id="job", error={"Error": "Boom", "Cause": "suggester crashed"}))
    assert summary["status"] == "failed"
    assert service.store.get_job("job").error == "Boom: suggester crashed"


def test_each_plan_adds_its_round_and_launches_to_the_history_estimate(parts) -> None:
    service, _, _, _ = parts
    submit(service)
    plan = service.suggest(SuggestRequest(job_id="job", execution="first", history_events=100))
    assert len(plan.trial_ids) == 2 and not plan.handoff
    assert plan.history_events == 100 + ROUND_EVENTS  # however many trials it launches


def test_a_long_execution_hands_the_job_to_a_new_one_once(parts) -> None:
    service, _, orchestrator, _ = parts
    submit(service)
    service.suggest(SuggestRequest(job_id="job"))  # two trials running
    request = SuggestRequest(job_id="job", execution="first", history_events=HANDOFF_EVENTS)
    plan = service.suggest(request)
    assert plan.handoff and not plan.done and plan.trial_ids == []
    assert plan.history_events == 0
    new_name = orchestrator.started[-1]
    assert new_name != orchestrator.started[0] and len(new_name) <= 80
    assert service.store.get_job("job").execution_id == f"exec-{new_name}"
    # A retried Suggest asks for the very same execution (StartExecution is idempotent by name).
    service.suggest(request)
    assert orchestrator.started[-2:] == [new_name, new_name]
    assert len(service.store.list_trials("job")) == 2  # handing over launched nothing


def test_a_stopping_job_is_not_handed_over(parts) -> None:
    service, _, orchestrator, _ = parts
    submit(service)
    service.stop("job")
    plan = service.suggest(SuggestRequest(job_id="job", execution="first", history_events=HANDOFF_EVENTS))
    assert not plan.handoff and plan.done
    assert len(orchestrator.started) == 1  # only the submit


def test_a_retried_suggest_plans_the_trials_its_first_run_reserved(parts) -> None:
    """Step Functions runs Suggest again when its response was lost after its writes landed:
    the second run must plan the pending trials again, not count them as running."""
    service, backend, _, _ = parts
    submit(service, budget={"max_trials": 3, "max_parallel": 2})
    request = SuggestRequest(job_id="job", execution="first", history_events=100)
    first = service.suggest(request)
    again = service.suggest(request)
    assert again == first and again.trial_ids == ["t0001", "t0002"] and not again.done
    assert service.store.get_job("job").budget_used == 2  # nothing reserved twice
    for trial_id in again.trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    assert backend.launched == ["t0001", "t0002"]
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == []  # launched: nothing pending


def test_pending_trials_join_the_new_ones_within_max_parallel(parts) -> None:
    service, _, _, _ = parts
    submit(service, budget={"max_trials": 6, "max_parallel": 3})
    first = service.suggest(SuggestRequest(job_id="job"))
    service.launch(LaunchRequest(job_id="job", trial_id=first.trial_ids[0]))
    finish(service, first.trial_ids[0], 0.5)  # one slot free, two trials still pending
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.trial_ids == ["t0002", "t0003", "t0004"]
    assert service.store.get_job("job").budget_used == 4


class ArnOrchestrator(FakeOrchestrator):
    """Execution ids as Step Functions and the local executor give them: ARNs ending in the name."""

    def start_execution(self, job_id: str, name: str) -> str:
        super().start_execution(job_id, name)
        return f"arn:aws:states:us-east-1:123456789012:execution:tuning:{name}"


def test_a_retried_hand_over_hands_over_again_whatever_happened_since(parts) -> None:
    """The first run started the successor and recorded it; the job was stopped before the
    retry. The retry must still end this execution (the successor finishes the job), not
    carry on beside it as a second loop."""
    service, backend, _, _ = parts
    orchestrator = service.orchestrator = ArnOrchestrator()
    submit(service)
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    request = SuggestRequest(job_id="job", execution="first", history_events=HANDOFF_EVENTS)
    assert service.suggest(request).handoff
    started = list(orchestrator.started)
    service.stop("job")
    stopped = list(backend.stopped)
    plan = service.suggest(request)
    assert plan.handoff and not plan.done and plan.trial_ids == []
    assert orchestrator.started == started and backend.stopped == stopped  # nothing done twice


def test_a_hand_over_whose_successor_has_closed_records_that_successor(parts) -> None:
    """A retried hand-over's successor ran the job and ended: its name is refused
    (``ExecutionClosedError``), and the job keeps it as its execution, starting no other."""
    service, _, _, _ = parts

    class SuccessorClosed(ArnOrchestrator):
        def start_execution(self, job_id: str, name: str) -> str:
            arn = super().start_execution(job_id, name)
            if len(self.started) > 1:  # the hand-over, not the submit
                raise ExecutionClosedError(arn)
            return arn

    service.orchestrator = SuccessorClosed()
    submit(service)
    plan = service.suggest(SuggestRequest(job_id="job", execution="first", history_events=HANDOFF_EVENTS))
    job = service.store.get_job("job")
    assert plan.handoff and len(service.orchestrator.started) == 2
    assert job.execution_id and job.execution_id.endswith(service.orchestrator.started[-1])


def test_a_stop_landing_during_a_hand_over_is_not_written_back_to_running(parts) -> None:
    service, _, _, _ = parts

    class StopMeanwhile(ArnOrchestrator):
        def start_execution(self, job_id: str, name: str) -> str:
            if self.started:  # the hand-over, not the submit: the user stops the job right now
                service.stop(job_id)
            return super().start_execution(job_id, name)

    service.orchestrator = StopMeanwhile()
    submit(service)
    plan = service.suggest(SuggestRequest(job_id="job", execution="first", history_events=HANDOFF_EVENTS))
    job = service.store.get_job("job")
    assert plan.handoff and job.status is JobStatus.STOPPING
    assert job.execution_id and job.execution_id.endswith(service.orchestrator.started[-1])


def test_an_execution_that_finishes_the_job_before_its_start_returns_is_not_written_back_to_running(parts) -> None:
    """The local executor runs an execution on its own thread at once: a job whose trials
    all fail at launch can be closed by Finish before ``start_execution`` returns. Recording
    the execution must keep that end (it wrote the job back to running, its end lost, and
    ``hyperstep run`` returned a running job: a flaky e2e test showed it)."""
    service, _, _, _ = parts

    class FinishedAtOnce(ArnOrchestrator):
        def start_execution(self, job_id: str, name: str) -> str:
            arn = super().start_execution(job_id, name)
            service.finish(FinishRequest(job_id=job_id, error={"Error": "States.TaskFailed", "Cause": "boom"}))
            return arn

    service.orchestrator = FinishedAtOnce()
    job = submit(service)
    assert job.status is JobStatus.FAILED and service.store.get_job("job").status is JobStatus.FAILED
    assert job.execution_id and job.execution_id.endswith(service.orchestrator.started[-1])


def test_the_reaper_reaches_an_unfinished_job_behind_a_thousand_newer_ones(parts) -> None:
    service, backend, _, _ = parts
    submit(service, budget={"max_trials": 1, "max_parallel": 1})
    service.launch(LaunchRequest(job_id="job", trial_id=service.suggest(SuggestRequest(job_id="job")).trial_ids[0]))
    spec, later = service.store.get_job("job").spec, time.time() + 1
    for k in range(1000):
        service.store.create_job(Job(id=f"newer-{k}", spec=spec, status=JobStatus.COMPLETED, created_at=later + k))
    backend.results["t0001"] = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.4})
    assert service.reap() == {"jobs": 1, "recorded": 1, "timed_out": 0}
    assert service.store.get_trial("job", "t0001").value == 0.4


def test_the_reaper_wakes_a_job_whose_planned_trials_were_never_launched(parts) -> None:
    """Suggest reserved two trials and its plan was lost for good (its retries ran out in
    a way that left the execution waiting): the reaper's wake leads to a Suggest that
    plans them again."""
    service, _, orchestrator, clock = parts
    submit(service)
    lost = service.suggest(SuggestRequest(job_id="job"))
    service.wait(WaitRequest(job_id="job", task_token="tok", results_seen=lost.results_seen))
    clock.now += 600
    service.reap()
    assert [(token, output["done"]) for token, output in orchestrator.woken] == [("tok", False)]
    assert service.suggest(SuggestRequest(job_id="job")).trial_ids == lost.trial_ids


def test_a_generated_job_id_that_collides_is_drawn_again(parts: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two jobs of one name created in the same second: the second draws its random part again
    rather than failing with "already exists" (a caller's own id still fails)."""
    service, *_ = parts
    draws = iter(["a" * 32, "a" * 32, "b" * 32])
    monkeypatch.setattr("hyperstep.service.uuid.uuid4", lambda: type("U", (), {"hex": next(draws)})())
    spec = parse_spec(spec_document())
    first, second = service.create_job(spec), service.create_job(spec)
    assert first.id.endswith("-aaaaaaaa") and second.id.endswith("-bbbbbbbb")
    assert {job.id for job in service.store.list_jobs()} == {first.id, second.id}
    with pytest.raises(JobExistsError):
        service.create_job(spec, job_id=first.id)


def test_a_job_whose_trials_failed_or_were_pruned_completes_with_the_pruned_best(parts) -> None:
    """A pruned trial keeps its value and is the job's best while none completed: the job did
    not fail, and "every trial failed" would be false (the old rule read completed alone)."""
    service, *_ = parts
    submit(service, budget={"max_trials": 2, "max_parallel": 2})
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    finish(service, "t0001", None, state="failed")
    assert service.store.finish_trial("job", "t0002", TrialState.PRUNED, value=0.4, metrics={"loss": 0.4})
    job = service.store.get_job("job")
    assert (job.completed, job.failed, job.pruned) == (0, 1, 1)
    summary = service.finish(FinishRequest(job_id="job"))
    assert (summary["status"], service.store.get_job("job").error) == ("completed", None)


class SomeNamesClosed(FakeOrchestrator):
    """Names in ``closed`` are held by executions that have ended (Step Functions refuses them)."""

    def __init__(self, closed: set[str]) -> None:
        super().__init__()
        self.closed = closed

    def start_execution(self, job_id: str, name: str) -> str:
        arn = super().start_execution(job_id, name)
        if name in self.closed:
            raise ExecutionClosedError(arn)
        return arn


def test_a_start_goes_past_the_seeds_closed_names_to_the_first_free_one(parts) -> None:
    """The seed's own name first (the one code before ``_live_execution`` used, so a retry
    finds an execution an earlier try started), then ``seed/1``, ``seed/2``, ... in order."""
    service, _, _, _ = parts
    names = [execution_name("job", "key" if n == 0 else f"key/{n}") for n in range(MAX_NAMES)]
    service.orchestrator = SomeNamesClosed(set(names[:3]))
    service.create_job(parse_spec(spec_document()), job_id="job")
    job = service.start_execution("job", "key")
    assert service.orchestrator.started == names[:4]
    assert job.execution_id == f"exec-{names[3]}" and job.status is JobStatus.RUNNING


def test_a_start_whose_every_name_has_closed_fails_the_job(parts) -> None:
    service, _, _, _ = parts
    names = [execution_name("job", "key" if n == 0 else f"key/{n}") for n in range(MAX_NAMES)]
    service.orchestrator = SomeNamesClosed(set(names))
    service.create_job(parse_spec(spec_document()), job_id="job")
    with pytest.raises(ExecutionClosedError):
        service.start_execution("job", "key")
    assert service.orchestrator.started == names
    job = service.store.get_job("job")
    assert job.status is JobStatus.FAILED and job.error and job.error.startswith(START_FAILED)
