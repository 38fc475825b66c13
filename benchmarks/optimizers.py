"""One ask/tell interface over hyperstep and the anchors it is compared with.

Every optimizer proposes a batch of parameter dicts and is told their losses (lower is
better; ``None`` for a failed evaluation). Search spaces are written once as hyperstep
``SearchSpace`` objects and translated to Optuna distributions and scikit-optimize
dimensions here, so all methods search exactly the same space.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

import hyperstep
from hyperstep.space import CategoricalParameter, FloatParameter, SearchSpace

Params = dict[str, Any]


class BatchOptimizer(ABC):
    """Proposes ``n`` configurations at once, then learns all their losses."""

    @abstractmethod
    def ask(self, n: int) -> list[Params]: ...

    @abstractmethod
    def tell(self, losses: list[float | None]) -> None:
        """Losses of the last ``ask``, in order; ``None`` marks a failed evaluation."""


class HyperstepOptimizer(BatchOptimizer):
    """A hyperstep ``Study`` with an in-memory store (the library under test)."""

    def __init__(self, space: SearchSpace, seed: int, strategy: str = "bayesian") -> None:
        self.study = hyperstep.Study(space, goal="minimize", strategy=strategy, seed=seed)
        self._pending: list[str] = []

    def ask(self, n: int) -> list[Params]:
        trials = self.study.ask(n)
        self._pending = [t.id for t in trials]
        return [dict(t.params) for t in trials]

    def tell(self, losses: list[float | None]) -> None:
        for tid, loss in zip(self._pending, losses):
            if loss is None:
                self.study.tell(tid, None, state="failed")
            else:
                self.study.tell(tid, float(loss))


class RandomOptimizer(BatchOptimizer):
    """Uniform random search, independent of the library's strategies (the baseline)."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.rng = np.random.default_rng(seed)

    def ask(self, n: int) -> list[Params]:
        return [self.space.decode(u) for u in self.rng.random((n, self.space.dim))]

    def tell(self, losses: list[float | None]) -> None:
        return None


def optuna_distributions(space: SearchSpace) -> dict[str, Any]:
    """The Optuna distribution of every parameter."""
    import optuna

    out: dict[str, Any] = {}
    for p in space.parameters:
        if isinstance(p, CategoricalParameter):
            out[p.name] = optuna.distributions.CategoricalDistribution(p.choices)
        elif isinstance(p, FloatParameter):
            out[p.name] = optuna.distributions.FloatDistribution(p.low, p.high, log=p.scale == "log")
        else:
            out[p.name] = optuna.distributions.IntDistribution(p.low, p.high, log=p.scale == "log")
    return out


class OptunaTPE(BatchOptimizer):
    """Optuna's multivariate TPE with constant liar, driven by ask/tell in batches."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.distributions = optuna_distributions(space)
        self._pending: list[Any] = []

    def ask(self, n: int) -> list[Params]:
        self._pending = [self.study.ask(self.distributions) for _ in range(n)]
        return [dict(t.params) for t in self._pending]

    def tell(self, losses: list[float | None]) -> None:
        import optuna

        for trial, loss in zip(self._pending, losses):
            if loss is None:
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, float(loss))


class SkoptGP(BatchOptimizer):
    """scikit-optimize's GP with EI; a batch is proposed with the ``cl_min`` constant liar.

    The acquisition is maximized by sampling 2000 points (not L-BFGS) to keep it affordable.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        from skopt import Optimizer
        from skopt.space import Categorical, Integer, Real

        dims: list[Any] = []
        for p in space.parameters:
            if isinstance(p, CategoricalParameter):
                dims.append(Categorical(list(p.choices), name=p.name))
            elif isinstance(p, FloatParameter):
                dims.append(Real(p.low, p.high, prior="log-uniform" if p.scale == "log" else "uniform", name=p.name))
            else:
                dims.append(Integer(p.low, p.high, prior="log-uniform" if p.scale == "log" else "uniform", name=p.name))
        self.names = [p.name for p in space.parameters]
        self.opt = Optimizer(
            dims,
            base_estimator="GP",
            n_initial_points=8,
            acq_func="EI",
            acq_optimizer="sampling",
            acq_optimizer_kwargs={"n_points": 2000},
            random_state=seed,
        )
        self._pending: list[list[Any]] = []

    def ask(self, n: int) -> list[Params]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._pending = self.opt.ask(n, strategy="cl_min")
        return [{k: _plain(v) for k, v in zip(self.names, x)} for x in self._pending]

    def tell(self, losses: list[float | None]) -> None:
        import warnings

        told = [(x, float(v)) for x, v in zip(self._pending, losses) if v is not None]
        if told:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.opt.tell([x for x, _ in told], [v for _, v in told])


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so models and objectives see ordinary values."""
    return value.item() if isinstance(value, np.generic) else value


FACTORIES: dict[str, Callable[[SearchSpace, int], BatchOptimizer]] = {
    "hyperstep": lambda space, seed: HyperstepOptimizer(space, seed, "bayesian"),
    "random": RandomOptimizer,
    "optuna-tpe": OptunaTPE,
    "skopt-gp": SkoptGP,
}


def default_methods() -> list[str]:
    """The methods run unless others are asked for.

    scikit-optimize installs here but is left out by default: its batch ask refits its GP
    once per lie, which measured 20-40 s per round of 8 on this 2-core machine (minutes
    per 16-round run); pass ``--methods skopt-gp`` to include it.
    """
    return ["hyperstep", "random", "optuna-tpe"]


def run_batches(
    optimizer: BatchOptimizer, objective: Callable[[Params], float], rounds: int, batch: int
) -> tuple[np.ndarray, float]:
    """Run ``rounds`` ask/evaluate/tell cycles; return losses ``(rounds, batch)`` and optimizer seconds.

    A failed evaluation (an exception or a non-finite loss) is NaN in the losses and is
    told as failed. Only time spent inside ``ask`` and ``tell`` counts as optimizer time.
    """
    losses = np.full((rounds, batch), np.nan)
    spent = 0.0
    for r in range(rounds):
        start = time.perf_counter()
        configs = optimizer.ask(batch)
        spent += time.perf_counter() - start
        values: list[float | None] = []
        for i, params in enumerate(configs):
            try:
                value = float(objective(params))
            except (ValueError, ArithmeticError, np.linalg.LinAlgError):
                value = float("nan")
            losses[r, i] = value
            values.append(value if np.isfinite(value) else None)
        start = time.perf_counter()
        optimizer.tell(values)
        spent += time.perf_counter() - start
    return losses, spent
