"""Finish Job against a Suggest still running when its execution ended, on every store.

That Suggest may plan and launch trials while Finish closes the job. Whatever it starts
must be stopped, by one side or the other: a trial recorded started before the close is
stopped by Finish (it reads the trials again once the job is closed), and a launch whose
start write comes after the close is refused by the store (SQLite: one transaction;
DynamoDB: the job's unfinished marker, removed by the close) and stopped by ``launch``.
The interleavings are forced by running the other side inside the store's close write
(``set_job_status`` to a finished status), once, just before it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.messages import FinishRequest, LaunchRequest, SuggestRequest, TrialResult
from hyperstep.models import JobStatus, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend

TIMED_OUT = {"Error": "States.Timeout", "Cause": "the execution timed out"}


def before_the_close(monkeypatch: pytest.MonkeyPatch, store: TrialStore, act: Callable[[], object]) -> None:
    """Run ``act`` once, right before the store's next write of a finished job status."""
    close = store.set_job_status

    def acting_first(job_id: str, status: JobStatus, **kwargs: object) -> object:
        nonlocal act
        if status.finished and act is not None:
            pending, act = act, None
            pending()
        return close(job_id, status, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "set_job_status", acting_first)


@pytest.fixture
def service(store: TrialStore) -> TuningService:
    service = TuningService(store, {"local": FakeBackend()})
    service.create_job(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 1})), job_id="job")
    return service


def test_a_trial_started_between_finishs_listing_and_its_close_is_stopped(
    service: TuningService, store: TrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = service.backends["local"]
    assert isinstance(backend, FakeBackend)
    suggest = SuggestRequest(job_id="job")
    before_the_close(monkeypatch, store, lambda: service.suggest_and_launch(suggest))
    summary = service.finish(FinishRequest(job_id="job", error=TIMED_OUT))
    (trial,) = store.list_trials("job")
    assert summary["status"] == "failed"
    assert backend.launched == backend.stopped == [trial.id]
    assert trial.state is TrialState.RUNNING  # stopped on its backend; its end comes as for any trial
    assert service.suggest(suggest).trial_ids == []  # closed: nothing more is planned
    service.collect(TrialResult(job_id="job", trial_id=trial.id, state="stopped"))
    assert store.get_trial("job", trial.id).state is TrialState.STOPPED
    assert store.get_job("job").budget_used == 0


def test_a_trial_planned_before_the_close_and_launched_after_it_is_stopped_at_launch(
    service: TuningService, store: TrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = service.backends["local"]
    assert isinstance(backend, FakeBackend)
    planned: list[str] = []
    suggest = SuggestRequest(job_id="job")
    before_the_close(monkeypatch, store, lambda: planned.extend(service.suggest(suggest).trial_ids))
    service.finish(FinishRequest(job_id="job", error=TIMED_OUT))
    (trial_id,) = planned
    assert store.get_trial("job", trial_id).state is TrialState.STOPPED  # Finish's second listing stopped it
    assert service.launch(LaunchRequest(job_id="job", trial_id=trial_id))["state"] == "stopped"
    assert (backend.launched, backend.stopped) == ([], [])  # recorded stopped: never launched


def test_a_launch_whose_start_write_comes_after_the_close_is_stopped(
    service: TuningService, store: TrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch read the job running and launched; Finish closed it (and, with the trial
    pending, recorded it stopped) before the launch's start write: the launch stops it."""
    backend = service.backends["local"]
    assert isinstance(backend, FakeBackend)
    (trial_id,) = service.suggest(SuggestRequest(job_id="job")).trial_ids
    finish = FinishRequest(job_id="job", error=TIMED_OUT)
    launch = backend.launch

    def launch_then_finish(job, trial):  # type: ignore[no-untyped-def]
        ref = launch(job, trial)
        service.finish(finish)
        return ref

    monkeypatch.setattr(backend, "launch", launch_then_finish)
    assert service.launch(LaunchRequest(job_id="job", trial_id=trial_id))["state"] == "stopped"
    assert backend.launched == backend.stopped == [trial_id]
    assert store.get_job("job").status is JobStatus.FAILED


def test_a_finish_cut_off_after_its_close_stops_the_late_trial_on_its_retry(
    service: TuningService, store: TrialStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lambda times out between the close and the second listing; Step Functions runs
    Finish Job again, which finds the job closed and winds down every trial it lists."""
    backend = service.backends["local"]
    assert isinstance(backend, FakeBackend)
    before_the_close(monkeypatch, store, lambda: service.suggest_and_launch(SuggestRequest(job_id="job")))
    cut: list[str] = []
    listed = store.list_trials

    def cut_off_after_the_close(job_id: str) -> object:
        if not cut and store.get_job(job_id).status.finished:
            cut.append(job_id)
            raise TimeoutError("Task timed out")
        return listed(job_id)

    monkeypatch.setattr(store, "list_trials", cut_off_after_the_close)
    with pytest.raises(TimeoutError):
        service.finish(FinishRequest(job_id="job", error=TIMED_OUT))
    assert store.get_job("job").status is JobStatus.FAILED and backend.stopped == []
    summary = service.finish(FinishRequest(job_id="job", error=TIMED_OUT))
    assert summary["status"] == "failed"
    assert backend.launched == backend.stopped == [t.id for t in listed("job")]
