"""A trial's recorded objective is its final value, whatever the order, number or lateness of events.

The events are AWS-shaped (the samples in ``events/``, given this job's names and tags) and
go through ``parse_event`` and ``TuningService.record`` exactly as the collect function
sends them; the backends are the real SageMaker and Batch adapters over fake clients.
"""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from hyperstep.backends.batch.adapter import BatchBackend
from hyperstep.backends.sagemaker.adapter import SageMakerBackend
from hyperstep.events import parse_event
from hyperstep.handlers import Telemetry, handle_collect
from hyperstep.messages import FinishRequest
from hyperstep.models import Job, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.report_keys import signed
from tests.unit.test_service import Clock, FakeOrchestrator

EVENTS = Path(__file__).parents[2] / "events"
GRACE = 300.0
FINAL = 0.42
STEPS = {1: 0.9, 2: 0.7, 3: 0.55}
BLOCKS: dict[str, dict[str, Any]] = {
    "sagemaker": {
        "backend": "sagemaker",
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/mnist-train:1.4",
        "instance_type": "ml.m5.xlarge",
        "role_arn": "arn:aws:iam::123456789012:role/HyperstepSageMakerRole",
        "output_path": "s3://hyperstep-demo/mnist/output",
    },
    "batch": {
        "backend": "batch",
        "job_queue": "hyperstep-queue",
        "job_definition": "mnist-train",
        "command": ["python", "train.py"],
    },
}


class FakeSageMaker:
    """``DescribeTrainingJob`` of completed jobs whose ``FinalMetricDataList`` the test sets."""

    def __init__(self) -> None:
        self.final: dict[str, float] = {}
        self.described: list[str] = []

    def describe_training_job(self, TrainingJobName: str) -> dict[str, Any]:
        self.described.append(TrainingJobName)
        data = [{"MetricName": k, "Value": v, "Timestamp": "2026-11-26T23:20:00Z"} for k, v in self.final.items()]
        return {
            "TrainingJobName": TrainingJobName,
            "TrainingJobStatus": "Completed",
            "FinalMetricDataList": data,
            "BillableTimeInSeconds": 60,  # AWS's answer for a completed job holds it: one Describe prices the trial
        }


class LoggedBatch(BatchBackend):
    """The Batch adapter whose log holds what the test puts there (``recover_metrics`` is
    exercised against moto in tests/integration/test_batch_backend.py)."""

    def __init__(self) -> None:
        super().__init__(client=None, event_bus="hyperstep-bus")
        self.log: dict[str, float] = {}
        self.recovered: list[str] = []

    def recover_metrics(self, job: Job, trial: Any) -> dict[str, float]:
        self.recovered.append(trial.id)
        return dict(self.log)


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def end_event(backend: str, job_id: str, trial_id: str) -> dict[str, Any]:
    """The sample end event (SageMaker Completed without ``FinalMetricDataList``, as AWS's
    own sample; Batch SUCCEEDED) for this trial."""
    tags = {"hyperstep:job-id": job_id, "hyperstep:trial-id": trial_id}
    if backend == "sagemaker":
        event = sample("sagemaker-training-job-state-change-completed")
        event["detail"].update(TrainingJobName=f"hs-{job_id}-{trial_id}-1", Tags=tags)
        assert "FinalMetricDataList" not in event["detail"]
    else:
        event = sample("batch-job-state-change-succeeded")
        event["detail"].update(jobName=f"hs-{job_id}-{trial_id}-1", tags=tags)
    return event


def metric_event(job_id: str, trial_id: str, loss: float, step: int | None, at: float) -> dict[str, Any]:
    """A "Trial Metric Reported" event as ``hyperstep.report`` sends it (final when no step)."""
    event = sample("trial-metric-reported")
    detail = {"job_id": job_id, "trial_id": trial_id, "metrics": {"loss": loss}, "final": step is None, "at": at}
    event["detail"] = detail if step is None else {**detail, "step": step}
    return event


def trial_events(backend: str, job_id: str, trial_id: str) -> list[dict[str, Any]]:
    """Step reports, the final report, the end event, and duplicates of some of them."""
    steps = [metric_event(job_id, trial_id, loss, step, 1000.0 + step) for step, loss in STEPS.items()]
    final = metric_event(job_id, trial_id, FINAL, None, 1010.0)
    end = end_event(backend, job_id, trial_id)
    return [*steps, final, end, copy.deepcopy(steps[0]), copy.deepcopy(final), copy.deepcopy(end)]


