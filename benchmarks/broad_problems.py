"""A broader synthetic set: kinds of problems the Bayesian strategy was not tuned on.

Six kinds, three or four functions each (issue 14):

* ``multimodal``: separable, highly multimodal functions in 10-16 d (shifted Rastrigin,
  Schwefel, Styblinski-Tang, Michalewicz).
* ``crash``: 6-d functions where a connected region of about a fifth to a third of the
  cube fails (the objective returns NaN: the trial is told ``state="failed"``); the
  optimum lies outside it, often near its edge (as a learning rate that diverges).
* ``integer``: integer parameters on wide lattices (33 to 101 values), alone and mixed
  with floats and a categorical.
* ``noisy``: Gaussian noise on the value; the score is the *true* value at the point a
  method would recommend (its best noisy observation so far).
* ``valley``: ill-conditioned valleys (rotated ellipsoid and bent cigar, condition 1e4;
  rotated Rosenbrock).
* ``logscale``: log-scaled parameters spanning many decades with most of the signal in
  one of them.

Every function is shifted or rotated with fixed constants so that no optimum sits at
the cube's centre or on a corner by accident. Values are losses to minimize.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperstep.space import SearchSpace

Params = dict[str, Any]
KINDS = ("multimodal", "crash", "integer", "noisy", "valley", "logscale")


@dataclass(frozen=True)
class Problem:
    """A named loss over a search space; ``noise`` > 0 makes ``__call__`` noisy (``true`` is not)."""

    name: str
    kind: str
    space: SearchSpace
    f: Callable[[Params], float]
    noise: float = 0.0

    def true(self, params: Params) -> float:
        """The noise-free loss (NaN where the configuration crashes)."""
        return self.f(params)

    def noisy(self, rng: np.random.Generator) -> Callable[[Params], float]:
        """The objective a method sees: the true loss plus N(0, noise^2) from ``rng``."""
        if self.noise <= 0:
            return self.f
        return lambda params: self.f(params) + float(rng.normal(0.0, self.noise))


def _floats(names: list[str], lo: float, hi: float, scale: str = "linear") -> list[dict[str, Any]]:
    return [{"name": n, "type": "float", "low": lo, "high": hi, "scale": scale} for n in names]


def _ints(names: list[str], lo: int, hi: int, scale: str = "linear") -> list[dict[str, Any]]:
    return [{"name": n, "type": "int", "low": lo, "high": hi, "scale": scale} for n in names]


def _space(*groups: list[dict[str, Any]]) -> SearchSpace:
    return SearchSpace.model_validate({"parameters": [p for g in groups for p in g]})


def _names(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def _vector(params: Params, names: list[str]) -> np.ndarray:
    return np.array([float(params[n]) for n in names])


def _rotation(d: int, seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


# Classic functions on vectors -------------------------------------------------------


def rastrigin(z: np.ndarray) -> float:
    return float(10 * z.size + np.sum(z * z - 10 * np.cos(2 * np.pi * z)))


def schwefel(x: np.ndarray) -> float:
    return float(418.9828872724338 * x.size - np.sum(x * np.sin(np.sqrt(np.abs(x)))))


def styblinski_tang(x: np.ndarray) -> float:
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


def michalewicz(x: np.ndarray, m: int = 10) -> float:
    i = np.arange(1, x.size + 1)
    return float(-np.sum(np.sin(x) * np.sin(i * x * x / np.pi) ** (2 * m)))


def ackley(z: np.ndarray) -> float:
    d = z.size
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(z**2) / d)) - np.exp(np.sum(np.cos(2 * np.pi * z)) / d) + 20 + np.e)


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    last = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(np.sin(np.pi * w[0]) ** 2 + middle + last)


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(HARTMANN_ALPHA * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1))))


def branin(x: np.ndarray) -> float:
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return float((x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * np.cos(x[0]) + 10)


# Builders per kind -----------------------------------------------------------------


def _plain(name: str, kind: str, d: int, lo: float, hi: float, g: Callable[[np.ndarray], float]) -> Problem:
    names = _names("x", d)
    return Problem(name, kind, _space(_floats(names, lo, hi)), lambda p: g(_vector(p, names)))


def multimodal() -> list[Problem]:
    """Separable multimodal functions; Rastrigin's optimum is shifted off the centre."""
    shift = np.random.default_rng(101).uniform(-2.5, 2.5, 10)
    return [
        _plain("rastrigin10-shifted", "multimodal", 10, -5.12, 5.12, lambda x: rastrigin(x - shift)),
        _plain("schwefel10", "multimodal", 10, -500.0, 500.0, schwefel),
        _plain("styblinski-tang16", "multimodal", 16, -5.0, 5.0, styblinski_tang),
        _plain("michalewicz10", "multimodal", 10, 0.0, math.pi, michalewicz),
    ]


