"""The additive (separable) kernel: its gradient, its prediction, and the evidence choosing it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hyperstep.strategies import gp
from hyperstep.strategies.gp import GaussianProcess
from tests.unit.test_gp import assert_gradient_matches_finite_differences


def _sum_of_1d(X: np.ndarray) -> np.ndarray:
    return np.sin(6 * X[:, 0]) + 3 * (X[:, 1] - 0.4) ** 2 - np.cos(5 * X[:, 2]) + np.sin(4 * X[:, 3])


def _product(X: np.ndarray) -> np.ndarray:
    return np.sin(6 * X[:, 0]) * np.cos(5 * X[:, 1]) * (X[:, 2] - 0.5) * (1 + X[:, 3])


def _rotated(X: np.ndarray) -> np.ndarray:
    return np.sin(4 * (X[:, 0] + X[:, 1] - X[:, 2])) * np.cos(3 * (X[:, 0] - X[:, 3]))


def _standardized(f, n: int, seed: int, d: int = 4) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).random((n, d))
    y = f(X)
    return X, (y - y.mean()) / y.std()


def test_gradient_of_the_additive_negative_log_posterior_matches_finite_differences() -> None:
    X, y = _standardized(_sum_of_1d, 30, 0)
    D = np.abs(X[:, None, :] - X[None, :, :])
    D2 = D * D
    prior = gp.Prior()
    for theta in (
        np.r_[np.log([0.3, 0.5, 2.0, 0.1]), 0.2, math.log(1e-2), -1.0],
        np.r_[np.log([0.05, 1.5, 0.7, 0.3]), -0.8, math.log(0.04), 0.5],
    ):
        assert_gradient_matches_finite_differences(gp._neg_log_posterior_additive, theta, D2, D, y, prior)


def test_additive_kernel_is_the_mean_of_one_dimensional_materns() -> None:
    rng = np.random.default_rng(1)
    A, B, lengths = rng.random((5, 3)), rng.random((4, 3)), np.array([0.2, 0.5, 1.5])
    K = gp.additive_matern(A, B, lengths)
    for i in range(5):
        for k in range(4):
            terms = [gp.matern52(np.array(abs(A[i, j] - B[k, j]) / lengths[j])) for j in range(3)]
            assert K[i, k] == pytest.approx(float(np.mean(terms)), rel=1e-12)
    np.testing.assert_allclose(np.diag(gp.additive_matern(A, A, lengths)), 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evidence_takes_the_additive_kernel_on_a_sum_of_one_dimensional_functions(seed: int) -> None:
    X, y = _standardized(_sum_of_1d, 40, seed)
    model = GaussianProcess.fit(X, y, np.random.default_rng(seed), restarts=3, additive=True)
    assert model.additive
    # and it generalizes better than the ARD fit on new points
    ard = GaussianProcess.fit(X, y, np.random.default_rng(seed), restarts=3)
    Xt = np.random.default_rng(100 + seed).random((400, 4))
    f = _sum_of_1d(X)
    truth = (_sum_of_1d(Xt) - f.mean()) / f.std()
    rms_add = float(np.sqrt(((model.predict(Xt)[0] - truth) ** 2).mean()))
    rms_ard = float(np.sqrt(((ard.predict(Xt)[0] - truth) ** 2).mean()))
    assert rms_add < 0.7 * rms_ard


@pytest.mark.parametrize("f", [_product, _rotated])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evidence_keeps_the_ard_kernel_where_the_function_is_not_a_sum(f, seed: int) -> None:
    X, y = _standardized(f, 40, seed)
    model = GaussianProcess.fit(X, y, np.random.default_rng(seed), restarts=3, additive=True)
    assert not model.additive


def test_where_the_ard_kernel_wins_the_fit_and_the_generator_are_as_without_the_additive_one() -> None:
    X, y = _standardized(_rotated, 40, 0)
    r1, r2 = np.random.default_rng(7), np.random.default_rng(7)
    with_additive = GaussianProcess.fit(X, y, r1, restarts=3, additive=True)
    plain = GaussianProcess.fit(X, y, r2, restarts=3)
    assert not with_additive.additive
    np.testing.assert_array_equal(with_additive.theta, plain.theta)
    assert r1.random() == r2.random()


def test_the_additive_fit_is_deterministic_for_a_seed() -> None:
    X, y = _standardized(_sum_of_1d, 40, 0)
    a = GaussianProcess.fit(X, y, np.random.default_rng(3), restarts=3, additive=True)
    b = GaussianProcess.fit(X, y, np.random.default_rng(3), restarts=3, additive=True)
    assert a.additive and b.additive
    np.testing.assert_array_equal(a.theta, b.theta)
    C = np.random.default_rng(4).random((50, 4))
    np.testing.assert_array_equal(a.predict(C)[0], b.predict(C)[0])


def test_pool_posterior_matches_a_full_prediction_with_the_additive_kernel() -> None:
    from hyperstep.strategies.gp import PoolPosterior

    X, y = _standardized(_sum_of_1d, 40, 0)
    rng = np.random.default_rng(3)
    model = GaussianProcess.fit(X, y, rng, additive=True)
    assert model.additive
    pool = PoolPosterior(model, rng.random((200, 4)))
    for x in rng.random((3, 4)):
        pool.add_fantasy(model, x)
        model = model.condition(x[None], model.predict(x[None])[0])
        assert model.additive
    mean, sd = model.predict(pool.C)
    np.testing.assert_allclose(pool.mean, mean, atol=1e-8)
    np.testing.assert_allclose(pool.sd, sd, atol=1e-3)


def test_categorical_columns_keep_the_ard_kernel() -> None:
    X, y = _standardized(_sum_of_1d, 40, 0)
    Xc = np.c_[X, np.eye(2)[np.arange(40) % 2]]
    onehot = np.r_[np.zeros(4, dtype=bool), True, True]
    model = GaussianProcess.fit(Xc, y, np.random.default_rng(0), additive=True, onehot=onehot)
    assert not model.additive
    with pytest.raises(ValueError):
        GaussianProcess(Xc, y, model.theta, onehot=onehot, additive=True)


def test_above_the_point_limit_only_the_ard_kernel_is_fitted() -> None:
    n = gp.ADDITIVE_MAX_POINTS + 1
    X, y = _standardized(_sum_of_1d, n, 0)
    assert not GaussianProcess.fit(X, y, np.random.default_rng(0), additive=True).additive
    # the same function on as many points as the limit allows takes the additive kernel
    X, y = X[:-1], (_sum_of_1d(X[:-1]) - _sum_of_1d(X[:-1]).mean()) / _sum_of_1d(X[:-1]).std()
    assert GaussianProcess.fit(X, y, np.random.default_rng(0), additive=True).additive
