"""A Gaussian process with a Matérn-5/2 ARD kernel, fitted as MAP under weak priors.

Why these choices: Matérn-5/2 is the standard for hyperparameter surfaces (smooth but
not analytic); one length scale per dimension lets the model weigh parameters; weak
priors keep the fit sane with a handful of points.

The length-scale prior has the shape of Optuna's (``GPSampler``): ``0.1 * (u**2 + 1/u**2)``
nats with ``u = l / 0.5``, mode at half the cube, steep beyond a few cube widths. It
replaced a dimension-scaled log-normal (Hvarfner et al., 2024, median 11.6 in 8 d) after
instrumenting losses on problems the strategy was not tuned on (issue 14): with 20-40
points that prior let the MAP fit call half of the dimensions irrelevant (lengths near
12, a different half each round, on Levy-8 where all matter alike), the acquisition could
not tell values apart there, and every suggestion carried arbitrary values, often on the
cube's faces, in dimensions that did matter. With lengths held near the cube's size the
model keeps every dimension in play; on the broad set it raised the multimodal, crash and
wide-integer kinds by 10-25 points (benchmarks/README.md).

The mode moved from 1 (Optuna's) to 0.5 in issue 14's third round, where HEBO led by
20-40 points on the separable multimodal functions (Rastrigin, Styblinski-Tang,
Michalewicz) and the search stalled there for many batches. HEBO's GP starts its length
scales at the data's median spacing per dimension (about 0.3 of the range) and trains
them only briefly: a more local model. Half the cube is the step towards it that scored
higher on the multimodal kind without losing on the others (benchmarks/README.md).

Categorical parameters (one-hot columns) get, on top of the Matérn term, an additive
offset per category: a linear kernel ``offset_var * <h, h'>`` on the one-hot columns,
i.e. each category's level is an independent ``N(0, offset_var)`` (a Bayesian linear
model on the indicators). Without it a joint Matérn can only explain a category's
shift with short one-hot length scales, which decorrelates the categories and leaves
each numeric trend to be learnt from a quarter of the data; with it, the numeric
structure is shared across categories and the shifts cost one hyperparameter.

The noise variance is capped at 0.1 (the warped values have unit variance). On a
surface whose trend is weak next to its ripples (Ackley's flat outer region) the MAP
fit otherwise settles on "all noise" (noise near 1, length scales at the prior): that
model predicts a constant and the acquisition chases uncertainty alone, so the search
is no better than random. Capped, the GP must explain at least most of the variance
with structure, and the trend towards the basin becomes visible.

Additive structure (issue 14, round eight): for the objective in a space of numeric columns
only, a second kernel is fitted beside the ARD one, the ARD term plus a first-order additive
term with its own variance, ``additive / d * sum_j matern52(|x_j - x'_j| / l_j)``, sharing the
length scales (orders 1 and d of Duvenaud et al.'s additive kernels, 2011), and the fit with
the higher posterior density is kept (``GaussianProcess.fit(additive=True)``). A separable
function (Rastrigin, Styblinski-Tang, Schwefel) is a sum of 1-d functions: the additive term
learns each from every point's projection on its axis, where the Euclidean ARD term in 10-20
dimensions sees a few dozen points as nearly unrelated, and the acquisition can then move
every coordinate towards its own best value. The ARD term stays for what is not a sum, so
the sum kernel nests the ARD model; the additive variance's prior (the signal variance's)
is the Occam cost it must earn back. Only while the model sees at most
``ADDITIVE_MAX_POINTS`` points: beyond, each prediction's ``d`` one-dimensional kernels cost
more than the latency bound allows. A pure additive kernel lost where it replaced the ARD
one: with the noise capped it rarely won the evidence (ripples finer than the data resolve
are not a sum of smooth 1-d functions), with the noise free it won as "trend plus noise" and
the search degraded (benchmarks/README.md, "Issue 14, round eight").

In a conditional space (``features``: ``conditional.ArcFeatures``) the kernel reads each
conditional numeric column through an arc embedding, so inactive parameters are
modelled as absent rather than as a value (see ``strategies.conditional``); the
length scales stay one per unit-cube column.

Hyperparameters are fitted on ``theta = [log l_1..l_d, log signal var, log noise var]``
(plus ``log offset var`` when there are categorical columns, ``log additive var`` with the
additive term) with L-BFGS-B and
analytic gradients. scipy is imported inside functions: the module
must import fast (the suggester Lambda cold-starts through it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from hyperstep.strategies.conditional import ArcFeatures

SQRT5 = math.sqrt(5.0)
JITTER = 1e-8
LOG_NOISE_BOUNDS = (math.log(1e-6), math.log(0.1))
"""Noise variance in warped (unit-variance) units; the cap keeps the fit from calling everything noise."""
LOG_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
LOG_LENGTH_BOUNDS = (math.log(0.01), math.log(100.0))
LOG_OFFSET_BOUNDS = (math.log(1e-4), math.log(10.0))
ADDITIVE_MAX_POINTS = 100
"""Above this many points only the ARD kernel is fitted: the additive term's fit and every
prediction cost ``d`` one-dimensional kernels (measured at 200 trials, d = 10: ``ask(8)`` 1.2 s
of CPU at the p95 against 0.25-0.5 s without it), and with that many points the ARD term
resolves the structure on its own more often."""


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
    """Priors on the log hyperparameters: normal for signal, noise and offsets, soft bounds on lengths.

    A numeric column's length scale ``l`` (unit cube) costs ``length_rate * (u**2 + 1/u**2)``
    nats with ``u = l / length_mode``: the shape of the prior Optuna's ``GPSampler`` puts on
    inverse squared length scales, its mode moved from 1 to half the cube (module docstring).
    One-hot columns (``onehot``) keep a log-normal prior with a long median: the category
    offset kernel explains the categories' shifts, and long one-hot length scales let the
    numeric structure be shared across categories.
    """

    length_rate: float = 0.1
    length_mode: float = 0.5
    onehot: np.ndarray | None = None
    onehot_length_mean: float = math.log(10.0)
    onehot_length_sd: float = math.sqrt(3.0)
    signal_mean: float = 0.0
    signal_sd: float = 1.0
    noise_mean: float = -4.0
    noise_sd: float = 1.5
    offset_mean: float = math.log(0.25)
    offset_sd: float = 1.5

    def neg_log_and_grad(self, theta: np.ndarray, offsets: bool = False) -> tuple[float, np.ndarray]:
        """Negative log prior density (up to a constant) and its gradient.

        With ``offsets`` the last entry of ``theta`` is the log category-offset variance.
        """
        d = len(theta) - 3 if offsets else len(theta) - 2
        extra_means, extra_sds = ([self.offset_mean], [self.offset_sd]) if offsets else ([], [])
        means = np.r_[self.signal_mean, self.noise_mean, extra_means]
        sds = np.r_[self.signal_sd, self.noise_sd, extra_sds]
        z = (theta[d:] - means) / sds
        logs = theta[:d]
        scaled = logs - math.log(self.length_mode)
        up, down = np.exp(2.0 * scaled), np.exp(-2.0 * scaled)
        lengths_value = self.length_rate * (up + down)
        lengths_grad = 2.0 * self.length_rate * (up - down)
        if self.onehot is not None:
            zl = (logs - self.onehot_length_mean) / self.onehot_length_sd
            lengths_value = np.where(self.onehot, 0.5 * zl * zl, lengths_value)
            lengths_grad = np.where(self.onehot, zl / self.onehot_length_sd, lengths_grad)
        return 0.5 * float(z @ z) + float(lengths_value.sum()), np.r_[lengths_grad, z / sds]


def _matern_ard(D2: np.ndarray, lengths: np.ndarray, signal: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ARD Matérn-5/2 Gram matrix ``K`` from per-dimension squared differences ``D2``,
    with ``C`` and ``inv_l2`` such that ``d K / d log l_j = C * D2[..., j] * inv_l2[j]``."""
    inv_l2 = 1.0 / lengths**2
    r = np.sqrt(np.maximum(D2 @ inv_l2, 0.0))
    e = np.exp(-SQRT5 * r)
    return signal * (1.0 + SQRT5 * r + (5.0 / 3.0) * r * r) * e, signal * (5.0 / 3.0) * (1.0 + SQRT5 * r) * e, inv_l2


