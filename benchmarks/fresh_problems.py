"""A second held-out set: kinds of problem the Bayesian strategy was never tuned or checked on.

The broad sets (``broad_problems``, ``broad_holdout``), the Bayesmark-style suite, the
conditional and multi-objective benchmarks cover multimodal, crash, wide-integer,
homoscedastic-noisy, valley and log-scale problems, at 12 rounds of 4. This set
(``benchmarks.fresh``, branch bench-13) has none of those kinds:

* ``sparse``: 25-40 parameters of which 2-4 matter (the rest do nothing).
* ``irrelevant``: duplicated parameters (two copies whose mean matters), and a
  function padded with irrelevant categoricals, integers, a one-choice categorical and
  a two-value integer.
* ``categorical``: 6-10 categoricals of 3-12 levels with pairwise and three-way
  interactions (choices of mixed types: strings, ints, floats, bools), some with floats.
* ``plateau``: piecewise-constant losses (a quantized ellipsoid, a quantized
  Hartmann-6, an L1 staircase over ints and floats): a GP's smoothness is wrong there.
* ``hetero``: heteroscedastic noise, large in one region only (scored, like the noisy
  kinds, by the true loss at each method's best noisy observation).
* ``needle``: a narrow basin (0.05-0.1 decades) on a log-scaled parameter over 8-10
  decades, beside a broad decoy basin.
* ``boundary``: optima exactly on bounds (an int's upper edge, a log-float's lower edge,
  a reverse-log float's upper edge, a 6-d corner).
* ``tiny``: 12 trials in all (3 rounds of 4).
* ``large``: 120 trials (30 rounds of 4) in 10-12 d.
* ``sequential`` / ``batch4``: the same three functions with 40 trials asked one at a
  time (40 x 1) and four at a time (10 x 4).
* ``sklearn``: real scikit-learn tasks unlike Bayesmark's: HistGradientBoosting with 6
  parameters (regression on ``make_friedman1``, classification log-loss on breast
  cancer) and KernelRidge with a kernel choice on diabetes.

PRE-REGISTRATION (written and committed before any method ran on any of these):
budgets per kind are ``BUDGETS`` below; methods hyperstep (bayesian), random, Optuna
TPE; seeds 0-4 on the synthetic kinds and 0-2 on ``sklearn`` (more only if time allows,
always consecutive from 0); HEBO on whatever subset runs in the time left, seed 0 first.
Every suggestion of every method is checked against the space (``invalid``); a
crash, hang or invalid suggestion of hyperstep's is a product defect. Nothing in this
file is changed after the first result, except to fix a bug in the harness (said so
in the README section).
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
    levy,
)

KINDS = (
    "sparse",
    "irrelevant",
    "categorical",
    "plateau",
    "hetero",
    "needle",
    "boundary",
    "tiny",
    "large",
    "sequential",
    "batch4",
    "sklearn",
)
DEFAULT_BUDGET = (12, 4)
BUDGETS = {"sparse": (15, 4), "tiny": (3, 4), "large": (30, 4), "sequential": (40, 1), "batch4": (10, 4)}
"""(rounds, batch) per kind; every other kind runs ``DEFAULT_BUDGET`` (48 trials, 12 rounds of 4)."""


def budget(kind: str) -> tuple[int, int]:
    return BUDGETS.get(kind, DEFAULT_BUDGET)


@dataclass(frozen=True)
class HeteroProblem(Problem):
    """Noise whose standard deviation depends on where the configuration lies (``sd``)."""

    sd: Callable[[Params], float] = lambda params: 0.0

    def noisy(self, rng: np.random.Generator) -> Callable[[Params], float]:
        return lambda params: self.f(params) + float(rng.normal(0.0, self.sd(params)))


def _cats(levels: list[int]) -> list[dict[str, Any]]:
    return [
        {"name": f"c{i}", "type": "categorical", "choices": [f"v{k}" for k in range(n)]} for i, n in enumerate(levels)
    ]


def _level(params: Params, name: str) -> int:
    return int(str(params[name])[1:])


# Classic functions not used by the other sets -----------------------------------------

HARTMANN3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
HARTMANN3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
SHEKEL_A = np.array(
    [
        [4, 4, 4, 4],
        [1, 1, 1, 1],
        [8, 8, 8, 8],
        [6, 6, 6, 6],
        [3, 7, 3, 7],
        [2, 9, 2, 9],
        [5, 5, 3, 3],
        [8, 1, 8, 1],
        [6, 2, 6, 2],
        [7, 3.6, 7, 3.6],
    ]
)
SHEKEL_C = 0.1 * np.array([1, 2, 2, 4, 4, 6, 3, 7, 5, 5])


def hartmann3(x: np.ndarray) -> float:
    alpha = np.array([1.0, 1.2, 3.0, 3.2])
    return float(-np.sum(alpha * np.exp(-np.sum(HARTMANN3_A * (x - HARTMANN3_P) ** 2, axis=1))))


def shekel10(x: np.ndarray) -> float:
    return float(-np.sum(1.0 / (np.sum((x - SHEKEL_A) ** 2, axis=1) + SHEKEL_C)))


def trid(x: np.ndarray) -> float:
    return float(np.sum((x - 1) ** 2) - np.sum(x[1:] * x[:-1]))


def powell(x: np.ndarray) -> float:
    a, b, c, d = x[0::4], x[1::4], x[2::4], x[3::4]
    return float(np.sum((a + 10 * b) ** 2 + 5 * (c - d) ** 2 + (b - 2 * c) ** 4 + 10 * (a - d) ** 4))


def zakharov(x: np.ndarray) -> float:
    s = float(np.sum(0.5 * np.arange(1, x.size + 1) * x))
    return float(np.sum(x * x) + s**2 + s**4)


def dixon_price(x: np.ndarray) -> float:
    i = np.arange(2, x.size + 1)
    return float((x[0] - 1) ** 2 + np.sum(i * (2 * x[1:] ** 2 - x[:-1]) ** 2))


def six_hump(x: float, y: float) -> float:
    return (4 - 2.1 * x * x + x**4 / 3) * x * x + x * y + (-4 + 4 * y * y) * y * y


# Kinds -------------------------------------------------------------------------------


def sparse() -> list[Problem]:
    """Branin on 2 of 30 floats, Hartmann-3 on 3 of 25, a 4-parameter quadratic among 40 mixed ints and floats."""
    names30, names25 = _names("x", 30), _names("x", 25)

    def branin30(p: Params) -> float:
        return branin(np.array([-5 + 15 * p["x7"], 15 * p["x19"]]))

    def hartmann25(p: Params) -> float:
        return hartmann3(np.array([p["x3"], p["x14"], p["x22"]]))

    ints, floats = _names("n", 20), _names("x", 20)

    def quad40(p: Params) -> float:
        a, b = (p["n4"] - 13) / 10.0, (p["n15"] - 6) / 10.0
        c, d = p["x2"] - 0.35, p["x11"] + 0.4
        return float(a * a + b * b + 2 * c * c + d * d + 0.8 * a * c - 0.6 * b * d)

    return [
        Problem("sparse30-branin2", "sparse", _space(_floats(names30, 0.0, 1.0)), branin30),
        Problem("sparse25-hartmann3", "sparse", _space(_floats(names25, 0.0, 1.0)), hartmann25),
        Problem("sparse40-mixed-quad4", "sparse", _space(_ints(ints, 0, 20), _floats(floats, -1.0, 1.0)), quad40),
    ]


def irrelevant() -> list[Problem]:
    """Hartmann-6 on the means of duplicated parameters; Levy-4 padded with parameters that do nothing."""
    first, second = _names("a", 6), _names("b", 6)

    def duplicated(p: Params) -> float:
        return hartmann6((_vector(p, first) + _vector(p, second)) / 2.0)

    levy_names = _names("x", 4)
    padding = [
        *[{"name": f"c{i}", "type": "categorical", "choices": ["p", "q", "r", "s", "t"]} for i in range(4)],
        *_ints(_names("n", 4), 0, 100),
        {"name": "const", "type": "categorical", "choices": ["only"]},
        {"name": "flag", "type": "int", "low": 0, "high": 1},
    ]

    def padded(p: Params) -> float:
        return levy(_vector(p, levy_names) - np.array([2.1, -3.3, 0.7, 4.2]) + 1.0)

    return [
        Problem("duplicated12-hartmann6", "irrelevant", _space(_floats([*first, *second], 0.0, 1.0)), duplicated),
        Problem("padded14-levy4", "irrelevant", _space(_floats(levy_names, -10.0, 10.0), padding), padded),
    ]


def categorical() -> list[Problem]:
    """Eight categoricals, four pairwise interactions; six moving two floats' optimum; ten with a three-way bonus."""
    rng = np.random.default_rng(301)
    levels8 = [3, 4, 5, 6, 8, 10, 12, 7]
    main8 = [rng.normal(0, 1.0 / (1 + 0.3 * i), n) for i, n in enumerate(levels8)]
    pairs8 = [(0, 1), (2, 5), (3, 7), (4, 6)]
    inter8 = {(i, j): 0.8 * rng.normal(0, 1, (levels8[i], levels8[j])) for i, j in pairs8}

    def cat8(p: Params) -> float:
        k = [_level(p, f"c{i}") for i in range(8)]
        value = sum(m[k[i]] for i, m in enumerate(main8))
        return float(value + sum(t[k[i], k[j]] for (i, j), t in inter8.items()))

    mixed_choices: list[list[Any]] = [
        ["adam", "sgd", "rmsprop"],
        [16, 32, 64, 128],
        [0.0, 0.1, 0.25, 0.5, 0.75],
        [True, False, "auto"],
        ["relu", "tanh", "gelu", "silu", "elu", "selu"],
        [1, 2, 3, 4, 5, 6, 7, 8],
    ]
    cat6_space = _space(
        [{"name": f"c{i}", "type": "categorical", "choices": ch} for i, ch in enumerate(mixed_choices)],
        _floats(["x0", "x1"], -1.0, 1.0),
    )
    centre = {c: rng.uniform(-0.8, 0.8, 2) for c in mixed_choices[0]}
    stretch = {c: 1.0 + 3.0 * i for i, c in enumerate(mixed_choices[1])}
    main6 = [rng.normal(0, 0.4, len(ch)) for ch in mixed_choices[2:]]

    def cat6(p: Params) -> float:
        z = np.array([p["x0"], p["x1"]]) - centre[p["c0"]]
        value = stretch[p["c1"]] * z[0] ** 2 + z[1] ** 2 / stretch[p["c1"]]
        for i, m in enumerate(main6, start=2):
            value += m[mixed_choices[i].index(p[f"c{i}"])]
        return float(value + 0.3 * (p["c0"] == "sgd"))

    hidden = rng.integers(0, 4, 10)
    weights10 = rng.uniform(0.2, 1.0, 10)

    def cat10(p: Params) -> float:
        k = np.array([_level(p, f"c{i}") for i in range(10)])
        miss = float(np.sum(weights10 * (k != hidden)))
        bonus = -2.0 * float(
            k[1] == (hidden[1] + 1) % 4 and k[4] == (hidden[4] + 2) % 4 and k[8] == (hidden[8] + 3) % 4
        )
        return miss + bonus

    return [
        Problem("cat8-pairwise", "categorical", _space(_cats(levels8)), cat8),
        Problem("cat6-mixed-types-floats2", "categorical", cat6_space, cat6),
        Problem("cat10-threeway", "categorical", _space(_cats([4] * 10)), cat10),
    ]


