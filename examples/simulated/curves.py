"""Synthetic learning curves for the simulated backend: a network trained epoch by epoch.

``crossing(params, seed)`` is what a spec names as ``objective: "curves:crossing"``: given
a trial's hyperparameters and its seed it returns how long the trial takes (virtual
seconds) and its validation loss after each of its 27 epochs. The curves cross: a high
learning rate starts fast and plateaus high, a lower one starts slowly and ends lowest,
and a wide network is slower per epoch but can go lower. A rate near the top diverges now
and then (the trial fails). So a rule that judges trials by their first epochs stops
the slow starters that would have won, which is what a scheduler has to get right.

Plain Python and numpy: the same params and seed give the same curve.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPOCHS = 27
SECONDS_PER_EPOCH = 60.0


def crossing(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Duration and per-epoch validation loss of one trial (see the module docstring)."""
    rng = np.random.default_rng(seed)
    lr, width, dropout = float(params["lr"]), int(params["width"]), float(params["dropout"])
    log_lr = math.log10(lr)  # -4 .. 0
    speed = 0.02 * 10 ** (0.75 * (log_lr + 4))  # how fast the loss falls, per epoch
    best_log_lr = -2.5 + 0.3 * math.log2(width / 64)  # wider nets want a smaller rate
    floor = 0.08 + 0.05 * (log_lr - best_log_lr) ** 2 + 0.15 * (dropout - 0.2) ** 2 + 0.4 / width
    epochs = np.arange(1, EPOCHS + 1)
    curve = floor + (1.0 - floor) * np.exp(-speed * epochs) + rng.normal(0, 0.004, EPOCHS)
    duration = EPOCHS * SECONDS_PER_EPOCH * (0.5 + width / 128) * rng.uniform(0.9, 1.1)
    if log_lr > -0.5 and rng.random() < 0.3:
        at = int(rng.integers(1, EPOCHS))
        return {"duration": duration * at / EPOCHS, "curve": curve[:at].tolist(), "failure": "loss diverged"}
    return {"duration": duration, "curve": curve.tolist()}
