"""The strategy port: given the history, propose points of the unit cube.

A strategy is stateless: it rebuilds what it needs from ``History`` on every call and
draws all randomness from the ``numpy.random.Generator`` it is handed, so the same seed
and history give the same suggestions (Vizier's designers, Optuna's samplers).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from hyperstep.models import Trial, TrialState
from hyperstep.space import SearchSpace


@dataclass(frozen=True)
class History:
    """What a strategy sees, in unit-cube coordinates.

    ``y`` is always to be minimized (the study flips the sign for ``maximize``).
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

    @classmethod
    def from_trials(cls, space: SearchSpace, trials: Sequence[Trial], minimize: bool, seed: int = 0) -> History:
        done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None and math.isfinite(t.value)]
        failed = [t for t in trials if t.state is TrialState.FAILED]
        pending = [t for t in trials if t.state.active]
        sign = 1.0 if minimize else -1.0
        return cls(
            space=space,
            X=space.encode_many([t.params for t in done]),
            y=np.array([sign * float(t.value) for t in done], dtype=float),  # type: ignore[arg-type]
            X_failed=space.encode_many([t.params for t in failed]),
            X_pending=space.encode_many([t.params for t in pending]),
            seed=seed,
        )

    @property
    def X_seen(self) -> np.ndarray:
        """Every point already evaluated, failed or pending."""
        return np.vstack([self.X, self.X_failed, self.X_pending])


class StrategyOptions(BaseModel):
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

    def __init__(self, **options: Any) -> None:
        self.options = self.Options.model_validate(options)

    @abstractmethod
    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        """Return up to ``n`` points, shape ``(k, space.dim)`` with ``k <= n``.

        Fewer than ``n`` (even none) means the strategy has nothing new to offer, as a
        finished grid does.
        """
