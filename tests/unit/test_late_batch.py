"""The late-phase batch: once the search stalls, a slot takes a point of the acquisitions' Pareto front."""

from __future__ import annotations

import numpy as np
import pytest

from hyperstep.pareto import dominated_by
from hyperstep.space import SearchSpace
from hyperstep.strategies import bayesian
from hyperstep.strategies.base import History
from hyperstep.strategies.bayesian import BayesianOptimization
from hyperstep.strategies.search import crossover, pareto_search
from hyperstep.strategies.transforms import Projector

SPACE2 = SearchSpace.model_validate(
    {"parameters": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(2)]}
)
SPACE6 = SearchSpace.model_validate(
    {"parameters": [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(6)]}
)
MIXED = SearchSpace.model_validate(
    {
        "parameters": [
            {"name": "lr", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
            {"name": "layers", "type": "int", "low": 1, "high": 40},
            {"name": "act", "type": "categorical", "choices": ["relu", "tanh", "gelu", "silu"]},
            {"name": "drop", "type": "float", "low": 0, "high": 1},
        ]
    }
)
OPTIMUM = np.array([0.7, 0.2, 0.4, 0.6, 0.3, 0.5])


def _history(X: np.ndarray) -> History:
    empty = np.empty((0, SPACE6.dim))
    y = ((X - OPTIMUM) ** 2).sum(1)
    return History(space=SPACE6, X=X, y=y, X_failed=empty, X_pending=empty, seed=3)


def _stalled_history(stalled: bool) -> History:
    """24 trials; the best one is among the last four (not stalled) or in the first twelve (stalled)."""
    rng = np.random.default_rng(5)
    X = rng.random((24, 6))
    good = OPTIMUM + 0.02
    X[23 if not stalled else 10] = good
    return _history(X)


def test_the_two_distance_front_is_the_segment_and_the_draws_spread_along_it() -> None:
    proj = Projector(SPACE2)
    a, b = np.full(2, 0.2), np.full(2, 0.8)

    def objectives(C: np.ndarray) -> np.ndarray:
        return -np.column_stack([np.linalg.norm(C - a, axis=1), np.linalg.norm(C - b, axis=1)])

    along = []
    for seed in range(12):
        rng = np.random.default_rng(seed)
        x = pareto_search(rng.random((400, 2)), objectives, a, np.empty((0, 2)), proj, rng)
        assert x is not None
        t = float(np.clip((x - a) @ (b - a) / ((b - a) @ (b - a)), 0.0, 1.0))
        assert np.linalg.norm(x - (a + t * (b - a))) < 0.05  # on the segment, the front of these two objectives
        along.append(t)
    assert min(along) < 0.4 and max(along) > 0.6  # a random front point, not always one end


def test_the_drawn_point_is_dominated_by_no_pool_point_and_is_new() -> None:
    proj = Projector(SPACE6)
    rng = np.random.default_rng(0)
    pool = rng.random((300, 6))
    seen = pool[:50]

    def objectives(C: np.ndarray) -> np.ndarray:
        return np.column_stack([-((C - 0.3) ** 2).sum(1), C[:, 0], -C[:, 1]])

    for seed in range(5):
        x = pareto_search(pool[50:], objectives, pool[0], seen, proj, np.random.default_rng(seed))
        assert x is not None
        # no pool point (seen ones included) is at least as good everywhere and better somewhere
        dominating = [dominated_by(-objectives(x[None]), -f) for f in objectives(pool)]
        assert not np.array(dominating).any()
        assert np.abs(seen - x).max(1).min() > 1e-6


def test_crossover_takes_whole_parameters_from_the_parent_and_at_least_one() -> None:
    proj = Projector(MIXED)
    rng = np.random.default_rng(1)
    incumbent = proj(rng.random((1, MIXED.dim)))[0]
    parents = proj(rng.random((200, MIXED.dim)))
    kids = crossover(parents, incumbent, proj, rng)
    np.testing.assert_array_equal(kids, proj(kids))  # valid encodings
    moved = []
    for cols in MIXED.slices():
        from_parent = np.all(kids[:, cols] == parents[:, cols], axis=1)
        from_incumbent = np.all(kids[:, cols] == incumbent[cols], axis=1)
        assert (from_parent | from_incumbent).all()
        moved.append(from_parent & ~from_incumbent)
    moved = np.array(moved).T
    differs = np.array([~np.all(parents[:, c] == incumbent[c], axis=1) for c in MIXED.slices()]).T
    # every child took a parameter in which its parent differs, unless the draw picked only equal ones
    assert (moved.any(1) | ~differs.any(1)).mean() > 0.95
    counts = moved.sum(1)
    assert counts.min() <= 1 and counts.max() == len(MIXED.parameters)  # moves of every size


def _propose(history: History, slots: tuple[int, ...], monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    monkeypatch.setattr(bayesian, "PARETO_SLOTS", slots)
    return BayesianOptimization().suggest(history, 4, np.random.default_rng([3, 24]))


def test_the_batch_is_unchanged_while_the_search_improves(monkeypatch: pytest.MonkeyPatch) -> None:
    history = _stalled_history(stalled=False)
    np.testing.assert_array_equal(_propose(history, (1,), monkeypatch), _propose(history, (), monkeypatch))


def test_once_stalled_only_the_pareto_slot_and_those_after_it_change(monkeypatch: pytest.MonkeyPatch) -> None:
    history = _stalled_history(stalled=True)
    assert bayesian._batches_since_best(history.y, 4) >= bayesian.STALLED_BATCHES
    with_front = _propose(history, (1,), monkeypatch)
    without = _propose(history, (), monkeypatch)
    np.testing.assert_array_equal(with_front[0], without[0])
    assert not np.allclose(with_front[1], without[1])
    np.testing.assert_array_equal(with_front, _propose(history, (1,), monkeypatch))  # deterministic for a seed
    assert len({tuple(np.round(x, 9)) for x in with_front}) == 4


def test_the_pareto_slot_stays_off_for_plain_log_ei(monkeypatch: pytest.MonkeyPatch) -> None:
    history = _stalled_history(stalled=True)
    rng = [3, 24]
    monkeypatch.setattr(bayesian, "PARETO_SLOTS", (1,))
    a = BayesianOptimization(acquisition="ei").suggest(history, 4, np.random.default_rng(rng))
    monkeypatch.setattr(bayesian, "PARETO_SLOTS", ())
    b = BayesianOptimization(acquisition="ei").suggest(history, 4, np.random.default_rng(rng))
    np.testing.assert_array_equal(a, b)


def test_an_empty_pool_or_a_fully_seen_space_gives_no_point() -> None:
    proj = Projector(SPACE2)
    rng = np.random.default_rng(0)

    def objectives(C: np.ndarray) -> np.ndarray:
        return np.column_stack([-C[:, 0], C[:, 1]])

    assert pareto_search(np.empty((0, 2)), objectives, np.full(2, 0.5), np.empty((0, 2)), proj, rng) is None
    small = SearchSpace.model_validate({"parameters": [{"name": "a", "type": "int", "low": 0, "high": 3}]})
    every = np.array([[v] for v in np.linspace(0, 1, 4)])
    whole = Projector(small)(every)
    assert (
        pareto_search(whole, lambda C: np.column_stack([C[:, 0], -C[:, 0]]), whole[0], whole, Projector(small), rng)
        is None
    )
