"""The strategy port: given the history, propose points of the unit cube.

A strategy is stateless: it rebuilds what it needs from ``History`` on every call and
draws all randomness from the ``numpy.random.Generator`` it is handed, so the same seed
and history give the same suggestions (Vizier's designers, Optuna's samplers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from pydantic import ConfigDict

from hyperstep.space import SearchSpace
from hyperstep.spec_base import STORED, StrictScalars


@dataclass(frozen=True)
class History:
    """What a strategy sees, in unit-cube coordinates.

    ``y`` is always to be minimized (the study flips the sign for ``maximize``). The study
    builds it from its trials (``study_history.history_of``): strategies know no store records.
    ``X_failed`` are points whose trials failed, ``X_pending`` points asked and not yet
    told (running or about to run): a strategy should propose away from both.
    """

    space: SearchSpace
    X: np.ndarray
    y: np.ndarray
    X_failed: np.ndarray
    X_pending: np.ndarray
    seed: int = 0
    """The study's seed: stable across calls, for strategies that continue a sequence."""
    Y: np.ndarray | None = None
    """With several objectives: every objective of the rows of ``X``, one column each, all
    to be minimized (``y`` is the first column); None with one objective."""
    G: np.ndarray | None = None
    """With constraints: one column per limit (a constraint's ``max`` and ``min`` are one
    each), a row per row of ``X``, the amount by which the limit is exceeded (feasible where
    <= 0; NaN where the metric is missing, which is infeasible); None without constraints."""
    offset: int = 0
    """Where this call's first point sits in a sequence of proposals asked one or a few at a
    time (model-based early stopping asks one trial at a time, and many): a strategy that
    alternates within a batch (global and local points) goes on alternating across calls.
    0: every call is a batch of its own."""
    budget: int | None = None
    """How many trials the job may run in all (its ``max_trials``) when the caller knows it; a
    strategy may size its initial design to it. None: unknown (an ask/tell study without one)."""

    @property
    def objectives(self) -> np.ndarray:
        """The values to minimize, shape ``(len(X), m)``: ``Y``, or ``y`` as one column."""
        return self.Y if self.Y is not None else self.y[:, None]

    @property
    def feasible(self) -> np.ndarray:
        """Mask of the rows of ``X`` that meet every constraint (all of them without constraints)."""
        if self.G is None or self.G.shape[1] == 0:
            return np.ones(len(self.X), dtype=bool)
        with np.errstate(invalid="ignore"):
            return np.all(self.G <= 0.0, axis=1)

    @property
    def X_seen(self) -> np.ndarray:
        """Every point already evaluated, failed or pending."""
        return np.vstack([self.X, self.X_failed, self.X_pending])


class StrategyOptions(StrictScalars):
    """A strategy's ``strategy.options``; each strategy with options subclasses it.

    Unknown names and bad values raise ``pydantic.ValidationError`` naming the option,
    which the spec reports as ``strategy.options.<name>`` (the spec builds its strategy
    when it is validated).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Strategy(ABC):
    """Proposes configurations; ``options`` come from the spec's ``strategy.options``."""

    name: ClassVar[str]
    Options: ClassVar[type[StrategyOptions]] = StrategyOptions
    """The options this strategy takes (none by default)."""
    uses_scipy: ClassVar[bool] = False
    """Whether its proposals use scipy's linear algebra (its own OpenBLAS, loaded lazily):
    ``Study.ask`` loads it before limiting BLAS to one thread (``hyperstep.blas``)."""

    _read_back = False
    """Set by ``read_back`` before ``__init__`` runs: its options are validated with ``STORED``."""

    def __init__(self, **options: Any) -> None:
        self.options = self.Options.model_validate(options, context=STORED if self._read_back else None)

    @classmethod
    def read_back(cls, options: Mapping[str, Any]) -> Self:
        """The strategy of a stored spec, checked when it came in: its options are validated
        with ``STORED``, so a bound added since (``spec_base.at_most``) does not fail every
        later Suggest of a job stored before it, and an option this strategy no longer takes
        is left out (nothing reads it). What Suggest and ``Study`` build; a spec coming in
        builds ``cls(**options)``, with every check."""
        strategy = cls.__new__(cls)
        strategy._read_back = True
        known = {name: value for name, value in options.items() if name in cls.Options.model_fields}
        strategy.__init__(**known)  # type: ignore[misc]  # each subclass keeps __init__(**options)
        return strategy

    def check_space(self, space: SearchSpace) -> None:
        """Refuse (ValueError, ``<option>: <reason>``) options this strategy cannot run with on
        ``space``; the spec calls it when it is validated. Every space fits by default."""
        return None

    @abstractmethod
    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return up to ``n`` points, shape ``(k, space.dim)`` with ``k <= n``.

        Fewer than ``n`` (even none) means the strategy has nothing new to offer, as a
        finished grid does.
        """

    def propose(self, history: History, n: int, rng: np.random.Generator) -> Proposal:
        """``suggest``'s points with what the strategy's model expects of them; a strategy
        without a model expects nothing (None)."""
        return Proposal(self.suggest(history, n, rng))


@dataclass(frozen=True)
class Proposal:
    """Points a strategy proposes and, for a model-based one, the largest expected
    improvement its model saw over its candidates (``expected_improvement``), in units of
    the spread of the objective values it models: near zero, the model expects nothing
    meaningful left to find (``hyperstep.completion``, convergence)."""

    points: np.ndarray
    expected_improvement: float | None = None
