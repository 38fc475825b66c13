"""A decision carries over what the job's last one derived from the trials the store handed back
unchanged (``early_stopping.CurvesMemo``, ``Curves.carried``): it derives again only the trials
whose model is new, and decides as deriving everything again would."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from hyperstep import early_stopping
from hyperstep.early_stopping import CurvesMemo, curves_of, should_stop
from hyperstep.models import Trial, TrialState
from hyperstep.schedulers import base
from hyperstep.schedulers.asha import ASHA, Hyperband
from hyperstep.schedulers.base import Scheduler


class Listing:
    """What ``should_stop`` reads of a store: the job's trials, as the test hands them (the
    same objects while the test keeps them, as ``SQLiteStore``'s listing)."""

    keeps_unchanged_trials = True

    def __init__(self, trials: list[Trial]) -> None:
        self.trials = trials

    def list_trials(self, job_id: str) -> list[Trial]:
        return list(self.trials)


def trial(number: int, curve: dict[int, float], state: TrialState = TrialState.PRUNED) -> Trial:
    ended = None if state is TrialState.RUNNING else 1000.0 + number
    return Trial(
        id=f"t{number}",
        job_id="job",
        number=number,
        params={},
        state=state,
        curve=curve,
        created_at=float(number),
        ended_at=ended,
    )


def job(count: int) -> list[Trial]:
    """``count`` trials stopped at rung 3 (three points each: a fit) and six that ran to 27."""
    trials = [trial(n, {s: 0.2 + 0.01 * n + (0.5 + 0.02 * n) * s**-0.7 for s in (1, 2, 3)}) for n in range(count)]
    finished = [{s: 0.3 + 0.01 * i + 0.4 * s**-0.5 for s in range(1, 28)} for i in range(6)]
    return trials + [trial(count + i, c, TrialState.COMPLETED) for i, c in enumerate(finished)]


def counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The trials whose value at a step a decision reads (``Curves.value_at``)."""
    read: list[int] = []
    value_at = base.Curves.value_at

    def counted(self: base.Curves, number: int, step: int) -> float | None:
        read.append(number)
        return value_at(self, number, step)

    monkeypatch.setattr(base.Curves, "value_at", counted)
    return read


def test_a_decision_derives_again_only_the_trials_the_store_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two decisions at rung 3 over the same listed trials (SQLite hands back the same models
    for trials it did not change): the second reads the values of the trial it judges and of
    the one judged before (its model is the listing's now, not the decision's copy) alone,
    where it read every peer's at the rung and at the end again (67 of them, each decision)."""
    monkeypatch.setattr(early_stopping, "CURVES", CurvesMemo())
    trials = job(60)
    store, scheduler = Listing(trials), ASHA(1, 27, 3, curve_model=True)
    first = trial(100, {1: 0.9, 2: 0.9, 3: 0.89}, TrialState.RUNNING)
    store.trials = [*trials, first]
    assert should_stop(scheduler, first, store, minimize=True)  # type: ignore[arg-type]
    second = trial(101, {1: 0.95, 2: 0.95, 3: 0.94}, TrialState.RUNNING)
    store.trials = [*trials, first, second]
    read = counting_reads(monkeypatch)
    assert should_stop(scheduler, second, store, minimize=True)  # type: ignore[arg-type]
    assert set(read) == {100, 101}  # before: every trial that reached the rung, the 66 listed too


