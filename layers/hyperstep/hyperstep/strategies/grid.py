"""Grid search: every combination, in order, each once.

Categorical and int parameters take each of their values (an int with more than
``resolution`` values is thinned evenly); float parameters take ``resolution`` evenly
spaced values in their scale. The grid is walked in a seeded random order, so a budget
smaller than the grid still covers it evenly. In a conditional space a combination keeps
only its active parameters, and combinations that then coincide count once (a linear
kernel is not tried once per unused gamma).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from pydantic import Field

from hyperstep.space import CategoricalParameter, IntParameter, SearchSpace
from hyperstep.strategies.base import History, Strategy, StrategyOptions


class GridOptions(StrategyOptions):
    """The ``strategy.options`` of ``grid``."""

    resolution: int = Field(default=5, ge=2)
    """Values per float parameter (and at most per int parameter)."""


class GridSearch(Strategy):
    name = "grid"
    Options = GridOptions
    options: GridOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.resolution = self.options.resolution

    def axes(self, space: SearchSpace) -> list[list[Any]]:
        axes = []
        for p in space.parameters:
            if isinstance(p, CategoricalParameter):
                axes.append(list(p.choices))
            elif isinstance(p, IntParameter) and p.high - p.low + 1 <= self.resolution:
                axes.append(list(range(p.low, p.high + 1)))
            else:
                values = [p.decode(np.array([u])) for u in np.linspace(0.0, 1.0, self.resolution)]
                axes.append(list(dict.fromkeys(values)))
        return axes

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        space = history.space
        names = [p.name for p in space.parameters]
        grid = [dict(zip(names, combo)) for combo in itertools.product(*self.axes(space))]
        if space.conditional:
            grid = list({space.key(c): c for c in map(_active_only(space), grid)}.values())
        order = np.random.default_rng(history.seed).permutation(len(grid))
        seen = {space.key(space.decode(x)) for x in history.X_seen}
        fresh = [grid[i] for i in order if space.key(grid[i]) not in seen][:n]
        return space.encode_many(fresh)


def _active_only(space: SearchSpace) -> Any:
    """A function dropping a combination's inactive parameters."""

    def drop(combo: dict[str, Any]) -> dict[str, Any]:
        active = space.active_names(combo)
        return {name: value for name, value in combo.items() if name in active}

    return drop