def _marginal(K: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The negative log marginal likelihood of ``y`` under covariance ``K`` and
    ``W = alpha alpha^T - K^-1`` (``d nll / d K = -W / 2``); None where ``K`` is not
    positive definite."""
    from scipy.linalg import cho_solve, cholesky

    n = len(y)
    try:
        L = cholesky(K, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    alpha = cho_solve((L, True), y, check_finite=False)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(L)).sum()) + 0.5 * n * math.log(2 * math.pi)
    return nll, np.outer(alpha, alpha) - cho_solve((L, True), np.eye(n), check_finite=False)


def _neg_log_posterior(
    theta: np.ndarray, D2: np.ndarray, y: np.ndarray, prior: Prior, same: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior, with its gradient.

    ``D2`` holds the per-dimension squared differences, shape ``(n, n, d)``; ``same``
    (one-hot Gram matrix: how many categorical parameters two rows share) switches on
    the category-offset term, whose log variance is then the last entry of ``theta``.
    """
    d = D2.shape[2]
    lengths, signal, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    Kf, C, inv_l2 = _matern_ard(D2, lengths, signal)
    K = Kf + (noise + JITTER) * np.eye(len(y))
    if same is not None:
        offset = math.exp(theta[d + 2])
        K = K + offset * same
    fit = _marginal(K, y)
    if fit is None:
        return 1e10, np.zeros_like(theta)
    nll, W = fit
    grad = np.empty_like(theta)
    grad[:d] = -0.5 * np.einsum("ik,ikj->j", W * C, D2) * inv_l2
    grad[d] = -0.5 * float((W * Kf).sum())
    grad[d + 1] = -0.5 * noise * float(np.trace(W))
    if same is not None:
        grad[d + 2] = -0.5 * offset * float((W * same).sum())
    p, pg = prior.neg_log_and_grad(theta, same is not None)
    return nll + p, grad + pg


def _neg_log_posterior_additive(
    theta: np.ndarray, D2: np.ndarray, D: np.ndarray, y: np.ndarray, prior: Prior
) -> tuple[float, np.ndarray]:
    """``_neg_log_posterior`` for the ARD kernel plus an additive one sharing its length scales:
    ``signal * matern52(r) + additive / d * sum_j matern52(|x_j - x'_j| / l_j)``.

    ``D2`` and ``D`` hold the per-dimension squared and absolute differences, shape ``(n, n, d)``;
    ``theta`` is the ARD kernel's (lengths, log signal, log noise variance) and then the log
    variance of the additive part, whose prior is the signal variance's.
    """
    d = D.shape[2]
    lengths, signal, noise = np.exp(theta[:d]), math.exp(theta[d]), math.exp(theta[d + 1])
    additive = math.exp(theta[d + 2])
    K_ard, C, inv_l2 = _matern_ard(D2, lengths, signal)
    r1 = D / lengths
    e1 = np.exp(-SQRT5 * r1)
    scale = additive / d
    K_add = scale * ((1.0 + SQRT5 * r1 + (5.0 / 3.0) * r1 * r1) * e1).sum(2)
    fit = _marginal(K_ard + K_add + (noise + JITTER) * np.eye(len(y)), y)
    if fit is None:
        return 1e10, np.zeros_like(theta)
    nll, W = fit
    grad = np.empty_like(theta)
    # each 1-d term: d k / d log l = (5/3) r^2 (1 + sqrt5 r) exp(-sqrt5 r)
    slope1 = (5.0 / 3.0) * r1 * r1 * (1.0 + SQRT5 * r1) * e1
    grad[:d] = -0.5 * np.einsum("ik,ikj->j", W * C, D2) * inv_l2 - 0.5 * scale * np.einsum("ik,ikj->j", W, slope1)
    grad[d] = -0.5 * float((W * K_ard).sum())
    grad[d + 1] = -0.5 * noise * float(np.trace(W))
    grad[d + 2] = -0.5 * float((W * K_add).sum())
    p, pg = prior.neg_log_and_grad(theta[: d + 2])
    z = (theta[d + 2] - prior.signal_mean) / prior.signal_sd
    return nll + p + 0.5 * z * z, np.r_[grad[: d + 2] + pg, grad[d + 2] + z / prior.signal_sd]


def additive_matern(A: np.ndarray, B: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The unit-variance additive kernel between rows of ``A`` and ``B``: the mean over
    dimensions of a 1-d Matérn-5/2 with that dimension's length scale."""
    K = np.zeros((len(A), len(B)))
    for j in range(A.shape[1]):
        K += matern52(np.abs(A[:, j, None] - B[None, :, j]) / lengths[j])
    return K / A.shape[1]


def fit_map(
    X: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    restarts: int = 2,
    maxiter: int | None = None,
    onehot: np.ndarray | None = None,
    features: ArcFeatures | None = None,
    length_mode: float = Prior.length_mode,
) -> tuple[np.ndarray, float]:
    """MAP hyperparameters by L-BFGS-B from a few starts (two fixed, the rest from the prior),
    and the negative log posterior density there.

    Iterations are capped lower for larger ``n`` (each costs O(n^3)): the acquisition
    barely changes once the length scales are roughly right. ``onehot`` (a column mask)
    adds the category-offset variance as a last hyperparameter. With ``features`` the
    kernel sees the conditional embedding, each cube column's features sharing its length.
    """
    n, d = X.shape
    prior = Prior(length_mode=length_mode, onehot=onehot if onehot is not None and onehot.any() else None)
    F = X if features is None else features(X)
    D2 = (F[:, None, :] - F[None, :, :]) ** 2
    if features is not None:
        D2 = features.tie(D2)
    same = _same_category(F, F, _feature_mask(onehot, features))
    extra = [] if same is None else [prior.offset_mean]
    bounds = [LOG_LENGTH_BOUNDS] * d + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS] + ([LOG_OFFSET_BOUNDS] if extra else [])
    starts = [
        np.r_[np.full(d, math.log(0.3 * math.sqrt(d))), 0.0, math.log(1e-2), extra],
        np.r_[np.full(d, math.log(1.0 * math.sqrt(d))), 0.0, math.log(1e-3), extra],
    ]
    for _ in range(max(0, restarts - len(starts))):
        random_extra = rng.normal(prior.offset_mean, 1.0, len(extra))
        starts.append(np.r_[rng.normal(0.0, 1.0, d), rng.normal(0.0, 0.5), rng.normal(-4.0, 1.0), random_extra])
    maxiter = maxiter or (80 if n < 100 else 30)
    return _best_of(_neg_log_posterior, starts[: max(1, restarts)], (D2, y, prior, same), bounds, maxiter)


def _best_of(
    fun: Callable[..., tuple[float, np.ndarray]], starts: list[np.ndarray], args: tuple, bounds: list, maxiter: int
) -> tuple[np.ndarray, float]:
    """The lowest of ``fun``'s L-BFGS-B minima from ``starts`` (clipped into ``bounds``) and its value."""
    from scipy.optimize import minimize

    lo, hi = np.array(bounds).T
    best_theta, best_value = starts[0], math.inf
    for start in starts:
        result = minimize(
            fun,
            np.clip(start, lo, hi),
            args=args,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": maxiter, "maxfun": maxiter + maxiter // 2, "ftol": 1e-7},
        )
        if np.isfinite(result.fun) and result.fun < best_value:
            best_theta, best_value = result.x, float(result.fun)
    return best_theta, best_value


def fit_additive(
    X: np.ndarray,
    y: np.ndarray,
    ard_theta: np.ndarray,
    maxiter: int | None = None,
    length_mode: float = Prior.length_mode,
) -> tuple[np.ndarray, float]:
    """MAP hyperparameters of the ARD-plus-additive kernel and the negative log posterior there.

    Two fixed starts: the ARD fit ``ard_theta`` with a small additive part, and every length
    at half the cube with the two parts equal. The fit draws nothing from a generator, so
    fitting it beside the ARD kernel leaves that fit and everything after it unchanged
    wherever the ARD kernel is kept.
    """
    n, d = X.shape
    prior = Prior(length_mode=length_mode)
    diff = X[:, None, :] - X[None, :, :]
    D2, D = diff * diff, np.abs(diff)
    bounds = [LOG_LENGTH_BOUNDS] * d + [LOG_SIGNAL_BOUNDS, LOG_NOISE_BOUNDS, LOG_SIGNAL_BOUNDS]
    starts = [
        np.r_[ard_theta[: d + 2], ard_theta[d] - 2.0],
        np.r_[np.full(d, math.log(0.5)), math.log(0.5), math.log(1e-2), math.log(0.5)],
    ]
    maxiter = maxiter or (80 if n < 100 else 30)
    return _best_of(_neg_log_posterior_additive, starts, (D2, D, y, prior), bounds, maxiter)


def _robust_cholesky(K: np.ndarray, diagonal: float) -> np.ndarray:
    """Cholesky factor of ``K + diagonal * I``, adding jitter if repeated points make it singular."""
    from scipy.linalg import cholesky

    for extra in (0.0, 1e-6, 1e-4, 1e-2):
        try:
            return cholesky(K + (diagonal + extra) * np.eye(len(K)), lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


def _feature_mask(onehot: np.ndarray | None, features: ArcFeatures | None) -> np.ndarray | None:
    """The one-hot column mask over the kernel's input columns."""
    return onehot if onehot is None or features is None else features.columns(onehot)


def _same_category(A: np.ndarray, B: np.ndarray, onehot: np.ndarray | None) -> np.ndarray | None:
    """How many categorical parameters rows of ``A`` and ``B`` share (None without any)."""
    if onehot is None or not onehot.any():
        return None
    return A[:, onehot] @ B[:, onehot].T


class GaussianProcess:
    """A GP posterior for fixed hyperparameters; ``condition`` adds (fantasy) data.

    ``onehot`` marks the one-hot columns of categorical parameters; with it (and a
    ``theta`` one longer) the kernel adds a per-category offset (module docstring).
    ``features`` (a conditional space) maps unit-cube rows to the kernel's inputs.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        theta: np.ndarray,
        onehot: np.ndarray | None = None,
        features: ArcFeatures | None = None,
        additive: bool = False,
    ) -> None:
        from scipy.linalg import cho_solve

        d = X.shape[1]
        if additive and ((onehot is not None and onehot.any()) or features is not None):
            raise ValueError("the additive kernel takes neither categorical columns nor conditional features")
        self.X, self.y, self.theta, self.additive = X, y, theta, additive
        self.onehot = onehot if onehot is not None and onehot.any() else None
        self.features = features
        self.lengths = np.exp(theta[:d])
        self.signal, self.noise = math.exp(theta[d]), math.exp(theta[d + 1])
        self.offset = math.exp(theta[d + 2]) if self.onehot is not None else 0.0
        self.additive_var = math.exp(theta[d + 2]) if additive else 0.0
        self._lengths = self.lengths if features is None else features.lengths(self.lengths)
        self._onehot = _feature_mask(self.onehot, features)
        self.F = self._embed(X)
        K = self._kernel(self.F, self.F)
        L = _robust_cholesky(K, self.noise + JITTER)
        self.alpha = cho_solve((L, True), y, check_finite=False)
        self.K_inv = cho_solve((L, True), np.eye(len(y)), check_finite=False)

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        y: np.ndarray,
        rng: np.random.Generator,
        restarts: int = 2,
        maxiter: int | None = None,
        onehot: np.ndarray | None = None,
        features: ArcFeatures | None = None,
        length_mode: float = Prior.length_mode,
        additive: bool = False,
    ) -> GaussianProcess:
        """The MAP fit; with ``additive`` (and a space of two or more numeric columns, no
        categorical or conditional one, at most ``ADDITIVE_MAX_POINTS`` points) the additive
        kernel is fitted beside the ARD one and the fit with the higher posterior density kept
        (module docstring)."""
        theta, value = fit_map(X, y, rng, restarts, maxiter, onehot, features, length_mode)
        plain = (onehot is None or not onehot.any()) and features is None
        if additive and plain and X.shape[1] >= 2 and 2 <= len(X) <= ADDITIVE_MAX_POINTS:
            theta_add, value_add = fit_additive(X, y, theta, maxiter, length_mode)
            if value_add < value:
                return cls(X, y, theta_add, additive=True)
        return cls(X, y, theta, onehot, features)

    def _embed(self, A: np.ndarray) -> np.ndarray:
        return A if self.features is None else self.features(A)

    def _kernel(self, FA: np.ndarray, FB: np.ndarray) -> np.ndarray:
        K = self.signal * matern52(np.sqrt(scaled_sqdist(FA, FB, self._lengths)))
        if self.additive:
            return K + self.additive_var * additive_matern(FA, FB, self.lengths)
        same = _same_category(FA, FB, self._onehot)
        return K if same is None else K + self.offset * same

    def kernel(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        """Prior covariance between the rows of ``A`` and ``B``."""
        return self._kernel(self._embed(A), self._embed(B))

    def cross(self, A: np.ndarray) -> np.ndarray:
        """Prior covariance between the rows of ``A`` and the data (``kernel(A, X)``)."""
        return self._kernel(self._embed(A), self.F)

    def prior_var(self, A: np.ndarray) -> np.ndarray:
        """Prior variance at the rows of ``A`` (the kernel's diagonal)."""
        return self._prior_var(self._embed(A))

    def _prior_var(self, F: np.ndarray) -> np.ndarray:
        if self.onehot is None:
            return np.full(len(F), self.signal + self.additive_var)
        return self.signal + self.offset * (F[:, self._onehot] ** 2).sum(1)

    def moments_prior(self, A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``cross(A)`` and ``prior_var(A)`` at once (the rows embedded once)."""
        F = self._embed(A)
        return self._kernel(F, self.F), self._prior_var(F)

    def condition(self, X_new: np.ndarray, y_new: np.ndarray) -> GaussianProcess:
        """The posterior with more observations, keeping the hyperparameters."""
        return GaussianProcess(
            np.vstack([self.X, X_new]), np.r_[self.y, y_new], self.theta, self.onehot, self.features, self.additive
        )

    def predict(self, Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function at ``Xs``."""
        Ks, prior = self.moments_prior(Xs)
        mean = Ks @ self.alpha
        var = prior - np.einsum("ij,ij->i", Ks @ self.K_inv, Ks)
        return mean, np.sqrt(np.maximum(var, 1e-12))


class PoolPosterior:
    """Posterior moments at a fixed candidate set, updated in O(m n) per kriging-believer fantasy.

    A fantasy observed at its own predicted mean leaves the posterior mean unchanged
    everywhere and lowers the variance by a rank-one term, so a batch of ``k`` points
    costs one full prediction of the pool instead of ``k``.
    """

    def __init__(self, model: GaussianProcess, C: np.ndarray) -> None:
        self.C = C
        self.K, prior = model.moments_prior(C)
        self.mean = self.K @ model.alpha
        self.var = np.maximum(prior - np.einsum("ij,ij->i", self.K @ model.K_inv, self.K), 1e-12)

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.var)

    def add_fantasy(self, model: GaussianProcess, x: np.ndarray) -> None:
        """Account for a fantasy at ``x`` added to ``model`` (the posterior *before* it)."""
        kx = model.cross(x[None])[0]
        v = model.K_inv @ kx
        k_pool = model.kernel(self.C, x[None])[:, 0]
        cov = k_pool - self.K @ v
        total = max(float(model.prior_var(x[None])[0]) - float(kx @ v), 0.0) + model.noise + JITTER
        self.var = np.maximum(self.var - cov * cov / total, 1e-12)
        self.K = np.hstack([self.K, k_pool[:, None]])

    def keep(self, mask: np.ndarray) -> None:
        """Drop the candidates outside ``mask``."""
        self.C, self.K, self.mean, self.var = self.C[mask], self.K[mask], self.mean[mask], self.var[mask]
