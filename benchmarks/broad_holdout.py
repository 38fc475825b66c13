"""Held-out problems of the broad set's six kinds: never used while changing the strategy.

``broad_problems`` is the set the strategy was instrumented and tuned on (issue 14);
these functions, three per kind, were written afterwards and are only run to check that
a change helps beyond the problems it was made for (``benchmarks.broad --set holdout``).
Different base functions, dimensions, lattices, failure shapes and decades from the
tuned set; every one shifted or rotated by fixed constants, values are losses.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.broad_problems import (
    Params,
    Problem,
    _crash,
    _floats,
    _ints,
    _names,
    _plain,
    _rotation,
    _space,
    _vector,
    ackley,
    hartmann6,
    levy,
    rastrigin,
    rosenbrock,
    styblinski_tang,
)


def alpine(x: np.ndarray) -> float:
    """Alpine N.1: separable, many local minima, 0 at the origin."""
    return float(np.sum(np.abs(x * np.sin(x) + 0.1 * x)))


def griewank(x: np.ndarray) -> float:
    i = np.arange(1, x.size + 1)
    return float(1.0 + np.sum(x * x) / 4000.0 - np.prod(np.cos(x / np.sqrt(i))))


def multimodal() -> list[Problem]:
    """Alpine-12 and Rastrigin-20 shifted, Styblinski-Tang-12 mirrored in half its dimensions."""
    shift12 = np.random.default_rng(201).uniform(-4.0, 4.0, 12)
    shift20 = np.random.default_rng(202).uniform(-2.0, 2.0, 20)
    mirror = np.where(np.arange(12) % 2 == 0, 1.0, -1.0)
    return [
        _plain("alpine12-shifted", "multimodal", 12, -10.0, 10.0, lambda x: alpine(x - shift12)),
        _plain("rastrigin20-shifted", "multimodal", 20, -5.12, 5.12, lambda x: rastrigin(x - shift20)),
        _plain("styblinski-tang12-mirrored", "multimodal", 12, -5.0, 5.0, lambda x: styblinski_tang(mirror * x)),
    ]


def crash() -> list[Problem]:
    """A ball, a slab across two dimensions, a region where a 'learning rate' diverges."""
    c_ball = np.array([0.3, 0.6, 0.3, 0.4, 0.6, 0.7])
    shift = np.array([1.5, -2.0, 0.5, 2.5, -1.0, 0.0])
    names = ["lr", "momentum", "x0", "x1", "x2"]
    space = _space(_floats(["lr"], 1e-5, 1.0, "log"), _floats(["momentum"], 0.0, 0.99), _floats(names[2:], -3.0, 3.0))

    def training(p: Params) -> float:
        eff = math.log10(p["lr"]) - math.log10(1.0 - 0.9 * p["momentum"])
        if eff > -0.6:  # diverges: no value
            return math.nan
        rest = _vector(p, names[2:]) - np.array([0.8, -1.2, 1.9])
        return float((eff + 1.0) ** 2 + 0.3 * float(np.sum(rest * rest)) + 0.2 * abs(eff + 1.0))

    return [
        _crash(
            "ackley6-crash-ball",
            6,
            -5.0,
            5.0,
            lambda x: ackley(x - shift),
            lambda u: bool(np.sum((u - c_ball) ** 2) < 0.45),
        ),
        _crash("hartmann6-crash-slab", 6, 0.0, 1.0, hartmann6, lambda u: abs(u[3] - u[5] - 0.1) < 0.15),
        Problem("training5-crash-diverge", "crash", space, training),
    ]


def integer() -> list[Problem]:
    """Levy on 64-value lattices, Griewank-like Ackley on 201 values, Rosenbrock mixed with floats and a categorical."""
    ints6 = _names("n", 6)
    levy_shift = np.array([11, -7, 3, 19, -14, 5])

    def levy_int(p: Params) -> float:
        return levy((_vector(p, ints6) - levy_shift) / 4.0 + 1.0)

    ints5 = _names("n", 5)
    ack_centre = np.array([37, 142, 88, 171, 20])

    def ackley_int(p: Params) -> float:
        return ackley((_vector(p, ints5) - ack_centre) / 20.0)

    r_ints, r_floats = _names("n", 4), _names("x", 2)
    shift = {"relu": 0.0, "tanh": 0.5, "gelu": 1.0}
    rot = _rotation(6, 23)

    def rosen_mixed(p: Params) -> float:
        z = np.r_[(_vector(p, r_ints) - 60.0) / 40.0, _vector(p, r_floats)]
        return rosenbrock(1.0 + 0.6 * rot @ (z - 0.3)) + shift[p["act"]]

    cat = [{"name": "act", "type": "categorical", "choices": list(shift)}]
    return [
        Problem("levy6-int64", "integer", _space(_ints(ints6, -32, 31)), levy_int),
        Problem("ackley5-int201", "integer", _space(_ints(ints5, 0, 200)), ackley_int),
        Problem(
            "rosenbrock6-int4-cat",
            "integer",
            _space(_ints(r_ints, 0, 150), _floats(r_floats, -2.0, 2.0), cat),
            rosen_mixed,
        ),
    ]


def noisy() -> list[Problem]:
    """Styblinski-Tang-6, rotated Rosenbrock-4 and Ackley-5 with noise of a sizeable share of their spread."""
    rot4 = _rotation(4, 29)
    shift5 = np.random.default_rng(31).uniform(-2.0, 2.0, 5)
    out = []
    for base, sd in (
        (_plain("styblinski-tang6-noisy", "noisy", 6, -5.0, 5.0, styblinski_tang), 8.0),
        (_plain("rosenbrock4-noisy", "noisy", 4, -2.0, 2.0, lambda x: rosenbrock(1.0 + rot4 @ (x - 0.4))), 30.0),
        (_plain("ackley5-noisy", "noisy", 5, -5.0, 5.0, lambda x: ackley(x - shift5)), 1.0),
    ):
        out.append(Problem(base.name, base.kind, base.space, base.f, sd))
    return out


def valley() -> list[Problem]:
    """A rotated ellipsoid of condition 1e6 in 10 d, a sharp ridge, rotated Rosenbrock-10."""
    rot10a, rot10b, rot6 = _rotation(10, 37), _rotation(10, 41), _rotation(6, 43)
    shift10 = np.random.default_rng(47).uniform(-2.0, 2.0, 10)
    ell = 10.0 ** np.linspace(0, 6, 10)

    def ellipsoid(x: np.ndarray) -> float:
        z = rot10a @ (x - shift10)
        return float(np.sum(ell * z * z))

    def ridge(x: np.ndarray) -> float:
        z = rot6 @ (x - 0.7)
        return float(z[0] ** 2 + 100.0 * np.sqrt(np.sum(z[1:] ** 2)))

    def rosen(x: np.ndarray) -> float:
        return rosenbrock(1.0 + 0.5 * rot10b @ (x - 0.2))

    return [
        _plain("ellipsoid10-cond1e6", "valley", 10, -5.0, 5.0, ellipsoid),
        _plain("sharp-ridge6", "valley", 6, -5.0, 5.0, ridge),
        _plain("rosenbrock10-rotated", "valley", 10, -3.0, 3.0, rosen),
    ]


def logscale() -> list[Problem]:
    """SVM-like (C, gamma on a diagonal ridge), a lasso-like alpha, narrow bumps over 12 decades."""
    svm_space = _space(
        _floats(["C"], 1e-5, 1e5, "log"), _floats(["gamma"], 1e-6, 1e2, "log"), _floats(["tol"], 1e-6, 1e-1, "log")
    )

    def svm(p: Params) -> float:
        c, g = math.log10(p["C"]), math.log10(p["gamma"])
        ridge = ((c + g - 0.5) / 0.6) ** 2  # good fits lie along C * gamma ~ 3
        along = ((c - 1.7) / 1.5) ** 2
        return float(1.0 - math.exp(-0.5 * (ridge + along)) + 0.05 * (math.log10(p["tol"]) > -2.0))

    lasso_space = _space(
        _floats(["alpha"], 1e-8, 1e2, "log"), _floats(["l1_ratio"], 0.0, 1.0), _ints(["max_iter"], 10, 10000, "log")
    )

    def lasso(p: Params) -> float:
        a = math.log10(p["alpha"])
        fit = 1.0 - 0.8 * math.exp(-(((a + 2.3) / 0.4) ** 2)) + 0.02 * abs(a + 2.3)
        conv = 0.3 / (1.0 + math.exp(3.0 * (math.log10(p["max_iter"]) - 2.5)))
        return float(fit + conv + 0.1 * (p["l1_ratio"] - 0.7) ** 2)

    names4 = _names("x", 4)
    centres = np.array([-7.3, -1.8, -10.2, -4.4])

    def bumps(p: Params) -> float:
        t = np.log10(_vector(p, names4))
        return float(np.sum(1.0 - np.exp(-(((t - centres) / 0.35) ** 2)) + 0.02 * np.abs(t - centres)))

    return [
        Problem("log-svm3", "logscale", svm_space, svm),
        Problem("log-lasso3", "logscale", lasso_space, lasso),
        Problem("log-bumps4-12decades", "logscale", _space(_floats(names4, 1e-12, 1.0, "log")), bumps),
    ]


def problems() -> list[Problem]:
    """Every held-out problem, kind by kind."""
    return [*multimodal(), *crash(), *integer(), *noisy(), *valley(), *logscale()]
