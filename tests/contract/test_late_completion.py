"""A completed end that comes after the trial was recorded pruned or stopped, on every store.

A stop can land in a trial's last seconds: early stopping stops it (``StopTrainingJob``,
``TerminateJob``, a killed process) and records it pruned, but the training ends on its
own all the same and its backend says "completed" with its final metrics. A pruned trial
stays pruned then, till its curve reaches ``max_resource``; a stopped one completes once
(``TuningService._completed_after_end``, through ``TrialStore.report_after_end``): the
counters move once, its cost is counted once (the larger charge kept), and an end without
a usable objective leaves the trial as it was.
"""

from __future__ import annotations

import math

import pytest

from hyperstep.messages import LaunchRequest, TrialResult, Usage
from hyperstep.models import Job, MetricReport, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import Clock, spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3, "curve_model": False}
TRIAL = {
    "backend": "local",
    "command": ["python", "train.py"],
    "metric_definitions": [{"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"}],
    "timeout_seconds": 600,
    "cost_per_hour": 3.6,  # a dollar per 1,000 s
}


def dollars(seconds: float) -> float:
    return seconds * 3.6 / 3600


@pytest.fixture
def parts(store: TrialStore, clock: Clock) -> tuple[TuningService, FakeBackend, FakeOrchestrator]:
    """Three trials launched at the clock's now on a job with ASHA, on the store under test."""
    backend, orchestrator = FakeBackend(), FakeOrchestrator()
    service = TuningService(store, {"local": backend}, orchestrator)
    budget = {"max_trials": 6, "max_parallel": 3}
    job = service.submit(parse_spec(spec_document(early_stopping=ASHA, budget=budget, trial=TRIAL)), job_id="job")
    for trial in Study.from_job(store, job).ask(3):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    return service, backend, orchestrator


def pruned_at(service: TuningService, clock: Clock, seconds: float) -> Job:
    """t0002 stopped by ASHA ``seconds`` after its launch (behind t0001 at rung 1; its
    backend, still running, priced from its wall time): the job as it then is."""
    clock.now += seconds
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)
    pruned = service.store.get_trial("job", "t0002")
    assert (pruned.state, pruned.value, pruned.billable_seconds) == (TrialState.PRUNED, 0.5, seconds)
    return service.store.get_job("job")


def completed(metrics: dict[str, float], seconds: float | None = None) -> TrialResult:
    usage = None if seconds is None else Usage(seconds=seconds, platform="local")
    return TrialResult(job_id="job", trial_id="t0002", state="completed", metrics=metrics, usage=usage)


def test_a_completed_end_after_a_pruned_one_leaves_it_pruned_till_its_curve_reaches_max_resource(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """Pruned at step 1 of ``max_resource`` 9, 100 s in (charged $0.10 from its wall time),
    the training ended at 130 s on its own: its completed end, with the final loss, leaves
    it pruned (issue 9: only a trial that reaches ``max_resource`` is complete), nothing
    counted or woken, but charged its billed 130 s (the job's cost too). Its script's steps
    2 to 9, still on the way, join its curve; step 9 shows its training was over, so it
    ends completed, once, with the final loss its end carried, the job's best, ``pruned``
    moved to ``completed`` (its budget held throughout), its charge counted once. (Before:
    the completed end alone completed it.)"""
    service, backend, orchestrator = parts
    before = pruned_at(service, clock, 100.0)
    assert backend.stopped == ["t0002"] and before.cost_usd == pytest.approx(dollars(100))
    service.store.put_task_token("job", "token")
    clock.now += 60
    assert not service.collect(completed({"loss": 0.05}, seconds=130.0))
    pruned = service.store.get_trial("job", "t0002")
    assert (pruned.state, pruned.value, pruned.curve, pruned.billable_seconds) == (
        TrialState.PRUNED,
        0.5,
        {1: 0.5},
        130,
    )
    assert service.store.get_job("job") == before.model_copy(update={"cost_usd": pytest.approx(dollars(130))})
    assert orchestrator.woken == []

    for step in range(2, 10):
        assert service.report_metrics("job", "t0002", {"loss": 0.5 / step}, step=step)
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.value, trial.error, len(trial.curve)) == (TrialState.COMPLETED, 0.05, None, 9)
    job = service.store.get_job("job")
    assert (job.completed, job.pruned, job.failed, job.budget_used) == (1, 0, 0, 3)
    assert (job.best_trial_id, job.best_value) == ("t0002", 0.05)
    assert job.cost_usd == pytest.approx(dollars(130))
    assert [token for token, _ in orchestrator.woken] == ["token"]
    assert "t0002" in service.store.recently_ended("job")

    service.store.put_task_token("job", "token")
    assert not service.collect(completed({"loss": 0.05}, seconds=130.0))  # the same event again
    assert not service.report_metrics("job", "t0002", {"loss": 0.5 / 9}, step=9)  # or the step again
    assert service.store.get_trial("job", "t0002") == trial
    assert service.store.get_job("job") == job and len(orchestrator.woken) == 1


