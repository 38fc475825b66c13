"""Learning-curve problems for the early-stopping benchmark: a configuration's objective by step.

Four real ones, scikit-learn learners trained step by step on data sets that ship with
scikit-learn (validation error or log loss after each epoch or boosting round; two more,
held out, added in round ten: a regression boosting and a linear regression by SGD), and
parametric synthetic ones whose curves cross (the configurations that end best start
slowest). A real curve is computed lazily, as far as a method asks, by a live generator
kept per configuration (so a trial continued later does not retrain), and cached (in
memory and under ``~/.cache/hyperstep-bench``): every method of a run and every later run
share the evaluations; configurations are rounded to 2 significant digits first, so close
proposals share one curve.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from hyperstep.space import SearchSpace

Params = dict[str, Any]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hyperstep-bench"


@dataclass
class CurveProblem:
    """A configuration space and each configuration's curve over ``1..max_resource`` steps."""

    name: str
    parameters: list[dict[str, Any]]
    curve_of: Callable[[Params, int], Iterator[float]]
    max_resource: int = 27
    crossing: bool = False
    held_out: bool = False
    """Added after the methods were changed, and run apart (``--only``): not in the verdict's problems."""
    cached: dict[str, list[float]] = field(default_factory=dict)
    live: dict[str, Iterator[float]] = field(default_factory=dict)

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.model_validate({"parameters": self.parameters})

    def rounded(self, params: Params) -> Params:
        """The configuration evaluated: floats to 2 significant digits (so curves are shared)."""
        return {k: float(f"{v:.2g}") if isinstance(v, float) else v for k, v in params.items()}

    def value(self, params: Params, step: int) -> float:
        """The objective after ``step`` steps (1 to ``max_resource``), to minimize."""
        key = json.dumps(self.rounded(params), sort_keys=True)
        known = self.cached.setdefault(key, [])
        if len(known) < step:
            if key not in self.live:
                values = self.curve_of(self.rounded(params), self.max_resource)
                for _ in known:  # a curve from the disk cache: catch up
                    next(values)
                self.live[key] = values
            while len(known) < step:
                known.append(float(next(self.live[key])))
        return known[step - 1]

    def _path(self) -> Path:
        return CACHE / f"early_stopping_{self.name}.json"

    def load(self) -> None:
        if self._path().exists():
            self.cached.update(json.loads(self._path().read_text()))

    def save(self) -> None:
        """Write the curves known here joined with those another process saved meanwhile
        (per configuration the longer curve), through a temporary file: runs on the same
        problem in parallel no longer drop each other's curves or read a half-written file."""
        if self.crossing:
            return  # synthetic: cheaper to recompute than to store
        path = self._path()
        path.parent.mkdir(parents=True, exist_ok=True)
        on_disk = json.loads(path.read_text()) if path.exists() else {}
        for key, curve in on_disk.items():
            if len(curve) > len(self.cached.get(key, [])):
                self.cached[key] = curve
                self.live.pop(key, None)  # its generator is behind: a later step starts one afresh
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(self.cached))
        os.replace(temporary, path)


@cache
def _digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    return tuple(train_test_split(x / 16.0, y, test_size=0.3, random_state=0, stratify=y))


def _scaled_split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """70/30 stratified split, features standardized on the training part."""
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


@cache
def _cancer() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_breast_cancer

    return _scaled_split(*load_breast_cancer(return_X_y=True))


def mlp_digits(params: Params, steps: int) -> Iterator[float]:
    """``MLPClassifier.partial_fit``, one epoch per step: validation error on digits."""
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _digits()
    model = MLPClassifier(
        hidden_layer_sizes=(params["hidden"],),
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate"],
        batch_size=int(params["batch_size"]),
        random_state=0,
    )
    for _ in range(steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train, classes=np.arange(10))
        yield 1.0 - model.score(x_val, y_val)


