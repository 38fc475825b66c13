"""Search strategies behind the ``Strategy`` port, looked up by the spec's name."""

from __future__ import annotations

from typing import Any

from hyperstep.strategies.base import History, Strategy


def make_strategy(name: str, options: dict[str, Any] | None = None, *, stored: bool = False) -> Strategy:
    """The strategy called ``name`` with the spec's options; ValueError if unknown.
    ``stored``: the options of a spec read back from a store (``Strategy.read_back``)."""
    from hyperstep.strategies import bayesian, evolutionary, grid, random, sobol

    classes: dict[str, type[Strategy]] = {
        cls.name: cls
        for cls in (
            random.RandomSearch,
            sobol.SobolSearch,
            grid.GridSearch,
            bayesian.BayesianOptimization,
            evolutionary.EvolutionarySearch,
        )
    }
    if name not in classes:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(sorted(classes))}")
    if stored:
        return classes[name].read_back(options or {})
    return classes[name](**(options or {}))


__all__ = ["History", "Strategy", "make_strategy"]
