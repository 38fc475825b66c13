"""A job stopped or closed between ``launch``'s read of it and its write of the started
trial: what was launched is stopped, and the trial recorded stopped (it ran on, with
nothing left to stop it: a finished job is visited by neither the loop nor the reaper)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.messages import FinishRequest, LaunchRequest, SuggestRequest, TrialResult, Usage
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend


class ClosingStore(SQLiteStore):
    """Runs ``meanwhile`` once, right after the next trial read (``launch`` reads the job,
    then the trial): another process acting on the job between those reads and the launch."""

    meanwhile: Callable[[], object] | None = None

    def get_trial(self, job_id: str, trial_id: str) -> Trial:
        trial = super().get_trial(job_id, trial_id)
        act, self.meanwhile = self.meanwhile, None
        if act is not None:
            act()
        return trial


@pytest.fixture
def parts() -> tuple[TuningService, ClosingStore, FakeBackend]:
    store, backend = ClosingStore(), FakeBackend()
    service = TuningService(store, {"local": backend})
    service.create_job(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 1})), job_id="job")
    return service, store, backend


def planned(service: TuningService) -> str:
    (trial_id,) = service.suggest(SuggestRequest(job_id="job")).trial_ids
    return trial_id


@pytest.mark.parametrize("status", [JobStatus.STOPPED, JobStatus.FAILED, JobStatus.COMPLETED])
def test_a_job_closed_after_launch_read_it_stops_the_trial_it_launched(parts, status: JobStatus) -> None:
    service, store, backend = parts
    trial_id = planned(service)
    store.meanwhile = lambda: store.set_job_status("job", status)  # Finish, or close_ended_execution
    assert service.launch(LaunchRequest(job_id="job", trial_id=trial_id)) == {"trial_id": trial_id, "state": "stopped"}
    trial = store.get_trial("job", trial_id)
    assert backend.launched == backend.stopped == [trial_id]
    assert (trial.state, trial.error) == (TrialState.STOPPED, f"stopped at launch: job is {status.value}")


def test_a_stop_that_recorded_the_pending_trial_stopped_meanwhile_leaves_its_launch_stopped(parts) -> None:
    service, store, backend = parts
    trial_id = planned(service)
    store.meanwhile = lambda: service.stop("job")  # the API's stop: the trial is pending, it records it stopped
    service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    assert backend.launched == backend.stopped == [trial_id]
    assert store.get_trial("job", trial_id).error == "stopped before launch"


def test_a_result_that_beat_the_started_write_stops_nothing(parts) -> None:
    service, store, backend = parts
    trial_id = planned(service)
    result = TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 0.5})
    store.meanwhile = lambda: service.collect(result)  # a trial quicker than its launch's write
    assert service.launch(LaunchRequest(job_id="job", trial_id=trial_id))["state"] == "completed"
    assert (backend.launched, backend.stopped) == ([trial_id], [])


class BillingBackend(FakeBackend):
    """Keeps a record of what each trial used, as SageMaker's ``DescribeTrainingJob`` does."""

    def usage(self, job: Job, trial: Trial) -> Usage | None:
        return Usage(seconds=3600.0)


def test_a_result_that_beat_the_started_write_is_charged_from_the_backends_record() -> None:
    """Not recorded started, the trial ran all the same: its usage is read as any trial's."""
    store, backend = ClosingStore(), BillingBackend()
    service = TuningService(store, {"local": backend})
    service.create_job(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 1})), job_id="job")
    trial_id = planned(service)
    result = TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 0.5})
    store.meanwhile = lambda: service.collect(result)
    service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    trial = store.get_trial("job", trial_id)
    assert (trial.state, trial.started_at, trial.billable_seconds) == (TrialState.COMPLETED, None, 3600.0)


class LaunchingStore(ClosingStore):
    """Runs ``meanwhile`` once, right after the next listing of a job's trials."""

    def list_trials(self, job_id: str) -> list[Trial]:
        trials = super().list_trials(job_id)
        act, self.meanwhile = self.meanwhile, None
        if act is not None:
            act()
        return trials


def test_a_launch_that_lands_between_finishs_read_and_its_stop_is_stopped_on_its_backend() -> None:
    """Finish (its loop broken off) reads the trial pending; its launch records it started
    before Finish's stop write, which then holds no more: the trial is running, so Finish
    stops it on the backend, and its end, with what it reported, comes as any trial's does."""
    store, backend = LaunchingStore(), FakeBackend()
    service = TuningService(store, {"local": backend})
    service.create_job(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 1})), job_id="job")
    trial_id = planned(service)
    store.meanwhile = lambda: service.launch(LaunchRequest(job_id="job", trial_id=trial_id))
    service.finish(FinishRequest(job_id="job", error={"Error": "States.Timeout", "Cause": "Suggest timed out"}))
    assert backend.launched == backend.stopped == [trial_id]
    assert store.get_trial("job", trial_id).state is TrialState.RUNNING
    service.report_metrics("job", trial_id, {"loss": 0.75}, step=3)
    service.collect(TrialResult(job_id="job", trial_id=trial_id, state="stopped"))
    trial = store.get_trial("job", trial_id)
    assert (trial.state, trial.metrics) == (TrialState.STOPPED, {"loss": 0.75})


def test_a_stop_reads_a_pending_trial_once(parts, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop write of a pending trial says whether a launch started it meanwhile: no
    second read of a trial it stopped (the job's listing is the one read)."""
    service, store, backend = parts
    trial_id = planned(service)
    reads: list[str] = []
    read = store.get_trial
    monkeypatch.setattr(store, "get_trial", lambda job_id, tid: reads.append(tid) or read(job_id, tid))
    service.stop("job")
    assert reads == []
    assert (store.get_trial("job", trial_id).state, backend.stopped) == (TrialState.STOPPED, [])
