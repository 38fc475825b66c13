"""A sixth held-out set (opt-27): kinds of problem in none of the earlier sets.

Earlier sets (Bayesmark's, synthetic, broad, broad_holdout, fresh, heldout3, heldout4, heldout5,
small_budget, high_dim, hetero_noise, conditional, newkinds, flags, diverging) already cover separable
and rotated multimodal functions, rough and quantised ones, jumps, corners and edges, needles beside
decoys and deceptive traps, NaN regions that are connected (floats; an int and a categorical past a
cap), random failures, Gaussian, heteroscedastic and Student-t noise, categoricals of up to 40 levels
(pairwise, three-way, parity, xor, levels on different scales, optima moving with a level), ordered
numbers written as categoricals in their order, wide int lattices, log ints, 10 trials in 10-12 d, a
maximize goal; and scikit-learn's supervised learners (kNN, SVM, trees, forests, boosting, MLP, linear
models, KernelRidge, LDA / QDA / naive Bayes, Nystroem, Huber, polynomial and spline features) scored by
shuffled K-fold CV on i.i.d. rows. New here:

* ``gmm4-blobs``: **unsupervised model selection**: a GaussianMixture's components (int 1-24),
  covariance type, log ``reg_covar`` and init, scored by BIC per sample on anisotropic blobs; no set
  tuned an unsupervised model or a criterion that penalises size.
* ``threshold4-imbalanced``: **a decision threshold tuned with the model on imbalanced classes**:
  logistic regression (log C, penalty) with a log class weight and a probability threshold, on 7 %
  positives, scored by a cost (a missed positive costs 5, a false alarm 1) of out-of-fold
  predictions; the best threshold moves with the class weight.
* ``lags4-series``: **time-ordered data**: ridge on a seasonal autoregressive series with the lag count
  (int 1-72), Fourier terms (int 0-8), the training window (int 48-480) and log alpha, scored by
  forward-chaining splits (``TimeSeriesSplit``), never shuffled.
* ``heads6-divisible``: **an integer-heavy space with scattered crashes**: five ints (layers 1-48,
  width in units of 64 (1-32), heads as a log int 1-32, log2 of the batch 3-10, warmup 0-4000) and a
  log learning rate; a width that the heads do not divide fails (NaN, every time; about 42 % of
  uniform draws): a lattice of holes, not a connected region.
* ``ordinal7-names``: **an ordinal categorical whose order is only in its names**: seven sizes
  listed out of order (``medium, xs, xl, small, xxl, large, tiny``), the loss smooth in the size's rank,
  the best size moving with a float.
* ``minimax5-tasks``: **a worst case over tasks**: the maximum of four rotated quadratics with
  different optima; the minimum is a kink where several tie.
* ``misscale4-linear``: **a parameter declared on the wrong scale**: two floats declared linear
  ([0, 1] and [0, 1000]) whose loss is smooth in their logarithm, optima near 3e-4 and 0.5 (not on
  the bound); two ordinary floats.
* ``binom5-acc``: **binomial noise**: an accuracy measured on 60 validation rows, so the seen
  loss is a count (1 - k / 60, k binomial with the true accuracy): discrete, ties, its variance
  shrinking near a perfect score; scored by the true loss at a method's best seen one.

Every scikit-learn value is deterministic for a configuration (fixed folds, data and ``random_state``).
Pre-registered in ``results/o27_heldout6_prereg.md`` (committed before any run).
"""

from __future__ import annotations

import math
import warnings
from functools import cache

import numpy as np

from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _rotation, _space, _vector
from benchmarks.heldout4_problems import Stochastic

GROUPS = {
    "sklearn": ["gmm4-blobs", "threshold4-imbalanced", "lags4-series"],
    "int-ordinal": ["heads6-divisible", "ordinal7-names"],
    "shape-noise": ["minimax5-tasks", "misscale4-linear", "binom5-acc"],
}
MAXIMIZE: tuple[str, ...] = ()


@cache
def _blobs() -> np.ndarray:
    from sklearn.datasets import make_blobs

    x, _ = make_blobs(n_samples=400, n_features=4, centers=6, cluster_std=0.8, random_state=2701)
    return x @ np.random.default_rng(2702).normal(size=(4, 4))  # anisotropic clusters: full covariances fit


