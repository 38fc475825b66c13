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
from tests.unit.test_service import FakeBackend, FakeOrchestrator


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
