"""A platform's reason (1 MiB of it) reaches a trial's or a job's error bounded.

SageMaker's ``FailureReason`` is at most 1,024 characters (DescribeTrainingJob, SageMaker API
reference); Batch's ``statusReason`` and a container's ``reason`` have no documented bound
(DescribeJobs, Batch API reference); Step Functions' ``cause`` holds up to 32,768
(``ExecutionFailedEventDetails``, Step Functions API reference). Each goes through its own
event path here, from the sample in ``events/`` (AWS's shape) with only the reason changed;
the trial's DynamoDB item holds 400 KB, the completion event's entry 256 KB.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from hyperstep.backends.batch.events import BatchContainer, batch_result
from hyperstep.backends.sagemaker.events import sagemaker_result
from hyperstep.errors import LaunchError
from hyperstep.messages import MAX_ERROR_CHARS, SuggestRequest, TrialResult, clipped
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.service import START_FAILED, TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from hyperstep_functions.collect import app as collect
from hyperstep_functions.finish import app as finish
from tests.conftest import spec_document
from tests.unit.test_api import Context
from tests.unit.test_sample_events import EXECUTION_ENDED, JOB, load, running, svc
from tests.unit.test_service import FakeBackend, FakeOrchestrator

__all__ = ["running", "svc"]  # the fixtures the samples' tests use

MIB = "x" * 2**20


def with_reason(name: str, *path: str) -> dict[str, Any]:
    """The sample ``name`` with 1 MiB at ``path`` (keys into the event)."""
    event = copy.deepcopy(load(name))
    where = event
    for key in path[:-1]:
        where = where[key]
    assert path[-1] in where or path[-1] == "reason", path  # a field the sample has (a container may add reason)
    where[path[-1]] = MIB
    return event


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("sagemaker-training-job-state-change-failed.json", ("detail", "FailureReason")),
        ("batch-job-state-change-failed.json", ("detail", "statusReason")),
        ("batch-job-state-change-failed.json", ("detail", "container", "reason")),
    ],
)
def test_a_reason_of_a_mebibyte_in_an_end_event_is_kept_clipped(
    running: TuningService, name: str, path: tuple[str, ...]
) -> None:
    answer = collect.lambda_handler(with_reason(name, *path), Context(function_name="hyperstep-collect"))
    assert answer["recorded"] is True
    error = running.store.get_trial(JOB, "t0007").error
    assert error is not None and len(error) <= MAX_ERROR_CHARS
    assert "x" * 100 in error and re.search(r"x\.\.\. \(1,048,576 characters\)", error)


def test_a_cause_of_a_mebibyte_in_an_execution_status_change_is_kept_clipped(running: TuningService) -> None:
    event = copy.deepcopy(load(EXECUTION_ENDED))
    event["detail"].update(status="FAILED", error="States.Runtime", cause=MIB)
    running.store.set_job_status(JOB, JobStatus.RUNNING, execution_id=event["detail"]["executionArn"])
    assert finish.lambda_handler(event, Context(function_name="hyperstep-finish"))["closed"]
    job = running.store.get_job(JOB)
    assert job.status is JobStatus.FAILED and job.error is not None
    assert len(job.error) <= MAX_ERROR_CHARS and job.error.startswith("States.Runtime: xxx")


def test_the_reapers_describe_paths_clip_the_reason_too() -> None:
    """``describe`` (the reaper's, Finish's) maps DescribeTrainingJob / DescribeJobs alike."""
    sagemaker = sagemaker_result(JOB, "t0007", "Failed", "Failed", MIB, {})
    batch = batch_result(JOB, "t0007", "FAILED", MIB, None)
    for result in (sagemaker, batch):
        assert result is not None and result.error is not None and len(result.error) <= MAX_ERROR_CHARS


def test_a_failed_batch_jobs_exit_code_outlasts_its_reasons() -> None:
    container = BatchContainer.model_validate({"reason": MIB, "exitCode": 137})
    result = batch_result(JOB, "t0007", "FAILED", MIB, container)
    assert result is not None and result.error is not None
    assert len(result.error) <= MAX_ERROR_CHARS and result.error.endswith("; exit code 137")


def test_a_reason_within_the_bound_is_kept_whole_and_clipping_twice_changes_nothing() -> None:
    whole = "y" * MAX_ERROR_CHARS  # SageMaker's longest FailureReason
    assert TrialResult(job_id=JOB, trial_id="t0007", state="failed", error=whole).error == whole
    once = clipped(MIB)
    assert clipped(once) == once and once.endswith("... (1,048,576 characters)")


class RefusingBackend(FakeBackend):
    """A platform that refuses every launch with a reason of 1 MiB (``LaunchError``, as the
    SageMaker and Batch adapters raise for a request the platform rejects)."""

    def launch(self, job: Job, trial: Trial) -> str:
        raise LaunchError(MIB)


class RefusingOrchestrator(FakeOrchestrator):
    def start_execution(self, job_id: str, name: str) -> str:
        raise RuntimeError(MIB)


def test_a_launch_refused_with_a_mebibyte_reason_fails_the_trial_with_it_clipped() -> None:
    service = TuningService(SQLiteStore(), {"local": RefusingBackend()}, FakeOrchestrator())
    job = service.submit(parse_spec(spec_document()), job_id="refused")
    plan = service.suggest_and_launch(SuggestRequest(job_id=job.id))
    (trial, *_) = service.store.list_trials(job.id)
    assert plan.trial_ids and trial.state is TrialState.FAILED and trial.error is not None
    assert len(trial.error) == MAX_ERROR_CHARS and trial.error.endswith("... (1,048,576 characters)")


def test_a_start_that_raised_a_mebibyte_message_fails_the_job_with_it_clipped() -> None:
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, RefusingOrchestrator())
    with pytest.raises(RuntimeError):
        service.submit(parse_spec(spec_document()), job_id="unstarted")
    job = service.store.get_job("unstarted")
    assert job.status is JobStatus.FAILED and job.error is not None and job.error.startswith(START_FAILED)
    assert len(job.error) == MAX_ERROR_CHARS