def plateau() -> list[Problem]:
    """A step ellipsoid (BBOB f7-like), Hartmann-6 quantized to 0.25, an L1 staircase over two ints and two floats."""
    rot5 = _rotation(5, 311)
    shift5 = np.random.default_rng(313).uniform(-3.0, 3.0, 5)
    weights5 = 10.0 ** np.linspace(0, 2, 5)

    def step_ellipsoid(x: np.ndarray) -> float:
        z = np.floor(rot5 @ (x - shift5) + 0.5)
        return float(np.sum(weights5 * z * z))

    names5, names6 = _names("x", 5), _names("x", 6)

    def stairs(p: Params) -> float:
        dist = abs(p["n0"] - 37) / 20.0 + abs(p["n1"] - 8) / 20.0 + abs(p["x0"] - 0.62) + abs(p["x1"] + 0.27)
        return float(math.floor(4.0 * dist))

    stairs_space = _space(_ints(["n0"], 0, 100), _ints(["n1"], -50, 50), _floats(["x0", "x1"], -1.0, 1.0))
    return [
        Problem(
            "step-ellipsoid5",
            "plateau",
            _space(_floats(names5, -5.0, 5.0)),
            lambda p: step_ellipsoid(_vector(p, names5)),
        ),
        Problem(
            "quantized-hartmann6",
            "plateau",
            _space(_floats(names6, 0.0, 1.0)),
            lambda p: math.floor(4.0 * hartmann6(_vector(p, names6))) / 4.0,
        ),
        Problem("staircase4-int2", "plateau", stairs_space, stairs),
    ]