def sgd_digits(params: Params, steps: int) -> Iterator[float]:
    """``SGDClassifier.partial_fit`` (logistic loss), one epoch per step: validation error on digits."""
    from sklearn.linear_model import SGDClassifier

    x_train, x_val, y_train, y_val = _digits()
    model = SGDClassifier(
        loss="log_loss",
        alpha=params["alpha"],
        learning_rate="invscaling",
        eta0=params["eta0"],
        power_t=params["power_t"],
        random_state=0,
    )
    order = np.random.default_rng(0)
    for _ in range(steps):
        shuffle = order.permutation(len(x_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train[shuffle], y_train[shuffle], classes=np.arange(10))
        yield 1.0 - model.score(x_val, y_val)


def gbm_cancer(params: Params, steps: int) -> Iterator[float]:
    """``GradientBoostingClassifier``, one boosting round per step (``staged_predict_proba``):
    validation log loss on breast cancer."""
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import log_loss

    x_train, x_val, y_train, y_val = _cancer()
    model = GradientBoostingClassifier(
        n_estimators=steps,
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        subsample=params["subsample"],
        min_samples_leaf=params["min_samples_leaf"],
        random_state=0,
    ).fit(x_train, y_train)
    for p in model.staged_predict_proba(x_val):
        yield log_loss(y_val, p, labels=[0, 1])


@cache
def _diabetes() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_diabetes(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.3, random_state=0)
    scaler = StandardScaler().fit(x_train)
    centre, spread = y_train.mean(), y_train.std()
    return scaler.transform(x_train), scaler.transform(x_val), (y_train - centre) / spread, (y_val - centre) / spread


def mlp_diabetes(params: Params, steps: int) -> Iterator[float]:
    """``MLPRegressor.partial_fit``, one epoch per step: validation mean squared error
    (targets standardized) on diabetes, 309 training rows. Not a kind the method was
    tuned on: curves are noisy and not monotone (wide, weakly regularized nets overfit,
    so their error turns up again), unlike the classifiers' and the power laws'."""
    from sklearn.neural_network import MLPRegressor

    x_train, x_val, y_train, y_val = _diabetes()
    model = MLPRegressor(
        hidden_layer_sizes=(params["hidden"],),
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate"],
        batch_size=int(params["batch_size"]),
        random_state=0,
    )
    for _ in range(steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train)
        yield float(np.mean((model.predict(x_val) - y_val) ** 2))


def gbm_diabetes(params: Params, steps: int) -> Iterator[float]:
    """``GradientBoostingRegressor`` with ``warm_start``, one boosting round per step (the
    ensemble grown by one tree a step, so only the steps asked are trained): validation mean
    squared error (targets standardized) on diabetes. A regression boosting on 309 noisy
    rows: a small learning rate is still far from its floor at step 27, a large one with
    deep trees overfits and turns up. Held out: added in round ten, after the methods were
    changed for the last time, and run apart."""
    from sklearn.ensemble import GradientBoostingRegressor

    x_train, x_val, y_train, y_val = _diabetes()
    model = GradientBoostingRegressor(
        n_estimators=1,
        warm_start=True,
        learning_rate=params["learning_rate"],
        max_depth=params["max_depth"],
        subsample=params["subsample"],
        min_samples_leaf=params["min_samples_leaf"],
        max_features=params["max_features"],
        random_state=0,
    )
    for rounds in range(1, steps + 1):
        model.set_params(n_estimators=rounds).fit(x_train, y_train)
        yield float(np.mean((model.predict(x_val) - y_val) ** 2))


@cache
def _diabetes_quadratic() -> tuple[np.ndarray, ...]:
    """Diabetes with its 65 degree-2 features (standardized): enough features for 309 rows
    that the penalty matters and an unregularized fit overfits."""
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    x_train, x_val, y_train, y_val = _diabetes()
    expand = PolynomialFeatures(2, include_bias=False).fit(x_train)
    scaler = StandardScaler().fit(expand.transform(x_train))
    return scaler.transform(expand.transform(x_train)), scaler.transform(expand.transform(x_val)), y_train, y_val


DIVERGED = 10.0
"""sgd-diabetes' value once SGD has blown up (the error capped, as diverging-4d caps at 3)."""


def sgd_diabetes(params: Params, steps: int) -> Iterator[float]:
    """``SGDRegressor.partial_fit`` (squared loss, elastic net, ``invscaling`` rate), one
    epoch per step: validation mean squared error (targets standardized, capped at
    ``DIVERGED``) on diabetes' degree-2 features. A real counterpart of diverging-4d: a
    step size above the stability limit blows up (at once or after some epochs), a large
    one with a slow decay wanders, noisy and not monotone, and a weak penalty overfits the
    65 features. Held out: added in round ten, after the methods were changed for the last
    time, and run apart."""
    from sklearn.linear_model import SGDRegressor

    x_train, x_val, y_train, y_val = _diabetes_quadratic()
    model = SGDRegressor(
        penalty="elasticnet",
        alpha=params["alpha"],
        l1_ratio=params["l1_ratio"],
        learning_rate="invscaling",
        eta0=params["eta0"],
        power_t=params["power_t"],
        random_state=0,
    )
    order = np.random.default_rng(0)
    value = 0.0
    for _ in range(steps):
        shuffle = order.permutation(len(x_train))
        if value < DIVERGED:
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    model.partial_fit(x_train[shuffle], y_train[shuffle])
                    error = float(np.mean((model.predict(x_val) - y_val) ** 2))
            except ValueError:  # sklearn's "Floating-point under-/overflow occurred at epoch"
                error = math.inf
            value = min(DIVERGED, error) if math.isfinite(error) else DIVERGED
        yield value


def crossing_curve(params: Params, steps: int) -> Iterator[float]:
    """Parametric curves ``final + gap * step**-speed`` that cross: the final value is least
    near the centre ``c`` (0.7, 0.3, 0.5, ...), and the closer a configuration is to it, the
    slower it learns and the worse it starts (a slow starter that ends best)."""
    x = np.array([params[f"x{i}"] for i in range(len(params))], dtype=float)
    centre = np.array([0.7, 0.3, 0.5, 0.2, 0.8, 0.4][: len(x)])
    distance = float(np.sqrt(np.mean((x - centre) ** 2)))
    final = distance**2 + 0.05 * math.sin(8 * x[0]) ** 2
    speed = 0.3 + 3.0 * distance  # near the optimum: slow
    gap = 1.5 - distance  # near the optimum: far from its final value at first
    return iter([final + gap * s**-speed for s in range(1, steps + 1)])


def noisy_decay(params: Params, steps: int) -> Iterator[float]:
    """Curves that are not power laws (the curve model's family): an exponential decay to a
    floor, a rise once the configuration overfits, and noise (seeded by the configuration,
    so a configuration has one curve). The floor is least near ``(0.3, 0.6, 0.5, 0.4)``; a
    large ``x1`` learns fast but overfits early; ``x2`` and ``x3`` set the noise and the floor's
    ruggedness. Held out: made after the methods were changed, to check them on a kind of
    curve they were not shaped on."""
    x = np.array([params[f"x{i}"] for i in range(4)], dtype=float)
    centre = np.array([0.3, 0.6, 0.5, 0.4])
    floor = 0.1 + float(np.sum((x - centre) ** 2)) + 0.03 * math.cos(9 * x[3]) ** 2
    rate = 0.05 + 0.6 * x[1]  # per step
    overfit = 0.002 * max(0.0, x[1] - 0.5) * (1.5 - x[0])
    turn = 27 * (1.2 - x[1])  # the step after which it overfits
    noise = 0.005 + 0.02 * x[2]
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x])
    for s in range(1, steps + 1):
        value = floor + 0.8 * math.exp(-rate * s) + overfit * max(0.0, s - turn) ** 1.5
        yield value + noise * float(rng.standard_normal())


