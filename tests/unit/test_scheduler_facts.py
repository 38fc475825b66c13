"""What a scheduler derives from a trial's curve is kept while the curve holds the same points
(``schedulers.base.FACTS``), and never served for points it was not made from."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from hyperstep.early_stopping import curves_of
from hyperstep.models import Trial, TrialState
from hyperstep.schedulers import asha, base, curves
from hyperstep.schedulers.asha import ASHA, Hyperband
from hyperstep.schedulers.base import Curves, FactsMemo, mid_ranks
from tests.template_model import template


def peers() -> dict[int, dict[int, float]]:
    """Twenty trials with three steps (a curve to fit) and six that ran to 27 (a best final):
    a decision at rung 3 with the curve model reads every one of them."""
    out = {n: {s: 0.2 + 0.01 * n + (0.5 + 0.02 * n) * s**-0.7 for s in (1, 2, 3)} for n in range(20)}
    out.update({20 + i: {s: 0.3 + 0.01 * i + 0.4 * s**-0.5 for s in (1, 3, 9, 27)} for i in range(6)})
    return out


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the curve fits asked of ``curves.predict`` from the schedulers' modules."""
    calls: list[int] = []

    def counted(fit: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return fit(*args, **kwargs)

        return run

    monkeypatch.setattr(asha, "predict", counted(curves.predict))
    monkeypatch.setattr(base, "predict", counted(curves.predict), raising=False)
    return calls


def test_a_second_decision_fits_no_unchanged_peer_again(monkeypatch: pytest.MonkeyPatch) -> None:
    scheduler, others = ASHA(1, 27, 3, curve_model=True), peers()
    first = scheduler.rung_ranks_finals(3, Curves({**others, 99: {1: 0.9}}))  # every peer's final is read
    calls = counting(monkeypatch)
    assert scheduler.rung_ranks_finals(3, Curves({**others, 99: {1: 0.9}})) == first  # the store's next read
    assert calls == []  # before: one fit a peer still running (20), at every decision


def test_a_curve_changed_in_place_is_read_again() -> None:
    memo, curve = FactsMemo(), {1: 0.5, 3: 0.4}
    assert memo.of("t", curve).value_at(3) == 0.4
    curve[3] = 0.1
    assert memo.of("t", curve).value_at(3) == 0.1
    curve[2] = 0.05
    assert memo.of("t", curve).value_at(2) == 0.05
    assert memo.of("t", {1: 0.5, 2: 0.05, 3: 0.1}) is memo.of("t", curve)  # a fresh read, the same points


def test_the_memo_keeps_one_entry_a_trial_and_forgets_past_its_points() -> None:
    memo = FactsMemo(points_kept=5)
    memo.of("a", {1: 0.5})
    memo.of("a", {1: 0.5, 2: 0.4})  # the trial's newer curve takes its place
    assert list(memo.by_trial) == ["a"] and memo.points == 2
    memo.of("b", {1: 0.1, 2: 0.1, 3: 0.1})
    assert memo.points == 5
    memo.of("c", {1: 0.2})  # past five points: all forgotten, then this one kept
    assert list(memo.by_trial) == ["c"] and memo.points == 1


def test_a_decision_follows_a_peer_changed_in_place() -> None:
    scheduler = ASHA(1, 27, 3)
    others = {n: {1: 0.1 * n} for n in range(6)}
    assert scheduler.should_stop(9, Curves({**others, 9: {1: 0.45}}))
    for curve in others.values():
        curve[1] += 1.0  # every peer now behind trial 9 at rung 1
    assert not scheduler.should_stop(9, Curves({**others, 9: {1: 0.45}}))


def test_fresh_curves_with_the_same_points_decide_alike_and_fit_nothing_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # DynamoDB builds every curve anew on each read; a new Lambda starts with nothing kept
    scheduler, mine = ASHA(1, 27, 3, curve_model=True), {1: 0.9, 2: 0.9, 3: 0.9}
    kept = scheduler.should_stop(99, Curves({**peers(), 99: mine}, owner="job-1"))
    ranked = scheduler.rung_ranks_finals(3, Curves(peers(), owner="job-1"))
    calls = counting(monkeypatch)
    assert scheduler.rung_ranks_finals(3, Curves(peers(), owner="job-1")) == ranked
    assert calls == []  # every peer read afresh with the same points: its facts are the kept ones
    monkeypatch.setattr(base, "FACTS", FactsMemo())
    assert scheduler.should_stop(99, Curves({**peers(), 99: dict(mine)}, owner="job-1")) == kept


def pairwise_mid_ranks(values: np.ndarray) -> np.ndarray:
    less = (values[None, :] < values[:, None]).sum(axis=1)
    equal = (values[None, :] == values[:, None]).sum(axis=1)
    return less + (equal - 1) / 2


def test_mid_ranks_are_those_of_comparing_every_pair() -> None:
    rng = np.random.default_rng(0)
    for i in range(500):
        values = rng.integers(-3, 3, int(rng.integers(1, 40))).astype(float) if i % 2 else rng.normal(size=30)
        values[int(rng.integers(len(values)))] = [np.inf, -0.0, np.nan, 1e308, values[0]][i % 5]
        expected = pairwise_mid_ranks(values)
        got = mid_ranks(values)
        assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True)


