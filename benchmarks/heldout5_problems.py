"""A fifth held-out set (opt-25): kinds of problem in none of the earlier sets.

Earlier sets (Bayesmark's, synthetic, broad, broad_holdout, fresh, heldout3, heldout4, small_budget,
high_dim, hetero_noise, conditional, newkinds, flags, diverging) already cover *separable*
multimodal functions (Rastrigin, Schwefel, Styblinski-Tang, Michalewicz shifted or mirrored, never
rotated), plateaus and quantised functions, jumps, corners and edges, needles, deterministic NaN
regions over floats, random failures, constraints measured as metrics, categoricals of up to 40
levels with pairwise, three-way-bonus and xor-of-signs interactions, a maximize goal without
failures, losses over nine orders of magnitude *within* one smooth surface; and scikit-learn's kNN,
SVM/SVR/SVC, trees, forests, (Hist)GB, MLP, lasso/ridge/logistic/SGD, KernelRidge, extra trees,
polynomial and spline features on breast cancer, digits, iris, wine, diabetes, linnerud, friedman1,
friedman3, moons and circles. New here:

* ``rastrigin6-rot``: **non-separable multimodal**: Rastrigin-6 rotated (and shifted), so its
  grid of local minima runs along no axis.
* ``weierstrass4-rough``: **rough everywhere**: a bowl plus a Weierstrass sum (continuous,
  nowhere differentiable; 11 octaves), its minimum at the bowl's centre.
* ``parity3x5-cats``: **a pure three-way interaction of categoricals**: three of 5 levels, the loss
  ruled by ``(a + b + c) mod 5`` (every level's and every pair's mean is the same: no marginal and
  no pairwise effect; 25 of 125 combinations best), each residue moving two floats' optimum.
* ``oom5-max``: **a maximize goal with a hard crash zone over an int and a categorical**: an
  accuracy-like score of learning rate, batch (log int), width (categorical of powers of two),
  depth and dropout; configurations past a memory cap on ``log2 batch + log2 width + depth / 2``
  crash (NaN, every time), and the best feasible one sits on the cap.
* ``scales3-levels``: **a categorical whose levels' losses are on scales 1,000-fold apart**: one
  level's losses are all above 500, one's are about 0.05-2, the best level's are about 0.01-60
  (worse than the second's almost everywhere but in a small basin).
* ``family3-wine``: **a model choice whose children differ, flattened** (each model's own
  parameter is inert for the others): LDA (shrinkage), QDA (reg_param), Gaussian naive Bayes
  (log var_smoothing) on wine, 3-fold log-loss. Earlier conditional spaces were measured only
  against hyperstep's own variants and random search; no set used these three learners.
* ``nystroem4-diabetes``: **a randomized kernel approximation**: Nystroem (kernel rbf or laplacian,
  log gamma, log int components, fixed ``random_state``) then ridge (log alpha) on diabetes (targets
  / 100), 3-fold MSE; no set used a kernel approximation.
* ``huber4-friedman2``: **a robust loss against outliers in the targets**: polynomial features
  (degree 1-3) then HuberRegressor (epsilon, log alpha) on ``make_friedman2`` with 10 % of the
  targets shifted far away, 3-fold mean absolute error; neither the dataset nor the learner was used.

Every scikit-learn value is deterministic for a configuration (fixed folds and seeds).
Pre-registered in ``results/o25_heldout5_prereg.md`` (committed before any run).
"""

from __future__ import annotations

import math
import warnings
from functools import cache
from typing import Any

import numpy as np

from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _rotation, _space, _vector, rastrigin

GROUPS = {
    "sklearn": ["family3-wine", "nystroem4-diabetes", "huber4-friedman2"],
    "rough": ["rastrigin6-rot", "weierstrass4-rough"],
    "mixed": ["parity3x5-cats", "oom5-max", "scales3-levels"],
}
MAXIMIZE = ("oom5-max",)
"""Problems whose goal is to maximize: hyperstep is given the negated loss with ``goal="maximize"``."""