def plateau_drop(params: Params, steps: int) -> Iterator[float]:
    """Curves with a plateau, then a drop (log-logistic in the step) to a final floor, with
    noise: neither power laws nor an exponential decay. A configuration sits near its start
    level (set by ``x3`` alone, unrelated to the floor) until around step ``t0``, which grows
    with ``x1``, then falls to its floor, least near ``(0.4, 0.55, 0.3, 0.6, 0.5)``; ``x2`` sets
    how sharp the drop is. So the best configurations drop around step 12: the first rungs
    show the plateau's noise and start levels, not the ranking at the end. Held out: made
    after the joint model of the resource (``schedulers.joint``) was written, before it was
    run on it, to judge it on a kind of curve nothing here was shaped on."""
    x = np.array([params[f"x{i}"] for i in range(5)], dtype=float)
    centre = np.array([0.4, 0.55, 0.3, 0.6, 0.5])
    floor = 0.1 + float(np.sum((x - centre) ** 2)) + 0.02 * math.sin(7 * x[4]) ** 2
    start = 1.0 + 0.2 * x[3]
    t0 = 1.0 + 20.0 * x[1]
    sharpness = 2.0 + 4.0 * x[2]
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x] + [7])
    for s in range(1, steps + 1):
        value = floor + (start - floor) / (1.0 + (s / t0) ** sharpness)
        yield value + 0.01 * float(rng.standard_normal())


