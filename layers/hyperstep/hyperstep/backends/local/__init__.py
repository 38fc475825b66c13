"""The local backend: each trial a process on this machine, its end an event on the in-process bus.

``block`` (the spec's ``trial: {backend: local}``), ``adapter`` (``LocalProcessBackend``),
``events`` (the bus event a result becomes); ``BACKEND`` declares them to the registry.
"""

from __future__ import annotations

from hyperstep.backends.descriptor import BackendContext, BackendDescriptor, EventKind
from hyperstep.backends.local.adapter import LocalProcessBackend
from hyperstep.backends.local.block import LocalTrial
from hyperstep.backends.local.events import LOCAL_EVENT_DETAIL_TYPE, LOCAL_EVENT_SOURCE, parse_detail


def make_backend(context: BackendContext) -> LocalProcessBackend:
    """Trials as processes under ``context.runs_dir``, their results handed to ``context.on_result``."""
    if context.runs_dir is None or context.on_result is None:
        raise ValueError("the local backend needs runs_dir and on_result")
    return LocalProcessBackend(context.runs_dir, context.on_result, context.env)


BACKEND = BackendDescriptor(
    name="local",
    block=LocalTrial,
    events=(EventKind(LOCAL_EVENT_SOURCE, LOCAL_EVENT_DETAIL_TYPE, parse_detail),),
    factory=make_backend,
)