@pytest.mark.parametrize(
    "metrics", [{}, {"accuracy": 0.9}, {"loss": math.nan}, {"loss": math.inf}], ids=["none", "other", "nan", "inf"]
)
def test_a_completed_end_without_a_usable_objective_leaves_the_trial_pruned(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock, metrics: dict[str, float]
) -> None:
    """No objective in the end's metrics (nor in the platform's record), or a NaN or infinite
    one: nothing better than the pruned end to record, so the trial stays pruned with its
    value (not failed: the stop was the scheduler's), nothing counted or woken; it takes the
    end's billed 130 s, once, as the job's cost does (was: the stop's 100 s kept)."""
    service, _, orchestrator = parts
    before = pruned_at(service, clock, 100.0)
    pruned = service.store.get_trial("job", "t0002")
    service.store.put_task_token("job", "token")
    for _ in range(2):
        assert not service.collect(completed(metrics, seconds=130.0))
    after = service.store.get_trial("job", "t0002")
    assert (after.state, after.value, after.error, after.billable_seconds) == (
        TrialState.PRUNED,
        0.5,
        pruned.error,
        130.0,
    )
    assert after.cost_usd == pytest.approx(dollars(130))
    job = service.store.get_job("job")
    assert job.model_copy(update={"cost_usd": before.cost_usd}) == before
    assert job.cost_usd == pytest.approx(dollars(130))
    assert orchestrator.woken == []


def test_a_completed_end_after_a_stopped_one_takes_the_budget_back_and_never_lowers_the_charge(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """A trial stopped by its job's stop (no curve: ``stopped``, its unit of budget given
    back) whose training completed meanwhile: its completed end completes it and takes the
    unit back. Its usage says less than the stop's end charged (a record read differently):
    the higher charge, counted then, stands."""
    service, _, _ = parts
    stop = TrialResult(job_id="job", trial_id="t0002", state="stopped", usage=Usage(seconds=50.0))
    assert service.collect(stop)
    assert service.store.get_job("job").budget_used == 2
    assert service.collect(completed({"loss": 0.2}, seconds=40.0))
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.value, trial.billable_seconds) == (TrialState.COMPLETED, 0.2, 50.0)
    job = service.store.get_job("job")
    assert (job.completed, job.budget_used, job.best_value) == (1, 3, 0.2)
    assert job.cost_usd == pytest.approx(dollars(50))


def test_a_completed_end_without_usage_keeps_the_stop_s_charge(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """A trial stopped by its job's stop 100 s in, whose training completed meanwhile: no
    usage in its completed end nor in the backend's record, so the charge of the stopped
    end stands (the wall time to now would count the event's delay too)."""
    service, _, _ = parts
    clock.now += 100
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    clock.now += 3600
    assert service.collect(completed({"loss": 0.05}))
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.billable_seconds) == (TrialState.COMPLETED, 100.0)
    assert service.store.get_job("job").cost_usd == pytest.approx(dollars(100))


@pytest.mark.parametrize("end", ["completed", "stopped", "failed"])
def test_other_late_ends_change_nothing(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock, end: str
) -> None:
    """A stopped end of a pruned trial, and any end of a failed one, are no-ops."""
    service, _, _ = parts
    pruned_at(service, clock, 100.0)
    assert service.collect(TrialResult(job_id="job", trial_id="t0003", state="failed", error="exit code 1"))
    trials, job = service.store.list_trials("job"), service.store.get_job("job")
    if end == "stopped":
        assert not service.collect(TrialResult(job_id="job", trial_id="t0002", state=end, metrics={"loss": 0.05}))
    assert not service.collect(TrialResult(job_id="job", trial_id="t0003", state=end, metrics={"loss": 0.05}))
    assert service.store.list_trials("job") == trials and service.store.get_job("job") == job