def _crash(
    name: str, d: int, lo: float, hi: float, g: Callable[[np.ndarray], float], fails: Callable[[np.ndarray], bool]
) -> Problem:
    """``g`` on ``[lo, hi]^d``, NaN where ``fails`` holds for the unit-cube point."""
    names = _names("x", d)

    def f(p: Params) -> float:
        x = _vector(p, names)
        return math.nan if fails((x - lo) / (hi - lo)) else g(x)

    return Problem(name, "crash", _space(_floats(names, lo, hi)), f)


def crash() -> list[Problem]:
    """Failure regions: a corner triangle, a box next to the optimum, a half-space, a slab."""
    return [
        _crash("hartmann6-crash", 6, 0.0, 1.0, hartmann6, lambda u: u[0] + u[1] > 1.2),
        _crash("levy6-crash", 6, -10.0, 10.0, levy, lambda u: u[0] > 0.6 and u[1] > 0.2),
        _crash("rosenbrock6-crash", 6, -1.0, 3.0, rosenbrock, lambda u: float(u.sum()) > 3.3),
        _crash("styblinski-tang6-crash", 6, -5.0, 5.0, styblinski_tang, lambda u: u[2] < 0.33),
    ]


def integer() -> list[Problem]:
    """Wide integer lattices: six of eight dims with 33 values, all-integer with 101, mixed with a categorical."""
    ints, floats = _names("n", 6), _names("x", 2)
    ack_shift = np.array([3, -5, 7, -2, 4, -6, 2.5, -1.5])

    def ackley8(p: Params) -> float:
        return ackley(np.r_[_vector(p, ints), _vector(p, floats)] - ack_shift)

    def levy8(p: Params) -> float:
        return levy(np.r_[_vector(p, ints), _vector(p, floats)] / 1.6)

    all_ints = _names("n", 6)
    rot, centre = _rotation(6, 7), np.array([23, 71, 40, 88, 12, 57])
    weights = 10.0 ** np.linspace(0, 2, 6)

    def ellipsoid_int(p: Params) -> float:
        z = rot @ (_vector(p, all_ints) - centre)
        return float(np.sum(weights * z * z))

    def st_int(p: Params) -> float:
        return styblinski_tang(_vector(p, all_ints) / 10.0) + 39.16616570377142 * 6

    mixed_ints, mixed_floats = _names("n", 4), _names("x", 3)
    penalty = {"a": 0.0, "b": 0.6, "c": 1.2, "d": 2.5}
    offset = {"a": 0.0, "b": -8.0, "c": 8.0, "d": 16.0}

    def mixed(p: Params) -> float:
        n = (_vector(p, mixed_ints) - 32 - offset[p["c"]]) / 6.4
        return levy(np.r_[n, _vector(p, mixed_floats)]) + penalty[p["c"]]

    cat = [{"name": "c", "type": "categorical", "choices": list(penalty)}]
    return [
        Problem("ackley8-int6", "integer", _space(_ints(ints, -16, 16), _floats(floats, -16.0, 16.0)), ackley8),
        Problem("levy8-int6", "integer", _space(_ints(ints, -16, 16), _floats(floats, -16.0, 16.0)), levy8),
        Problem("ellipsoid6-int101", "integer", _space(_ints(all_ints, 0, 100)), ellipsoid_int),
        Problem("styblinski-tang6-int101", "integer", _space(_ints(all_ints, -50, 50)), st_int),
        Problem(
            "levy7-int4-cat",
            "integer",
            _space(_ints(mixed_ints, 0, 63), _floats(mixed_floats, -10.0, 10.0), cat),
            mixed,
        ),
    ]


def noisy() -> list[Problem]:
    """Hartmann-6, Branin and Levy-8 with noise of a sizeable share of their spread."""
    out = []
    for base, sd in (
        (_plain("hartmann6-noisy", "noisy", 6, 0.0, 1.0, hartmann6), 0.2),
        (_plain("branin-noisy", "noisy", 2, 0.0, 1.0, lambda u: branin(np.array([-5 + 15 * u[0], 15 * u[1]]))), 5.0),
        (_plain("levy8-noisy", "noisy", 8, -10.0, 10.0, levy), 2.0),
    ):
        out.append(Problem(base.name, base.kind, base.space, base.f, sd))
    return out


