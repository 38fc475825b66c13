"""A step reported twice keeps the newer report's value, whatever the arrival order.

A script may report a step again (restarted from a checkpoint). EventBridge delivers the two
reports in either order, and anyone allowed ``events:PutEvents`` on the bus who saw the older
signed report can send it again (a replay the signature cannot tell from the first delivery).
Each point of a curve keeps the ``at`` of the report that wrote it, and a report replaces it
only when ``models.replaces_point``: its ``at`` is as new or newer; one without an ``at`` is
older than any with one. Every adapter, every way a report asks for the curve, and the
reports that come after a stopped or pruned end.
"""

from __future__ import annotations

from itertools import permutations
from unittest import mock

import pytest

from hyperstep.models import MetricReport, TrialState, merge_reports, replaces_point, trial_id
from hyperstep.stores.base import TrialStore
from tests.contract.conftest import add, trials_of
from tests.contract.test_store_contract import MakeJob, at_step, completed_by_final_report


def report(store: TrialStore, job_id: str, value: float, step: int, at: float | None, whole: bool = True) -> dict:
    """Report ``value`` at ``step`` made at ``at``; the curve the store answers with."""
    written = store.report_metrics(job_id, trial_id(1), {"val-loss": at_step(value, step, at=at)}, "val-loss", whole)
    assert written is not None
    return written.curve


def test_the_curve_orders_a_step_s_reports_by_their_time() -> None:
    assert replaces_point(2.0, 1.0) and not replaces_point(1.0, 2.0)
    assert replaces_point(1.0, 1.0)  # a duplicate: the same value again
    assert replaces_point(1.0, None) and not replaces_point(None, 1.0)  # no at: older than any
    assert replaces_point(None, None)  # neither has one: the later arrival
    assert replaces_point(0.0, None) and not replaces_point(None, 0.0)  # 0.0 is a time (a virtual clock's start)
    timed, untimed = MetricReport(value=0.5, step=3, at=0.0), MetricReport(value=0.9, step=3)
    assert timed.rank > untimed.rank
    assert merge_reports({"loss": timed}, {"loss": untimed}) == {"loss": timed}


@pytest.mark.parametrize("whole", [True, False], ids=["whole-curve", "newest-steps"])
def test_a_report_made_at_time_zero_outranks_one_without_a_time(
    store: TrialStore, make_job: MakeJob, whole: bool
) -> None:
    """A virtual clock starts at 0.0: a step reported then keeps its value against a later
    arriving report of that step with no ``at`` (a value read from a log), which it outranks;
    a report at a later time replaces it. (Before, 0.0 ranked as no ``at``: the untimed
    report replaced it.)"""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    assert report(store, job.id, 0.5, 3, at=0.0, whole=whole) == {3: 0.5}
    assert report(store, job.id, 0.9, 3, at=None, whole=whole) == {3: 0.5}
    assert store.get_trial(job.id, trial_id(1)).curve == {3: 0.5}
    assert report(store, job.id, 0.4, 3, at=1.0, whole=whole) == {3: 0.4}


