"""The store's step queries for median stopping (``TrialStore.curve_values_at`` and
``curve_best``), run against every adapter: each answers as the port's default does from
the whole curves (``list_trials``, ``get_trial``), whatever the order of the reports, a
step reported again, steps skipped, chunks of DynamoDB, an ended trial and points a body
holds from before curves had their own rows and items."""

from __future__ import annotations

from collections.abc import Callable

from hyperstep.models import Job, MetricReport, TrialState, trial_id
from hyperstep.stores.base import TrialStore
from tests.contract.conftest import trials_of

MakeJob = Callable[..., Job]
CURVES = {
    1: {3: 0.6, 1: 0.9, 2: 0.7, 1500: 0.3, 2999: 0.25},  # past 1,000 steps: more than one DynamoDB chunk
    2: {4: 0.5, 2: 0.8, 1001: 0.4},  # skips steps: the first one at or past a step counts
    3: {},  # no curve
    4: {1: 0.1},  # never reaches step 2
}


def report(store: TrialStore, job: Job, number: int, step: int, value: float) -> None:
    point = {"loss": MetricReport(value=value, step=step)}
    assert store.report_metrics(job.id, trial_id(number), point, "loss", whole_curve=False) is not None


def reported(store: TrialStore, make_job: MakeJob) -> Job:
    job = make_job()
    store.put_trials(trials_of(job, list(CURVES)))
    for number, curve in CURVES.items():
        for step, value in curve.items():
            report(store, job, number, step, value)
    return job


def test_values_at_a_step_are_each_trials_first_value_at_or_past_it(store: TrialStore, make_job: MakeJob) -> None:
    job = reported(store, make_job)
    assert store.curve_values_at(job.id, 1) == {trial_id(1): 0.9, trial_id(2): 0.8, trial_id(4): 0.1}
    assert store.curve_values_at(job.id, 3) == {trial_id(1): 0.6, trial_id(2): 0.5}
    assert store.curve_values_at(job.id, 1000) == {trial_id(1): 0.3, trial_id(2): 0.4}
    assert store.curve_values_at(job.id, 1002) == {trial_id(1): 0.3}
    assert store.curve_values_at(job.id, 3000) == {}
    assert store.curve_values_at(job.id, 3, besides=trial_id(1)) == {trial_id(2): 0.5}  # the trial judged left out
    report(store, job, 2, 4, 0.45)  # a step reported again takes the newer value
    store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.25)  # an ended trial still counts
    assert store.curve_values_at(job.id, 3) == {trial_id(1): 0.6, trial_id(2): 0.45}
    for step in (0, 1, 2, 3, 4, 5, 999, 1000, 1001, 1002, 1500, 1501, 2999, 3000):
        assert store.curve_values_at(job.id, step) == TrialStore.curve_values_at(store, job.id, step)
        besides = TrialStore.curve_values_at(store, job.id, step, besides=trial_id(2))
        assert store.curve_values_at(job.id, step, besides=trial_id(2)) == besides


def test_the_best_up_to_a_step_is_the_lowest_or_highest_value_there(store: TrialStore, make_job: MakeJob) -> None:
    job = reported(store, make_job)
    best = store.curve_best
    assert [best(job.id, trial_id(1), step, True) for step in (1, 2, 3, 1499, 1500, 9999)] == [
        0.9,
        0.7,
        0.6,
        0.6,
        0.3,
        0.25,
    ]
    assert [best(job.id, trial_id(1), step, False) for step in (1, 2, 3, 9999)] == [0.9, 0.9, 0.9, 0.9]
    assert best(job.id, trial_id(2), 1, True) is None and best(job.id, trial_id(3), 10, False) is None
    report(store, job, 1, 1, 0.2)  # its highest value replaced by a lower one
    assert (best(job.id, trial_id(1), 1, True), best(job.id, trial_id(1), 1500, False)) == (0.2, 0.7)
    report(store, job, 2, 4, 0.6)  # a value between its lowest and highest replaced
    report(store, job, 2, 1001, 0.3)  # its lowest replaced by a lower one
    assert (best(job.id, trial_id(2), 3000, True), best(job.id, trial_id(2), 3000, False)) == (0.3, 0.8)
    report(store, job, 2, 1001, 0.7)  # its lowest replaced by a higher one
    assert (best(job.id, trial_id(2), 3000, True), best(job.id, trial_id(2), 3000, False)) == (0.6, 0.8)
    for number in CURVES:
        for step in (0, 1, 2, 3, 4, 1000, 1001, 1500, 3000):
            for minimize in (True, False):
                expected = TrialStore.curve_best(store, job.id, trial_id(number), step, minimize)
                assert best(job.id, trial_id(number), step, minimize) == expected


def test_points_a_body_holds_count_with_the_rows(store: TrialStore, make_job: MakeJob) -> None:
    """A trial written before curves had their own rows and items keeps its points in its
    body; later reports extend them, and both queries see both."""
    job = make_job()
    store.put_trials(trials_of(job, [1], curve={1: 0.5, 5: 0.2}) + trials_of(job, [2]))
    report(store, job, 1, 7, 0.4)
    report(store, job, 2, 6, 0.3)
    assert store.curve_values_at(job.id, 2) == {trial_id(1): 0.2, trial_id(2): 0.3}
    assert store.curve_values_at(job.id, 6) == {trial_id(1): 0.4, trial_id(2): 0.3}
    assert store.curve_values_at(job.id, 5) == {trial_id(1): 0.2, trial_id(2): 0.3}  # a body's point at the step
    assert store.curve_best(job.id, trial_id(1), 7, True) == 0.2
    assert store.curve_best(job.id, trial_id(1), 7, False) == 0.5


def test_the_best_of_an_ended_trial_counts_reports_after_its_end(store: TrialStore, make_job: MakeJob) -> None:
    """A step report after a trial's end (``report_after_end``) that replaces its lowest
    value by a higher one moves its best: no kept shortcut of the running trial's answers."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    report(store, job, 1, 1, 0.5)
    report(store, job, 1, 2, 0.4)
    store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.4)
    late = {"loss": MetricReport(value=0.9, step=2)}
    assert store.report_after_end(job.id, trial_id(1), late, "loss") is not None
    assert store.curve_best(job.id, trial_id(1), 10, True) == 0.5
    assert store.curve_best(job.id, trial_id(1), 10, False) == 0.9


def test_the_point_at_a_step_is_the_curve_s_value_there_or_none(store: TrialStore, make_job: MakeJob) -> None:
    """``curve_point`` (what ``Study.report`` reads to keep a step's first value) answers as
    the whole curve does: rows, DynamoDB's chunks past 1,000 steps, a body's old points."""
    job = reported(store, make_job)
    for number, curve in CURVES.items():
        for step in (0, 1, 2, 3, 4, 1001, 1500, 2999, 3000):
            assert store.curve_point(job.id, trial_id(number), step) == curve.get(step)
    store.put_trials(trials_of(job, [5], curve={1: 0.5, 5: 0.2}))
    report(store, job, 5, 7, 0.4)
    assert [store.curve_point(job.id, trial_id(5), s) for s in (1, 5, 6, 7)] == [0.5, 0.2, None, 0.4]
