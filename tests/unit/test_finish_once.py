"""Finish Job publishes the job's completion event once, however often Step Functions runs it.

Step Functions retries the Finish Job task after a lost response or a timeout even when
the handler's writes (and its PutEvents) landed (FIELD-NOTES.md): the retry must find the
event published and not publish it again, while a Finish that died before publishing
publishes on its retry, and a job reopened and finished again announces its new end.
"""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.errors import ConflictError
from hyperstep.handlers import handle_finish
from hyperstep.messages import SuggestRequest, TrialResult
from hyperstep.models import JobStatus
from hyperstep.ports import EventPublisher
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator


class Recorder(EventPublisher):
    """Keeps what is published; ``fail`` makes the next publish raise (PutEvents throttled)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.fail = False

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        if self.fail:
            self.fail = False
            raise RuntimeError("ThrottlingException")
        self.events.append((detail_type, detail))


@pytest.fixture
def ended() -> tuple[TuningService, Recorder]:
    """A job whose trials all completed: what Finish Job closes."""
    recorder = Recorder()
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator(), recorder)
    service.submit(parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2})), job_id="job")
    for trial_id in service.suggest(SuggestRequest(job_id="job")).trial_ids:
        service.collect(TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 0.5}))
    return service, recorder


def test_a_retried_finish_publishes_the_completion_event_once(ended: tuple[TuningService, Recorder]) -> None:
    service, recorder = ended
    first = handle_finish(service, {"job_id": "job"})
    retried = handle_finish(service, {"job_id": "job"})  # the first response was lost
    assert retried == first and first["status"] == "completed"
    assert [kind for kind, _ in recorder.events] == ["Tuning Job Completed"]


def test_a_finish_that_failed_to_publish_publishes_on_its_retry(ended: tuple[TuningService, Recorder]) -> None:
    service, recorder = ended
    recorder.fail = True
    with pytest.raises(RuntimeError):
        handle_finish(service, {"job_id": "job"})
    assert service.store.get_job("job").status is JobStatus.COMPLETED  # its status landed
    handle_finish(service, {"job_id": "job"})
    assert [(kind, detail["status"]) for kind, detail in recorder.events] == [("Tuning Job Completed", "completed")]


def test_a_job_reopened_and_finished_again_announces_its_new_end(ended: tuple[TuningService, Recorder]) -> None:
    service, recorder = ended
    handle_finish(service, {"job_id": "job"})
    service.store.set_job_status("job", JobStatus.RUNNING)  # run --resume reopens it
    handle_finish(service, {"job_id": "job", "error": {"Error": "Boom", "Cause": "again"}})
    assert [detail["status"] for _, detail in recorder.events] == ["completed", "failed"]


def test_a_stop_landing_between_finishs_read_and_its_close_closes_the_job_stopped(
    ended: tuple[TuningService, Recorder],
) -> None:
    """Finish writes the final status over the status it read (so of two closers at once only
    one publishes): a stop accepted meanwhile (202) is read again, not overwritten by
    ``completed``, and the one event says stopped."""
    service, recorder = ended
    write = service.store.set_job_status

    def stop_lands_first(job_id: str, status: JobStatus, **fields: Any) -> Any:
        if status.finished and service.store.get_job(job_id).status is JobStatus.RUNNING:
            service.stop(job_id)
        return write(job_id, status, **fields)

    service.store.set_job_status = stop_lands_first  # type: ignore[method-assign]
    assert handle_finish(service, {"job_id": "job"})["status"] == "stopped"
    assert [detail["status"] for _, detail in recorder.events] == ["stopped"]


def test_a_close_refused_with_the_status_unchanged_raises_to_finishs_retry(
    ended: tuple[TuningService, Recorder],
) -> None:
    """``set_job_status`` is refused with the job's status as read (DynamoDB: "status not set,
    transaction conflicts persisted"): no other closer or stop moved it, so Finish raises for
    Step Functions' Retry of the task (States.TaskFailed) rather than reading it again and
    writing again without end, as it did (here stopped by the third refusal)."""
    service, recorder = ended
    refusals: list[JobStatus] = []

    def conflicts_persist(job_id: str, status: JobStatus, **fields: Any) -> Any:
        refusals.append(status)
        if len(refusals) >= 3:
            raise RuntimeError("Finish wrote again and again")
        raise ConflictError(f"job {job_id!r}: status not set, transaction conflicts persisted")

    service.store.set_job_status = conflicts_persist  # type: ignore[method-assign]
    with pytest.raises(ConflictError):
        handle_finish(service, {"job_id": "job"})
    assert len(refusals) == 1 and recorder.events == []
