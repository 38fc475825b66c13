"""Completion rules and the stop reason (``hyperstep.completion``): AMT's
``BestObjectiveNotImproving`` and ``ConvergenceDetected``, and why every job stopped."""

from __future__ import annotations

import json

import pytest

from hyperstep.completion import CONVERGED_EI, converged, failed_before_success
from hyperstep.errors import SpecError
from hyperstep.messages import FinishRequest, SuggestRequest, TrialResult
from hyperstep.models import Job, JobStatus, StopReason, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.spec_base import STORED
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.views import job_row, jobs_table
from tests.conftest import spec_document
from tests.unit.test_service import Clock, FakeBackend, FakeOrchestrator, finish, submit


@pytest.fixture
def parts() -> tuple[TuningService, FakeBackend, FakeOrchestrator, Clock]:
    backend, orchestrator, clock = FakeBackend(), FakeOrchestrator(), Clock()
    return TuningService(SQLiteStore(clock=clock), {"local": backend}, orchestrator), backend, orchestrator, clock


def launch_all(service: TuningService) -> list[str]:
    """One round of Suggest Trials, which launches the trials it plans."""
    return service.suggest_and_launch(SuggestRequest(job_id="job")).trial_ids


def test_no_improvement_in_n_completed_trials_ends_the_job_and_says_so(parts) -> None:
    service, _, _, clock = parts
    submit(service, budget={"max_trials": 20, "max_parallel": 1, "no_improvement_trials": 3})
    for value in (0.5, 0.4, 0.6, 0.7, 0.45):  # 0.4 is the best; three after it are no better
        (trial_id,) = launch_all(service)
        clock.now += 1
        finish(service, trial_id, value)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "no improvement in the last 3 completed trials"
    summary = service.finish(FinishRequest(job_id="job"))
    job = service.store.get_job("job")
    assert (job.status, job.stop_reason, job.budget_used) == (JobStatus.COMPLETED, StopReason.NO_IMPROVEMENT, 5)
    assert summary["stop_reason"] == "no_improvement" and "no_improvement" in jobs_table([job_row(job)])


def test_a_plateau_lets_running_trials_finish_and_holds_once_seen(parts) -> None:
    service, backend, _, clock = parts
    submit(service, budget={"max_trials": 20, "max_parallel": 2, "no_improvement_trials": 2})
    first, running = launch_all(service)
    finish(service, first, 0.5)
    for value in (0.6, 0.7):
        (trial_id,) = launch_all(service)
        clock.now += 1
        finish(service, trial_id, value)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert (plan.trial_ids, plan.done, backend.stopped) == ([], False, [])  # no new trial; the running one goes on
    assert service.store.get_job("job").stop_reason is StopReason.NO_IMPROVEMENT  # recorded when first seen
    finish(service, running, 0.1)  # it improves the best: the job still ends, as AMT's does
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "no improvement in the last 2 completed trials"
    service.finish(FinishRequest(job_id="job"))
    assert service.store.get_job("job").stop_reason is StopReason.NO_IMPROVEMENT


@pytest.mark.parametrize(
    ("budget", "outcome", "reason"),
    [
        ({"max_trials": 2, "max_parallel": 2}, [0.3, 0.2], StopReason.MAX_TRIALS),
        ({"max_trials": 9, "max_parallel": 2, "target": 0.25}, [0.2, None], StopReason.TARGET_REACHED),
        ({"max_trials": 9, "max_parallel": 2, "max_failed_trials": 0}, ["failed", None], StopReason.MAX_FAILED_TRIALS),
    ],
)
def test_finish_records_why_the_job_stopped(parts, budget, outcome, reason) -> None:
    service, _, _, _ = parts
    submit(service, budget=budget)
    first, second = launch_all(service)
    for trial_id, value in zip((first, second), outcome):
        if value == "failed":
            finish(service, trial_id, None, state="failed")
        elif value is not None:
            finish(service, trial_id, value)
    while not service.suggest(SuggestRequest(job_id="job")).done:
        finish(service, second, None, state="stopped")  # stopped by the rule, as its backend reports
    service.finish(FinishRequest(job_id="job"))
    assert service.store.get_job("job").stop_reason is reason