def diverging(params: Params, steps: int) -> Iterator[float]:
    """Curves of a learning rate near its stability limit: a configuration converges at a
    rate set by its learning rate ``lr`` (``x0``, log scale 1e-3 to 1) to a floor least near
    ``(x2, x3) = (0.35, 0.6)``; past a limit set by ``x1`` (0.1 to 0.4), it diverges, the
    later the nearer the limit (an exponential blow-up, capped at 3). So the best
    configurations sit just below the limit, and those just above it look best at every
    rung before the end: the fast starter that ends worst, where the crossing curves' slow
    starter ends best. Noise seeded by the configuration. Held out: made in round nine,
    after the methods were changed for the last time, and run apart."""
    x = np.array([params[f"x{i}"] for i in range(4)], dtype=float)
    lr = 10.0 ** (-3.0 + 3.0 * x[0])
    limit = 10.0 ** (-1.0 + 0.6 * x[1])
    floor = 0.05 + 0.3 * (x[2] - 0.35) ** 2 + 0.2 * (x[3] - 0.6) ** 2 + 0.02 * math.sin(9 * x[3]) ** 2
    growth = 0.15 * max(0.0, lr / limit - 1.0)  # per step, once past the limit
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x] + [11])
    for s in range(1, steps + 1):
        value = floor + (1.0 - floor) * math.exp(-3.0 * lr * s) + 0.01 * math.expm1(growth * s)
        yield min(3.0, value + 0.005 * float(rng.standard_normal()))


def extra_trees_digits(params: Params, steps: int) -> Iterator[float]:
    """``ExtraTreesClassifier`` with ``warm_start``, one tree a step (``n_estimators`` the
    resource): validation log loss on digits. A forest's curve flattens as trees are added
    rather than following a power law to a floor of its own: the first trees' probabilities
    are coarse (a deep tree says 0 or 1, so one tree's log loss is large), averaging smooths
    them. Deep trees with small leaves start worst and end best, shallow ones the reverse.
    Round twelve: a kind never tuned on, held out."""
    from sklearn.ensemble import ExtraTreesClassifier

    x_train, x_val, y_train, y_val = _digits()
    model = ExtraTreesClassifier(
        n_estimators=1,
        warm_start=True,
        max_features=params["max_features"],
        min_samples_leaf=params["min_samples_leaf"],
        max_depth=params["max_depth"],
        criterion=params["criterion"],
        random_state=0,
    )
    for trees in range(1, steps + 1):
        model.set_params(n_estimators=trees).fit(x_train, y_train)
        yield log_loss_of(y_val, model.predict_proba(x_val))