def make_service(backend: str, trials: int) -> tuple[TuningService, Job, Clock, FakeOrchestrator]:
    clock, orchestrator = Clock(), FakeOrchestrator()
    spec = parse_spec(
        {
            "name": "mnist",
            "objective": {"metric": "loss", "goal": "minimize"},
            "parameters": [{"name": "lr", "type": "float", "low": 0.0001, "high": 0.1}],
            "strategy": {"name": "random", "seed": 3},
            "budget": {"max_trials": trials, "max_parallel": trials},
            "trial": {
                **BLOCKS[backend],
                "metric_definitions": [{"name": "loss", "regex": r"^loss=([0-9.eE+-]+)"}],
                "timeout_seconds": 3600,
            },
        }
    )
    backends = {"sagemaker": SageMakerBackend(FakeSageMaker(), event_bus="hyperstep-bus"), "batch": LoggedBatch()}
    service = TuningService(SQLiteStore(clock=clock), backends, orchestrator)
    job = service.submit(spec, job_id="mnist-3f2a9c1b7d4e")
    for trial in Study.from_job(service.store, job).ask(trials):
        service.store.start_trial(job.id, trial.id, f"hs-{job.id}-{trial.id}-1")
    return service, job, clock, orchestrator


def deliver(service: TuningService, event: dict[str, Any]) -> bool:
    parsed = parse_event(signed(service.store, event))
    assert parsed is not None
    return service.record(parsed)


@pytest.mark.parametrize(
    ("backend", "described"),
    [("batch", {}), ("sagemaker", {}), ("sagemaker", {"loss": FINAL})],
    ids=["batch", "sagemaker-describe-without-metrics", "sagemaker-describe-with-the-final-metric"],
)
def test_any_order_and_any_duplicates_record_the_final_report(backend: str, described: dict[str, float]) -> None:
    """100 random orders (fixed seed) of step reports, the final report, the end event and
    duplicates: every trial completes once, with the final report's value."""
    orders = 100
    service, job, _, _ = make_service(backend, orders)
    service.backends["sagemaker"].client.final = described  # type: ignore[attr-defined]
    rng = random.Random(7)
    for trial in service.store.list_trials(job.id):
        events = trial_events(backend, job.id, trial.id)
        rng.shuffle(events)
        for event in events:
            deliver(service, event)
    trials = service.store.list_trials(job.id)
    assert [(t.state, t.value) for t in trials] == [(TrialState.COMPLETED, FINAL)] * orders
    assert {t.metrics["loss"] for t in trials} == {FINAL}
    after = service.store.get_job(job.id)
    assert (after.completed, after.failed, after.best_value) == (orders, 0, FINAL)


def test_a_sagemaker_completed_event_without_metrics_asks_describe_even_after_a_step_report() -> None:
    """The event AWS sends carries no ``FinalMetricDataList``; a step report stored before it
    must not become the objective: Describe's final metric does."""
    service, job, _, _ = make_service("sagemaker", 1)
    client = service.backends["sagemaker"].client  # type: ignore[attr-defined]
    client.final = {"loss": FINAL}
    assert deliver(service, metric_event(job.id, "t0001", 0.9, 1, 1001.0))
    assert deliver(service, end_event("sagemaker", job.id, "t0001"))
    assert client.described == [f"hs-{job.id}-t0001-1"]
    trial = service.store.get_trial(job.id, "t0001")
    assert (trial.state, trial.value) == (TrialState.COMPLETED, FINAL)


@pytest.mark.parametrize("backend", ["batch", "sagemaker"])
def test_a_final_report_after_the_end_event_completes_the_trial(backend: str) -> None:
    service, job, _, orchestrator = make_service(backend, 1)
    service.store.put_task_token(job.id, "token")
    assert deliver(service, metric_event(job.id, "t0001", 0.9, 1, 1001.0))
    assert not deliver(service, end_event(backend, job.id, "t0001"))  # not recorded yet: it waits
    waiting = service.store.get_trial(job.id, "t0001")
    assert waiting.state is TrialState.RUNNING and waiting.awaiting_result_since is not None
    assert service.progress(job.id).active == 1 and orchestrator.woken == []  # its slot and budget stay held
    assert deliver(service, metric_event(job.id, "t0001", FINAL, None, 1010.0))
    trial = service.store.get_trial(job.id, "t0001")
    assert (trial.state, trial.value) == (TrialState.COMPLETED, FINAL)
    assert service.store.get_job(job.id).completed == 1 and len(orchestrator.woken) == 1
    assert not deliver(service, metric_event(job.id, "t0001", 0.1, None, 1020.0))  # after the record: refused
    assert service.store.get_trial(job.id, "t0001").value == FINAL


