"""``TrialStore.add_trials`` on every adapter: budget and trials in one atomic step.

A suggester that dies between taking budget and writing the trials that hold it would
leave budget no trial holds (the job then runs fewer trials than ``max_trials``): these
tests hold each adapter to writing both or neither.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hyperstep.models import Job, Trial, trial_id
from hyperstep.stores.base import TrialStore
from tests.contract.test_store_races import race

MakeJob = Callable[..., Job]


def maker(job: Job, made: list[tuple[int, int]] | None = None) -> Callable[[int, int], Trial]:
    """Builds the ``i``-th trial with its number (params say which ``i``), noting each call."""

    def make(i: int, number: int) -> Trial:
        if made is not None:
            made.append((i, number))
        return Trial(job_id=job.id, id=trial_id(number), number=number, params={"layers": i + 1})

    return make


def test_add_trials_numbers_and_stores_them_within_the_budget(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    first = store.add_trials(job.id, 3, 5, maker(job))
    second = store.add_trials(job.id, 3, 5, maker(job))
    assert store.add_trials(job.id, 3, 5, maker(job)) == []
    assert [t.number for t in [*first, *second]] == [1, 2, 3, 4, 5]
    assert [t.params["layers"] for t in second] == [1, 2], "the i-th trial built for the i-th number taken"
    assert store.list_trials(job.id) == [*first, *second]
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used) == (5, 5)


def test_add_trials_that_fails_midway_takes_no_budget(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()

    def broken(i: int, number: int) -> Trial:
        if i == 1:
            raise RuntimeError("died while building the second trial")
        return maker(job)(i, number)

    with pytest.raises(RuntimeError):
        store.add_trials(job.id, 3, None, broken)
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used, store.list_trials(job.id)) == (0, 0, [])


def test_add_trials_past_one_transaction_numbers_every_trial_once(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    made: list[tuple[int, int]] = []
    added = store.add_trials(job.id, 150, None, maker(job, made))
    assert [t.number for t in added] == list(range(1, 151))
    assert [t.params["layers"] for t in added] == list(range(1, 151))
    assert len(store.list_trials(job.id)) == 150 and store.get_job(job.id).budget_used == 150


def test_racing_add_trials_never_share_a_number_or_overspend(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    added = race(lambda _: store.add_trials(job.id, 3, 10, maker(job)))
    numbers = sorted(t.number for batch in added for t in batch)
    assert numbers == list(range(1, 11))
    assert [t.number for t in store.list_trials(job.id)] == numbers
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used) == (10, 10)