def hetero() -> list[Problem]:
    """Noise large in one region only: Hartmann-6, a training-like loss, a quadratic with a noisy decoy basin."""
    names6 = _names("x", 6)

    def sd_hartmann(p: Params) -> float:
        return 0.8 if p["x0"] > 0.5 else 0.02

    train_space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"), _floats(["weight_decay"], 1e-7, 1e-1, "log"), _floats(["dropout"], 0.0, 0.8)
    )

    def train(p: Params) -> float:
        t = math.log10(p["lr"])
        return float(
            0.5 * (t + 3.6) ** 2 / 4 + 0.1 * (math.log10(p["weight_decay"]) + 5.8) ** 2 / 9 + (p["dropout"] - 0.15) ** 2
        )

    def sd_train(p: Params) -> float:
        return 0.02 + 0.6 / (1.0 + math.exp(-4.0 * (math.log10(p["lr"]) + 1.5)))

    names4 = _names("x", 4)
    good, decoy = np.array([-0.55, 0.3, -0.2, 0.6]), np.array([0.6, -0.5, 0.45, -0.35])

    def two_basins(p: Params) -> float:
        x = _vector(p, names4)
        a, b = float(np.sum((x - good) ** 2)), float(np.sum((x - decoy) ** 2))
        return min(3.0 * a, 0.3 + 1.5 * b)

    def sd_basins(p: Params) -> float:
        return 1.0 if p["x0"] > 0.0 else 0.03

    return [
        HeteroProblem(
            "hetero-hartmann6",
            "hetero",
            _space(_floats(names6, 0.0, 1.0)),
            lambda p: hartmann6(_vector(p, names6)),
            1.0,
            sd_hartmann,
        ),
        HeteroProblem("hetero-train3-lr", "hetero", train_space, train, 1.0, sd_train),
        HeteroProblem("hetero-decoy4", "hetero", _space(_floats(names4, -1.0, 1.0)), two_basins, 1.0, sd_basins),
    ]