def test_without_a_final_report_the_reaper_fails_the_trial_only_after_the_grace_and_the_source() -> None:
    service, job, clock, _ = make_service("batch", 1)
    backend = service.backends["batch"]
    assert isinstance(backend, LoggedBatch)
    deliver(service, metric_event(job.id, "t0001", 0.55, 3, 1003.0))
    deliver(service, end_event("batch", job.id, "t0001"))
    clock.now += GRACE - 1
    service.reap(grace_seconds=GRACE)
    assert service.store.get_trial(job.id, "t0001").state is TrialState.RUNNING and backend.recovered == []
    clock.now += 2
    assert service.reap(grace_seconds=GRACE)["recorded"] == 1
    assert backend.recovered == ["t0001"]  # the source was tried first
    trial = service.store.get_trial(job.id, "t0001")
    assert trial.state is TrialState.FAILED and trial.value is None
    assert trial.error is not None and trial.error.startswith("objective metric 'loss' was not reported")
    assert "within 300 s" in trial.error and "loss=0.55 at step 3, not final" in trial.error
    assert service.store.get_job(job.id).failed == 1


@pytest.mark.parametrize("backend", ["batch", "sagemaker"])
def test_after_the_grace_the_reaper_completes_the_trial_from_the_source(backend: str) -> None:
    """Batch: the log's last match (``recover_metrics``); SageMaker: Describe, whose
    ``FinalMetricDataList`` was still empty when the end event came."""
    service, job, clock, _ = make_service(backend, 1)
    deliver(service, end_event(backend, job.id, "t0001"))
    assert service.store.get_trial(job.id, "t0001").awaiting_result_since is not None
    if backend == "batch":
        service.backends["batch"].log = {"loss": FINAL}  # type: ignore[attr-defined]
    else:
        service.backends["sagemaker"].client.final = {"loss": FINAL}  # type: ignore[attr-defined]
    clock.now += GRACE + 1
    assert service.reap(grace_seconds=GRACE)["recorded"] == 1
    trial = service.store.get_trial(job.id, "t0001")
    assert (trial.state, trial.value) == (TrialState.COMPLETED, FINAL)


def test_an_unreadable_source_fails_the_trial_with_the_reason_and_the_reaper_goes_on() -> None:
    service, job, clock, _ = make_service("batch", 2)

    def denied(job: Job, trial: Any) -> dict[str, float]:
        raise PermissionError("AccessDeniedException: not authorized to perform logs:GetLogEvents")

    service.backends["batch"].recover_metrics = denied  # type: ignore[method-assign]
    for trial_id in ("t0001", "t0002"):
        deliver(service, end_event("batch", job.id, trial_id))
    clock.now += GRACE + 1
    assert service.reap(grace_seconds=GRACE)["recorded"] == 2
    errors = {t.error for t in service.store.list_trials(job.id)}
    assert len(errors) == 1 and "logs:GetLogEvents" in errors.pop()  # type: ignore[operator]


def test_a_failed_end_is_recorded_at_once_with_what_was_reported() -> None:
    service, job, _, _ = make_service("batch", 1)
    deliver(service, metric_event(job.id, "t0001", 0.7, 2, 1002.0))
    failed = sample("batch-job-state-change-failed")
    failed["detail"].update(
        jobName=f"hs-{job.id}-t0001-1", tags={"hyperstep:job-id": job.id, "hyperstep:trial-id": "t0001"}
    )
    assert deliver(service, failed)
    trial = service.store.get_trial(job.id, "t0001")
    assert trial.state is TrialState.FAILED and trial.metrics == {"loss": 0.7} and trial.awaiting_result_since is None


