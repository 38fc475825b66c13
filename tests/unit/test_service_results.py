"""What collect and finish record from what trials and failed states report."""

from __future__ import annotations

import json
import math

import pytest

from hyperstep.messages import FinishRequest, TrialResult
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep.study import Study
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator, LateReportingBackend


@pytest.fixture
def service() -> TuningService:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(spec_document()), job_id="job")
    Study.from_job(service.store, job).ask(2)
    return service


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_objective_fails_the_trial_and_the_store_stays_readable(
    service: TuningService, bad: float
) -> None:
    result = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": bad, "acc": 0.5})
    assert service.collect(result)
    trial = service.store.get_trial("job", "t0001")
    assert trial.state is TrialState.FAILED and trial.value is None
    assert trial.error == f"objective metric 'loss' is not a finite number ({bad})"
    assert trial.metrics == {"acc": 0.5}
    assert len(service.store.list_trials("job")) == 2
    job = service.store.get_job("job")
    assert job.failed == 1 and job.best_value is None


def test_a_non_finite_side_metric_is_dropped_and_the_trial_completes(service: TuningService) -> None:
    result = TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.25, "acc": math.nan})
    assert service.collect(result)
    trial = service.store.get_trial("job", "t0001")
    assert trial.state is TrialState.COMPLETED and trial.value == 0.25 and trial.metrics == {"loss": 0.25}


def test_non_finite_intermediate_metrics_are_dropped_and_the_trial_stays_readable(service: TuningService) -> None:
    assert service.report_metrics("job", "t0001", {"loss": math.nan, "acc": 0.5})
    assert service.store.get_trial("job", "t0001").metrics == {"acc": 0.5}


def test_a_failed_lambda_s_error_json_becomes_a_one_line_job_error(service: TuningService) -> None:
    """Step Functions' ``Cause`` for a Lambda error is the function's error JSON, stack
    trace included; the job keeps only the error type and message."""
    cause = {
        "errorMessage": "expected non-negative integer",
        "errorType": "ValueError",
        "requestId": "r-1",
        "stackTrace": ['  File "/var/task/app.py", line 26, in lambda_handler\n'],
    }
    service.finish(FinishRequest(job_id="job", error={"Error": "ValueError", "Cause": json.dumps(cause)}))
    job = service.store.get_job("job")
    assert job.status is JobStatus.FAILED and job.error == "ValueError: expected non-negative integer"


def test_a_plain_cause_is_kept_as_it_is(service: TuningService) -> None:
    service.finish(FinishRequest(job_id="job", error={"Error": "States.Timeout", "Cause": "took too long"}))
    assert service.store.get_job("job").error == "States.Timeout: took too long"


def objectives_spec(**overrides: object) -> dict:
    document = spec_document(**overrides)
    del document["objective"]
    document["objectives"] = [{"metric": "loss", "goal": "minimize"}, {"metric": "kb", "goal": "maximize"}]
    document["constraints"] = [{"metric": "ms", "max": 10}]
    document["trial"]["metric_definitions"] = [
        {"name": name, "regex": rf"^{name}=([0-9.eE+-]+)"} for name in ("loss", "kb", "ms")
    ]
    return document


def test_every_objective_is_recorded_and_a_missing_one_fails_the_trial() -> None:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    Study.from_job(service.store, service.submit(parse_spec(objectives_spec()), job_id="job")).ask(2)
    done = {"loss": 0.25, "kb": 3.0, "ms": 4.0}
    assert service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics=done))
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="completed", metrics={"loss": 0.1}))
    first, second = service.store.list_trials("job")
    assert first.state is TrialState.COMPLETED and first.values == [0.25, 3.0] and first.metrics == done
    assert second.state is TrialState.FAILED and second.error.startswith("objective metric 'kb' was not reported")


def test_a_late_reporting_trial_waits_for_its_constraint_metric_then_completes() -> None:
    service = TuningService(SQLiteStore(), {"local": LateReportingBackend()}, FakeOrchestrator())
    Study.from_job(service.store, service.submit(parse_spec(objectives_spec()), job_id="job")).ask(1)
    assert not service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed"))
    assert service.report_metrics("job", "t0001", {"loss": 0.5, "kb": 2.0})  # objectives, no constraint yet
    assert service.store.get_trial("job", "t0001").state.active
    assert service.report_metrics("job", "t0001", {"ms": 12.0})
    trial = service.store.get_trial("job", "t0001")
    assert trial.state is TrialState.COMPLETED and trial.values == [0.5, 2.0] and trial.metrics["ms"] == 12.0


def test_finish_names_the_front_of_a_job_with_several_objectives() -> None:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    Study.from_job(service.store, service.submit(parse_spec(objectives_spec()), job_id="job")).ask(3)
    for trial_id, metrics in [
        ("t0001", {"loss": 0.25, "kb": 3.0, "ms": 4.0}),  # front
        ("t0002", {"loss": 0.5, "kb": 2.0, "ms": 4.0}),  # dominated by t0001 (kb is maximized)
        ("t0003", {"loss": 0.1, "kb": 9.0, "ms": 40.0}),  # best of all, infeasible
    ]:
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics=metrics))
    summary = service.finish(FinishRequest(job_id="job"))
    assert summary["pareto_front"] == ["t0001"] and summary["best_trial_id"] is None