def gmm(p: Params) -> float:
    from sklearn.mixture import GaussianMixture

    model = GaussianMixture(
        n_components=p["n_components"],
        covariance_type=p["covariance_type"],
        reg_covar=p["reg_covar"],
        init_params=p["init_params"],
        random_state=0,
    )
    x = _blobs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(model.fit(x).bic(x) / len(x))


@cache
def _imbalanced() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=600, n_features=12, n_informative=5, weights=[0.93], flip_y=0.02, random_state=2703
    )


def threshold(p: Params) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    learner = LogisticRegression(
        C=p["C"],
        l1_ratio=1.0 if p["penalty"] == "l1" else 0.0,
        solver="liblinear",
        class_weight={0: 1.0, 1: p["weight"]},
    )
    x, y = _imbalanced()
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = cross_val_predict(make_pipeline(StandardScaler(), learner), x, y, cv=folds, method="predict_proba")
    said = proba[:, 1] >= p["threshold"]
    return float((5.0 * np.sum(~said & (y == 1)) + np.sum(said & (y == 0))) / len(y))


@cache
def _series() -> np.ndarray:
    rng = np.random.default_rng(2704)
    y = np.zeros(720)
    for t in range(720):
        season = 1.5 * math.sin(2.0 * math.pi * t / 24.0) + 0.6 * math.cos(4.0 * math.pi * t / 24.0)
        ar = 0.5 * y[t - 1] - 0.25 * y[t - 2] + 0.2 * y[t - 24] if t >= 24 else 0.0
        y[t] = season + ar + 0.002 * t + rng.normal(0.0, 0.5)
    return y


def lags(p: Params) -> float:
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import TimeSeriesSplit

    y, start = _series(), 72  # every lag count leaves the same rows to predict
    t = np.arange(start, len(y))
    columns = [y[t - k] for k in range(1, p["lags"] + 1)]
    for j in range(1, p["fourier"] + 1):
        columns += [np.sin(2.0 * math.pi * j * t / 24.0), np.cos(2.0 * math.pi * j * t / 24.0)]
    x = np.column_stack([t / len(y), *columns])
    target = y[start:]
    errors = []
    for fit, held in TimeSeriesSplit(n_splits=4, test_size=96).split(x):
        fit = fit[-p["window"] :]
        model = Ridge(alpha=p["alpha"]).fit(x[fit], target[fit])
        errors.append(float(np.mean((model.predict(x[held]) - target[held]) ** 2)))
    return float(np.mean(errors))


def sklearn_problems() -> list[Problem]:
    gmm_space = _space(
        _ints(["n_components"], 1, 24),
        [{"name": "covariance_type", "type": "categorical", "choices": ["full", "tied", "diag", "spherical"]}],
        _floats(["reg_covar"], 1e-6, 1.0, "log"),
        [{"name": "init_params", "type": "categorical", "choices": ["kmeans", "k-means++", "random_from_data"]}],
    )
    threshold_space = _space(
        _floats(["C"], 1e-4, 1e3, "log"),
        [{"name": "penalty", "type": "categorical", "choices": ["l1", "l2"]}],
        _floats(["weight"], 1.0, 50.0, "log"),
        _floats(["threshold"], 0.02, 0.98),
    )
    lags_space = _space(
        _ints(["lags"], 1, 72),
        _ints(["fourier"], 0, 8),
        _ints(["window"], 48, 480),
        _floats(["alpha"], 1e-4, 1e4, "log"),
    )
    return [
        Problem("gmm4-blobs", "sklearn", gmm_space, gmm),
        Problem("threshold4-imbalanced", "sklearn", threshold_space, threshold),
        Problem("lags4-series", "sklearn", lags_space, lags),
    ]


