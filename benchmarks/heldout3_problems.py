"""A third held-out set: capabilities never measured against anchors in the same harness.

What earlier sets measured (broad: multimodal, crash, wide-integer, homoscedastic noise,
valleys, log scales; fresh: sparse, irrelevant, categorical interactions, plateaus,
heteroscedastic noise, a log needle, bounds, 12 and 120 trials, 1 vs 4 at a time, three
scikit-learn tasks; Bayesmark's eight; conditional spaces; several objectives with
constraints) leaves these, measured here for the first time (``benchmarks.heldout3``,
branch bench-14):

* ``constrained``: one objective and one or two black-box constraints ``g <= 0``
  measured with each trial (hyperstep ``constraints`` on the trial's metrics; Optuna
  TPE's ``constraints_func`` on the same values; random search ignores them). The
  unconstrained optimum is infeasible every time, so the best feasible point is on the
  constraint's edge. A run is scored on its feasible trials only: an infeasible one
  counts as a failed evaluation (no progress), as the crash kind's NaN.
* ``batch16``: 64 trials as 4 rounds of 16 asked at once (Optuna TPE: constant liar).
* ``tiny10d``: 10 trials (5 rounds of 2) in 10-12 dimensions.
* ``catbasin``: a narrow basin at one combination of categorical values, beside a broad
  decoy that every other combination shares; the basin's values look mediocre alone.
* ``ordinal``: ordered numeric choices written as categoricals (powers of two, a 1-2-5
  ladder), the way users write them, and a space of eight small integer ranges.
* ``sklearn3``: scikit-learn tasks on data and learners not used before (extra trees on
  wine, log-loss; SGD with elastic net on breast cancer, 1 - ROC AUC).

PRE-REGISTRATION (committed before any method ran on any of these): budgets per kind are
``BUDGETS``; methods hyperstep (bayesian), random, Optuna TPE (multivariate, constant
liar); seeds 0-4 on every kind (5-9 as well if time allows, always consecutive from 0);
HEBO (no constraints in its worker) on seed 0 of the unconstrained synthetic kinds only if
time allows. Scoring: Bayesmark's normalized score per kind (``scoring.score``), the
headline the mean of kinds, as the fresh set. Every suggestion is checked against the
space (``fresh.invalid``). Nothing here changes after the first result but a harness
bug (said so in benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from benchmarks.broad_problems import (
    Params,
    Problem,
    _floats,
    _ints,
    _names,
    _rotation,
    _space,
    _vector,
    branin,
    hartmann6,
    rosenbrock,
)

KINDS = ("constrained", "batch16", "tiny10d", "catbasin", "ordinal", "sklearn3")
BUDGETS = {"batch16": (4, 16), "tiny10d": (5, 2)}
"""(rounds, batch) per kind; every other kind runs 12 rounds of 4 (48 trials)."""


def budget(kind: str) -> tuple[int, int]:
    return BUDGETS.get(kind, (12, 4))


@dataclass(frozen=True)
class ConstrainedProblem(Problem):
    """A problem with constraints ``g(params)[i] <= 0``, measured with each trial."""

    g: Callable[[Params], list[float]] = lambda params: []

    def feasible(self, params: Params) -> bool:
        return all(v <= 0 for v in self.g(params))


def _cat(name: str, choices: list[Any]) -> list[dict[str, Any]]:
    return [{"name": name, "type": "categorical", "choices": choices}]


def constrained() -> list[Problem]:
    """Branin outside a disk, Hartmann-6 under a sum, a training loss under a memory cap, Rosenbrock-4 under two."""
    names6, names4 = _names("x", 6), _names("x", 4)
    train_space = _space(
        _floats(["lr"], 1e-4, 1.0, "log"),
        _ints(["width"], 16, 1024, "log"),
        _ints(["depth"], 1, 12),
        _ints(["batch"], 8, 512, "log"),
        _floats(["dropout"], 0.0, 0.6),
    )

    def train(p: Params) -> float:
        lr_best = -2.5 + 0.4 * math.log10(p["batch"] / 64)
        return float(
            0.3 * (math.log10(p["lr"]) - lr_best) ** 2
            + 0.4 * (math.log2(p["width"]) - 9) ** 2 / 9
            + 0.05 * (p["depth"] - 8) ** 2
            + 0.5 * (p["dropout"] - 0.2) ** 2
        )

    def memory(p: Params) -> list[float]:
        return [math.log2(p["width"]) + math.log2(p["batch"]) + math.log2(p["depth"]) - 14.0]

    return [
        ConstrainedProblem(
            "con-branin-disk",
            "constrained",
            _space(_floats(["x0"], -5.0, 10.0), _floats(["x1"], 0.0, 15.0)),
            lambda p: branin(np.array([p["x0"], p["x1"]])),
            g=lambda p: [(p["x0"] - 2.5) ** 2 + (p["x1"] - 7.5) ** 2 - 20.0],
        ),
        ConstrainedProblem(
            "con-hartmann6-sum",
            "constrained",
            _space(_floats(names6, 0.0, 1.0)),
            lambda p: hartmann6(_vector(p, names6)),
            g=lambda p: [float(np.sum(_vector(p, names6))) - 2.0],
        ),
        ConstrainedProblem("con-train5-memory", "constrained", train_space, train, g=memory),
        ConstrainedProblem(
            "con-rosenbrock4-two",
            "constrained",
            _space(_floats(names4, -2.0, 2.0)),
            lambda p: rosenbrock(_vector(p, names4)),
            g=lambda p: [p["x0"] ** 2 + p["x1"] ** 2 - 1.0, p["x2"] + p["x3"] - 1.0],
        ),
    ]


def griewank(x: np.ndarray) -> float:
    i = np.arange(1, x.size + 1)
    return float(1 + np.sum(x * x) / 4000 - np.prod(np.cos(x / np.sqrt(i))))


def salomon(x: np.ndarray) -> float:
    r = float(np.sqrt(np.sum(x * x)))
    return 1 - math.cos(2 * math.pi * r) + 0.1 * r


def qing(x: np.ndarray) -> float:
    i = np.arange(1, x.size + 1)
    return float(np.sum((x * x - i) ** 2))


def batch16() -> list[Problem]:
    """Griewank-8 and Salomon-6 shifted, Qing-6 (64 optima): 4 rounds of 16."""
    names8, names6 = _names("x", 8), _names("x", 6)
    shift8 = np.random.default_rng(1401).uniform(-4.0, 4.0, 8)
    shift6 = np.random.default_rng(1402).uniform(-2.0, 2.0, 6)
    return [
        Problem(
            "b16-griewank8",
            "batch16",
            _space(_floats(names8, -10.0, 10.0)),
            lambda p: griewank(_vector(p, names8) - shift8),
        ),
        Problem(
            "b16-salomon6",
            "batch16",
            _space(_floats(names6, -5.0, 5.0)),
            lambda p: salomon(_vector(p, names6) - shift6),
        ),
        Problem("b16-qing6", "batch16", _space(_floats(names6, -3.0, 3.0)), lambda p: qing(_vector(p, names6))),
    ]


def tiny10d() -> list[Problem]:
    """Ten trials: a weighted sphere in 12-d, a 10-parameter training loss, an 11-d log-scale ellipsoid."""
    names12, names11 = _names("x", 12), _names("x", 11)
    shift12 = np.random.default_rng(1411).uniform(-3.0, 3.0, 12)
    w12 = np.geomspace(1.0, 0.1, 12)
    centre11 = np.random.default_rng(1412).uniform(-3.0, 1.0, 11)
    w11 = np.geomspace(1.0, 0.01, 11)
    train_space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"),
        _floats(["weight_decay"], 1e-7, 1e-1, "log"),
        _floats(["momentum"], 0.0, 0.99),
        _floats(["dropout"], 0.0, 0.8),
        _floats(["warmup"], 0.0, 0.3),
        _ints(["batch"], 16, 1024, "log"),
        _ints(["width"], 32, 2048, "log"),
        _ints(["depth"], 1, 16),
        _floats(["label_smoothing"], 0.0, 0.3),
        _floats(["grad_clip"], 0.01, 100.0, "log"),
    )

    def train(p: Params) -> float:
        eff = math.log10(p["lr"]) - 0.5 * math.log10(p["batch"] / 128) + 0.5 * (p["momentum"] - 0.9)
        return float(
            0.4 * (eff + 2.8) ** 2
            + 0.05 * (math.log10(p["weight_decay"]) + 4.5) ** 2
            + 0.6 * (p["dropout"] - 0.3) ** 2
            + 0.5 * (p["warmup"] - 0.08) ** 2
            + 0.1 * (math.log2(p["width"]) - 9.5) ** 2 / 9
            + 0.01 * (p["depth"] - 10) ** 2
            + 0.4 * (p["label_smoothing"] - 0.1) ** 2
            + 0.02 * (math.log10(p["grad_clip"]) - 0.3) ** 2
        )

    def log_ellipsoid(p: Params) -> float:
        z = np.log10(_vector(p, names11)) - centre11
        return float(np.sum(w11 * z * z))

    return [
        Problem(
            "t10-sphere12",
            "tiny10d",
            _space(_floats(names12, -5.0, 5.0)),
            lambda p: float(np.sum(w12 * (_vector(p, names12) - shift12) ** 2)),
        ),
        Problem("t10-train10", "tiny10d", train_space, train),
        Problem("t10-logellipsoid11", "tiny10d", _space(_floats(names11, 1e-4, 1e2, "log")), log_ellipsoid),
    ]


def _basin(x: float, y: float, at: tuple[float, float], width: float) -> float:
    return math.exp(-((x - at[0]) ** 2 + (y - at[1]) ** 2) / (2 * width**2))


def catbasin() -> list[Problem]:
    """A narrow basin (depth 1) at one combination: 4 x 4 x 3 levels, 5 booleans and an int, 6 x 6 levels."""
    a, b, c = ["a0", "a1", "a2", "a3"], ["b0", "b1", "b2", "b3"], ["c0", "c1", "c2"]
    off_a, off_b, off_c = [0.0, 0.05, 0.12, 0.03], [0.02, 0.1, 0.0, 0.06], [0.0, 0.04, 0.09]
    three_space = _space(_cat("a", a), _cat("b", b), _cat("c", c), _floats(["x", "y"], 0.0, 1.0))

    def three(p: Params) -> float:
        decoy = 0.5 * ((p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2)
        offsets = off_a[a.index(p["a"])] + off_b[b.index(p["b"])] + off_c[c.index(p["c"])]
        hit = (p["a"], p["b"], p["c"]) == ("a2", "b1", "c2")
        return decoy + offsets - (_basin(p["x"], p["y"], (0.75, 0.2), 0.08) if hit else 0.0)

    flags = _names("f", 5)
    bools_space = _space(*[_cat(f, [True, False]) for f in flags], _ints(["n"], 1, 20), _floats(["z"], 0.0, 1.0))
    key = (True, False, True, True, False)

    def bools(p: Params) -> float:
        decoy = 0.02 * (p["n"] - 5) ** 2 / 25 + (p["z"] - 0.7) ** 2 + 0.05 * sum(bool(p[f]) for f in flags)
        hit = tuple(p[f] for f in flags) == key
        return decoy - (math.exp(-((p["n"] - 13) ** 2) / 2.0) * math.exp(-((p["z"] - 0.35) ** 2) / 0.005) if hit else 0)

    left, right = [f"l{i}" for i in range(6)], [f"m{i}" for i in range(6)]
    off_l, off_m = [0.0, 0.03, 0.05, 0.02, 0.15, 0.04], [0.01, 0.14, 0.0, 0.05, 0.03, 0.06]
    six_space = _space(_cat("l", left), _cat("m", right), _floats(["u", "v"], 0.0, 1.0))

    def six(p: Params) -> float:
        decoy = (p["u"] - 0.5) ** 2 + (p["v"] - 0.5) ** 2
        offsets = off_l[left.index(p["l"])] + off_m[right.index(p["m"])]
        hit = (p["l"], p["m"]) == ("l4", "m1")
        return decoy + offsets - (_basin(p["u"], p["v"], (0.15, 0.85), 0.1) if hit else 0.0)

    return [
        Problem("cb-cat3-float2", "catbasin", three_space, three),
        Problem("cb-bool5-int-float", "catbasin", bools_space, bools),
        Problem("cb-cat6x6-float2", "catbasin", six_space, six),
    ]


def ordinal() -> list[Problem]:
    """Powers of two as categoricals with a log learning rate; six 1-2-5 ladders; eight small integer ranges."""
    train_space = _space(
        _cat("batch", [16, 32, 64, 128, 256, 512, 1024]),
        _cat("width", [32, 64, 128, 256, 512, 1024, 2048]),
        _cat("layers", [1, 2, 3, 4, 6, 8, 12]),
        _floats(["lr"], 1e-5, 1.0, "log"),
    )

    def train(p: Params) -> float:
        eff = math.log10(p["lr"]) - 0.5 * math.log10(p["batch"] / 64)
        return float(
            0.3 * (eff + 2.2) ** 2
            + 0.08 * (math.log2(p["width"]) - 8.4) ** 2
            + 0.1 * (math.log2(p["layers"]) - 2.2) ** 2
            + 0.02 * (math.log2(p["batch"]) - 7) ** 2
        )

    ladder = [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    names6 = _names("k", 6)
    centre6 = np.random.default_rng(1421).uniform(-0.8, 0.8, 6)
    rot6 = _rotation(6, 1422)
    ladder_space = _space(*[_cat(n, ladder) for n in names6])

    def ladders(p: Params) -> float:
        z = rot6 @ (np.log10(_vector(p, names6)) - centre6)
        return float(np.sum(np.geomspace(1.0, 0.2, 6) * z * z))

    names8 = _names("i", 8)
    highs = [4, 5, 6, 4, 7, 5, 3, 6]
    centre8 = np.random.default_rng(1423).uniform(0.2, 0.8, 8) * np.array(highs)
    rot8 = _rotation(8, 1424)
    int_space = _space(*[_ints([n], 0, h) for n, h in zip(names8, highs)])

    def ints8(p: Params) -> float:
        z = rot8 @ (_vector(p, names8) - centre8)
        return float(np.sum(np.geomspace(1.0, 0.1, 8) * z * z))

    return [
        Problem("ord-train4-pow2", "ordinal", train_space, train),
        Problem("ord-ladder6", "ordinal", ladder_space, ladders),
        Problem("ord-int8-small", "ordinal", int_space, ints8),
    ]


@cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    loader = {"wine": datasets.load_wine, "cancer": datasets.load_breast_cancer}[name]
    return loader(return_X_y=True)


def _cv_loss(model: Any, data: str, scoring: str) -> float:
    """The negated mean 3-fold stratified CV score on a fixed shuffled split (a loss: lower is better)."""
    import warnings

    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, y = _data(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = StratifiedKFold(3, shuffle=True, random_state=0)
        scores = cross_val_score(model, x, y, cv=cv, scoring=scoring, error_score=np.nan)
    return -float(np.mean(scores))


def sklearn3() -> list[Problem]:
    """Extra trees on wine (log-loss), SGD with elastic net on breast cancer (1 - ROC AUC)."""
    et_space = _space(
        _ints(["max_depth"], 1, 20),
        _ints(["min_samples_leaf"], 1, 32, "log"),
        _floats(["max_features"], 0.05, 1.0),
        _cat("criterion", ["gini", "entropy"]),
        _cat("bootstrap", [True, False]),
    )

    def extra_trees(p: Params) -> float:
        from sklearn.ensemble import ExtraTreesClassifier

        return _cv_loss(ExtraTreesClassifier(n_estimators=25, random_state=0, **p), "wine", "neg_log_loss")

    sgd_space = _space(
        _cat("loss", ["hinge", "log_loss", "modified_huber"]),
        _floats(["alpha"], 1e-7, 1.0, "log"),
        _floats(["l1_ratio"], 0.0, 1.0),
        _cat("learning_rate", ["optimal", "invscaling", "adaptive"]),
        _floats(["eta0"], 1e-4, 1.0, "log"),
    )

    def sgd(p: Params) -> float:
        from sklearn.linear_model import SGDClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = SGDClassifier(penalty="elasticnet", max_iter=50, tol=None, random_state=0, **p)
        return 1.0 + _cv_loss(make_pipeline(StandardScaler(), model), "cancer", "roc_auc")

    return [
        Problem("et5-wine-logloss", "sklearn3", et_space, extra_trees),
        Problem("sgd5-cancer-auc", "sklearn3", sgd_space, sgd),
    ]


def problems() -> list[Problem]:
    """Every problem of the set, kind by kind (``KINDS`` order)."""
    return [p for build in (constrained, batch16, tiny10d, catbasin, ordinal, sklearn3) for p in build()]