@cache
def _wine() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_wine

    return _scaled_split(*load_wine(return_X_y=True))


def mlp_wine(params: Params, steps: int) -> Iterator[float]:
    """``MLPClassifier.partial_fit``, one epoch a step, with the solver a categorical
    (``adam`` or ``sgd`` with momentum): validation log loss on wine (124 training rows,
    54 validation rows, 3 classes). A mixed space (one-hot in the GP), a tiny data set
    where one epoch is a few updates: ``sgd`` with a small step barely moves in 27 epochs,
    ``adam`` with a large one overfits and its log loss turns up. Round twelve: a kind never
    tuned on, held out."""
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _wine()
    model = MLPClassifier(
        hidden_layer_sizes=(params["hidden"],),
        solver=params["solver"],
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate"],
        batch_size=int(params["batch_size"]),
        random_state=0,
    )
    for _ in range(steps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train, classes=np.arange(3))
        yield log_loss_of(y_val, model.predict_proba(x_val))


def log_loss_of(y: np.ndarray, proba: np.ndarray) -> float:
    """Log loss with the probabilities clipped at 1e-15 (sklearn's old default), so a net
    whose softmax saturates gives a large finite value, not a warning and infinity."""
    picked = np.clip(proba[np.arange(len(y)), y], 1e-15, 1.0)
    return float(-np.mean(np.log(picked)))


def reversing(params: Params, steps: int) -> Iterator[float]:
    """Curves whose ranking reverses twice: right at step 1, backwards around step 9,
    right again at the end. A configuration decays fast from its start to its floor (least
    near ``(0.6, 0.35, 0.5, 0.7)``), but the nearer the floor's optimum, the higher a hump in
    the middle of training (a bump peaking near step 4-8, gone by 27: double descent, a
    warm restart). Over 300 random configurations Kendall's tau of step k against step 27
    is 0.81 / 0.11 / -0.14 at k = 1 / 3 / 9 (0.47 / 0.01 / -0.34 among the best 20%): rung 1
    ranks right, rung 9 backwards. Step noise is heavy-tailed (Student's t with 2 degrees of freedom, scale 0.004):
    a rare step lands far off. Seeded by the configuration. Round twelve: made before any
    method was run on it, held out."""
    x = np.array([params[f"x{i}"] for i in range(4)], dtype=float)
    centre = np.array([0.6, 0.35, 0.5, 0.7])
    distance = float(np.sqrt(np.mean((x - centre) ** 2)))
    floor = 0.1 + distance**2 + 0.01 * math.sin(9 * x[3]) ** 2
    hump = 0.5 * max(0.0, 1.0 - 2.0 * distance)
    peak = 4.0 + 4.0 * x[2]
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x] + [13])
    for s in range(1, steps + 1):
        bump = (s / peak) ** 3 * math.exp(3.0 * (1.0 - s / peak))
        value = floor + 0.6 * math.exp(-s / 1.5) + hump * bump
        yield value + 0.004 * float(rng.standard_t(2))