@pytest.mark.parametrize("whole", [True, False], ids=["whole-curve", "newest-steps"])
def test_an_older_report_of_a_step_arriving_after_the_newer_one_leaves_the_newer_value(
    store: TrialStore, make_job: MakeJob, whole: bool
) -> None:
    """Replayed after the newer one (twice, one far apart in the curve), or delivered out of
    order: the curve keeps the newer value, and the report's answer shows it (what early
    stopping judges); the newer one after the older replaces it. Past 1,000 steps too (a
    second DynamoDB chunk)."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    assert report(store, job.id, 0.9, 1, at=100.0, whole=whole) == {1: 0.9}
    assert report(store, job.id, 0.8, 1, at=200.0, whole=whole) == {1: 0.8}
    assert report(store, job.id, 0.9, 1, at=100.0, whole=whole) == {1: 0.8}  # the older one replayed
    assert report(store, job.id, 0.5, 1500, at=400.0, whole=whole) == {1: 0.8, 1500: 0.5}
    assert report(store, job.id, 0.6, 1500, at=300.0, whole=whole) == {1: 0.8, 1500: 0.5}  # out of order
    assert report(store, job.id, 0.9, 1, at=100.0, whole=whole) == {1: 0.8, 1500: 0.5}
    assert store.get_trial(job.id, trial_id(1)).curve == {1: 0.8, 1500: 0.5} == store.list_trials(job.id)[0].curve
    assert report(store, job.id, 0.4, 1500, at=500.0, whole=whole) == {1: 0.8, 1500: 0.4}
    assert store.get_trial(job.id, trial_id(1)).curve == {1: 0.8, 1500: 0.4}
    assert store.get_trial(job.id, trial_id(1)).metrics == {"val-loss": 0.4}


def test_a_point_the_same_value_kept_by_a_newer_report_still_outranks_the_replay(
    store: TrialStore, make_job: MakeJob
) -> None:
    """Reports at 100 and 300 of one value, then one at 200 of another: the point's time moved
    to 300 with the second though its value did not, so the third is older and left."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    report(store, job.id, 0.5, 2, at=100.0)
    report(store, job.id, 0.5, 2, at=300.0)
    assert report(store, job.id, 0.9, 2, at=200.0) == {2: 0.5}


def test_reports_without_a_time_keep_arrival_order_and_lose_to_one_with_a_time(
    store: TrialStore, make_job: MakeJob
) -> None:
    """Reports with no ``at`` (an older hyperstep's script, a value read from a log) replace
    each other by arrival; one with an ``at`` replaces such a point, and none replaces it."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    assert report(store, job.id, 0.9, 3, at=None) == {3: 0.9}
    assert report(store, job.id, 0.7, 3, at=None) == {3: 0.7}
    assert report(store, job.id, 0.6, 3, at=50.0) == {3: 0.6}
    assert report(store, job.id, 0.1, 3, at=None, whole=False) == {3: 0.6}
    assert store.get_trial(job.id, trial_id(1)).curve == {3: 0.6}


@pytest.mark.parametrize("was", [TrialState.STOPPED, TrialState.PRUNED])
def test_an_older_report_after_a_stopped_or_pruned_end_leaves_the_newer_value(
    store: TrialStore, make_job: MakeJob, was: TrialState
) -> None:
    job = make_job()
    add(store, job, 1)
    report(store, job.id, 0.7, 2, at=200.0)
    assert store.finish_trial(job.id, trial_id(1), was, 0.7, {"val-loss": 0.7})
    older = {"val-loss": at_step(0.95, 2, at=100.0)}
    after = store.report_after_end(job.id, trial_id(1), older, "val-loss", completed_by_final_report)
    assert after is not None and after.curve == {2: 0.7} == store.get_trial(job.id, trial_id(1)).curve
    newer = {"val-loss": at_step(0.65, 2, at=300.0)}
    after = store.report_after_end(job.id, trial_id(1), newer, "val-loss", completed_by_final_report)
    assert after is not None and after.curve == {2: 0.65} == store.get_trial(job.id, trial_id(1)).curve


def test_an_older_report_of_an_inner_step_answers_the_newer_value_among_the_newest_steps(
    store: TrialStore, make_job: MakeJob
) -> None:
    """Without the whole curve a report's answer holds the curve's two newest steps and its
    own step as the curve keeps it: a replayed older report of a step below them answers the
    newer value at that step (what early stopping judges it by), not nothing."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    for step, at in ((1, 200.0), (2, 300.0), (3, 400.0)):
        report(store, job.id, 0.8, step, at=at, whole=False)
    assert report(store, job.id, 0.9, 1, at=100.0, whole=False) == {1: 0.8, 2: 0.8, 3: 0.8}