def _cv(model: object, x: np.ndarray, y: np.ndarray, scoring: str, stratified: bool) -> float:
    """The mean 3-fold cross-validated loss (the negated score) over folds fixed by ``random_state=0``."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    folds = (StratifiedKFold if stratified else KFold)(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return -float(np.mean(cross_val_score(model, x, y, cv=folds, scoring=scoring)))


@cache
def _wine() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_wine

    return load_wine(return_X_y=True)


@cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    return x, y / 100.0


@cache
def _friedman2() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_friedman2

    x, y = make_friedman2(n_samples=300, noise=20.0, random_state=2501)
    rng = np.random.default_rng(2502)
    far = rng.choice(300, 30, replace=False)
    y = y.copy()
    y[far] += rng.choice([-1.0, 1.0], 30) * rng.uniform(2000.0, 4000.0, 30)
    return x, y


def family(p: Params) -> float:
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    models: dict[str, Any] = {
        "lda": lambda: LinearDiscriminantAnalysis(solver="lsqr", shrinkage=p["shrinkage"]),
        "qda": lambda: QuadraticDiscriminantAnalysis(reg_param=p["reg_param"]),
        "gnb": lambda: GaussianNB(var_smoothing=p["var_smoothing"]),
    }
    return _cv(make_pipeline(StandardScaler(), models[p["model"]]()), *_wine(), "neg_log_loss", True)


def nystroem(p: Params) -> float:
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features = Nystroem(kernel=p["kernel"], gamma=p["gamma"], n_components=p["n_components"], random_state=0)
    model = make_pipeline(StandardScaler(), features, Ridge(alpha=p["alpha"]))
    return _cv(model, *_diabetes(), "neg_mean_squared_error", False)


def huber(p: Params) -> float:
    from sklearn.linear_model import HuberRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    model = make_pipeline(
        StandardScaler(),
        PolynomialFeatures(p["degree"]),
        StandardScaler(),
        HuberRegressor(epsilon=p["epsilon"], alpha=p["alpha"], max_iter=500),
    )
    return _cv(model, *_friedman2(), "neg_mean_absolute_error", False)


def sklearn_problems() -> list[Problem]:
    family_space = _space(
        [{"name": "model", "type": "categorical", "choices": ["lda", "qda", "gnb"]}],
        _floats(["shrinkage", "reg_param"], 0.0, 1.0),
        _floats(["var_smoothing"], 1e-12, 1.0, "log"),
    )
    nystroem_space = _space(
        [{"name": "kernel", "type": "categorical", "choices": ["rbf", "laplacian"]}],
        _floats(["gamma"], 1e-4, 10.0, "log"),
        _ints(["n_components"], 10, 250, "log"),
        _floats(["alpha"], 1e-6, 1e2, "log"),
    )
    huber_space = _space(
        _ints(["degree"], 1, 3),
        _floats(["epsilon"], 1.0, 3.0),
        _floats(["alpha"], 1e-6, 1e2, "log"),
    )
    return [
        Problem("family3-wine", "sklearn", family_space, family),
        Problem("nystroem4-diabetes", "sklearn", nystroem_space, nystroem),
        Problem("huber4-friedman2", "sklearn", huber_space, huber),
    ]


def rastrigin_rotated() -> Problem:
    names = _names("x", 6)
    rot = _rotation(6, 2503)
    shift = np.random.default_rng(2504).uniform(-2.0, 2.0, 6)

    def f(p: Params) -> float:
        return rastrigin(rot @ (_vector(p, names) - shift))

    return Problem("rastrigin6-rot", "rotated-multimodal", _space(_floats(names, -5.12, 5.12)), f)


def weierstrass() -> Problem:
    names = _names("x", 4)
    centre = np.random.default_rng(2505).uniform(-0.5, 0.5, 4)
    octaves = np.arange(11)

    def f(p: Params) -> float:
        z = _vector(p, names) - centre
        waves = 0.5**octaves * (1.0 - np.cos(2.0 * math.pi * 3.0**octaves * z[:, None]))  # 0 at the centre
        return float(np.sum(z * z) + 0.1 * np.sum(waves))

    return Problem("weierstrass4-rough", "rough", _space(_floats(names, -1.0, 1.0)), f)


def parity() -> Problem:
    levels = [f"l{i}" for i in range(5)]
    level = [0.0, 0.55, 0.8, 0.65, 0.9]
    optima = np.random.default_rng(2506).uniform(-0.6, 0.6, (5, 2))

    def f(p: Params) -> float:
        r = sum(levels.index(p[c]) for c in ("a", "b", "c")) % 5
        z = np.array([p["u"], p["v"]]) - optima[r]
        return float(level[r] + 1.5 * np.sum(z * z))

    cats = [{"name": c, "type": "categorical", "choices": levels} for c in ("a", "b", "c")]
    return Problem("parity3x5-cats", "parity", _space(cats, _floats(["u", "v"], -1.0, 1.0)), f)


def oom() -> Problem:
    def f(p: Params) -> float:
        lb, lw, depth = math.log2(p["batch"]), math.log2(p["width"]), p["depth"]
        if lb + lw + 0.5 * depth > 18.0:  # out of memory: crashes every time
            return math.nan
        capacity = 0.12 * (lw - 6.0) / 4.0 + 0.1 * min(depth, 8) / 8.0 + 0.05 * (lb - 3.0) / 7.0
        lr_best = -3.0 + 0.5 * (lb - 5.0) / 2.0  # the best learning rate grows with the batch
        dropout_best = 0.05 + 0.04 * depth
        accuracy = (
            0.7 + capacity - 0.06 * (math.log10(p["lr"]) - lr_best) ** 2 - 0.5 * (p["dropout"] - dropout_best) ** 2
        )
        return -accuracy  # a loss; hyperstep maximizes the accuracy

    space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"),
        _ints(["batch"], 8, 1024, "log"),
        [{"name": "width", "type": "categorical", "choices": [64, 128, 256, 512, 1024]}],
        _ints(["depth"], 1, 12),
        _floats(["dropout"], 0.0, 0.6),
    )
    return Problem("oom5-max", "crash-max", space, f)


def scales() -> Problem:
    centres = np.random.default_rng(2507).uniform(-0.6, 0.6, (3, 3))
    rule = {"sgd": (1000.0, 0.5, 0), "adam": (0.5, 0.1, 1), "lbfgs": (20.0, 0.0005, 2)}
    """Each level's (scale, floor / scale, its optimum's row): the losses are ``scale * (floor + |x - c|^2)``."""

    def f(p: Params) -> float:
        scale, floor, row = rule[p["optimizer"]]
        z = np.array([p["x0"], p["x1"], p["x2"]]) - centres[row]
        return float(scale * (floor + np.sum(z * z)))

    cat = [{"name": "optimizer", "type": "categorical", "choices": list(rule)}]
    return Problem("scales3-levels", "level-scales", _space(cat, _floats(_names("x", 3), -1.0, 1.0)), f)


def problems() -> dict[str, Problem]:
    """Every problem of ``GROUPS`` by name, in the registered order."""
    every = [
        *sklearn_problems(),
        rastrigin_rotated(),
        weierstrass(),
        parity(),
        oom(),
        scales(),
    ]
    return {p.name: p for p in every}
