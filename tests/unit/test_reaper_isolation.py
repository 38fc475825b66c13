"""One job's platform error does not stop the reaper's pass over the others.

A throttled ``DescribeTrainingJob`` (or any error reading one job's trials) raised out of
the pass: every job after it in the store's order went unreconciled and unwoken, and with
the same order each pass, a job that kept failing starved the rest. Now the pass goes on
and raises the first error at its end, so the invocation still fails (and alarms)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult
from hyperstep.models import Job, Trial, TrialState
from hyperstep.recorded_ends import recording
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

THROTTLED = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}


class ThrottledFor(FakeBackend):
    """Describe raises a throttle for one job's trials; the others have ended (by job id)."""

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.ended: dict[str, TrialResult] = {}

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        if job.id == self.job_id:
            raise ClientError(THROTTLED, "DescribeTrainingJob")
        return self.ended.get(job.id)


def test_a_throttled_job_does_not_keep_the_reaper_from_the_others() -> None:
    store = SQLiteStore()
    ids = [f"job-{i}" for i in range(3)]
    backend = ThrottledFor(ids[0])
    service = TuningService(store, {"local": backend})
    spec = parse_spec(spec_document(budget={"max_trials": 1, "max_parallel": 1}))
    trials = {}
    for job_id in ids:
        service.create_job(spec, job_id=job_id)
        (trials[job_id],) = service.suggest(SuggestRequest(job_id=job_id)).trial_ids
        service.launch(LaunchRequest(job_id=job_id, trial_id=trials[job_id]))
    for job_id in ids[1:]:  # their end events were lost: the reaper finds them ended
        backend.ended[job_id] = TrialResult(
            job_id=job_id, trial_id=trials[job_id], state="completed", metrics={"loss": 0.5}
        )
    with pytest.raises(ClientError, match="ThrottlingException"):
        service.reap()
    for job_id in ids[1:]:
        assert store.get_trial(job_id, trials[job_id]).state is TrialState.COMPLETED
    assert store.get_trial(ids[0], trials[ids[0]]).state is TrialState.RUNNING


class EndsThenThrottles(FakeBackend):
    """A job's first trial has ended; Describe of its second raises a throttle."""

    def __init__(self, ended: TrialResult) -> None:
        super().__init__()
        self.ended = ended

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        if trial.id == self.ended.trial_id:
            return self.ended
        raise ClientError(THROTTLED, "DescribeTrainingJob")


def test_the_ends_a_failed_job_recorded_before_its_error_are_told_under_that_job() -> None:
    """The reaper function counts each job's ends as ``reaped`` is told of the job: skipped
    on an error, the failed job's ends were left in the list and counted under the next job."""
    store = SQLiteStore()
    service = TuningService(store, {"local": FakeBackend()})
    spec = parse_spec(spec_document(budget={"max_trials": 2, "max_parallel": 2}))
    job = service.create_job(spec, job_id="job-0")
    first, second = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
    for trial_id in (first, second):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    ended = TrialResult(job_id=job.id, trial_id=first, state="completed", metrics={"loss": 0.5})
    service.backends["local"] = EndsThenThrottles(ended)
    told: list[tuple[str, list[TrialState]]] = []
    with recording() as ends:

        def reaped(reaped_job: Job) -> None:
            told.append((reaped_job.id, [end.state for end in ends]))
            ends.clear()

        with pytest.raises(ClientError, match="ThrottlingException"):
            service.reap(reaped=reaped)
    assert told == [(job.id, [TrialState.COMPLETED])]


class OneTrialThrottled(FakeBackend):
    """Describe of one trial is throttled on every call (its turn in a pass always lands on
    the rate limit); every other trial's training has ended."""

    def __init__(self, throttled: str, job_id: str, trial_ids: list[str]) -> None:
        super().__init__()
        self.throttled = throttled
        self.ended = {
            t: TrialResult(job_id=job_id, trial_id=t, state="completed", metrics={"loss": 0.5}) for t in trial_ids
        }

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        if trial.id == self.throttled:
            raise ClientError(THROTTLED, "DescribeTrainingJob")
        return self.ended[trial.id]


def parked_job(
    trials: int, backend: type[OneTrialThrottled]
) -> tuple[SQLiteStore, FakeOrchestrator, TuningService, Job, list[str]]:
    """A job with ``trials`` running trials and a parked task token, whose backend
    (``backend``) throttles the first trial's Describe."""
    store, orchestrator = SQLiteStore(), FakeOrchestrator()
    service = TuningService(store, {"local": FakeBackend()}, orchestrator)
    spec = parse_spec(spec_document(budget={"max_trials": trials, "max_parallel": trials}))
    job = service.create_job(spec, job_id="job-0")
    trial_ids = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
    for trial_id in trial_ids:
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    store.put_task_token(job.id, "parked-token")
    service.backends["local"] = backend(trial_ids[0], job.id, trial_ids)
    return store, orchestrator, service, job, trial_ids


def test_one_throttled_trial_does_not_keep_the_reaper_from_its_jobs_other_trials() -> None:
    """The pass read a job's running trials in the same order each time and stopped at the
    first that raised: the trials after it were never reconciled, nor the job woken, for as
    long as that one trial's Describe kept failing. Now each trial is tried, the job woken,
    and the first error raised at the end."""
    store, orchestrator, service, job, trial_ids = parked_job(5, OneTrialThrottled)
    with pytest.raises(ClientError, match="ThrottlingException"):
        service.reap()
    states = [store.get_trial(job.id, t).state for t in trial_ids]
    assert states == [TrialState.RUNNING] + [TrialState.COMPLETED] * 4
    assert [token for token, _ in orchestrator.woken] == ["parked-token"]  # the job's execution was woken


class OneThrottledOthersRunning(OneTrialThrottled):
    """As ``OneTrialThrottled``, but the other trials are still training: no end wakes the job."""

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        super().describe(job, trial)
        return None


def test_a_job_whose_throttled_trial_raised_is_still_woken_when_no_trial_ended() -> None:
    """The wake comes before the error is raised: a job none of whose trials ended this pass
    (no end's own wake) still has its lost wake-up (and its pending trials) rescued."""
    store, orchestrator, service, job, trial_ids = parked_job(2, OneThrottledOthersRunning)
    with pytest.raises(ClientError, match="ThrottlingException"):
        service.reap()
    assert [store.get_trial(job.id, t).state for t in trial_ids] == [TrialState.RUNNING] * 2
    assert [token for token, _ in orchestrator.woken] == ["parked-token"]
