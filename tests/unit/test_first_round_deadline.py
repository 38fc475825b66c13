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

from hyperstep.messages import ROUND_SECONDS, SuggestRequest
from hyperstep.models import Job
from hyperstep.service import TuningService
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


class CountingStore(SQLiteStore):
    """Counts ``get_job`` calls (a DynamoDB ``GetItem`` each)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.job_reads = 0

    def get_job(self, job_id: str) -> Job:
        self.job_reads += 1
        return super().get_job(job_id)


def test_the_first_rounds_deadline_is_read_from_the_job_suggest_read() -> None:
    """A first round with a task token reads the job no more often than the same round's plan
    and launches (``suggest_and_launch``): ``_sooner_first_round`` read it once more."""
    reads = []
    for token in ("first", None):
        clock = Clock()
        store = CountingStore(clock)
        service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())
        job = submit(service, budget={"max_trials": 6, "max_parallel": 2, "max_runtime_seconds": 200})
        clock.now += 20
        store.job_reads = 0
        plan = service.suggest_round(SuggestRequest(job_id=job.id, task_token=token, execution="e"))
        assert len(plan.trial_ids) == 2 and plan.round_seconds == (180 if token else ROUND_SECONDS)
        reads.append(store.job_reads)
    assert reads[0] == reads[1] > 0