@pytest.mark.parametrize("in_log", [True, False])
def test_a_job_that_ends_on_an_error_settles_its_trials_awaiting_a_result(in_log: bool) -> None:
    """Finish's error path closes the job, and the reaper visits only unfinished jobs: a
    trial still awaiting its final objective is settled from the source there and then."""
    service, job, _, _ = make_service("batch", 2)
    backend = service.backends["batch"]
    assert isinstance(backend, LoggedBatch)
    backend.log = {"loss": FINAL} if in_log else {}
    stopped: list[str] = []
    backend.stop = lambda job, trial: stopped.append(trial.id)  # type: ignore[method-assign]
    deliver(service, end_event("batch", job.id, "t0001"))  # t0002 still runs
    service.finish(FinishRequest(job_id=job.id, error={"Error": "States.Timeout", "Cause": "Wait timed out"}))
    trial = service.store.get_trial(job.id, "t0001")
    assert backend.recovered == ["t0001"] and stopped == ["t0002"]  # the ended job is not stopped again
    if in_log:
        assert (trial.state, trial.value) == (TrialState.COMPLETED, FINAL)
    else:
        assert trial.state is TrialState.FAILED and "'loss' was not reported" in (trial.error or "")


def stopped_event(job_id: str, trial_id: str) -> dict[str, Any]:
    """Batch's end of a job hyperstep terminated (``TerminateJob`` with its reason: FAILED,
    ``statusReason`` "Stopped by hyperstep"), for this trial."""
    event = sample("batch-job-state-change-stopped")
    event["detail"].update(
        jobName=f"hs-{job_id}-{trial_id}-1", tags={"hyperstep:job-id": job_id, "hyperstep:trial-id": trial_id}
    )
    return event


def test_a_final_report_after_a_stopped_end_completes_the_trial_once() -> None:
    """A trial stopped (the user's ``hyperstep stop``, a late stop decision) while its script
    sent its final report: Batch's "stopped" end is processed first (EventBridge keeps no
    order; here it is delivered first) and records it stopped, budget given back. The final
    report then ends it completed with its value, takes its unit of budget back, becomes the
    job's best and wakes the execution; repeated, or with another final value, it changes
    nothing. (Old code: refused, its value lost, a replacement trained.)"""
    service, job, _, orchestrator = make_service("batch", 2)
    service.store.put_task_token(job.id, "token")
    assert deliver(service, metric_event(job.id, "t0001", 0.9, 1, 1001.0))
    assert deliver(service, stopped_event(job.id, "t0001"))
    assert service.store.get_trial(job.id, "t0001").state is TrialState.STOPPED
    assert service.store.get_job(job.id).budget_used == 1
    service.store.put_task_token(job.id, "token")
    assert deliver(service, metric_event(job.id, "t0001", FINAL, None, 1010.0))
    trial = service.store.get_trial(job.id, "t0001")
    assert (trial.state, trial.value, trial.error, trial.metrics["loss"]) == (TrialState.COMPLETED, FINAL, None, FINAL)
    assert len(orchestrator.woken) == 2
    assert not deliver(service, metric_event(job.id, "t0001", FINAL, None, 1010.0))
    assert not deliver(service, metric_event(job.id, "t0001", 0.1, None, 1020.0))
    assert not deliver(service, stopped_event(job.id, "t0001"))
    after = service.store.get_job(job.id)
    assert (after.completed, after.failed, after.pruned, after.budget_used) == (1, 0, 0, 2)
    assert (after.best_trial_id, after.best_value) == ("t0001", FINAL)
    assert service.store.get_trial(job.id, "t0001").value == FINAL


def test_a_stopped_trial_ends_the_same_in_any_order_of_its_events() -> None:
    """40 random orders (fixed seed) of steps, the final report, Batch's "stopped" end and
    duplicates: every trial completes once with the final report's value, as when the end
    comes last (``collect``'s rule for a trial stopped after its training)."""
    orders = 40
    service, job, _, _ = make_service("batch", orders)
    rng = random.Random(11)
    for trial in service.store.list_trials(job.id):
        events = trial_events("batch", job.id, trial.id)
        events = [stopped_event(job.id, trial.id) if "status" in e["detail"] else e for e in events]
        rng.shuffle(events)
        for event in events:
            deliver(service, event)
    trials = service.store.list_trials(job.id)
    assert [(t.state, t.value) for t in trials] == [(TrialState.COMPLETED, FINAL)] * orders
    after = service.store.get_job(job.id)
    assert (after.completed, after.budget_used, after.best_value) == (orders, orders, FINAL)