def test_a_peers_bracket_is_drawn_once_for_every_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    first = [Hyperband(1, 27, 3, seed=5).bracket(n) for n in range(50)]  # one decision's scheduler
    made: list[int] = []
    generator = np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda *a: made.append(1) or generator(*a))
    assert [Hyperband(1, 27, 3, seed=5).bracket(n) for n in range(50)] == first  # the next decision's
    assert made == []  # before: a generator a peer, at every decision
    assert Hyperband(1, 27, 3, seed=6).bracket(0) in range(4) and made == [1]  # another seed draws its own


def test_the_memo_at_its_bound_fits_in_the_smallest_function_s_memory() -> None:
    """Collect (256 MB) decides a step report's stop, and a warm one keeps the facts of every
    job it served: at ``POINTS_KEPT`` points the memo may take a quarter of the smallest
    function's memory at most (the runtime, numpy and the job's listed trials need the rest).
    A point is measured as a DynamoDB read leaves it: fresh floats, steps past the cached ints.
    2,000,000 points (the bound before) took about 200 MB: 101-104 bytes a point (tracemalloc)."""
    functions = [r["Properties"] for r in template()["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    smallest = min(f.get("MemorySize", template()["Globals"]["Function"]["MemorySize"]) for f in functions)
    memo = FactsMemo()
    tracemalloc.start()
    try:
        for n in range(500):
            memo.of(("job", n), {int(str(s)): float(n + s) / 7 for s in range(1000, 1027)})
        used = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert base.POINTS_KEPT * used / memo.points <= smallest * 2**20 / 4


def random_curves(rng: np.random.Generator) -> Curves:
    """Curves as a job leaves them: most stopped at a rung (1 or 3, exactly there or just past
    it), some with gaps (steps 2, 5, 7 skipped), some past or at ``max_resource`` 27, a few
    with fewer than three points or a point at step 0; ended in some order."""
    by_number: dict[int, dict[int, float]] = {}
    for n in range(int(rng.integers(8, 40))):
        top = int(rng.choice([1, 2, 3, 4, 9, 10, 26, 27, 30]))
        steps = [s for s in range(int(rng.integers(0, 2)), top + 1) if rng.random() > 0.25 or s == top]
        start, slope = rng.uniform(0.1, 1.0), rng.uniform(0.1, 1.5)
        by_number[n] = {s: float(start + rng.uniform(0.2, 1.0) * max(s, 1) ** -slope) for s in steps}
    ended = {n: float(rng.uniform(0, 100)) for n in by_number if rng.random() > 0.3}
    return Curves(by_number, owner="reference", ended=ended)


def test_rung_ranks_finals_and_the_incumbent_stop_read_what_every_curve_would_give() -> None:
    """Skipping curves on their newest step (``Curves.tops``) and reading points at a rung
    directly decide as reading every curve's value and fit did (3b475b5's code, here as the
    reference): curves that stop exactly at the rung, with gaps, or at ``max_resource``."""

    def final_of(scheduler: ASHA, curve: dict[int, float]) -> float | None:
        final = base.value_at(curve, scheduler.max_resource)
        if final is not None or not scheduler.curve_model:
            return final
        heading = curves.predict(curve, scheduler.max_resource)
        return None if heading is None else heading.mean

    def ranks_finals(scheduler: ASHA, rung: int, given: Curves) -> bool:
        pairs = []
        for curve in given.by_number.values():
            early = base.value_at(curve, rung) if curve else None
            final = None if early is None else final_of(scheduler, dict(curve))
            if final is not None and early is not None:
                pairs.append((early, final))
        return base.agrees(pairs)

    def stop_held(scheduler: ASHA, rung: int, given: Curves) -> bool:
        order = sorted(given.by_number, key=lambda n: (given.ended.get(n, np.inf), n))
        best, seen = np.inf, []
        for n in order:
            curve = given.by_number[n]
            if curve and max(curve) > rung and best < np.inf:
                seen.append((curve, best))
            final = base.value_at(curve, scheduler.max_resource) if curve else None
            if final is not None:
                best = min(best, final)
        winners = misses = 0
        for curve, incumbent in seen[-asha.MAX_EVIDENCE :]:
            if curve[max(curve)] >= incumbent:
                continue
            heading = curves.predict({s: v for s, v in curve.items() if s <= rung}, scheduler.max_resource)
            if heading is None:
                continue
            winners += 1
            misses += heading.bounded and heading.low > incumbent
        return winners < asha.MIN_WINNERS or misses <= winners / scheduler.eta

    rng, answers = np.random.default_rng(21), set()
    for _ in range(150):
        given = random_curves(rng)
        for scheduler in (ASHA(1, 27, 3), ASHA(1, 27, 3, curve_model=True)):
            for rung in (1, 3, 9):
                expected = (ranks_finals(scheduler, rung, given), stop_held(scheduler, rung, given))
                got = (scheduler.rung_ranks_finals(rung, given), scheduler.incumbent_stop_held(rung, given))
                assert got == expected
                answers.add(expected)
    assert {a for a, _ in answers} == {b for _, b in answers} == {True, False}  # each rule answered both


def test_a_decision_makes_hyperbands_weights_once_not_once_a_peer(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision at a rung reads the bracket of every peer there: the weights it is drawn with
    do not change (not ``adaptive``), so they are made once (perf-23: 1.4M times in a
    2,000-trial run, a third of its decisions' time). The brackets are the draws of before."""
    made: list[int] = []
    shares = asha.hyperband_shares
    monkeypatch.setattr(asha, "hyperband_shares", lambda *a: made.append(1) or shares(*a))
    band = Hyperband(1, 27, 3, seed=5)
    mine = next(n for n in range(100, 200) if band.bracket(n) == 0)
    made.clear()
    others = {n: {1: 0.01 * n} for n in range(60)}
    assert band.should_stop(mine, Curves({**others, mine: {1: 0.5}}))
    assert made == []  # before: one for each of the 60 peers (and one for the trial itself)
    weights = band.bracket_weights()
    for n in range(60):
        assert band.bracket(n) == int(np.random.default_rng([5, n]).choice(band.brackets, p=weights))


def test_a_bracket_is_the_draw_every_version_makes_from_the_seed_and_number() -> None:
    """A job's processes may run different versions during an upgrade: a trial's bracket is
    the draw of ``default_rng([seed, number])`` with the weights, as at 3b475b5."""
    band = Hyperband(1, 27, 3, seed=11)
    weights = band.bracket_weights()
    for n in range(60):
        assert band.bracket(n) == int(np.random.default_rng([11, n]).choice(band.brackets, p=weights))


def test_trials_of_two_jobs_with_the_same_numbers_keep_their_facts_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm Lambda serves several jobs: trial 0 of each keeps its own entry, so the two
    jobs' decisions do not evict each other's facts at every read."""
    memo = FactsMemo()
    monkeypatch.setattr(base, "FACTS", memo)
    for job, value in (("job-a", 0.5), ("job-b", 0.7)):
        trial = Trial(id="t0", job_id=job, number=0, params={}, curve={1: value, 2: value})
        curves_of([trial], minimize=True).facts(0)
    assert set(memo.by_trial) == {("job-a", 0), ("job-b", 0)}


def test_curves_that_stop_at_the_rung_itself_show_its_ranking_crossing() -> None:
    """Six trials stopped exactly at rung 3 (steps 1-3: a point at the rung and a fit): the
    ones ahead there level off higher, so the predicted finals rank against the rung's
    values, and the rung is not trusted. A curve is skipped only below the rung."""
    by_number = {}
    for i in range(6):
        floor, at_rung = 0.45 - 0.05 * i, 0.5 + 0.02 * i
        by_number[i] = {s: floor + (at_rung - floor) * 3 / s for s in (1, 2, 3)}
    assert ASHA(1, 27, 3, curve_model=True).rung_ranks_finals(3, Curves(by_number, owner="crossing")) is False


def test_only_a_trial_that_is_no_longer_active_has_an_end() -> None:
    """An adaptive bracket is drawn from the trials that had ended when its trial started
    (``Curves.known_at_start``): a trial still active is not one of them, whatever its
    ``ended_at`` says (curves_of's rule; no test held it)."""
    running = Trial(id="t0", job_id="j", number=0, params={}, state=TrialState.RUNNING, curve={1: 0.5}, ended_at=5.0)
    done = Trial(id="t1", job_id="j", number=1, params={}, state=TrialState.PRUNED, curve={1: 0.4}, ended_at=6.0)
    assert curves_of([running, done], minimize=True).ended == {1: 6.0}


def test_the_incumbent_stop_reads_no_peer_for_a_curve_that_predicts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most trials are judged at the first rung with one step: no fit, so no incumbent stop,
    whatever the finished trials hold; the peers' finals are read only for a curve that has
    a bounded prediction (and the answer is the one reading them first gave)."""
    given = Curves(peers(), owner="incumbent")
    read: list[int] = []
    monkeypatch.setattr(Curves, "value_at", lambda self, n, step: read.append(n) or self.by_number[n].get(step))
    scheduler = ASHA(1, 27, 3, curve_model=True)
    assert scheduler.behind_incumbent({1: 0.9}, given) is False
    assert read == []  # before: each of the six finished trials' final was read first
    assert scheduler.behind_incumbent({1: 2.0, 2: 1.9, 3: 1.85}, given) is True and len(read) == 6