def test_a_step_at_max_resource_written_while_the_stop_is_on_its_way_completes_the_trial(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator],
) -> None:
    """Two step reports of t0002 race (two Collect invocations): step 1, behind t0001 at
    rung 1, is judged and stopped; while the stop is on its way to the backend, the other
    invocation writes step 9 (``max_resource``), finds the trial running and trained out,
    and stops nothing. The prune written after it must not leave a trial whose curve
    reached ``max_resource`` pruned at its step-1 value (issue 9: "a trial that reaches
    max_resource is complete"); the backend's "stopped" end that follows changes nothing.
    (Before: pruned at 0.5 for good, its curve at 9.)"""
    service, backend, _ = parts
    service.report_metrics("job", "t0001", {"loss": 0.1}, step=1)

    def the_last_step_lands(job: Job, trial: Trial) -> None:
        backend.stopped.append(trial.id)
        last = {"loss": MetricReport(value=0.05, step=9, at=service.store.clock())}
        assert service.store.report_metrics("job", trial.id, last, curve_metric="loss", whole_curve=False)

    backend.stop = the_last_step_lands  # type: ignore[method-assign]
    service.report_metrics("job", "t0002", {"loss": 0.5}, step=1)
    assert backend.stopped == ["t0002"]
    assert not service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.value, trial.curve) == (TrialState.COMPLETED, 0.05, {1: 0.5, 9: 0.05})
    job = service.store.get_job("job")
    assert (job.completed, job.pruned, job.budget_used, job.best_trial_id) == (1, 0, 3, "t0002")


def written(store: TrialStore) -> int:
    """A count that every write of t0002 moves: SQLite's changes, the DynamoDB item's version."""
    if isinstance(store, SQLiteStore):
        return store._conn.total_changes
    return int(store._trial_item("job", "t0002")["ver"]["N"])  # type: ignore[attr-defined]


def test_a_prunes_check_for_a_step_written_meanwhile_writes_nothing_when_none_was(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """``stop_early`` asks ``report_after_end`` with no reports once the prune is recorded (a
    step at ``max_resource`` written meanwhile completes the trial): with none written, the
    trial stays as the prune left it and nothing is written. (Before: the body was rewritten
    as it was, a write a prune; on DynamoDB a version bump racing the trial's stopped end.)"""
    service, _, _ = parts
    pruned_at(service, clock, 100.0)
    trial, before = service.store.get_trial("job", "t0002"), written(service.store)
    kept = service.store.report_after_end("job", "t0002", {}, "loss")
    assert kept is not None and kept.state is TrialState.PRUNED and kept.curve == {1: 0.5}
    assert written(service.store) == before
    assert service.store.get_trial("job", "t0002") == trial


def failed(error: str | None) -> TrialResult:
    return TrialResult(job_id="job", trial_id="t0002", state="failed", error=error)


@pytest.mark.parametrize(
    ("error", "kept"),
    [("AlgorithmError: CUDA out of memory", "AlgorithmError: CUDA out of memory"), (None, "failed")],
    ids=["its-reason", "no-reason"],  # an end giving no reason fails it too (no reason, no failure: it stayed pruned)
)
def test_a_jobs_own_failure_after_a_prune_ends_it_failed_with_its_error(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock, error: str | None, kept: str
) -> None:
    """Pruned at step 1, 100 s in; the job had failed on its own before the stop landed
    (SageMaker ``Failed`` with its FailureReason, a Batch ``FAILED`` whose reason is not our
    ``TerminateJob``'s, a local exit 1: each backend reports our stop as "stopped", the job's
    own failure as "failed"). An AMT user expects Failed with the platform's reason: it
    ends failed, once, ``pruned`` moved to ``failed`` (its budget held), its charge counted
    once, its execution woken; the same event again, or a late step, changes nothing.
    (Before: it stayed pruned, its error lost.)"""
    service, _, orchestrator = parts
    before = pruned_at(service, clock, 100.0)
    service.store.put_task_token("job", "token")
    assert service.collect(failed(error))
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.value, trial.error) == (TrialState.FAILED, None, kept)
    assert trial.curve == {1: 0.5}
    job = service.store.get_job("job")
    assert (job.pruned, job.failed, job.completed, job.budget_used) == (0, 1, 0, 3)
    assert job.cost_usd == pytest.approx(before.cost_usd)
    assert [token for token, _ in orchestrator.woken] == ["token"]
    assert "t0002" in service.store.recently_ended("job")

    assert not service.collect(failed(error))
    assert not service.report_metrics("job", "t0002", {"loss": 0.05}, step=9)
    assert service.store.get_trial("job", "t0002") == trial and service.store.get_job("job") == job


