"""The GP's heteroscedastic step (``gp.RelativeNoise``): noise large in one region only is seen there."""

from __future__ import annotations

import math

import numpy as np

from hyperstep.strategies import gp
from hyperstep.strategies.gp import GaussianProcess, PoolPosterior
from tests.unit.test_gp import assert_gradient_matches_finite_differences


def _half_noisy(n: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth trend in 3 d with noise sd 0.8 where ``x0 > 0.5`` and 0.02 elsewhere (fresh ``hetero``'s shape)."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 3))
    sd = np.where(X[:, 0] > 0.5, 0.8, 0.02)
    y = np.sin(3 * X[:, 1]) + X[:, 2] ** 2 + sd * rng.normal(size=n)
    return X, (y - y.mean()) / y.std()


def test_gradients_with_a_noise_scale_per_point_match_finite_differences() -> None:
    X, y = _half_noisy(20)
    scale = np.where(X[:, 0] > 0.5, 4.0, 0.25)
    diff = X[:, None, :] - X[None, :, :]
    theta = np.r_[np.log([0.3, 0.5, 2.0]), 0.2, math.log(1e-2)]
    assert_gradient_matches_finite_differences(gp._neg_log_posterior, theta, diff**2, y, gp.Prior(), None, scale)
    theta_add = np.r_[theta, math.log(0.3)]
    assert_gradient_matches_finite_differences(
        gp._neg_log_posterior_additive, theta_add, diff**2, np.abs(diff), y, gp.Prior(), scale
    )


def test_a_fit_on_noise_large_in_one_half_puts_its_noise_there() -> None:
    noisy_over_quiet = []
    for seed in range(4):
        X, y = _half_noisy(seed=seed)
        model = GaussianProcess.fit(X, y, np.random.default_rng(0), heteroscedastic=True)
        noise = model.noise_at(X)
        noisy_over_quiet.append(np.median(noise[X[:, 0] > 0.5]) / np.median(noise[X[:, 0] <= 0.5]))
    assert min(noisy_over_quiet) > 2.0, noisy_over_quiet


def test_noise_without_a_region_stays_even() -> None:
    rng = np.random.default_rng(5)
    X = rng.random((40, 3))
    y = np.sin(3 * X[:, 1]) + 0.3 * rng.normal(size=40)
    model = GaussianProcess.fit(X, (y - y.mean()) / y.std(), np.random.default_rng(0), heteroscedastic=True)
    relative = model.noise_at(X) / model.noise
    assert 0.5 < relative.min() and relative.max() < 2.0


def test_pool_posterior_matches_a_full_prediction_after_fantasies_with_relative_noise() -> None:
    X, y = _half_noisy()
    rng = np.random.default_rng(3)
    model = GaussianProcess.fit(X, y, rng, heteroscedastic=True)
    assert model.relative_noise is not None
    pool = PoolPosterior(model, rng.random((200, 3)))
    for x in rng.random((3, 3)):
        pool.add_fantasy(model, x)
        model = model.condition(x[None], model.predict(x[None])[0])
    mean, sd = model.predict(pool.C)
    np.testing.assert_allclose(pool.mean, mean, atol=1e-8)
    np.testing.assert_allclose(pool.sd, sd, atol=1e-3)
