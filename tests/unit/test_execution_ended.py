"""A job whose execution ends outside Finish Job is closed from Step Functions' status-change event.

An execution stopped by hand (``StopExecution``), timed out, or failed where no Catch
reaches (``States.Runtime``, a Finish Job failing on every retry) never runs Finish Job:
without more, its job would stay running forever with its trials running. Step Functions
sends EventBridge an "Execution Status Change" event then (the sample in ``events/``, as
AWS's documentation shows it); the finish function closes the job from it. The same
event, delivered again or late, or about an earlier execution of the job, changes nothing.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hyperstep.handlers import Telemetry, handle_finish
from hyperstep.messages import LaunchRequest, SuggestRequest
from hyperstep.models import JobStatus
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_finish_once import Recorder
from tests.unit.test_service import FakeBackend, FakeOrchestrator

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "step-functions-execution-status-change-aborted.json"


def status_change(job_id: str, execution_arn: str, status: str = "ABORTED", **detail: Any) -> dict[str, Any]:
    """The sample event, about this job's execution, with this status."""
    event = copy.deepcopy(json.loads(SAMPLE.read_text()))
    name = execution_arn.rsplit(":", 1)[-1]
    event["resources"] = [execution_arn]
    event["detail"].update(executionArn=execution_arn, name=name, status=status, input=json.dumps({"job_id": job_id}))
    event["detail"].update(detail)
    return event


class Parts:
    def __init__(self) -> None:
        self.backend, self.published = FakeBackend(), Recorder()
        self.service = TuningService(SQLiteStore(), {"local": self.backend}, FakeOrchestrator(), self.published)
        self.service.submit(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 2})), job_id="job")
        for trial_id in self.service.suggest(SuggestRequest(job_id="job")).trial_ids:
            self.service.launch(LaunchRequest(job_id="job", trial_id=trial_id))

    @property
    def execution(self) -> str:
        execution = self.service.store.get_job("job").execution_id
        assert execution is not None
        return execution


@pytest.fixture
def parts() -> Parts:
    """A job with two trials running, its execution waiting for them."""
    return Parts()


def test_an_aborted_execution_fails_its_job_and_stops_its_trials(parts: Parts) -> None:
    answer = handle_finish(parts.service, status_change("job", parts.execution))
    job = parts.service.store.get_job("job")
    assert answer["closed"] and answer["status"] == job.status.value == "failed"
    assert job.error is not None and "ABORTED" in job.error
    assert sorted(parts.backend.stopped) == ["t0001", "t0002"]  # their stopped events record them
    assert [(kind, detail["status"]) for kind, detail in parts.published.events] == [("Tuning Job Completed", "failed")]


def test_the_error_step_functions_gives_becomes_the_jobs(parts: Parts) -> None:
    event = status_change("job", parts.execution, "FAILED", error="States.Runtime", cause="Invalid path '$.plan'")
    handle_finish(parts.service, event)
    assert parts.service.store.get_job("job").error == "States.Runtime: Invalid path '$.plan'"


def test_the_same_event_again_changes_nothing(parts: Parts) -> None:
    event = status_change("job", parts.execution, "TIMED_OUT")
    handle_finish(parts.service, event)
    before = parts.service.store.get_job("job")
    assert handle_finish(parts.service, event) == {"closed": False}
    assert parts.service.store.get_job("job") == before and len(parts.published.events) == 1


def test_an_execution_still_running_changes_nothing(parts: Parts) -> None:
    assert handle_finish(parts.service, status_change("job", parts.execution, "RUNNING")) == {"closed": False}
    assert parts.service.store.get_job("job").status is JobStatus.RUNNING


def test_an_execution_that_ended_through_finish_job_changes_nothing_it_closed(parts: Parts) -> None:
    """Its Finish Job closed the job (its publish may still be under way: not announced again)."""
    parts.service.store.set_job_status("job", JobStatus.COMPLETED)
    assert handle_finish(parts.service, status_change("job", parts.execution, "SUCCEEDED")) == {"closed": False}
    assert parts.published.events == []


def test_an_execution_that_ended_through_finish_job_with_its_job_running_closes_it(parts: Parts) -> None:
    """Its Finish Job ran before the job was reopened and it was recorded (a keyed retry's
    StartExecution of its open name): nothing runs the job (the reaper's DescribeExecution
    reads this; the event rule forwards no SUCCEEDED)."""
    handle_finish(parts.service, status_change("job", parts.execution, "SUCCEEDED"))
    job = parts.service.store.get_job("job")
    assert job.status is JobStatus.FAILED and (job.error or "").startswith("ExecutionEnded: ")


def test_an_execution_that_ended_through_finish_job_with_its_job_stopping_closes_it_stopped(parts: Parts) -> None:
    """A stop landed on the job so left (no execution runs it): it ends as asked, stopped
    without an error, as an execution aborted while its job stops ends it."""
    parts.service.store.set_job_status("job", JobStatus.STOPPING)
    assert handle_finish(parts.service, status_change("job", parts.execution, "SUCCEEDED"))["closed"]
    job = parts.service.store.get_job("job")
    assert job.status is JobStatus.STOPPED and job.error is None
    assert [detail["status"] for _, detail in parts.published.events] == ["stopped"]


def test_an_earlier_execution_of_the_job_changes_nothing(parts: Parts) -> None:
    earlier = parts.execution.replace("exec-", "exec-earlier-")
    assert handle_finish(parts.service, status_change("job", earlier)) == {"closed": False}
    assert handle_finish(parts.service, status_change("no-such-job", parts.execution)) == {"closed": False}
    assert parts.service.store.get_job("job").status is JobStatus.RUNNING and not parts.backend.stopped


def test_an_execution_aborted_while_its_job_stops_ends_it_stopped(parts: Parts) -> None:
    parts.service.store.set_job_status("job", JobStatus.STOPPING)
    handle_finish(parts.service, status_change("job", parts.execution))
    job = parts.service.store.get_job("job")
    assert job.status is JobStatus.STOPPED and job.error is None


def test_a_job_whose_finish_failed_after_its_status_gets_its_completion_event(parts: Parts) -> None:
    """Finish Job wrote the status, then failed on every retry before publishing."""
    parts.published.fail = True
    with pytest.raises(RuntimeError):
        handle_finish(parts.service, {"job_id": "job"})
    assert handle_finish(parts.service, status_change("job", parts.execution, "FAILED"))["closed"]
    assert [detail["status"] for _, detail in parts.published.events] == ["completed"]


class Said:
    """A handler's log, kept by level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def append_keys(self, **keys: Any) -> None:
        return None

    def info(self, msg: str, *, extra: Any = None) -> None:
        self.lines.append(("info", msg))

    def error(self, msg: str, *, extra: Any = None) -> None:
        self.lines.append(("error", msg))


@pytest.mark.parametrize(("stopping", "level"), [(True, "info"), (False, "error")])
def test_an_execution_aborted_by_the_jobs_own_stop_is_no_error(parts: Parts, stopping: bool, level: str) -> None:
    """A local Ctrl-C (or a stop racing the execution's end) aborts the execution of a job
    being stopped: that closes it stopped, as asked, and logged an ERROR every time. An abort
    nobody asked hyperstep for (StopExecution from the console) fails the job: still an error."""
    if stopping:
        parts.service.store.set_job_status("job", JobStatus.STOPPING)
    said = Said()
    handle_finish(parts.service, status_change("job", parts.execution), Telemetry(log=said))
    assert (level, "closed the job of an execution that ended outside Finish Job") in said.lines
    assert len([line for line in said.lines if line[0] == "error"]) == (0 if stopping else 1)
