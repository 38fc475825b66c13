"""One ask/tell interface over hyperstep and the anchors it is compared with.

Every optimizer proposes a batch of parameter dicts and is told their losses (lower is
better; ``None`` for a failed evaluation). Search spaces are written once as hyperstep
``SearchSpace`` objects and translated to Optuna distributions and scikit-optimize
dimensions here, so all methods search exactly the same space.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import hyperstep
from hyperstep.conditions import parents_first
from hyperstep.space import CategoricalParameter, FloatParameter, Parameter, SearchSpace

Params = dict[str, Any]


class BatchOptimizer(ABC):
    """Proposes ``n`` configurations at once, then learns all their losses."""

    @abstractmethod
    def ask(self, n: int) -> list[Params]: ...

    @abstractmethod
    def tell(self, losses: list[float | None]) -> None:
        """Losses of the last ``ask``, in order; ``None`` marks a failed evaluation."""

    def close(self) -> None:
        """Release what the optimizer holds (a child process); nothing by default."""
        return None

    def plan(self, trials: int) -> None:
        """The run will ask ``trials`` in all (``run_batches`` says so first); ignored by default:
        the anchors' designs do not depend on it."""
        return None


class HyperstepOptimizer(BatchOptimizer):
    """A hyperstep ``Study`` with an in-memory store (the library under test).

    Every ``ask`` passes the run's trials as ``max_trials``, as a job's budget does (``plan``):
    the Bayesian strategy sizes its initial design from it (``bayesian.initial_design_size``)."""

    budget: int | None = None

    def __init__(self, space: SearchSpace, seed: int, strategy: str = "bayesian") -> None:
        self.study = hyperstep.Study(space, goal="minimize", strategy=strategy, seed=seed)
        self._pending: list[str] = []

    def ask(self, n: int) -> list[Params]:
        trials = self.study.ask(n, max_trials=self.budget)
        self._pending = [t.id for t in trials]
        return [dict(t.params) for t in trials]

    def tell(self, losses: list[float | None]) -> None:
        for tid, loss in zip(self._pending, losses):
            if loss is None:
                self.study.tell(tid, None, state="failed")
            else:
                self.study.tell(tid, float(loss))

    def plan(self, trials: int) -> None:
        self.budget = trials


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


def define_by_run(space: SearchSpace) -> list[Parameter]:
    """A conditional space's parameters, parents first, for Optuna to sample define-by-run (a child only
    when its parents chose it); an empty list for a box, which is asked with fixed distributions."""
    return [space.parameters[i] for i in parents_first(space.parameters)] if space.conditional else []


class OptunaTPE(BatchOptimizer):
    """Optuna's multivariate TPE with constant liar, driven by ask/tell in batches. A conditional space
    is sampled define-by-run: a parameter is suggested only while its ``when`` holds."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.distributions = optuna_distributions(space)
        self.tree = define_by_run(space)
        self._pending: list[Any] = []

    def ask(self, n: int) -> list[Params]:
        self._pending = [self._trial() for _ in range(n)]
        return [dict(t.params) for t in self._pending]

    def _trial(self) -> Any:
        if not self.tree:
            return self.study.ask(self.distributions)
        trial = self.study.ask()
        for p in self.tree:
            if all(trial.params.get(parent) in values for parent, values in (p.when or {}).items()):
                if isinstance(p, CategoricalParameter):
                    trial.suggest_categorical(p.name, p.choices)
                elif isinstance(p, FloatParameter):
                    trial.suggest_float(p.name, p.low, p.high, log=p.scale == "log")
                else:
                    trial.suggest_int(p.name, p.low, p.high, log=p.scale == "log")
        return trial

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


class OptunaGP(OptunaTPE):
    """Optuna's ``GPSampler`` (Matérn-5/2 ARD, log-EI, QMC + local search), 8 ``ask``s then 8 ``tell``s.

    It needs torch, installed in the benchmarks' environment only (``make bench-gp``).
    Failed trials are told as failed; the sampler leaves them out of its model.
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.GPSampler(seed=seed)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        self.distributions = optuna_distributions(space)
        self.tree = define_by_run(space)
        self._pending = []


HEBO_PYTHON = Path(__file__).resolve().parent.parent / ".hebo-venv" / "bin" / "python"
"""Where ``make hebo-venv`` puts HEBO's interpreter; ``HEBO_PYTHON`` overrides it."""


def hebo_python() -> Path:
    return Path(os.environ.get("HEBO_PYTHON", str(HEBO_PYTHON)))


class HeboOptimizer(BatchOptimizer):
    """HEBO 0.3.6 in its own virtualenv, driven over JSON lines (``benchmarks/hebo_worker.py``).

    One child process per run, so a run sees exactly the problem and seed the others do.
    HEBO cannot observe a missing value: a failed trial is told as the worst loss seen
    so far in the run (and is dropped while nothing has run yet).
    """

    def __init__(self, space: SearchSpace, seed: int) -> None:
        python = hebo_python()
        if not python.exists():
            raise RuntimeError(f"HEBO's interpreter {python} does not exist: run `make hebo-venv`")
        worker = Path(__file__).resolve().parent / "hebo_worker.py"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [str(python), str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self._call({"op": "init", "seed": seed, "params": [p.model_dump() for p in space.parameters]})
        self._pending: list[Params] = []
        self._worst = -math.inf

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"HEBO's worker exited (code {self.proc.poll()})")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise RuntimeError(f"HEBO's worker failed: {reply.get('error')}")
        return reply

    def ask(self, n: int) -> list[Params]:
        self._pending = self._call({"op": "ask", "n": n})["params"]
        return [dict(p) for p in self._pending]

    def tell(self, losses: list[float | None]) -> None:
        finite = [v for v in losses if v is not None]
        if finite:
            self._worst = max(self._worst, *finite)
        rows = [(p, self._worst if v is None else v) for p, v in zip(self._pending, losses)]
        rows = [(p, v) for p, v in rows if math.isfinite(v)]
        self._call({"op": "tell", "params": [p for p, _ in rows], "losses": [v for _, v in rows]})

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so models and objectives see ordinary values."""
    return value.item() if isinstance(value, np.generic) else value


FACTORIES: dict[str, Callable[[SearchSpace, int], BatchOptimizer]] = {
    "hyperstep": lambda space, seed: HyperstepOptimizer(space, seed, "bayesian"),
    "random": RandomOptimizer,
    "optuna-tpe": OptunaTPE,
    "skopt-gp": SkoptGP,
    "optuna-gp": OptunaGP,
    "hebo": HeboOptimizer,
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
    The optimizer is told the run's ``rounds * batch`` trials first (``plan``) and closed at
    the end (a subprocess anchor ends its child).
    """
    optimizer.plan(rounds * batch)
    try:
        return _run(optimizer, objective, rounds, batch)
    finally:
        optimizer.close()


def _run(
    optimizer: BatchOptimizer, objective: Callable[[Params], float], rounds: int, batch: int
) -> tuple[np.ndarray, float]:
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
