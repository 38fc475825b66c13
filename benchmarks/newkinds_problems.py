"""A fourth held-out set (strat-17): kinds of problem no earlier set has.

Earlier sets (broad, broad_holdout, fresh, heldout3, small_budget, high_dim, hetero_noise,
conditional, Bayesmark's) already cover axis-aligned sparse and irrelevant dimensions,
plateaus, heteroscedastic noise, log-int ranges to 100,000, categorical-heavy spaces,
constraints, crashes as NaN, and breast cancer, digits, iris, wine, diabetes and friedman1.
This set has none of those; each problem is a kind not measured before:

* ``embedded20-branin``: Branin on a *rotated* 2-d subspace of a 20-d cube (every
  parameter matters a little, none alone: the active subspace is not axis-aligned).
* ``cliff6-lr``: a learning rate whose loss diverges past a cliff to huge *finite*
  values (1e4 to 1e12, not NaN) right beside the optimum, plus a 5-d ellipsoid.
* ``offset4-rosenbrock``: Rosenbrock-4 scaled by 1e-3 on a constant 1e6 (values differ
  in the ninth significant digit).
* ``binary14-select``: fourteen 0/1 integer flags (a feature subset) with pairwise
  interactions and a log-float regularization whose best value depends on the subset.
* ``wrap3-angle``: two angles in [0, 360) whose basin straddles the wrap (near 355 and
  5 degrees are neighbours, the encoding puts them at opposite ends) and a float.
* ``int5-tiny-mixed`` / ``int3-small-rotated``: small integer ranges (3-8 values) alone
  and with a float, beside the known loss ``ord-int8-small`` (heldout3, the group
  ``small-int`` on which a fix for small ranges is judged).
* ``svr4-linnerud`` / ``knn3-linnerud``: scikit-learn SVR and k-nearest-neighbours on
  ``load_linnerud`` (ships with scikit-learn, used by no earlier set), leave-one-out MSE.

Pre-registered in ``results/s17_newkinds_prereg.md`` (committed before any run).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from benchmarks import heldout3_problems
from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _rotation, _space, _vector, branin

GROUPS = {
    "new-synthetic": ["embedded20-branin", "cliff6-lr", "offset4-rosenbrock", "binary14-select", "wrap3-angle"],
    "small-int": ["ord-int8-small", "int5-tiny-mixed", "int3-small-rotated", "knn3-linnerud"],
    "real": ["svr4-linnerud", "knn3-linnerud"],
}
"""``knn3-linnerud`` (an int of 15 values and one of 2) sits in two groups; the pooled score counts it once."""


def embedded() -> Problem:
    names = _names("x", 20)
    rows = _rotation(20, 1701)[:2]

    def f(p: Params) -> float:
        u = np.clip(0.5 + rows @ (_vector(p, names) - 0.5), 0.0, 1.0)
        return branin(np.array([-5.0 + 15.0 * u[0], 15.0 * u[1]]))

    return Problem("embedded20-branin", "embedded", _space(_floats(names, 0.0, 1.0)), f)


def cliff() -> Problem:
    names = _names("x", 5)
    centre = np.random.default_rng(1702).uniform(-0.6, 0.6, 5)
    weights = np.geomspace(1.0, 0.05, 5)

    def f(p: Params) -> float:
        rest = float(np.sum(weights * (_vector(p, names) - centre) ** 2))
        lr = math.log10(p["lr"])
        if lr > math.log10(0.05):  # diverges: huge but finite
            return 1e4 * 10.0 ** min(8.0, 20.0 * (lr - math.log10(0.05)))
        return rest + (lr - math.log10(0.03)) ** 2

    return Problem("cliff6-lr", "cliff", _space(_floats(["lr"], 1e-5, 1.0, "log"), _floats(names, -1.0, 1.0)), f)


def offset() -> Problem:
    names = _names("x", 4)

    def f(p: Params) -> float:
        x = _vector(p, names) - np.array([0.4, -0.3, 0.2, -0.5])
        return 1e6 + 1e-3 * float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))

    return Problem("offset4-rosenbrock", "offset", _space(_floats(names, -2.0, 2.0)), f)


def binary() -> Problem:
    names = _names("b", 14)
    rng = np.random.default_rng(1703)
    gain = rng.normal(0.0, 1.0, 14)
    pairs = np.triu(rng.normal(0.0, 0.6, (14, 14)), 1) * (rng.random((14, 14)) < 0.3)

    def f(p: Params) -> float:
        b = _vector(p, names)
        best_reg = -3.0 + 0.25 * b.sum()  # more features, more regularization
        return float(gain @ b + b @ pairs @ b + 0.5 * (math.log10(p["reg"]) - best_reg) ** 2)

    space = _space(_ints(names, 0, 1), _floats(["reg"], 1e-4, 10.0, "log"))
    return Problem("binary14-select", "binary", space, f)


def wrap() -> Problem:
    def angle(a: float, at: float) -> float:
        return (1.0 - math.cos(math.radians(a - at))) / 2.0  # 0 at ``at``, 1 opposite, periodic

    def f(p: Params) -> float:
        return 3.0 * angle(p["a0"], 358.0) + 2.0 * angle(p["a1"], 4.0) + (p["x"] - 0.3) ** 2

    space = _space(_floats(["a0", "a1"], 0.0, 359.999), _floats(["x"], -1.0, 1.0))
    return Problem("wrap3-angle", "wraparound", space, f)


def small_ints() -> list[Problem]:
    highs = [2, 3, 4, 5, 7]
    names5 = _names("n", 5)
    centre5 = np.random.default_rng(1704).uniform(0.2, 0.8, 5) * np.array(highs)

    def mixed(p: Params) -> float:
        z = _vector(p, names5) - centre5
        return float(np.sum(np.geomspace(1.0, 0.2, 5) * z * z) + 0.3 * z[0] * z[3] + (p["x"] - 0.2 * p["n1"]) ** 2)

    names3 = _names("i", 3)
    rot3 = _rotation(3, 1705)
    centre3 = np.array([2.3, 5.6, 4.1])

    def rotated(p: Params) -> float:
        z = rot3 @ (_vector(p, names3) - centre3)
        return float(np.sum(np.array([1.0, 0.3, 0.05]) * z * z))

    mixed_space = _space(*[_ints([n], 0, h) for n, h in zip(names5, highs)], _floats(["x"], -1.0, 1.0))
    return [
        Problem("int5-tiny-mixed", "small-int", mixed_space, mixed),
        Problem("int3-small-rotated", "small-int", _space(_ints(names3, 0, 7)), rotated),
    ]


@cache
def _linnerud() -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    x, y = datasets.load_linnerud(return_X_y=True)
    return x, y[:, 0]  # weight


def _loo_mse(model: object) -> float:
    import warnings

    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _linnerud()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(
            make_pipeline(StandardScaler(), model), x, y, cv=LeaveOneOut(), scoring="neg_mean_squared_error"
        )
    return -float(np.mean(scores))


def linnerud() -> list[Problem]:
    def svr(p: Params) -> float:
        from sklearn.svm import SVR

        return _loo_mse(SVR(**p))

    def knn(p: Params) -> float:
        from sklearn.neighbors import KNeighborsRegressor

        return _loo_mse(KNeighborsRegressor(**p))

    svr_space = _space(
        [{"name": "kernel", "type": "categorical", "choices": ["rbf", "sigmoid", "linear"]}],
        _floats(["C"], 1e-2, 1e4, "log"),
        _floats(["epsilon"], 1e-3, 10.0, "log"),
        _floats(["gamma"], 1e-4, 10.0, "log"),
    )
    knn_space = _space(
        _ints(["n_neighbors"], 1, 15),
        _ints(["p"], 1, 2),
        [{"name": "weights", "type": "categorical", "choices": ["uniform", "distance"]}],
    )
    return [Problem("svr4-linnerud", "sklearn", svr_space, svr), Problem("knn3-linnerud", "sklearn", knn_space, knn)]


def problems() -> dict[str, Problem]:
    """Every problem of ``GROUPS`` by name (``ord-int8-small`` from ``heldout3_problems``)."""
    known = {p.name: p for p in heldout3_problems.problems() if p.name == "ord-int8-small"}
    every = [embedded(), cliff(), offset(), binary(), wrap(), *small_ints(), *linnerud(), *known.values()]
    return {p.name: p for p in every}
