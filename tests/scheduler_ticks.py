"""What EventBridge Scheduler hands its target at a tick, made from a schedule's stored input.

moto keeps a schedule but never fires it: a test reads the target's ``Input`` (``GetSchedule``)
and delivers it as Scheduler would, each context attribute keyword replaced by its value
("Adding context attributes", EventBridge Scheduler User Guide).
"""

from __future__ import annotations

import json
from typing import Any

from hyperstep.recurring import SCHEDULED_TIME

TICK_TIME = "2026-11-27T03:00:00Z"
"""A tick's scheduled time, as Scheduler writes it (``2022-03-22T18:59:43Z`` in its guide)."""


def delivered(stored_input: str, scheduled_time: str = TICK_TIME) -> dict[str, Any]:
    """The event the target gets for the tick scheduled at ``scheduled_time``."""
    return json.loads(stored_input.replace(SCHEDULED_TIME, scheduled_time))