def grokking(params: Params, steps: int) -> Iterator[float]:
    """Two families of curve: most configurations learn smoothly (a power law to a floor
    set by their distance to ``(0.3, 0.7, 0.45)``), but near that optimum a configuration
    first sits on a flat, high plateau and then drops late and fast (a sigmoid in the step,
    centred at step 12-20 as ``x2`` grows) to a floor below every smooth learner's: a
    phase transition, as "grokking" or a schedule's late decay. So at every rung (1, 3, 9)
    the configurations that end best look worst, and a power law fitted there (flat so far)
    predicts them flat. Over 300 random configurations Kendall's tau of step k against step 27
    is 0.51 / 0.24 / 0.19 at k = 1 / 3 / 9, and -0.84 / -0.91 / -0.90 among the best 20%. Small
    Gaussian step noise seeded by the configuration. es-22: made before any method was run on
    it, held out."""
    x = np.array([params[f"x{i}"] for i in range(3)], dtype=float)
    centre = np.array([0.3, 0.7, 0.45])
    distance = float(np.sqrt(np.mean((x - centre) ** 2)))
    smooth_floor = 0.25 + distance**2 + 0.02 * math.sin(7 * x[0]) ** 2
    near = max(0.0, 1.0 - distance / 0.25)  # 1 at the optimum, 0 beyond distance 0.25
    late_floor = 0.05 + distance**2
    turn = 12.0 + 8.0 * x[2]
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x] + [17])
    for s in range(1, steps + 1):
        smooth = smooth_floor + 0.7 * s**-0.8
        drop = 1.0 / (1.0 + math.exp(-(s - turn) / 1.2))
        grok = 1.3 - (1.3 - late_floor) * drop
        value = (1.0 - near) * smooth + near * grok
        yield value + 0.003 * float(rng.standard_normal())


def restarts(params: Params, steps: int) -> Iterator[float]:
    """Warm restarts (SGDR): every configuration decays to a floor least near ``(0.55, 0.25,
    0.65, 0.4)``, but its learning rate restarts every ``period`` steps (6 to 10, set by
    ``x3``), each restart throwing the loss up by an amount that shrinks with each cycle and
    is largest near the optimum (the configurations with the most to gain restart hardest).
    So a rung's value depends on where in its cycle a configuration is: the ranking at 1,
    3 and 9 is a mix of the floor and the phase, and the curves are not monotone (Kendall's
    tau of step k against 27 over 300 random configurations 0.63 / 0.63 / 0.11 at k = 1 / 3 / 9,
    0.46 / 0.46 / -0.06 among the best 20%). Step noise seeded by the configuration. es-22:
    made before any method was run on it, held out."""
    x = np.array([params[f"x{i}"] for i in range(4)], dtype=float)
    centre = np.array([0.55, 0.25, 0.65, 0.4])
    distance = float(np.sqrt(np.mean((x - centre) ** 2)))
    floor = 0.1 + distance**2 + 0.01 * math.cos(8 * x[1]) ** 2
    kick = 1.2 * max(0.0, 1.0 - 2.5 * distance)
    period = 6.0 + 4.0 * x[3]
    rng = np.random.default_rng([round(float(v) * 1e6) for v in x] + [19])
    for s in range(1, steps + 1):
        cycle, phase = divmod(s, period)
        value = floor + 0.5 * math.exp(-s / 3.0) + kick * math.exp(-phase / 3.0) * (cycle > 0) / (1.0 + cycle)
        yield value + 0.003 * float(rng.standard_normal())


