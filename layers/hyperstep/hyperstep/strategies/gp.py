"""A Gaussian process with a Matérn-5/2 ARD kernel, fitted as MAP under weak priors.

Why these choices: Matérn-5/2 is the standard for hyperparameter surfaces (smooth but
not analytic); one length scale per dimension lets the model ignore irrelevant
parameters; weak log-normal priors keep the fit sane with a handful of points. The
length-scale prior grows with the dimension (Hvarfner et al., 2024), which keeps
vanilla BO competitive in higher dimensions.

Hyperparameters are fitted on ``theta = [log l_1..l_d, log signal var, log noise var]``
with L-BFGS-B and analytic gradients. scipy is imported inside functions: the module
must import fast (the suggester Lambda cold-starts through it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SQRT5 = math.sqrt(5.0)
JITTER = 1e-8
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(1.0))
LOG_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
LOG_LENGTH_BOUNDS = (math.log(0.01), math.log(100.0))


def matern52(r: np.ndarray) -> np.ndarray:
    """The unit-variance Matérn-5/2 correlation at scaled distance ``r``."""
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * np.exp(-SQRT5 * r)


def scaled_sqdist(A: np.ndarray, B: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Squared distances between rows of ``A`` and ``B`` after dividing by ``lengths``."""
    a, b = A / lengths, B / lengths
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


@dataclass(frozen=True)
class Prior:
    """Independent normal priors on the log hyperparameters."""

    length_mean: float
    length_sd: float = math.sqrt(3.0)
    signal_mean: float = 0.0
    signal_sd: float = 1.0
    noise_mean: float = -4.0
    noise_sd: float = 1.5

    @classmethod
    def for_dim(cls, dim: int) -> Prior:
        """The dimension-scaled default: longer length scales in higher dimensions."""
        return cls(length_mean=math.sqrt(2.0) + 0.5 * math.log(max(dim, 1)))

    def neg_log_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        means = np.r_[np.full(len(theta) - 2, self.length_mean), self.signal_mean, self.noise_mean]
        sds = np.r_[np.full(len(theta) - 2, self.length_sd), self.signal_sd, self.noise_sd]
        z = (theta - means) / sds
        return 0.5 * float(z @ z), z / sds