@pytest.mark.parametrize("whole", [True, False], ids=["whole-curve", "newest-steps"])
def test_an_older_report_left_off_the_curve_leaves_its_best_so_far(
    store: TrialStore, make_job: MakeJob, whole: bool
) -> None:
    """Median stopping reads a trial's best so far (``curve_best``; DynamoDB from the span its
    trial item keeps): a replayed older report's value, lower than any the curve holds, is
    left off the curve and off its best too."""
    job = make_job()
    store.put_trials(trials_of(job, [1]))
    report(store, job.id, 0.5, 1, at=200.0, whole=whole)
    report(store, job.id, 0.4, 2, at=300.0, whole=whole)
    report(store, job.id, 0.1, 1, at=100.0, whole=whole)  # the older one replayed
    assert store.curve_best(job.id, trial_id(1), 2, minimize=True) == 0.4
    assert store.curve_best(job.id, trial_id(1), 2, minimize=False) == 0.5


def test_a_report_after_a_pruned_end_adds_no_step_past_the_cap(store: TrialStore, make_job: MakeJob) -> None:
    """Past ``MAX_CURVE_STEPS`` points (10,000; 2 here) a late report of a new step is left off
    the curve of a pruned trial too (the stores ask ``replaces_point`` only of a step with
    room), and one of a step the curve holds still takes its newer value."""
    job = make_job()
    add(store, job, 1)
    modules = ("messages", "stores.sqlite", "stores.dynamodb")
    capped = [mock.patch(f"hyperstep.{module}.MAX_CURVE_STEPS", 2) for module in modules]
    with capped[0], capped[1], capped[2]:
        report(store, job.id, 0.7, 1, at=100.0)
        report(store, job.id, 0.6, 2, at=200.0)
        assert store.finish_trial(job.id, trial_id(1), TrialState.PRUNED, 0.6, {"val-loss": 0.6})
        late = {"val-loss": at_step(0.5, 3, at=300.0)}
        after = store.report_after_end(job.id, trial_id(1), late, "val-loss", completed_by_final_report)
        assert after is not None and after.curve == {1: 0.7, 2: 0.6}
        newer = {"val-loss": at_step(0.55, 2, at=400.0)}
        after = store.report_after_end(job.id, trial_id(1), newer, "val-loss", completed_by_final_report)
        assert after is not None and after.curve == {1: 0.7, 2: 0.55}
    assert store.get_trial(job.id, trial_id(1)).curve == {1: 0.7, 2: 0.55}


REPORTS = [(1, 0.9, None), (1, 0.8, 0.0), (2, 0.6, 3.0), (2, 0.5, 1.0)]
"""Step reports (step, value, ``at``): two steps, each reported more than once, one at the
virtual clock's 0.0 and one with no ``at``."""


def newest_by_time(reports: list[tuple[int, float, float | None]]) -> dict[int, float]:
    """The curve the reports make, by the rule alone: at each step, the value of the report
    with the newest ``at`` (none: older than any)."""
    curve: dict[int, tuple[float, float]] = {}
    for step, value, at in reports:
        rank = float("-inf") if at is None else at
        if step not in curve or rank > curve[step][0]:
            curve[step] = (rank, value)
    return {step: value for step, (_, value) in curve.items()}


def test_the_same_reports_in_any_order_make_the_same_curve(store: TrialStore, make_job: MakeJob) -> None:
    """Every order of ``REPORTS`` (24, one trial each; every arrival order EventBridge may
    deliver), the whole curve and the newest steps alike: the curve the store keeps and each
    answer's point are the rule's (``newest_by_time``), on SQLite and DynamoDB alike. (Before,
    a report with no ``at`` arriving after the one at 0.0 replaced it; and ``Trial.with_reports``
    merged a curve by arrival order, a path no store took, now gone.)"""
    orders = list(permutations(REPORTS))
    job = make_job()
    store.put_trials(trials_of(job, list(range(1, len(orders) + 1))))
    expected = newest_by_time(REPORTS)
    for number, order in enumerate(orders, start=1):
        for k, (step, value, at) in enumerate(order):
            whole = k % 2 == 0
            written = store.report_metrics(
                job.id, trial_id(number), {"val-loss": at_step(value, step, at=at)}, "val-loss", whole
            )
            assert written is not None
            assert written.curve[step] == newest_by_time([r for r in order[: k + 1] if r[0] == step])[step]
    assert [t.curve for t in store.list_trials(job.id)] == [expected] * len(orders)