def test_a_step_report_after_a_stopped_end_is_kept_and_a_failed_end_stands() -> None:
    """A late step report is not the trial's final value: a stopped trial stays stopped
    (budget given back) with the step kept on its curve. A failed end (a crash, the user's
    own TerminateJob) stands whatever comes after: in order it would have failed too."""
    service, job, _, _ = make_service("batch", 2)
    assert deliver(service, stopped_event(job.id, "t0001"))
    assert deliver(service, metric_event(job.id, "t0001", 0.55, 3, 1003.0))
    stopped = service.store.get_trial(job.id, "t0001")
    assert (stopped.state, stopped.value, stopped.curve) == (TrialState.STOPPED, None, {3: 0.55})
    failed = sample("batch-job-state-change-failed")
    failed["detail"].update(
        jobName=f"hs-{job.id}-t0002-1", tags={"hyperstep:job-id": job.id, "hyperstep:trial-id": "t0002"}
    )
    assert deliver(service, failed)
    assert not deliver(service, metric_event(job.id, "t0002", FINAL, None, 1010.0))
    assert service.store.get_trial(job.id, "t0002").state is TrialState.FAILED
    after = service.store.get_job(job.id)
    assert (after.completed, after.failed, after.budget_used) == (0, 1, 1)


class Counted:
    """A ``handlers.Meter`` keeping what Collect counts, per metric name."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add_dimension(self, name: str, value: str) -> None:
        return None

    def add_metric(self, name: str, unit: str, value: float) -> None:
        if unit == "Count":
            self.counts[name] += int(value)

    def sums(self) -> dict[str, int]:
        """The counts that do not sum to nothing."""
        return {name: count for name, count in self.counts.items() if count}


def test_collect_counts_a_completion_after_a_stopped_end_once_as_a_normal_one() -> None:
    """Collect counts one ``TrialsCompleted`` per trial that completes, whichever event ends
    it: here the final report after Batch's "stopped" end (the end event counted
    ``TrialsStopped`` then; the completion takes that back, -1, so summed it counts once).
    Duplicates and later events count nothing; nor does a late step that leaves a trial
    stopped. (Before: ``TrialsStopped`` 2 and ``TrialsCompleted`` 1 for two trials.)"""
    service, job, _, _ = make_service("batch", 2)
    meter = Counted()
    telemetry = Telemetry(metrics=meter)

    def collect(event: dict[str, Any]) -> bool:
        return handle_collect(service, signed(service.store, event), telemetry)["recorded"]

    assert collect(metric_event(job.id, "t0001", 0.9, 1, 1001.0))
    assert collect(stopped_event(job.id, "t0001"))
    assert collect(stopped_event(job.id, "t0002"))
    assert collect(metric_event(job.id, "t0002", 0.55, 3, 1003.0))  # a step: t0002 stays stopped
    assert meter.counts == {"TrialsStopped": 2}
    assert collect(metric_event(job.id, "t0001", FINAL, None, 1010.0))
    for event in (metric_event(job.id, "t0001", FINAL, None, 1010.0), stopped_event(job.id, "t0001")):
        assert not collect(event)
    assert meter.sums() == {"TrialsStopped": 1, "TrialsCompleted": 1}
    assert service.store.get_job(job.id).completed == 1


@pytest.mark.parametrize("end", ["completed", "stopped"])
def test_collect_counts_each_trial_once_in_any_order_of_its_events(end: str) -> None:
    """20 random orders (fixed seed) of steps, the final report, the end event (completed:
    a trial may await its final report, which then ends it; stopped: it may end stopped,
    then complete on the report) and duplicates: ``TrialsCompleted`` counts each trial
    once. A stop recorded before the final report came counts ``TrialsStopped`` 1, which
    the later completion takes back (-1): summed, each trial counts once, as completed."""
    orders = 20
    service, job, _, _ = make_service("batch", orders)
    meter = Counted()
    rng = random.Random(5)
    stopped_first = 0
    for trial in service.store.list_trials(job.id):
        events = trial_events("batch", job.id, trial.id)
        if end == "stopped":
            events = [stopped_event(job.id, trial.id) if "status" in e["detail"] else e for e in events]
        rng.shuffle(events)
        kinds = ["end" if "status" in e["detail"] else e["detail"]["final"] for e in events]
        stopped_first += end == "stopped" and kinds.index("end") < kinds.index(True)
        for event in events:
            handle_collect(service, signed(service.store, event), Telemetry(metrics=meter))
    assert [t.state for t in service.store.list_trials(job.id)] == [TrialState.COMPLETED] * orders
    assert meter.sums() == {"TrialsCompleted": orders}
    assert end == "completed" or 0 < stopped_first < orders  # both orders happen