def _neg_log_posterior(theta: np.ndarray, D2: np.ndarray, y: np.ndarray, prior: Prior) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior, with its gradient.

    ``D2`` holds the per-dimension squared differences, shape ``(n, n, d)``.
    """
    from scipy.linalg import cho_solve, cholesky

    d = D2.shape[2]
    lengths, signal, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    inv_l2 = 1.0 / lengths**2
    r = np.sqrt(np.maximum(D2 @ inv_l2, 0.0))
    e = np.exp(-SQRT5 * r)
    Kf = signal * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e
    n = len(y)
    K = Kf + (noise + JITTER) * np.eye(n)
    try:
        L = cholesky(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(theta)
    alpha = cho_solve((L, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
    W = np.outer(alpha, alpha) - cho_solve((L, True), np.eye(n), check_finite=False)
    C = signal * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("ik,ikj->j", W * C, D2) * inv_l2
    grad[d] = -0.5 * float((W * Kf).sum())
    grad[d + 1] = -0.5 * noise * float(np.trace(W))
    p, pg = prior.neg_log_and_grad(theta)
    return nll + p, grad + pg


def fit_hyperparameters(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int = 2, maxiter: int | None = None
) -> np.ndarray:
    """MAP hyperparameters by L-BFGS-B from a few starts (two fixed, the rest from the prior).

    Iterations are capped lower for larger ``n`` (each costs O(n^3)): the acquisition
    barely changes once the length scales are roughly right.
    """
    from scipy.optimize import minimize

    n, d = X.shape
    prior = Prior.for_dim(d)
    D2 = (X[:, None, :] - X[None, :, :]) ** 2
    bounds = [LOG_LENGTH_BOUNDS] * d + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS]
    starts = [
        np.r_[np.full(d, math.log(0.3 * math.sqrt(d))), 0.0, math.log(1e-2)],
        np.r_[np.full(d, math.log(1.0 * math.sqrt(d))), 0.0, math.log(1e-3)],
    ]
    for _ in range(max(0, restarts - len(starts))):
        starts.append(np.r_[rng.normal(prior.length_mean, 1.0, d), rng.normal(0.0, 0.5), rng.normal(-4.0, 1.0)])
    lo, hi = np.array(bounds).T
    maxiter = maxiter or (80 if n < 100 else 30)
    best_theta, best_value = starts[0], math.inf
    for start in starts[: max(1, restarts)]:
        result = minimize(
            _neg_log_posterior,
            np.clip(start, lo, hi),
            args=(D2, y, prior),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter, "maxfun": maxiter + maxiter // 2, "ftol": 1e-7},
        )
        if np.isfinite(result.fun) and result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
    return best_theta


def _robust_cholesky(K: np.ndarray, diagonal: float) -> np.ndarray:
    """Cholesky factor of ``K + diagonal * I``, adding jitter if repeated points make it singular."""
    from scipy.linalg import cholesky

    for extra in (0.0, 1e-6, 1e-4, 1e-2):
        try:
            return cholesky(K + (diagonal + extra) * np.eye(len(K)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


class GaussianProcess:
    """A GP posterior for fixed hyperparameters; ``condition`` adds (fantasy) data."""

    def __init__(self, X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> None:
        from scipy.linalg import cho_solve

        d = X.shape[1]
        self.X, self.y, self.theta = X, y, theta
        self.lengths = np.exp(theta[:d])
        self.signal, self.noise = math.exp(theta[d]), math.exp(theta[d + 1])
        K = self.signal * matern52(np.sqrt(scaled_sqdist(X, X, self.lengths)))
        L = _robust_cholesky(K, self.noise + JITTER)
        self.alpha = cho_solve((L, True), y, check_finite=False)
        self.K_inv = cho_solve((L, True), np.eye(len(y)), check_finite=False)

    @classmethod
    def fit(
        cls, X: np.ndarray, y: np.ndarray, rng: np.random.Generator, restarts: int = 2, maxiter: int | None = None
    ) -> GaussianProcess:
        return cls(X, y, fit_hyperparameters(X, y, rng, restarts, maxiter))

    def condition(self, X_new: np.ndarray, y_new: np.ndarray) -> GaussianProcess:
        """The posterior with more observations, keeping the hyperparameters."""
        return GaussianProcess(np.vstack([self.X, X_new]), np.r_[self.y, y_new], self.theta)

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``Xs``."""
        Ks = self.signal * matern52(np.sqrt(scaled_sqdist(Xs, self.X, self.lengths)))
        mean = Ks @ self.alpha
        var = self.signal - np.einsum("ij,ij->i", Ks @ self.K_inv, Ks)
        return mean, np.sqrt(np.maximum(var, 1e-12))


class PoolPosterior:
    """Posterior moments at a fixed candidate set, updated in O(m n) per kriging-believer fantasy.

    A fantasy observed at its own predicted mean leaves the posterior mean unchanged
    everywhere and lowers the variance by a rank-one term, so a batch of ``k`` points
    costs one full prediction of the pool instead of ``k``.
    """

    def __init__(self, model: GaussianProcess, C: np.ndarray) -> None:
        self.C = C
        self.K = model.signal * matern52(np.sqrt(scaled_sqdist(C, model.X, model.lengths)))
        self.mean = self.K @ model.alpha
        self.var = np.maximum(model.signal - np.einsum("ij,ij->i", self.K @ model.K_inv, self.K), 1e-12)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.var)

    def add_fantasy(self, model: GaussianProcess, x: np.ndarray) -> None:
        """Account for a fantasy at ``x`` added to ``model`` (the posterior *before* it)."""
        kx = model.signal * matern52(np.sqrt(scaled_sqdist(model.X, x[None], model.lengths)))[:, 0]
        v = model.K_inv @ kx
        k_pool = model.signal * matern52(np.sqrt(scaled_sqdist(self.C, x[None], model.lengths)))[:, 0]
        cov = k_pool - self.K @ v
        total = max(model.signal - float(kx @ v), 0.0) + model.noise + JITTER
        self.var = np.maximum(self.var - cov * cov / total, 1e-12)
        self.K = np.hstack([self.K, k_pool[:, None]])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the candidates outside ``mask``."""
        self.C, self.K, self.mean, self.var = self.C[mask], self.K[mask], self.mean[mask], self.var[mask]
