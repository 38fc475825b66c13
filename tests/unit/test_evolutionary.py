"""The evolutionary strategy (stateless CMA-ES): converges, replays, stays valid and new."""

from __future__ import annotations

import numpy as np
import pytest

from hyperstep.space import SearchSpace
from hyperstep.strategies.base import History
from hyperstep.strategies.evolutionary import CMAState, EvolutionarySearch, reflect
from hyperstep.study import Study

SPACE = SearchSpace.model_validate(
    {"parameters": [{"name": f"x{i}", "type": "float", "low": -1, "high": 1} for i in range(4)]}
)


def _sphere(params: dict) -> float:
    return sum((params[f"x{i}"] - 0.3) ** 2 for i in range(4))


def _best_after(strategy: str, seed: int, rounds: int = 15) -> float:
    study = Study(SPACE, strategy=strategy, seed=seed)
    best = np.inf
    for _ in range(rounds):
        for trial in study.ask(8):
            best = min(best, _sphere(trial.params))
            study.tell(trial.id, _sphere(trial.params))
    return best


def test_cma_es_beats_random_search_on_a_sphere() -> None:
    es = [_best_after("evolutionary", seed) for seed in (0, 1)]
    rs = [_best_after("random", seed) for seed in (0, 1)]
    assert max(es) < 0.01
    assert max(es) < 0.1 * min(rs)


def test_an_update_moves_the_mean_towards_the_best_points() -> None:
    state = CMAState(dim=2, mean=np.array([0.5, 0.5]), sigma=0.3)
    X = np.array([[0.9, 0.9], [0.8, 0.85], [0.2, 0.1], [0.1, 0.3]])
    state.update(X, np.array([0, 1, 2, 3]), mu=2)
    assert np.all(state.mean > 0.6)
    assert np.allclose(state.C, state.C.T)
    assert np.all(np.linalg.eigvalsh(state.C) > 0)


def test_replay_and_suggestions_are_deterministic() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((24, 4))
    history = History(SPACE, X, (X**2).sum(1), np.empty((0, 4)), np.empty((0, 4)))
    a = EvolutionarySearch().suggest(history, 8, np.random.default_rng(7))
    b = EvolutionarySearch().suggest(history, 8, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert len({tuple(p) for p in a}) == 8


def test_samples_avoid_the_neighbourhood_of_failures() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((40, 4))
    good = X[X[:, 0] >= 0.5]
    bad = X[X[:, 0] < 0.5]
    history = History(SPACE, good, good[:, 0], bad, np.empty((0, 4)))
    points = EvolutionarySearch().suggest(history, 8, np.random.default_rng(0))
    known = np.vstack([good, bad])
    nearest = np.argmin(((points[:, None] - known[None]) ** 2).sum(2), axis=1)
    assert np.all(nearest < len(good))


def test_mixed_space_points_are_valid_and_unseen() -> None:
    space = SearchSpace.model_validate(
        {
            "parameters": [
                {"name": "n", "type": "int", "low": 1, "high": 4},
                {"name": "c", "type": "categorical", "choices": ["a", "b"]},
            ]
        }
    )
    X = np.array([space.encode({"n": k, "c": c}) for k in (1, 2, 3) for c in ("a", "b")])
    history = History(space, X, np.arange(6.0), np.empty((0, 3)), np.empty((0, 3)))
    points = EvolutionarySearch(population_size=4).suggest(history, 8, np.random.default_rng(0))
    assert sorted(space.key(space.decode(p)) for p in points) == [("4", "'a'"), ("4", "'b'")]


def test_reflect_folds_into_the_cube() -> None:
    np.testing.assert_allclose(reflect(np.array([-0.2, 1.3, 0.4, 2.5])), [0.2, 0.7, 0.4, 0.5])


def test_bad_options_are_rejected() -> None:
    with pytest.raises(ValueError):
        EvolutionarySearch(population_size=2)
    with pytest.raises(ValueError):
        EvolutionarySearch(mutation="gauss")


def test_first_generation_in_a_small_discrete_space_has_no_duplicates() -> None:
    space = SearchSpace.model_validate(
        {"parameters": [{"name": "c", "type": "categorical", "choices": ["a", "b", "c"]}]}
    )
    empty = np.empty((0, 3))
    points = EvolutionarySearch().suggest(History(space, empty, np.empty(0), empty, empty), 8, np.random.default_rng(0))
    assert sorted(space.decode(p)["c"] for p in points) == ["a", "b", "c"]