def test_a_trial_read_afresh_is_derived_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that builds every model afresh (DynamoDB), or a trial whose curve moved: the
    new model's values are derived again, never served from the last decision's."""
    monkeypatch.setattr(early_stopping, "CURVES", CurvesMemo())
    scheduler = ASHA(1, 27, 3)
    peers = [trial(n, {1: 0.1 * n}) for n in range(1, 4)]
    judged = trial(9, {1: 0.15}, TrialState.RUNNING)
    store = Listing([*peers, judged])
    assert not should_stop(scheduler, judged, store, minimize=True)  # type: ignore[arg-type]  # 2nd of 4
    store.trials = [p.model_copy(update={"curve": {1: 0.01 * p.number}}) for p in peers] + [judged]
    assert should_stop(scheduler, judged, store, minimize=True)  # type: ignore[arg-type]  # now 4th of 4


def test_decisions_with_the_memo_are_those_of_curves_derived_afresh() -> None:
    """A job's trials report and end in turn (some listed as the same models, some as new ones:
    the step reports' and a fresh read's), and every trial crossing a rung is judged: with the
    memo and with ``curves_of`` alone, under ASHA and Hyperband's brackets, alike."""
    rng = np.random.default_rng(24)
    schedulers: Sequence[Scheduler] = (
        ASHA(1, 27, 3, curve_model=True),
        Hyperband(1, 27, 3, seed=3, curve_model=True),
        Hyperband(1, 27, 3, seed=3, curve_model=True, brackets="adaptive"),
    )
    answers: set[bool] = set()
    for scheduler in schedulers:
        memo, trials = CurvesMemo(), [trial(n, {}, TrialState.RUNNING) for n in range(40)]
        floors, slopes = rng.uniform(0.1, 0.6, 40), rng.uniform(0.2, 1.5, 40)
        for _ in range(400):
            i = int(rng.integers(0, 40))
            t = trials[i]
            if not t.state.active:
                trials[i] = t.model_copy() if rng.random() < 0.2 else t  # a fresh read of the same trial
                continue
            step = max(t.curve, default=0) + 1
            curve = {**t.curve, step: float(floors[i] + slopes[i] * step**-0.7)}
            mine = t.model_copy(update={"curve": curve})
            others = [u for u in trials if u is not t]
            fresh = curves_of([*others, mine], minimize=True)
            kept = memo.curves(trials, mine, minimize=True)
            answer = scheduler.should_stop(i, fresh)
            assert scheduler.should_stop(i, kept) == answer
            answers.add(answer)
            update: dict[str, Any] = {"curve": curve}
            if answer or step >= 27:
                update |= {"state": TrialState.PRUNED if answer else TrialState.COMPLETED, "ended_at": 1000.0 + step}
            trials[i] = t.model_copy(update=update)
    assert answers == {True, False}


def test_a_rungs_values_are_carried_past_decisions_at_other_rungs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decisions at rung 3, then rung 1, then rung 3 again: the third finds rung 3's values
    that the first derived (the second, at rung 1, made no table of rung 3), and reads only
    the trials changed since (before: every trial at rung 3 again, after any decision at
    another rung, as most are in a run)."""
    monkeypatch.setattr(early_stopping, "CURVES", CurvesMemo())
    trials = job(60)
    store, scheduler = Listing(trials), ASHA(1, 27, 3, curve_model=True)
    judged = [
        trial(100, {1: 0.9, 2: 0.9, 3: 0.89}, TrialState.RUNNING),
        trial(101, {1: 0.95}, TrialState.RUNNING),
        trial(102, {1: 0.95, 2: 0.95, 3: 0.94}, TrialState.RUNNING),
    ]
    for i, mine in enumerate(judged[:2]):
        store.trials = [*trials, *judged[: i + 1]]
        should_stop(scheduler, mine, store, minimize=True)  # type: ignore[arg-type]
    store.trials = [*trials, *judged]
    read = counting_reads(monkeypatch)
    assert should_stop(scheduler, judged[2], store, minimize=True)  # type: ignore[arg-type]
    assert set(read) <= {100, 101, 102}  # before: all 66 listed trials too


def test_hyperband_judges_a_trial_against_its_own_brackets_peers_alone() -> None:
    """The bracket table a decision keeps (``Hyperband.bracket_table``) is each trial's drawn
    bracket: a bracket-0 trial at rung 1 ranks only among bracket 0's, however much better the
    other brackets' trials did at step 1 (memo or not, the same tables decide)."""
    scheduler = Hyperband(1, 27, 3, seed=5)
    numbers = range(200)
    zero = [n for n in numbers if scheduler.bracket(n) == 0]
    rest = [n for n in numbers if scheduler.bracket(n) != 0]
    assert len(zero) >= 4 and len(rest) >= 10
    judged, peers = zero[0], zero[1:4]
    curves = {n: {1: 0.9} for n in peers} | {n: {1: 0.1} for n in rest[:10]} | {judged: {1: 0.5}}
    trials = [trial(n, c) for n, c in curves.items()]
    made = curves_of(trials, minimize=True)
    assert made.per_trial(("at", 1), lambda n: made.value_at(n, 1))  # the tables exist
    assert scheduler.bracket_table(made) == {n: scheduler.bracket(n) for n in made.by_number}
    assert not scheduler.should_stop(judged, made)  # best of its bracket's four at rung 1
    assert not scheduler.should_stop(judged, CurvesMemo().curves(trials, trials[-1], minimize=True))