def hetero_holdout() -> list[Problem]:
    """A held-out group for the heteroscedastic work of noise-14 (``benchmarks.hetero_noise``), not part of
    ``problems()``: written and committed before any candidate ran on it (``results/hetero_noise_prereg.md``).

    Other base functions, dimensions and noise shapes than ``hetero``: Levy-5 whose noise grows
    smoothly with one coordinate (the optimum near the quiet end); Branin with three equal optima,
    one of them in a noisy corner; two Gaussian wells in 5 d, the broader and shallower one noisy;
    a training-like loss over a log learning rate, a log-int batch size and an optimizer choice whose
    noise grows as the batch shrinks (the optimum at a middling batch).
    """
    names5 = _names("x", 5)

    def sd_levy(p: Params) -> float:
        return 0.05 + 4.0 / (1.0 + math.exp(-1.5 * (p["x0"] - 4.0)))

    def sd_corner(p: Params) -> float:
        return 6.0 if p["x0"] > 6.0 and p["x1"] < 6.0 else 0.05

    deep, broad = np.array([0.25, 0.7, 0.3, 0.65, 0.2]), np.array([0.75, 0.25, 0.7, 0.3, 0.8])

    def wells(p: Params) -> float:
        x = _vector(p, names5)
        a, b = float(np.sum((x - deep) ** 2)), float(np.sum((x - broad) ** 2))
        return -1.0 * math.exp(-a / 0.08) - 0.6 * math.exp(-b / 0.3)

    def sd_wells(p: Params) -> float:
        return 0.5 if float(np.sum((_vector(p, names5) - broad) ** 2)) < 0.35 else 0.01

    train_space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"),
        _ints(["batch"], 8, 1024, "log"),
        [{"name": "optimizer", "type": "categorical", "choices": ["sgd", "adam", "rmsprop"]}],
    )
    shift = {"sgd": -1.3, "adam": -3.2, "rmsprop": -3.6}
    level = {"sgd": 0.05, "adam": 0.0, "rmsprop": 0.08}

    def train(p: Params) -> float:
        b = math.log2(p["batch"])
        t = math.log10(p["lr"]) - 0.3 * (b - 6.0) - shift[p["optimizer"]] + 2.0
        return float(0.2 * t * t + 0.05 * (b - 6.0) ** 2 + level[p["optimizer"]])

    def sd_train(p: Params) -> float:
        return 0.02 + 0.5 * (8.0 / p["batch"]) ** 0.75

    return [
        HeteroProblem(
            "hetero-levy5-coord",
            "hetero",
            _space(_floats(names5, -10.0, 10.0)),
            lambda p: levy(_vector(p, names5)),
            1.0,
            sd_levy,
        ),
        HeteroProblem(
            "hetero-branin-corner",
            "hetero",
            _space(_floats(["x0"], -5.0, 10.0), _floats(["x1"], 0.0, 15.0)),
            lambda p: branin(_vector(p, ["x0", "x1"])),
            1.0,
            sd_corner,
        ),
        HeteroProblem("hetero-wells5", "hetero", _space(_floats(names5, 0.0, 1.0)), wells, 1.0, sd_wells),
        HeteroProblem("hetero-train3-batch", "hetero", train_space, train, 1.0, sd_train),
    ]


