"""The concurrency guarantees of ``TrialStore``, raced with threads on every adapter.

A barrier releases all threads at once so their calls overlap; the assertions are on
outcomes (who won, what the counters say), never on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from hyperstep.models import Job, MetricReport, TrialState, trial_id
from hyperstep.stores.base import TrialStore
from tests.contract.conftest import add, trials_of

MakeJob = Callable[..., Job]
T = TypeVar("T")
RACERS = 8


def race(work: Callable[[int], T], racers: int = RACERS) -> list[T]:
    """Run ``work(i)`` in ``racers`` threads released together; their results in order."""
    gate = threading.Barrier(racers)

    def run(i: int) -> T:
        gate.wait()
        return work(i)

    with ThreadPoolExecutor(racers) as pool:
        return list(pool.map(run, range(racers)))


def test_racing_reservations_never_share_a_number_or_overspend(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    taken = race(lambda _: add(store, job, 3, 10))
    numbers = [k for batch in taken for k in batch]
    assert sorted(numbers) == list(range(1, 11))
    after = store.get_job(job.id)
    assert (after.trial_seq, after.budget_used) == (10, 10)


def test_racing_unlimited_reservations_never_share_a_number(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    taken = race(lambda _: add(store, job, 2))
    assert sorted(k for batch in taken for k in batch) == list(range(1, 2 * RACERS + 1))


def test_racing_finishes_record_exactly_once(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    add(store, job, 1)
    store.start_trial(job.id, trial_id(1), "ref")
    outcomes = race(lambda i: store.finish_trial(job.id, trial_id(1), TrialState.COMPLETED, float(i)))
    assert outcomes.count(True) == 1
    winner = float(outcomes.index(True))
    after, trial = store.get_job(job.id), store.get_trial(job.id, trial_id(1))
    assert (after.completed, after.failed, after.budget_used) == (1, 0, 1)
    assert trial.value == winner and after.best_value == winner


def test_racing_mixed_endings_move_one_counter_once(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    add(store, job, 1)
    endings = [TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.COMPLETED] * 2
    outcomes = race(lambda i: store.finish_trial(job.id, trial_id(1), endings[i], 0.5))
    assert outcomes.count(True) == 1
    state = store.get_trial(job.id, trial_id(1)).state
    after = store.get_job(job.id)
    moved = {
        TrialState.COMPLETED: (1, 0, 1),
        TrialState.FAILED: (0, 1, 1),
        TrialState.STOPPED: (0, 0, 0),
    }[state]
    assert state is endings[outcomes.index(True)]
    assert (after.completed, after.failed, after.budget_used) == moved


def test_many_trials_finishing_at_once_keep_every_count_and_the_best(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job("maximize")
    add(store, job, RACERS)
    values = [0.3, 0.9, 0.1, 0.7, 0.95, 0.2, 0.5, 0.4]
    assert all(race(lambda i: store.finish_trial(job.id, trial_id(i + 1), TrialState.COMPLETED, values[i])))
    after = store.get_job(job.id)
    assert after.completed == RACERS
    assert (after.best_value, after.best_trial_id) == (0.95, trial_id(5))


def test_racing_token_takers_get_one_token(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_task_token(job.id, "the-token")
    got: list[Any] = race(lambda _: store.take_task_token(job.id))
    assert [g for g in got if g is not None] == ["the-token"]
    assert got.count(None) == RACERS - 1


def test_racing_metric_reports_lose_no_key(store: TrialStore, make_job: MakeJob) -> None:
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    store.start_trial(job.id, trial_id(1), "ref")
    assert all(race(lambda i: store.report_metrics(job.id, trial_id(1), {f"m{i}": MetricReport(value=float(i))})))
    assert store.get_trial(job.id, trial_id(1)).metrics == {f"m{i}": float(i) for i in range(RACERS)}


def test_racing_reports_of_one_metric_keep_the_highest_rank(store: TrialStore, make_job: MakeJob) -> None:
    """Steps 0..7 of one metric written at once, in whatever order the threads run: the
    highest step stays, and its report keeps its step."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    store.start_trial(job.id, trial_id(1), "ref")
    race(lambda i: store.report_metrics(job.id, trial_id(1), {"loss": MetricReport(value=1.0 / (i + 1), step=i)}))
    trial = store.get_trial(job.id, trial_id(1))
    assert trial.reports == {"loss": MetricReport(value=1.0 / RACERS, step=RACERS - 1)}
    assert trial.metrics == {"loss": 1.0 / RACERS}


@pytest.mark.parametrize("whole_curve", [True, False])
def test_racing_step_reports_keep_every_point_of_the_curve(
    store: TrialStore, make_job: MakeJob, whole_curve: bool
) -> None:
    """Steps 1..8 of the curve's metric written at once (one chunk on DynamoDB: each report
    a transaction of the body and the chunk, conditioned on both versions): a lost race is
    read again and retried, so every point stays and the highest step's report is kept."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    store.start_trial(job.id, trial_id(1), "ref")
    report = lambda i: {"loss": MetricReport(value=1.0 / (i + 1), step=i + 1)}  # noqa: E731
    assert all(race(lambda i: store.report_metrics(job.id, trial_id(1), report(i), "loss", whole_curve=whole_curve)))
    trial = store.get_trial(job.id, trial_id(1))
    assert trial.curve == {i + 1: 1.0 / (i + 1) for i in range(RACERS)}
    assert trial.reports == report(RACERS - 1)


def test_racing_late_final_reports_complete_a_stopped_trial_once(store: TrialStore, make_job: MakeJob) -> None:
    """Final reports (the same event delivered again, or two final values) racing to a
    trial recorded stopped: one turns the stop into its completion, the rest find it
    completed and change nothing; its unit of budget is taken back once."""
    job = make_job()
    add(store, job, 1)
    store.finish_trial(job.id, trial_id(1), TrialState.STOPPED)

    def complete(trial: Any) -> Any:
        final = trial.reports["val-loss"]
        return trial.model_copy(update={"state": TrialState.COMPLETED, "value": final.value})

    def report(i: int) -> Any:
        final = {"val-loss": MetricReport(value=float(i), final=True)}
        return store.report_after_end(job.id, trial_id(1), final, "val-loss", complete)

    outcomes = race(report)
    winners = [i for i, trial in enumerate(outcomes) if trial is not None]
    assert len(winners) == 1 and outcomes[winners[0]].state is TrialState.COMPLETED
    after, trial = store.get_job(job.id), store.get_trial(job.id, trial_id(1))
    assert (after.completed, after.budget_used, after.best_value) == (1, 1, float(winners[0]))
    assert (trial.state, trial.value) == (TrialState.COMPLETED, float(winners[0]))
