"""The GP, the objective warp and the acquisition functions compute what they claim."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.special import ndtr

from hyperstep.strategies import gp
from hyperstep.strategies.acquisition import log_ei, log_h
from hyperstep.strategies.gp import GaussianProcess
from hyperstep.strategies.transforms import warp_objective, yeo_johnson


def _data(n: int = 30, d: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(6 * X[:, 0]) + 0.5 * X[:, 1] ** 2
    return X, (y - y.mean()) / y.std()


def assert_gradient_matches_finite_differences(
    fun: Callable[..., tuple[float, np.ndarray]], theta: np.ndarray, *args: object
) -> None:
    """``fun(theta, *args)`` returns (value, gradient): the gradient agrees with central differences."""
    _, grad = fun(theta, *args)
    h = 1e-6
    numeric = [(fun(theta + e, *args)[0] - fun(theta - e, *args)[0]) / (2 * h) for e in np.eye(len(theta)) * h]
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-5)


def test_gradient_of_the_negative_log_posterior_matches_finite_differences() -> None:
    X, y = _data()
    D2 = (X[:, None, :] - X[None, :, :]) ** 2
    prior = gp.Prior()
    theta = np.r_[np.log([0.3, 0.5, 2.0]), 0.2, math.log(1e-2)]
    assert_gradient_matches_finite_differences(gp._neg_log_posterior, theta, D2, y, prior)


def test_posterior_interpolates_noise_free_training_points() -> None:
    X, y = _data()
    model = GaussianProcess.fit(X, y, np.random.default_rng(0))
    mean, sd = model.predict(X)
    assert np.abs(mean - y).max() < 0.05
    assert sd.max() < 0.1
    _, sd_far = model.predict(np.full((1, 3), 5.0))
    assert sd_far[0] > 0.5


def test_map_fit_finds_an_irrelevant_dimension_long() -> None:
    X, y = _data(n=40, d=3)  # y ignores the third column
    model = GaussianProcess.fit(X, y, np.random.default_rng(1))
    assert model.lengths[2] > 2 * max(model.lengths[0], model.lengths[1])  # the prior holds it near a few widths
    assert model.lengths[0] < 1.0


def test_condition_on_a_fantasy_collapses_the_variance_there() -> None:
    X, y = _data()
    model = GaussianProcess.fit(X, y, np.random.default_rng(0))
    x = np.array([[1.3, 1.3, 0.5]])  # outside the data: uncertain
    mean, sd = model.predict(x)
    after = model.condition(x, mean)
    new_mean, new_sd = after.predict(x)
    assert new_sd[0] < 0.5 * sd[0]
    assert new_mean[0] == pytest.approx(mean[0], abs=1e-3)


def test_log_ei_is_the_log_of_ei_in_the_normal_range_and_finite_in_the_tail() -> None:
    mean, sd, best = np.array([0.0, 1.0, -1.0, 3.0]), np.array([1.0, 0.5, 2.0, 0.7]), 0.2
    z = (best - mean) / sd
    ei = sd * (z * ndtr(z) + np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))
    np.testing.assert_allclose(log_ei(mean, sd, best), np.log(ei), rtol=1e-9)
    tail = log_h(np.array([-10.0, -40.0, -1e3, -1e9]))
    assert np.all(np.isfinite(tail))
    assert np.all(np.diff(tail) < 0)  # still ordered where EI underflows
    assert tail[0] == pytest.approx(-55.5531, abs=1e-3)  # log h(-10), from mpmath


def test_yeo_johnson_is_monotone_and_identity_at_one() -> None:
    x = np.linspace(-5, 5, 101)
    np.testing.assert_allclose(yeo_johnson(x, 1.0), x, atol=1e-12)
    for lam in (-1.0, 0.0, 0.5, 2.0):
        assert np.all(np.diff(yeo_johnson(x, lam)) > 0)


def test_warp_preserves_order_and_tames_an_outlier() -> None:
    y = np.r_[np.linspace(0.0, 1.0, 20), 1e6]
    w = warp_objective(y)
    assert np.all(np.diff(w) > 0)
    assert w.std() == pytest.approx(1.0)
    # the good values stay spread out instead of being squashed by the outlier
    assert w[19] - w[0] > 1.0


@pytest.mark.parametrize("scale", [1e308, 1e-320])
def test_warp_of_values_near_the_float_limits_is_finite_and_as_of_plain_ones(scale: float) -> None:
    """A script printing loss=1e308 and -1e308 (or subnormals, 1e-320): the spread overflowed
    (or the quartiles' scale underflowed to 0) and the warp gave NaN, the GP's targets."""
    y = np.array([1.0, -1.0, 0.5, 0.25, -0.75, 0.0])
    with np.errstate(all="raise"):
        w = warp_objective(y * scale)
    assert np.all(np.isfinite(w))
    np.testing.assert_array_equal(np.argsort(w), np.argsort(y))
    np.testing.assert_allclose(w, warp_objective(y), atol=1e-2 if scale < 1 else 1e-9)


def test_pool_posterior_matches_a_full_prediction_after_fantasies() -> None:
    from hyperstep.strategies.gp import PoolPosterior

    X, y = _data(n=40, d=3)
    rng = np.random.default_rng(3)
    model = GaussianProcess.fit(X, y, rng)
    pool = PoolPosterior(model, rng.random((200, 3)))
    for x in rng.random((3, 3)):
        pool.add_fantasy(model, x)
        model = model.condition(x[None], model.predict(x[None])[0])
    pool.keep(np.arange(200) % 3 > 0)
    mean, sd = model.predict(pool.C)
    np.testing.assert_allclose(pool.mean, mean, atol=1e-8)
    np.testing.assert_allclose(pool.sd, sd, atol=1e-3)


def _categorical_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two numeric columns and a 3-way one-hot; y = a smooth trend + a shift per category."""
    rng = np.random.default_rng(seed)
    n = 36
    cat = np.arange(n) % 3
    X = np.c_[rng.random((n, 2)), np.eye(3)[cat]]
    y = np.sin(5 * X[:, 0]) + np.array([0.0, 3.0, -2.0])[cat]
    return X, (y - y.mean()) / y.std(), np.r_[False, False, True, True, True]


def test_gradient_with_category_offsets_matches_finite_differences() -> None:
    X, y, onehot = _categorical_data()
    D2 = (X[:, None, :] - X[None, :, :]) ** 2
    same = X[:, onehot] @ X[:, onehot].T
    prior = gp.Prior(onehot=onehot)  # log-normal on the one-hot lengths, soft bounds on the others
    theta = np.r_[np.log([0.3, 0.5, 2.0, 1.0, 3.0]), 0.2, math.log(1e-2), math.log(0.7)]
    assert_gradient_matches_finite_differences(gp._neg_log_posterior, theta, D2, y, prior, same)


def test_category_offsets_share_the_numeric_trend_across_categories() -> None:
    # category 0 has only three points; its trend must come from the other categories
    onehot = np.r_[np.zeros(6, dtype=bool), np.ones(4, dtype=bool)]
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        cat = rng.integers(0, 4, 40)
        cat[:3], cat[3:][cat[3:] == 0] = 0, 1
        X = np.c_[rng.random((40, 6)), np.eye(4)[cat]]
        raw = np.sin(5 * X[:, 0]) + 2 * X[:, 1] + np.array([0.0, 4.0, -3.0, 8.0])[cat]
        model = GaussianProcess.fit(X, (raw - raw.mean()) / raw.std(), np.random.default_rng(0), onehot=onehot)
        grid = np.c_[rng.random((50, 6)), np.tile([1.0, 0.0, 0.0, 0.0], (50, 1))]
        truth = (np.sin(5 * grid[:, 0]) + 2 * grid[:, 1] - raw.mean()) / raw.std()
        rms = float(np.sqrt(((model.predict(grid)[0] - truth) ** 2).mean()))
        assert rms < 0.04  # a joint Matern alone: 0.16-0.27 (0.017-0.028 here: the length prior keeps x2..x5 < 3)
        assert model.offset > 0.1


def test_pool_posterior_matches_a_full_prediction_with_category_offsets() -> None:
    from hyperstep.strategies.gp import PoolPosterior

    X, y, onehot = _categorical_data()
    rng = np.random.default_rng(3)
    model = GaussianProcess.fit(X, y, rng, onehot=onehot)
    C = np.c_[rng.random((60, 2)), np.eye(3)[rng.integers(0, 3, 60)]]
    pool = PoolPosterior(model, C)
    for x in C[:3]:
        pool.add_fantasy(model, x)
        model = model.condition(x[None], model.predict(x[None])[0])
    mean, sd = model.predict(pool.C)
    np.testing.assert_allclose(pool.mean, mean, atol=1e-8)
    np.testing.assert_allclose(pool.sd, sd, atol=1e-3)


def test_length_prior_keeps_every_dimension_in_play_on_few_points() -> None:
    # Levy-like: all eight dimensions matter alike, 24 points. The former dimension-scaled
    # log-normal prior let the fit call half of them irrelevant (lengths near 12).
    rng = np.random.default_rng(4)
    X = rng.random((24, 8))
    w = 1 + (20 * X - 10 - 1) / 4
    y = (np.sin(np.pi * w[:, :-1] + 1) ** 2 * 10 * (w[:, :-1] - 1) ** 2 + (w[:, :-1] - 1) ** 2).sum(1)
    model = GaussianProcess.fit(X, warp_objective(y), np.random.default_rng(0), restarts=3)
    assert model.lengths.max() < 6.0


def test_noise_stays_capped_so_the_fit_cannot_call_everything_noise() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((40, 4))
    y = rng.normal(size=40)  # no structure: uncapped, the MAP fit put 0.66 of it in the noise
    y = (y - y.mean()) / y.std()
    model = GaussianProcess.fit(X, y, np.random.default_rng(0))
    assert model.noise <= 0.1 + 1e-9


UNIT = 2.0**1016
"""A unit that overflows a spread or a square: 200 of it is 1.4e308, the spread of +-200 of it
infinite. A power of two, so dividing by the largest magnitude is exact either way."""


@pytest.mark.parametrize("kind", ["objective", "objectives", "constraint"])
def test_proposals_do_not_depend_on_the_values_unit_up_to_the_float_limit(kind: str) -> None:
    """Values of about 1e308 (a script printing a huge loss, or a constraint metric): the
    objective's warp, the multi-objective normalization and the constraint GP's scale took
    a spread or a square that overflowed (RuntimeWarning, NaN targets); now the same trials
    are proposed as in the same study told in plain units."""
    import hyperstep

    space = [{"name": "x", "type": "float", "low": 0, "high": 1}, {"name": "y", "type": "float", "low": 0, "high": 1}]

    def proposals(unit: float) -> list[dict]:
        goal = ["minimize", "minimize"] if kind == "objectives" else "minimize"
        constraints = [{"metric": "g", "max": 0.0}] if kind == "constraint" else []
        study = hyperstep.Study(space, goal, seed=3, strategy_options={"n_initial": 3}, constraints=constraints)
        for _ in range(6):
            (trial,) = study.ask()
            f = 400 * trial.params["x"] - 200  # from -200 to 200 units
            if kind == "objectives":
                study.tell(trial, [f * unit, (50 - f / 2) ** 2 / 200 * unit])
            elif kind == "constraint":
                study.tell(trial, trial.params["y"], metrics={"g": f * unit})
            else:
                study.tell(trial, f * unit)
        return [t.params for t in study.trials]

    with np.errstate(over="raise", invalid="raise"):
        huge = proposals(UNIT)
    assert huge == proposals(1.0)


def test_ordinary_values_warp_bit_for_bit_as_with_no_rescaling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rescaling that keeps 1e308 from overflowing changes nothing at ordinary values:
    divided by their largest magnitude, values of about 1, 1e3, 0.37 or -7.3 lost their last
    bits and 194 of 200 such histories warped differently from before it, so the GP's
    targets, and the proposals, moved."""
    from hyperstep.strategies import transforms

    rng = np.random.default_rng(0)
    histories = [rng.normal(size=12) * unit + 5 for unit in (1.0, 1e3, 0.37, -7.3) for _ in range(10)]
    rescaled = [warp_objective(y) for y in histories]
    monkeypatch.setattr(transforms, "by_largest_magnitude", lambda values: values)
    for y, w in zip(histories, rescaled):
        np.testing.assert_array_equal(w, warp_objective(y))


@pytest.mark.parametrize("kind", ["objectives", "constraint"])
def test_ordinary_values_give_the_gps_bit_for_bit_the_targets_of_no_rescaling(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above for the multi-objective normalization and the constraint GP's scale: a study
    told ordinary values fits its GPs to exactly the targets it fit them to before the
    rescaling was added (so it proposes what it proposed)."""
    import hyperstep
    from hyperstep.strategies import transforms

    space = [{"name": "x", "type": "float", "low": -5, "high": 5}, {"name": "y", "type": "float", "low": 0, "high": 1}]
    fit = GaussianProcess.fit.__func__  # type: ignore[attr-defined]

    def targets() -> list[np.ndarray]:
        seen: list[np.ndarray] = []

        def recording(cls: type, X: np.ndarray, y: np.ndarray, *args: Any, **kwargs: Any) -> Any:
            seen.append(np.array(y))
            return fit(cls, X, y, *args, **kwargs)

        monkeypatch.setattr(GaussianProcess, "fit", classmethod(recording))
        goal = ["minimize", "maximize"] if kind == "objectives" else "minimize"
        constraints = [{"metric": "g", "max": 0.3}] if kind == "constraint" else []
        study = hyperstep.Study(space, goal, seed=3, strategy_options={"n_initial": 3}, constraints=constraints)
        for _ in range(6):
            (trial,) = study.ask()
            x, y = trial.params["x"], trial.params["y"]
            f = 0.37 * ((x - 1) ** 2 + y)
            if kind == "objectives":
                study.tell(trial, [13.1 * f, 0.7 * x - f])
            else:
                study.tell(trial, f, metrics={"g": 0.11 * x - 0.9 * y})
        return seen

    rescaled = targets()
    monkeypatch.setattr(transforms, "by_largest_magnitude", lambda values: values)
    plain = targets()
    assert len(rescaled) == len(plain) > 0
    for a, b in zip(rescaled, plain):
        np.testing.assert_array_equal(a, b)