def needle() -> list[Problem]:
    """A 0.08-decade basin on a log float over 8 decades beside a broad decoy; a narrow log-int optimum."""
    space4 = _space(_floats(["alpha"], 1e-8, 1.0, "log"), _floats(_names("x", 3), 0.0, 1.0))

    def needle4(p: Params) -> float:
        t = math.log10(p["alpha"])
        broad = 0.6 * (1.0 - math.exp(-(((t + 1.0) / 1.5) ** 2)))
        narrow = -0.5 * math.exp(-(((t + 5.3) / 0.08) ** 2))
        rest = float(np.sum((_vector(p, _names("x", 3)) - np.array([0.3, 0.7, 0.45])) ** 2))
        return 0.4 + broad + narrow + 0.5 * rest

    space3 = _space(_ints(["units"], 1, 100000, "log"), _floats(["lr"], 1e-6, 1e-1, "log"), _floats(["x0"], -1.0, 1.0))

    def needle_int(p: Params) -> float:
        u = math.log10(p["units"])
        narrow = -0.8 * math.exp(-(((u - 3.47) / 0.05) ** 2))
        lr = (math.log10(p["lr"]) + 3.5) ** 2 / 6.0
        return float(1.0 + 0.05 * abs(u - 2.0) + narrow + lr + 0.2 * (p["x0"] - 0.1) ** 2)

    return [
        Problem("needle4-log8", "needle", space4, needle4),
        Problem("needle3-logint", "needle", space3, needle_int),
    ]