def valley() -> list[Problem]:
    """Rotated, shifted ill-conditioned quadratics and Rosenbrock."""
    rot8, rot6 = _rotation(8, 11), _rotation(6, 13)
    shift8 = np.random.default_rng(17).uniform(-2.0, 2.0, 8)
    ell = 10.0 ** np.linspace(0, 4, 8)

    def ellipsoid(x: np.ndarray) -> float:
        z = rot8 @ (x - shift8)
        return float(np.sum(ell * z * z))

    def cigar(x: np.ndarray) -> float:
        z = rot8 @ (x - shift8)
        return float(z[0] ** 2 + 1e4 * np.sum(z[1:] ** 2))

    def rosen(x: np.ndarray) -> float:
        return rosenbrock(1.0 + rot6 @ (x - 0.5))

    return [
        _plain("ellipsoid8-rotated", "valley", 8, -5.0, 5.0, ellipsoid),
        _plain("bent-cigar8-rotated", "valley", 8, -5.0, 5.0, cigar),
        _plain("rosenbrock6-rotated", "valley", 6, -2.0, 3.0, rosen),
    ]


def _bump(t: float, centre: float, width: float) -> float:
    """1 far from ``centre`` (a plateau with a faint slope), 0 at it: the signal lives within a decade."""
    return 1.0 - math.exp(-(((t - centre) / width) ** 2)) + 0.03 * abs(t - centre)


def logscale() -> list[Problem]:
    """Log-scaled parameters over 6-9 decades; each matters within about one decade."""
    names6 = _names("x", 6)
    centres = np.array([-3.4, -6.2, -1.1, -4.7, -0.4, -2.8])

    def bumps(p: Params) -> float:
        t = np.log10(_vector(p, names6))
        return float(sum(_bump(ti, c, 0.45) for ti, c in zip(t, centres)))

    train_space = _space(
        _floats(["lr"], 1e-6, 1.0, "log"),
        _floats(["weight_decay"], 1e-8, 1e-1, "log"),
        _ints(["batch"], 8, 4096, "log"),
        _floats(["momentum"], 0.0, 0.99),
        _floats(["eps"], 1e-10, 1e-2, "log"),
    )

    def training(p: Params) -> float:
        eff = math.log10(p["lr"]) + 0.5 * math.log10(p["batch"] / 256) - 0.5 * math.log10(1 - 0.9 * p["momentum"])
        lr_term = 2.0 * (1.0 - math.exp(-(((eff + 2.6) / 0.5) ** 2))) + 0.1 * abs(eff + 2.6)
        wd = math.log10(p["weight_decay"])
        wd_term = -0.4 / (1.0 + math.exp(-(wd + 3.5) * 4.0)) + max(0.0, wd + 2.5) ** 2  # helps in 1e-4..1e-3
        eps_term = 0.3 * (math.log10(p["eps"]) > -4.0)
        return float(lr_term + 0.4 + wd_term + eps_term)

    tree_space = _space(
        _ints(["n_estimators"], 1, 5000, "log"),
        _ints(["min_leaf"], 1, 1000, "log"),
        _floats(["learning_rate"], 1e-4, 1.0, "log"),
        _floats(["l2"], 1e-6, 1e3, "log"),
    )

    def trees(p: Params) -> float:
        steps = math.log10(p["n_estimators"]) + math.log10(p["learning_rate"])  # log of total shrinkage
        fit = 1.0 - math.exp(-(((steps - 1.3) / 0.6) ** 2))
        leaf = _bump(math.log10(p["min_leaf"]), 1.2, 0.5) * 0.5
        reg = _bump(math.log10(p["l2"]), 0.3, 0.7) * 0.3
        return float(fit + leaf + reg)

    return [
        Problem("log-bumps6", "logscale", _space(_floats(names6, 1e-8, 10.0, "log")), bumps),
        Problem("log-training5", "logscale", train_space, training),
        Problem("log-trees4", "logscale", tree_space, trees),
    ]


def problems() -> list[Problem]:
    """Every problem of the broad set, kind by kind."""
    return [*multimodal(), *crash(), *integer(), *noisy(), *valley(), *logscale()]
