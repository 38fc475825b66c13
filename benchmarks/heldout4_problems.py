"""A fourth held-out set (opt-23): kinds of problem in none of the earlier sets.

Earlier sets (Bayesmark's, synthetic, broad, broad_holdout, fresh, heldout3, small_budget,
high_dim, hetero_noise, conditional, newkinds, flags, diverging) already cover separable
multimodal functions (Schwefel among them), crashes as a deterministic NaN region, wide int
lattices, Gaussian and heteroscedastic noise, ill-conditioned valleys and diagonal ridges,
log scales, axis-aligned sparse problems on linear floats, categoricals of up to 12 levels,
plateaus (step and quantised functions), needles beside decoys, constraints, wrapping angles,
small int ranges, flags, cliffs; and scikit-learn on breast cancer, digits, iris, wine,
diabetes, friedman1 and linnerud with kNN, SVM/SVR, trees, forests, boosting (HistGB among
them), MLP, lasso/linear, KernelRidge, extra trees and SGD. None of this set's is among them:

* ``svc5-moons-max``: **a maximize goal** and a pipeline with **a categorical preprocessor**:
  scaler (none, standard, min-max, robust, quantile) then SVC (C, gamma log, class weight) on
  ``make_moons``, 3-fold accuracy, *maximized* (hyperstep gets ``goal="maximize"`` and the
  accuracy; the anchors minimize its negation; scored on the negation).
* ``poly3-circles``: an **int preprocessor**: ``PolynomialFeatures(degree 1-6)``, scaling, then
  logistic regression (C log, l1 or l2) on ``make_circles``, 3-fold log-loss.
* ``spline4-friedman3``: ``SplineTransformer`` (knots 3-30 as a log int, degree 1-5, knot
  placement uniform or quantile) then ridge (alpha log) on ``make_friedman3``, 3-fold MSE.
* ``flaky6-hartmann``: **stochastic failures**: Hartmann-6 whose evaluation fails (NaN) at random,
  5 % of the time everywhere and 40 % in a ball of radius 0.3 whose edge passes just outside the
  optimum: the same configuration may fail once and succeed the next time.
* ``outlier5-ellipsoid``: **heavy-tailed noise**: a rotated ellipsoid-5 plus Student-t noise with
  1.5 degrees of freedom (scale 0.05): rare huge spikes in both directions (scored as the noisy
  problems: the true loss at a method's best noisy observation).
* ``xor4-quadrants``: **interaction without a marginal effect**: a loss ruled by the sign of
  ``x0 * x1`` whose two good quadrants have different optima in ``x2, x3``; neither ``x0`` nor
  ``x1`` alone moves the average loss.
* ``cat40-levels``: **one categorical of 40 levels** (no earlier set has more than 12) whose
  levels fall in four families that move the optimum of two floats; three levels are good.
* ``sparse12-log``: **sparse on log scales**: 8 log floats over 6 decades and 4 log ints over
  1-10,000; only a log float and a log int matter, on a diagonal in their logs.
* ``jump5-piecewise``: **jump discontinuities with slopes** (not plateaus): a 5-d quadratic plus
  0.6 for each of five random hyperplanes on the wrong side of; the optimum is 0.02-0.12 from
  each of its cell's walls.
* ``trap4-deceptive``: **a deceptive trap** in 4 continuous dimensions: a broad bowl (depth 1)
  whose slope points away from a narrow global basin (a Gaussian of depth 1.6 and sd 0.25 in a range
  of 2 per dimension) near the opposite corner, where the bowl has flattened out.
* ``exp4-perplexity``: **a loss over many orders of magnitude, smooth**: ``exp`` of a rotated
  quadratic (like a perplexity), from 1 at the optimum to about 1e9 at the far corners.

Pre-registered in ``results/o23_heldout4_prereg.md`` (committed before any run).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _rotation, _space, _vector, hartmann6

GROUPS = {
    "sklearn": ["svc5-moons-max", "poly3-circles", "spline4-friedman3"],
    "noise-failure": ["flaky6-hartmann", "outlier5-ellipsoid"],
    "structure": ["xor4-quadrants", "cat40-levels", "sparse12-log", "jump5-piecewise", "trap4-deceptive"],
    "scale": ["exp4-perplexity"],
}
MAXIMIZE = ("svc5-moons-max",)
"""Problems whose goal is to maximize: hyperstep is given the negated loss with ``goal="maximize"``."""


@dataclass(frozen=True)
class Stochastic(Problem):
    """A problem whose evaluation draws from the run's generator (``draw(rng, params, value)``):
    a random failure (NaN) or heavy-tailed noise. ``noise`` > 0 marks it scored as a noisy problem."""

    draw: Callable[[np.random.Generator, Params, float], float] = lambda rng, p, v: v

    def noisy(self, rng: np.random.Generator) -> Callable[[Params], float]:
        return lambda params: self.draw(rng, params, self.f(params))


def _cv(model: object, x: np.ndarray, y: np.ndarray, scoring: str, stratified: bool) -> float:
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    folds = (StratifiedKFold if stratified else KFold)(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(np.mean(cross_val_score(model, x, y, cv=folds, scoring=scoring)))


@cache
def _moons() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=300, noise=0.3, random_state=2301)
    return x * np.array([40.0, 0.05]), y  # features on very different scales: the scaler matters


@cache
def _circles() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_circles

    return make_circles(n_samples=300, noise=0.12, factor=0.6, random_state=2302)


@cache
def _friedman3() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_friedman3

    return make_friedman3(n_samples=300, noise=0.05, random_state=2303)


def sklearn_problems() -> list[Problem]:
    def svc(p: Params) -> float:
        from sklearn import preprocessing
        from sklearn.pipeline import make_pipeline
        from sklearn.svm import SVC

        scalers: dict[str, Any] = {
            "none": "passthrough",
            "standard": preprocessing.StandardScaler(),
            "minmax": preprocessing.MinMaxScaler(),
            "robust": preprocessing.RobustScaler(),
            "quantile": preprocessing.QuantileTransformer(n_quantiles=100),
        }
        weight = None if p["class_weight"] == "none" else "balanced"
        model = make_pipeline(scalers[p["scaler"]], SVC(C=p["C"], gamma=p["gamma"], class_weight=weight))
        return -_cv(model, *_moons(), "accuracy", True)  # a loss; hyperstep maximizes the accuracy

    def poly(p: Params) -> float:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import PolynomialFeatures, StandardScaler

        model = make_pipeline(
            PolynomialFeatures(p["degree"]),
            StandardScaler(),
            LogisticRegression(C=p["C"], penalty=p["penalty"], solver="liblinear", max_iter=200),
        )
        return -_cv(model, *_circles(), "neg_log_loss", True)

    def spline(p: Params) -> float:
        from sklearn.linear_model import Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import SplineTransformer

        x, y = _friedman3()
        transformer = SplineTransformer(n_knots=p["n_knots"], degree=p["degree"], knots=p["knots"])
        return -_cv(make_pipeline(transformer, Ridge(alpha=p["alpha"])), x, y, "neg_mean_squared_error", False)

    svc_space = _space(
        [{"name": "scaler", "type": "categorical", "choices": ["none", "standard", "minmax", "robust", "quantile"]}],
        _floats(["C"], 1e-3, 1e3, "log"),
        _floats(["gamma"], 1e-4, 1e2, "log"),
        [{"name": "class_weight", "type": "categorical", "choices": ["none", "balanced"]}],
    )
    poly_space = _space(
        _ints(["degree"], 1, 6),
        _floats(["C"], 1e-4, 1e4, "log"),
        [{"name": "penalty", "type": "categorical", "choices": ["l1", "l2"]}],
    )
    spline_space = _space(
        _ints(["n_knots"], 3, 30, "log"),
        _ints(["degree"], 1, 5),
        [{"name": "knots", "type": "categorical", "choices": ["uniform", "quantile"]}],
        _floats(["alpha"], 1e-6, 1e2, "log"),
    )
    return [
        Problem("svc5-moons-max", "sklearn", svc_space, svc),
        Problem("poly3-circles", "sklearn", poly_space, poly),
        Problem("spline4-friedman3", "sklearn", spline_space, spline),
    ]


def flaky() -> Problem:
    names = _names("x", 6)
    optimum = np.array([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573])
    centre = optimum + np.array([0.15, -0.1, 0.1, 0.1, -0.15, 0.1])

    def f(p: Params) -> float:
        return hartmann6(_vector(p, names))

    def draw(rng: np.random.Generator, p: Params, value: float) -> float:
        inside = float(np.linalg.norm(_vector(p, names) - centre)) < 0.3
        return math.nan if rng.random() < (0.4 if inside else 0.05) else value

    return Stochastic("flaky6-hartmann", "flaky", _space(_floats(names, 0.0, 1.0)), f, draw=draw)


def outlier() -> Problem:
    names = _names("x", 5)
    rot = _rotation(5, 2304)
    centre = np.random.default_rng(2305).uniform(-0.5, 0.5, 5)
    weights = np.geomspace(1.0, 0.01, 5)

    def f(p: Params) -> float:
        z = rot @ (_vector(p, names) - centre)
        return float(np.sum(weights * z * z))

    def draw(rng: np.random.Generator, p: Params, value: float) -> float:
        return value + 0.05 * float(rng.standard_t(1.5))

    space = _space(_floats(names, -1.0, 1.0))
    return Stochastic("outlier5-ellipsoid", "outlier", space, f, noise=0.05, draw=draw)


def xor() -> Problem:
    def f(p: Params) -> float:
        s = math.tanh(4.0 * p["x0"]) * math.tanh(4.0 * p["x1"])  # -1 in the (+, -) and (-, +) quadrants
        rest = np.array([p["x2"], p["x3"]])
        good = np.array([0.5, -0.3]) if p["x0"] > 0 else np.array([-0.6, 0.45])
        depth = 0.0 if p["x0"] > 0 else 0.15
        return float(1.0 + s + np.sum((rest - good) ** 2) + depth)

    return Problem("xor4-quadrants", "xor", _space(_floats(_names("x", 4), -1.0, 1.0)), f)


def cat40() -> Problem:
    levels = [f"m{i:02d}" for i in range(40)]
    rng = np.random.default_rng(2306)
    offset = rng.uniform(0.6, 1.6, 40)
    offset[[7, 23, 31]] = [0.0, 0.1, 0.2]
    family = rng.integers(0, 4, 40)
    family[[7, 23, 31]] = [2, 0, 3]
    optima = rng.uniform(-0.7, 0.7, (4, 2))

    def f(p: Params) -> float:
        i = levels.index(p["model"])
        z = np.array([p["u"], p["v"]]) - optima[family[i]]
        return float(offset[i] + 2.0 * np.sum(z * z))

    space = _space([{"name": "model", "type": "categorical", "choices": levels}], _floats(["u", "v"], -1.0, 1.0))
    return Problem("cat40-levels", "many-levels", space, f)


def sparse_log() -> Problem:
    floats, ints = _names("r", 8), _names("k", 4)

    def f(p: Params) -> float:
        a, b = math.log10(p["r3"]) + 2.7, math.log10(p["k2"]) - 2.5  # optimum r3 = 10^-2.7, k2 ~ 316
        return (a - b) ** 2 + 0.1 * (a + b) ** 2  # a ridge along the diagonal of their logs

    space = _space(_floats(floats, 1e-6, 1.0, "log"), _ints(ints, 1, 10_000, "log"))
    return Problem("sparse12-log", "sparse-log", space, f)


def jump() -> Problem:
    names = _names("x", 5)
    rng = np.random.default_rng(2307)
    centre = rng.uniform(-0.5, 0.5, 5)
    normals = rng.normal(size=(5, 5))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    margins = rng.uniform(0.02, 0.12, 5)  # the optimum is inside its cell, 0.02-0.12 from each wall

    def f(p: Params) -> float:
        x = _vector(p, names)
        wrong = (normals @ (x - centre)) < -margins
        return float(np.sum((x - centre) ** 2) + 0.6 * np.sum(wrong))

    return Problem("jump5-piecewise", "jump", _space(_floats(names, -1.0, 1.0)), f)


def trap() -> Problem:
    names = _names("x", 4)
    bowl = np.array([-0.6, -0.5, -0.7, -0.55])
    needle = np.array([0.78, 0.7, 0.82, 0.74])

    def f(p: Params) -> float:
        x = _vector(p, names)
        broad = 1.0 - math.exp(-float(np.sum((x - bowl) ** 2)) / 2.0)  # 0 at the bowl, towards 1 far from it
        narrow = 1.6 * math.exp(-float(np.sum((x - needle) ** 2)) / (2 * 0.25**2))
        return broad - narrow

    return Problem("trap4-deceptive", "trap", _space(_floats(names, -1.0, 1.0)), f)


def perplexity() -> Problem:
    names = _names("x", 4)
    rot = _rotation(4, 2308)
    centre = np.random.default_rng(2309).uniform(-0.4, 0.4, 4)

    def f(p: Params) -> float:
        z = rot @ (_vector(p, names) - centre)
        return math.exp(float(np.sum(np.array([3.0, 2.0, 1.0, 0.5]) * z * z)))

    return Problem("exp4-perplexity", "exp-scale", _space(_floats(names, -1.0, 1.0)), f)


def problems() -> dict[str, Problem]:
    """Every problem of ``GROUPS`` by name."""
    every = [*sklearn_problems(), flaky(), outlier(), xor(), cat40(), sparse_log(), jump(), trap(), perplexity()]
    return {p.name: p for p in every}