def boundary() -> list[Problem]:
    """An int best at its top and a log float at its bottom; a 6-d corner; a reverse-log float best at its top."""
    edge_space = _space(
        _ints(["layers"], 1, 64), _floats(["lr"], 1e-6, 1e-1, "log"), _floats(_names("x", 3), -2.0, 2.0)
    )

    def edges(p: Params) -> float:
        rest = _vector(p, _names("x", 3)) - np.array([0.4, -1.1, 0.9])
        return float((64 - p["layers"]) / 32.0 + 0.3 * (math.log10(p["lr"]) + 6.0) + float(np.sum(rest * rest)))

    names6 = _names("x", 6)
    corner = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
    rot6 = _rotation(6, 331)

    def corner6(p: Params) -> float:
        z = _vector(p, names6) - corner
        return float(np.sum(np.abs(z)) + 0.5 * float(np.sum((rot6 @ z) ** 2)))

    rev_space = _space(
        [{"name": "momentum", "type": "float", "low": 0.5, "high": 0.999, "scale": "reverse_log"}],
        _ints(["batch"], 2, 1024, "log"),
        [{"name": "opt", "type": "categorical", "choices": ["a", "b", "c"]}],
        _floats(["x0"], 0.0, 1.0),
    )

    def rev(p: Params) -> float:
        m = -math.log10(1.0 - p["momentum"])  # 0.3 at 0.5, 3 at 0.999
        return float(
            (3.0 - m)
            + 0.4 * math.log2(p["batch"]) / 9.0
            + {"a": 0.2, "b": 0.0, "c": 0.5}[p["opt"]]
            + (p["x0"] - 0.35) ** 2
        )

    return [
        Problem("edge-int-up-logfloat-low5", "boundary", edge_space, edges),
        Problem("edge-corner6", "boundary", _space(_floats(names6, 0.0, 1.0)), corner6),
        Problem("edge-revlog-up-logint-low4", "boundary", rev_space, rev),
    ]


def tiny() -> list[Problem]:
    """Twelve trials: a training-like loss, six-hump camel with a dead parameter, a small mixed space."""
    train_space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"),
        _floats(["weight_decay"], 1e-6, 1e-1, "log"),
        _ints(["batch"], 16, 512, "log"),
        _floats(["dropout"], 0.0, 0.7),
    )

    def train(p: Params) -> float:
        eff = math.log10(p["lr"]) - 0.5 * math.log10(p["batch"] / 64)
        wd = math.log10(p["weight_decay"])
        return float(0.3 * (eff + 1.4) ** 2 + 0.05 * (wd + 5.2) ** 2 + 0.6 * (p["dropout"] - 0.55) ** 2)

    camel_space = _space(_floats(["x"], -3.0, 3.0), _floats(["y"], -2.0, 2.0), _floats(["dead"], 0.0, 1.0))
    mixed_space = _space(
        _ints(["depth"], 1, 12),
        [{"name": "kind", "type": "categorical", "choices": ["gini", "entropy", "log_loss"]}],
        _floats(["frac"], 0.1, 1.0),
    )

    def mixed(p: Params) -> float:
        return float(
            (p["depth"] - 7) ** 2 / 10.0
            + {"gini": 0.1, "entropy": 0.0, "log_loss": 0.05}[p["kind"]]
            + (p["frac"] - 0.66) ** 2
        )

    return [
        Problem("tiny-train4", "tiny", train_space, train),
        Problem("tiny-camel3", "tiny", camel_space, lambda p: six_hump(p["x"], p["y"])),
        Problem("tiny-mixed3", "tiny", mixed_space, mixed),
    ]


def large() -> list[Problem]:
    """120 trials: Zakharov-10 shifted, Dixon-Price-12."""
    names10, names12 = _names("x", 10), _names("x", 12)
    shift10 = np.random.default_rng(341).uniform(-2.0, 4.0, 10)
    return [
        Problem(
            "large-zakharov10",
            "large",
            _space(_floats(names10, -5.0, 10.0)),
            lambda p: zakharov(_vector(p, names10) - shift10),
        ),
        Problem(
            "large-dixon-price12",
            "large",
            _space(_floats(names12, -10.0, 10.0)),
            lambda p: dixon_price(_vector(p, names12)),
        ),
    ]