def problems() -> dict[str, CurveProblem]:
    """Every problem of the benchmark, by name."""
    unit = [{"name": f"x{i}", "type": "float", "low": 0.0, "high": 1.0} for i in range(6)]
    return {
        "mlp-digits": CurveProblem(
            "mlp-digits",
            [
                {"name": "hidden", "type": "int", "low": 8, "high": 64},
                {"name": "alpha", "type": "float", "low": 1e-6, "high": 1.0, "scale": "log"},
                {"name": "learning_rate", "type": "float", "low": 1e-5, "high": 1.0, "scale": "log"},
                {"name": "batch_size", "type": "int", "low": 64, "high": 512, "scale": "log"},
            ],
            mlp_digits,
        ),
        "sgd-digits": CurveProblem(
            "sgd-digits",
            [
                {"name": "alpha", "type": "float", "low": 1e-7, "high": 1.0, "scale": "log"},
                {"name": "eta0", "type": "float", "low": 1e-5, "high": 10.0, "scale": "log"},
                {"name": "power_t", "type": "float", "low": 0.05, "high": 1.0},
            ],
            sgd_digits,
        ),
        "gbm-cancer": CurveProblem(
            "gbm-cancer",
            [
                {"name": "learning_rate", "type": "float", "low": 0.005, "high": 1.0, "scale": "log"},
                {"name": "max_depth", "type": "int", "low": 1, "high": 6},
                {"name": "subsample", "type": "float", "low": 0.2, "high": 1.0},
                {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 60, "scale": "log"},
            ],
            gbm_cancer,
        ),
        "mlp-diabetes": CurveProblem(
            "mlp-diabetes",
            [
                {"name": "hidden", "type": "int", "low": 8, "high": 128, "scale": "log"},
                {"name": "alpha", "type": "float", "low": 1e-6, "high": 10.0, "scale": "log"},
                {"name": "learning_rate", "type": "float", "low": 1e-5, "high": 0.3, "scale": "log"},
                {"name": "batch_size", "type": "int", "low": 32, "high": 256, "scale": "log"},
            ],
            mlp_diabetes,
        ),
        "crossing-2d": CurveProblem("crossing-2d", unit[:2], crossing_curve, crossing=True),
        "crossing-6d": CurveProblem("crossing-6d", unit, crossing_curve, crossing=True),
        "noisy-decay-4d": CurveProblem("noisy-decay-4d", unit[:4], noisy_decay, held_out=True),
        "plateau-5d": CurveProblem("plateau-5d", unit[:5], plateau_drop, held_out=True),
        "diverging-4d": CurveProblem("diverging-4d", unit[:4], diverging, held_out=True),
        "gbm-diabetes": CurveProblem(
            "gbm-diabetes",
            [
                {"name": "learning_rate", "type": "float", "low": 0.005, "high": 1.0, "scale": "log"},
                {"name": "max_depth", "type": "int", "low": 1, "high": 6},
                {"name": "subsample", "type": "float", "low": 0.2, "high": 1.0},
                {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 60, "scale": "log"},
                {"name": "max_features", "type": "float", "low": 0.1, "high": 1.0},
            ],
            gbm_diabetes,
            held_out=True,
        ),
        "sgd-diabetes": CurveProblem(
            "sgd-diabetes",
            [
                {"name": "alpha", "type": "float", "low": 1e-6, "high": 10.0, "scale": "log"},
                {"name": "l1_ratio", "type": "float", "low": 0.0, "high": 1.0},
                {"name": "eta0", "type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
                {"name": "power_t", "type": "float", "low": 0.05, "high": 1.0},
            ],
            sgd_diabetes,
            held_out=True,
        ),
        "extra-trees-digits": CurveProblem(
            "extra-trees-digits",
            [
                {"name": "max_features", "type": "float", "low": 0.02, "high": 1.0, "scale": "log"},
                {"name": "min_samples_leaf", "type": "int", "low": 1, "high": 30, "scale": "log"},
                {"name": "max_depth", "type": "int", "low": 2, "high": 40, "scale": "log"},
                {"name": "criterion", "type": "categorical", "choices": ["gini", "entropy"]},
            ],
            extra_trees_digits,
            held_out=True,
        ),
        "mlp-wine": CurveProblem(
            "mlp-wine",
            [
                {"name": "solver", "type": "categorical", "choices": ["adam", "sgd"]},
                {"name": "hidden", "type": "int", "low": 4, "high": 64, "scale": "log"},
                {"name": "alpha", "type": "float", "low": 1e-6, "high": 1.0, "scale": "log"},
                {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 0.3, "scale": "log"},
                {"name": "batch_size", "type": "int", "low": 8, "high": 64, "scale": "log"},
            ],
            mlp_wine,
            held_out=True,
        ),
        "reversing-4d": CurveProblem("reversing-4d", unit[:4], reversing, crossing=True, held_out=True),
        "grokking-3d": CurveProblem("grokking-3d", unit[:3], grokking, crossing=True, held_out=True),
        "restarts-4d": CurveProblem("restarts-4d", unit[:4], restarts, crossing=True, held_out=True),
    }