def test_the_memo_keeps_the_last_decided_jobs_alone() -> None:
    """A warm process serves many jobs: the memo keeps the ``jobs`` decided last, not every job
    it ever saw (each entry holds the job's listed trials)."""
    memo = CurvesMemo(jobs=2)
    for name in ("a", "b", "c"):
        one = trial(1, {1: 0.5}).model_copy(update={"job_id": name})
        memo.curves([one], one, minimize=True)
    assert [job_id for job_id, _ in memo.last] == ["b", "c"]
    again = trial(1, {1: 0.5}).model_copy(update={"job_id": "b"})
    memo.curves([again], again, minimize=True)
    assert [job_id for job_id, _ in memo.last] == ["c", "b"]


def test_a_study_on_sqlite_decides_alike_with_and_without_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real store (SQLite, whose listing hands back the same models for unchanged trials),
    trials reporting interleaved, Hyperband with the curve model: every report's answer is the
    one a memo that never carries (``jobs=0``) gives."""
    import hyperstep

    space = hyperstep.SearchSpace.model_validate(
        {"parameters": [{"name": "rate", "type": "float", "low": 0, "high": 1}]}
    )
    stopping = {"name": "hyperband", "min_resource": 1, "max_resource": 27, "reduction_factor": 3, "curve_model": True}

    def answers(memo: CurvesMemo) -> list[bool]:
        monkeypatch.setattr(early_stopping, "CURVES", memo)
        study = hyperstep.Study(space, goal="minimize", strategy="random", seed=3, early_stopping=stopping)
        said: list[bool] = []
        for _ in range(4):
            running = {t.id: (t.params["rate"], 0) for t in study.ask(8)}
            while running:
                for trial_id, (rate, step) in list(running.items()):
                    value = rate + (0.5 + rate) * (step + 1) ** -0.6
                    stop = study.report(trial_id, step + 1, value)
                    said.append(stop)
                    if stop or step + 1 == 27:
                        study.tell(trial_id, value, state="stopped" if stop else "completed")
                        del running[trial_id]
                    else:
                        running[trial_id] = (rate, step + 1)
        return said

    carried = answers(CurvesMemo())
    assert True in carried and carried == answers(CurvesMemo(jobs=0))


def test_the_memo_keeps_at_most_its_points() -> None:
    """Each kept job holds its listed trials and their curves until it is dropped: bounded by
    jobs alone, four jobs of 10,000 trials with long curves stayed in a warm process (a
    DynamoDB Lambda's too, where nothing is ever carried). The memo keeps at most
    ``points_kept`` curve points (as ``FactsMemo``), dropping the least recently decided jobs."""
    memo = CurvesMemo(jobs=4, points_kept=10)

    def decide(job_id: str, points: int) -> None:
        one = trial(1, {s: 0.5 for s in range(1, points + 1)}).model_copy(update={"job_id": job_id})
        memo.curves([one], one, minimize=True)

    decide("a", 4)
    decide("b", 5)
    assert [job_id for job_id, _ in memo.last] == ["a", "b"]
    decide("c", 3)  # 12 points: a goes
    assert [job_id for job_id, _ in memo.last] == ["b", "c"]
    decide("d", 11)  # more than all it keeps: none is kept
    assert not memo.last


def test_a_store_that_builds_every_model_afresh_leaves_the_memo_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's listing builds new models on every read, so nothing could be carried: a
    decision over it keeps no listing in the memo (a warm Lambda held up to its bound of
    curve points for nothing), and decides as it would with the memo."""
    memo = CurvesMemo()
    monkeypatch.setattr(early_stopping, "CURVES", memo)
    peers = [trial(n, {1: 0.1 * n}) for n in range(1, 4)]
    judged = trial(9, {1: 0.15}, TrialState.RUNNING)
    fresh = Listing([*peers, judged])
    fresh.keeps_unchanged_trials = False
    assert not should_stop(ASHA(1, 27, 3), judged, fresh, minimize=True)  # type: ignore[arg-type]  # 2nd of 4
    assert not memo.last
    assert not should_stop(ASHA(1, 27, 3), judged, Listing([*peers, judged]), minimize=True)  # type: ignore[arg-type]
    assert memo.last


def test_only_the_sqlite_store_says_it_keeps_unchanged_trials() -> None:
    from hyperstep.stores.dynamodb import DynamoDBStore
    from hyperstep.stores.sqlite import SQLiteStore

    assert SQLiteStore.keeps_unchanged_trials and not DynamoDBStore.keeps_unchanged_trials


def test_a_decision_over_a_listing_with_few_changes_walks_no_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo takes the curves of the trials the store handed back unchanged from the listing
    before (``Listed.updated``): a decision after one report makes no ``curves_of`` of every
    trial (before: one a decision, four comprehensions over every listed trial), and the curves
    are those ``curves_of`` gives, in its order."""
    memo, trials = CurvesMemo(), job(60)
    first = trial(100, {1: 0.9, 2: 0.9, 3: 0.89}, TrialState.RUNNING)
    memo.curves([*trials, first], first, minimize=True)
    walks: list[int] = []
    monkeypatch.setattr(early_stopping, "curves_of", lambda t, m: walks.append(len(t)) or curves_of(t, m))
    second = trial(101, {1: 0.95, 2: 0.95, 3: 0.94}, TrialState.RUNNING)
    made = memo.curves([*trials, first, second], second, minimize=True)
    assert walks == []
    fresh = curves_of([*trials, first, second], minimize=True)
    assert list(made.by_number.items()) == list(fresh.by_number.items())
    assert (made.created, made.ended) == (fresh.created, fresh.ended)


@pytest.mark.parametrize("minimize", [True, False])
def test_the_memos_curves_are_curves_of_the_listing_with_the_judged_trial_last(minimize: bool) -> None:
    """Listings that grow (a Suggest's new trials), whose trials report (new models), end, are
    read afresh (a new model of the same trial), or take their first step after higher-numbered
    ones did: the memo's curves are ``curves_of`` the listing without the judged trial, then
    the judged one: the same curves in the same order, the same creation and end times."""
    rng = np.random.default_rng(27)
    memo, listed = CurvesMemo(), [trial(n, {}, TrialState.RUNNING) for n in range(10)]
    for _ in range(300):
        if rng.random() < 0.05:
            listed.append(trial(len(listed), {}, TrialState.RUNNING))
        i = int(rng.integers(0, len(listed)))
        t = listed[i]
        if not t.state.active:
            listed[i] = t.model_copy() if rng.random() < 0.3 else t
            continue
        step = max(t.curve, default=0) + 1
        mine = t.model_copy(update={"curve": {**t.curve, step: float(rng.uniform(0.1, 1.0))}})
        made = memo.curves(listed, mine, minimize)
        fresh = curves_of([u for u in listed if u is not t] + [mine], minimize)
        assert list(made.by_number.items()) == list(fresh.by_number.items())
        assert (made.created, made.ended, made.owner) == (fresh.created, fresh.ended, fresh.owner)
        ends = step >= 5 and rng.random() < 0.3
        update: dict[str, Any] = {"curve": mine.curve}
        if ends:
            update |= {"state": TrialState.PRUNED, "ended_at": 1000.0 + step}
        listed[i] = t.model_copy(update=update)


def _ran(number: int, curve: dict[int, float], **update: Any) -> Trial:
    """A running trial of ``trial``'s job with ``update`` made to its model."""
    return trial(number, curve, TrialState.RUNNING).model_copy(update=update)


def _cases() -> dict[str, list[tuple[list[Trial], Trial]]]:
    """Listings in turn, each with the trial judged on it, that ``Listed.updated`` must either
    bring up to date exactly or refuse: each is one way a newer listing differs."""
    one, two, three = trial(1, {1: 0.5, 2: 0.4}), trial(2, {1: 0.6}), trial(3, {1: 0.7})
    judged, ending = _ran(1, {1: 0.5, 2: 0.4, 3: 0.3}), _ran(1, {1: 0.5, 2: 0.4}, ended_at=9.0)
    return {
        "a trial gone from the end": [([one, two, three], judged), ([one, two], judged)],
        "a trial gone, one added": [([one, two, three], judged), ([one, three, trial(4, {1: 0.2})], judged)],
        "a curve emptied": [([one, two], judged), ([one, two.model_copy(update={"curve": {}})], judged)],
        "a trial listed with a curve": [([one, two], judged), ([one, two, three], judged)],
        "the judged trial not yet listed": [([one, two], _ran(3, {1: 0.1})), ([one, two, three], judged)],
        "an ended trial running again": [([one, two], judged), ([one, _ran(2, {1: 0.6})], judged)],
        "a running trial with an end time": [([one, two], judged), ([one, _ran(2, {1: 0.6}, ended_at=9.0)], judged)],
        "a judged trial with an end time": [([one, two], judged), ([one, two], ending)],
        "a first step below a curve": [([_ran(1, {}), two], _ran(2, {1: 0.6, 2: 0.5})), ([one, two], judged)],
        "a state changed, not the curve": [([one, _ran(2, {1: 0.6})], judged), ([one, two], judged)],
    }


@pytest.mark.parametrize("minimize", [True, False])
@pytest.mark.parametrize("case", list(_cases()))
def test_the_memos_curves_are_fresh_curves_after_each_kind_of_change(case: str, minimize: bool) -> None:
    """Whatever differs between two listings, the memo's curves are ``curves_of`` the listing
    with the judged trial last: the same curves in the same order, created and ended times."""
    memo = CurvesMemo()
    for listed, judged in _cases()[case]:
        made = memo.curves(listed, judged, minimize)
        fresh = curves_of([t for t in listed if t.number != judged.number] + [judged], minimize)
        assert list(made.by_number.items()) == list(fresh.by_number.items())
        assert (made.created, made.ended, made.owner) == (fresh.created, fresh.ended, fresh.owner)


def test_a_table_is_not_carried_for_a_trial_judged_with_a_newer_curve_than_listed() -> None:
    """The trial judged holds points its listed model may not (the report's): what the last
    decision derived from its listed curve is not carried to this one, though its model is
    the same object."""
    memo, listed = CurvesMemo(), [trial(1, {1: 0.5}), _ran(2, {1: 0.6})]
    first = memo.curves(listed, _ran(1, {1: 0.5, 2: 0.4}), minimize=True)
    first.per_trial("points", lambda n: len(first.by_number[n]))
    second = memo.curves(listed, _ran(2, {1: 0.6, 2: 0.5}), minimize=True)
    assert second.per_trial("points", lambda n: len(second.by_number[n])) == {1: 1, 2: 2}


def test_a_listing_of_new_models_only_is_read_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that built every model again (a fresh read) leaves nothing to carry: the memo
    makes its listing afresh, one ``curves_of``, rather than updating every trial in turn."""
    memo, trials = CurvesMemo(), job(20)
    memo.curves(trials, trials[-1], minimize=True)
    walks: list[int] = []
    monkeypatch.setattr(early_stopping, "curves_of", lambda t, m: walks.append(len(t)) or curves_of(t, m))
    again = [t.model_copy() for t in trials]
    made = memo.curves(again, again[-1], minimize=True)
    assert walks == [len(again)] and not made.carried


def test_a_first_step_below_a_curve_keeps_what_the_last_decision_derived(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials running in parallel take their first steps in any order: trial 100, listed before
    trial 101, reports after 101 was judged. The next decision reads the values of the trials
    judged (100 and 101) alone, as after any other report, where the memo made its listing afresh
    and read every peer's again (a third of a 500-trial Hyperband run's decisions)."""
    monkeypatch.setattr(early_stopping, "CURVES", CurvesMemo())
    trials, scheduler = job(60), ASHA(1, 27, 3, curve_model=True)
    late, first = trial(100, {}, TrialState.RUNNING), trial(101, {1: 0.9, 2: 0.9, 3: 0.89}, TrialState.RUNNING)
    store = Listing([*trials, late, first])
    assert should_stop(scheduler, first, store, minimize=True)  # type: ignore[arg-type]
    late = trial(100, {1: 0.95, 2: 0.95, 3: 0.94}, TrialState.RUNNING)
    store.trials = [*trials, late, first]
    read = counting_reads(monkeypatch)
    assert should_stop(scheduler, late, store, minimize=True)  # type: ignore[arg-type]
    assert set(read) == {100, 101}


def test_a_first_step_below_a_curve_as_others_report_and_end_keeps_their_changes() -> None:
    """Between two decisions several trials change at once: trial 1 takes its first step (below
    trial 3's curve: the listing is put back in order), trial 2 reports a step and ends. The
    memo's curves are those ``curves_of`` gives, trial 2's end among them, and what the last
    decision derived from trial 2's old curve is not carried (a table of each trial's points)."""
    memo, three = CurvesMemo(), _ran(3, {1: 0.7})
    first = memo.curves([_ran(1, {}), _ran(2, {1: 0.6}), three], _ran(3, {1: 0.7, 2: 0.65}), minimize=True)
    assert first.per_trial("points", lambda n: len(first.by_number[n])) == {2: 1, 3: 2}
    listed = [_ran(1, {1: 0.5}), trial(2, {1: 0.6, 2: 0.55}), three]
    judged = _ran(3, {1: 0.7, 2: 0.65, 3: 0.6})
    made = memo.curves(listed, judged, minimize=True)
    fresh = curves_of([*listed[:2], judged], minimize=True)
    assert made.carried and list(made.by_number.items()) == list(fresh.by_number.items())
    assert (made.created, made.ended) == (fresh.created, fresh.ended) and 2 in made.ended
    assert made.per_trial("points", lambda n: len(made.by_number[n])) == {1: 1, 2: 2, 3: 3}


@pytest.mark.parametrize("minimize", [True, False])
def test_listings_where_several_trials_change_at_once_give_fresh_curves_and_tables(minimize: bool) -> None:
    """50 trials in parallel: between two decisions several trials report, take their first
    steps in any order, end, or are read afresh (equal models, not the same objects), and values
    tie. Every decision's curves are ``curves_of``'s (the same order, creation and end times),
    and every table the schedulers derive with the memo is the one they derive afresh."""
    rng = np.random.default_rng(28)
    schedulers = (ASHA(1, 27, 3, curve_model=True), Hyperband(1, 27, 3, seed=3, brackets="adaptive"))
    memo, listed = CurvesMemo(), [trial(n, {}, TrialState.RUNNING) for n in range(30)]
    carried = 0

    def step(t: Trial) -> dict[str, Any]:
        curve = {**t.curve, max(t.curve, default=0) + 1: float(rng.choice([0.5, rng.uniform(0.1, 1.0)]))}
        ends = len(curve) >= 27 or (len(curve) >= 2 and rng.random() < 0.15)
        return {"curve": curve} | ({"state": TrialState.PRUNED, "ended_at": 1000.0 + len(curve)} if ends else {})

    for _ in range(250):
        if rng.random() < 0.05:
            listed.append(trial(len(listed), {}, TrialState.RUNNING))
        for j in rng.choice(len(listed), int(rng.integers(0, 4)), replace=False):
            if listed[j].state.active:
                listed[j] = listed[j].model_copy(update=step(listed[j]))
            elif rng.random() < 0.3:
                listed[j] = listed[j].model_copy()
        i = int(rng.integers(len(listed)))
        t = listed[i]
        if not t.state.active:
            continue
        mine = t.model_copy(update={"curve": step(t)["curve"]})
        made = memo.curves(listed, mine, minimize)
        fresh = curves_of([u for u in listed if u is not t] + [mine], minimize)
        assert list(made.by_number.items()) == list(fresh.by_number.items())
        assert (made.created, made.ended) == (fresh.created, fresh.ended)
        for scheduler in schedulers:
            assert scheduler.should_stop(i, made) == scheduler.should_stop(i, fresh)
        assert {k: v for k, v in made.tables.items() if k in fresh.tables} == fresh.tables
        carried += bool(made.carried)
        listed[i] = t.model_copy(update={"curve": mine.curve})
    assert carried > 100