def test_a_user_stop_and_an_execution_error_are_reasons_too(parts) -> None:
    service, _, _, _ = parts
    submit(service)
    launch_all(service)
    service.stop("job")
    service.finish(FinishRequest(job_id="job"))
    assert service.store.get_job("job").stop_reason is StopReason.STOPPED_BY_USER
    other = service.store.get_job("job").model_copy(update={"id": "other", "status": JobStatus.RUNNING})
    service.store.create_job(other)
    service.finish(FinishRequest(job_id="other", error={"Error": "States.Timeout", "Cause": "too slow"}))
    other = service.store.get_job("other")
    assert (other.stop_reason, other.stop_detail) == (StopReason.FAILED, "States.Timeout: too slow")


def trial(number: int, ei: float | None) -> Trial:
    return Trial(job_id="job", id=f"t{number:04d}", number=number, params={}, expected_improvement=ei)


def test_converged_needs_the_last_proposals_all_below_the_threshold() -> None:
    low, high = CONVERGED_EI / 2, CONVERGED_EI * 2
    assert converged([trial(1, high), trial(2, low), trial(3, low), trial(4, low)], 3)
    assert not converged([trial(1, low), trial(2, low), trial(3, high)], 3)
    assert not converged([trial(1, low), trial(2, None), trial(3, low)], 3)  # a Sobol' point: no model spoke
    assert not converged([trial(1, low), trial(2, low)], 3)


def test_stop_on_convergence_is_refused_for_a_strategy_without_a_model() -> None:
    with pytest.raises(SpecError, match="stop_on_convergence: needs the bayesian strategy"):
        parse_spec(spec_document(budget={"max_trials": 5, "stop_on_convergence": True}))


def test_a_bayesian_job_on_a_bowl_stops_on_convergence_well_before_its_budget(parts) -> None:
    """On a 1-D quadratic the model's largest expected improvement falls from about 0.1
    (after the initial design) below 1e-3 within some 15 trials; then the job ends."""
    service, _, _, clock = parts
    submit(
        service,
        parameters=[{"name": "x", "type": "float", "low": 0.0, "high": 1.0}],
        strategy={"name": "bayesian", "seed": 0},
        budget={"max_trials": 40, "max_parallel": 1, "stop_on_convergence": True},
    )
    while True:
        plan = service.suggest(SuggestRequest(job_id="job"))
        if plan.done:
            break
        (trial_id,) = plan.trial_ids
        params = service.store.get_trial("job", trial_id).params
        clock.now += 1
        finish(service, trial_id, (params["x"] - 0.3) ** 2)
    service.finish(FinishRequest(job_id="job"))
    job = service.store.get_job("job")
    trials = service.store.list_trials("job")
    assert job.stop_reason is StopReason.CONVERGED and 10 <= len(trials) < 30
    assert trials[0].expected_improvement is None and trials[-1].expected_improvement < CONVERGED_EI
    assert abs(service.store.get_trial("job", job.best_trial_id).params["x"] - 0.3) < 0.02
    assert all(t.state is TrialState.COMPLETED for t in trials)


def run_trials(service: TuningService, outcomes: list[float | None]) -> None:
    """One trial at a time, each failing (None) or completing with its value."""
    for value in outcomes:
        (trial_id,) = launch_all(service)
        finish(service, trial_id, value, state="failed" if value is None else "completed")


def test_a_job_whose_first_five_trials_all_fail_stops_by_default(parts) -> None:
    """Before: a job whose every trial failed the same way used its whole budget (20 here)."""
    service, _, _, _ = parts
    submit(service, budget={"max_trials": 20, "max_parallel": 1})
    run_trials(service, [None] * 5)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "5 trials failed before any succeeded (max_failed_before_success)"
    service.finish(FinishRequest(job_id="job"))
    job = service.store.get_job("job")
    assert (job.stop_reason, job.failed, job.budget_used) == (StopReason.NO_TRIAL_SUCCEEDED, 5, 5)


@pytest.mark.parametrize(
    ("budget", "outcomes"),
    [
        ({"max_trials": 12, "max_parallel": 1}, [0.5, *[None] * 10]),  # one success: never
        ({"max_trials": 12, "max_parallel": 1, "max_failed_before_success": None}, [None] * 11),  # turned off
        ({"max_trials": 12, "max_parallel": 1, "max_failed_before_success": 8}, [None] * 7),
    ],
)
def test_failures_stop_no_job_with_a_success_nor_one_that_turned_it_off_or_raised_it(parts, budget, outcomes) -> None:
    service, _, _, _ = parts
    submit(service, budget=budget)
    run_trials(service, outcomes)
    assert not service.suggest(SuggestRequest(job_id="job")).done


