"""Pareto sorting, crowding distance and hypervolume against values worked out by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hyperstep.pareto import crowding_distance, hypervolume, non_dominated_sort, pareto_mask


def test_pareto_mask_keeps_the_non_dominated_rows() -> None:
    Y = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0], [2.0, 2.0]])
    assert pareto_mask(Y).tolist() == [True, True, False, True, True]


def test_non_dominated_sort_peels_fronts() -> None:
    Y = np.array([[1.0, 1.0], [2.0, 2.0], [1.0, 3.0], [3.0, 3.0], [0.5, 5.0]])
    fronts = non_dominated_sort(Y)
    assert [sorted(f.tolist()) for f in fronts] == [[0, 4], [1, 2], [3]]


def test_crowding_distance_gives_extremes_infinity() -> None:
    Y = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0]])
    d = crowding_distance(Y)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(3 / 4 + 3 / 4) and d[2] == pytest.approx(3 / 4 + 2 / 4)


def test_hypervolume_two_objectives_by_hand() -> None:
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [3.5, 3.5], [5.0, 0.0]])
    # staircase under ref (4, 4): 3*1 + 2*1 + 1*1 (+ nothing from the dominated and the outside point)
    assert hypervolume(Y, np.array([4.0, 4.0])) == pytest.approx(6.0)


def test_hypervolume_three_objectives_matches_a_grid_count() -> None:
    rng = np.random.default_rng(0)
    Y = rng.integers(0, 5, size=(12, 3)).astype(float)
    ref = np.array([5.0, 5.0, 5.0])
    cells = sum(
        any(np.all(np.array(c) >= Y, axis=1)) for c in itertools.product(range(5), repeat=3)
    )  # unit cells [c, c+1) dominated by some point
    assert hypervolume(Y, ref) == pytest.approx(float(cells))


def test_hypervolume_of_nothing_is_zero() -> None:
    assert hypervolume(np.empty((0, 2)), np.array([1.0, 1.0])) == 0.0
    assert hypervolume(np.array([[2.0, 0.0]]), np.array([1.0, 1.0])) == 0.0
