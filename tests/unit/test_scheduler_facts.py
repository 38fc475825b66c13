"""What a scheduler derives from a trial's curve is kept while the curve holds the same points
(``schedulers.base.FACTS``), and never served for points it was not made from."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

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
