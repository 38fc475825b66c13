"""Schedulers behind the ``Scheduler`` port: whether a running trial goes on.

Looked up by the spec's ``early_stopping.name``; numpy only, like ``strategies``.
"""

from __future__ import annotations

from typing import Any

from hyperstep.schedulers.asha import ASHA, Hyperband
from hyperstep.schedulers.base import Curves, NoStopping, Scheduler
from hyperstep.schedulers.median import MedianStopping

SCHEDULERS: dict[str, type[Scheduler]] = {cls.name: cls for cls in (NoStopping, MedianStopping, ASHA, Hyperband)}


def make_scheduler(config: Any, seed: int = 0) -> Scheduler:
    """The scheduler an ``EarlyStopping`` block (or None: no stopping) describes."""
    if config is None:
        return NoStopping()
    cls = SCHEDULERS[config.name]
    extra = {"brackets": config.brackets} if cls is Hyperband else {}
    return cls(
        config.min_resource,
        config.max_resource,
        config.reduction_factor,
        seed=seed,
        curve_model=config.curve_model,
        **extra,
    )


__all__ = ["SCHEDULERS", "Curves", "Scheduler", "make_scheduler"]
