"""``TrialStore.set_budget`` applies its change to the budget as stored when it writes."""

from __future__ import annotations

from collections.abc import Callable

from hyperstep.models import Job
from hyperstep.spec import Budget
from hyperstep.stores.base import TrialStore


def test_a_change_applies_to_the_budget_as_stored(store: TrialStore, make_job: Callable[..., Job]) -> None:
    job = make_job()
    store.set_budget(job.id, lambda b: b.model_copy(update={"max_parallel": 9}))
    stored = store.set_budget(job.id, lambda b: b.model_copy(update={"max_trials": (b.max_trials or 0) + 1}))
    assert (stored.spec.budget.max_parallel, stored.spec.budget.max_trials) == (9, 41)
    assert store.get_job(job.id).spec.budget == stored.spec.budget


def test_a_change_written_meanwhile_is_read_again_and_kept(store: TrialStore, make_job: Callable[..., Job]) -> None:
    """Another writer's change landing between this call's read and its write (on DynamoDB
    the conditional write fails, and the call reads, changes and writes again); SQLite
    holds its transaction, so there the other change lands before or after, never between."""
    job = make_job()
    calls: list[Budget] = []

    def raise_parallel(budget: Budget) -> Budget:
        calls.append(budget)
        if len(calls) == 1 and type(store).__name__ == "DynamoDBStore":
            store.set_budget(job.id, lambda b: b.model_copy(update={"max_trials": 77}))
        return budget.model_copy(update={"max_parallel": 8})

    store.set_budget(job.id, raise_parallel)
    budget = store.get_job(job.id).spec.budget
    assert budget.max_parallel == 8
    if type(store).__name__ == "DynamoDBStore":
        assert budget.max_trials == 77 and [b.max_trials for b in calls] == [40, 77]
