"""A launch refused for capacity (SageMaker's ResourceLimitExceeded: ``CapacityError``) waits
for another trial of the job to end only when one still runs on the platform, so that its end
frees capacity and wakes the job (``TuningService._runs_another``); otherwise the trial fails
with the platform's reason at once.

A trial awaiting its final metric (``Trial.awaiting_result_since``) does not count: the
platform said its training job completed, so it holds no instance any more; its end, which
only the late report or the reaper's grace brings, would free nothing.
"""

from __future__ import annotations

from hyperstep.errors import CapacityError
from hyperstep.handlers import handle_suggest
from hyperstep.messages import LaunchRequest
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

REASON = "ResourceLimitExceeded: the account-level service limit is 1 instance"


class FullFor(FakeBackend):
    """Every launch of one trial is refused for capacity."""

    def __init__(self, trial_id: str) -> None:
        super().__init__()
        self.trial_id = trial_id

    def launch(self, job: Job, trial: Trial) -> str:
        if trial.id == self.trial_id:
            raise CapacityError(REASON)
        return super().launch(job, trial)


def two_trials_one_refused() -> TuningService:
    """A job's first round: t0001 runs, t0002's launch was deferred (t0001 runs)."""
    service = TuningService(SQLiteStore(clock=Clock()), {"local": FullFor("t0002")}, FakeOrchestrator())
    service.submit(parse_spec(spec_document(budget={"max_trials": 4, "max_parallel": 2})), job_id="job")
    handle_suggest(service, {"job_id": "job"})
    assert [t.state for t in service.store.list_trials("job")] == [TrialState.RUNNING, TrialState.PENDING]
    return service


def launch_again(service: TuningService) -> Trial:
    service.launch(LaunchRequest(job_id="job", trial_id="t0002"))
    return service.store.get_trial("job", "t0002")


def test_a_refused_launch_waits_while_another_trial_of_the_job_runs() -> None:
    trial = launch_again(two_trials_one_refused())
    assert (trial.state, trial.error) == (TrialState.PENDING, None)


def test_a_refused_launch_fails_when_the_only_other_trial_awaits_its_final_metric() -> None:
    """t0001's training job completed without its objective after this service last read it
    (the view still holds it running): it holds no instance. Before: the view's stale copy
    counted, and t0002 waited for an end that frees nothing."""
    service = two_trials_one_refused()
    assert service.store.await_result("job", "t0001") is not None
    trial = launch_again(service)
    assert (trial.state, trial.error) == (TrialState.FAILED, REASON)


def test_a_refused_launch_fails_when_no_other_trial_runs() -> None:
    service = two_trials_one_refused()
    service.store.finish_trial("job", "t0001", TrialState.COMPLETED, 0.5, {"loss": 0.5})
    trial = launch_again(service)
    assert (trial.state, trial.error) == (TrialState.FAILED, REASON)