def test_a_failure_after_the_curve_reached_max_resource_leaves_it_completed(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """Pruned at step 1, its late steps reach ``max_resource`` (9): it completed (issue 9: a
    trial that reaches ``max_resource`` is complete). A failure its job reports after that
    (a crash saving the model after its last step) leaves it completed, as a completed end
    stands whatever comes after it."""
    service, _, _ = parts
    pruned_at(service, clock, 100.0)
    for step in range(2, 10):
        service.report_metrics("job", "t0002", {"loss": 0.5 / step}, step=step)
    trial, job = service.store.get_trial("job", "t0002"), service.store.get_job("job")
    assert trial.state is TrialState.COMPLETED
    assert not service.collect(failed("exit code 1: cannot write model.pt"))
    assert service.store.get_trial("job", "t0002") == trial and service.store.get_job("job") == job


@pytest.mark.parametrize("end", ["stopped", "failed"])
def test_a_pruned_trial_takes_the_billed_end_s_charge(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock, end: str
) -> None:
    """Pruned 100 s in, priced from its wall time then (the job still stopping, its platform
    record without a billed time yet); its platform's end then says it ran 160 s (SageMaker's
    BillableTimeInSeconds, Batch's startedAt to stoppedAt, a local process's wall time): what
    the dollar budget pays. The trial takes that charge and duration, the job's cost grows by
    the difference, once (the same end again adds nothing); a lower usage never lowers it.
    (Before: the stop's 100 s stood, the job's cost undercounted by 60 s of billing.)"""
    service, _, _ = parts
    before = pruned_at(service, clock, 100.0)
    billed = TrialResult(job_id="job", trial_id="t0002", state=end, error="exit 1", usage=Usage(seconds=160.0))
    service.collect(billed)
    once = written(service.store)
    assert not service.collect(billed)  # the same end again: its charge is no more than the trial's
    assert written(service.store) == once  # nothing written (was: rewritten at the same charge, never caught)
    trial, job = service.store.get_trial("job", "t0002"), service.store.get_job("job")
    assert trial.state is (TrialState.PRUNED if end == "stopped" else TrialState.FAILED)
    assert (trial.billable_seconds, trial.cost_usd) == (160.0, pytest.approx(dollars(160)))
    assert job.cost_usd == pytest.approx(dollars(160))
    assert (job.pruned + job.failed, job.budget_used) == (before.pruned, before.budget_used)
    service.collect(billed.model_copy(update={"usage": Usage(seconds=20.0)}))
    assert service.store.get_trial("job", "t0002").billable_seconds == 160.0
    assert service.store.get_job("job").cost_usd == pytest.approx(dollars(160))


def test_a_user_stopped_trial_that_fails_on_its_own_ends_failed_and_takes_its_billed_charge(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator], clock: Clock
) -> None:
    """A trial stopped by its job's stop (no curve: ``stopped``, its unit of budget given
    back), then its platform's failed end (the job's own failure, billed 80 s): it failed
    before the stop landed, and ends failed with its error, as a pruned trial does and as AMT
    shows a training job that failed before its tuning job's stop (``Failed``, counted in
    ``TrainingJobStatusCounters``' errors, not ``Stopped``, which counts the jobs "manually
    stopped"): counted failed once, its unit of budget counted again, its execution woken;
    it takes the billed charge, the job's cost growing by the difference. A second delivery
    changes nothing. (Before: it stayed stopped, the error lost, pinned by this test's
    earlier version.)"""
    service, _, orchestrator = parts
    stop = TrialResult(job_id="job", trial_id="t0002", state="stopped", usage=Usage(seconds=50.0))
    assert service.collect(stop)
    before = service.store.get_job("job")
    service.store.put_task_token("job", "token")
    own = TrialResult(job_id="job", trial_id="t0002", state="failed", error="exit code 1", usage=Usage(seconds=80.0))
    assert service.collect(own) and not service.collect(own)
    trial = service.store.get_trial("job", "t0002")
    assert (trial.state, trial.error, trial.billable_seconds) == (TrialState.FAILED, "exit code 1", 80.0)
    job = service.store.get_job("job")
    assert (job.failed, job.completed, job.budget_used) == (before.failed + 1, before.completed, before.budget_used + 1)
    assert job.cost_usd == pytest.approx(dollars(80))
    assert len(orchestrator.woken) == 1


def test_a_job_that_stops_nothing_early_leaves_a_stopped_trial_with_steps_stopped(store: TrialStore) -> None:
    """``early_stopping: {name: none}`` (its ``max_resource`` the default 1) judges no curve:
    a trial stopped by its job's stop after reporting step 1 ends stopped, its unit of
    budget given back, not completed at a "max_resource" nothing set
    (``early_stopping.stopped_end`` reads the block only when it stops trials early).
    (Review of ca67148, which moved that rule there: dropping the check passed every test.)"""
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
    spec = spec_document(early_stopping={"name": "none"}, budget={"max_trials": 2}, trial=TRIAL)
    job = service.submit(parse_spec(spec), job_id="job")
    (trial,) = Study.from_job(store, job).ask(1)
    service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    service.report_metrics("job", trial.id, {"loss": 0.5}, step=1)
    assert service.store.get_trial("job", trial.id).curve == {1: 0.5}
    assert service.collect(TrialResult(job_id="job", trial_id=trial.id, state="stopped"))
    ended = service.store.get_trial("job", trial.id)
    assert (ended.state, ended.value) == (TrialState.STOPPED, None)
    assert (service.store.get_job("job").completed, service.store.get_job("job").budget_used) == (0, 0)