def test_a_whole_batch_must_fail_before_a_parallel_job_stops(parts) -> None:
    """With 8 trials at once, 5 quick failures among the first batch do not stop it: the
    other 3 run on (the threshold is at least ``max_parallel``); running trials then finish."""
    service, _, _, _ = parts
    submit(service, budget={"max_trials": 40, "max_parallel": 8})
    batch = launch_all(service)
    for trial_id in batch[:5]:
        finish(service, trial_id, None, state="failed")
    assert not service.suggest(SuggestRequest(job_id="job")).done
    for trial_id in service.suggest_and_launch(SuggestRequest(job_id="job")).trial_ids[:3]:
        finish(service, trial_id, None, state="failed")
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert (plan.trial_ids, plan.done) == ([], False)  # three slots free, none filled: the 5 running finish
    job = service.store.get_job("job")
    assert (job.stop_reason, job.stop_detail) == (
        StopReason.NO_TRIAL_SUCCEEDED,
        "8 trials failed before any succeeded (max_failed_before_success)",
    )
    assert not any(t.state.finished for t in service.store.list_trials("job") if t.id in batch[5:])


@pytest.mark.parametrize(("completed", "pruned", "stops"), [(0, 0, True), (1, 0, False), (0, 1, False)])
def test_a_pruned_trial_counts_as_a_success_as_a_completed_one_does(parts, completed, pruned, stops) -> None:
    """A trial the scheduler pruned ran the script to a reported step: the job works."""
    service, _, _, _ = parts
    job = submit(service, budget={"max_trials": 20, "max_parallel": 1})
    counted = job.model_copy(update={"failed": 6, "completed": completed, "pruned": pruned})
    assert (failed_before_success(counted) is not None) is stops


def test_a_job_stored_without_the_field_reads_with_the_default_of_five(parts) -> None:
    """A job stored before ``max_failed_before_success`` existed reads as it is, with the default."""
    service, _, _, _ = parts
    body = json.loads(submit(service).model_dump_json())
    del body["spec"]["budget"]["max_failed_before_success"]
    assert Job.model_validate_json(json.dumps(body), context=STORED).spec.budget.max_failed_before_success == 5


def test_no_improvement_counts_from_the_best_feasible_trial_not_one_that_breaks_a_constraint(parts) -> None:
    """A trial breaking a constraint is never the best (``Job.feasible``): before, its value
    was the plateau's best, so a job whose feasible best had just improved (0.5, then 0.4)
    stopped with "no improvement in the last 2 completed trials"."""
    service, _, _, clock = parts
    document = spec_document(
        budget={"max_trials": 20, "max_parallel": 1, "no_improvement_trials": 2},
        constraints=[{"metric": "latency", "max": 50}],
    )
    document["trial"]["metric_definitions"].append({"name": "latency", "regex": r"latency=([0-9.]+)"})
    service.submit(parse_spec(document), job_id="job")

    def ends(loss: float, latency: float) -> None:
        (trial_id,) = launch_all(service)
        clock.now += 1
        metrics = {"loss": loss, "latency": latency}
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics=metrics))

    ends(0.1, 99)  # the lowest loss, too slow: infeasible
    for loss in (0.5, 0.4):
        ends(loss, 10)
        assert not service.suggest(SuggestRequest(job_id="job")).done
    for loss in (0.45, 0.05):  # the second breaks the constraint again: no improvement either
        ends(loss, 10 if loss > 0.1 else 99)
    plan = service.suggest(SuggestRequest(job_id="job"))
    assert plan.done and plan.reason == "no improvement in the last 2 completed trials"
    assert service.store.get_job("job").best_value == 0.4


def test_a_best_trial_the_snapshot_still_holds_running_counts_no_trial_after_it() -> None:
    """The job item names its best before a snapshot read earlier has seen it end: with no
    end time, every completed trial would count as after it and the job stop at once."""
    from hyperstep.completion import completed_since_best
    from hyperstep.trial_view import Snapshot

    def trial(number: int, state: TrialState, ended_at: float | None) -> Trial:
        value = 0.5 if state is TrialState.COMPLETED else None
        return Trial(
            job_id="job", id=f"t{number:04d}", number=number, params={}, state=state, value=value, ended_at=ended_at
        )

    ended = [trial(n, TrialState.COMPLETED, 10.0 + n) for n in (1, 2, 3)]
    job = Job(id="job", spec=parse_spec(spec_document()), created_at=0.0, best_trial_id="t0004", best_value=0.1)
    assert completed_since_best(job, Snapshot.of([*ended, trial(4, TrialState.RUNNING, None)])) == 0
    assert completed_since_best(job, Snapshot.of([*ended, trial(4, TrialState.COMPLETED, 12.5)])) == 1