def heads() -> Problem:
    def f(p: Params) -> float:
        width, h = 64 * p["units"], p["heads"]
        if width % h:  # the heads must divide the width: a lattice of crashes
            return math.nan
        layers, lb = p["layers"], p["log2_batch"]
        size = math.log2(width) + 0.5 * math.log2(layers)  # capacity; the best mix is about 9.5 / 8.5
        loss = 0.08 * (size - 12.0) ** 2 + 0.05 * (math.log2(width) - 9.6) ** 2
        loss += 0.3 * (math.log2(width / h) - 6.0) ** 2 / 4.0  # a head dimension of about 64
        lr_best = -3.6 + 0.35 * (lb - 7.0) - 0.02 * (layers - 12)  # larger batches, shallower nets: larger lr
        loss += 0.2 * (math.log10(p["lr"]) - lr_best) ** 2
        loss += 0.15 * (math.log10(1.0 + p["warmup"]) - (2.2 + 0.08 * layers)) ** 2
        return float(loss + 0.02 * abs(lb - 8.0))

    space = _space(
        _ints(["layers"], 1, 48),
        _ints(["units"], 1, 32),
        _ints(["heads"], 1, 32, "log"),
        _ints(["log2_batch"], 3, 10),
        _ints(["warmup"], 0, 4000),
        _floats(["lr"], 1e-6, 1e-1, "log"),
    )
    return Problem("heads6-divisible", "int-crash-lattice", space, f)


def ordinal() -> Problem:
    listed = ["medium", "xs", "xl", "small", "xxl", "large", "tiny"]
    rank = {n: i for i, n in enumerate(["tiny", "xs", "small", "medium", "large", "xl", "xxl"])}
    centre = np.array([0.35, -0.4])

    def f(p: Params) -> float:
        best = 3.2 + 2.5 * p["x0"]  # the best size's rank moves with x0 (0.7 to 5.7 over [-1, 1])
        z = np.array([p["x0"], p["x1"]]) - centre
        return float(0.12 * (rank[p["size"]] - best) ** 2 + 0.8 * np.sum(z * z) + 0.1 * rank[p["size"]] / 6.0)

    cat = [{"name": "size", "type": "categorical", "choices": listed}]
    return Problem("ordinal7-names", "ordinal-names", _space(cat, _floats(["x0", "x1"], -1.0, 1.0)), f)


def minimax() -> Problem:
    names = _names("x", 5)
    rng = np.random.default_rng(2705)
    centres = rng.uniform(0.2, 0.8, (4, 5))
    rotations = [_rotation(5, 2706 + k) for k in range(4)]
    weights = [np.geomspace(1.0, 0.1, 5) * s for s in (1.0, 1.5, 0.7, 1.2)]
    offsets = [0.0, 0.05, 0.1, 0.02]

    def f(p: Params) -> float:
        x = _vector(p, names)
        tasks = [o + float(np.sum(w * (r @ (x - c)) ** 2)) for o, w, r, c in zip(offsets, weights, rotations, centres)]
        return max(tasks)

    return Problem("minimax5-tasks", "worst-case", _space(_floats(names, 0.0, 1.0)), f)


def misscale() -> Problem:
    def f(p: Params) -> float:
        a = (math.log10(p["decay"] + 1e-7) + 3.5) ** 2  # best about 3e-4 on a linear [0, 1]
        b = (math.log10(p["clip"] + 1e-3) - math.log10(0.5)) ** 2  # best about 0.5 on a linear [0, 1000]
        c = (p["x0"] - 0.3) ** 2 + 2.0 * (p["x1"] + 0.2) ** 2
        return float(0.3 * a + 0.2 * b + c)

    space = _space(_floats(["decay"], 0.0, 1.0), _floats(["clip"], 0.0, 1000.0), _floats(["x0", "x1"], -1.0, 1.0))
    return Problem("misscale4-linear", "mis-scaled", space, f)


def binomial() -> Problem:
    names = _names("x", 5)
    rot = _rotation(5, 2707)
    centre = np.random.default_rng(2708).uniform(-0.5, 0.5, 5)
    weights = np.geomspace(1.0, 0.15, 5)

    def f(p: Params) -> float:
        z = rot @ (_vector(p, names) - centre)
        return 1.0 - (0.5 + 0.47 * math.exp(-float(np.sum(weights * z * z))))  # the true error, 0.03 at best

    def draw(rng: np.random.Generator, p: Params, value: float) -> float:
        return 1.0 - float(rng.binomial(60, 1.0 - value)) / 60.0

    return Stochastic("binom5-acc", "binomial", _space(_floats(names, -1.0, 1.0)), f, noise=0.03, draw=draw)


def problems() -> dict[str, Problem]:
    """Every problem of ``GROUPS`` by name, in the registered order."""
    every = [*sklearn_problems(), heads(), ordinal(), minimax(), misscale(), binomial()]
    return {p.name: p for p in every}
