"""The simulated backend: each trial's duration and learning curve come from a Python
callable named in the spec, and the trial runs on a virtual clock.

``block`` (the spec's ``trial: {backend: simulated, objective: "module:function"}``),
``simulation`` (the callable's ``Simulation`` and the timeline of events it becomes),
``clock`` (``VirtualClock``), ``adapter`` (``SimulatedBackend``), ``events`` (the bus
events a trial's end and reports become); ``BACKEND`` declares them to the registry.
The local runtime drives it (``hyperstep.local.simulation``): ``hyperstep run`` of a
simulated spec runs thousands of trials through the real state machine in seconds.
"""

from __future__ import annotations

from hyperstep.backends.descriptor import BackendContext, BackendDescriptor, EventKind
from hyperstep.backends.simulated.adapter import SimulatedBackend
from hyperstep.backends.simulated.block import SimulatedTrial
from hyperstep.backends.simulated.clock import VirtualClock
from hyperstep.backends.simulated.events import (
    SIMULATED_EVENT_DETAIL_TYPE,
    SIMULATED_EVENT_SOURCE,
    event_of,
    parse_detail,
)
from hyperstep.backends.simulated.simulation import Simulation

__all__ = ["BACKEND", "SimulatedBackend", "SimulatedTrial", "Simulation", "VirtualClock"]


def make_backend(context: BackendContext) -> SimulatedBackend:
    """Trials on ``context.clock`` (a ``VirtualClock``), their events published on ``context.publish_event``."""
    clock, publish_event = context.clock, context.publish_event
    if not isinstance(clock, VirtualClock) or publish_event is None:
        raise ValueError("the simulated backend needs a VirtualClock and publish_event")
    return SimulatedBackend(clock, lambda event: publish_event(*event_of(event)))


BACKEND = BackendDescriptor(
    name="simulated",
    block=SimulatedTrial,
    events=(EventKind(SIMULATED_EVENT_SOURCE, SIMULATED_EVENT_DETAIL_TYPE, parse_detail),),
    factory=make_backend,
)