def _batch_pair() -> list[tuple[str, Any, Callable[[Params], float]]]:
    """Trid-6, Powell-8 shifted, Shekel-10 (4-d): run once one at a time and once four at a time."""
    names4, names6, names8 = _names("x", 4), _names("x", 6), _names("x", 8)
    shift8 = np.random.default_rng(351).uniform(-1.0, 2.0, 8)
    return [
        ("trid6", _space(_floats(names6, -36.0, 36.0)), lambda p: trid(_vector(p, names6))),
        ("powell8", _space(_floats(names8, -4.0, 5.0)), lambda p: powell(_vector(p, names8) - shift8)),
        ("shekel4", _space(_floats(names4, 0.0, 10.0)), lambda p: shekel10(_vector(p, names4))),
    ]


def sequential() -> list[Problem]:
    return [Problem(f"seq-{name}", "sequential", space, f) for name, space, f in _batch_pair()]


def batch4() -> list[Problem]:
    return [Problem(f"b4-{name}", "batch4", space, f) for name, space, f in _batch_pair()]


# Real scikit-learn tasks -------------------------------------------------------------


@cache
def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    if name == "friedman1":
        return datasets.make_friedman1(n_samples=500, noise=1.0, random_state=0)
    if name == "cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    x, y = datasets.load_diabetes(return_X_y=True)
    return x, y


def _cv_loss(model: Any, data: str, scoring: str) -> float:
    """The negated mean 3-fold CV score on a fixed shuffled split (a loss: lower is better)."""
    import warnings

    from sklearn.model_selection import KFold, cross_val_score

    x, y = _data(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(model, x, y, cv=KFold(3, shuffle=True, random_state=0), scoring=scoring)
    return -float(np.mean(scores))


HGB = [
    *_floats(["learning_rate"], 1e-3, 1.0, "log"),
    *_ints(["max_iter"], 10, 200, "log"),
    *_ints(["max_leaf_nodes"], 2, 128, "log"),
    *_ints(["min_samples_leaf"], 1, 100, "log"),
    *_floats(["l2_regularization"], 1e-6, 10.0, "log"),
    *_floats(["max_features"], 0.2, 1.0),
]


def sklearn() -> list[Problem]:
    """HistGradientBoosting (6 parameters) on friedman1 (MSE) and breast cancer (log-loss); KernelRidge on diabetes."""

    def hgb_reg(p: Params) -> float:
        from sklearn.ensemble import HistGradientBoostingRegressor

        model = HistGradientBoostingRegressor(early_stopping=False, random_state=0, **p)
        return _cv_loss(model, "friedman1", "neg_mean_squared_error")

    def hgb_clf(p: Params) -> float:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(early_stopping=False, random_state=0, **p)
        return _cv_loss(model, "cancer", "neg_log_loss")

    kr_space = _space(
        [{"name": "kernel", "type": "categorical", "choices": ["rbf", "laplacian", "polynomial"]}],
        _floats(["alpha"], 1e-6, 10.0, "log"),
        _floats(["gamma"], 1e-4, 10.0, "log"),
        _ints(["degree"], 2, 5),
    )

    def kridge(p: Params) -> float:
        from sklearn.kernel_ridge import KernelRidge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), KernelRidge(**p))
        return _cv_loss(model, "diabetes", "neg_mean_squared_error")

    return [
        Problem("hgb6-friedman1-mse", "sklearn", _space(HGB), hgb_reg),
        Problem("hgb6-cancer-logloss", "sklearn", _space(HGB), hgb_clf),
        Problem("kernelridge4-diabetes-mse", "sklearn", kr_space, kridge),
    ]


def problems() -> list[Problem]:
    """Every problem of the set, kind by kind (``KINDS`` order)."""
    builders = [
        sparse,
        irrelevant,
        categorical,
        plateau,
        hetero,
        needle,
        boundary,
        tiny,
        large,
        sequential,
        batch4,
        sklearn,
    ]
    return [p for build in builders for p in build()]
