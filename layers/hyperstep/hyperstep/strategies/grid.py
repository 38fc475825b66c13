"""Grid search: every combination, in order, each once.

Categorical and int parameters take each of their values (an int with more than
``resolution`` values is thinned evenly, keeping the values its children's ``when``
lists, so every branch is tried); float parameters take ``resolution`` evenly
spaced values in their scale. The grid is walked in a seeded random order, so a budget
smaller than the grid still covers it evenly. In a conditional space a combination keeps
only its active parameters, and combinations that then coincide count once (a linear
kernel is not tried once per unused gamma).
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from hyperstep.space import CategoricalParameter, IntParameter, SearchSpace
from hyperstep.spec_base import at_most
from hyperstep.strategies.base import History, Strategy, StrategyOptions

MAX_GRID_POINTS = 100_000
"""Each Suggest lists the whole grid: larger ones take minutes and gigabytes there."""


class GridOptions(StrategyOptions):
    """The ``strategy.options`` of ``grid``."""

    resolution: Annotated[int, at_most(MAX_GRID_POINTS)] = Field(default=5, ge=2)
    """Values per float parameter (and at most per int parameter); a float parameter alone
    then makes a grid of ``resolution`` points, so at most ``MAX_GRID_POINTS`` (a spec
    stored before that bound keeps its value: ``spec_base.at_most``)."""


class GridSearch(Strategy):
    name = "grid"
    Options = GridOptions
    options: GridOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.resolution = self.options.resolution

    def check_space(self, space: SearchSpace) -> None:
        """Refuse a grid of more than ``MAX_GRID_POINTS`` points, naming ``resolution``."""
        axes = self.axes(space, stop_past=MAX_GRID_POINTS)
        size = math.prod(len(axis) for axis in axes)
        if size > MAX_GRID_POINTS:
            count = len(space.parameters)  # not ``space.dim``, which counts each categorical's choices
            least = "at least " if len(axes) < count else ""
            raise ValueError(
                f"resolution: {self.resolution} makes a grid of {least}{size:,} points over {count} parameters; "
                f"at most {MAX_GRID_POINTS:,} (lower it, or use sobol or random)"
            )

    def axes(self, space: SearchSpace, stop_past: float = math.inf) -> list[list[Any]]:
        """Each parameter's values; only the first ones once their grid holds more than
        ``stop_past`` points (``check_space`` need not list the rest)."""
        axes: list[list[Any]] = []
        size = 1
        for p in space.parameters:
            if size > stop_past:
                break
            if isinstance(p, CategoricalParameter):
                axes.append(list(p.choices))
            elif isinstance(p, IntParameter) and p.high - p.low + 1 <= self.resolution:
                axes.append(list(range(p.low, p.high + 1)))
            else:
                values = [p.decode(np.array([u])) for u in np.linspace(0.0, 1.0, self.resolution)]
                named = [v for q in space.parameters for v in (q.when or {}).get(p.name, [])]
                axes.append(sorted(set(values + named)) if isinstance(p, IntParameter) else list(dict.fromkeys(values)))
            size *= len(axes[-1])
        return axes

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        space = history.space
        if space.conditional:
            grid = _tree(space, self.axes(space))
        else:
            names = [p.name for p in space.parameters]
            grid = [dict(zip(names, combo)) for combo in itertools.product(*self.axes(space))]
        order = np.random.default_rng(history.seed).permutation(len(grid))
        seen = {space.key(space.decode(x)) for x in history.X_seen}
        fresh = [grid[i] for i in order if space.key(grid[i]) not in seen][:n]
        return space.encode_many(fresh)


def _tree(space: SearchSpace, axes: list[list[Any]]) -> list[dict[str, Any]]:
    """Every configuration of a conditional space's grid, each once: parameters are taken
    parents first, and a parameter branches a partial configuration only where its
    conditions hold (the product over every parameter would repeat each configuration
    once per value of every inactive one, and can be astronomically long)."""
    from hyperstep.conditions import takes

    index = {p.name: i for i, p in enumerate(space.parameters)}
    configs: list[dict[str, Any]] = [{}]
    for name, parents in space.rules:
        i = index[name]
        grown = []
        for config in configs:
            if all(
                parent in config and takes(space.parameters[index[parent]], config[parent], allowed)
                for parent, allowed in parents
            ):
                grown.extend({**config, name: value} for value in axes[i])
            else:
                grown.append(config)
        configs = grown
    return configs
