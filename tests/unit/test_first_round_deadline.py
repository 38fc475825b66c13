"""A deadline in an execution's first minutes is kept to within a round, not to the reaper's pass.

Begin gives the first round of an execution a 600 s timeout (``ROUND_SECONDS``): a job whose
``max_runtime_seconds`` ends sooner, with trials that all run long, was woken only by the
reaper's pass (every 5 minutes) or that timeout, so its deadline passed by up to 5 minutes
(README said so). Now that round, when the deadline comes ``MIN_ROUND_SECONDS`` or more
before its timeout, ends at once with a plan whose ``round_seconds`` is the deadline: the
next round (the ASL's Default path back to Suggest Trials, timed by ``$.plan.round_seconds``)
waits only until then. A later round, whose timeout a wake sets, parks its token as before.
"""

from __future__ import annotations

from collections.abc import Callable

from hyperstep.messages import MIN_ROUND_SECONDS, ROUND_SECONDS, SuggestRequest
from hyperstep.models import Job, Trial
from hyperstep.service import TuningService
from hyperstep.spec import BudgetUpdate
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock
from tests.unit.test_service import FakeBackend, FakeOrchestrator, submit
from tests.unit.test_service import parts as parts  # the fixture


def test_the_first_round_of_a_job_with_a_near_deadline_ends_at_once_timed_by_it(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator, Clock],
) -> None:
    service, _, orchestrator, clock = parts
    job = submit(service, budget={"max_trials": 6, "max_parallel": 2, "max_runtime_seconds": 200})
    clock.now += 20
    plan = service.suggest_round(SuggestRequest(job_id=job.id, task_token="first", execution="e"))
    assert len(plan.trial_ids) == 2 and plan.round_seconds == 180 and not plan.done
    ((token, sent),) = orchestrator.woken
    assert token == "first" and sent["round_seconds"] == 180 and sent["done"] is False
    assert service.store.take_task_token(job.id) is None  # nothing parked: the round is over
    again = service.suggest_round(
        SuggestRequest(job_id=job.id, task_token="second", execution="e", history_events=plan.history_events)
    )
    assert again.trial_ids == [] and len(orchestrator.woken) == 1  # both run; parked: it waits for the deadline
    assert service.store.take_task_token(job.id) is not None


def test_a_first_round_that_waits_less_than_two_minutes_past_the_deadline_parks(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator, Clock],
) -> None:
    service, _, orchestrator, _ = parts
    job = submit(service, budget={"max_trials": 6, "max_parallel": 2, "max_runtime_seconds": 500})
    service.suggest_round(SuggestRequest(job_id=job.id, task_token="first", execution="e"))
    assert orchestrator.woken == [] and service.store.take_task_token(job.id) is not None


def test_a_first_round_whose_deadline_is_exactly_two_minutes_before_its_timeout_ends_at_once(
    parts: tuple[TuningService, FakeBackend, FakeOrchestrator, Clock],
) -> None:
    """The boundary: the deadline ``MIN_ROUND_SECONDS`` before ``ROUND_SECONDS`` ends the round."""
    service, _, orchestrator, _ = parts
    job = submit(service, budget={"max_trials": 6, "max_parallel": 2, "max_runtime_seconds": 480})
    plan = service.suggest_round(SuggestRequest(job_id=job.id, task_token="first", execution="e"))
    assert plan.round_seconds == ROUND_SECONDS - MIN_ROUND_SECONDS == 480
    assert [token for token, _ in orchestrator.woken] == ["first"]


class UpdatingBackend(FakeBackend):
    """Each launch runs ``during`` first: what lands while the round's launches are under way."""

    def __init__(self) -> None:
        super().__init__()
        self.during: list[Callable[[], object]] = []

    def launch(self, job: Job, trial: Trial) -> str:
        during, self.during = self.during, []
        for change in during:
            change()
        return super().launch(job, trial)


def test_a_deadline_brought_forward_during_the_first_rounds_launches_times_that_round() -> None:
    """A budget update lowering ``max_runtime_seconds`` while the first round launches wakes
    no one (no token is parked yet) and ``wait`` does not look at the budget: the round must
    time itself by the deadline as it stands after its launches, or it parks for 600 s and the
    deadline waits for the reaper's pass."""
    backend, clock = UpdatingBackend(), Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": backend}, FakeOrchestrator())
    job = submit(service, budget={"max_trials": 6, "max_parallel": 2, "max_runtime_seconds": 3600})
    backend.during = [lambda: service.update_budget(job.id, BudgetUpdate(max_runtime_seconds=200))]
    plan = service.suggest_round(SuggestRequest(job_id=job.id, task_token="first", execution="e"))
    assert len(plan.trial_ids) == 2 and plan.round_seconds == 200
    assert service.store.take_task_token(job.id) is None  # nothing parked: the round is over
