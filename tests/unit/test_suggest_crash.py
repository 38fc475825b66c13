"""A Suggest that dies midway (its Lambda times out, its process is killed) and is retried.

Step Functions runs the Suggest Trials task again after a timeout or a failure, whatever
the first attempt wrote (FIELD-NOTES.md). Whichever store write the first attempt died
after, the retry must neither reserve the budget a second time nor leave budget that no
trial holds: the job still runs ``max_trials`` trials and then ends, and the job item's
counters agree with its trials.
"""

from __future__ import annotations

from typing import Any

from hyperstep.messages import SuggestRequest, TrialResult
from hyperstep.models import TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

TRIALS, PARALLEL = 5, 3


class Killed(Exception):
    """The attempt's process ended here (a Lambda timeout): nothing after it runs."""


class DiesAfterWrite:
    """A store whose ``kill_at``-th write (counted from when it is armed) lands, and then
    the caller dies: every public method but the reads is a write."""

    READS = frozenset({"clock", "get_job", "get_trial", "list_trials", "list_jobs", "recently_ended"})

    def __init__(self, store: TrialStore) -> None:
        self._store = store
        self.kill_at: int | None = None
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if name in self.READS or not callable(target):
            return target

        def write(*args: Any, **kwargs: Any) -> Any:
            result = target(*args, **kwargs)
            self.writes += 1
            if self.kill_at is not None and self.writes == self.kill_at:
                self.kill_at = None
                raise Killed(f"died after {name}")
            return result

        return write

    def arm(self, kill_at: int) -> None:
        self.writes, self.kill_at = 0, kill_at


def run_with_first_suggest_killed(kill_at: int) -> tuple[TuningService, bool]:
    """Run a job whose first Suggest dies after its ``kill_at``-th write and is retried;
    every planned trial completes at once. Whether the first Suggest died."""
    store = DiesAfterWrite(SQLiteStore())
    service = TuningService(store, {"local": FakeBackend()}, FakeOrchestrator())  # type: ignore[arg-type]
    spec = spec_document(strategy={"name": "sobol", "seed": 2}, budget={"max_trials": TRIALS, "max_parallel": PARALLEL})
    service.create_job(parse_spec(spec), job_id="job")
    store.arm(kill_at)
    request = SuggestRequest(job_id="job")
    try:
        service.suggest(request)
        died = False
    except Killed:
        died = True
    store.kill_at = None
    for _ in range(3 * TRIALS):  # the retry, then round after round
        plan = service.suggest(request)
        if plan.done:
            return service, died
        for trial_id in plan.trial_ids:
            result = TrialResult(job_id="job", trial_id=trial_id, state="completed", metrics={"loss": 1.0})
            assert service.collect(result)
    raise AssertionError("the job never ended")


def test_a_suggest_killed_after_any_of_its_writes_and_retried_leaks_no_budget() -> None:
    for kill_at in range(1, 10):
        service, died = run_with_first_suggest_killed(kill_at)
        if not died:
            break  # the first Suggest makes fewer writes: each one has been tried
        job, trials = service.store.get_job("job"), service.store.list_trials("job")
        assert [t.state for t in trials] == [TrialState.COMPLETED] * TRIALS, f"killed after write {kill_at}"
        assert (job.trial_seq, job.budget_used, job.completed) == (TRIALS, TRIALS, TRIALS)
        assert service.progress("job").active == 0, "no budget is held by a trial that does not exist"
    assert kill_at > 1, "the first Suggest writes"
